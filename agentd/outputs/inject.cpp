#include "agentd/outputs/inject.h"

#include <unistd.h>

#include <cstring>

#include "agentd/core/record_writer.h"
#include "agentd/filters/filter.h"
#include "agentd/inputs/msgpack_framing.h"

namespace logctl::agentd {

namespace {
std::string this_host() {
  char buf[256] = {};
  if (::gethostname(buf, sizeof buf - 1) != 0) return "localhost";
  return buf;
}

// Packs a double (msgpack float 64).
void pack_double(std::string& out, double d) {
  std::uint64_t bits;
  std::memcpy(&bits, &d, sizeof bits);
  out.push_back(static_cast<char>(0xcb));
  for (int b = 56; b >= 0; b -= 8) out.push_back(static_cast<char>(bits >> b));
}
}  // namespace

std::unique_ptr<Injector> Injector::make(const config::Section* s) {
  if (!s) return nullptr;
  if (!s->is_set("time_key") && !s->is_set("tag_key") && !s->is_set("hostname_key")) {
    return nullptr;
  }
  return std::unique_ptr<Injector>(new Injector(*s));
}

Injector::Injector(const config::Section& s)
    : time_key_(s.str("time_key")),
      time_type_(s.str("time_type")),
      tag_key_(s.str("tag_key")),
      hostname_key_(s.str("hostname_key")),
      hostname_(s.is_set("hostname") ? s.str("hostname") : this_host()),
      tf_(time_formatter(s, kIso8601)) {}

void Injector::apply(const EventBatch& batch, EventBatch& out) {
  out.clear();
  out.tag = batch.tag;
  std::string value;
  for (const auto& e : batch.entries) {
    std::string_view record = record_of(batch.entry(e));
    auto h = msgpack_header(record);
    if (!h || h->kind != MsgpackKind::kMap) continue;  // records are maps (inputs see to it)
    struct Add {
      const std::string* key;
      std::string packed;
    };
    std::vector<Add> adds;
    // Fluentd's order: hostname, tag, time.
    if (!hostname_key_.empty()) {
      value.clear();
      RecordWriter::pack_str(value, hostname_);
      adds.push_back({&hostname_key_, value});
    }
    if (!tag_key_.empty()) {
      value.clear();
      RecordWriter::pack_str(value, batch.tag);
      adds.push_back({&tag_key_, value});
    }
    if (!time_key_.empty()) {
      value.clear();
      if (time_type_ == "unixtime") {
        RecordWriter::pack_int(value, e.time.seconds());
      } else if (time_type_ == "unixtime_millis") {
        RecordWriter::pack_int(value, e.time.seconds() * 1'000 + e.time.nanos() / 1'000'000);
      } else if (time_type_ == "unixtime_micros") {
        RecordWriter::pack_int(value, e.time.seconds() * 1'000'000 + e.time.nanos() / 1'000);
      } else if (time_type_ == "unixtime_nanos") {
        RecordWriter::pack_int(value, e.time.seconds() * 1'000'000'000 + e.time.nanos());
      } else if (time_type_ == "string") {
        std::string text;
        {
          std::lock_guard lock(mu_);
          tf_.append(text, e.time);
        }
        RecordWriter::pack_str(value, text);
      } else {  // float: Fluentd's, to the microsecond (time.to_r.truncate(6).to_f)
        std::int64_t micros = e.time.seconds() * 1'000'000 + e.time.nanos() / 1'000;
        pack_double(value, static_cast<double>(micros) / 1e6);
      }
      adds.push_back({&time_key_, value});
    }
    // The record's fields; one the injection sets keeps its place (Ruby's
    // record[key] = value), the others are appended in order.
    std::string body;
    std::uint32_t fields = 0;
    std::vector<bool> placed(adds.size(), false);
    for_each_packed_field(record, [&](const MsgpackField& f) {
      std::size_t which = adds.size();
      if (f.text_key) {
        for (std::size_t a = 0; a < adds.size(); ++a) {
          if (f.key == *adds[a].key) which = a;
        }
      }
      body.append(f.packed_key);
      if (which < adds.size()) {
        body.append(adds[which].packed);
        placed[which] = true;
      } else {
        body.append(f.value);
      }
      ++fields;
    });
    for (std::size_t a = 0; a < adds.size(); ++a) {
      if (placed[a]) continue;
      RecordWriter::pack_str(body, *adds[a].key);
      body.append(adds[a].packed);
      ++fields;
    }
    RecordWriter w(out);
    w.begin(e.time, 0);
    std::string packed;
    RecordWriter::pack_map_header(packed, fields);
    packed += body;
    w.record_packed(packed);
    w.end();
  }
}

}  // namespace logctl::agentd
