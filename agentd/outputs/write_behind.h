// Write-behind for output files. Left to the kernel, an output file keeps
// every page it was written through in the page cache until memory runs
// short: a log agent writing 1 GB a minute evicts its neighbours' cache,
// piles up dirty pages the kernel then writes back in bursts, and on a VM
// whose freed memory goes back to the host, takes fresh pages the host must
// back again (a fifth of agentd's CPU per event in the bench).
//
// WriteBehind starts the writeback of each range written
// (`sync_file_range(SYNC_FILE_RANGE_WRITE)`, as RocksDB's bytes_per_sync) and,
// once a range lies more than `window` bytes behind the newest, asks the
// kernel to drop its pages (`POSIX_FADV_DONTNEED`: pages still dirty or under
// writeback stay, as they would have). Both run on a thread of its own: on a
// slow disk starting writeback blocks (the block layer throttles whoever
// submits it), and the writer must not wait for the disk. While that thread
// is 16 ranges behind, new ones are left to the kernel. Nothing
// here is about durability: what reached the page cache is as safe as before.
//
// Thread contract: written() may be called from any thread; the object is
// destroyed by its owner once no written() runs.
#pragma once

#include <sys/types.h>

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <mutex>
#include <stop_token>
#include <thread>

#include "agentd/platform/fs.h"

namespace logctl::agentd {

class WriteBehind {
 public:
  explicit WriteBehind(std::uint64_t window) : window_(window) {}
  WriteBehind(const WriteBehind&) = delete;
  WriteBehind& operator=(const WriteBehind&) = delete;
  ~WriteBehind();

  // Bytes [offset, offset + len) of `f` were just written.
  void written(const fs::File& f, std::uint64_t offset, std::uint64_t len);

 private:
  struct Range {
    int fd;  // a dup of the writer's: the file may be renamed or closed meanwhile
    dev_t dev;
    ino_t ino;
    std::uint64_t offset, len;
  };
  void run(const std::stop_token& stop);
  void start(Range r);
  void drop_front();

  const std::uint64_t window_;
  std::mutex mu_;
  std::condition_variable_any wake_;
  std::deque<Range> queued_;  // written, writeback not started yet
  // The thread's own: writeback started, pages not dropped yet.
  std::deque<Range> started_;
  std::uint64_t started_bytes_ = 0;
  bool warned_ = false;
  std::jthread thread_;  // started by the first range; last, so it stops first
};

}  // namespace logctl::agentd
