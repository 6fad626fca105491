#include "agentd/core/record_writer.h"

#include <cassert>
#include <cstring>

#include "agentd/core/msgpack_view.h"

namespace logctl::agentd {
namespace {

void put_be16(std::string& out, std::uint16_t v) {
  char b[2] = {static_cast<char>(v >> 8), static_cast<char>(v)};
  out.append(b, 2);
}
void put_be32(std::string& out, std::uint32_t v) {
  char b[4] = {static_cast<char>(v >> 24), static_cast<char>(v >> 16), static_cast<char>(v >> 8),
               static_cast<char>(v)};
  out.append(b, 4);
}

}  // namespace

void RecordWriter::pack_event_time(std::string& out, EventTime t) {
  out.push_back(static_cast<char>(0xd7));  // fixext 8
  out.push_back(0x00);                     // ext type 0: EventTime
  put_be32(out, static_cast<std::uint32_t>(t.seconds()));
  put_be32(out, t.nanos());
}

void RecordWriter::pack_str(std::string& out, std::string_view s) {
  auto n = s.size();
  if (n < 32) {
    out.push_back(static_cast<char>(0xa0 | n));
  } else if (n < 256) {
    out.push_back(static_cast<char>(0xd9));
    out.push_back(static_cast<char>(n));
  } else if (n < 65536) {
    out.push_back(static_cast<char>(0xda));
    put_be16(out, static_cast<std::uint16_t>(n));
  } else {
    out.push_back(static_cast<char>(0xdb));
    put_be32(out, static_cast<std::uint32_t>(n));
  }
  out.append(s.data(), n);
}

void RecordWriter::pack_map_header(std::string& out, std::uint32_t n) {
  if (n < 16) {
    out.push_back(static_cast<char>(0x80 | n));
  } else if (n < 65536) {
    out.push_back(static_cast<char>(0xde));
    put_be16(out, static_cast<std::uint16_t>(n));
  } else {
    out.push_back(static_cast<char>(0xdf));
    put_be32(out, n);
  }
}

void RecordWriter::pack_int(std::string& out, std::int64_t v) {
  if (v >= 0 && v < 128) {
    out.push_back(static_cast<char>(v));
  } else if (v < 0 && v >= -32) {
    out.push_back(static_cast<char>(v));
  } else {
    out.push_back(static_cast<char>(0xd3));  // int 64
    std::uint64_t u = static_cast<std::uint64_t>(v);
    put_be32(out, static_cast<std::uint32_t>(u >> 32));
    put_be32(out, static_cast<std::uint32_t>(u));
  }
}

void RecordWriter::begin(EventTime time, std::uint32_t fields) {
  start_ = batch_.data.size();
  expected_ = fields;
  written_ = 0;
  time_ = time;
  batch_.data.push_back(static_cast<char>(0x92));  // fixarray 2
  pack_event_time(batch_.data, time);
  pack_map_header(batch_.data, fields);
}

void RecordWriter::field(std::string_view key, std::string_view value) {
  pack_str(batch_.data, key);
  pack_str(batch_.data, value);
  ++written_;
}

void RecordWriter::field_int(std::string_view key, std::int64_t value) {
  pack_str(batch_.data, key);
  pack_int(batch_.data, value);
  ++written_;
}

void RecordWriter::field_nil(std::string_view key) {
  pack_str(batch_.data, key);
  batch_.data.push_back(static_cast<char>(0xc0));
  ++written_;
}

void RecordWriter::field_packed(std::string_view key, std::string_view packed) {
  pack_str(batch_.data, key);
  batch_.data.append(packed);
  ++written_;
}

void RecordWriter::fields_packed(std::string_view pairs, std::uint32_t n) {
  batch_.data.append(pairs);
  written_ += n;
}

void RecordWriter::record_packed(std::string_view packed_map) {
  // begin() wrote a map header for `expected_` fields; a packed record brings
  // its own header, so begin() must have been called with fields == 0 and we
  // replace that empty-map byte.
  assert(expected_ == 0 && batch_.data.back() == static_cast<char>(0x80));
  batch_.data.pop_back();
  batch_.data.append(packed_map);
  written_ = 0;
}

void RecordWriter::end() {
  assert(written_ == expected_);
  batch_.entries.push_back(EntryRef{static_cast<std::uint32_t>(start_),
                                    static_cast<std::uint32_t>(batch_.data.size() - start_),
                                    time_});
}

Status unit_to_batch(std::string_view unit, EventBatch& batch) {
  RecordWriter w(batch);
  return for_each_entry(unit, [&](EventTime t, std::string_view record) {
    w.begin(t, 0);
    w.record_packed(record);
    w.end();
  });
}

}  // namespace logctl::agentd
