// The controller's own certificate authority, made at `logctl-controller
// init` with OpenSSL: an EC P-256 CA (10 years) and a server certificate it
// signs (2 years) for the names and addresses clients use. Clients pin the CA
// (docs/security.md); the CA key never leaves the data directory.
// Thread safety: plain functions.
#pragma once

#include <string>
#include <vector>

#include "logctl/schema/result.h"

namespace logctl::controller {

struct TlsFiles {
  std::string ca_cert, ca_key, server_cert, server_key;
};
TlsFiles tls_files(const std::string& data_dir);

// Writes the four files (keys 0600, certificates 0644) under data_dir/tls.
// `names`: DNS names and IP addresses for the server certificate's SAN
// (localhost, 127.0.0.1 and ::1 are always in it).
Status make_tls(const std::string& data_dir, const std::vector<std::string>& names);

// A new server key and certificate from the CA already in data_dir/tls (the
// CA, which clients pin, stays), renamed over the old ones; `serve` loads
// them when it starts. The old certificate's names are kept; `names` adds.
Status reissue_server_cert(const std::string& data_dir, const std::vector<std::string>& names);

}  // namespace logctl::controller
