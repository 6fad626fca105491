// out_forward: each chunk to a Fluentd Forward Protocol v1 server (in_forward,
// Fluentd, Fluent Bit, agentd as a collector) in PackedForward mode — the
// chunk's entries are already the protocol's packed [time, record] stream, so
// they are sent as they are (or gzipped: CompressedPackedForward).
//
// Servers: <server> sections with weight and standby. A chunk goes to the
// next regular server that is up, by smooth weighted round robin; standby
// servers are used only while no regular one is up. A connect, handshake,
// send or ack failure marks the server down and the same chunk is tried on the
// next server at once; when none takes it, write() fails with kUnavailable and
// the buffer's retry machinery sends it again later (at-least-once).
// A down server comes back when a heartbeat reaches it (heartbeat_type
// transport/tcp: a TCP connection every heartbeat_interval) or, with
// heartbeat_type none, recover_wait after it failed.
//
// With require_ack_response every message carries a chunk option and the
// write succeeds only when the server answered {"ack": id} — for agentd's
// in_forward that is after the events are in its buffer (on disk for a file
// buffer). An ack that does not come within ack_response_timeout fails the
// write: the events may have arrived, so they are counted as unacked
// (agentd_output_forward_unacked_records_total): an upper bound of the
// duplicates the receiver can see. Without acks a write succeeds once the
// bytes are sent: a receiver that dies then loses what it had not stored.
//
// <security> shared_key: the HELO/PING/PONG handshake before the first
// message (agentd/forward/protocol.h); a server whose PONG does not prove the
// key is treated as down. transport tls: OpenSSL, TLS 1.2+, the server's
// certificate verified against tls_cert_path (or the system's CAs) and its
// name unless tls_insecure_mode / tls_verify_hostname false.
//
// Thread safety: write() from several flush threads at once; each write uses
// its own connection (kept-alive ones are pooled per server).
#pragma once

#include <memory>

#include "agentd/core/metrics.h"
#include "agentd/outputs/output.h"
#include "logctl/schema/pipeline_config.h"

namespace logctl::agentd {

Result<std::unique_ptr<Output>> make_forward_output(const config::Section& section,
                                                    Metrics& metrics);

}  // namespace logctl::agentd
