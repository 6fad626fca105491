#include "agentd/outputs/write_behind.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "agentd/core/log.h"

namespace logctl::agentd {
namespace {

// Appends to one file join the range before them until it holds a MiB, so a
// file appended in small chunks keeps a few ranges, not one per chunk.
constexpr std::uint64_t kJoinBelow = 1 << 20;
// Each range keeps its file open: at most this many waiting, and this many
// started (a new file per chunk is a range per chunk), so an output holds at
// most 32 descriptors (2 or 3 when appending chunks of a MiB or more).
constexpr std::size_t kMaxQueued = 16;
constexpr std::size_t kMaxStarted = 16;

}  // namespace

WriteBehind::~WriteBehind() {
  if (thread_.joinable()) {
    thread_.request_stop();
    thread_.join();
  }
  for (const Range& r : queued_) ::close(r.fd);
  for (const Range& r : started_) ::close(r.fd);
}

void WriteBehind::written(const fs::File& f, std::uint64_t offset, std::uint64_t len) {
  if (window_ == 0 || len == 0) return;
  struct stat st {};
  if (::fstat(f.fd(), &st) != 0) return;
  std::lock_guard lock(mu_);
  if (queued_.size() >= kMaxQueued) return;  // the disk is behind: left to the kernel
  int fd = ::fcntl(f.fd(), F_DUPFD_CLOEXEC, 0);
  if (fd < 0) return;  // out of descriptors: likewise
  queued_.push_back({fd, st.st_dev, st.st_ino, offset, len});
  if (!thread_.joinable()) thread_ = std::jthread([this](std::stop_token s) { run(s); });
  wake_.notify_one();
}

void WriteBehind::run(const std::stop_token& stop) {
  std::unique_lock lock(mu_);
  while (wake_.wait(lock, stop, [&] { return !queued_.empty(); })) {
    Range r = queued_.front();
    queued_.pop_front();
    lock.unlock();
    start(r);
    lock.lock();
  }
}

void WriteBehind::start(Range r) {
  if (::sync_file_range(r.fd, static_cast<off64_t>(r.offset), static_cast<off64_t>(r.len),
                        SYNC_FILE_RANGE_WRITE) != 0) {
    int err = errno;  // e.g. a file system without writeback of its own
    ::close(r.fd);
    if (!warned_) {
      warned_ = true;
      log::warn("write-behind: starting writeback failed (" + std::string(std::strerror(err)) +
                "); such output pages are left to the kernel");
    }
    return;
  }
  Range* last = started_.empty() ? nullptr : &started_.back();
  if (last && last->dev == r.dev && last->ino == r.ino && last->offset + last->len == r.offset &&
      last->len < kJoinBelow) {
    last->len += r.len;
    ::close(r.fd);
  } else {
    started_.push_back(r);
  }
  started_bytes_ += r.len;
  while (!started_.empty() &&
         (started_bytes_ - started_.front().len >= window_ || started_.size() > kMaxStarted)) {
    drop_front();
  }
}

void WriteBehind::drop_front() {
  const Range& r = started_.front();
  // Only clean pages go: what the disk has not taken yet stays.
  (void)::posix_fadvise(r.fd, static_cast<off_t>(r.offset), static_cast<off_t>(r.len),
                        POSIX_FADV_DONTNEED);
  ::close(r.fd);
  started_bytes_ -= r.len;
  started_.pop_front();
}

}  // namespace logctl::agentd
