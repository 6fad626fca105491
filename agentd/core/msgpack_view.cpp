#include "agentd/core/msgpack_view.h"

#include <msgpack.hpp>

#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <vector>

namespace logctl::agentd {
namespace {

// Streams any MessagePack value as JSON.
class JsonVisitor : public msgpack::null_visitor {
 public:
  explicit JsonVisitor(std::string& out) : out_(out) {}
  bool visit_nil() { return raw("null"); }
  bool visit_boolean(bool v) { return raw(v ? "true" : "false"); }
  bool visit_positive_integer(std::uint64_t v) { return raw(std::to_string(v)); }
  bool visit_negative_integer(std::int64_t v) { return raw(std::to_string(v)); }
  bool visit_float32(float v) { return visit_float64(v); }
  bool visit_float64(double v) {
    append_json_float(out_, v);
    return true;
  }
  bool visit_str(const char* v, std::uint32_t n) {
    append_json_string(out_, {v, n});
    return true;
  }
  bool visit_bin(const char* v, std::uint32_t n) { return visit_str(v, n); }
  bool visit_ext(const char*, std::uint32_t) { return raw("null"); }
  bool start_array(std::uint32_t) { return raw("["); }
  bool start_array_item() { return true; }
  bool end_array_item() { return raw(","); }
  bool end_array() { return close(']'); }
  bool start_map(std::uint32_t) { return raw("{"); }
  bool start_map_key() {
    keys_.push_back(out_.size());
    return true;
  }
  // JSON keys are strings: any other key is written as the string of its
  // JSON text ({7:"x"} as {"7":"x"}, as Ruby's to_json does). Only the
  // outermost key is quoted: keys within a key stay as they are inside its
  // string, so nesting costs one escaping, not one per level (the size would
  // double with each).
  bool end_map_key() {
    std::size_t at = keys_.back();
    keys_.pop_back();
    if (keys_.empty() && at < out_.size() && out_[at] != '"') {
      std::string text = out_.substr(at);
      out_.resize(at);
      append_json_string(out_, text);
    }
    return raw(":");
  }
  bool start_map_value() { return true; }
  bool end_map_value() { return raw(","); }
  bool end_map() { return close('}'); }
  void parse_error(std::size_t, std::size_t) {}
  void insufficient_bytes(std::size_t, std::size_t) {}

 private:
  bool raw(std::string_view s) {
    out_.append(s);
    return true;
  }
  bool close(char c) {
    if (out_.back() == ',') {
      out_.back() = c;
    } else {
      out_.push_back(c);
    }
    return true;
  }
  std::string& out_;
  std::vector<std::size_t> keys_;  // where each open map key began in out_
};

// Length of a valid UTF-8 sequence at p (1..4), or 0 if invalid.
std::size_t utf8_len(const unsigned char* p, std::size_t left) {
  unsigned char c = p[0];
  std::size_t n = c < 0xc2 ? 0 : c < 0xe0 ? 2 : c < 0xf0 ? 3 : c < 0xf5 ? 4 : 0;
  if (n == 0 || n > left) return 0;
  for (std::size_t i = 1; i < n; ++i) {
    if ((p[i] & 0xc0) != 0x80) return 0;
  }
  if (c == 0xe0 && p[1] < 0xa0) return 0;  // overlong
  if (c == 0xed && p[1] > 0x9f) return 0;  // surrogates
  if (c == 0xf0 && p[1] < 0x90) return 0;  // overlong
  if (c == 0xf4 && p[1] > 0x8f) return 0;  // > U+10FFFF
  return n;
}

EventTime decode_time(const msgpack::object& o) {
  if (o.type == msgpack::type::EXT && o.via.ext.type() == 0 && o.via.ext.size == 8) {
    auto u = reinterpret_cast<const unsigned char*>(o.via.ext.data());
    std::int64_t s = (std::int64_t{u[0]} << 24) | (u[1] << 16) | (u[2] << 8) | u[3];
    std::int64_t ns = (std::int64_t{u[4]} << 24) | (u[5] << 16) | (u[6] << 8) | u[7];
    return EventTime{s * 1'000'000'000 + ns};
  }
  if (o.type == msgpack::type::POSITIVE_INTEGER) {
    return event_time_from_seconds(static_cast<double>(o.via.u64)).value_or(EventTime{0});
  }
  if (o.type == msgpack::type::FLOAT64 || o.type == msgpack::type::FLOAT32) {
    return event_time_from_seconds(o.via.f64).value_or(EventTime{0});
  }
  return EventTime{0};
}

// Whether the 8 bytes at p are all copied as they are (printable ASCII other
// than '"' and '\\'): word-wide tests with no false "yes" (bit hacks: a byte
// below n, a zero byte).
bool plain8(const unsigned char* p) {
  constexpr std::uint64_t k01 = 0x0101010101010101, k80 = 0x8080808080808080;
  std::uint64_t w;
  std::memcpy(&w, p, sizeof w);
  auto zero_byte = [&](std::uint64_t v) { return (v - k01) & ~v & k80; };
  return ((w & k80) | ((w - 0x20 * k01) & ~w & k80) | zero_byte(w ^ ('"' * k01)) |
          zero_byte(w ^ ('\\' * k01))) == 0;
}

}  // namespace

void append_ruby_float(std::string& out, double v) {
  if (std::isnan(v)) {
    out += "NaN";
    return;
  }
  if (std::isinf(v)) {
    out += v < 0 ? "-Infinity" : "Infinity";
    return;
  }
  if (v == 0) {
    out += std::signbit(v) ? "-0.0" : "0.0";
    return;
  }
  // The shortest digits that read back as v, and the decimal exponent.
  char buf[64];
  auto r = std::to_chars(buf, buf + sizeof buf, v, std::chars_format::scientific);
  std::string_view s(buf, static_cast<std::size_t>(r.ptr - buf));
  if (s.front() == '-') {
    out.push_back('-');
    s.remove_prefix(1);
  }
  auto e = s.find('e');
  std::string digits(1, s[0]);
  if (s[1] == '.') digits.append(s.substr(2, e - 2));
  int exp = 0;
  std::from_chars(s.data() + e + 1 + (s[e + 1] == '+'), s.data() + s.size(), exp);
  int decpt = exp + 1, ndig = static_cast<int>(digits.size());
  if (decpt > -4 && decpt < 16) {
    if (decpt <= 0) {
      out += "0.";
      out.append(static_cast<std::size_t>(-decpt), '0');
      out += digits;
    } else if (decpt >= ndig) {
      out += digits;
      out.append(static_cast<std::size_t>(decpt - ndig), '0');
      out += ".0";
    } else {
      out.append(digits, 0, static_cast<std::size_t>(decpt));
      out.push_back('.');
      out.append(digits, static_cast<std::size_t>(decpt));
    }
    return;
  }
  out.push_back(digits[0]);
  out.push_back('.');
  out += ndig > 1 ? digits.substr(1) : "0";
  char tail[16];
  std::snprintf(tail, sizeof tail, "e%c%02d", exp < 0 ? '-' : '+', exp < 0 ? -exp : exp);
  out += tail;
}

void append_json_float(std::string& out, double v) {
  if (std::isnan(v) || std::isinf(v)) {
    out += "null";
  } else if (v == std::trunc(v) && v >= -9223372036854775808.0 && v < 9223372036854775808.0) {
    out += std::to_string(static_cast<long long>(v));
    out += ".0";
  } else {
    append_ruby_float(out, v);
  }
}

void append_json_string(std::string& out, std::string_view s) {
  static const char* kHex = "0123456789abcdef";
  out.push_back('"');
  auto p = reinterpret_cast<const unsigned char*>(s.data());
  std::size_t n = s.size(), run = 0;
  for (std::size_t i = 0; i < n;) {
    if (i + 8 <= n && plain8(p + i)) {
      i += 8;
      run += 8;
      continue;
    }
    unsigned char c = p[i];
    if (c >= 0x20 && c < 0x80 && c != '"' && c != '\\') {
      ++i;
      ++run;
      continue;
    }
    out.append(s.data() + i - run, run);
    run = 0;
    if (c >= 0x80) {
      std::size_t len = utf8_len(p + i, n - i);
      if (len == 0) {
        out.append("\\ufffd");
        ++i;
      } else {
        out.append(s.data() + i, len);
        i += len;
      }
      continue;
    }
    switch (c) {
      case '"':
        out.append("\\\"");
        break;
      case '\\':
        out.append("\\\\");
        break;
      case '\n':
        out.append("\\n");
        break;
      case '\r':
        out.append("\\r");
        break;
      case '\t':
        out.append("\\t");
        break;
      default:
        out.append("\\u00");
        out.push_back(kHex[c >> 4]);
        out.push_back(kHex[c & 0xf]);
    }
    ++i;
  }
  out.append(s.data() + n - run, run);
  out.push_back('"');
}

void append_json(std::string& out, std::string_view packed) {
  JsonVisitor v(out);
  std::size_t off = 0;
  if (!msgpack::parse(packed.data(), packed.size(), off, v)) out.append("null");
}

Status for_each_entry(std::string_view unit,
                      const std::function<void(EventTime, std::string_view)>& fn) {
  std::size_t off = 0;
  while (off < unit.size()) {
    // Fast path for our own layout: fixarray(2), fixext8 type 0.
    auto p = reinterpret_cast<const unsigned char*>(unit.data() + off);
    std::size_t left = unit.size() - off;
    if (left >= 11 && p[0] == 0x92 && p[1] == 0xd7 && p[2] == 0x00) {
      std::int64_t s = (std::int64_t{p[3]} << 24) | (p[4] << 16) | (p[5] << 8) | p[6];
      std::int64_t ns = (std::int64_t{p[7]} << 24) | (p[8] << 16) | (p[9] << 8) | p[10];
      std::size_t rec = off + 11, end = rec;
      msgpack::null_visitor skip;
      if (!msgpack::parse(unit.data(), unit.size(), end, skip)) {
        return make_error(ErrorCode::kCorrupt, "malformed record in chunk");
      }
      fn(EventTime{s * 1'000'000'000 + ns}, unit.substr(rec, end - rec));
      off = end;
      continue;
    }
    msgpack::object_handle h;
    try {
      h = msgpack::unpack(unit.data(), unit.size(), off);
    } catch (const std::exception& e) {
      return make_error(ErrorCode::kCorrupt, std::string("malformed entry in chunk: ") + e.what());
    }
    const auto& o = h.get();
    if (o.type != msgpack::type::ARRAY || o.via.array.size != 2) {
      return make_error(ErrorCode::kCorrupt, "chunk entry is not [time, record]");
    }
    msgpack::sbuffer rec;
    msgpack::pack(rec, o.via.array.ptr[1]);
    fn(decode_time(o.via.array.ptr[0]), std::string_view(rec.data(), rec.size()));
  }
  return {};
}

namespace {

// The bytes of a string or binary value (Fluentd reads both as a String).
std::optional<std::string_view> text_of(const msgpack::object& o) {
  if (o.type == msgpack::type::STR) return std::string_view(o.via.str.ptr, o.via.str.size);
  if (o.type == msgpack::type::BIN) return std::string_view(o.via.bin.ptr, o.via.bin.size);
  return std::nullopt;
}

void ruby_text(std::string& out, const msgpack::object& o, bool inspect);

// String#inspect of UTF-8 text: quotes, backslash escapes, \u for other
// control characters, \x for bytes that are not UTF-8.
void ruby_inspect_string(std::string& out, std::string_view s) {
  static const char* kHex = "0123456789ABCDEF";
  out.push_back('"');
  auto p = reinterpret_cast<const unsigned char*>(s.data());
  for (std::size_t i = 0; i < s.size();) {
    unsigned char c = p[i];
    if (c >= 0x80) {
      std::size_t len = utf8_len(p + i, s.size() - i);
      if (len == 0) {
        out += "\\x";
        out.push_back(kHex[c >> 4]);
        out.push_back(kHex[c & 0xf]);
        ++i;
      } else {
        out.append(s.data() + i, len);
        i += len;
      }
      continue;
    }
    const char* esc = nullptr;
    switch (c) {
      case '"':
        esc = "\\\"";
        break;
      case '\\':
        esc = "\\\\";
        break;
      case '\n':
        esc = "\\n";
        break;
      case '\r':
        esc = "\\r";
        break;
      case '\t':
        esc = "\\t";
        break;
      case '\f':
        esc = "\\f";
        break;
      case '\v':
        esc = "\\v";
        break;
      case '\b':
        esc = "\\b";
        break;
      case '\a':
        esc = "\\a";
        break;
      case 0x1b:
        esc = "\\e";
        break;
      case '#':
        if (i + 1 < s.size() && (p[i + 1] == '{' || p[i + 1] == '$' || p[i + 1] == '@'))
          esc = "\\#";
        break;
      default:
        break;
    }
    if (esc) {
      out += esc;
    } else if (c < 0x20 || c == 0x7f) {
      out += "\\u00";
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 0xf]);
    } else {
      out.push_back(static_cast<char>(c));
    }
    ++i;
  }
  out.push_back('"');
}

// Ruby's to_s (inspect false) or inspect (true) of a value.
void ruby_text(std::string& out, const msgpack::object& o, bool inspect) {
  using T = msgpack::type::object_type;
  switch (o.type) {
    case T::NIL:
      if (inspect) out += "nil";
      return;
    case T::BOOLEAN:
      out += o.via.boolean ? "true" : "false";
      return;
    case T::POSITIVE_INTEGER:
      out += std::to_string(o.via.u64);
      return;
    case T::NEGATIVE_INTEGER:
      out += std::to_string(o.via.i64);
      return;
    case T::FLOAT32:
    case T::FLOAT64:
      append_ruby_float(out, o.via.f64);
      return;
    case T::STR:
    case T::BIN: {
      auto text = *text_of(o);
      if (inspect) {
        ruby_inspect_string(out, text);
      } else {
        out += text;
      }
      return;
    }
    case T::ARRAY:
      out.push_back('[');
      for (std::uint32_t i = 0; i < o.via.array.size; ++i) {
        if (i) out += ", ";
        ruby_text(out, o.via.array.ptr[i], true);
      }
      out.push_back(']');
      return;
    case T::MAP:
      out.push_back('{');
      for (std::uint32_t i = 0; i < o.via.map.size; ++i) {
        if (i) out += ", ";
        ruby_text(out, o.via.map.ptr[i].key, true);
        out += "=>";
        ruby_text(out, o.via.map.ptr[i].val, true);
      }
      out.push_back('}');
      return;
    default:  // ext: an EventTime inside a record has no Ruby text of its own here
      if (inspect) out += "nil";
      return;
  }
}

// A string or binary value as its bytes, any other as Ruby's to_s.
std::string render(const msgpack::object& o) {
  if (auto text = text_of(o)) return std::string(*text);
  std::string out;
  ruby_text(out, o, false);
  return out;
}

const msgpack::object* find_key(const msgpack::object& map, std::string_view key) {
  if (map.type != msgpack::type::MAP) return nullptr;
  for (std::uint32_t i = 0; i < map.via.map.size; ++i) {
    const auto& kv = map.via.map.ptr[i];
    if (text_of(kv.key) == key) {
      return &kv.val;
    }
  }
  return nullptr;
}

}  // namespace

std::vector<std::string> field_path(std::string_view key) {
  if (!key.starts_with("$.")) return {std::string(key)};
  std::vector<std::string> path(1);
  for (char c : key.substr(2)) {
    if (c == '.') {
      path.emplace_back();
    } else {
      path.back().push_back(c);
    }
  }
  return path;
}

void append_ruby_text(std::string& out, std::string_view packed) {
  msgpack::object_handle h;
  try {
    h = msgpack::unpack(packed.data(), packed.size());
  } catch (const std::exception&) {
    return;
  }
  ruby_text(out, h.get(), false);
}

namespace {

// Reads a map or str header at `off`; false when `p[off]` is another type.
bool read_header(std::string_view p, std::size_t& off, bool map, std::uint32_t& n) {
  if (off >= p.size()) return false;
  auto u = reinterpret_cast<const unsigned char*>(p.data());
  unsigned char c = u[off];
  auto be = [&](std::size_t at, int bytes) {
    std::uint32_t v = 0;
    for (int i = 0; i < bytes; ++i) v = (v << 8) | u[at + i];
    return v;
  };
  int len_bytes = 0;
  if (map && (c & 0xf0) == 0x80) {
    n = c & 0x0f;
  } else if (!map && (c & 0xe0) == 0xa0) {
    n = c & 0x1f;
  } else if (map && (c == 0xde || c == 0xdf)) {
    len_bytes = c == 0xde ? 2 : 4;
  } else if (!map && (c == 0xd9 || c == 0xda || c == 0xdb)) {
    len_bytes = c == 0xd9 ? 1 : c == 0xda ? 2 : 4;
  } else {
    return false;
  }
  if (off + 1 + static_cast<std::size_t>(len_bytes) > p.size()) return false;
  if (len_bytes) n = be(off + 1, len_bytes);
  off += 1 + static_cast<std::size_t>(len_bytes);
  return map || off + n <= p.size();
}

// Top-level string field of a record without building objects: the hot path
// of single_value formatting and record chunk keys.
std::optional<std::optional<std::string_view>> fast_string_field(std::string_view p,
                                                                 std::string_view key) {
  std::size_t off = 0;
  std::uint32_t n = 0;
  if (!read_header(p, off, true, n)) return std::nullopt;
  for (std::uint32_t i = 0; i < n; ++i) {
    std::uint32_t klen = 0;
    if (!read_header(p, off, false, klen)) return std::nullopt;
    bool match = std::string_view(p.data() + off, klen) == key;
    off += klen;
    if (match) {
      std::uint32_t vlen = 0;
      std::size_t voff = off;
      if (!read_header(p, voff, false, vlen)) return std::nullopt;  // not a string
      return std::optional<std::string_view>(std::string_view(p.data() + voff, vlen));
    }
    msgpack::null_visitor skip;
    if (!msgpack::parse(p.data(), p.size(), off, skip)) return std::nullopt;
  }
  return std::optional<std::string_view>();  // absent
}

}  // namespace

std::optional<std::string> lookup_field(std::string_view packed_record,
                                        const std::vector<std::string>& path) {
  if (path.size() == 1) {
    if (auto fast = fast_string_field(packed_record, path[0])) {
      if (!*fast) return std::nullopt;
      return std::string(**fast);
    }
  }
  msgpack::object_handle h;
  try {
    h = msgpack::unpack(packed_record.data(), packed_record.size());
  } catch (const std::exception&) {
    return std::nullopt;
  }
  const msgpack::object* cur = &h.get();
  for (const auto& k : path) {
    cur = find_key(*cur, k);
    if (!cur) return std::nullopt;
  }
  if (cur->type == msgpack::type::NIL) return std::nullopt;
  return render(*cur);
}

void append_field(std::string& out, std::string_view packed_record,
                  const std::vector<std::string>& path) {
  if (path.size() == 1) {
    if (auto fast = fast_string_field(packed_record, path[0])) {
      if (*fast) out += **fast;
      return;
    }
  }
  if (auto v = lookup_field(packed_record, path)) out += *v;
}

void for_each_rendered_field(std::string_view packed_record,
                             const std::function<void(std::string_view, std::string_view)>& fn) {
  msgpack::object_handle h;
  try {
    h = msgpack::unpack(packed_record.data(), packed_record.size());
  } catch (const std::exception&) {
    return;
  }
  const auto& map = h.get();
  if (map.type != msgpack::type::MAP) return;
  for (std::uint32_t i = 0; i < map.via.map.size; ++i) {
    const auto& kv = map.via.map.ptr[i];
    std::string key = render(kv.key);
    fn(key, render(kv.val));
  }
}

}  // namespace logctl::agentd
