#include "agentd/supervisor/channel.h"

#include <unistd.h>

#include "agentd/platform/fd_passing.h"

namespace logctl::agentd {

using handover::Message;
using handover::MessageType;

namespace {

Status send(int sock, const Message& m, const std::vector<int>& fds = {}) {
  return fdpass::send(sock, handover::encode(m), fds);
}

Result<Message> receive_message(int sock, std::vector<int>* fds) {
  auto r = fdpass::receive(sock, handover::kMaxMessageBytes, 1);
  if (!r) return std::unexpected(r.error());
  auto m = handover::decode(r->payload);
  if (!m || !fds) {
    for (int fd : r->fds) ::close(fd);
  } else {
    *fds = std::move(r->fds);
  }
  return m;
}

std::unexpected<Error> unexpected_message(const Message& m, const char* want) {
  return make_error(ErrorCode::kInvalidArgument, std::string("handover: expected ") + want +
                                                     ", got '" +
                                                     handover::message_type_name(m.type) + "'");
}

}  // namespace

Result<Message> WorkerChannel::receive(std::vector<int>* fds) {
  return receive_message(fd_, fds);
}

Result<int> WorkerChannel::hello(std::int64_t pid, std::int64_t generation, int min_version,
                                 int max_version) {
  Message m(MessageType::kHello);
  m.min_version = min_version;
  m.max_version = max_version;
  m.pid = pid;
  m.generation = generation;
  if (auto s = send(fd_, m); !s) return std::unexpected(s.error());
  auto answer = receive(nullptr);
  if (!answer) return std::unexpected(answer.error());
  if (answer->type == MessageType::kRefused) {
    return make_error(ErrorCode::kInvalidArgument, "supervisor refused: " + answer->reason);
  }
  if (answer->type != MessageType::kWelcome) return unexpected_message(*answer, "welcome");
  return answer->version;
}

Result<int> WorkerChannel::listen(const std::string& key) {
  Message m(MessageType::kListen);
  m.key = key;
  if (auto s = send(fd_, m); !s) return std::unexpected(s.error());
  std::vector<int> fds;
  auto answer = receive(&fds);
  if (!answer) return std::unexpected(answer.error());
  auto close_all = [&] {
    for (int fd : fds) ::close(fd);
  };
  if (answer->type != MessageType::kListener || answer->key != key) {
    close_all();
    return unexpected_message(*answer, "listener");
  }
  if (!answer->error.empty() || fds.size() != 1) {
    close_all();
    return make_error(ErrorCode::kUnavailable,
                      "listener " + key + ": " + (answer->error.empty() ? "no fd" : answer->error));
  }
  return fds[0];
}

Status WorkerChannel::ready() {
  return send(fd_, Message(MessageType::kReady));
}

Status WorkerChannel::failed(const std::string& reason) {
  Message m(MessageType::kFailed);
  m.reason = reason;
  return send(fd_, m);
}

Status SupervisorChannel::reply(const Message& m, int fd) {
  return send(fd_, m, fd >= 0 ? std::vector<int>{fd} : std::vector<int>{});
}

Result<StartupResult> SupervisorChannel::serve_startup() {
  StartupResult result;
  result.outcome = StartupOutcome::kClosed;
  bool welcomed = false;
  for (;;) {
    auto m = receive_message(fd_, nullptr);
    if (!m) {
      if (m.error().code == ErrorCode::kUnavailable) return result;  // worker went away
      return std::unexpected(m.error());
    }
    if (!welcomed && m->type != MessageType::kHello) return unexpected_message(*m, "hello");
    switch (m->type) {
      case MessageType::kHello: {
        result.worker_pid = m->pid;
        auto v = handover::negotiate(m->min_version, m->max_version);
        if (!v) {
          Message no(MessageType::kRefused);
          no.reason = "worker speaks protocol " + std::to_string(m->min_version) + ".." +
                      std::to_string(m->max_version) + ", supervisor " +
                      std::to_string(handover::kMinSupportedProtocolVersion) + ".." +
                      std::to_string(handover::kHandoverProtocolVersion);
          (void)reply(no);
          result.outcome = StartupOutcome::kRefused;
          result.reason = no.reason;
          return result;
        }
        Message yes(MessageType::kWelcome);
        yes.version = result.version = *v;
        if (auto s = reply(yes); !s) return std::unexpected(s.error());
        welcomed = true;
        break;
      }
      case MessageType::kListen: {
        Message out(MessageType::kListener);
        out.key = m->key;
        auto fd = sockets_.acquire(m->key);
        if (!fd) out.error = fd.error().message;
        auto s = reply(out, fd ? *fd : -1);
        if (fd) ::close(*fd);
        if (!s) return std::unexpected(s.error());
        break;
      }
      case MessageType::kReady:
        result.outcome = StartupOutcome::kReady;
        return result;
      case MessageType::kFailed:
        result.outcome = StartupOutcome::kFailed;
        result.reason = m->reason;
        return result;
      default:
        return unexpected_message(*m, "listen, ready or failed");
    }
  }
}

}  // namespace logctl::agentd
