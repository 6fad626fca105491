// JSON text from outside the process (a log line, a request body), parsed
// with its nesting bounded.
//
// nlohmann's parser itself keeps its own stack, but what is done with the
// value afterwards recurses once per level: dump(), to_msgpack(), copies and
// comparisons. A value nested a few hundred thousand levels deep — half a
// megabyte of '[' — overflows the thread's stack in whichever of those comes
// first and kills the process. Bounded here, such text is refused like any
// invalid JSON, before a value is built.
// Thread safety: pure functions.
#pragma once

#include <cstddef>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

#include "logctl/schema/result.h"

namespace logctl {

// Far deeper than any record or request a real program writes (Ruby's JSON
// stops at 100), and a few hundred frames of recursion at most.
inline constexpr std::size_t kMaxJsonDepth = 512;

namespace json_bounded_detail {

template <typename Json>
class DepthLimitedSax : public nlohmann::detail::json_sax_dom_parser<Json> {
  using Base = nlohmann::detail::json_sax_dom_parser<Json>;

 public:
  DepthLimitedSax(Json& out, std::size_t max_depth) : Base(out, false), max_(max_depth) {}
  bool start_object(std::size_t n) { return enter() && Base::start_object(n); }
  bool start_array(std::size_t n) { return enter() && Base::start_array(n); }
  bool end_object() {
    --depth_;
    return Base::end_object();
  }
  bool end_array() {
    --depth_;
    return Base::end_array();
  }
  bool parse_error(std::size_t pos, const std::string& token,
                   const nlohmann::detail::exception& ex) {
    error_ = ex.what();
    return Base::parse_error(pos, token, ex);
  }
  bool too_deep() const { return too_deep_; }
  const std::string& error() const { return error_; }

 private:
  bool enter() {
    if (++depth_ <= max_) return true;
    too_deep_ = true;
    return false;
  }
  std::size_t max_;
  std::size_t depth_ = 0;
  bool too_deep_ = false;
  std::string error_;
};

}  // namespace json_bounded_detail

// The value of `text`; kInvalidArgument "not valid JSON (…)", or
// kResourceExhausted "JSON nested deeper than N levels".
template <typename Json = nlohmann::json>
Result<Json> parse_json_bounded(std::string_view text, std::size_t max_depth = kMaxJsonDepth) {
  Json j;
  json_bounded_detail::DepthLimitedSax<Json> sax(j, max_depth);
  if (Json::sax_parse(text, &sax)) return j;
  if (sax.too_deep()) {
    return make_error(ErrorCode::kResourceExhausted,
                      "JSON nested deeper than " + std::to_string(max_depth) + " levels");
  }
  return make_error(ErrorCode::kInvalidArgument, "not valid JSON (" + sax.error() + ")");
}

}  // namespace logctl
