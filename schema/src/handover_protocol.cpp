#include "logctl/schema/handover_protocol.h"

#include <algorithm>
#include <cassert>
#include <nlohmann/json.hpp>
#include <string_view>
#include <type_traits>

namespace logctl::handover {
namespace {

using nlohmann::json;

// Wire name and required fields of each type; the table is the protocol.
struct Spec {
  MessageType type;
  const char* name;
  std::vector<std::string_view> required;
};

const std::vector<Spec>& specs() {
  static const std::vector<Spec> table = {
      {MessageType::kHello, "hello", {"min_version", "max_version", "pid", "generation"}},
      {MessageType::kWelcome, "welcome", {"version"}},
      {MessageType::kRefused, "refused", {"reason"}},
      {MessageType::kPrepared, "prepared", {}},
      {MessageType::kStart, "start", {"hold"}},
      {MessageType::kListen, "listen", {"key"}},
      {MessageType::kListener, "listener", {"key"}},
      {MessageType::kReady, "ready", {}},
      {MessageType::kFailed, "failed", {"reason"}},
      {MessageType::kActivate, "activate", {}},
      {MessageType::kActive, "active", {}},
      {MessageType::kSourceOnly, "source_only", {"spool"}},
      {MessageType::kSourceOnlyDone, "source_only_done", {"count"}},
      {MessageType::kSwitchOver, "switch_over", {}},
      {MessageType::kConnection, "connection", {"key", "pending"}},
      {MessageType::kSwitched, "switched", {"spool", "count"}},
      {MessageType::kResume, "resume", {}},
      {MessageType::kResumed, "resumed", {}},
      {MessageType::kIngest, "ingest", {"spool"}},
      {MessageType::kIngested, "ingested", {"count"}},
  };
  return table;
}

const Spec& spec_of(MessageType t) {
  for (const auto& s : specs()) {
    if (s.type == t) return s;
  }
  assert(false && "message type without a wire spec");
  return specs().front();
}

std::unexpected<Error> bad(const std::string& why) {
  return make_error(ErrorCode::kInvalidArgument, "handover message: " + why);
}

// One accessor per field, so encode and decode cannot disagree on a name.
template <typename Fn>
void for_each_field(Message& m, Fn&& fn) {
  fn("min_version", m.min_version);
  fn("max_version", m.max_version);
  fn("version", m.version);
  fn("admin_port", m.admin_port);
  fn("pid", m.pid);
  fn("generation", m.generation);
  fn("count", m.count);
  fn("pending", m.pending);
  fn("at_ns", m.at_ns);
  fn("hold", m.hold);
  fn("key", m.key);
  fn("reason", m.reason);
  fn("error", m.error);
  fn("spool", m.spool);
}

bool required(const Spec& s, std::string_view field) {
  return std::find(s.required.begin(), s.required.end(), field) != s.required.end();
}

template <typename T>
bool is_set(const T& v) {
  if constexpr (std::is_same_v<T, std::string>) {
    return !v.empty();
  } else {
    return v != T{};
  }
}

template <typename T>
bool read_field(const json& j, T& out) {
  if constexpr (std::is_same_v<T, bool>) {
    if (!j.is_boolean()) return false;
  } else if constexpr (std::is_same_v<T, std::string>) {
    if (!j.is_string()) return false;
  } else {
    if (!j.is_number_integer()) return false;
  }
  out = j.get<T>();
  return true;
}

}  // namespace

const char* message_type_name(MessageType t) {
  return spec_of(t).name;
}

std::string encode(const Message& in) {
  Message m = in;
  const Spec& spec = spec_of(m.type);
  json j = {{"type", spec.name}};
  for_each_field(m, [&](const char* name, auto& v) {
    if (is_set(v) || required(spec, name)) j[name] = v;
  });
  return j.dump();
}

Result<Message> decode(const std::string& packet) {
  if (packet.size() > kMaxMessageBytes) return bad("too large");
  auto j = json::parse(packet, nullptr, false);
  if (j.is_discarded() || !j.is_object()) return bad("not a JSON object");
  auto type = j.find("type");
  if (type == j.end() || !type->is_string()) return bad("no type");
  const Spec* spec = nullptr;
  for (const auto& s : specs()) {
    if (*type == s.name) spec = &s;
  }
  if (!spec) return bad("unknown type '" + type->get<std::string>() + "'");
  Message m{spec->type};
  std::string error;
  // Unknown fields are ignored: a newer peer may add optional ones.
  for_each_field(m, [&](const char* name, auto& v) {
    auto it = j.find(name);
    if (it == j.end()) {
      if (required(*spec, name) && error.empty()) {
        error = std::string(spec->name) + " needs " + name;
      }
    } else if (!read_field(*it, v) && error.empty()) {
      error = std::string(spec->name) + "." + name + " has the wrong type";
    }
  });
  if (!error.empty()) return bad(error);
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
  // Addresses and names only: no brackets, spaces or bytes outside ASCII
  // (found by fuzz_handover: "[[x]...]" keys did not round-trip).
  if (k.host.empty() ||
      k.host.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                               "0123456789.:-_%") != std::string::npos) {
    return bad("listener key '" + key + "': bad host");
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
