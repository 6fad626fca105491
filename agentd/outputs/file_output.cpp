#include "agentd/outputs/file_output.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include <atomic>
#include <cerrno>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <mutex>
#include <optional>
#include <string_view>

#include "agentd/core/log.h"
#include "agentd/core/msgpack_view.h"
#include "agentd/outputs/formatter.h"
#include "agentd/outputs/path_template.h"
#include "agentd/outputs/write_behind.h"
#include "agentd/platform/fs.h"

namespace logctl::agentd {
namespace {

constexpr std::size_t kFlushBytes = 1 << 20;

// Where formatted bytes go: the file directly or through gzip.
class Sink {
 public:
  Sink(fs::File& f, bool gzip) : f_(f), gzip_(gzip) {
    if (gzip_) {
      std::memset(&z_, 0, sizeof z_);
      deflateInit2(&z_, Z_DEFAULT_COMPRESSION, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY);
    }
  }
  ~Sink() {
    if (gzip_) deflateEnd(&z_);
  }
  Status write(std::string_view data) {
    return gzip_ ? deflate_some(data, Z_NO_FLUSH) : f_.write_all(data);
  }
  Status finish() { return gzip_ ? deflate_some({}, Z_FINISH) : Status{}; }

 private:
  Status deflate_some(std::string_view data, int mode) {
    z_.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data.data()));
    z_.avail_in = static_cast<uInt>(data.size());
    char out[65536];
    int rc;
    do {
      z_.next_out = reinterpret_cast<Bytef*>(out);
      z_.avail_out = sizeof out;
      rc = deflate(&z_, mode);
      if (rc == Z_STREAM_ERROR) return make_error(ErrorCode::kInternal, "gzip stream error");
      if (auto s = f_.write_all({out, sizeof out - z_.avail_out}); !s) return s;
    } while (z_.avail_out == 0 || (mode == Z_FINISH && rc != Z_STREAM_END));
    return {};
  }
  fs::File& f_;
  bool gzip_;
  z_stream z_{};
};

// Formats every event of the chunk into the sink, through a buffer of the
// flush thread's that keeps its capacity from chunk to chunk (a fresh one per
// chunk page-faulted its megabyte in every time: 5 % of the worker's time).
Status write_chunk(const Chunk& chunk, Formatter& fmt, Sink& sink) {
  thread_local std::string buf;
  buf.clear();
  if (buf.capacity() > 4 * kFlushBytes) buf = std::string();  // a huge event grew it
  buf.reserve(kFlushBytes + 65536);
  auto s = chunk.read([&](std::string_view tag, std::string_view unit) -> Status {
    auto r = for_each_entry(
        unit, [&](EventTime t, std::string_view rec) { fmt.format(buf, tag, t, rec); });
    if (!r) return r;
    if (buf.size() >= kFlushBytes) {
      if (auto w = sink.write(buf); !w) return w;
      buf.clear();
    }
    return {};
  });
  if (!s) return s;
  if (auto w = sink.write(buf); !w) return w;
  return sink.finish();
}

// Two processes append to one file during a handover: memory-buffered
// outputs of the old generation deliver until switch-over, the new one's from
// activate. Each append (and each chunk to stdout) holds an exclusive flock on
// one of 64 lock files in `dir` — agentd's data directory, where no other
// user can take one — picked by the target's name, so two appends to a file
// never interleave (the writes of one chunk are several, and gzip members
// must stay whole) and a failed append truncates only its own bytes. Opened
// afresh each time: threads of one process exclude each other too. Without a
// data directory (no handover), or when the lock file cannot be had, appends
// go on unlocked, as within one process they always could.
class AppendLock {
 public:
  AppendLock(const std::string& dir, std::string_view target) {
    if (dir.empty()) return;
    std::uint64_t h = 14695981039346656037ull;  // FNV-1a: the same in every agentd build
    for (unsigned char c : target) h = (h ^ c) * 1099511628211ull;
    std::string path = dir + "/append-" + std::to_string(h % 64);
    constexpr int kFlags = O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC;
    fd_ = ::open(path.c_str(), kFlags, 0600);
    if (fd_ < 0 && errno == ENOENT && (::mkdir(dir.c_str(), 0700) == 0 || errno == EEXIST)) {
      fd_ = ::open(path.c_str(), kFlags, 0600);  // (another thread may have made the dir)
    }
    int err = errno;
    if (fd_ >= 0 && ::flock(fd_, LOCK_EX) != 0) {
      err = errno;
      ::close(fd_);
      fd_ = -1;
    }
    if (fd_ < 0 && !warned_.exchange(true)) {
      log::warn("appends go unlocked: " + fs::errno_error("lock", path, err).message);
    }
  }
  ~AppendLock() {
    if (fd_ >= 0) ::close(fd_);  // releases the flock
  }
  AppendLock(const AppendLock&) = delete;
  AppendLock& operator=(const AppendLock&) = delete;

 private:
  int fd_ = -1;
  static inline std::atomic<bool> warned_{false};
};

struct Modes {
  mode_t file = 0640;  // file_permission
  mode_t dir = 0750;   // dir_permission
};

// Output directories may be shared with other users: no link they planted
// (as a directory or the file) is followed.
Result<fs::File> open_output(const std::string& path, int flags, const Modes& modes) {
  std::string abs = path;
  if (!abs.empty() && abs[0] != '/') abs = std::filesystem::absolute(path).string();
  return fs::open_in_shared_tree(abs, flags, modes.file, modes.dir);
}

mode_t octal_or(const std::string& text, mode_t fallback) {
  if (text.empty()) return fallback;
  return static_cast<mode_t>(std::strtoul(text.c_str(), nullptr, 8) & 07777);
}

class FileOutput final : public Output {
 public:
  FileOutput(PathTemplate t, const config::Section& format, bool append, bool gzip, Modes modes,
             std::string lock_dir, std::uint64_t write_behind)
      : template_(std::move(t)),
        format_(format),
        append_(append),
        gzip_(gzip),
        modes_(modes),
        lock_dir_(std::move(lock_dir)),
        behind_(write_behind) {}

  Status write(const Chunk& chunk) override {
    auto fmt = make_formatter(format_);
    return append_ ? write_append(chunk, *fmt) : write_new(chunk, *fmt);
  }

 private:
  Status write_new(const Chunk& chunk, Formatter& fmt) {
    for (int i = 0; i < 1'000'000; ++i) {
      std::string path = template_.render(chunk, i);
      auto f = open_output(path, O_WRONLY | O_CREAT | O_EXCL, modes_);
      if (!f && f.error().code == ErrorCode::kAlreadyExists) continue;
      if (!f) return std::unexpected(f.error());
      Sink sink(*f, gzip_);
      if (auto s = write_chunk(chunk, fmt, sink); !s) {
        f->close();
        (void)fs::remove(path);
        return s;
      }
      behind_.written(*f, 0);
      return {};
    }
    return make_error(ErrorCode::kResourceExhausted,
                      "no free file name for " + template_.pattern());
  }

  Status write_append(const Chunk& chunk, Formatter& fmt) {
    std::lock_guard lock(append_mu_);
    std::string path = template_.render(chunk, 0);
    AppendLock across(lock_dir_, path);
    auto f = open_output(path, O_WRONLY | O_CREAT | O_APPEND, modes_);
    if (!f) return std::unexpected(f.error());
    auto before = f->size();
    if (!before) return std::unexpected(before.error());
    Sink sink(*f, gzip_);
    if (auto s = write_chunk(chunk, fmt, sink); !s) {
      (void)f->truncate(*before);  // no half chunk stays behind for the retry to duplicate
      return s;
    }
    behind_.written(*f, *before);  // (still under the append lock: the end is ours)
    return {};
  }

  PathTemplate template_;
  const config::Section& format_;
  bool append_, gzip_;
  Modes modes_;
  std::string lock_dir_;
  std::mutex append_mu_;
  WriteBehind behind_;
};

class SecondaryFileOutput final : public Output {
 public:
  SecondaryFileOutput(const config::Section& s, std::string lock_dir)
      : dir_(s.str("directory")),
        basename_(s.str("basename")),
        append_(s.flag("append")),
        lock_dir_(std::move(lock_dir)) {}
  Status write(const Chunk& chunk) override {
    if (auto s = fs::mkdir_p(dir_, 0750); !s) return s;
    std::string base = basename_;
    if (auto p = base.find("${chunk_id}"); p != std::string::npos) base.replace(p, 11, chunk.id());
    std::lock_guard lock(mu_);
    for (int i = 0;; ++i) {
      std::string path = dir_ + "/" + base + (append_ ? "" : "." + std::to_string(i));
      std::optional<AppendLock> across;
      if (append_) across.emplace(lock_dir_, path);
      int flags = O_WRONLY | O_CREAT | (append_ ? O_APPEND : O_EXCL);
      auto f = fs::File::open(path, flags, 0640);
      if (!f && f.error().code == ErrorCode::kAlreadyExists) continue;
      if (!f) return std::unexpected(f.error());
      // Raw MessagePack entries, readable by Fluentd's tools for dumped chunks.
      return chunk.read(
          [&](std::string_view, std::string_view unit) { return f->write_all(unit); });
    }
  }

 private:
  std::string dir_, basename_;
  bool append_;
  std::string lock_dir_;
  std::mutex mu_;
};

class StdoutOutput final : public Output {
 public:
  StdoutOutput(const config::Section& format, std::string lock_dir)
      : format_(format), lock_dir_(std::move(lock_dir)) {}
  Status write(const Chunk& chunk) override {
    auto fmt = make_formatter(format_);
    fs::File out(::dup(STDOUT_FILENO), "stdout");
    std::lock_guard lock(mu_);
    AppendLock across(lock_dir_, "<stdout>");
    Sink sink(out, false);
    return write_chunk(chunk, *fmt, sink);
  }

 private:
  const config::Section& format_;
  std::string lock_dir_;
  std::mutex mu_;
};

class NullOutput final : public Output {
 public:
  Status write(const Chunk&) override { return {}; }
};

}  // namespace

Result<std::unique_ptr<Output>> make_file_output(const config::Section& s, const ChunkKeys& keys,
                                                 std::int64_t timekey, bool timekey_utc,
                                                 const std::string& lock_dir) {
  if (s.is_set("symlink_path")) {
    return make_error(ErrorCode::kInvalidArgument,
                      s.where().str() + ": symlink_path is not supported");
  }
  PathTemplateOptions o;
  o.path = s.str("path");
  o.append = s.flag("append");
  o.suffix = s.flag("add_path_suffix") ? s.str("path_suffix") : "";
  o.gzip = s.str("compress") != "text";
  o.keys = &keys;
  o.timekey = timekey;
  o.utc = timekey_utc;
  auto t = PathTemplate::make(o);
  if (!t)
    return make_error(ErrorCode::kInvalidArgument, s.where().str() + ": " + t.error().message);
  Modes modes{octal_or(s.str("file_permission"), 0640), octal_or(s.str("dir_permission"), 0750)};
  return std::make_unique<FileOutput>(std::move(*t), *s.child("format"), o.append, o.gzip, modes,
                                      lock_dir, s.size("write_behind"));
}

Result<std::unique_ptr<Output>> make_secondary_file_output(const config::Section& s,
                                                           const std::string& lock_dir) {
  return std::make_unique<SecondaryFileOutput>(s, lock_dir);
}

std::unique_ptr<Output> make_stdout_output(const config::Section& s, const std::string& lock_dir) {
  return std::make_unique<StdoutOutput>(*s.child("format"), lock_dir);
}

std::unique_ptr<Output> make_null_output() {
  return std::make_unique<NullOutput>();
}

}  // namespace logctl::agentd
