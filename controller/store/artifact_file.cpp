#include "controller/store/artifact_file.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace logctl::store {

Status for_each_artifact_chunk(const std::string& path,
                               const std::function<Status(int, std::string_view)>& fn) {
  int fd = ::open(path.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) {
    return make_error(errno == ENOENT ? ErrorCode::kNotFound : ErrorCode::kIo,
                      "open " + path + ": " + std::strerror(errno));
  }
  std::string buf(kArtifactChunkBytes, '\0');
  Status st;
  for (int seq = 0; st; ++seq) {
    std::size_t have = 0;
    while (have < buf.size()) {
      ssize_t n = ::read(fd, buf.data() + have, buf.size() - have);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) {
        st = make_error(ErrorCode::kIo, "read " + path + ": " + std::strerror(errno));
        break;
      }
      if (n == 0) break;
      have += static_cast<std::size_t>(n);
    }
    if (!st || have == 0) break;
    st = fn(seq, std::string_view(buf.data(), have));
    if (have < buf.size()) break;
  }
  ::close(fd);
  return st;
}

}  // namespace logctl::store
