// RecordWriter packs events into an EventBatch (see event.h):
//   w.begin(time, n_fields); w.field("message", text); ...; w.end();
// The field count is declared up front because a MessagePack map header
// carries it. end() asserts that exactly that many fields were written.
// Thread safety: one writer per batch, one thread.
#pragma once

#include <cstdint>
#include <string_view>

#include "agentd/core/event.h"
#include "logctl/schema/result.h"

namespace logctl::agentd {

class RecordWriter {
 public:
  explicit RecordWriter(EventBatch& batch) : batch_(batch) {}

  void begin(EventTime time, std::uint32_t fields);
  void field(std::string_view key, std::string_view value);
  void field_int(std::string_view key, std::int64_t value);
  void field_nil(std::string_view key);
  // Appends an already packed MessagePack value (e.g. a nested map).
  void field_packed(std::string_view key, std::string_view packed);
  // `n` key/value pairs already packed back to back (e.g. a record map's body).
  void fields_packed(std::string_view pairs, std::uint32_t n);
  // A whole packed record map (e.g. from a JSON parser); replaces field calls.
  void record_packed(std::string_view packed_map);
  void end();

  // Low-level pieces, also used by chunk and protocol code.
  static void pack_event_time(std::string& out, EventTime t);
  static void pack_str(std::string& out, std::string_view s);
  static void pack_map_header(std::string& out, std::uint32_t n);
  static void pack_int(std::string& out, std::int64_t v);

 private:
  EventBatch& batch_;
  std::size_t start_ = 0;
  std::uint32_t expected_ = 0;
  std::uint32_t written_ = 0;
  EventTime time_;
};

// Re-packs a chunk unit (concatenated [time, record] entries) into `batch`,
// appending an EntryRef per event.
Status unit_to_batch(std::string_view unit, EventBatch& batch);

}  // namespace logctl::agentd
