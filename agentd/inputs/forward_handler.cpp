#include "agentd/inputs/forward_handler.h"

#include <cstring>
#include <optional>

#include "agentd/core/record_writer.h"
#include "agentd/forward/protocol.h"
#include "agentd/inputs/msgpack_framing.h"

namespace logctl::agentd {
namespace {

using namespace forward;

using U8 = unsigned char;

U8 first(std::string_view v) {
  return static_cast<U8>(v[0]);
}

std::uint64_t be(std::string_view v, std::size_t at, int n) {
  std::uint64_t x = 0;
  for (int i = 0; i < n; ++i) x = (x << 8) | static_cast<U8>(v[at + static_cast<std::size_t>(i)]);
  return x;
}

// EventTime ext, integer or float seconds; nullopt for anything else, and
// for seconds an EventTime cannot hold (event_time_from_seconds), as the
// parsers do.
std::optional<EventTime> time_of(std::string_view v) {
  U8 t = first(v);
  auto secs = event_time_from_seconds;
  if (t == 0xd7 && v.size() == 10 && v[1] == 0) {
    return EventTime{static_cast<std::int64_t>(be(v, 2, 4)) * 1'000'000'000 +
                     static_cast<std::int64_t>(be(v, 6, 4))};
  }
  if (t == 0xc7 && v.size() == 11 && static_cast<U8>(v[1]) == 8 && v[2] == 0) {
    return EventTime{static_cast<std::int64_t>(be(v, 3, 4)) * 1'000'000'000 +
                     static_cast<std::int64_t>(be(v, 7, 4))};
  }
  if (t <= 0x7f) return secs(t);
  if (t >= 0xcc && t <= 0xcf) return secs(static_cast<double>(be(v, 1, 1 << (t - 0xcc))));
  if (t >= 0xe0) return secs(static_cast<std::int8_t>(t));
  if (t >= 0xd0 && t <= 0xd3) {
    int n = 1 << (t - 0xd0);
    std::uint64_t raw = be(v, 1, n);
    std::int64_t s = n == 8 ? static_cast<std::int64_t>(raw)
                            : static_cast<std::int64_t>(raw << (64 - 8 * n)) >> (64 - 8 * n);
    return secs(static_cast<double>(s));
  }
  if (t == 0xca) {
    auto bits = static_cast<std::uint32_t>(be(v, 1, 4));
    float f;
    std::memcpy(&f, &bits, sizeof f);
    return secs(f);
  }
  if (t == 0xcb) {
    std::uint64_t bits = be(v, 1, 8);
    double d;
    std::memcpy(&d, &bits, sizeof d);
    return secs(d);
  }
  return std::nullopt;
}

class ForwardHandler final : public MessageHandler {
 public:
  ForwardHandler(HandlerOptions o, ForwardOptions f, Metrics& m)
      : o_(std::move(o)), f_(std::move(f)), c_(m, o_.id, o_.type) {}

  void handle(std::string_view msg, const Peer& peer, EventTime now, BatchSet& out) override {
    auto el = elements(msg);
    if (!el || el->size() < 2 || el->size() > 4) {
      return bad(peer, "a message is not an array of 2 to 4 elements (or is truncated)");
    }
    auto tag = (*el)[0].empty() ? std::nullopt : bytes_of((*el)[0]);
    if (!tag || tag->empty() || tag->size() > 1024) {
      return bad(peer, "the tag is not a string of 1 to 1024 bytes");
    }
    std::string full_tag =
        f_.add_tag_prefix.empty() ? std::string(*tag) : f_.add_tag_prefix + "." + std::string(*tag);
    std::string_view e1 = (*el)[1];
    std::optional<std::string_view> option;
    EventBatch& batch = out.for_tag(full_tag);
    if (is_array(e1)) {  // Forward
      if (el->size() == 3) option = (*el)[2];
      if (el->size() > 3) return bad(peer, "Forward mode takes [tag, entries, option]");
      each_entry(e1.substr(msgpack_header(e1)->size), peer, now, batch);
    } else if (is_str_or_bin(e1)) {  // PackedForward, CompressedPackedForward
      if (el->size() == 3) option = (*el)[2];
      if (el->size() > 3) return bad(peer, "PackedForward mode takes [tag, entries, option]");
      auto payload = bytes_of(e1);
      if (!payload) return bad(peer, "a PackedForward payload is cut short");
      std::string inflated;
      if (option && compressed(*option) == "gzip") {
        auto z = gunzip(*payload, f_.max_decompressed);
        if (!z) return bad(peer, z.error().message);
        inflated = std::move(*z);
        payload = inflated;
      }
      each_entry(*payload, peer, now, batch);
    } else {  // Message
      if (el->size() < 3) return bad(peer, "Message mode takes [tag, time, record, option]");
      if (el->size() == 4) option = (*el)[3];
      add(e1, (*el)[2], peer, now, batch);
    }
    if (option) {
      if (auto chunk = map_str(*option, "chunk"); chunk && !chunk->empty()) {
        std::string ack;
        RecordWriter::pack_map_header(ack, 1);
        RecordWriter::pack_str(ack, "ack");
        RecordWriter::pack_str(ack, *chunk);
        out.replies.push_back(std::move(ack));
      }
    }
  }

 private:
  std::string compressed(std::string_view option) {
    auto v = map_str(option, "compressed");
    return v ? std::string(*v) : "";
  }

  // Each [time, record] entry of a packed stream.
  void each_entry(std::string_view stream, const Peer& peer, EventTime now, EventBatch& batch) {
    std::size_t off = 0;
    while (off < stream.size()) {
      std::string_view rest = stream.substr(off);
      if (static_cast<unsigned char>(rest[0]) == 0x92) {  // fixarray [time, record]: no copies
        std::size_t tn = value_len(rest.substr(1));
        std::size_t rn = tn == 0 ? 0 : value_len(rest.substr(1 + tn));
        if (rn == 0) return bad(peer, "an entry is cut short or is not MessagePack");
        add(rest.substr(1, tn), rest.substr(1 + tn, rn), peer, now, batch);
        off += 1 + tn + rn;
        continue;
      }
      std::size_t n = value_len(rest);
      if (n == 0) return bad(peer, "an entry is cut short or is not MessagePack");
      auto pair = elements(stream.substr(off, n));
      off += n;
      if (!pair || pair->size() != 2) {
        bad(peer, "an entry is not [time, record]");
        continue;
      }
      add((*pair)[0], (*pair)[1], peer, now, batch);
    }
  }

  void add(std::string_view time, std::string_view record, const Peer& peer, EventTime now,
           EventBatch& batch) {
    auto t = time.empty() ? std::nullopt : time_of(time);
    auto m = map_header(record);
    if (!t) return bad(peer, "an event's time is not an EventTime or a number");
    if (!m) return bad(peer, "an event's record is not a map");
    if (t->ns == 0) t = now;  // as Fluentd: time 0 means "now"
    std::uint32_t extra =
        (o_.source_address_key.empty() ? 0 : 1) + (o_.source_hostname_key.empty() ? 0 : 1);
    auto offset = static_cast<std::uint32_t>(batch.data.size());
    batch.data.push_back(static_cast<char>(0x92));
    RecordWriter::pack_event_time(batch.data, *t);
    if (extra == 0) {
      batch.data.append(record);
    } else {
      RecordWriter::pack_map_header(batch.data, static_cast<std::uint32_t>(m->pairs) + extra);
      batch.data.append(record.substr(m->size));
      if (!o_.source_address_key.empty()) {
        RecordWriter::pack_str(batch.data, o_.source_address_key);
        RecordWriter::pack_str(batch.data, peer.address);
      }
      if (!o_.source_hostname_key.empty()) {
        RecordWriter::pack_str(batch.data, o_.source_hostname_key);
        RecordWriter::pack_str(batch.data, peer.hostname);
      }
    }
    batch.entries.push_back({offset, static_cast<std::uint32_t>(batch.data.size() - offset), *t});
  }

  void bad(const Peer& peer, const std::string& why) {
    ++c_.parse_errors;
    log_.write(log::Level::kWarn, "input " + o_.id + ": skipped from " + peer.address + ": " + why);
  }

  HandlerOptions o_;
  ForwardOptions f_;
  InputCounters c_;
  log::RateLimited log_;
};

}  // namespace

std::unique_ptr<MessageHandler> make_forward_handler(HandlerOptions o, ForwardOptions f,
                                                     Metrics& metrics) {
  return std::make_unique<ForwardHandler>(std::move(o), std::move(f), metrics);
}

}  // namespace logctl::agentd
