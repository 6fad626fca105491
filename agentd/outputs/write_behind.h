// Write-behind for output files. Left to the kernel, an output file keeps
// every page it was written through in the page cache until memory runs
// short: a log agent writing 1 GB a minute evicts its neighbours' cache,
// piles up dirty pages the kernel then writes back in bursts, and on a VM
// whose freed memory goes back to the host, takes fresh pages the host must
// back again (a fifth of agentd's CPU per event in the bench).
//
// WriteBehind starts the writeback of each range written
// (`sync_file_range(SYNC_FILE_RANGE_WRITE)`, as RocksDB's bytes_per_sync) and,
// once a range lies more than `window` bytes behind the newest, waits until
// the disk has it and asks the kernel to drop its pages
// (`POSIX_FADV_DONTNEED`). Both run on a thread of its own, never on the
// writer's: on a slow disk starting writeback blocks (the block layer
// throttles whoever submits it) and so does the wait. While that thread is
// 16 ranges behind, new ones are left to the kernel, as without write-behind.
// Nothing here is about durability: what reached the page cache is as safe
// as before.
//
// Thread contract: written() may be called from any thread; the object is
// destroyed by its owner once no written() runs. The destructor waits up to
// 2 s for the thread (a dead disk can hold it longer: it is then left behind,
// owning what it uses).
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <memory>
#include <thread>

#include "agentd/platform/fs.h"

namespace logctl::agentd {

class WriteBehind {
 public:
  explicit WriteBehind(std::uint64_t window);
  WriteBehind(const WriteBehind&) = delete;
  WriteBehind& operator=(const WriteBehind&) = delete;
  ~WriteBehind();

  // The bytes of `f` from `offset` to its end were just written.
  void written(const fs::File& f, std::uint64_t offset);

 private:
  struct Range {
    int fd;  // a dup of the writer's: the file may be renamed or closed meanwhile
    dev_t dev;
    ino_t ino;
    std::uint64_t offset, len;
  };
  struct Shared;  // what the thread uses, shared with it
  std::shared_ptr<Shared> shared_;
  std::thread thread_;  // started by the first range
};

}  // namespace logctl::agentd
