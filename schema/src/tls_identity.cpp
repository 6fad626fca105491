#include "logctl/schema/tls_identity.h"

#include <arpa/inet.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

namespace logctl::tls {

std::string url_host(std::string_view url) {
  if (auto scheme = url.find("://"); scheme != std::string_view::npos)
    url.remove_prefix(scheme + 3);
  url = url.substr(0, url.find_first_of("/?#"));
  if (auto at = url.rfind('@'); at != std::string_view::npos) url.remove_prefix(at + 1);
  if (url.starts_with("[")) {
    auto end = url.find(']');
    return std::string(url.substr(1, end == std::string_view::npos ? url.npos : end - 1));
  }
  return std::string(url.substr(0, url.find(':')));
}

bool demand_identity(SSL_CTX* ctx, const std::string& host) {
  if (!ctx || host.empty()) return false;
  X509_VERIFY_PARAM* p = SSL_CTX_get0_param(ctx);
  unsigned char addr[16];
  bool ip = ::inet_pton(AF_INET, host.c_str(), addr) == 1 ||
            ::inet_pton(AF_INET6, host.c_str(), addr) == 1;
  if (ip) return X509_VERIFY_PARAM_set1_ip_asc(p, host.c_str()) == 1;
  X509_VERIFY_PARAM_set_hostflags(p, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
  return X509_VERIFY_PARAM_set1_host(p, host.c_str(), host.size()) == 1;
}

}  // namespace logctl::tls
