#include "cli/terminal.h"

#include <cstdio>
#include <iostream>
#include <ostream>
#include <streambuf>

namespace logctl::cli {
namespace {

// Appends to `out` what byte `b` becomes; `pending_c2` carries a 0xC2 lead
// byte across calls (a C1 control is 0xC2 0x80..0x9F in UTF-8).
template <typename Out>
void escape_byte(unsigned char b, bool& pending_c2, bool keep_newlines, Out&& out) {
  char esc[8];
  if (pending_c2) {
    pending_c2 = false;
    if (b >= 0x80 && b <= 0x9f) {
      std::snprintf(esc, sizeof esc, "\\u%04x", b);
      return out(esc);
    }
    out("\xc2");
  }
  if (b == 0xc2) {
    pending_c2 = true;
    return;
  }
  bool control = b < 0x20 || b == 0x7f;
  if (control && !(keep_newlines && (b == '\n' || b == '\t'))) {
    std::snprintf(esc, sizeof esc, "\\x%02x", b);
    return out(esc);
  }
  char one[2] = {static_cast<char>(b), 0};
  out(one);
}

class EscapingBuf : public std::streambuf {
 public:
  explicit EscapingBuf(std::streambuf* to) : to_(to) {}

 protected:
  int_type overflow(int_type ch) override {
    if (traits_type::eq_int_type(ch, traits_type::eof())) return traits_type::not_eof(ch);
    put(static_cast<unsigned char>(ch));
    return ch;
  }
  std::streamsize xsputn(const char* s, std::streamsize n) override {
    for (std::streamsize i = 0; i < n; ++i) put(static_cast<unsigned char>(s[i]));
    return n;
  }
  int sync() override {
    if (pending_c2_) {
      pending_c2_ = false;
      to_->sputc('\xc2');
    }
    return to_->pubsync();
  }

 private:
  void put(unsigned char b) {
    escape_byte(b, pending_c2_, true, [this](const char* s) {
      for (; *s; ++s) to_->sputc(*s);
    });
  }
  std::streambuf* to_;
  bool pending_c2_ = false;
};

}  // namespace

std::string printable(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  bool pending = false;
  for (char ch : s) {
    escape_byte(static_cast<unsigned char>(ch), pending, false, [&](const char* p) { out += p; });
  }
  if (pending) out += '\xc2';
  return out;
}

namespace {
std::streambuf* g_raw_stderr = nullptr;
std::streambuf* g_raw_stdout = nullptr;
}  // namespace

void escape_terminal_controls(std::ostream& stream) {
  if (&stream == &std::cerr && !g_raw_stderr) g_raw_stderr = stream.rdbuf();
  if (&stream == &std::cout && !g_raw_stdout) g_raw_stdout = stream.rdbuf();
  // Never freed: the stream may be flushed at exit, after main's locals.
  auto* buf = new EscapingBuf(stream.rdbuf());
  stream.rdbuf(buf);
}

std::ostream& unfiltered_stderr() {
  if (!g_raw_stderr) return std::cerr;
  static std::ostream raw(g_raw_stderr);
  return raw;
}

std::ostream& unfiltered_stdout() {
  if (!g_raw_stdout) return std::cout;
  static std::ostream raw(g_raw_stdout);
  return raw;
}

}  // namespace logctl::cli
