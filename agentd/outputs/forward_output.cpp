#include "agentd/outputs/forward_output.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <mutex>
#include <thread>

#include "agentd/core/log.h"
#include "agentd/core/msgpack_view.h"
#include "agentd/core/record_writer.h"
#include "agentd/forward/protocol.h"
#include "agentd/inputs/msgpack_framing.h"
#include "agentd/platform/tls.h"

namespace logctl::agentd {
namespace {

using Clock = std::chrono::steady_clock;
using Deadline = Clock::time_point;

Deadline after(double seconds) {
  return Clock::now() +
         std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(seconds));
}

int ms_left(Deadline d) {
  auto left = std::chrono::duration_cast<std::chrono::milliseconds>(d - Clock::now()).count();
  return left <= 0 ? 0 : static_cast<int>(std::min<long long>(left, 60'000));
}

Error unavailable(const std::string& what) {
  return Error{ErrorCode::kUnavailable, what};
}

// One connection to a server: a non-blocking socket, optionally under TLS,
// every operation bounded by a deadline.
class Conn {
 public:
  Conn(int fd, std::string name) : fd_(fd), name_(std::move(name)) {}
  ~Conn() {
    if (ssl_) {
      SSL_shutdown(ssl_);  // best effort close_notify; never waits
      SSL_free(ssl_);
    }
    ::close(fd_);
  }
  Conn(const Conn&) = delete;
  Conn& operator=(const Conn&) = delete;

  Status start_tls(SSL_CTX* ctx, const std::string& host, bool verify_host, Deadline d) {
    ssl_ = SSL_new(ctx);
    if (!ssl_) return std::unexpected(unavailable(name_ + ": " + tls::error_text()));
    SSL_set_fd(ssl_, fd_);
    in6_addr ip6;
    in_addr ip4;
    bool is_ip = ::inet_pton(AF_INET, host.c_str(), &ip4) == 1 ||
                 ::inet_pton(AF_INET6, host.c_str(), &ip6) == 1;
    if (!is_ip) SSL_set_tlsext_host_name(ssl_, host.c_str());
    if (verify_host && is_ip) X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl_), host.c_str());
    if (verify_host && !is_ip) SSL_set1_host(ssl_, host.c_str());
    for (;;) {
      int rc = SSL_connect(ssl_);
      if (rc == 1) return {};
      if (auto st = wait_ssl(rc, d, "TLS handshake"); !st) {
        long v = SSL_get_verify_result(ssl_);
        if (v != X509_V_OK) {
          return std::unexpected(unavailable(name_ + ": TLS handshake: certificate verification: " +
                                             X509_verify_cert_error_string(v)));
        }
        return st;
      }
    }
  }

  Status send_all(std::string_view data, Deadline d) {
    while (!data.empty()) {
      if (ssl_) {
        std::size_t n = 0;
        int rc = SSL_write_ex(ssl_, data.data(), data.size(), &n);
        if (rc == 1) {
          data.remove_prefix(n);
          continue;
        }
        if (auto st = wait_ssl(0, d, "send"); !st) return st;
        continue;
      }
      ssize_t n = ::send(fd_, data.data(), data.size(), MSG_NOSIGNAL);
      if (n > 0) {
        data.remove_prefix(static_cast<std::size_t>(n));
        continue;
      }
      if (n < 0 && errno != EAGAIN && errno != EINTR) return io_error("send");
      if (!wait(POLLOUT, d)) return std::unexpected(unavailable(name_ + ": send timed out"));
    }
    return {};
  }

  // The next complete MessagePack object the server sent.
  Result<std::string> read_object(Deadline d, const char* what) {
    for (;;) {
      auto end = scanner_.end_of_object(in_);
      if (!end) return std::unexpected(unavailable(name_ + ": " + end.error().message));
      if (*end) {
        std::string obj = in_.substr(0, **end);
        in_.erase(0, **end);
        scanner_.reset();
        return obj;
      }
      if (in_.size() > (1u << 20)) {
        return std::unexpected(unavailable(name_ + ": an answer over 1 MiB"));
      }
      char buf[4096];
      if (ssl_) {
        std::size_t n = 0;
        int rc = SSL_read_ex(ssl_, buf, sizeof buf, &n);
        if (rc == 1) {
          in_.append(buf, n);
          continue;
        }
        if (SSL_get_error(ssl_, rc) == SSL_ERROR_ZERO_RETURN) {
          return std::unexpected(
              unavailable(name_ + ": the server closed the connection before the " + what));
        }
        if (auto st = wait_ssl(rc, d, what); !st) return std::unexpected(st.error());
        continue;
      }
      ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
      if (n > 0) {
        in_.append(buf, static_cast<std::size_t>(n));
        continue;
      }
      if (n == 0) {
        return std::unexpected(
            unavailable(name_ + ": the server closed the connection before the " + what));
      }
      if (errno != EAGAIN && errno != EINTR) {
        auto e = io_error(what);
        return std::unexpected(e.error());
      }
      if (!wait(POLLIN, d)) {
        return std::unexpected(unavailable(name_ + ": no " + std::string(what) + " in time"));
      }
    }
  }

  // An idle kept-alive connection the server has not closed.
  bool healthy() const {
    pollfd p{fd_, POLLIN, 0};
    return ::poll(&p, 1, 0) == 0;  // any readable state of an idle one means EOF or junk
  }

 private:
  bool wait(short events, Deadline d) {
    pollfd p{fd_, events, 0};
    for (;;) {
      int ms = ms_left(d);
      if (ms == 0) return false;
      int rc = ::poll(&p, 1, ms);
      if (rc > 0) return true;
      if (rc < 0 && errno != EINTR) return false;
    }
  }

  Status wait_ssl(int rc, Deadline d, const std::string& what) {
    int e = SSL_get_error(ssl_, rc);
    if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
      if (!wait(e == SSL_ERROR_WANT_READ ? POLLIN : POLLOUT, d)) {
        return std::unexpected(unavailable(name_ + ": " + what + " timed out"));
      }
      return {};
    }
    return std::unexpected(unavailable(name_ + ": " + what + ": " + tls::error_text()));
  }

  Status io_error(const std::string& what) const {
    return std::unexpected(unavailable(name_ + ": " + what + ": " + std::strerror(errno)));
  }

  int fd_;
  std::string name_;
  SSL* ssl_ = nullptr;
  std::string in_;
  MsgpackScanner scanner_;
};

Result<std::unique_ptr<Conn>> tcp_connect(const std::string& host, int port,
                                          const std::string& name, Deadline d) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* res = nullptr;
  std::string service = std::to_string(port);
  if (int rc = ::getaddrinfo(host.c_str(), service.c_str(), &hints, &res); rc != 0) {
    return std::unexpected(unavailable(name + ": cannot resolve: " + gai_strerror(rc)));
  }
  std::string why = "no address";
  for (addrinfo* a = res; a; a = a->ai_next) {
    int fd = ::socket(a->ai_family, a->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) continue;
    int rc = ::connect(fd, a->ai_addr, a->ai_addrlen);
    if (rc != 0 && errno == EINPROGRESS) {
      pollfd p{fd, POLLOUT, 0};
      rc = ::poll(&p, 1, ms_left(d)) == 1 ? 0 : -1;
      int err = rc == 0 ? 0 : ETIMEDOUT;
      socklen_t len = sizeof err;
      if (rc == 0) ::getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len);
      errno = err;
      rc = err == 0 ? 0 : -1;
    }
    if (rc == 0) {
      int one = 1;
      ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
      ::freeaddrinfo(res);
      return std::make_unique<Conn>(fd, name);
    }
    why = std::strerror(errno);
    ::close(fd);
  }
  ::freeaddrinfo(res);
  return std::unexpected(unavailable(name + ": connect: " + why));
}

struct Server {
  std::string host, name;
  int port = 24224;
  std::int64_t weight = 60;
  bool standby = false;
  std::optional<forward::Security> security;

  // Guarded by ForwardOutput::mu_.
  bool up = true;
  Clock::time_point failed_at{};
  std::int64_t current = 0;  // smooth weighted round robin
  std::vector<std::pair<std::unique_ptr<Conn>, Clock::time_point>> idle;

  std::atomic<std::int64_t>* g_up = nullptr;
  std::atomic<std::uint64_t>* c_failures = nullptr;
};

// One message of a chunk: the entries of a run of units with one tag.
struct Message {
  std::string tag;
  std::string packed;  // [tag, bin(entries), option]
  std::size_t payload_at = 0;
  std::uint64_t count = 0;
  std::string chunk_id;
};

class ForwardOutput final : public Output {
 public:
  ForwardOutput(const config::Section& s, Metrics& m)
      : id_(s.id()),
        c_unacked_(m.counter("agentd_output_forward_unacked_records_total",
                             "Events sent whose ack never came; sent again, so the receiver may "
                             "hold them twice (an upper bound of duplicates).",
                             {{"plugin_id", s.id()}})),
        c_acked_(m.counter("agentd_output_forward_acked_chunks_total",
                           "Messages the server acknowledged.", {{"plugin_id", s.id()}})) {
    require_ack_ = s.flag("require_ack_response");
    ack_timeout_ = s.number("ack_response_timeout");
    send_timeout_ = s.number("send_timeout");
    connect_timeout_ = s.is_set("connect_timeout") ? s.number("connect_timeout") : 10;
    heartbeat_ = s.str("heartbeat_type");
    heartbeat_interval_ = std::max(0.05, s.number("heartbeat_interval"));
    recover_wait_ = s.number("recover_wait");
    gzip_ = s.str("compress") == "gzip";
    keepalive_ = s.flag("keepalive");
    keepalive_timeout_ = s.is_set("keepalive_timeout") ? s.number("keepalive_timeout") : 60;
    verify_at_start_ = s.flag("verify_connection_at_startup");
    const config::Section* sec = s.child("security");
    for (const config::Section* sv : s.children("server")) {
      auto srv = std::make_unique<Server>();
      srv->host = sv->str("host");
      srv->port = static_cast<int>(sv->integer("port"));
      srv->name =
          sv->is_set("name")
              ? sv->str("name")
              : (srv->host.find(':') != std::string::npos ? "[" + srv->host + "]" : srv->host) +
                    ":" + std::to_string(srv->port);
      srv->weight = std::max<std::int64_t>(0, sv->integer("weight"));
      srv->standby = sv->flag("standby");
      if (sec) {
        srv->security = forward::Security{sec->str("self_hostname"), sv->is_set("shared_key")
                                                                         ? sv->str("shared_key")
                                                                         : sec->str("shared_key")};
      }
      Labels l{{"plugin_id", id_}, {"server", srv->name}};
      srv->g_up = &m.gauge("agentd_output_forward_server_up",
                           "1 while the server is taken as up, 0 while it is down.", l);
      srv->c_failures = &m.counter("agentd_output_forward_server_failures_total",
                                   "Connects, handshakes, sends or acks that failed.", l);
      srv->g_up->store(1);
      servers_.push_back(std::move(srv));
    }
  }

  ~ForwardOutput() override {
    {
      std::lock_guard lock(mu_);
      stopping_ = true;
    }
    cv_.notify_all();
    if (heartbeat_thread_.joinable()) heartbeat_thread_.join();
  }

  Status init_tls(const config::Section& s) {
    if (s.str("transport") != "tls") return {};
    verify_host_ = s.flag("tls_verify_hostname") && !s.flag("tls_insecure_mode");
    ctx_.reset(SSL_CTX_new(TLS_client_method()));
    if (!ctx_) return fail(s, "cannot create a TLS context: " + tls::error_text());
    SSL_CTX_set_min_proto_version(ctx_.get(), TLS1_2_VERSION);
    if (s.flag("tls_insecure_mode")) {
      log::warn("output " + id_ +
                ": tls_insecure_mode: the servers' certificates are not verified");
      SSL_CTX_set_verify(ctx_.get(), SSL_VERIFY_NONE, nullptr);
    } else {
      SSL_CTX_set_verify(ctx_.get(), SSL_VERIFY_PEER, nullptr);
      auto cas = s.array("tls_cert_path");
      if (cas.empty()) {
        SSL_CTX_set_default_verify_paths(ctx_.get());
      }
      for (const auto& ca : cas) {
        if (SSL_CTX_load_verify_locations(ctx_.get(), ca.c_str(), nullptr) != 1) {
          return fail(s, "tls_cert_path '" + ca + "': " + tls::error_text());
        }
      }
    }
    if (s.is_set("tls_client_cert_path")) {
      std::string cert = s.str("tls_client_cert_path");
      if (auto st = tls::load_cert_and_key(
              ctx_.get(), cert,
              s.is_set("tls_client_private_key_path") ? s.str("tls_client_private_key_path") : cert,
              s.str("tls_client_private_key_passphrase"));
          !st) {
        return fail(s, st.error().message);
      }
    }
    return {};
  }

  Status start() override {
    if (verify_at_start_) {
      for (auto& s : servers_) {
        auto c = open(*s);
        if (!c) return std::unexpected(c.error());
      }
    }
    if (heartbeat_ == "transport" || heartbeat_ == "tcp") {
      heartbeat_thread_ = std::thread([this] { heartbeat_loop(); });
    }
    return {};
  }

  Status write(const Chunk& chunk) override {
    // Messages are packed straight from the chunk's units into buffers this
    // flush thread keeps (no page faults of fresh multi-MiB strings per chunk).
    thread_local std::vector<Message> scratch;
    std::size_t used = 0;
    auto st = chunk.read([&](std::string_view tag, std::string_view entries) -> Status {
      if (used == 0 || scratch[used - 1].tag != tag) {
        if (used == scratch.size()) scratch.emplace_back();
        Message& m = scratch[used++];
        m.tag = tag;
        m.count = 0;
        m.packed.clear();
        m.packed.push_back(static_cast<char>(0x93));
        RecordWriter::pack_str(m.packed, tag);
        m.packed.push_back(static_cast<char>(0xc6));  // bin 32; the length is set below
        m.packed.append(4, '\0');
        m.payload_at = m.packed.size();
      }
      scratch[used - 1].packed.append(entries);
      return {};
    });
    if (!st) return st;
    std::vector<Message*> msgs;
    for (std::size_t i = 0; i < used; ++i) {
      Message& m = scratch[i];
      std::string_view payload = std::string_view(m.packed).substr(m.payload_at);
      if (used == 1) {
        m.count = chunk.records();
      } else if (auto n = for_each_entry(payload, [&](EventTime, std::string_view) { ++m.count; });
                 !n) {
        return n;
      }
      if (gzip_) {
        std::string z = forward::gzip(payload);
        m.packed.resize(m.payload_at);
        m.packed += z;
      }
      auto len = static_cast<std::uint32_t>(m.packed.size() - m.payload_at);
      for (int b = 0; b < 4; ++b) {
        m.packed[m.payload_at - 4 + static_cast<std::size_t>(b)] =
            static_cast<char>(len >> (24 - 8 * b));
      }
      m.chunk_id = used == 1 ? chunk.id() : chunk.id() + "." + std::to_string(i);
      pack_option(m);
      msgs.push_back(&m);
    }
    struct Trim {  // a huge chunk's buffers are not kept
      std::size_t n;
      ~Trim() {
        for (std::size_t i = 0; i < n; ++i) {
          if (scratch[i].packed.capacity() > (32u << 20)) std::string().swap(scratch[i].packed);
        }
      }
    } trim{used};
    std::string last;
    for (std::size_t attempt = 0; attempt < servers_.size(); ++attempt) {
      Server* s = pick();
      if (!s) break;
      auto r = deliver(*s, msgs);
      if (r) return {};
      mark_down(*s, r.error().message);
      last = r.error().message;
    }
    std::string what = "output " + id_ + ": chunk " + chunk.id() + " (" +
                       std::to_string(chunk.records()) + " events) not delivered: ";
    return make_error(ErrorCode::kUnavailable,
                      what + (last.empty() ? "no server is up (" + down_list() + ")" : last));
  }

 private:
  static std::unexpected<Error> fail(const config::Section& s, const std::string& what) {
    return make_error(ErrorCode::kInvalidArgument, s.where().str() + ": " + what);
  }

  // The option map after the entries: size, chunk (with acks), compressed.
  void pack_option(Message& m) const {
    std::string& out = m.packed;
    RecordWriter::pack_map_header(out, (require_ack_ ? 1 : 0) + (gzip_ ? 1 : 0) + 1);
    RecordWriter::pack_str(out, "size");
    RecordWriter::pack_int(out, static_cast<std::int64_t>(m.count));
    if (require_ack_) {
      RecordWriter::pack_str(out, "chunk");
      RecordWriter::pack_str(out, m.chunk_id);
    }
    if (gzip_) {
      RecordWriter::pack_str(out, "compressed");
      RecordWriter::pack_str(out, "gzip");
    }
  }

  // A new connection to `s`, through TLS and the shared-key handshake.
  Result<std::unique_ptr<Conn>> open(Server& s) {
    Deadline d = after(connect_timeout_);
    auto c = tcp_connect(s.host, s.port, s.name, d);
    if (!c) return c;
    if (ctx_) {
      if (auto st = (*c)->start_tls(ctx_.get(), s.host, verify_host_, d); !st) {
        return std::unexpected(st.error());
      }
    }
    if (s.security) {
      auto helo = (*c)->read_object(d, "HELO");
      if (!helo) return std::unexpected(helo.error());
      auto ping = forward::ping(*helo, *s.security);
      if (!ping) return std::unexpected(unavailable(s.name + ": " + ping.error().message));
      if (auto st = (*c)->send_all(ping->packed, d); !st) return std::unexpected(st.error());
      auto pong = (*c)->read_object(d, "PONG");
      if (!pong) return std::unexpected(pong.error());
      if (auto st = forward::check_pong(*pong, *ping, *s.security); !st) {
        return std::unexpected(unavailable(s.name + ": " + st.error().message));
      }
    }
    return c;
  }

  Status deliver(Server& s, const std::vector<Message*>& msgs) {
    std::unique_ptr<Conn> c = take_idle(s);
    bool reused = c != nullptr;
    auto r = deliver_on(s, c, msgs);
    if (!r && reused) {
      c.reset();  // a kept-alive connection the server had closed: once more on a new one
      r = deliver_on(s, c, msgs);
    }
    if (r && keepalive_ && c) {
      std::lock_guard lock(mu_);
      s.idle.emplace_back(std::move(c), Clock::now());
    }
    return r;
  }

  Status deliver_on(Server& s, std::unique_ptr<Conn>& c, const std::vector<Message*>& msgs) {
    if (!c) {
      auto o = open(s);
      if (!o) return std::unexpected(o.error());
      c = std::move(*o);
    }
    std::uint64_t sent_records = 0;
    for (const Message* m : msgs) {
      if (auto st = c->send_all(m->packed, after(send_timeout_)); !st) {
        c.reset();
        if (require_ack_) c_unacked_ += sent_records;
        return st;
      }
      sent_records += m->count;
    }
    if (!require_ack_) return {};
    Deadline d = after(ack_timeout_);
    for (const Message* m : msgs) {
      const std::string& want = m->chunk_id;
      auto ack = c->read_object(d, "ack");
      std::optional<std::string_view> got = ack ? forward::map_str(*ack, "ack") : std::nullopt;
      if (!ack || !got || *got != want) {
        c.reset();
        c_unacked_ += sent_records;
        if (!ack) return std::unexpected(ack.error());
        return make_error(ErrorCode::kUnavailable,
                          s.name + ": an answer that is not the ack of chunk " + want);
      }
      sent_records -= m->count;
      ++c_acked_;
    }
    return {};
  }

  std::unique_ptr<Conn> take_idle(Server& s) {
    std::lock_guard lock(mu_);
    auto horizon = Clock::now() - std::chrono::duration_cast<Clock::duration>(
                                      std::chrono::duration<double>(keepalive_timeout_));
    while (!s.idle.empty()) {
      auto [c, since] = std::move(s.idle.back());
      s.idle.pop_back();
      if (since >= horizon && c->healthy()) return std::move(c);
    }
    return nullptr;
  }

  // The next server by smooth weighted round robin among the regular servers
  // that are up; the standby servers the same way while none is.
  Server* pick() {
    std::lock_guard lock(mu_);
    auto now = Clock::now();
    if (heartbeat_ == "none") {
      for (auto& s : servers_) {
        if (!s->up && now - s->failed_at >= std::chrono::duration<double>(recover_wait_)) {
          set_up(*s, true, "recover_wait passed");
        }
      }
    }
    for (bool standby : {false, true}) {
      Server* best = nullptr;
      std::int64_t total = 0;
      for (auto& s : servers_) {
        if (!s->up || s->standby != standby || s->weight == 0) continue;
        s->current += s->weight;
        total += s->weight;
        if (!best || s->current > best->current) best = s.get();
      }
      if (best) {
        best->current -= total;
        return best;
      }
    }
    return nullptr;
  }

  void mark_down(Server& s, const std::string& why) {
    ++*s.c_failures;
    std::lock_guard lock(mu_);
    s.failed_at = Clock::now();
    s.idle.clear();
    if (s.up) set_up(s, false, why);
  }

  // Under mu_.
  void set_up(Server& s, bool up, const std::string& why) {
    s.up = up;
    s.g_up->store(up ? 1 : 0);
    if (up) {
      log::info("output " + id_ + ": server " + s.name + " is up (" + why + ")");
    } else {
      log::warn("output " + id_ + ": server " + s.name + " is down: " + why);
    }
  }

  std::string down_list() {
    std::lock_guard lock(mu_);
    std::string out;
    for (auto& s : servers_) {
      if (!s->up) out += (out.empty() ? "" : ", ") + s->name;
    }
    return out.empty() ? "none configured" : out + " down";
  }

  // transport/tcp heartbeats: a TCP connection to every server each interval.
  void heartbeat_loop() {
    std::unique_lock lock(mu_);
    while (!stopping_) {
      cv_.wait_for(lock, std::chrono::duration<double>(heartbeat_interval_));
      if (stopping_) break;
      for (auto& s : servers_) {
        lock.unlock();
        auto c = tcp_connect(s->host, s->port, s->name,
                             after(std::min(heartbeat_interval_, connect_timeout_)));
        lock.lock();
        if (stopping_) break;
        if (c && !s->up) set_up(*s, true, "a heartbeat reached it");
        if (!c && s->up) {
          ++*s->c_failures;
          s->failed_at = Clock::now();
          s->idle.clear();
          set_up(*s, false, "heartbeat: " + c.error().message);
        }
      }
    }
  }

  struct CtxFree {
    void operator()(SSL_CTX* c) const { SSL_CTX_free(c); }
  };

  std::string id_;
  std::vector<std::unique_ptr<Server>> servers_;
  bool require_ack_ = false, gzip_ = false, keepalive_ = false, verify_at_start_ = false;
  bool verify_host_ = true;
  double ack_timeout_ = 190, send_timeout_ = 60, connect_timeout_ = 10;
  double heartbeat_interval_ = 1, recover_wait_ = 10, keepalive_timeout_ = 60;
  std::string heartbeat_;
  std::unique_ptr<SSL_CTX, CtxFree> ctx_;

  std::mutex mu_;
  std::condition_variable cv_;
  bool stopping_ = false;
  std::thread heartbeat_thread_;

  std::atomic<std::uint64_t>& c_unacked_;
  std::atomic<std::uint64_t>& c_acked_;
};

}  // namespace

Result<std::unique_ptr<Output>> make_forward_output(const config::Section& section,
                                                    Metrics& metrics) {
  if (section.str("heartbeat_type") == "udp") {
    return make_error(
        ErrorCode::kInvalidArgument,
        section.where().str() + ": heartbeat_type udp is not supported (use transport or none)");
  }
  for (const config::Section* sv : section.children("server")) {
    if (sv->is_set("username") || sv->is_set("password")) {
      return make_error(
          ErrorCode::kInvalidArgument,
          sv->where().str() + ": <server> username/password (user_auth) is not supported");
    }
    if (sv->integer("port") < 1 || sv->integer("port") > 65535) {
      return make_error(ErrorCode::kInvalidArgument,
                        sv->where().str() + ": <server> port must be 1 to 65535");
    }
  }
  auto out = std::make_unique<ForwardOutput>(section, metrics);
  if (auto st = out->init_tls(section); !st) return std::unexpected(st.error());
  return out;
}

}  // namespace logctl::agentd
