// Fluentd's <match> tag patterns:
//   a.*      one part after "a."          a.**    "a" and anything below it
//   **       every tag                    {a,b}.c "a.c" or "b.c" (may nest)
//   a*.b     '*' inside a part matches within the part only
// A <match> may list several patterns separated by spaces: any one matches.
// Thread safety: immutable after construction.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace logctl::agentd {

class TagPattern {
 public:
  explicit TagPattern(const std::string& pattern);
  bool matches(std::string_view tag) const;
  const std::string& text() const { return text_; }

 private:
  std::string text_;
  std::vector<std::vector<std::string>> alternatives_;  // brace-expanded, split into parts
};

}  // namespace logctl::agentd
