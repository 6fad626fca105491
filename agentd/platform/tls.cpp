#include "agentd/platform/tls.h"

#include <openssl/err.h>

#include <algorithm>
#include <cstring>

namespace logctl::agentd::tls {

std::string error_text() {
  unsigned long e = ERR_get_error();
  ERR_clear_error();
  if (e == 0) return "TLS error";
  char buf[256];
  ERR_error_string_n(e, buf, sizeof buf);
  return buf;
}

Status load_cert_and_key(SSL_CTX* ctx, const std::string& cert, const std::string& key,
                         const std::string& passphrase) {
  SSL_CTX_set_default_passwd_cb_userdata(ctx, const_cast<std::string*>(&passphrase));
  SSL_CTX_set_default_passwd_cb(ctx, [](char* buf, int size, int, void* u) -> int {
    const auto* p = static_cast<const std::string*>(u);
    int n = static_cast<int>(std::min<std::size_t>(p->size(), static_cast<std::size_t>(size)));
    std::memcpy(buf, p->data(), static_cast<std::size_t>(n));
    return n;
  });
  bool ok = SSL_CTX_use_certificate_chain_file(ctx, cert.c_str()) == 1 &&
            SSL_CTX_use_PrivateKey_file(ctx, key.c_str(), SSL_FILETYPE_PEM) == 1 &&
            SSL_CTX_check_private_key(ctx) == 1;
  SSL_CTX_set_default_passwd_cb_userdata(ctx, nullptr);  // `passphrase` is not kept
  if (!ok) {
    return make_error(ErrorCode::kInvalidArgument,
                      "certificate '" + cert + "' / key '" + key + "': " + error_text());
  }
  return {};
}

}  // namespace logctl::agentd::tls
