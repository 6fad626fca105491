#include "agentd/inputs/network_input.h"

#include <netdb.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <poll.h>
#include <sys/socket.h>

#include <asio.hpp>
#include <cstring>
#include <functional>
#include <future>
#include <thread>
#include <unordered_map>
#include <unordered_set>

#include "agentd/forward/protocol.h"
#include "agentd/inputs/forward_handler.h"
#include "agentd/inputs/framing.h"
#include "agentd/inputs/http_handler.h"
#include "agentd/inputs/message_handler.h"
#include "agentd/platform/tls.h"
#include "logctl/schema/handover_protocol.h"

namespace logctl::agentd {
namespace {

constexpr std::size_t kReadChunk = 256 * 1024;
constexpr std::size_t kMaxReadPerWake = 4 * 1024 * 1024;  // fairness between connections
constexpr std::size_t kDefaultMaxFrame = 16 << 20;
constexpr int kMaxDatagramsPerWake = 512;

enum class Transport { kTcp, kUdp };

struct Settings {
  std::string id, type;
  Transport transport = Transport::kTcp;
  std::string bind;
  int port = 0;
  Framing framing = Framing::kDelimiter;
  std::string delimiter = "\n";
  std::size_t max_message = kDefaultMaxFrame;
  std::optional<std::size_t> receive_buffer;
  bool resolve_hostname = false;
  bool keepalive = false;
  std::size_t partial_limit = 64 << 20;       // bytes of incomplete frames, all connections
  std::optional<forward::Security> security;  // forward's <security>
  std::shared_ptr<SSL_CTX> tls;               // <transport tls> (tcp, syslog, forward, http)
  // A connection that sent nothing this long, with nothing owed to it, is
  // closed (in_http's keepalive_timeout); 0: never.
  std::chrono::seconds idle_timeout{0};
};

// accept() failing for want of descriptors or memory is retried after a pause
// (doubling up to the maximum), not at once: the listener stays readable, and
// re-arming at once spins a core while the condition lasts.
// Bytes of replies a sender may leave unread before its connection is cut.
constexpr std::size_t kMaxReplyBacklog = 1 << 20;

constexpr auto kAcceptBackoffMin = std::chrono::milliseconds(20);
// Stopping: a connection is read until it sent nothing for kDrainQuiet, all
// of them for at most kDrainLimit (within agentd's shutdown timeout).
constexpr auto kDrainQuiet = std::chrono::milliseconds(200);
constexpr auto kDrainLimit = std::chrono::seconds(5);
constexpr auto kAcceptBackoffMax = std::chrono::milliseconds(1000);

// The common input counters plus the listener-specific ones.
struct Counters : InputCounters {
  Counters(Metrics& m, const std::string& id, const std::string& type)
      : InputCounters(m, id, type),
        connections(m.gauge("agentd_input_connections", "Open connections.", {{"plugin_id", id}})),
        accepted(m.counter("agentd_input_connections_total", "Accepted connections.",
                           {{"plugin_id", id}})),
        dropped(m.counter("agentd_input_dropped_records_total",
                          "Datagram events dropped because the buffer refused them.",
                          {{"plugin_id", id}})),
        kernel_drops(m.counter("agentd_input_udp_kernel_drops_total",
                               "Datagrams the kernel dropped (receive buffer overflow).",
                               {{"plugin_id", id}})),
        framing_errors(m.counter("agentd_input_framing_errors_total",
                                 "Connections closed on unrecoverable framing errors.",
                                 {{"plugin_id", id}})),
        lost_at_stop(m.counter("agentd_input_lost_at_shutdown_records_total",
                               "Events read but refused by the buffer at shutdown.",
                               {{"plugin_id", id}})),
        adopted(m.counter("agentd_input_connections_adopted_total",
                          "Established connections taken over from the previous worker.",
                          {{"plugin_id", id}})),
        accept_errors(m.counter("agentd_input_accept_errors_total",
                                "accept() failures (e.g. the descriptor limit); accepting "
                                "pauses and backs off.",
                                {{"plugin_id", id}})),
        partial_cuts(m.counter("agentd_input_partial_cuts_total",
                               "Incomplete messages cut because partial_limit_size was reached.",
                               {{"plugin_id", id}})),
        auth_failures(m.counter("agentd_input_auth_failures_total",
                                "Connections closed for failing the shared-key handshake.",
                                {{"plugin_id", id}})),
        tls_failures(m.counter("agentd_input_tls_failures_total",
                               "Connections closed for a failed TLS handshake or TLS error.",
                               {{"plugin_id", id}})),
        idle_closed(m.counter("agentd_input_idle_closed_total",
                              "Connections closed for sending nothing for the idle timeout "
                              "(in_http's keepalive_timeout).",
                              {{"plugin_id", id}})),
        partial_bytes(m.gauge("agentd_input_partial_bytes",
                              "Bytes held in incomplete messages across connections.",
                              {{"plugin_id", id}})) {}
  std::atomic<std::int64_t>& connections;
  std::atomic<std::uint64_t>& accepted;
  std::atomic<std::uint64_t>& dropped;
  std::atomic<std::uint64_t>& kernel_drops;
  std::atomic<std::uint64_t>& framing_errors;
  std::atomic<std::uint64_t>& lost_at_stop;
  std::atomic<std::uint64_t>& adopted;
  std::atomic<std::uint64_t>& accept_errors;
  std::atomic<std::uint64_t>& partial_cuts;
  std::atomic<std::uint64_t>& auth_failures;
  std::atomic<std::uint64_t>& tls_failures;
  std::atomic<std::uint64_t>& idle_closed;
  std::atomic<std::int64_t>& partial_bytes;
};

// Socket errors are errno values. Not ec.message(): UBSan's vptr check trips
// over libstdc++'s system_category object under the sanitizer build.
std::string errno_text(const asio::error_code& ec) {
  return std::strerror(ec.value());
}

// The peer's name (a reverse lookup, as Fluentd's resolve_name), or its
// address when it has none. Names are kept per thread for 60 s (at most 4096
// addresses), so a UDP sender costs one lookup a minute, not one a datagram.
std::string hostname_of(const asio::ip::address& a, bool resolve) {
  if (!resolve) return a.to_string();
  struct Entry {
    std::string name;
    std::chrono::steady_clock::time_point at;
  };
  thread_local std::unordered_map<std::string, Entry> cache;
  auto now = std::chrono::steady_clock::now();
  std::string addr = a.to_string();
  if (auto it = cache.find(addr);
      it != cache.end() && now - it->second.at < std::chrono::seconds(60)) {
    return it->second.name;
  }
  if (cache.size() >= 4096) cache.clear();
  asio::ip::tcp::endpoint ep(a, 0);
  char host[NI_MAXHOST];
  std::string name = getnameinfo(ep.data(), static_cast<socklen_t>(ep.size()), host, sizeof host,
                                 nullptr, 0, NI_NAMEREQD) == 0
                         ? host
                         : addr;
  cache[addr] = Entry{name, now};
  return name;
}

class NetworkInput final : public Input {
 public:
  NetworkInput(Settings s, std::unique_ptr<MessageHandler> h, InputContext ctx)
      : s_(std::move(s)), handler_(std::move(h)), ctx_(ctx), c_(ctx.metrics, s_.id, s_.type) {}
  ~NetworkInput() override { stop(); }

  Status start(Reading reading) override {
    asio::error_code ec;
    auto addr = asio::ip::make_address(s_.bind, ec);
    if (ec) return fail("bad bind address '" + s_.bind + "'", ec);
    if (s_.transport == Transport::kTcp) {
      if (auto st = open_tcp(addr); !st) return st;
    } else {
      if (auto st = open_udp(addr); !st) return st;
    }
    if (reading == Reading::kNow) begin_reading();
    thread_ = std::thread([this] { io_.run(); });
    log::info("input " + s_.id + ": " + (reading == Reading::kNow ? "listening on " : "holding ") +
              listener_key());
    return {};
  }

  void activate() override {
    run_on_io([this] { begin_reading(); });
  }

  void stop() override {
    if (!thread_.joinable()) return;
    asio::post(io_, [this] { shutdown(); });
    thread_.join();
  }

  std::string listener_key() const override {
    handover::ListenerKey k{s_.transport == Transport::kTcp ? handover::ListenerKey::Proto::kTcp
                                                            : handover::ListenerKey::Proto::kUdp,
                            s_.bind, s_.port};
    return k.str();
  }

  std::vector<HandedConnection> release_connections() override {
    std::vector<HandedConnection> out;
    run_on_io([&] { out = release(); });
    return out;
  }

  Status adopt(HandedConnection h) override {
    Status result;
    run_on_io([&] { result = adopt_on_io(std::move(h)); });
    return result;
  }

 private:
  struct Conn {
    explicit Conn(asio::io_context& io, Framing f, const std::string& d, std::size_t max)
        : sock(io), timer(io), quiet(io), split(f, d, max) {}
    ~Conn() {
      if (ssl) SSL_free(ssl);
    }
    Conn(const Conn&) = delete;
    Conn& operator=(const Conn&) = delete;
    asio::ip::tcp::socket sock;
    asio::steady_timer timer;
    asio::steady_timer quiet;  // draining at stop: done after kDrainQuiet without bytes
    FrameSplitter split;
    Peer peer;
    BatchSet pending;
    std::chrono::milliseconds backoff{10};
    bool eof = false;
    std::uint64_t oversized_seen = 0;
    std::size_t held = 0;  // split.held() as last counted in held_total_
    std::string out;       // replies (forward acks) the socket has not taken yet
    bool writing = false;  // waiting for the socket to take `out`
    std::string nonce;     // forward <security>: sent in HELO
    bool authenticated = true;
    bool auth_failed = false;
    bool closing = false;  // closes once `out` is written (close_after_replies)
    std::chrono::steady_clock::time_point last_read = std::chrono::steady_clock::now();
    SSL* ssl = nullptr;  // <transport tls>: the session (never handed over)
  };

  // The socket or the TLS session: bytes in, as read_some (would_block, eof).
  std::size_t read_some(Conn& c, asio::error_code& ec) {
    if (!c.ssl) return c.sock.read_some(asio::buffer(scratch_), ec);
    std::size_t n = 0;
    int rc = SSL_read_ex(c.ssl, scratch_.data(), scratch_.size(), &n);
    if (rc == 1) return n;
    int e = SSL_get_error(c.ssl, rc);
    if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
      ec = asio::error::would_block;
    } else if (e == SSL_ERROR_ZERO_RETURN) {
      ec = asio::error::eof;
    } else {
      ++c_.tls_failures;
      log_.write(log::Level::kWarn, "input " + s_.id + ": TLS with " + c.peer.address +
                                        " failed: " + tls::error_text());
      ec = asio::error::connection_aborted;
    }
    return 0;
  }

  // Bytes out; kTlsNeedsRead when the TLS session must read first (its
  // handshake): the next on_readable flushes again.
  static constexpr int kTlsNeedsRead = -2;
  std::size_t write_some(Conn& c, std::string_view data, asio::error_code& ec,
                         int* state = nullptr) {
    if (!c.ssl) return c.sock.write_some(asio::buffer(data), ec);
    std::size_t n = 0;
    int rc = SSL_write_ex(c.ssl, data.data(), data.size(), &n);
    if (rc == 1) return n;
    int e = SSL_get_error(c.ssl, rc);
    if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
      ec = asio::error::would_block;
      if (state && e == SSL_ERROR_WANT_READ) *state = kTlsNeedsRead;
    } else {
      ERR_clear_error();
      ec = asio::error::connection_aborted;
    }
    return 0;
  }

  Status fail(const std::string& what, const asio::error_code& ec) {
    return make_error(ErrorCode::kUnavailable,
                      "input " + s_.id + ": " + what + ": " + errno_text(ec));
  }

  // Runs fn on the I/O thread (or here, before the thread starts) and waits.
  void run_on_io(const std::function<void()>& fn) {
    if (!thread_.joinable()) return fn();
    std::promise<void> done;
    asio::post(io_, [&] {
      fn();
      done.set_value();
    });
    done.get_future().wait();
  }

  // A listener from the supervisor, or nullopt to bind one here.
  Result<std::optional<int>> shared_listener() {
    if (!ctx_.listen) return std::optional<int>();
    auto fd = ctx_.listen(listener_key());
    if (!fd) return make_error(fd.error().code, "input " + s_.id + ": " + fd.error().message);
    return std::optional<int>(*fd);
  }

  Status open_tcp(const asio::ip::address& addr) {
    asio::error_code ec;
    asio::ip::tcp::endpoint ep(addr, static_cast<unsigned short>(s_.port));
    auto shared = shared_listener();
    if (!shared) return std::unexpected(shared.error());
    if (*shared) {
      acceptor_.assign(ep.protocol(), **shared, ec);
    } else {
      acceptor_.open(ep.protocol(), ec);
      if (!ec) acceptor_.set_option(asio::socket_base::reuse_address(true), ec);
      if (!ec) acceptor_.bind(ep, ec);
      if (!ec) acceptor_.listen(asio::socket_base::max_listen_connections, ec);
    }
    if (ec) return fail("cannot listen on " + listener_key(), ec);
    // Shared listeners are already non-blocking (set once by the supervisor).
    acceptor_.non_blocking(true, ec);
    return {};
  }

  void begin_reading() {
    if (reading_ || stopping_) return;
    reading_ = true;
    if (s_.transport == Transport::kTcp) {
      accept();
      sweep_idle();
    } else {
      wait_udp();
    }
  }

  // Once a second: connections idle past idle_timeout, with nothing held for
  // them, are closed (an HTTP client that went away without closing).
  void sweep_idle() {
    if (s_.idle_timeout.count() == 0) return;
    idle_timer_.expires_after(std::chrono::seconds(1));
    idle_timer_.async_wait([this](const asio::error_code& ec) {
      if (ec || stopping_ || !reading_) return;
      auto now = std::chrono::steady_clock::now();
      for (const auto& c : std::vector<std::shared_ptr<Conn>>(conns_.begin(), conns_.end())) {
        if (now - c->last_read > s_.idle_timeout && c->pending.empty() && c->out.empty()) {
          ++c_.idle_closed;
          close(c);
        }
      }
      sweep_idle();
    });
  }

  Status open_udp(const asio::ip::address& addr) {
    asio::error_code ec;
    asio::ip::udp::endpoint ep(addr, static_cast<unsigned short>(s_.port));
    auto shared = shared_listener();
    if (!shared) return std::unexpected(shared.error());
    if (*shared) {
      udp_.assign(ep.protocol(), **shared, ec);
    } else {
      udp_.open(ep.protocol(), ec);
      if (!ec) udp_.set_option(asio::socket_base::reuse_address(true), ec);
    }
    // Socket options belong to the kernel socket: with a shared listener the
    // last worker to set the receive buffer size decides it for all.
    if (!ec && s_.receive_buffer) {
      udp_.set_option(asio::socket_base::receive_buffer_size(static_cast<int>(*s_.receive_buffer)),
                      ec);
    }
    if (!ec && !*shared) udp_.bind(ep, ec);
    if (ec) return fail("cannot bind " + listener_key(), ec);
    int one = 1;
    ::setsockopt(udp_.native_handle(), SOL_SOCKET, SO_RXQ_OVFL, &one, sizeof one);
    udp_.non_blocking(true, ec);
    dgram_.resize(s_.max_message + 1);
    return {};
  }

  // ---- TCP ----
  void accept() {
    acceptor_.async_wait(asio::socket_base::wait_read, [this](const asio::error_code& ec) {
      if (ec || !reading_) return;       // closed or released
      if (accept_ready(64) < 0) return;  // paused (out of descriptors)
      accept();
    });
  }

  // Accepts up to `max` connections the kernel has queued and starts reading
  // each; how many, or -1 when accepting paused.
  int accept_ready(int max) {
    int accepted = 0;
    for (int i = 0; i < max; ++i) {
      {
        // accept4 directly: errno, not asio::error_code, decides what follows.
        int fd =
            ::accept4(acceptor_.native_handle(), nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) break;
        if (fd < 0) {
          int err = errno;
          ++c_.accept_errors;
          if (out_of_resources(err)) {
            pause_accepting(err);
            return -1;
          }
          accept_log_.write(log::Level::kWarn,
                            "input " + s_.id + ": accept failed: " + std::strerror(err));
          break;
        }
        auto c = std::make_shared<Conn>(io_, s_.framing, s_.delimiter, s_.max_message);
        asio::error_code aec;
        c->sock.assign(acceptor_.local_endpoint(aec).protocol(), fd, aec);
        if (aec) {
          ::close(fd);
          break;
        }
        accept_backoff_ = kAcceptBackoffMin;
        ++c_.accepted;
        ++accepted;
        track(c);
        if (s_.tls) {  // the handshake runs in the first reads
          c->ssl = SSL_new(s_.tls.get());
          if (!c->ssl || SSL_set_fd(c->ssl, fd) != 1) {
            log_.write(log::Level::kError, "input " + s_.id + ": " + tls::error_text());
            close(c);
            continue;
          }
          SSL_set_accept_state(c->ssl);
        }
        if (s_.security) {  // HELO first; nothing counts as events before PING/PONG
          auto [nonce, helo] = forward::helo();
          c->nonce = std::move(nonce);
          c->authenticated = false;
          c->out = std::move(helo);
          flush_out(c);
        }
        wait_readable(c);
        if (draining_) quiet_after(c);
      }
    }
    return accepted;
  }

  static bool out_of_resources(int e) {
    return e == EMFILE || e == ENFILE || e == ENOBUFS || e == ENOMEM;
  }

  void pause_accepting(int err) {
    accept_log_.write(log::Level::kError,
                      "input " + s_.id + ": accept failed: " + std::strerror(err) + " (" +
                          std::to_string(conns_.size()) + " connections open); pausing accepts " +
                          std::to_string(accept_backoff_.count()) + " ms");
    accept_timer_.expires_after(accept_backoff_);
    accept_backoff_ = std::min(accept_backoff_ * 2, kAcceptBackoffMax);
    accept_timer_.async_wait([this](const asio::error_code& e) {
      if (!e && reading_) accept();
    });
  }

  void track(const std::shared_ptr<Conn>& c) {
    asio::error_code ec;
    auto remote = c->sock.remote_endpoint(ec);
    c->peer.address = ec ? "" : remote.address().to_string();
    c->peer.hostname = ec ? "" : hostname_of(remote.address(), s_.resolve_hostname);
    c->sock.non_blocking(true, ec);
    if (s_.keepalive) c->sock.set_option(asio::socket_base::keep_alive(true), ec);
    conns_.insert(c);
    ++c_.connections;
  }

  void wait_readable(const std::shared_ptr<Conn>& c) {
    if (c->ssl && SSL_has_pending(c->ssl)) {  // decrypted bytes the socket will not announce
      asio::post(io_, [this, c] {
        if (conns_.count(c)) on_readable(c);
      });
      return;
    }
    c->sock.async_wait(asio::socket_base::wait_read, [this, c](const asio::error_code& ec) {
      if (ec) return close(c);
      on_readable(c);
    });
  }

  void on_readable(const std::shared_ptr<Conn>& c) {
    EventTime now = ctx_.clock.now();
    c->last_read = std::chrono::steady_clock::now();
    std::size_t total = 0;
    bool again = true;
    while (total < kMaxReadPerWake) {
      asio::error_code ec;
      std::size_t n = read_some(*c, ec);
      if (ec == asio::error::would_block || ec == asio::error::try_again) break;
      if (ec == asio::error::eof || (!ec && n == 0)) {
        c->eof = true;
        again = false;
        break;
      }
      if (ec) {
        log_.write(log::Level::kWarn, "input " + s_.id + ": read from " + c->peer.address +
                                          " failed: " + errno_text(ec));
        c->eof = true;
        again = false;
        break;
      }
      total += n;
      auto st = c->split.feed({scratch_.data(), n}, [&](std::string_view frame) {
        if (c->authenticated) return handler_->handle(frame, c->peer, now, c->pending);
        if (c->auth_failed) return;  // the rest is ignored; the connection closes
        forward::Pong pong = forward::pong(frame, *s_.security, c->nonce);
        c->pending.replies.push_back(std::move(pong.packed));
        c->authenticated = pong.ok;
        c->auth_failed = !pong.ok;
        if (!pong.ok) {
          ++c_.auth_failures;
          log_.write(log::Level::kWarn, "input " + s_.id + ": " + c->peer.address +
                                            " failed the shared-key handshake: " + pong.why);
        }
      });
      if (auto reply = c->split.take_reply(); !reply.empty()) {
        c->pending.replies.push_back(std::move(reply));
      }
      if (!st) {
        ++c_.framing_errors;
        log_.write(log::Level::kWarn, "input " + s_.id + ": closing connection from " +
                                          c->peer.address + ": " + st.error().message);
        c->eof = true;
        c->pending.close_after_replies = true;
        again = false;
        break;
      }
      if (c->pending.close_after_replies) {
        again = false;
        break;
      }
    }
    c_.bytes += total;
    if (c->auth_failed) {  // PONG(false), then the connection ends
      send_replies(c);
      return close(c);
    }
    account_partial(*c);
    note_oversized(*c);
    if (c->ssl && !c->out.empty() && !c->writing) flush_out(c);  // e.g. HELO after the handshake
    if (c->eof && !c->split.pending().empty() && c->split.partial_is_message()) {
      handler_->handle(c->split.pending(), c->peer, now, c->pending);  // last unterminated line
    }
    deliver(c, again);
  }

  // Keeps held_total_ (bytes of incomplete frames over all connections) under
  // partial_limit_size by cutting the longest incomplete frames.
  void account_partial(Conn& c) {
    held_total_ = held_total_ - c.held + c.split.held();
    c.held = c.split.held();
    while (held_total_ > s_.partial_limit) {
      Conn* biggest = nullptr;
      for (const auto& other : conns_) {
        if (!biggest || other->held > biggest->held) biggest = other.get();
      }
      if (!biggest || biggest->held == 0) break;
      std::size_t before = biggest->held;
      biggest->split.cut_partial();
      held_total_ -= before - biggest->split.held();
      biggest->held = biggest->split.held();
      if (biggest->held == before) break;  // nothing it can give up
      ++c_.partial_cuts;
      ++c_.oversized;  // counted as oversized, logged below as what it is
      biggest->oversized_seen = biggest->split.oversized();
      budget_log_.write(log::Level::kWarn,
                        "input " + s_.id + ": incomplete messages held across connections " +
                            "reached partial_limit_size (" + std::to_string(s_.partial_limit) +
                            " bytes); cut a " + std::to_string(before) + "-byte one from " +
                            biggest->peer.address);
    }
    c_.partial_bytes = static_cast<std::int64_t>(held_total_);
  }

  void forget_partial(Conn& c) {
    held_total_ -= c.held;
    c.held = 0;
    c_.partial_bytes = static_cast<std::int64_t>(held_total_);
  }

  void note_oversized(Conn& c) {
    if (c.split.oversized() == c.oversized_seen) return;
    c_.oversized += c.split.oversized() - c.oversized_seen;
    c.oversized_seen = c.split.oversized();
    log_.write(log::Level::kWarn, "input " + s_.id + ": message from " + c.peer.address +
                                      " longer than message_length_limit (" +
                                      std::to_string(s_.max_message) + " bytes) skipped");
  }

  // Hands pending events to the router; on refusal pauses this connection.
  void deliver(const std::shared_ptr<Conn>& c, bool read_more) {
    std::size_t n = c->pending.events();
    auto st = c->pending.emit_to(ctx_.emitter, ctx_.errors);
    c_.records += n - c->pending.events();
    if (!st) {
      if (c->backoff.count() == 10) {
        ++c_.paused;
        log_.write(log::Level::kWarn, "input " + s_.id + ": " + st.error().message +
                                          "; pausing reads (back-pressure)");
      }
      c->timer.expires_after(c->backoff);
      c->backoff = std::min(c->backoff * 2, std::chrono::milliseconds(100));
      c->timer.async_wait([this, c, read_more](const asio::error_code& ec) {
        if (!ec) deliver(c, read_more);
      });
      return;
    }
    c->backoff = std::chrono::milliseconds(10);
    if (c->pending.close_after_replies) {  // the last replies, then the end
      c->closing = true;
      send_replies(c);  // flush_out closes the connection once `out` is written
      return;
    }
    if (!c->pending.replies.empty()) send_replies(c);
    if (read_more && (!stopping_ || draining_)) {
      wait_readable(c);
      if (draining_) quiet_after(c);
    } else if (c->eof || draining_) {
      close(c);
    }
  }

  // Replies go out once their events are buffered (deliver); a sender that
  // does not read them is cut off at kMaxReplyBacklog.
  void send_replies(const std::shared_ptr<Conn>& c) {
    take_replies(*c);
    flush_out(c);
  }

  static void take_replies(Conn& c) {
    for (auto& r : c.pending.replies) c.out += r;
    c.pending.replies.clear();
  }

  void flush_out(const std::shared_ptr<Conn>& c) {
    while (!c->out.empty()) {
      asio::error_code ec;
      int state = 0;
      std::size_t n = write_some(*c, c->out, ec, &state);
      if (state == kTlsNeedsRead) return;  // on_readable flushes once the session can write
      if (ec == asio::error::would_block || ec == asio::error::try_again) {
        if (c->out.size() > kMaxReplyBacklog) {
          log_.write(log::Level::kWarn, "input " + s_.id + ": " + c->peer.address +
                                            " does not read its acks; closing the connection");
          return close(c);
        }
        if (!c->writing) {
          c->writing = true;
          c->sock.async_wait(asio::socket_base::wait_write, [this, c](const asio::error_code& e) {
            c->writing = false;
            if (!e) flush_out(c);
          });
        }
        return;
      }
      if (ec) {  // a broken connection: the read side closes it
        if (c->closing) close(c);
        return;
      }
      c->out.erase(0, n);
    }
    if (c->closing) close(c);
  }

  void close(const std::shared_ptr<Conn>& c) {
    if (!conns_.erase(c)) return;
    --c_.connections;
    forget_partial(*c);
    asio::error_code ec;
    c->timer.cancel();
    c->quiet.cancel();
    if (draining_ && conns_.empty()) asio::post(io_, [this] { io_.stop(); });
    if (c->ssl) SSL_shutdown(c->ssl);  // close_notify, best effort; never waits
    c->sock.close(ec);
  }

  // ---- UDP ----
  void wait_udp() {
    udp_.async_wait(asio::socket_base::wait_read, [this](const asio::error_code& ec) {
      if (ec || !reading_) return;
      on_datagrams();
      if (!stopping_ && reading_) wait_udp();
    });
  }

  void on_datagrams() {
    EventTime now = ctx_.clock.now();
    BatchSet batches;
    for (int i = 0; i < kMaxDatagramsPerWake; ++i) {
      sockaddr_storage from{};
      iovec iov{dgram_.data(), dgram_.size()};
      alignas(cmsghdr) char control[CMSG_SPACE(sizeof(std::uint32_t))];
      msghdr msg{};
      msg.msg_name = &from;
      msg.msg_namelen = sizeof from;
      msg.msg_iov = &iov;
      msg.msg_iovlen = 1;
      msg.msg_control = control;
      msg.msg_controllen = sizeof control;
      ssize_t n = ::recvmsg(udp_.native_handle(), &msg, MSG_DONTWAIT);
      if (n < 0) break;
      account_kernel_drops(msg);
      std::size_t len = static_cast<std::size_t>(n);
      if (len > s_.max_message || (msg.msg_flags & MSG_TRUNC)) {
        ++c_.oversized;
        len = s_.max_message;
        log_.write(log::Level::kWarn, "input " + s_.id + ": datagram longer than " +
                                          std::to_string(s_.max_message) +
                                          " bytes truncated (message_length_limit)");
      }
      c_.bytes += len;
      Peer peer = peer_of(from, msg.msg_namelen);
      handler_->handle({dgram_.data(), len}, peer, now, batches);
    }
    std::size_t n = batches.events();
    auto st = batches.emit_to(ctx_.emitter, ctx_.errors);
    c_.records += n - batches.events();
    if (!st) {
      c_.dropped += batches.events();
      log_.write(log::Level::kError, "input " + s_.id + ": " + st.error().message + "; dropped " +
                                         std::to_string(batches.events()) + " datagram event(s)");
    }
  }

  void account_kernel_drops(msghdr& msg) {
    for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c)) {
      if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SO_RXQ_OVFL) {
        // The kernel's count is per socket and cumulative; a shared listener
        // outlives workers, so the counter mirrors it instead of adding deltas.
        std::uint32_t total;
        std::memcpy(&total, CMSG_DATA(c), sizeof total);
        std::uint64_t seen = c_.kernel_drops.load();
        if (total > seen) {
          c_.kernel_drops = total;
          log_.write(log::Level::kWarn, "input " + s_.id + ": kernel dropped " +
                                            std::to_string(total - seen) +
                                            " datagram(s): receive buffer full");
        }
      }
    }
  }

  Peer peer_of(const sockaddr_storage& from, socklen_t len) {
    asio::ip::udp::endpoint ep;
    std::size_t n = std::min<std::size_t>(len, ep.capacity());  // sockaddr_in or _in6
    std::memcpy(ep.data(), &from, n);
    ep.resize(n);
    auto addr = ep.address();
    return Peer{addr.to_string(), hostname_of(addr, s_.resolve_hostname)};
  }

  // ---- handover ----
  // Emits what a connection has parsed (into the spool during a handover).
  void flush_parsed(Conn& c, const char* when) {
    std::size_t n = c.pending.events();
    if (auto st = c.pending.emit_to(ctx_.emitter, ctx_.errors); !st) {
      c_.lost_at_stop += c.pending.events();
      log::error("input " + s_.id + ": " + std::to_string(c.pending.events()) + " event(s) from " +
                 c.peer.address + " could not be buffered at " + when + ": " + st.error().message);
    }
    c_.records += n - c.pending.events();
  }

  std::vector<HandedConnection> release() {
    reading_ = false;
    accept_timer_.cancel();
    idle_timer_.cancel();
    asio::error_code ec;
    acceptor_.close(ec);  // our duplicate; the shared socket stays open
    udp_.close(ec);
    std::vector<HandedConnection> out;
    for (const auto& c : std::vector<std::shared_ptr<Conn>>(conns_.begin(), conns_.end())) {
      flush_parsed(*c, "handover");
      c->timer.cancel();
      // Acks owed for what is now buffered go out before the socket changes
      // hands (a sender that does not get one resends: a duplicate, not a loss).
      if (c->pending.empty()) take_replies(*c);
      for (int tries = 0; !c->out.empty() && tries < 20; ++tries) {
        asio::error_code wec;
        std::size_t n = write_some(*c, c->out, wec);
        if (wec && wec != asio::error::would_block && wec != asio::error::try_again) break;
        c->out.erase(0, n);
        if (wec) {  // full: wait a little, bounded (the handover must not hang on a sender)
          pollfd p{c->sock.native_handle(), POLLOUT, 0};
          ::poll(&p, 1, 5);
        }
      }
      c->out.clear();
      HandedConnection h{listener_key(), -1, std::string(c->split.pending())};
      // The peer is gone, or the connection's state is ours alone (a shared-key
      // handshake, a TLS session): it ends here; a sender resends what it has
      // no ack for.
      if (c->eof || !c->authenticated || c->ssl || c->pending.close_after_replies) {
        close(c);
        continue;
      }
      h.fd = c->sock.release(ec);
      forget_partial(*c);
      conns_.erase(c);
      --c_.connections;
      if (h.fd >= 0) out.push_back(std::move(h));
    }
    return out;
  }

  Status adopt_on_io(HandedConnection h) {
    auto c = std::make_shared<Conn>(io_, s_.framing, s_.delimiter, s_.max_message);
    sockaddr_storage local{};
    socklen_t len = sizeof local;
    ::getsockname(h.fd, reinterpret_cast<sockaddr*>(&local), &len);
    asio::error_code ec;
    c->sock.assign(local.ss_family == AF_INET6 ? asio::ip::tcp::v6() : asio::ip::tcp::v4(), h.fd,
                   ec);
    if (ec) {
      ::close(h.fd);
      return fail("cannot adopt a connection", ec);
    }
    track(c);
    ++c_.adopted;
    EventTime now = ctx_.clock.now();
    auto st = c->split.feed(h.pending, [&](std::string_view frame) {
      handler_->handle(frame, c->peer, now, c->pending);
    });
    if (!st) ++c_.framing_errors;
    account_partial(*c);
    deliver(c, /*read_more=*/true);
    return {};
  }

  // Stopping (SIGTERM, cluster shutdown): nothing the kernel accepted for us
  // is dropped. Connections it queued are accepted; every connection is read
  // until it has been quiet for kDrainQuiet (what senders had in flight, and
  // the socket buffers), at most kDrainLimit in all; then each is closed with
  // its last unterminated line emitted. Datagrams queued are read too. The
  // supervisor has closed its listeners first at a final stop, so the kernel
  // refuses new connections once ours is closed (docs/operations.md, "What
  // senders see when agentd stops").
  void shutdown() {
    stopping_ = true;
    accept_timer_.cancel();
    idle_timer_.cancel();
    asio::error_code ec;
    if (reading_ && acceptor_.is_open()) {
      draining_ = true;
      while (accept_ready(64) == 64) {
      }
    }
    acceptor_.close(ec);
    if (reading_ && udp_.is_open()) {
      for (int i = 0; i < 64 && udp_.available(ec) > 0 && !ec; ++i) on_datagrams();
    }
    udp_.close(ec);
    if (!draining_ || conns_.empty()) return finish_all();
    for (const auto& c : conns_) quiet_after(c);
    drain_limit_.expires_after(kDrainLimit);
    drain_limit_.async_wait([this](const asio::error_code& e) {
      if (!e) finish_all();
    });
  }

  // A draining connection that stays quiet this long is done.
  void quiet_after(const std::shared_ptr<Conn>& c) {
    c->quiet.expires_after(kDrainQuiet);
    c->quiet.async_wait([this, c](const asio::error_code& e) {
      if (!e && conns_.count(c)) finish(c);
    });
  }

  void finish(const std::shared_ptr<Conn>& c) {
    if (!c->split.pending().empty() && c->split.partial_is_message()) {
      handler_->handle(c->split.pending(), c->peer, ctx_.clock.now(), c->pending);
    }
    flush_parsed(*c, "shutdown");
    close(c);
  }

  void finish_all() {
    drain_limit_.cancel();
    for (const auto& c : std::vector<std::shared_ptr<Conn>>(conns_.begin(), conns_.end())) {
      finish(c);
    }
    io_.stop();
  }

  Settings s_;
  std::unique_ptr<MessageHandler> handler_;
  InputContext ctx_;
  Counters c_;
  asio::io_context io_{1};
  // Keeps run() going while nothing is pending (a held input has no wait yet).
  asio::executor_work_guard<asio::io_context::executor_type> work_{io_.get_executor()};
  asio::ip::tcp::acceptor acceptor_{io_};
  asio::ip::udp::socket udp_{io_};
  std::unordered_set<std::shared_ptr<Conn>> conns_;
  std::vector<char> scratch_ = std::vector<char>(kReadChunk);
  std::vector<char> dgram_;
  bool stopping_ = false;
  bool draining_ = false;  // stopping: connections read until quiet
  asio::steady_timer drain_limit_{io_};
  bool reading_ = false;
  asio::steady_timer accept_timer_{io_};
  asio::steady_timer idle_timer_{io_};
  std::chrono::milliseconds accept_backoff_ = kAcceptBackoffMin;
  std::size_t held_total_ = 0;
  std::thread thread_;
  log::RateLimited log_, accept_log_, budget_log_;
};

}  // namespace

// <transport tls> of in_tcp, in_syslog and in_forward: TLS 1.2+ (min_version), the server
// certificate and key, optionally client certificates verified against ca_path.
Result<std::shared_ptr<SSL_CTX>> tls_server_context(const config::Section& t,
                                                    const std::string& id) {
  auto bad = [&](const std::string& what) {
    return make_error(ErrorCode::kInvalidArgument,
                      t.where().str() + ": <transport tls> of " + id + ": " + what);
  };
  std::shared_ptr<SSL_CTX> ctx(SSL_CTX_new(TLS_server_method()), SSL_CTX_free);
  if (!ctx) return bad(tls::error_text());
  SSL_CTX_set_min_proto_version(
      ctx.get(), t.str("min_version") == "TLSv1_3" ? TLS1_3_VERSION : TLS1_2_VERSION);
  SSL_CTX_set_mode(ctx.get(), SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
  if (t.is_set("ciphers") && SSL_CTX_set_cipher_list(ctx.get(), t.str("ciphers").c_str()) != 1) {
    return bad("ciphers '" + t.str("ciphers") + "': " + tls::error_text());
  }
  std::string cert = t.str("cert_path");
  if (auto st = tls::load_cert_and_key(
          ctx.get(), cert, t.is_set("private_key_path") ? t.str("private_key_path") : cert,
          t.str("private_key_passphrase"));
      !st) {
    return bad(st.error().message);
  }
  if (t.flag("client_cert_auth")) {
    if (!t.is_set("ca_path")) return bad("client_cert_auth needs ca_path");
    if (SSL_CTX_load_verify_locations(ctx.get(), t.str("ca_path").c_str(), nullptr) != 1) {
      return bad("ca_path '" + t.str("ca_path") + "': " + tls::error_text());
    }
    SSL_CTX_set_verify(ctx.get(), SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, nullptr);
  }
  return ctx;
}

Result<std::unique_ptr<Input>> make_network_input(const config::Section& src, InputContext ctx) {
  Settings s;
  s.id = src.id();
  s.type = src.type();
  s.bind = src.str("bind");
  s.port = static_cast<int>(src.integer("port"));
  s.partial_limit = src.size("partial_limit_size");
  HandlerOptions h;
  h.id = s.id;
  h.type = s.type;
  if (s.type != "http") {  // in_http has none of these
    // Fluentd resolves the peer's name for source_hostname_key (unless told not to).
    s.resolve_hostname = src.explicitly_set("resolve_hostname")
                             ? src.flag("resolve_hostname")
                             : !src.str("source_hostname_key").empty();
    s.keepalive = src.flag("send_keepalive_packet");
    h.tag = src.type() == "forward" ? "" : src.str("tag");
    h.source_hostname_key = src.str("source_hostname_key");
    h.source_address_key = src.str("source_address_key");
  }
  Result<std::unique_ptr<MessageHandler>> handler;
  // <transport tls> (tcp, syslog and forward): TLS on the TCP listener.
  if (const auto* t = src.child("transport"); t && t->arg() == "tls") {
    auto server_tls = tls_server_context(*t, s.id);
    if (!server_tls) return std::unexpected(server_tls.error());
    s.tls = std::move(*server_tls);
  }
  if (s.type == "tcp") {
    s.delimiter = src.str("delimiter");
    s.framing = src.str("frame_type") == "octet_count" ? Framing::kOctetCount : Framing::kDelimiter;
    if (src.is_set("message_length_limit")) s.max_message = src.size("message_length_limit");
    handler = make_line_handler(src, h, ctx);
  } else if (s.type == "udp") {
    s.transport = Transport::kUdp;
    s.max_message = src.size("message_length_limit");
    if (src.is_set("receive_buffer_size")) s.receive_buffer = src.size("receive_buffer_size");
    h.remove_newline = src.flag("remove_newline");
    handler = make_line_handler(src, h, ctx);
  } else if (s.type == "http") {
    s.framing = Framing::kHttp;
    s.max_message = src.size("body_size_limit");
    s.idle_timeout = std::chrono::seconds(
        std::max<std::int64_t>(1, static_cast<std::int64_t>(src.number("keepalive_timeout"))));
    auto o = http_options(src);
    if (!o) return std::unexpected(o.error());
    handler = make_http_handler(src, h, std::move(*o), ctx);
  } else if (s.type == "forward") {
    s.framing = Framing::kMsgpack;
    s.max_message = src.is_set("chunk_size_limit") ? src.size("chunk_size_limit") : 32 << 20;
    ForwardOptions f;
    f.add_tag_prefix = src.str("add_tag_prefix");
    if (const auto* sec = src.child("security")) {  // user_auth: only false (the schema)
      s.security = forward::Security{sec->str("self_hostname"), sec->str("shared_key")};
    }
    handler = make_forward_handler(h, f, ctx.metrics);
  } else {  // syslog
    const auto* transport = src.child("transport");
    std::string proto = src.is_set("protocol_type") ? src.str("protocol_type")
                        : transport                 ? transport->arg()
                                                    : "udp";
    s.transport = proto == "tcp" || proto == "tls" ? Transport::kTcp : Transport::kUdp;
    s.framing = src.str("frame_type") == "octet_count" ? Framing::kOctetCount : Framing::kDelimiter;
    s.max_message = src.size("message_length_limit");
    h.severity_key = src.str("severity_key");
    h.facility_key = src.str("facility_key");
    if (src.flag("include_source_host")) h.source_hostname_key = src.str("source_host_key");
    handler = make_syslog_handler(src, h, ctx);
  }
  if (!handler) return std::unexpected(handler.error());
  if (s.max_message == 0) {
    return make_error(ErrorCode::kInvalidArgument,
                      src.where().str() + ": message_length_limit must be positive");
  }
  return std::make_unique<NetworkInput>(std::move(s), std::move(*handler), ctx);
}

}  // namespace logctl::agentd
