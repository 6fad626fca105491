#include "logctl/schema/handover_protocol.h"

#include <nlohmann/json.hpp>

namespace logctl::handover {
namespace {

constexpr MessageType kAll[] = {MessageType::kHello,  MessageType::kWelcome,  MessageType::kRefused,
                                MessageType::kListen, MessageType::kListener, MessageType::kReady,
                                MessageType::kFailed};

std::unexpected<Error> bad(const std::string& why) {
  return make_error(ErrorCode::kInvalidArgument, "handover message: " + why);
}

}  // namespace

const char* message_type_name(MessageType t) {
  switch (t) {
    case MessageType::kHello:
      return "hello";
    case MessageType::kWelcome:
      return "welcome";
    case MessageType::kRefused:
      return "refused";
    case MessageType::kListen:
      return "listen";
    case MessageType::kListener:
      return "listener";
    case MessageType::kReady:
      return "ready";
    case MessageType::kFailed:
      return "failed";
  }
  return "?";
}

std::string encode(const Message& m) {
  nlohmann::json j = {{"type", message_type_name(m.type)}};
  switch (m.type) {
    case MessageType::kHello:
      j["min_version"] = m.min_version;
      j["max_version"] = m.max_version;
      j["pid"] = m.pid;
      j["generation"] = m.generation;
      break;
    case MessageType::kWelcome:
      j["version"] = m.version;
      break;
    case MessageType::kRefused:
    case MessageType::kFailed:
      j["reason"] = m.reason;
      break;
    case MessageType::kListen:
      j["key"] = m.key;
      break;
    case MessageType::kListener:
      j["key"] = m.key;
      if (!m.error.empty()) j["error"] = m.error;
      break;
    case MessageType::kReady:
      break;
  }
  return j.dump();
}

Result<Message> decode(const std::string& packet) {
  if (packet.size() > kMaxMessageBytes) return bad("too large");
  auto j = nlohmann::json::parse(packet, nullptr, false);
  if (j.is_discarded() || !j.is_object()) return bad("not a JSON object");
  auto type = j.find("type");
  if (type == j.end() || !type->is_string()) return bad("no type");
  std::optional<MessageType> t;
  for (auto c : kAll) {
    if (*type == message_type_name(c)) t = c;
  }
  if (!t) return bad("unknown type '" + type->get<std::string>() + "'");
  Message m{*t};
  auto num = [&](const char* k) -> Result<std::int64_t> {
    auto it = j.find(k);
    if (it == j.end() || !it->is_number_integer()) return bad(std::string("missing ") + k);
    return it->get<std::int64_t>();
  };
  auto str = [&](const char* k, bool required) -> Result<std::string> {
    auto it = j.find(k);
    if (it == j.end()) return required ? Result<std::string>(bad(std::string("missing ") + k)) : "";
    if (!it->is_string()) return bad(std::string(k) + " is not a string");
    return it->get<std::string>();
  };
  switch (*t) {
    case MessageType::kHello: {
      auto lo = num("min_version"), hi = num("max_version"), pid = num("pid"),
           gen = num("generation");
      if (!lo || !hi || !pid || !gen)
        return bad("hello needs min_version, max_version, pid, generation");
      m.min_version = static_cast<int>(*lo);
      m.max_version = static_cast<int>(*hi);
      m.pid = *pid;
      m.generation = *gen;
      break;
    }
    case MessageType::kWelcome: {
      auto v = num("version");
      if (!v) return std::unexpected(v.error());
      m.version = static_cast<int>(*v);
      break;
    }
    case MessageType::kRefused:
    case MessageType::kFailed: {
      auto r = str("reason", true);
      if (!r) return std::unexpected(r.error());
      m.reason = *r;
      break;
    }
    case MessageType::kListen:
    case MessageType::kListener: {
      auto k = str("key", true);
      if (!k) return std::unexpected(k.error());
      m.key = *k;
      auto e = str("error", false);
      if (!e) return std::unexpected(e.error());
      m.error = *e;
      break;
    }
    case MessageType::kReady:
      break;
  }
  return m;
}

std::optional<int> negotiate(int worker_min, int worker_max) {
  int hi = std::min(worker_max, kHandoverProtocolVersion);
  int lo = std::max(worker_min, kMinSupportedProtocolVersion);
  if (hi < lo) return std::nullopt;
  return hi;
}

std::string ListenerKey::str() const {
  std::string h = host.find(':') != std::string::npos ? "[" + host + "]" : host;
  return std::string(proto == Proto::kTcp ? "tcp://" : "udp://") + h + ":" + std::to_string(port);
}

Result<ListenerKey> parse_listener_key(const std::string& key) {
  ListenerKey k;
  std::string rest;
  if (key.rfind("tcp://", 0) == 0) {
    k.proto = ListenerKey::Proto::kTcp;
  } else if (key.rfind("udp://", 0) == 0) {
    k.proto = ListenerKey::Proto::kUdp;
  } else {
    return bad("listener key '" + key + "' must start with tcp:// or udp://");
  }
  rest = key.substr(6);
  auto colon = rest.rfind(':');
  if (colon == std::string::npos || colon == 0)
    return bad("listener key '" + key + "' needs host:port");
  k.host = rest.substr(0, colon);
  if (k.host.front() == '[') {
    if (k.host.back() != ']') return bad("listener key '" + key + "': unbalanced [");
    k.host = k.host.substr(1, k.host.size() - 2);
  }
  std::string port = rest.substr(colon + 1);
  if (port.empty() || port.size() > 5 ||
      port.find_first_not_of("0123456789") != std::string::npos) {
    return bad("listener key '" + key + "': bad port");
  }
  k.port = std::stoi(port);
  if (k.port > 65535) return bad("listener key '" + key + "': bad port");
  return k;
}

}  // namespace logctl::handover
