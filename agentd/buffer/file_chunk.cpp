#include "agentd/buffer/file_chunk.h"

#include <fcntl.h>
#include <libdeflate.h>
#include <unistd.h>

#include <algorithm>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>

#include "agentd/core/log.h"

namespace logctl::agentd {
namespace {

void put32(std::string& out, std::uint32_t v) {
  char b[4] = {static_cast<char>(v >> 24), static_cast<char>(v >> 16), static_cast<char>(v >> 8),
               static_cast<char>(v)};
  out.append(b, 4);
}
std::uint32_t get32(const char* p) {
  auto u = reinterpret_cast<const unsigned char*>(p);
  return (std::uint32_t{u[0]} << 24) | (std::uint32_t{u[1]} << 16) | (std::uint32_t{u[2]} << 8) |
         u[3];
}
// CRC-32 (zlib's polynomial and values: chunk files are the same bytes
// whichever computes it) from libdeflate, which folds with PCLMULQDQ where the
// CPU has it; zlib's table-driven crc32 was 7-9 % of the worker's time.
std::uint32_t crc(std::string_view s, std::uint32_t seed = 0) {
  return libdeflate_crc32(seed, s.data(), s.size());
}

}  // namespace

namespace chunk_format {

std::string encode_header(const std::string& id, const ChunkMetadata& m, std::int64_t created_ns) {
  nlohmann::json j = {{"id", id}, {"created_ns", created_ns}};
  if (m.timekey) j["timekey"] = *m.timekey;
  if (m.tag) j["tag"] = *m.tag;
  if (!m.variables.empty()) {
    nlohmann::json vars = nlohmann::json::array();
    for (const auto& [k, v] : m.variables) vars.push_back({k, v});
    j["variables"] = vars;
  }
  std::string body = j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  std::string out(kMagic, 4);
  out.push_back(static_cast<char>(kChunkFormatVersion >> 8));
  out.push_back(static_cast<char>(kChunkFormatVersion & 0xff));
  put32(out, static_cast<std::uint32_t>(body.size()));
  out += body;
  put32(out, crc(out));
  return out;
}

std::string encode_frame_header(std::string_view tag, std::string_view payload,
                                std::uint32_t count) {
  std::string h;
  put32(h, kFrameMagic);
  put32(h, static_cast<std::uint32_t>(tag.size()));
  put32(h, static_cast<std::uint32_t>(payload.size()));
  put32(h, count);
  put32(h, crc(tag, crc(std::string_view(h).substr(4, 12))));
  put32(h, crc(payload));
  h += tag;
  return h;
}

namespace {

Result<ChunkMetadata> metadata_of(const nlohmann::json& j) {
  ChunkMetadata m;
  if (j.contains("timekey")) {
    if (!j["timekey"].is_number_integer()) return make_error(ErrorCode::kCorrupt, "bad timekey");
    m.timekey = j["timekey"].get<std::int64_t>();
  }
  if (j.contains("tag")) {
    if (!j["tag"].is_string()) return make_error(ErrorCode::kCorrupt, "bad tag");
    m.tag = j["tag"].get<std::string>();
  }
  if (j.contains("variables")) {
    if (!j["variables"].is_array()) return make_error(ErrorCode::kCorrupt, "bad variables");
    for (const auto& kv : j["variables"]) {
      if (!kv.is_array() || kv.size() != 2 || !kv[0].is_string() || !kv[1].is_string()) {
        return make_error(ErrorCode::kCorrupt, "bad variable");
      }
      m.variables.emplace_back(kv[0].get<std::string>(), kv[1].get<std::string>());
    }
  }
  return m;
}

// What starts at `off`: a whole frame whose checksums verify; a frame whose
// header is intact (format 2: checksummed) but whose payload is damaged or
// cut short — its size and event count are then known; or nothing.
struct Probe {
  enum class Kind { kFrame, kBadPayload, kEnd, kNone } kind = Kind::kNone;
  Frame frame;
};

Probe probe(std::string_view file, std::uint64_t off, const Header& h) {
  std::uint64_t left = file.size() - off;
  const char* p = file.data() + off;
  Probe r;
  Frame& f = r.frame;
  f.offset = off;
  std::uint32_t len = 0, payload_crc = 0;
  std::size_t head = 0;
  if (h.version == 1) {
    if (left < kFrameHeaderSizeV1 || get32(p) != kFrameMagicV1) return r;
    head = kFrameHeaderSizeV1;
    len = get32(p + 4);
    f.count = get32(p + 8);
    payload_crc = get32(p + 12);
    if (h.metadata.tag) f.tag = *h.metadata.tag;
  } else {
    if (file.substr(off, kEndMarker.size()) == kEndMarker) {
      r.kind = Probe::Kind::kEnd;
      return r;
    }
    if (left < kFrameHeaderSize || get32(p) != kFrameMagic) return r;
    std::uint32_t tag_len = get32(p + 4);
    if (tag_len > kMaxTagSize || tag_len > left - kFrameHeaderSize) return r;
    f.tag = file.substr(off + kFrameHeaderSize, tag_len);
    if (crc(f.tag, crc(std::string_view(p + 4, 12))) != get32(p + 16)) return r;
    head = kFrameHeaderSize + tag_len;
    len = get32(p + 8);
    f.count = get32(p + 12);
    payload_crc = get32(p + 20);
  }
  f.size = head + std::uint64_t{len};
  r.kind = Probe::Kind::kBadPayload;
  if (f.size > left) return r;
  f.payload = file.substr(off + head, len);
  if (crc(f.payload) == payload_crc) r.kind = Probe::Kind::kFrame;
  return r;
}

// The next offset after `off` where a frame starts: one whose checksums
// verify, or (format 2) whose checksummed header does, or the end marker.
std::uint64_t resync(std::string_view file, std::uint64_t off, const Header& h) {
  const std::string_view magic = h.version == 1 ? "LGFR" : "LGF";
  for (auto at = file.find(magic, off + 1); at != std::string_view::npos;
       at = file.find(magic, at + 1)) {
    auto kind = probe(file, at, h).kind;
    if (kind == Probe::Kind::kFrame || kind == Probe::Kind::kEnd ||
        (h.version > 1 && kind == Probe::Kind::kBadPayload)) {
      return at;
    }
  }
  return file.size();
}

}  // namespace

Result<Header> decode_header(std::string_view file) {
  if (file.size() < kFixedHeaderSize || file.substr(0, 4) != std::string_view(kMagic, 4)) {
    return make_error(ErrorCode::kCorrupt, "no chunk header");
  }
  Header h;
  h.version = static_cast<std::uint16_t>((static_cast<unsigned char>(file[4]) << 8) |
                                         static_cast<unsigned char>(file[5]));
  if (h.version == 0 || h.version > kChunkFormatVersion) {
    return make_error(ErrorCode::kCorrupt, "format version " + std::to_string(h.version) +
                                               " is not one this agentd reads (1.." +
                                               std::to_string(kChunkFormatVersion) + ")");
  }
  std::uint32_t body_len = get32(file.data() + 6);
  if (body_len > kMaxHeaderBody || kFixedHeaderSize + body_len + 4 > file.size()) {
    return make_error(ErrorCode::kCorrupt, "bad header length");
  }
  h.size = kFixedHeaderSize + body_len + 4;
  if (crc(file.substr(0, kFixedHeaderSize + body_len)) !=
      get32(file.data() + kFixedHeaderSize + body_len)) {
    return make_error(ErrorCode::kCorrupt, "header checksum mismatch");
  }
  auto j = nlohmann::json::parse(file.substr(kFixedHeaderSize, body_len), nullptr, false);
  if (j.is_discarded() || !j.is_object() || !j.contains("id") || !j["id"].is_string()) {
    return make_error(ErrorCode::kCorrupt, "bad header");
  }
  auto m = metadata_of(j);
  if (!m) return std::unexpected(m.error());
  h.metadata = std::move(*m);
  h.id = j["id"].get<std::string>();
  if (j.contains("created_ns") && j["created_ns"].is_number_integer()) {
    h.created_ns = j["created_ns"].get<std::int64_t>();
  }
  return h;
}

Scan scan_frames(std::string_view file, const Header& h) {
  Scan out;
  out.end = file.size();
  std::uint64_t off = h.size;
  while (off < file.size()) {
    auto p = probe(file, off, h);
    if (p.kind == Probe::Kind::kEnd) {
      out.end = off;
      break;
    }
    if (p.kind == Probe::Kind::kFrame) {
      out.frames.push_back(p.frame);
      off += p.frame.size;
      continue;
    }
    Damage d;
    d.offset = off;
    std::uint64_t next;
    if (p.kind == Probe::Kind::kBadPayload) {
      d.records = p.frame.count;
      // A checksummed header's length is trusted; format 1's is not.
      next = h.version == 1 ? resync(file, off, h)
                            : std::min<std::uint64_t>(file.size(), off + p.frame.size);
    } else {
      d.records_known = false;
      next = resync(file, off, h);
    }
    d.size = next - off;
    out.damage.push_back(d);
    off = next;
  }
  return out;
}

}  // namespace chunk_format

namespace {

// Room for one frame, kept between reads: grown as frames need, never
// zero-filled, given back when far larger than the frames it now holds.
struct FrameBuffer {
  std::unique_ptr<char[]> data;
  std::size_t capacity = 0;
  bool in_use = false;
  char* get(std::size_t size) {
    if (size > capacity || capacity > std::max<std::size_t>(4 * size, 64 << 20)) {
      capacity = std::max<std::size_t>(size, 1 << 20);
      data = std::make_unique_for_overwrite<char[]>(capacity);
    }
    return data.get();
  }
};

// The one place a chunk file's name is made: buffer.<state><id><suffix>,
// state b (staged), q (queued) or f (kept for reuse).
std::string chunk_path(const std::string& dir, char state, const std::string& id,
                       const std::string& suffix) {
  return dir + "/buffer." + state + id + suffix;
}

// Written chunk files kept for the next chunks (FileStoreOptions::reuse_files):
// a chunk overwrites a file's pages in the page cache instead of taking fresh
// ones (this VM's kernel spent 1.64 CPU s per GiB on fresh page cache pages,
// 0.04 on overwritten ones: bench/page_cache_probe). Kept files are named
// buffer.f<random id><suffix>: never read as chunks, removed at open and
// close. Thread safety: its own lock (chunks are purged by flush threads).
class ReusePool {
 public:
  ReusePool(std::string dir, std::string suffix, std::size_t capacity)
      : dir_(std::move(dir)), suffix_(std::move(suffix)), capacity_(capacity) {}

  bool has_room() {
    std::lock_guard lock(mu_);
    return !closed_ && paths_.size() < capacity_;
  }
  // Keeps the file at `path` (renamed); false: the caller removes it.
  bool keep(const std::string& path) {
    std::lock_guard lock(mu_);
    if (closed_ || paths_.size() >= capacity_) return false;
    std::string kept = chunk_path(dir_, 'f', new_chunk_id(), suffix_);
    if (!fs::rename(path, kept)) return false;
    paths_.push_back(std::move(kept));
    return true;
  }
  // A kept file's path, or "" when there is none.
  std::string take() {
    std::lock_guard lock(mu_);
    if (paths_.empty()) return {};
    std::string p = std::move(paths_.back());
    paths_.pop_back();
    return p;
  }
  // Removes every kept file; later chunks are deleted when written.
  void close() {
    std::lock_guard lock(mu_);
    closed_ = true;
    for (const auto& p : paths_) (void)fs::remove(p);
    paths_.clear();
  }

 private:
  std::mutex mu_;
  std::string dir_, suffix_;
  std::size_t capacity_;
  std::vector<std::string> paths_;
  bool closed_ = false;
};

class FileChunk final : public Chunk {
 public:
  FileChunk(const chunk_format::Header& h, fs::File file, std::string staged_path,
            std::string queued_path, fs::Sync sync)
      : Chunk(h.id, h.metadata, h.created_ns),
        version_(h.version),
        file_(std::move(file)),
        staged_path_(std::move(staged_path)),
        queued_path_(std::move(queued_path)),
        data_start_(h.size),
        end_(h.size),
        sync_(sync) {}

  // `frames`: where each frame starts, when the file holds nothing else
  // before `end` (no damage was cut): the file can then be reused.
  void set_recovered(std::uint64_t end, std::uint64_t bytes, std::uint64_t records, bool queued,
                     std::optional<std::vector<std::uint64_t>> frames) {
    end_ = end;
    bytes_ = bytes;
    records_ = records;
    queued_ = queued;
    reusable_ = frames.has_value() && frames->size() <= kMaxReusableFrames;
    if (reusable_) frames_ = std::move(*frames);
  }
  void set_pool(std::shared_ptr<ReusePool> pool) { pool_ = std::move(pool); }

  Status append(std::string_view tag, std::string_view entries, std::uint32_t count) override {
    if (version_ != kChunkFormatVersion) {
      return make_error(ErrorCode::kInternal, "append to a recovered chunk " + path());
    }
    if (tag.size() > chunk_format::kMaxTagSize) {
      return make_error(ErrorCode::kInvalidArgument,
                        "tag longer than " + std::to_string(chunk_format::kMaxTagSize) + " bytes");
    }
    std::string header = chunk_format::encode_frame_header(tag, entries, count);
    // The frame and, after it, the end marker (the next frame overwrites it).
    auto s = file_.pwritev_all({header, entries, chunk_format::kEndMarker}, end_);
    if (s && sync_ == fs::Sync::kYes) s = file_.sync();
    if (!s) {
      // Leave the chunk as it was: cut whatever part of the frame got written
      // (and an earlier use's bytes after it: the data ends at the file's end).
      if (auto t = file_.truncate(end_); !t) log::error(t.error().message);
      return s;
    }
    if (reusable_ && frames_.size() < kMaxReusableFrames) {
      frames_.push_back(end_);
    } else if (reusable_) {
      reusable_ = false;  // many tiny frames: retiring each would cost more than it saves
      frames_ = {};
    }
    end_ += header.size() + entries.size();
    bytes_ += entries.size();
    records_ += count;
    return {};
  }

  // Frames were verified at recovery (or written by this process); a frame
  // that does not parse now means the file changed under us.
  Status read(const UnitFn& fn) const override {
    // Frames are read into a buffer of the reading thread's that keeps its
    // capacity (a fresh string per chunk, zero-filled by resize, cost the
    // flush thread a memset and a page fault per 4 KiB of every frame). A
    // read nested in another's callback (an output moving a chunk's events
    // into a store that writes at once) gets buffers of its own.
    thread_local FrameBuffer shared;
    FrameBuffer own;
    FrameBuffer& buffer = shared.in_use ? own : shared;
    buffer.in_use = true;
    struct Release {
      FrameBuffer& b;
      ~Release() { b.in_use = false; }
    } release{buffer};
    const bool v1 = version_ == 1;
    const std::size_t head_size =
        v1 ? chunk_format::kFrameHeaderSizeV1 : chunk_format::kFrameHeaderSize;
    char head[chunk_format::kFrameHeaderSize];
    std::string_view header_tag = metadata_.tag ? std::string_view(*metadata_.tag) : "";
    for (std::uint64_t off = data_start_; off < end_;) {
      auto n = file_.pread(head, head_size, off);
      if (!n) return std::unexpected(n.error());
      std::uint32_t magic = v1 ? chunk_format::kFrameMagicV1 : chunk_format::kFrameMagic;
      if (*n != head_size || get32(head) != magic) {
        return make_error(ErrorCode::kCorrupt, "bad frame header in " + path());
      }
      std::uint32_t tag_len = v1 ? 0 : get32(head + 4);
      std::uint32_t len = get32(head + (v1 ? 4 : 8));
      std::uint64_t body = std::uint64_t{tag_len} + len;
      if (tag_len > chunk_format::kMaxTagSize || off + head_size + body > end_) {
        return make_error(ErrorCode::kCorrupt, "bad frame length in " + path());
      }
      char* frame = buffer.get(body);
      auto m = file_.pread(frame, body, off + head_size);
      if (!m) return std::unexpected(m.error());
      if (*m != body) return make_error(ErrorCode::kCorrupt, "short frame in " + path());
      std::string_view all(frame, body);
      if (auto s = fn(v1 ? header_tag : all.substr(0, tag_len), all.substr(tag_len)); !s) {
        return s;
      }
      off += head_size + body;
    }
    return {};
  }

  Status mark_queued() override {
    if (queued_) return {};
    if (auto s = fs::rename(staged_path_, queued_path_); !s) return s;
    queued_ = true;
    return {};
  }

  // A written chunk's file is kept for reuse when the pool has room, after
  // its frames are retired; otherwise removed.
  Status purge() override {
    if (pool_ && reusable_ && pool_->has_room() && retire()) {
      file_.close();
      if (pool_->keep(path())) return {};
    }
    file_.close();
    return fs::remove(path());
  }

 private:
  static constexpr std::size_t kMaxReusableFrames = 1 << 16;

  // Zeroes the magic of every frame this chunk holds: no reader — this
  // version stopping at the end marker, or an older one resynchronising past
  // it (docs/chunk-format.md) — takes them for frames of the file's next use.
  bool retire() {
    static constexpr char kZero[4] = {};
    for (std::uint64_t off : frames_) {
      if (!file_.pwritev_all({std::string_view(kZero, 4)}, off)) return false;
    }
    return sync_ == fs::Sync::kNo || file_.sync().has_value();
  }

  const std::string& path() const { return queued_ ? queued_path_ : staged_path_; }

  std::uint16_t version_;
  fs::File file_;
  std::string staged_path_;
  std::string queued_path_;
  std::uint64_t data_start_;
  std::uint64_t end_;
  fs::Sync sync_;
  bool queued_ = false;
  bool reusable_ = true;
  std::vector<std::uint64_t> frames_;  // offsets, while reusable_
  std::shared_ptr<ReusePool> pool_;
};

class FileStore final : public ChunkStore {
 public:
  explicit FileStore(FileStoreOptions o) : o_(std::move(o)) {}

  Status open() override {
    if (auto s = fs::ensure_private_dir(o_.dir, o_.dir_mode); !s) return s;
    auto f = fs::lock_file(o_.dir + "/buffer.lock", "buffer directory " + o_.dir);
    if (!f) {
      if (f.error().code != ErrorCode::kAlreadyExists) return std::unexpected(f.error());
      return make_error(ErrorCode::kAlreadyExists,
                        f.error().message + "; two processes must never share a buffer path");
    }
    lock_ = std::move(*f);
    // Files kept for reuse by an earlier owner: their frames may not all be
    // retired (a crash), so they are not reused.
    auto names = fs::list_dir(o_.dir);
    if (!names) return std::unexpected(names.error());
    for (const auto& name : *names) {
      if (state_of(name) == 'f') (void)fs::remove(o_.dir + "/" + name);
    }
    if (o_.reuse_files > 0) {
      pool_ = std::make_shared<ReusePool>(o_.dir, o_.path_suffix, o_.reuse_files);
    }
    return {};
  }

  Result<std::unique_ptr<Chunk>> create(const ChunkMetadata& m, std::int64_t now_ns) override {
    std::string id = new_chunk_id();
    std::string staged = path_for('b', id), queued = path_for('q', id);
    std::string header = chunk_format::encode_header(id, m, now_ns);
    auto f = reuse(staged, header);
    if (!f) {
      f = fs::File::open(staged, O_RDWR | O_CREAT | O_EXCL, o_.file_mode);
      if (!f) return std::unexpected(f.error());
      if (auto s = f->pwritev_all({header, chunk_format::kEndMarker}, 0); !s) {
        f->close();
        (void)fs::remove(staged);
        return std::unexpected(s.error());
      }
    }
    chunk_format::Header h{kChunkFormatVersion, header.size(), id, now_ns, m};
    auto chunk = std::make_unique<FileChunk>(h, std::move(*f), staged, queued, o_.sync);
    chunk->set_pool(pool_);
    return chunk;
  }

  Result<Recovered> recover() override;

  void close() override {
    if (pool_) pool_->close();
    lock_.close();
  }
  bool persistent() const override { return true; }

 private:
  std::string path_for(char state, const std::string& id) const {
    return chunk_path(o_.dir, state, id, o_.path_suffix);
  }
  // The state letter of a name path_for makes (b, q, or f: kept for reuse),
  // or 0 for any other name.
  char state_of(const std::string& name) const {
    bool ours = name.size() == 7 + 1 + 32 + o_.path_suffix.size() &&
                name.rfind("buffer.", 0) == 0 && name.ends_with(o_.path_suffix);
    return ours ? name[7] : 0;
  }
  // A kept file made the chunk at `staged`: the new header and the end
  // marker written at its start while it still has its kept name (a crash
  // leaves a kept file, removed at the next open), then renamed.
  Result<fs::File> reuse(const std::string& staged, std::string_view header) {
    std::string kept = pool_ ? pool_->take() : std::string();
    if (kept.empty()) return make_error(ErrorCode::kNotFound, "no file kept for reuse");
    auto f = fs::File::open(kept, O_RDWR);
    Status s = f ? f->pwritev_all({header, chunk_format::kEndMarker}, 0)
                 : Status(std::unexpected(f.error()));
    if (s) s = fs::rename(kept, staged);
    if (!s) {
      log::warn("buffer " + o_.dir + ": cannot reuse " + kept + " (" + s.error().message +
                "); a new file is created");
      (void)fs::remove(kept);
      return std::unexpected(s.error());
    }
    return fs::File(f->release(), staged);
  }
  void recover_one(const std::string& name, Recovered& out);
  Status cut_damage(const std::string& path, std::string_view file, const chunk_format::Header& h,
                    const chunk_format::Scan& scan);

  FileStoreOptions o_;
  fs::File lock_;
  std::shared_ptr<ReusePool> pool_;
};

// Rewrites `path` with only its valid frames and keeps the damaged bytes in
// path.corrupt for inspection. A torn tail alone (a crash mid-append) is just
// cut off.
Status FileStore::cut_damage(const std::string& path, std::string_view file,
                             const chunk_format::Header& h, const chunk_format::Scan& scan) {
  const auto& last = scan.damage.back();
  bool tail_only = scan.damage.size() == 1 && last.offset + last.size == file.size();
  if (tail_only) {
    auto f = fs::File::open(path, O_RDWR);
    if (!f) return std::unexpected(f.error());
    return f->truncate(last.offset);
  }
  std::string bad, good(file.substr(0, h.size));
  for (const auto& d : scan.damage) bad += file.substr(d.offset, d.size);
  for (const auto& fr : scan.frames) good += file.substr(fr.offset, fr.size);
  if (auto s = fs::write_file_atomic(path + ".corrupt", bad, fs::Sync::kYes, o_.file_mode); !s) {
    return s;
  }
  return fs::write_file_atomic(path, good, fs::Sync::kYes, o_.file_mode);
}

void FileStore::recover_one(const std::string& name, Recovered& out) {
  std::string path = o_.dir + "/" + name;
  auto quarantine = [&](const std::string& why) {
    ++out.corrupt_chunks;
    log::error("buffer chunk " + path + " is unreadable (" + why + "); moved to " + path +
               ".corrupt");
    (void)fs::rename(path, path + ".corrupt");
  };
  auto f = fs::File::open(path, O_RDONLY);
  if (!f) return quarantine(f.error().message);
  auto map = fs::Mapping::of(*f);
  if (!map) return quarantine(map.error().message);
  std::string_view file = map->view();
  auto h = chunk_format::decode_header(file);
  if (!h) return quarantine(h.error().message);
  auto scan = chunk_format::scan_frames(file, *h);
  std::uint64_t bytes = 0, records = 0, end = h->size;
  std::vector<std::uint64_t> offsets;
  for (const auto& fr : scan.frames) {
    bytes += fr.payload.size();
    records += fr.count;
    end += fr.size;
    offsets.push_back(fr.offset);
  }
  if (!scan.damage.empty()) {
    std::uint64_t lost_bytes = 0, lost_records = 0;
    bool known = true;
    for (const auto& d : scan.damage) {
      lost_bytes += d.size;
      lost_records += d.records;
      known = known && d.records_known;
    }
    out.torn_frames += scan.damage.size();
    out.torn_records += lost_records;
    out.torn_bytes += lost_bytes;
    auto cut = cut_damage(path, file, *h, scan);
    log::warn("buffer chunk " + path + ": " + std::to_string(scan.damage.size()) +
              " damaged or torn region(s) at offset " + std::to_string(scan.damage[0].offset) +
              ", " + std::to_string(lost_bytes) + " bytes, " +
              (known          ? std::to_string(lost_records)
               : lost_records ? "at least " + std::to_string(lost_records)
                              : std::string("an unknown number of")) +
              " event(s) lost; " + std::to_string(scan.frames.size()) + " frame(s) kept" +
              (cut ? "" : "; could not rewrite: " + cut.error().message));
    if (!cut) return quarantine(cut.error().message);
  }
  auto rw = fs::File::open(path, O_RDWR);
  if (!rw) return quarantine(rw.error().message);
  bool queued = name[7] == 'q';
  std::string file_id = name.substr(8, 32);  // the name decides the paths, not the header
  auto chunk = std::make_unique<FileChunk>(*h, std::move(*rw), path_for('b', file_id),
                                           path_for('q', file_id), o_.sync);
  // A file whose damage was cut was rewritten: the scan's offsets are stale.
  bool whole = scan.damage.empty() && h->version == kChunkFormatVersion;
  chunk->set_recovered(end, bytes, records, queued,
                       whole ? std::optional(std::move(offsets)) : std::nullopt);
  chunk->set_pool(pool_);
  out.chunks.push_back(std::move(chunk));
}

Result<ChunkStore::Recovered> FileStore::recover() {
  Recovered out;
  auto names = fs::list_dir(o_.dir);
  if (!names) return std::unexpected(names.error());
  for (const auto& name : *names) {
    if (char st = state_of(name); st == 'b' || st == 'q') recover_one(name, out);
  }
  std::sort(out.chunks.begin(), out.chunks.end(),
            [](const auto& a, const auto& b) { return a->created_ns() < b->created_ns(); });
  return out;
}

}  // namespace

std::unique_ptr<ChunkStore> make_file_store(FileStoreOptions options) {
  return std::make_unique<FileStore>(std::move(options));
}

}  // namespace logctl::agentd
