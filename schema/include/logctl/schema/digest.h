// SHA-256 as both ends write it: lowercase hex. Release artifacts and config
// revisions are named by it, tokens are stored as it (docs/security.md).
// Thread safety: pure functions (OpenSSL's EVP is thread-safe).
#pragma once

#include <string>
#include <string_view>

#include "logctl/schema/result.h"

namespace logctl::digest {

std::string sha256_hex(std::string_view data);

// Streams the file (no link followed); kIo names the path.
Result<std::string> sha256_file(const std::string& path);

// An incremental SHA-256 for data that arrives in pieces.
class Sha256 {
 public:
  Sha256();
  ~Sha256();
  Sha256(const Sha256&) = delete;
  Sha256& operator=(const Sha256&) = delete;
  void update(std::string_view data);
  std::string hex();  // finishes; call once

 private:
  void* ctx_;
};

// `bytes` random bytes from the OS's CSPRNG, as lowercase hex.
std::string random_hex(std::size_t bytes);

// Equal-length comparison in constant time.
bool constant_time_equal(std::string_view a, std::string_view b);

}  // namespace logctl::digest
