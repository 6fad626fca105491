#include "agentd/supervisor/channel.h"

#include <poll.h>
#include <unistd.h>

#include <algorithm>

#include "agentd/platform/fd_passing.h"

namespace logctl::agentd {

using handover::Message;
using handover::MessageType;

namespace {

std::unexpected<Error> unexpected_message(const Message& m, const std::string& want) {
  return make_error(ErrorCode::kInvalidArgument, "handover: expected " + want + ", got '" +
                                                     handover::message_type_name(m.type) + "'");
}

// Waits until `fd` is readable or the deadline passes.
Status wait_readable(int fd, Deadline deadline) {
  for (;;) {
    int timeout = -1;
    if (deadline) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          *deadline - std::chrono::steady_clock::now());
      timeout = static_cast<int>(std::max<std::int64_t>(0, left.count()));
    }
    pollfd p{fd, POLLIN, 0};
    int n = ::poll(&p, 1, timeout);
    if (n > 0) return {};
    if (n == 0) return make_error(ErrorCode::kUnavailable, "handover: timed out");
    if (errno != EINTR) return make_error(ErrorCode::kIo, "handover: poll failed");
  }
}

}  // namespace

Status Channel::send(const Message& m, const std::vector<int>& fds) const {
  return fdpass::send(fd_, handover::encode(m), fds);
}

Result<Message> Channel::receive(std::vector<int>* fds, Deadline deadline) const {
  if (deadline) {
    if (auto s = wait_readable(fd_, deadline); !s) return std::unexpected(s.error());
  }
  auto r = fdpass::receive(fd_, handover::kMaxMessageBytes, 2);
  if (!r) return std::unexpected(r.error());
  auto m = handover::decode(r->payload);
  if (!m || !fds) {
    for (int fd : r->fds) ::close(fd);
  } else {
    *fds = std::move(r->fds);
  }
  return m;
}

Result<int> WorkerChannel::hello(std::int64_t pid, std::int64_t generation, int min_version,
                                 int max_version) {
  Message m(MessageType::kHello);
  m.min_version = min_version;
  m.max_version = max_version;
  m.pid = pid;
  m.generation = generation;
  if (auto s = send(m); !s) return std::unexpected(s.error());
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
  if (auto s = send(m); !s) return std::unexpected(s.error());
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

Status WorkerChannel::ready(int admin_port) {
  Message m(MessageType::kReady);
  m.admin_port = admin_port;
  return send(m);
}

Status WorkerChannel::failed(const std::string& reason) {
  Message m(MessageType::kFailed);
  m.reason = reason;
  return send(m);
}

Result<Message> SupervisorChannel::await(std::initializer_list<MessageType> types,
                                         Deadline deadline, std::vector<int>* fds) {
  for (;;) {
    auto m = receive(fds, deadline);
    if (!m) return m;
    if (std::find(types.begin(), types.end(), m->type) != types.end() ||
        m->type == MessageType::kFailed) {
      return m;
    }
    if (fds) {
      for (int fd : *fds) ::close(fd);
      fds->clear();
    }
    if (version_ == 0 && m->type != MessageType::kHello) return unexpected_message(*m, "hello");
    if (m->type == MessageType::kHello) {
      worker_pid_ = m->pid;
      auto v = handover::negotiate(m->min_version, m->max_version);
      if (!v) {
        Message no(MessageType::kRefused);
        no.reason = "worker speaks protocol " + std::to_string(m->min_version) + ".." +
                    std::to_string(m->max_version) + ", supervisor " +
                    std::to_string(handover::kMinSupportedProtocolVersion) + ".." +
                    std::to_string(handover::kHandoverProtocolVersion);
        (void)send(no);
        return make_error(ErrorCode::kInvalidArgument, "refused: " + no.reason);
      }
      Message yes(MessageType::kWelcome);
      yes.version = version_ = *v;
      if (auto s = send(yes); !s) return std::unexpected(s.error());
    } else if (m->type == MessageType::kListen) {
      Message out(MessageType::kListener);
      out.key = m->key;
      auto fd = sockets_.acquire(m->key);
      if (!fd) out.error = fd.error().message;
      if (auto k = SocketManager::canonical(m->key); fd && k) keys_.insert(*k);
      auto s = fd ? send(out, {*fd}) : send(out);
      if (fd) ::close(*fd);
      if (!s) return std::unexpected(s.error());
    } else {
      std::string want;
      for (auto t : types)
        want += std::string(want.empty() ? "" : " or ") + handover::message_type_name(t);
      return unexpected_message(*m, want);
    }
  }
}

}  // namespace logctl::agentd
