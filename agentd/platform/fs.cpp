#include "agentd/platform/fs.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include <climits>
#include <cstdlib>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>

namespace logctl::agentd::fs {

Error errno_error(const std::string& op, const std::string& path, int err) {
  ErrorCode code = ErrorCode::kIo;
  if (err == ENOSPC || err == EDQUOT) code = ErrorCode::kResourceExhausted;
  if (err == ENOENT) code = ErrorCode::kNotFound;
  if (err == ENAMETOOLONG) code = ErrorCode::kInvalidArgument;  // retrying cannot help
  if (err == EWOULDBLOCK || err == EEXIST) code = ErrorCode::kAlreadyExists;
  return Error{code, op + " " + path + ": " + std::strerror(err)};
}

File& File::operator=(File&& o) noexcept {
  if (this != &o) {
    close();
    fd_ = o.fd_;
    path_ = std::move(o.path_);
    o.fd_ = -1;
  }
  return *this;
}

Result<File> File::open(const std::string& path, int flags, mode_t mode, Follow follow) {
  if (follow == Follow::kNo) flags |= O_NOFOLLOW;
  int fd = ::open(path.c_str(), flags | O_CLOEXEC, mode);
  if (fd < 0 && errno == ELOOP && follow == Follow::kNo) {
    // Someone else's link where agentd writes: refused, and retrying cannot help.
    return make_error(ErrorCode::kInvalidArgument,
                      "open " + path + ": is a symbolic link (refused, not followed)");
  }
  if (fd < 0) return std::unexpected(errno_error("open", path, errno));
  return File(fd, path);
}

Status File::write_all(std::string_view data) {
  while (!data.empty()) {
    ssize_t n = ::write(fd_, data.data(), data.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return std::unexpected(errno_error("write", path_, errno));
    }
    data.remove_prefix(static_cast<std::size_t>(n));
  }
  return {};
}

Status File::pwritev_all(std::initializer_list<std::string_view> parts, std::uint64_t offset) {
  constexpr std::size_t kMax = 4;
  iovec iov[kMax];
  std::size_t n = 0;
  for (auto p : parts) {
    if (n == kMax) return make_error(ErrorCode::kInternal, "pwritev_all: more than 4 parts");
    if (!p.empty()) iov[n++] = {const_cast<char*>(p.data()), p.size()};
  }
  iovec* at = iov;
  while (n > 0) {
    ssize_t w = ::pwritev(fd_, at, static_cast<int>(n), static_cast<off_t>(offset));
    if (w < 0) {
      if (errno == EINTR) continue;
      return std::unexpected(errno_error("write", path_, errno));
    }
    auto done = static_cast<std::size_t>(w);
    offset += done;
    while (n > 0 && done >= at->iov_len) {
      done -= at->iov_len;
      ++at;
      --n;
    }
    if (n > 0) {
      at->iov_base = static_cast<char*>(at->iov_base) + done;
      at->iov_len -= done;
    }
  }
  return {};
}

Result<std::size_t> File::pread(char* buf, std::size_t n, std::uint64_t offset) const {
  std::size_t got = 0;
  while (got < n) {
    ssize_t r = ::pread(fd_, buf + got, n - got, static_cast<off_t>(offset + got));
    if (r < 0) {
      if (errno == EINTR) continue;
      return std::unexpected(errno_error("read", path_, errno));
    }
    if (r == 0) break;
    got += static_cast<std::size_t>(r);
  }
  return got;
}

Status File::sync() {
  if (::fdatasync(fd_) != 0) return std::unexpected(errno_error("fsync", path_, errno));
  return {};
}

Status File::truncate(std::uint64_t size) {
  if (::ftruncate(fd_, static_cast<off_t>(size)) != 0) {
    return std::unexpected(errno_error("truncate", path_, errno));
  }
  return {};
}

Result<std::uint64_t> File::size() const {
  struct stat st {};
  if (::fstat(fd_, &st) != 0) return std::unexpected(errno_error("stat", path_, errno));
  return static_cast<std::uint64_t>(st.st_size);
}

Status File::lock_exclusive() {
  if (::flock(fd_, LOCK_EX | LOCK_NB) != 0) {
    return std::unexpected(errno_error("lock", path_, errno));
  }
  return {};
}

void File::close() {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
}

Status mkdir_p(const std::string& path, mode_t mode) {
  std::string cur;
  for (std::size_t i = 0; i <= path.size(); ++i) {
    if (i == path.size() || (path[i] == '/' && i > 0)) {
      cur = path.substr(0, i);
      if (::mkdir(cur.c_str(), mode) != 0 && errno != EEXIST) {
        return std::unexpected(errno_error("mkdir", cur, errno));
      }
    }
  }
  return {};
}

namespace {

std::string mode_octal(mode_t m) {
  char b[8];
  std::snprintf(b, sizeof b, "%04o", static_cast<unsigned>(m & 07777));
  return b;
}

// An ancestor of a private directory: a link or directory that only root or
// agentd's user could have put there, and that others cannot change (a
// sticky world-writable directory like /tmp only lets them change their own
// entries).
Status check_ancestor(const std::string& path, uid_t me) {
  struct stat st {};
  if (::lstat(path.c_str(), &st) != 0) return std::unexpected(errno_error("stat", path, errno));
  // A link (/var/run -> /run) is checked, then what it points to.
  for (int hop = 0; hop < 2; ++hop) {
    if (st.st_uid != 0 && st.st_uid != me) {
      return make_error(ErrorCode::kInvalidArgument,
                        path + " is owned by uid " + std::to_string(st.st_uid) +
                            ", not root or agentd's user (" + std::to_string(me) + ")");
    }
    if (!S_ISLNK(st.st_mode) && (st.st_mode & (S_IWGRP | S_IWOTH)) && !(st.st_mode & S_ISVTX)) {
      return make_error(ErrorCode::kInvalidArgument,
                        path + " is writable by group or others (mode " + mode_octal(st.st_mode) +
                            ") and not sticky");
    }
    if (!S_ISLNK(st.st_mode)) return {};
    if (::stat(path.c_str(), &st) != 0) return std::unexpected(errno_error("stat", path, errno));
  }
  return {};
}

}  // namespace

Status check_private_dir(const std::string& path) {
  uid_t me = ::geteuid();
  std::string abs = path;
  if (abs.empty() || abs[0] != '/') {
    char cwd[4096];
    if (!::getcwd(cwd, sizeof cwd)) return std::unexpected(errno_error("getcwd", path, errno));
    abs = std::string(cwd) + "/" + path;
  }
  struct stat st {};
  if (::lstat(abs.c_str(), &st) != 0) return std::unexpected(errno_error("stat", path, errno));
  if (S_ISLNK(st.st_mode)) {
    return make_error(ErrorCode::kInvalidArgument,
                      "directory " + path + " is a symbolic link; give the real path");
  }
  if (!S_ISDIR(st.st_mode)) {
    return make_error(ErrorCode::kInvalidArgument, path + " is not a directory");
  }
  if (st.st_uid != me) {
    return make_error(ErrorCode::kInvalidArgument,
                      "directory " + path + " is owned by uid " + std::to_string(st.st_uid) +
                          ", not agentd's user (uid " + std::to_string(me) + ")");
  }
  if (st.st_mode & (S_IWGRP | S_IWOTH)) {
    return make_error(ErrorCode::kInvalidArgument,
                      "directory " + path + " is writable by group or others (mode " +
                          mode_octal(st.st_mode) + "); make it 0750 or narrower");
  }
  for (auto slash = abs.rfind('/'); slash != std::string::npos && slash > 0;
       slash = abs.rfind('/', slash - 1)) {
    if (auto s = check_ancestor(abs.substr(0, slash), me); !s) {
      return make_error(ErrorCode::kInvalidArgument,
                        "directory " + path + ": " + s.error().message);
    }
  }
  return {};
}

Result<File> open_in_shared_tree(const std::string& path, int flags, mode_t mode, mode_t dir_mode) {
  if (path.empty() || path[0] != '/') return File::open(path, flags, mode);  // relative: as is
  int dir = ::open("/", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir < 0) return std::unexpected(errno_error("open", "/", errno));
  File dir_file(dir, "/");
  std::string walked;
  std::size_t start = 1;
  for (;;) {
    auto slash = path.find('/', start);
    std::string name = path.substr(start, slash == std::string::npos ? slash : slash - start);
    start = slash == std::string::npos ? path.size() : slash + 1;
    if (name.empty() || name == ".") continue;
    walked += "/" + name;
    if (slash == std::string::npos) {  // the file itself
      int fd = ::openat(dir_file.fd(), name.c_str(), flags | O_NOFOLLOW | O_CLOEXEC, mode);
      if (fd < 0 && errno == ELOOP) {
        return make_error(ErrorCode::kInvalidArgument,
                          "open " + walked + ": is a symbolic link (refused, not followed)");
      }
      if (fd < 0) return std::unexpected(errno_error("open", walked, errno));
      return File(fd, path);
    }
    struct stat st {};
    if (::fstatat(dir_file.fd(), name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
      if (errno != ENOENT) return std::unexpected(errno_error("stat", walked, errno));
      if (::mkdirat(dir_file.fd(), name.c_str(), dir_mode) != 0 && errno != EEXIST) {
        return std::unexpected(errno_error("mkdir", walked, errno));
      }
      st.st_mode = S_IFDIR;
    }
    int open_flags = O_RDONLY | O_DIRECTORY | O_CLOEXEC;
    if (S_ISLNK(st.st_mode)) {
      if (st.st_uid != 0 && st.st_uid != ::geteuid()) {
        return make_error(ErrorCode::kInvalidArgument,
                          walked + " is a symbolic link owned by uid " + std::to_string(st.st_uid) +
                              " (refused, not followed)");
      }
    } else {
      open_flags |= O_NOFOLLOW;  // swapped for a link since the stat: refused
    }
    int next = ::openat(dir_file.fd(), name.c_str(), open_flags);
    if (next < 0 && errno == ELOOP && !S_ISLNK(st.st_mode)) {
      return make_error(ErrorCode::kInvalidArgument,
                        walked + " became a symbolic link (refused, not followed)");
    }
    if (next < 0) return std::unexpected(errno_error("open", walked, errno));
    dir_file = File(next, walked);
  }
}

Result<std::string> check_trusted_executable(const std::string& path) {
  auto refuse = [&](const std::string& why) {
    return make_error(ErrorCode::kInvalidArgument, "binary " + path + ": " + why);
  };
  if (path.empty() || path[0] != '/') return refuse("must be an absolute path");
  char real[PATH_MAX];
  if (!::realpath(path.c_str(), real)) return refuse(std::strerror(errno));
  uid_t me = ::geteuid();
  auto trusted = [&](const std::string& p, const struct stat& st, const char* what) -> Status {
    if (st.st_uid != 0 && st.st_uid != me) {
      return refuse(std::string(what) + " " + p + " is owned by uid " + std::to_string(st.st_uid) +
                    ", not root or agentd's user");
    }
    if (st.st_mode & (S_IWGRP | S_IWOTH)) {
      return refuse(std::string(what) + " " + p + " is writable by group or others (mode " +
                    mode_octal(st.st_mode) + ")");
    }
    return {};
  };
  struct stat st {};
  if (::stat(real, &st) != 0) return refuse(std::strerror(errno));
  if (!S_ISREG(st.st_mode)) return refuse(std::string(real) + " is not a regular file");
  if (!(st.st_mode & S_IXUSR)) return refuse(std::string(real) + " is not executable");
  if (auto s = trusted(real, st, "file"); !s) return std::unexpected(s.error());
  std::string dir = std::string(real).substr(0, std::string(real).rfind('/'));
  if (dir.empty()) dir = "/";
  if (::stat(dir.c_str(), &st) != 0) return refuse(std::strerror(errno));
  if (auto s = trusted(dir, st, "directory"); !s) return std::unexpected(s.error());
  return std::string(real);
}

Result<File> lock_file(const std::string& path, const std::string& what) {
  auto f = File::open(path, O_RDWR | O_CREAT, 0600);
  if (!f) return std::unexpected(f.error());
  if (auto s = f->lock_exclusive(); !s) {
    auto holder = read_file(path);
    return make_error(ErrorCode::kAlreadyExists,
                      what + " is in use by another process (pid " +
                          (holder && !holder->empty() ? *holder : std::string("?")) + ")");
  }
  (void)f->truncate(0);
  (void)::pwrite(f->fd(), std::to_string(::getpid()).data(), std::to_string(::getpid()).size(), 0);
  return f;
}

Status ensure_private_dir(const std::string& path, mode_t mode) {
  if (auto s = mkdir_p(path, mode); !s) return s;
  return check_private_dir(path);
}

Status rename(const std::string& from, const std::string& to) {
  if (::rename(from.c_str(), to.c_str()) != 0) {
    return std::unexpected(errno_error("rename", from + " -> " + to, errno));
  }
  return {};
}

Status remove(const std::string& path) {
  if (::unlink(path.c_str()) != 0 && errno != ENOENT) {
    return std::unexpected(errno_error("unlink", path, errno));
  }
  return {};
}

Status sync_dir(const std::string& dir) {
  auto f = File::open(dir, O_RDONLY | O_DIRECTORY);
  if (!f) return std::unexpected(f.error());
  return f->sync();
}

Result<std::vector<std::string>> list_dir(const std::string& dir) {
  DIR* d = ::opendir(dir.c_str());
  if (!d) return std::unexpected(errno_error("opendir", dir, errno));
  std::vector<std::string> out;
  while (dirent* e = ::readdir(d)) {
    std::string n = e->d_name;
    if (n != "." && n != "..") out.push_back(std::move(n));
  }
  ::closedir(d);
  std::sort(out.begin(), out.end());
  return out;
}

Result<int> memfd_with(const std::string& name, std::string_view data, Inherit inherit) {
  int fd = ::memfd_create(name.c_str(), inherit == Inherit::kYes ? 0 : MFD_CLOEXEC);
  if (fd < 0) return std::unexpected(errno_error("memfd_create", name, errno));
  File f(fd, name);
  if (auto s = f.write_all(data); !s) return std::unexpected(s.error());
  return f.release();
}

Result<std::string> read_all(int fd, const std::string& what) {
  std::string out;
  char buf[1 << 16];
  for (;;) {
    ssize_t n = ::pread(fd, buf, sizeof buf, static_cast<off_t>(out.size()));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return std::unexpected(errno_error("read", what, errno));
    if (n == 0) return out;
    out.append(buf, static_cast<std::size_t>(n));
  }
}

Result<std::string> read_file(const std::string& path, Follow follow) {
  auto f = File::open(path, O_RDONLY, 0, follow);
  if (!f) return std::unexpected(f.error());
  std::string out;
  char buf[65536];
  std::uint64_t off = 0;
  for (;;) {
    auto n = f->pread(buf, sizeof buf, off);
    if (!n) return std::unexpected(n.error());
    if (*n == 0) break;
    out.append(buf, *n);
    off += *n;
  }
  return out;
}

Status write_file_atomic(const std::string& path, std::string_view data, Sync sync, mode_t mode) {
  std::string tmp = path + ".tmp";
  auto f = File::open(tmp, O_WRONLY | O_CREAT | O_EXCL, mode);
  if (!f && f.error().code == ErrorCode::kAlreadyExists) {
    // Left by a crash, or planted: unlink removes the name, never a link's target.
    if (auto s = remove(tmp); !s) return s;
    f = File::open(tmp, O_WRONLY | O_CREAT | O_EXCL, mode);
  }
  if (!f) return std::unexpected(f.error());
  if (auto s = f->write_all(data); !s) return s;
  if (sync == Sync::kYes) {
    if (auto s = f->sync(); !s) return s;
  }
  f->close();
  return rename(tmp, path);
}

Mapping::~Mapping() {
  if (data_) ::munmap(data_, size_);
}

Result<Mapping> Mapping::of(const File& f) {
  auto size = f.size();
  if (!size) return std::unexpected(size.error());
  Mapping m;
  if (*size == 0) return m;
  void* p = ::mmap(nullptr, *size, PROT_READ, MAP_PRIVATE, f.fd(), 0);
  if (p == MAP_FAILED) return std::unexpected(errno_error("mmap", f.path(), errno));
  m.data_ = p;
  m.size_ = *size;
  return m;
}

bool exists(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0;
}

}  // namespace logctl::agentd::fs
