#include "agentd/buffer/file_chunk.h"

#include <fcntl.h>
#include <unistd.h>
#include <zlib.h>

#include <nlohmann/json.hpp>

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
std::uint32_t crc(std::string_view s) {
  return static_cast<std::uint32_t>(
      crc32(0, reinterpret_cast<const Bytef*>(s.data()), static_cast<uInt>(s.size())));
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

std::string encode_frame_header(std::string_view payload, std::uint32_t count) {
  std::string h;
  put32(h, kFrameMagic);
  put32(h, static_cast<std::uint32_t>(payload.size()));
  put32(h, count);
  put32(h, crc(payload));
  return h;
}

}  // namespace chunk_format

namespace {

class FileChunk final : public Chunk {
 public:
  FileChunk(std::string id, ChunkMetadata m, std::int64_t created_ns, fs::File file,
            std::string staged_path, std::string queued_path, std::uint64_t data_start,
            fs::Sync sync)
      : Chunk(std::move(id), std::move(m), created_ns),
        file_(std::move(file)),
        staged_path_(std::move(staged_path)),
        queued_path_(std::move(queued_path)),
        data_start_(data_start),
        end_(data_start),
        sync_(sync) {}

  void set_recovered(std::uint64_t end, std::uint64_t bytes, std::uint64_t records, bool queued) {
    end_ = end;
    bytes_ = bytes;
    records_ = records;
    queued_ = queued;
  }

  Status append(std::string_view entries, std::uint32_t count) override {
    std::string header = chunk_format::encode_frame_header(entries, count);
    auto s = file_.writev_all(header, entries);
    if (s && sync_ == fs::Sync::kYes) s = file_.sync();
    if (!s) {
      // Leave the chunk as it was: cut whatever part of the frame got written.
      if (auto t = file_.truncate(end_); !t) log::error(t.error().message);
      return s;
    }
    end_ += header.size() + entries.size();
    bytes_ += entries.size();
    records_ += count;
    return {};
  }

  Status read(const std::function<Status(std::string_view)>& fn) const override {
    std::string frame;
    char head[chunk_format::kFrameHeaderSize];
    for (std::uint64_t off = data_start_; off < end_;) {
      auto n = file_.pread(head, sizeof head, off);
      if (!n) return std::unexpected(n.error());
      if (*n != sizeof head || get32(head) != chunk_format::kFrameMagic) {
        return make_error(ErrorCode::kCorrupt, "bad frame header in " + path());
      }
      std::uint32_t len = get32(head + 4);
      frame.resize(len);
      auto m = file_.pread(frame.data(), len, off + sizeof head);
      if (!m) return std::unexpected(m.error());
      if (*m != len) return make_error(ErrorCode::kCorrupt, "short frame in " + path());
      if (auto s = fn(frame); !s) return s;
      off += sizeof head + len;
    }
    return {};
  }

  Status mark_queued() override {
    if (queued_) return {};
    if (auto s = fs::rename(staged_path_, queued_path_); !s) return s;
    queued_ = true;
    return {};
  }

  Status purge() override {
    file_.close();
    return fs::remove(path());
  }

 private:
  const std::string& path() const { return queued_ ? queued_path_ : staged_path_; }

  fs::File file_;
  std::string staged_path_;
  std::string queued_path_;
  std::uint64_t data_start_;
  std::uint64_t end_;
  fs::Sync sync_;
  bool queued_ = false;
};

class FileStore final : public ChunkStore {
 public:
  explicit FileStore(FileStoreOptions o) : o_(std::move(o)) {}

  Status open() override {
    if (auto s = fs::mkdir_p(o_.dir, o_.dir_mode); !s) return s;
    std::string lock_path = o_.dir + "/buffer.lock";
    auto f = fs::File::open(lock_path, O_RDWR | O_CREAT, 0644);
    if (!f) return std::unexpected(f.error());
    if (auto s = f->lock_exclusive(); !s) {
      auto holder = fs::read_file(lock_path);
      return make_error(ErrorCode::kAlreadyExists,
                        "buffer directory " + o_.dir + " is in use by another process (pid " +
                            (holder ? *holder : std::string("?")) +
                            "); two processes must never share a buffer path");
    }
    (void)f->truncate(0);
    (void)f->write_all(std::to_string(::getpid()));
    lock_ = std::move(*f);
    return {};
  }

  Result<std::unique_ptr<Chunk>> create(const ChunkMetadata& m, std::int64_t now_ns) override {
    std::string id = new_chunk_id();
    std::string staged = path_for('b', id), queued = path_for('q', id);
    auto f = fs::File::open(staged, O_RDWR | O_CREAT | O_EXCL | O_APPEND, o_.file_mode);
    if (!f) return std::unexpected(f.error());
    std::string header = chunk_format::encode_header(id, m, now_ns);
    if (auto s = f->write_all(header); !s) {
      f->close();
      (void)fs::remove(staged);
      return std::unexpected(s.error());
    }
    return std::make_unique<FileChunk>(id, m, now_ns, std::move(*f), staged, queued, header.size(),
                                       o_.sync);
  }

  Result<Recovered> recover() override;

  void close() override { lock_.close(); }
  bool persistent() const override { return true; }

 private:
  std::string path_for(char state, const std::string& id) const {
    return o_.dir + "/buffer." + state + id + o_.path_suffix;
  }
  void recover_one(const std::string& name, Recovered& out);

  FileStoreOptions o_;
  fs::File lock_;
};

void FileStore::recover_one(const std::string& name, Recovered& out) {
  std::string path = o_.dir + "/" + name;
  auto quarantine = [&](const std::string& why) {
    ++out.corrupt_chunks;
    log::error("buffer chunk " + path + " is unreadable (" + why + "); moved to " + path +
               ".corrupt");
    (void)fs::rename(path, path + ".corrupt");
  };
  auto f = fs::File::open(path, O_RDWR | O_APPEND);
  if (!f) return quarantine(f.error().message);
  auto size = f->size();
  if (!size) return quarantine(size.error().message);
  char fixed[10];
  auto n = f->pread(fixed, sizeof fixed, 0);
  if (!n || *n != sizeof fixed ||
      std::string_view(fixed, 4) != std::string_view(chunk_format::kMagic, 4)) {
    return quarantine("no chunk header");
  }
  std::uint16_t version = static_cast<std::uint16_t>((static_cast<unsigned char>(fixed[4]) << 8) |
                                                     static_cast<unsigned char>(fixed[5]));
  if (version > kChunkFormatVersion) {
    return quarantine("format version " + std::to_string(version) + " is newer than " +
                      std::to_string(kChunkFormatVersion));
  }
  std::uint32_t body_len = get32(fixed + 6);
  if (body_len > 1 << 20 || 10 + body_len + 4 > *size) return quarantine("bad header length");
  std::string head(10 + body_len + 4, '\0');
  if (auto r = f->pread(head.data(), head.size(), 0); !r || *r != head.size()) {
    return quarantine("short header");
  }
  if (crc(std::string_view(head).substr(0, 10 + body_len)) != get32(head.data() + 10 + body_len)) {
    return quarantine("header checksum mismatch");
  }
  auto j = nlohmann::json::parse(head.substr(10, body_len), nullptr, false);
  if (j.is_discarded() || !j.is_object() || !j.contains("id")) return quarantine("bad header");
  ChunkMetadata m;
  if (j.contains("timekey")) m.timekey = j["timekey"].get<std::int64_t>();
  if (j.contains("tag")) m.tag = j["tag"].get<std::string>();
  if (j.contains("variables")) {
    for (const auto& kv : j["variables"]) m.variables.emplace_back(kv[0], kv[1]);
  }
  // Walk the frames; the first incomplete or mismatching frame ends the chunk.
  std::uint64_t off = head.size(), bytes = 0, records = 0;
  std::string payload;
  char fh[chunk_format::kFrameHeaderSize];
  while (off < *size) {
    auto r = f->pread(fh, sizeof fh, off);
    bool ok = r && *r == sizeof fh && get32(fh) == chunk_format::kFrameMagic;
    std::uint32_t len = ok ? get32(fh + 4) : 0;
    ok = ok && off + sizeof fh + len <= *size;
    if (ok) {
      payload.resize(len);
      auto p = f->pread(payload.data(), len, off + sizeof fh);
      ok = p && *p == len && crc(payload) == get32(fh + 12);
    }
    if (!ok) {
      ++out.torn_frames;
      if (r && *r == sizeof fh && get32(fh) == chunk_format::kFrameMagic) {
        out.torn_records += get32(fh + 8);
      }
      log::warn("buffer chunk " + path + ": torn frame at offset " + std::to_string(off) + " (" +
                std::to_string(*size - off) + " bytes) discarded");
      (void)f->truncate(off);
      break;
    }
    off += sizeof fh + len;
    bytes += len;
    records += get32(fh + 8);
  }
  std::string id = j["id"];
  bool queued = name[7] == 'q';
  auto chunk =
      std::make_unique<FileChunk>(id, m, j.value("created_ns", std::int64_t{0}), std::move(*f),
                                  path_for('b', id), path_for('q', id), head.size(), o_.sync);
  chunk->set_recovered(off, bytes, records, queued);
  out.chunks.push_back(std::move(chunk));
}

Result<ChunkStore::Recovered> FileStore::recover() {
  Recovered out;
  auto names = fs::list_dir(o_.dir);
  if (!names) return std::unexpected(names.error());
  for (const auto& name : *names) {
    bool is_chunk = name.size() == 7 + 1 + 32 + o_.path_suffix.size() &&
                    name.rfind("buffer.", 0) == 0 && (name[7] == 'b' || name[7] == 'q') &&
                    name.ends_with(o_.path_suffix);
    if (is_chunk) recover_one(name, out);
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
