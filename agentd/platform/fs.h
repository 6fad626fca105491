// The platform seam for files: every syscall whose failure matters for
// correctness (write, fsync, rename, flock, truncate) goes through here, and
// errno becomes an Error naming the operation and the path in one place.
// Thread safety: File is not shared between threads without external locking;
// the free functions are reentrant.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "logctl/schema/result.h"

namespace logctl::agentd::fs {

// Converts errno after a failed call: "write /var/buf/x.log: No space left on device".
Error errno_error(const std::string& op, const std::string& path, int err);

enum class Sync { kYes, kNo };

class File {
 public:
  File() = default;
  File(int fd, std::string path) : fd_(fd), path_(std::move(path)) {}
  File(File&& o) noexcept : fd_(o.fd_), path_(std::move(o.path_)) { o.fd_ = -1; }
  File& operator=(File&& o) noexcept;
  File(const File&) = delete;
  File& operator=(const File&) = delete;
  ~File() { close(); }

  static Result<File> open(const std::string& path, int flags, mode_t mode = 0644);

  bool valid() const { return fd_ >= 0; }
  int fd() const { return fd_; }
  const std::string& path() const { return path_; }

  Status write_all(std::string_view data);
  Status writev_all(std::string_view a, std::string_view b);
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
Status rename(const std::string& from, const std::string& to);
Status remove(const std::string& path);
Status sync_dir(const std::string& dir);
Result<std::vector<std::string>> list_dir(const std::string& dir);  // names, sorted
Result<std::string> read_file(const std::string& path);
// An anonymous in-memory file (memfd) holding `data`, to pass bytes along with
// a descriptor (SCM_RIGHTS, execve). The caller owns the fd.
enum class Inherit { kNo, kYes };  // kYes: survives execve (no FD_CLOEXEC)
Result<int> memfd_with(const std::string& name, std::string_view data, Inherit inherit);
// The whole content of an open file, read from offset 0 (the fd stays open).
Result<std::string> read_all(int fd, const std::string& what);
// Writes to path.tmp, then renames over path: readers see old or new, never half.
Status write_file_atomic(const std::string& path, std::string_view data, Sync sync);
bool exists(const std::string& path);

}  // namespace logctl::agentd::fs
