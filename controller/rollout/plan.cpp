#include "controller/rollout/plan.h"

#include <algorithm>
#include <charconv>
#include <set>

namespace logctl::rollout {
namespace {

using nlohmann::json;

constexpr int kMaxCount = 1'000'000;

Result<int> count_field(const json& j, const char* key, int min) {
  const auto& v = j.at(key);
  if (!v.is_number_integer() || v.get<std::int64_t>() < min || v.get<std::int64_t>() > kMaxCount) {
    return make_error(ErrorCode::kInvalidArgument,
                      std::string("strategy: '") + key + "' must be an integer from " +
                          std::to_string(min) + " to " + std::to_string(kMaxCount));
  }
  return static_cast<int>(v.get<std::int64_t>());
}

Result<std::chrono::milliseconds> ms_field(const json& j, const char* key) {
  const auto& v = j.at(key);
  constexpr std::int64_t kDay = 24LL * 3600 * 1000;
  if (!v.is_number_integer() || v.get<std::int64_t>() < 0 || v.get<std::int64_t>() > kDay) {
    return make_error(ErrorCode::kInvalidArgument, std::string("strategy: '") + key +
                                                       "' must be milliseconds from 0 to 86400000");
  }
  return std::chrono::milliseconds(v.get<std::int64_t>());
}

// One ramp step: "N" (nodes) or "P%" (1..100 percent of the cluster).
struct RampStep {
  int value = 0;
  bool percent = false;
};

Result<RampStep> parse_ramp_step(std::string_view s) {
  RampStep r;
  if (!s.empty() && s.back() == '%') {
    r.percent = true;
    s.remove_suffix(1);
  }
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), r.value);
  int max = r.percent ? 100 : kMaxCount;
  if (s.empty() || ec != std::errc() || end != s.data() + s.size() || r.value < 1 ||
      r.value > max) {
    return make_error(ErrorCode::kInvalidArgument,
                      "strategy: ramp step '" + std::string(s) + (r.percent ? "%" : "") +
                          "' is not a node count (1..) or a percentage (1%..100%)");
  }
  return r;
}

Result<std::vector<std::string>> parse_ramp(const json& v) {
  std::vector<std::string> out;
  if (v.is_string()) {
    std::string s = v.get<std::string>();
    std::size_t start = 0;
    while (start <= s.size()) {
      auto comma = s.find(',', start);
      if (comma == std::string::npos) comma = s.size();
      out.push_back(s.substr(start, comma - start));
      start = comma + 1;
    }
  } else if (v.is_array()) {
    for (const auto& e : v) {
      if (!e.is_string())
        return make_error(ErrorCode::kInvalidArgument, "strategy: ramp steps are strings");
      out.push_back(e.get<std::string>());
    }
  } else {
    return make_error(ErrorCode::kInvalidArgument,
                      "strategy: 'ramp' must be a string like \"1,10%,100%\" or an array");
  }
  if (out.empty() || out.size() > 100) {
    return make_error(ErrorCode::kInvalidArgument, "strategy: a ramp has 1 to 100 steps");
  }
  for (const auto& step : out) {
    if (auto r = parse_ramp_step(step); !r) return std::unexpected(r.error());
  }
  return out;
}

}  // namespace

Result<Strategy> parse_strategy(const json& j) {
  Strategy s;
  if (j.is_null()) {
    s.batch_size = 1;
    return s;
  }
  if (!j.is_object()) return make_error(ErrorCode::kInvalidArgument, "strategy: not an object");
  static const std::set<std::string> known = {"batch_size",
                                              "max_unavailable",
                                              "ramp",
                                              "canary",
                                              "order_label",
                                              "max_failed",
                                              "min_healthy_time_ms",
                                              "healthy_deadline_ms",
                                              "max_new_drops",
                                              "max_new_parse_errors",
                                              "max_backlog_growth_bytes",
                                              "skip_unreachable"};
  for (const auto& [k, v] : j.items()) {
    if (!known.contains(k)) {
      return make_error(ErrorCode::kInvalidArgument, "strategy: unknown field '" + k + "'");
    }
  }
  int ways = 0;
  if (j.contains("batch_size")) {
    auto v = count_field(j, "batch_size", 1);
    if (!v) return std::unexpected(v.error());
    s.batch_size = *v;
    ++ways;
  }
  if (j.contains("max_unavailable")) {
    auto v = count_field(j, "max_unavailable", 1);
    if (!v) return std::unexpected(v.error());
    s.max_unavailable = *v;
    ++ways;
  }
  if (j.contains("ramp")) {
    auto v = parse_ramp(j["ramp"]);
    if (!v) return std::unexpected(v.error());
    s.ramp = std::move(*v);
    ++ways;
  }
  if (ways > 1) {
    return make_error(ErrorCode::kInvalidArgument,
                      "strategy: give one of batch_size, max_unavailable and ramp");
  }
  if (ways == 0) s.batch_size = 1;
  for (auto [key, field] :
       {std::pair{"canary", &s.canary}, std::pair{"max_failed", &s.max_failed}}) {
    if (!j.contains(key)) continue;
    auto v = count_field(j, key, 0);
    if (!v) return std::unexpected(v.error());
    *field = *v;
  }
  if (j.contains("skip_unreachable")) {
    if (!j["skip_unreachable"].is_boolean()) {
      return make_error(ErrorCode::kInvalidArgument, "strategy: 'skip_unreachable' is a boolean");
    }
    s.skip_unreachable = j["skip_unreachable"].get<bool>();
  }
  if (j.contains("order_label")) {
    const auto& v = j["order_label"];
    if (!v.is_string() || v.get<std::string>().empty() || v.get<std::string>().size() > 63) {
      return make_error(ErrorCode::kInvalidArgument,
                        "strategy: 'order_label' must be a label name of 1 to 63 characters");
    }
    s.order_label = v.get<std::string>();
  }
  for (auto [key, field] : {std::pair{"min_healthy_time_ms", &s.gate.min_healthy_time},
                            std::pair{"healthy_deadline_ms", &s.gate.healthy_deadline}}) {
    if (!j.contains(key)) continue;
    auto v = ms_field(j, key);
    if (!v) return std::unexpected(v.error());
    *field = *v;
  }
  for (auto [key, field] :
       {std::pair{"max_new_drops", &s.gate.max_new_drops},
        std::pair{"max_new_parse_errors", &s.gate.max_new_parse_errors},
        std::pair{"max_backlog_growth_bytes", &s.gate.max_backlog_growth_bytes}}) {
    if (!j.contains(key)) continue;
    const auto& v = j[key];
    if (!v.is_number_integer() || v.get<std::int64_t>() < 0) {
      return make_error(ErrorCode::kInvalidArgument,
                        std::string("strategy: '") + key + "' must be an integer >= 0");
    }
    *field = v.get<std::int64_t>();
  }
  if (s.gate.healthy_deadline < s.gate.min_healthy_time) {
    return make_error(ErrorCode::kInvalidArgument,
                      "strategy: healthy_deadline_ms is shorter than min_healthy_time_ms");
  }
  return s;
}

json to_json(const Strategy& s) {
  json j = json::object();
  if (s.batch_size) j["batch_size"] = s.batch_size;
  if (s.max_unavailable) j["max_unavailable"] = s.max_unavailable;
  if (!s.ramp.empty()) {
    std::string r;
    for (const auto& step : s.ramp) r += (r.empty() ? "" : ",") + step;
    j["ramp"] = r;
  }
  j["canary"] = s.canary;
  if (!s.order_label.empty()) j["order_label"] = s.order_label;
  j["max_failed"] = s.max_failed;
  j["skip_unreachable"] = s.skip_unreachable;
  j["min_healthy_time_ms"] = s.gate.min_healthy_time.count();
  j["healthy_deadline_ms"] = s.gate.healthy_deadline.count();
  j["max_new_drops"] = s.gate.max_new_drops;
  j["max_new_parse_errors"] = s.gate.max_new_parse_errors;
  j["max_backlog_growth_bytes"] = s.gate.max_backlog_growth_bytes;
  return j;
}

Result<std::vector<std::vector<std::string>>> plan_batches(std::vector<NodeRef> nodes,
                                                           const Strategy& s) {
  if (nodes.empty()) return make_error(ErrorCode::kInvalidArgument, "the cluster has no nodes");
  const auto& label = s.order_label;
  std::sort(nodes.begin(), nodes.end(), [&](const NodeRef& a, const NodeRef& b) {
    if (!label.empty()) {
      auto ia = a.labels.find(label), ib = b.labels.find(label);
      bool ha = ia != a.labels.end(), hb = ib != b.labels.end();
      if (ha != hb) return ha;  // labelled nodes first
      if (ha && ia->second != ib->second) return ia->second < ib->second;
    }
    return a.name < b.name;
  });
  const int total = static_cast<int>(nodes.size());
  if (s.canary > total) {
    return make_error(ErrorCode::kInvalidArgument, "strategy: canary " + std::to_string(s.canary) +
                                                       " is more than the cluster's " +
                                                       std::to_string(total) + " nodes");
  }
  // Cumulative node counts at the end of each batch.
  std::vector<int> ends;
  if (s.canary > 0) ends.push_back(s.canary);
  int done = s.canary;
  if (!s.ramp.empty()) {
    for (const auto& text : s.ramp) {
      auto step = parse_ramp_step(text);
      if (!step) return std::unexpected(step.error());
      int upto = step->percent ? (step->value * total + 99) / 100 : std::min(step->value, total);
      if (upto > done) ends.push_back(done = upto);
    }
    if (done < total) {
      return make_error(ErrorCode::kInvalidArgument,
                        "strategy: the ramp ends at " + std::to_string(done) + " of " +
                            std::to_string(total) + " nodes: end it with 100%");
    }
  } else {
    int per = s.batch_size ? s.batch_size : s.max_unavailable ? s.max_unavailable : 1;
    while (done < total) ends.push_back(done = std::min(total, done + per));
  }
  std::vector<std::vector<std::string>> batches;
  int from = 0;
  for (int end : ends) {
    std::vector<std::string> b;
    for (int i = from; i < end; ++i) b.push_back(nodes[static_cast<std::size_t>(i)].name);
    batches.push_back(std::move(b));
    from = end;
  }
  return batches;
}

}  // namespace logctl::rollout
