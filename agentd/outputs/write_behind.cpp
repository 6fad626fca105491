#include "agentd/outputs/write_behind.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <mutex>
#include <system_error>

#include "agentd/core/log.h"

namespace logctl::agentd {
namespace {

// Appends to one file join the range before them until it holds a MiB, so a
// file appended in small chunks (flush_mode immediate: hundreds a second)
// costs a descriptor and a wake-up of the thread per MiB, not per chunk.
constexpr std::uint64_t kJoinBelow = 1 << 20;
// Each range keeps its file open: at most this many waiting, and this many
// started (a new file per chunk is a range per chunk), so an output holds at
// most 32 descriptors (2 or 3 when appending chunks of a MiB or more).
constexpr std::size_t kMaxQueued = 16;
constexpr std::size_t kMaxStarted = 16;
// How long the destructor waits for the thread; one stuck on a dead disk
// (a hung NFS server) is left behind with what it holds.
constexpr auto kStopWait = std::chrono::seconds(2);

}  // namespace

struct WriteBehind::Shared {
  explicit Shared(std::uint64_t w) : window(w) {}
  const std::uint64_t window;
  std::mutex mu;
  std::condition_variable wake, stopped;
  std::deque<Range> queued;  // written, writeback not started yet
  bool stop = false, done = false;
  // The thread's own: writeback started, pages not dropped yet.
  std::deque<Range> started;
  std::uint64_t started_bytes = 0;
  bool warned = false;  // the thread's, or written()'s while there is no thread

  // `next` continues `last`, which is still small enough to take it.
  static bool joins(const Range& last, const Range& next) {
    return last.dev == next.dev && last.ino == next.ino && last.offset + last.len == next.offset &&
           last.len < kJoinBelow;
  }
  // The thread is woken for a MiB at least, or for a range of another file.
  bool ready() const {
    return queued.size() > 1 || (!queued.empty() && queued.front().len >= kJoinBelow);
  }
  void run();
  void start(Range r);
  void drop_front();
};

WriteBehind::WriteBehind(std::uint64_t window) : shared_(std::make_shared<Shared>(window)) {}

WriteBehind::~WriteBehind() {
  if (!thread_.joinable()) return;
  std::unique_lock lock(shared_->mu);
  shared_->stop = true;
  shared_->wake.notify_one();
  if (shared_->stopped.wait_for(lock, kStopWait, [&] { return shared_->done; })) {
    lock.unlock();
    thread_.join();
  } else {
    log::warn("write-behind: its thread still waits for the disk after 2 s; left to finish");
    thread_.detach();  // it owns a reference to what it uses
  }
}

void WriteBehind::written(const fs::File& f, std::uint64_t offset) {
  if (shared_->window == 0) return;
  struct stat st {};
  if (::fstat(f.fd(), &st) != 0 || static_cast<std::uint64_t>(st.st_size) <= offset) return;
  std::uint64_t len = static_cast<std::uint64_t>(st.st_size) - offset;
  std::lock_guard lock(shared_->mu);
  auto& queued = shared_->queued;
  Range next{-1, st.st_dev, st.st_ino, offset, len};
  if (!queued.empty() && Shared::joins(queued.back(), next)) {
    queued.back().len += len;
  } else {
    if (queued.size() >= kMaxQueued) return;  // the disk is behind: left to the kernel
    next.fd = ::fcntl(f.fd(), F_DUPFD_CLOEXEC, 0);
    if (next.fd < 0) return;  // out of descriptors: likewise
    queued.push_back(next);
  }
  if (!thread_.joinable()) {
    try {
      thread_ = std::thread([s = shared_] { s->run(); });
    } catch (const std::system_error& e) {  // out of threads: left to the kernel
      for (const Range& r : queued) ::close(r.fd);
      queued.clear();
      if (!shared_->warned) log::warn(std::string("write-behind: no thread: ") + e.what());
      shared_->warned = true;
      return;
    }
  }
  if (shared_->ready()) shared_->wake.notify_one();
}

void WriteBehind::Shared::run() {
  std::unique_lock lock(mu);
  for (;;) {
    wake.wait(lock, [&] { return stop || ready(); });
    if (stop) break;
    Range r = queued.front();
    queued.pop_front();
    lock.unlock();
    start(r);
    lock.lock();
  }
  for (const Range& r : queued) ::close(r.fd);
  for (const Range& r : started) ::close(r.fd);
  queued.clear();
  started.clear();
  done = true;
  stopped.notify_all();
}

void WriteBehind::Shared::start(Range r) {
  if (::sync_file_range(r.fd, static_cast<off64_t>(r.offset), static_cast<off64_t>(r.len),
                        SYNC_FILE_RANGE_WRITE) != 0) {
    int err = errno;  // e.g. a file system without writeback of its own
    ::close(r.fd);
    if (!warned) {
      warned = true;
      log::warn("write-behind: starting writeback failed (" + std::string(std::strerror(err)) +
                "); such output pages are left to the kernel");
    }
    return;
  }
  if (!started.empty() && joins(started.back(), r)) {
    started.back().len += r.len;
    ::close(r.fd);
  } else {
    started.push_back(r);
  }
  started_bytes += r.len;
  while (!started.empty() &&
         (started_bytes - started.front().len >= window || started.size() > kMaxStarted)) {
    drop_front();
  }
}

void WriteBehind::Shared::drop_front() {
  const Range& r = started.front();
  // Waits until the disk has the range (its writeback began a window ago),
  // so that every page of it goes: only clean pages can be dropped.
  (void)::sync_file_range(
      r.fd, static_cast<off64_t>(r.offset), static_cast<off64_t>(r.len),
      SYNC_FILE_RANGE_WAIT_BEFORE | SYNC_FILE_RANGE_WRITE | SYNC_FILE_RANGE_WAIT_AFTER);
  (void)::posix_fadvise(r.fd, static_cast<off_t>(r.offset), static_cast<off_t>(r.len),
                        POSIX_FADV_DONTNEED);
  ::close(r.fd);
  started_bytes -= r.len;
  started.pop_front();
}

}  // namespace logctl::agentd
