// The plugin tables. Parameter names and defaults follow Fluentd v1's
// documentation for in_tcp, in_udp, in_syslog, in_tail, out_file, out_stdout,
// buf_memory, buf_file and the parsers/formatters they use, so that a Fluentd
// user's configuration for those plugins works unchanged. Our extensions are
// marked "(logctl)" in their doc string and listed in docs/configuration.md.
#include "logctl/schema/plugin_schema.h"

#include <nlohmann/json.hpp>

namespace logctl::config {
namespace {

using T = ParamType;

ParamSpec req(std::string name, ParamType type, std::string doc) {
  return ParamSpec{std::move(name), type, Need::kRequired, std::nullopt, {}, {}, std::move(doc)};
}
ParamSpec opt(std::string name, ParamType type, std::optional<std::string> def, std::string doc) {
  return ParamSpec{std::move(name), type, Need::kOptional, std::move(def), {}, {}, std::move(doc)};
}
ParamSpec choice(std::string name, std::vector<std::string> choices, std::optional<std::string> def,
                 std::string doc) {
  return ParamSpec{std::move(name),    T::kEnum, Need::kOptional, std::move(def),
                   std::move(choices), {},       std::move(doc)};
}
ParamSpec alias(ParamSpec p, std::vector<std::string> names) {
  p.aliases = std::move(names);
  return p;
}

std::vector<ParamSpec> join(std::vector<ParamSpec> a, const std::vector<ParamSpec>& b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}

// What every input with a listening socket takes.
const std::vector<ParamSpec>& connection_params() {
  static const std::vector<ParamSpec> p = {
      opt("bind", T::kString, "0.0.0.0", "Address to listen on."),
      opt("source_hostname_key", T::kString, std::nullopt,
          "Record field for the client's hostname."),
      opt("source_address_key", T::kString, std::nullopt,
          "Record field for the client's IP address."),
      opt("resolve_hostname", T::kBool, "false", "Resolve the client's address to a name."),
      opt("send_keepalive_packet", T::kBool, "false", "Enable TCP keepalive on connections."),
      opt("partial_limit_size", T::kSize, "64m",
          "(logctl) Bytes of incomplete messages held across all TCP connections; over it the "
          "longest are cut and counted as oversized."),
  };
  return p;
}

// tcp/udp/syslog: the above, and a tag of their own.
const std::vector<ParamSpec>& listener_params() {
  static const std::vector<ParamSpec> p =
      join({req("tag", T::kString, "Tag of the emitted events."),
            opt("blocking_timeout", T::kTime, "0.5", "Accepted for compatibility; no effect.")},
           connection_params());
  return p;
}

const std::vector<ParamSpec>& parser_common() {
  static const std::vector<ParamSpec> p = {
      opt("time_format", T::kString, std::nullopt, "strptime format of the time field."),
      choice("time_type", {"float", "unixtime", "string", "mixed"}, "string",
             "How the time field is encoded."),
      opt("keep_time_key", T::kBool, "false", "Keep the time field in the record."),
      opt("estimate_current_event", T::kBool, "true",
          "Use the current time when the record has no time."),
      opt("localtime", T::kBool, "true", "Parse times without a zone as local time."),
      opt("utc", T::kBool, "false", "Parse times without a zone as UTC."),
      opt("timezone", T::kString, std::nullopt, "Zone offset such as +09:00 for parsed times."),
      opt("null_empty_string", T::kBool, "false", "Replace empty string fields with null."),
      opt("types", T::kHash, std::nullopt,
          "Field types, name:type,... (integer, float, bool, string, array); text parsers."),
  };
  return p;
}

const std::vector<ParamSpec>& buffer_common() {
  static const std::vector<ParamSpec> p = {
      opt("chunk_limit_records", T::kInteger, std::nullopt, "Most events in one chunk."),
      opt("queue_limit_length", T::kInteger, std::nullopt, "Most queued chunks (deprecated)."),
      opt("chunk_full_threshold", T::kFloat, "0.95",
          "Fraction of chunk_limit_size at which a chunk is flushed."),
      opt("queued_chunks_limit_size", T::kInteger, std::nullopt,
          "Most queued chunks created by flush_interval."),
      choice("compress", {"text"}, "text", "Chunk compression (only text)."),
      choice("flush_mode", {"default", "lazy", "interval", "immediate"}, "default",
             "When chunks are enqueued for writing."),
      opt("flush_interval", T::kTime, "60", "Enqueue staged chunks this often (interval mode)."),
      opt("flush_thread_count", T::kInteger, "1", "Threads writing chunks in parallel."),
      opt("flush_thread_interval", T::kFloat, "1.0", "Idle wait of a flush thread."),
      opt("flush_thread_burst_interval", T::kFloat, "1.0", "Wait between chunk writes."),
      opt("delayed_commit_timeout", T::kTime, "60", "Accepted for compatibility."),
      choice("overflow_action", {"throw_exception", "block", "drop_oldest_chunk"},
             "throw_exception", "What happens when total_limit_size is reached."),
      opt("retry_timeout", T::kTime, "259200", "Give up retrying after this long (72h)."),
      opt("retry_forever", T::kBool, "false", "Never give up retrying."),
      opt("retry_max_times", T::kInteger, std::nullopt, "Give up after this many retries."),
      opt("retry_secondary_threshold", T::kFloat, "0.8",
          "Fraction of retry_timeout after which <secondary> is used."),
      choice("retry_type", {"exponential_backoff", "periodic"}, "exponential_backoff",
             "Retry schedule."),
      opt("retry_wait", T::kTime, "1", "First retry wait (and the periodic wait)."),
      opt("retry_exponential_backoff_base", T::kFloat, "2", "Backoff multiplier."),
      opt("retry_max_interval", T::kTime, std::nullopt, "Upper bound of one retry wait."),
      opt("retry_randomize", T::kBool, "true", "Randomise retry waits by up to 12.5%."),
      opt("timekey", T::kTime, std::nullopt, "Time chunk key granularity."),
      opt("timekey_wait", T::kTime, "600", "Wait after a timekey range ends before flushing."),
      opt("timekey_use_utc", T::kBool, "false", "Use UTC to align timekey ranges."),
      opt("timekey_zone", T::kString, std::nullopt, "Zone offset to align timekey ranges."),
  };
  return p;
}

const std::vector<ParamSpec>& formatter_time_params() {
  static const std::vector<ParamSpec> p = {
      opt("time_format", T::kString, std::nullopt, "strftime format (default ISO 8601)."),
      choice("time_type", {"string", "float", "unixtime"}, "string", "How time is written."),
      opt("localtime", T::kBool, "true", "Write local time."),
      opt("utc", T::kBool, "false", "Write UTC."),
      opt("timezone", T::kString, std::nullopt, "Zone offset such as +09:00."),
  };
  return p;
}

SectionRule parse_section(std::string default_type, Need need) {
  return SectionRule{"parse", PluginKind::kParser, std::move(default_type), need};
}

std::vector<PluginSpec> build_inputs() {
  std::vector<PluginSpec> v;
  v.push_back(
      {PluginKind::kInput,
       "tcp",
       "Lines or octet-counted frames over TCP.",
       join(listener_params(),
            {
                opt("port", T::kInteger, "5170", "Port to listen on."),
                opt("delimiter", T::kString, "\n", "Frame delimiter."),
                opt("message_length_limit", T::kSize, std::nullopt,
                    "Longest accepted frame (unset: 16m, logctl's safety cap)."),
                opt("linger_timeout", T::kInteger, "0", "SO_LINGER on close."),
                choice("frame_type", {"traditional", "octet_count"}, "traditional",
                       "(logctl) Delimited frames or RFC 6587 octet counting."),
                opt("emit_unmatched_lines", T::kBool, "false",
                    "(logctl) Emit unparsable messages as {\"unmatched_line\": raw}; "
                    "else they go to @ERROR if it exists, else are dropped."),
            }),
       {parse_section("", Need::kRequired),
        SectionRule{"transport", PluginKind::kSection, "", Need::kOptional}},  // absent: tcp
       {},
       ""});
  v.push_back({PluginKind::kInput,
               "udp",
               "One event per UDP datagram.",
               join(listener_params(),
                    {
                        opt("port", T::kInteger, "5160", "Port to listen on."),
                        alias(opt("message_length_limit", T::kSize, "4096",
                                  "Longest datagram; longer ones are truncated and counted."),
                              {"body_size_limit"}),
                        opt("remove_newline", T::kBool, "true", "Strip trailing newlines."),
                        opt("emit_unmatched_lines", T::kBool, "false",
                            "(logctl) Emit unparsable datagrams as {\"unmatched_line\": raw}; "
                            "else they go to @ERROR if it exists, else are dropped."),
                        opt("receive_buffer_size", T::kSize, std::nullopt, "SO_RCVBUF."),
                    }),
               {parse_section("", Need::kRequired)},
               {},
               ""});
  v.push_back({PluginKind::kInput,
               "syslog",
               "Syslog messages (RFC 3164/5424) over UDP or TCP.",
               join(listener_params(),
                    {
                        opt("port", T::kInteger, "5140", "Port to listen on."),
                        choice("protocol_type", {"udp", "tcp"}, std::nullopt,
                               "Deprecated: use <transport>."),
                        opt("message_length_limit", T::kSize, "2048", "Longest accepted message."),
                        choice("frame_type", {"traditional", "octet_count"}, "traditional",
                               "TCP framing: newline or RFC 6587 octet counting."),
                        alias(opt("severity_key", T::kString, std::nullopt,
                                  "Record field for the severity name."),
                              {"priority_key"}),
                        opt("facility_key", T::kString, std::nullopt,
                            "Record field for the facility name."),
                        opt("emit_unmatched_lines", T::kBool, "false",
                            "Emit unparsable messages as {\"unmatched_line\": raw} under tag "
                            "<tag>.unmatched; else they go to @ERROR if it exists, else are "
                            "dropped."),
                        opt("include_source_host", T::kBool, "false", "Deprecated."),
                        opt("source_host_key", T::kString, "source_host", "Deprecated."),
                    }),
               {parse_section("syslog", Need::kOptional),
                SectionRule{"transport", PluginKind::kSection, "udp", Need::kOptional}},
               {},
               ""});
  v.push_back(
      {PluginKind::kInput,
       "forward",
       "Fluentd Forward Protocol v1 over TCP: Message, Forward, PackedForward and "
       "CompressedPackedForward; a chunk option is acknowledged once its events are in "
       "the buffer.",
       join(connection_params(),
            {
                opt("port", T::kInteger, "24224", "Port to listen on."),
                opt("add_tag_prefix", T::kString, std::nullopt, "Prefix for incoming tags."),
                opt("linger_timeout", T::kInteger, "0", "Accepted; no effect."),
                opt("chunk_size_limit", T::kSize, std::nullopt,
                    "Largest message; a larger one closes its connection (unset: 32m, logctl's "
                    "safety cap; Fluentd has none)."),
                opt("chunk_size_warn_limit", T::kSize, std::nullopt, "Accepted; no effect."),
                opt("skip_invalid_event", T::kBool, "true",
                    "Invalid events are always skipped, counted and logged (records must be "
                    "maps)."),
                opt("deny_keepalive", T::kBool, "false", "Accepted; no effect."),
            }),
       {SectionRule{"security", PluginKind::kSection, "", Need::kOptional},    // absent: none
        SectionRule{"transport", PluginKind::kSection, "", Need::kOptional}},  // absent: tcp
       {},
       ""});
  v.push_back(
      {PluginKind::kInput,
       "http",
       "Events POSTed over HTTP/1.1 (Fluentd's in_http): the path is the tag; JSON, NDJSON or "
       "MessagePack bodies (or form fields), or any <parse> on the body; answered once the "
       "events are in the buffer.",
       {
           opt("port", T::kInteger, "9880", "Port to listen on."),
           opt("bind", T::kString, "0.0.0.0", "Address to listen on."),
           opt("body_size_limit", T::kSize, "32m",
               "Largest request body; a larger one is answered 413 and its connection closed."),
           opt("decompression_size_limit", T::kSize, "256m",
               "Largest body after Content-Encoding gzip/deflate is undone (else 400)."),
           opt("keepalive_timeout", T::kTime, "10",
               "Close a connection that sent nothing this long (seconds)."),
           opt("backlog", T::kInteger, std::nullopt,
               "Accepted; the listener's backlog is the "
               "system's maximum."),
           opt("add_http_headers", T::kBool, "false", "Add every header as HTTP_<NAME>."),
           opt("add_remote_addr", T::kBool, "false",
               "Add REMOTE_ADDR: the client's address, or X-Forwarded-For's first."),
           opt("add_query_params", T::kBool, "false", "Add every query parameter as QUERY_<NAME>."),
           opt("add_tag_prefix", T::kString, std::nullopt, "Prefix for the path's tag."),
           opt("blocking_timeout", T::kTime, "0.5", "Accepted for compatibility; no effect."),
           opt("cors_allow_origins", T::kArray, std::nullopt,
               "Origins allowed by CORS ('*' any; one '*' inside a pattern)."),
           opt("cors_allow_credentials", T::kBool, "false",
               "Access-Control-Allow-Credentials for listed origins (not with '*')."),
           opt("respond_with_empty_img", T::kBool, "false", "Answer with a 1x1 GIF."),
           opt("use_204_response", T::kBool, "false", "Answer 204 No Content."),
           opt("dump_error_log", T::kBool, "true", "Log requests that fail (400)."),
           opt("partial_limit_size", T::kSize, "64m",
               "(logctl) Bytes of incomplete requests held across all connections; over it the "
               "longest is cut (413)."),
       },
       {parse_section("in_http", Need::kOptional),
        SectionRule{"transport", PluginKind::kSection, "", Need::kOptional}},  // absent: tcp
       {},
       ""});
  v.push_back(
      {PluginKind::kInput,
       "tail",
       "Follows files, with a position file and rotation.",
       {
           req("path", T::kString,
               "Paths or globs, comma-separated; strftime fields (%Y%m%d) use the current time."),
           req("tag", T::kString, "Tag; '*' is replaced by the path with '/' as '.'."),
           opt("exclude_path", T::kArray, "[]", "Globs to exclude."),
           opt("refresh_interval", T::kTime, "60", "How often globs are expanded again."),
           opt("limit_recently_modified", T::kTime, std::nullopt,
               "Only files modified this recently (checked at every refresh)."),
           opt("skip_refresh_on_startup", T::kBool, "false", "Accepted; no effect."),
           opt("read_from_head", T::kBool, "false", "Read new files from the beginning."),
           opt("read_lines_limit", T::kInteger, "1000", "Lines read per I/O."),
           opt("read_bytes_limit_per_second", T::kSize, std::nullopt,
               "Throttle reading (unset: no limit)."),
           opt("pos_file", T::kString, std::nullopt, "Where read positions are kept."),
           opt("pos_file_compaction_interval", T::kTime, std::nullopt, "Accepted; no effect."),
           opt("path_key", T::kString, std::nullopt, "Record field for the file's path."),
           opt("path_timezone", T::kString, std::nullopt,
               "Zone of strftime fields in path: UTC, or unset for local time."),
           opt("rotate_wait", T::kTime, "5", "Keep reading a rotated file this long."),
           opt("enable_watch_timer", T::kBool, "true", "Poll files on a timer."),
           opt("enable_stat_watcher", T::kBool, "true", "Accepted; inotify is not used."),
           opt("open_on_every_update", T::kBool, "false", "Accepted; no effect."),
           opt("emit_unmatched_lines", T::kBool, "false",
               "Emit unparsable lines as {\"unmatched_line\": line}; else they go to @ERROR if "
               "it exists, else are dropped (always counted and logged)."),
           opt("ignore_repeated_permission_error", T::kBool, "false", "Log once per file."),
           opt("follow_inodes", T::kBool, "false", "Track files by inode across renames."),
           choice("follow_symlinks", {"trusted", "always", "never"}, "trusted",
                  "(logctl) Symlinks followed: owned by root or agentd's user, any, or none."),
           opt("max_line_size", T::kSize, std::nullopt,
               "Longer lines are skipped and counted (unset: 16m, logctl's safety cap)."),
           opt("multiline_flush_interval", T::kTime, std::nullopt,
               "multiline parser: emit the last event after this long without a new line "
               "(unset: it waits for the next first line)."),
       },
       {parse_section("", Need::kRequired)},
       {},
       ""});
  return v;
}

std::vector<PluginSpec> build_outputs() {
  SectionRule format_file{"format", PluginKind::kFormatter, "out_file", Need::kOptional};
  SectionRule format_stdout{"format", PluginKind::kFormatter, "stdout", Need::kOptional};
  SectionRule secondary{"secondary", PluginKind::kOutput, "", Need::kOptional};
  SectionRule inject{"inject", PluginKind::kSection, "", Need::kOptional};
  std::vector<PluginSpec> v;
  v.push_back({PluginKind::kOutput,
               "file",
               "Writes chunks to files.",
               {
                   req("path", T::kString, "Path template with ${tag}, %Y%m%d, ${chunk_id}."),
                   opt("append", T::kBool, "false", "Append every chunk to one file."),
                   opt("add_path_suffix", T::kBool, "true", "Add path_suffix."),
                   opt("path_suffix", T::kString, ".log", "Suffix of output files."),
                   choice("compress", {"text", "gz", "gzip"}, "text", "gzip the output."),
                   opt("recompress", T::kBool, "false", "Accepted; no effect."),
                   opt("symlink_path", T::kString, std::nullopt,
                       "Symlink to the newest staged chunk (not supported: error)."),
                   opt("file_permission", T::kString, "0640", "Octal mode of new output files."),
                   opt("dir_permission", T::kString, "0750",
                       "Octal mode of directories the output creates."),
                   opt("write_behind", T::kSize, "16m",
                       "agentd: start writeback of each chunk written and drop its pages from "
                       "the page cache once this far behind the end; 0: off."),
               },
               {SectionRule{"buffer", PluginKind::kBuffer, "file", Need::kOptional}, format_file,
                secondary, inject},
               {{"timekey", "86400"}},
               "time"});
  v.push_back(
      {PluginKind::kOutput,
       "stdout",
       "Prints events to standard output.",
       {},
       {SectionRule{"buffer", PluginKind::kBuffer, "memory", Need::kOptional}, format_stdout,
        secondary, inject},
       {{"flush_at_shutdown", "true"}, {"chunk_limit_size", "10k"}, {"flush_mode", "immediate"}},
       "tag"});
  v.push_back(
      {PluginKind::kOutput,
       "http",
       "Sends each chunk's events in one HTTP request: NDJSON or a JSON array.",
       {
           req("endpoint", T::kString, "http:// or https:// URL."),
           choice("http_method", {"post", "put"}, "post", "Request method."),
           opt("content_type", T::kString, std::nullopt,
               "Unset: application/x-ndjson, or application/json with json_array."),
           opt("json_array", T::kBool, "false", "One JSON array instead of NDJSON."),
           opt("headers", T::kHash, std::nullopt, "Extra request headers."),
           opt("retryable_response_codes", T::kArray, "[\"503\"]",
               "Statuses retried; any other error sets the chunk aside (<secondary>, else "
               "quarantine)."),
           opt("open_timeout", T::kInteger, std::nullopt, "Seconds to connect (unset: 10)."),
           opt("read_timeout", T::kInteger, std::nullopt, "Seconds to answer (unset: 60)."),
           opt("tls_ca_cert_path", T::kString, std::nullopt, "CA certificates for https."),
           choice("tls_verify_mode", {"peer", "none"}, "peer", "Verify the server's certificate."),
       },
       {SectionRule{"buffer", PluginKind::kBuffer, "memory", Need::kOptional},
        SectionRule{"format", PluginKind::kFormatter, "json", Need::kOptional}, secondary, inject},
       {},
       ""});
  v.push_back(
      {PluginKind::kOutput,
       "forward",
       "Sends each chunk to a Fluentd Forward Protocol v1 server (in_forward) in "
       "PackedForward mode; with require_ack_response a chunk leaves the buffer only when "
       "acknowledged.",
       {
           opt("require_ack_response", T::kBool, "false",
               "Wait for the server's ack of each chunk; without one it is sent again."),
           opt("ack_response_timeout", T::kTime, "190", "How long to wait for an ack."),
           opt("send_timeout", T::kTime, "60", "Timeout of one send."),
           opt("connect_timeout", T::kTime, std::nullopt, "Timeout to connect (unset: 10s)."),
           choice("heartbeat_type", {"transport", "tcp", "udp", "none"}, "transport",
                  "How failed servers are found alive again: a TCP connection (transport, tcp) "
                  "every heartbeat_interval, or none (retried after recover_wait). udp is not "
                  "supported."),
           opt("heartbeat_interval", T::kTime, "1", "Seconds between heartbeats."),
           opt("recover_wait", T::kTime, "10",
               "With heartbeat_type none: a failed server is tried again after this long."),
           opt("hard_timeout", T::kTime, "60", "Accepted; a failed write marks a server down."),
           opt("phi_failure_detector", T::kBool, "true", "Accepted; no effect."),
           opt("phi_threshold", T::kInteger, "16", "Accepted; no effect."),
           opt("expire_dns_cache", T::kTime, std::nullopt, "Accepted; names resolve per connect."),
           opt("dns_round_robin", T::kBool, "false", "Accepted; no effect."),
           opt("ignore_network_errors_at_startup", T::kBool, "false", "Accepted; no effect."),
           opt("verify_connection_at_startup", T::kBool, "false",
               "Connect (and handshake) to every server at start; fail the start if one fails."),
           choice("compress", {"text", "gzip"}, "text",
                  "gzip: CompressedPackedForward (each chunk's entries gzipped)."),
           opt("keepalive", T::kBool, "false", "Reuse connections between chunks."),
           opt("keepalive_timeout", T::kTime, std::nullopt,
               "Close an idle kept-alive connection after this long (unset: 60s)."),
           choice("transport", {"tcp", "tls"}, "tcp", "TCP, or TLS (OpenSSL)."),
           opt("tls_cert_path", T::kArray, std::nullopt,
               "CA certificate files to verify the server with (unset: the system's)."),
           opt("tls_verify_hostname", T::kBool, "true",
               "Check the server certificate's name against the host."),
           opt("tls_insecure_mode", T::kBool, "false", "Skip server certificate verification."),
           opt("tls_client_cert_path", T::kString, std::nullopt, "Client certificate (mTLS)."),
           opt("tls_client_private_key_path", T::kString, std::nullopt, "Client private key."),
           opt("tls_client_private_key_passphrase", T::kString, std::nullopt,
               "Passphrase of the client key (never logged)."),
       },
       {SectionRule{"buffer", PluginKind::kBuffer, "memory", Need::kOptional},
        SectionRule{"server", PluginKind::kSection, "", Need::kRequired, true},
        SectionRule{"security", PluginKind::kSection, "", Need::kOptional}, secondary, inject},
       {},
       "tag"});
  SectionRule stores{"store", PluginKind::kOutput, "", Need::kRequired, true};
  v.push_back({PluginKind::kOutput,
               "copy",
               "Every <store> gets every event (each store with its own buffer).",
               {choice("copy_mode", {"no_copy", "shallow", "deep", "marshal"}, "no_copy",
                       "Accepted; events are immutable here.")},
               {stores},
               {},
               ""});
  v.push_back({PluginKind::kOutput,
               "failover",
               "(logctl) Flume's failover sink group: events go to the available <store> with the "
               "highest priority; a store whose write fails is penalised (1s, doubling up to "
               "max_penalty) and its queued chunks move to the next store.",
               {opt("max_penalty", T::kTime, "30", "Longest penalty of a failed store.")},
               {stores},
               {},
               ""});
  v.push_back(
      {PluginKind::kOutput,
       "load_balance",
       "(logctl) Flume's load-balancing sink group: each batch goes to the next available "
       "<store> (round_robin, weighted) or a random one; a failed store is penalised (1s, "
       "doubling up to max_penalty) and its queued chunks move to the others.",
       {choice("strategy", {"round_robin", "random"}, "round_robin", "How a store is chosen."),
        opt("max_penalty", T::kTime, "30", "Longest penalty of a failed store.")},
       {stores},
       {},
       ""});
  v.push_back({PluginKind::kOutput,
               "relabel",
               "Sends the events on to the <label> named by @label (no buffer).",
               {},
               {},
               {},
               ""});
  v.push_back({PluginKind::kOutput,
               "null",
               "Discards events (benchmarks, tests).",
               {},
               {SectionRule{"buffer", PluginKind::kBuffer, "memory", Need::kOptional}},
               {{"flush_mode", "immediate"}},
               ""});
  v.push_back({PluginKind::kOutput,
               "secondary_file",
               "Dumps failed chunks to files (for <secondary> only).",
               {
                   req("directory", T::kString, "Directory for dumped chunks."),
                   opt("basename", T::kString, "dump.bin", "File name; may use ${chunk_id}."),
                   opt("append", T::kBool, "false", "Append to one file."),
                   choice("compress", {"text", "gzip"}, "text", "gzip the dump."),
               },
               {},
               {},
               ""});
  return v;
}

std::vector<PluginSpec> build_parsers() {
  std::vector<PluginSpec> v;
  v.push_back({PluginKind::kParser,
               "none",
               "The whole text as one field.",
               join(parser_common(), {opt("message_key", T::kString, "message", "Field name.")}),
               {},
               {},
               ""});
  v.push_back({PluginKind::kParser,
               "in_http",
               "in_http's own: the body is JSON, NDJSON or MessagePack by its Content-Type "
               "(or the json/ndjson/msgpack form field); a record's time key is its time in "
               "seconds.",
               {opt("time_key", T::kString, "time", "Field holding the event time."),
                opt("keep_time_key", T::kBool, "false", "Keep the time field in the record."),
                opt("time_format", T::kString, std::nullopt,
                    "strptime format of the time field (set: it is read by this, not as "
                    "seconds)."),
                choice("time_type", {"float", "unixtime", "string", "mixed"}, "string",
                       "How the time field is encoded (set: read by this, not as seconds)."),
                opt("localtime", T::kBool, "true", "Parse times without a zone as local time."),
                opt("utc", T::kBool, "false", "Parse times without a zone as UTC."),
                opt("timezone", T::kString, std::nullopt,
                    "Zone offset or name for parsed times without a zone.")},
               {},
               {},
               ""});
  v.push_back(
      {PluginKind::kParser,
       "json",
       "One JSON object per message.",
       join(parser_common(),
            {opt("time_key", T::kString, "time", "Field holding the event time."),
             choice("json_parser", {"oj", "yajl", "json"}, "oj", "Accepted; one parser is used.")}),
       {},
       {},
       ""});
  v.push_back({PluginKind::kParser,
               "regexp",
               "Named captures become fields.",
               join(parser_common(),
                    {req("expression", T::kRegexp, "Regular expression with named captures."),
                     opt("ignorecase", T::kBool, "false", "Case-insensitive match."),
                     opt("multiline", T::kBool, "false", "'.' matches newlines."),
                     opt("time_key", T::kString, "time", "Field holding the event time.")}),
               {},
               {},
               ""});
  v.push_back({PluginKind::kParser,
               "csv",
               "Comma-separated values (RFC 4180 quoting) into the fields named by keys.",
               join(parser_common(),
                    {req("keys", T::kArray, "Field names, in column order."),
                     opt("delimiter", T::kString, ",", "Column separator."),
                     choice("parser_engine", {"normal", "fast"}, "normal", "Accepted; one parser."),
                     opt("time_key", T::kString, std::nullopt, "Field holding the event time.")}),
               {},
               {},
               ""});
  v.push_back({PluginKind::kParser,
               "tsv",
               "Tab-separated values into the fields named by keys.",
               join(parser_common(),
                    {req("keys", T::kArray, "Field names, in column order."),
                     opt("delimiter", T::kString, "\t", "Column separator."),
                     opt("time_key", T::kString, std::nullopt, "Field holding the event time.")}),
               {},
               {},
               ""});
  v.push_back({PluginKind::kParser,
               "ltsv",
               "Labeled tab-separated values: label:value pairs.",
               join(parser_common(),
                    {opt("delimiter", T::kString, "\t", "Pair separator."),
                     opt("delimiter_pattern", T::kRegexp, std::nullopt,
                         "Pair separator as a regexp (instead of delimiter)."),
                     opt("label_delimiter", T::kString, ":", "Label/value separator."),
                     opt("time_key", T::kString, "time", "Field holding the event time.")}),
               {},
               {},
               ""});
  for (const char* t : {"apache2", "nginx", "apache_error"}) {
    std::string type = t;
    const char* doc = type == "apache2" ? "Apache combined/common log (host, user, method, path, "
                                          "code, size, referer, agent)."
                      : type == "nginx" ? "nginx's default access log (remote, host, user, method, "
                                          "path, code, size, referer, agent)."
                                        : "Apache error log (level, pid, client, message).";
    v.push_back({PluginKind::kParser,
                 type,
                 doc,
                 join(parser_common(), {opt("time_key", T::kString, "time",
                                            "Field name of the time (keep_time_key).")}),
                 {},
                 {},
                 ""});
  }
  {
    std::vector<ParamSpec> ml = {
        opt("format_firstline", T::kRegexp, std::nullopt,
            "A line matching it starts an event (unset: lines join until they parse)."),
        opt("time_key", T::kString, "time", "Field holding the event time."),
    };
    for (int i = 1; i <= 20; ++i) {
      ml.push_back(opt("format" + std::to_string(i), T::kRegexp, std::nullopt,
                       i == 1 ? "First part of the expression (named captures; '.' matches "
                                "newlines); format2.. continue it."
                              : "Next part of the expression."));
    }
    v.push_back({PluginKind::kParser,
                 "multiline",
                 "Events of several lines (stack traces): in_tail joins the lines of one event, "
                 "format1..formatN parse them.",
                 join(parser_common(), ml),
                 {},
                 {},
                 ""});
  }
  v.push_back({PluginKind::kParser,
               "multi_format",
               "Tries each <pattern> (a parser, chosen by 'format') in order; the first that "
               "parses the text makes the record (fluent-plugin-multi-format-parser).",
               parser_common(),
               {SectionRule{"pattern", PluginKind::kParser, "", Need::kRequired, true}},
               {},
               ""});
  v.push_back(
      {PluginKind::kParser,
       "cri",
       "containerd/CRI-O log lines: time stream logtag message (a nested <parse> parses the "
       "message).",
       join(parser_common(),
            {opt("merge_cri_fields", T::kBool, "true",
                 "With a nested <parse>: add stream and logtag to its record."),
             // keep_time_key defaults to true here (the plugin's own default).
             opt("time_key", T::kString, "time", "Field holding the CRI time (keep_time_key).")}),
       {SectionRule{"parse", PluginKind::kParser, "", Need::kOptional}},
       {},
       ""});
  v.push_back(
      {PluginKind::kParser,
       "syslog",
       "RFC 3164 and RFC 5424 messages.",
       join(
           parser_common(),
           {choice("message_format", {"rfc3164", "rfc5424", "auto"}, "rfc3164",
                   "Which syslog format."),
            opt("with_priority", T::kBool, "false",
                "Messages start with <PRI> (in_syslog always reads it)."),
            opt("rfc5424_time_format", T::kString, "%Y-%m-%dT%H:%M:%S.%L%z",
                "Given (or time_format): RFC 5424 times by it, else by "
                "%Y-%m-%dT%H:%M:%S%z; not given: per RFC 3339."),
            choice("parser_type", {"regexp", "string"}, "regexp", "Accepted; one parser is used."),
            opt("support_colonless_ident", T::kBool, "true", "Accept 'ident message' without ':'."),
            opt("time_key", T::kString, "time", "Unused; time is the header's.")}),
       {},
       {},
       ""});
  return v;
}

std::vector<PluginSpec> build_formatters() {
  std::vector<PluginSpec> v;
  v.push_back({PluginKind::kFormatter,
               "out_file",
               "time<TAB>tag<TAB>json",
               join(formatter_time_params(),
                    {opt("delimiter", T::kString, "\t", "Field separator (TAB, SPACE, COMMA)."),
                     opt("output_tag", T::kBool, "true", "Write the tag."),
                     opt("output_time", T::kBool, "true", "Write the time.")}),
               {},
               {},
               ""});
  v.push_back({PluginKind::kFormatter,
               "json",
               "The record as one JSON line.",
               {choice("json_parser", {"oj", "yajl", "json"}, "oj", "Accepted."),
                opt("add_newline", T::kBool, "true", "End each record with a newline.")},
               {},
               {},
               ""});
  v.push_back({PluginKind::kFormatter,
               "single_value",
               "One field's value per line.",
               {opt("message_key", T::kString, "message", "Field to write."),
                opt("add_newline", T::kBool, "true", "End each record with a newline.")},
               {},
               {},
               ""});
  v.push_back({PluginKind::kFormatter,
               "csv",
               "The named fields as one CSV row (Ruby's CSV, as Fluentd's).",
               {req("fields", T::kArray, "Fields to write, in order (a field or $.a.b)."),
                opt("delimiter", T::kString, ",", "Column separator (\\t or TAB for a tab)."),
                opt("force_quotes", T::kBool, "true", "Quote every column."),
                opt("add_newline", T::kBool, "true", "End each record with a newline.")},
               {},
               {},
               ""});
  v.push_back({PluginKind::kFormatter,
               "hash",
               "The record as Ruby's Hash#to_s ({\"k\"=>\"v\"}).",
               {opt("add_newline", T::kBool, "true", "End each record with a newline.")},
               {},
               {},
               ""});
  v.push_back({PluginKind::kFormatter,
               "ltsv",
               "Labeled tab-separated values.",
               {opt("delimiter", T::kString, "\t", "Field separator."),
                opt("label_delimiter", T::kString, ":", "Label separator."),
                opt("replacement", T::kString, " ", "Replaces delimiters inside values."),
                opt("add_newline", T::kBool, "true", "End each record with a newline.")},
               {},
               {},
               ""});
  v.push_back(
      {PluginKind::kFormatter,
       "stdout",
       "time tag: json (out_stdout's format).",
       join(formatter_time_params(), {choice("output_type", {"json", "ltsv", "single_value"},
                                             "json", "Format of the record part.")}),
       {},
       {},
       ""});
  return v;
}

std::vector<PluginSpec> build_buffers() {
  std::vector<PluginSpec> v;
  v.push_back({PluginKind::kBuffer,
               "memory",
               "Chunks in memory.",
               join({opt("chunk_limit_size", T::kSize, "8m", "Largest chunk."),
                     opt("total_limit_size", T::kSize, "512m", "Largest buffer."),
                     opt("flush_at_shutdown", T::kBool, "true", "Flush all chunks at stop.")},
                    buffer_common()),
               {},
               {},
               ""});
  v.push_back({PluginKind::kBuffer,
               "file",
               "Chunks in files; survives restarts and kill -9.",
               join({opt("path", T::kString, std::nullopt,
                         "Directory of chunk files (unset: <root_dir>/buffer/<@id>)."),
                     opt("path_suffix", T::kString, ".log", "Suffix of chunk files."),
                     opt("file_permission", T::kString, std::nullopt, "Octal mode of chunks."),
                     opt("dir_permission", T::kString, std::nullopt, "Octal mode of dirs."),
                     opt("chunk_limit_size", T::kSize, "256m", "Largest chunk."),
                     opt("total_limit_size", T::kSize, "64g", "Largest buffer."),
                     opt("flush_at_shutdown", T::kBool, "false", "Flush all chunks at stop.")},
                    buffer_common()),
               {},
               {},
               ""});
  return v;
}

std::vector<PluginSpec> build_filters() {
  SectionRule regexp{"regexp", PluginKind::kSection, "", Need::kOptional, true};
  SectionRule exclude{"exclude", PluginKind::kSection, "", Need::kOptional, true};
  std::vector<PluginSpec> v;
  v.push_back(
      {PluginKind::kFilter,
       "grep",
       "Keeps events whose fields match every <regexp> and no <exclude>; <and> and <or> group "
       "them.",
       {},
       {regexp, exclude, SectionRule{"and", PluginKind::kSection, "", Need::kOptional, true},
        SectionRule{"or", PluginKind::kSection, "", Need::kOptional, true}},
       {},
       ""});
  v.push_back(
      {PluginKind::kFilter,
       "record_transformer",
       "Adds or rewrites fields from <record> with placeholders (${tag}, ${tag_parts[N]}, "
       "${hostname}, ${time}, ${record[\"k\"]}); removes or keeps fields.",
       {opt("enable_ruby", T::kBool, "false",
            "Ruby expressions are not supported: only false (placeholders work without it)."),
        opt("auto_typecast", T::kBool, "true",
            "A value that is one placeholder keeps the field's type (else a string)."),
        opt("renew_record", T::kBool, "false", "Start from an empty record."),
        opt("renew_time_key", T::kString, std::nullopt, "Field whose value becomes the time."),
        opt("keep_keys", T::kArray, std::nullopt, "With renew_record: fields to keep."),
        opt("remove_keys", T::kArray, std::nullopt, "Fields to remove (top level or $.a.b)."),
        opt("tag", T::kString, std::nullopt, "Not supported (use a <match> to rename).")},
       {SectionRule{"record", PluginKind::kSection, "", Need::kOptional}},
       {},
       ""});
  v.push_back(
      {PluginKind::kFilter,
       "kubernetes_metadata",
       "Pod, namespace, container, container id and pod uid from the log file's path "
       "(/var/log/containers, /var/log/pods, /var/lib/kubelet/pods), read from the tag that "
       "in_tail's 'tag kubernetes.*' makes of it, or from a record field; no API lookups.",
       {opt("path_key", T::kString, std::nullopt,
            "(logctl) A record field holding the file's path (in_tail's path_key); else the "
            "tag."),
        opt("kubernetes_url", T::kString, std::nullopt, "Accepted; the API is not queried."),
        opt("verify_ssl", T::kBool, "true", "Accepted; the API is not queried."),
        opt("ca_file", T::kString, std::nullopt, "Accepted; the API is not queried."),
        opt("skip_labels", T::kBool, "false", "Accepted; no labels without the API."),
        opt("skip_container_metadata", T::kBool, "false", "Accepted."),
        opt("skip_master_url", T::kBool, "false", "Accepted."),
        opt("skip_namespace_metadata", T::kBool, "false", "Accepted."),
        opt("watch", T::kBool, "true", "Accepted; no API watch."),
        opt("de_dot", T::kBool, "true", "Accepted."),
        opt("annotation_match", T::kArray, std::nullopt,
            "Accepted; no annotations without the API.")},
       {},
       {},
       ""});
  v.push_back(
      {PluginKind::kFilter,
       "parser",
       "Parses one field of the record with a <parse> plugin.",
       {req("key_name", T::kString, "The field to parse."),
        opt("reserve_data", T::kBool, "false", "Keep the record's other fields."),
        opt("reserve_time", T::kBool, "false", "Keep the event's time."),
        opt("remove_key_name_field", T::kBool, "false", "Drop key_name (with reserve_data)."),
        opt("inject_key_prefix", T::kString, std::nullopt, "Prefix for the parsed fields."),
        opt("hash_value_field", T::kString, std::nullopt, "Put the parsed fields under this key."),
        opt("emit_invalid_record_to_error", T::kBool, "true",
            "An event whose field does not parse goes to <label @ERROR> when there is one "
            "(always counted and logged)."),
        opt("replace_invalid_sequence", T::kBool, "false", "Accepted.")},
       {parse_section("", Need::kRequired)},
       {},
       ""});
  return v;
}

std::vector<PluginSpec> build_sections() {
  std::vector<PluginSpec> v;
  v.push_back(
      {PluginKind::kSection,
       "system",
       "Process-wide settings.",
       {choice("log_level", {"trace", "debug", "info", "warn", "error", "fatal"}, "info",
               "Least severe level logged."),
        opt("root_dir", T::kString, std::nullopt, "Data directory (buffers, positions)."),
        opt("workers", T::kInteger, "1", "Worker processes (only 1 is supported)."),
        opt("suppress_repeated_stacktrace", T::kBool, "true", "Accepted; no effect."),
        opt("process_name", T::kString, std::nullopt, "Accepted; no effect."),
        opt("admin_endpoint", T::kString, std::nullopt,
            "(logctl) host:port of the loopback admin HTTP endpoint."),
        opt("controller", T::kString, std::nullopt,
            "(logctl) https://HOST:PORT of the logctl-controller to follow."),
        opt("controller_ca", T::kString, std::nullopt,
            "(logctl) The controller's CA certificate (pinned)."),
        opt("enroll_token_file", T::kString, std::nullopt,
            "(logctl) Enrolment token file, read at the first start."),
        opt("node_name", T::kString, std::nullopt,
            "(logctl) This node's name in the fleet (default: the host name)."),
        opt("node_labels", T::kString, std::nullopt, "(logctl) Node labels: k=v,k2=v2."),
        opt("config_watch", T::kBool, "true",
            "(logctl) With @include: watch the config and the included files "
            "(inotify) and reload by staged handover when they change."),
        opt("config_watch_delay", T::kTime, "1",
            "(logctl) Quiet time after the last change before the reload."),
        opt("without_source", T::kBool, "false",
            "Run without the <source>s (outputs drain their buffers)."),
        opt("suppress_config_dump", T::kBool, "false", "Accepted; agentd never dumps its config."),
        opt("ignore_repeated_log_interval", T::kTime, std::nullopt,
            "Accepted; repeated warnings are rate-limited anyway."),
        opt("ignore_same_log_interval", T::kTime, std::nullopt,
            "Accepted; repeated warnings are rate-limited anyway."),
        opt("emit_error_log_interval", T::kTime, std::nullopt, "Accepted; no effect."),
        opt("file_permission", T::kString, std::nullopt,
            "Accepted; outputs have their own file_permission."),
        opt("dir_permission", T::kString, std::nullopt,
            "Accepted; outputs have their own dir_permission."),
        opt("enable_msgpack_time_support", T::kBool, "false",
            "Accepted; EventTime is always understood.")},
       {SectionRule{"log", PluginKind::kSection, "", Need::kOptional}},
       {},
       ""});
  v.push_back({PluginKind::kSection,
               "log",
               "agentd's own log (<system><log>).",
               {choice("format", {"text", "json"}, "text",
                       "text: '<time> [<level>] <process>: <message>'; json: one object per line "
                       "{time, level, process, message}."),
                opt("time_format", T::kString, std::nullopt,
                    "Accepted; times are ISO 8601 UTC with milliseconds."),
                opt("rotate_age", T::kString, std::nullopt,
                    "Accepted; agentd logs to stderr (journald rotates)."),
                opt("rotate_size", T::kSize, std::nullopt,
                    "Accepted; agentd logs to stderr (journald rotates)."),
                opt("forced_stacktrace_limit", T::kInteger, std::nullopt, "Accepted; no effect.")},
               {},
               {},
               ""});
  v.push_back(
      {PluginKind::kSection,
       "transport",
       "Transport of a listener: <transport udp|tcp|tls> (syslog); <transport tcp|tls> (tcp, "
       "forward, http), with these TLS parameters.",
       {opt("cert_path", T::kString, std::nullopt, "tls: the server certificate (PEM, chain)."),
        opt("private_key_path", T::kString, std::nullopt, "tls: its private key (PEM)."),
        opt("private_key_passphrase", T::kString, std::nullopt,
            "tls: the key's passphrase (never logged)."),
        opt("client_cert_auth", T::kBool, "false",
            "tls: require a client certificate signed by ca_path."),
        opt("ca_path", T::kString, std::nullopt, "tls: CA certificates for client certificates."),
        choice("min_version", {"TLSv1_2", "TLSv1_3"}, "TLSv1_2", "tls: lowest TLS version."),
        choice("version", {"TLSv1_2", "TLSv1_3"}, std::nullopt,
               "tls: accepted; min_version decides the lowest."),
        opt("ciphers", T::kString, std::nullopt, "tls: OpenSSL cipher list (TLS 1.2)."),
        opt("insecure", T::kBool, "false", "tls: accepted; no effect (server side).")},
       {},
       {},
       ""});
  v.push_back({PluginKind::kSection,
               "regexp",
               "grep: a field that must match (or, in <exclude>, must not).",
               {req("key", T::kString, "Field name or $.a.b path."),
                req("pattern", T::kRegexp, "Regular expression (/.../ or bare).")},
               {},
               {},
               ""});
  v.push_back({PluginKind::kSection,
               "exclude",
               "grep: a field that, matching, drops the event.",
               {req("key", T::kString, "Field name or $.a.b path."),
                req("pattern", T::kRegexp, "Regular expression (/.../ or bare).")},
               {},
               {},
               ""});
  v.push_back({PluginKind::kSection,
               "record",
               "record_transformer: field -> value with placeholders (any names).",
               {},
               {},
               {},
               "",
               true});
  for (const char* group : {"and", "or"}) {
    v.push_back({PluginKind::kSection,
                 group,
                 "grep: <regexp>/<exclude> sections combined with AND or OR.",
                 {},
                 {SectionRule{"regexp", PluginKind::kSection, "", Need::kOptional, true},
                  SectionRule{"exclude", PluginKind::kSection, "", Need::kOptional, true}},
                 {},
                 ""});
  }
  v.push_back({PluginKind::kSection,
               "server",
               "One server of out_forward.",
               {req("host", T::kString, "Name or address of the server."),
                opt("port", T::kInteger, "24224", "Its port."),
                opt("name", T::kString, std::nullopt, "Name in logs and metrics (host:port)."),
                opt("weight", T::kInteger, "60", "Share of chunks among the regular servers."),
                opt("standby", T::kBool, "false", "Used only while no regular server is up."),
                opt("shared_key", T::kString, std::nullopt,
                    "This server's key (overrides <security>'s; never logged)."),
                opt("username", T::kString, std::nullopt, "Not supported (user_auth)."),
                opt("password", T::kString, std::nullopt, "Not supported (user_auth).")},
               {},
               {},
               ""});
  v.push_back(
      {PluginKind::kSection,
       "inject",
       "Adds the event's time, tag or the host name to each record before the output buffers "
       "it (Fluentd's inject).",
       {opt("time_key", T::kString, std::nullopt, "Field for the event time."),
        choice(
            "time_type",
            {"float", "unixtime", "unixtime_millis", "unixtime_micros", "unixtime_nanos", "string"},
            "float",
            "float: seconds to the microsecond; unixtime(_millis, _micros, _nanos): an "
            "integer; string: time_format."),
        opt("time_format", T::kString, std::nullopt, "strftime format (default ISO 8601)."),
        opt("localtime", T::kBool, "true", "Format in local time."),
        opt("utc", T::kBool, "false", "Format in UTC."),
        opt("timezone", T::kString, std::nullopt, "Zone offset such as +09:00."),
        opt("tag_key", T::kString, std::nullopt, "Field for the tag."),
        opt("hostname_key", T::kString, std::nullopt, "Field for the host name."),
        opt("hostname", T::kString, std::nullopt, "Host name to write (default: this host's).")},
       {},
       {},
       ""});
  v.push_back({PluginKind::kSection,
               "security",
               "The forward protocol's shared-key handshake (HELO, PING, PONG): in_forward and "
               "out_forward.",
               {req("self_hostname", T::kString, "This server's name, sent in PONG."),
                req("shared_key", T::kString, "The key both sides hold (never logged)."),
                choice("user_auth", {"false"}, "false",
                       "Username/password authentication is not supported: only false."),
                opt("allow_anonymous_source", T::kBool, "true",
                    "Accepted; <client> sections are not supported.")},
               {},
               {},
               ""});
  return v;
}

}  // namespace

const std::vector<PluginSpec>& all_plugins() {
  static const std::vector<PluginSpec> all = [] {
    std::vector<PluginSpec> a;
    for (auto* build : {build_inputs, build_outputs, build_parsers, build_formatters, build_buffers,
                        build_sections, build_filters}) {
      auto part = build();
      a.insert(a.end(), part.begin(), part.end());
    }
    return a;
  }();
  return all;
}

const PluginSpec* find_plugin(PluginKind kind, std::string_view type) {
  for (const auto& p : all_plugins()) {
    if (p.kind == kind && p.type == type) return &p;
  }
  return nullptr;
}

const char* plugin_kind_name(PluginKind kind) {
  switch (kind) {
    case PluginKind::kInput:
      return "input";
    case PluginKind::kOutput:
      return "output";
    case PluginKind::kParser:
      return "parser";
    case PluginKind::kFormatter:
      return "formatter";
    case PluginKind::kBuffer:
      return "buffer";
    case PluginKind::kSection:
      return "section";
    case PluginKind::kFilter:
      return "filter";
  }
  return "?";
}

const char* param_type_name(ParamType type) {
  switch (type) {
    case T::kString:
      return "string";
    case T::kInteger:
      return "integer";
    case T::kFloat:
      return "float";
    case T::kSize:
      return "size";
    case T::kTime:
      return "time";
    case T::kBool:
      return "bool";
    case T::kEnum:
      return "enum";
    case T::kArray:
      return "array";
    case T::kHash:
      return "hash";
    case T::kRegexp:
      return "regexp";
  }
  return "?";
}

nlohmann::json plugin_schema_json() {
  nlohmann::json plugins = nlohmann::json::array();
  for (const auto& p : all_plugins()) {
    nlohmann::json params = nlohmann::json::array();
    for (const auto& ps : p.params) {
      nlohmann::json j = {{"name", ps.name},
                          {"type", param_type_name(ps.type)},
                          {"required", ps.need == Need::kRequired},
                          {"doc", ps.doc}};
      j["default"] = ps.default_value ? nlohmann::json(*ps.default_value) : nlohmann::json();
      if (!ps.choices.empty()) j["choices"] = ps.choices;
      if (!ps.aliases.empty()) j["aliases"] = ps.aliases;
      params.push_back(std::move(j));
    }
    nlohmann::json sections = nlohmann::json::array();
    for (const auto& s : p.sections) {
      sections.push_back({{"name", s.name},
                          {"kind", plugin_kind_name(s.kind)},
                          {"default_type", s.default_type},
                          {"required", s.need == Need::kRequired},
                          {"repeated", s.repeated}});
    }
    nlohmann::json plugin = {{"kind", plugin_kind_name(p.kind)},
                             {"type", p.type},
                             {"doc", p.doc},
                             {"params", std::move(params)},
                             {"sections", std::move(sections)}};
    if (p.free_params) plugin["free_params"] = true;
    plugins.push_back(std::move(plugin));
  }
  return {{"schema_version", kPluginSchemaVersion}, {"plugins", std::move(plugins)}};
}

}  // namespace logctl::config
