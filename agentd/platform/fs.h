// The platform seam for files: every syscall whose failure matters for
// correctness (write, fsync, rename, flock, truncate) goes through here, and
// errno becomes an Error naming the operation and the path in one place.
// Thread safety: File is not shared between threads without external locking;
// the free functions are reentrant.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <initializer_list>
#include <string>
#include <string_view>
#include <vector>

#include "logctl/schema/result.h"

namespace logctl::agentd::fs {

// Converts errno after a failed call: "write /var/buf/x.log: No space left on device".
Error errno_error(const std::string& op, const std::string& path, int err);

enum class Sync { kYes, kNo };
// Whether open() may follow a symlink in the last path component. Everything
// agentd creates or writes is opened with kNo (O_NOFOLLOW): a link planted by
// another user in a directory agentd writes must never redirect root's writes.
enum class Follow { kNo, kYes };

class File {
 public:
  File() = default;
  File(int fd, std::string path) : fd_(fd), path_(std::move(path)) {}
  File(File&& o) noexcept : fd_(o.fd_), path_(std::move(o.path_)) { o.fd_ = -1; }
  File& operator=(File&& o) noexcept;
  File(const File&) = delete;
  File& operator=(const File&) = delete;
  ~File() { close(); }

  static Result<File> open(const std::string& path, int flags, mode_t mode = 0600,
                           Follow follow = Follow::kNo);

  bool valid() const { return fd_ >= 0; }
  int fd() const { return fd_; }
  const std::string& path() const { return path_; }

  Status write_all(std::string_view data);
  // The parts (at most 4), one after another from `offset`, with pwritev:
  // the file must not be O_APPEND.
  Status pwritev_all(std::initializer_list<std::string_view> parts, std::uint64_t offset);
  // Reads up to n bytes at offset; returns bytes read (short only at EOF).
  Result<std::size_t> pread(char* buf, std::size_t n, std::uint64_t offset) const;
  Status sync();
  Status truncate(std::uint64_t size);
  Result<std::uint64_t> size() const;
  // Non-blocking exclusive flock; kAlreadyExists when another process holds it.
  Status lock_exclusive();
  void close();
  // Gives up ownership: returns the fd and leaves this File empty.
  int release() {
    int fd = fd_;
    fd_ = -1;
    return fd;
  }

 private:
  int fd_ = -1;
  std::string path_;
};

Status mkdir_p(const std::string& path, mode_t mode = 0755);
// Checks a directory agentd keeps private state in (root dir, buffer, spool,
// pos file directory): it must be a real directory (not a symlink), owned by
// agentd's effective user, not writable by group or others, and every
// ancestor must be owned by root or that user and not writable by others
// unless sticky (/tmp). The error names the directory and the rule broken.
Status check_private_dir(const std::string& path);
// Opens `path` (absolute) walking it one component at a time with openat:
// missing directories are created with `dir_mode`; a symlinked directory is
// followed only when root or agentd's user owns the link (a link another
// user planted in a shared directory never redirects the open); the last
// component is opened O_NOFOLLOW. For files in directories others can write
// (output paths).
Result<File> open_in_shared_tree(const std::string& path, int flags, mode_t mode, mode_t dir_mode);
// A binary agentd may run as root (upgrade --binary): an absolute path whose
// real path is a regular executable file owned by root or agentd's user, not
// writable by group or others, in a directory with the same properties.
// Returns the resolved real path; the error names the rule broken.
Result<std::string> check_trusted_executable(const std::string& path);
// An exclusive lock on `path` (created 0600, O_NOFOLLOW) held while the
// returned File is open; kAlreadyExists names the holder's pid.
Result<File> lock_file(const std::string& path, const std::string& what);
// mkdir_p with `mode`, then check_private_dir.
Status ensure_private_dir(const std::string& path, mode_t mode = 0750);
Status rename(const std::string& from, const std::string& to);
Status remove(const std::string& path);
Status sync_dir(const std::string& dir);
Result<std::vector<std::string>> list_dir(const std::string& dir);  // names, sorted
Result<std::string> read_file(const std::string& path, Follow follow = Follow::kNo);
// An anonymous in-memory file (memfd) holding `data`, to pass bytes along with
// a descriptor (SCM_RIGHTS, execve). The caller owns the fd.
enum class Inherit { kNo, kYes };  // kYes: survives execve (no FD_CLOEXEC)
Result<int> memfd_with(const std::string& name, std::string_view data, Inherit inherit);
// The whole content of an open file, read from offset 0 (the fd stays open).
Result<std::string> read_all(int fd, const std::string& what);
// Writes to a new path.tmp (O_EXCL | O_NOFOLLOW: a stale or planted one is
// unlinked first, never written through), then renames over path: readers see
// old or new, never half. New files get `mode`.
Status write_file_atomic(const std::string& path, std::string_view data, Sync sync,
                         mode_t mode = 0640);
// A read-only view of a whole open file (mmap; empty for an empty file).
class Mapping {
 public:
  Mapping() = default;
  Mapping(Mapping&& o) noexcept : data_(o.data_), size_(o.size_) { o.data_ = nullptr; }
  Mapping(const Mapping&) = delete;
  Mapping& operator=(const Mapping&) = delete;
  Mapping& operator=(Mapping&&) = delete;
  ~Mapping();
  static Result<Mapping> of(const File& f);
  std::string_view view() const { return {static_cast<const char*>(data_), size_}; }

 private:
  void* data_ = nullptr;
  std::size_t size_ = 0;
};
bool exists(const std::string& path);

}  // namespace logctl::agentd::fs
