#include "controller/api/tls_init.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <functional>
#include <memory>

namespace logctl::controller {
namespace {

template <typename T, void (*F)(T*)>
struct Free {
  void operator()(T* p) const { F(p); }
};
using Key = std::unique_ptr<EVP_PKEY, Free<EVP_PKEY, EVP_PKEY_free>>;
using Cert = std::unique_ptr<X509, Free<X509, X509_free>>;

std::string ssl_error(const std::string& what) {
  char buf[256];
  ERR_error_string_n(ERR_get_error(), buf, sizeof buf);
  return what + ": " + buf;
}

Result<Key> new_key() {
  Key k(EVP_EC_gen("P-256"));
  if (!k) return make_error(ErrorCode::kInternal, ssl_error("generate EC key"));
  return k;
}

bool add_ext(X509* cert, X509* issuer, int nid, const std::string& value) {
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, issuer, cert, nullptr, nullptr, 0);
  X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &ctx, nid, value.c_str());
  if (!ext) return false;
  bool ok = X509_add_ext(cert, ext, -1) == 1;
  X509_EXTENSION_free(ext);
  return ok;
}

Result<Cert> make_cert(EVP_PKEY* key, const std::string& cn, X509* issuer, EVP_PKEY* issuer_key,
                       long days, bool ca, const std::string& san) {
  Cert c(X509_new());
  X509_set_version(c.get(), 2);
  // A random 64-bit serial.
  unsigned char serial[8];
  FILE* f = std::fopen("/dev/urandom", "rb");
  if (!f || std::fread(serial, 1, sizeof serial, f) != sizeof serial) {
    if (f) std::fclose(f);
    return make_error(ErrorCode::kIo, "read /dev/urandom");
  }
  std::fclose(f);
  serial[0] &= 0x7f;
  BIGNUM* bn = BN_bin2bn(serial, sizeof serial, nullptr);
  BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(c.get()));
  BN_free(bn);
  X509_gmtime_adj(X509_getm_notBefore(c.get()), -3600);
  X509_gmtime_adj(X509_getm_notAfter(c.get()), days * 24 * 3600);
  X509_set_pubkey(c.get(), key);
  X509_NAME* name = X509_get_subject_name(c.get());
  X509_NAME_add_entry_by_txt(name, "O", MBSTRING_ASC,
                             reinterpret_cast<const unsigned char*>("logctl"), -1, -1, 0);
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                             reinterpret_cast<const unsigned char*>(cn.c_str()), -1, -1, 0);
  X509* iss = issuer ? issuer : c.get();
  X509_set_issuer_name(c.get(), X509_get_subject_name(iss));
  bool ok = true;
  if (ca) {
    ok = add_ext(c.get(), iss, NID_basic_constraints, "critical,CA:TRUE,pathlen:0") &&
         add_ext(c.get(), iss, NID_key_usage, "critical,keyCertSign,cRLSign") &&
         add_ext(c.get(), iss, NID_subject_key_identifier, "hash");
  } else {
    ok = add_ext(c.get(), iss, NID_basic_constraints, "critical,CA:FALSE") &&
         add_ext(c.get(), iss, NID_key_usage, "critical,digitalSignature") &&
         add_ext(c.get(), iss, NID_ext_key_usage, "serverAuth") &&
         add_ext(c.get(), iss, NID_subject_alt_name, san) &&
         add_ext(c.get(), iss, NID_authority_key_identifier, "keyid");
  }
  if (!ok) return make_error(ErrorCode::kInvalidArgument, ssl_error("certificate extension"));
  if (X509_sign(c.get(), issuer_key ? issuer_key : key, EVP_sha256()) == 0) {
    return make_error(ErrorCode::kInternal, ssl_error("sign certificate"));
  }
  return c;
}

// Creates `path` (O_EXCL: never over an existing file or a planted link).
Status write_pem(const std::string& path, mode_t mode, const std::function<int(FILE*)>& write) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode);
  if (fd < 0) return make_error(ErrorCode::kIo, "create " + path + ": " + std::strerror(errno));
  FILE* f = ::fdopen(fd, "w");
  if (!f) {
    ::close(fd);
    return make_error(ErrorCode::kIo, "fdopen " + path);
  }
  bool ok = write(f) == 1;
  ok = (std::fflush(f) == 0) && ok && ::fsync(fd) == 0;
  std::fclose(f);
  if (!ok) return make_error(ErrorCode::kIo, ssl_error("write " + path));
  return {};
}

}  // namespace

TlsFiles tls_files(const std::string& data_dir) {
  std::string d = data_dir + "/tls/";
  return {d + "ca.pem", d + "ca.key", d + "server.pem", d + "server.key"};
}

namespace {

// The server certificate's subjectAltName for `names` (plus localhost,
// 127.0.0.1 and ::1).
Result<std::string> san_of(const std::vector<std::string>& names) {
  std::string san = "DNS:localhost,IP:127.0.0.1,IP:::1";
  for (const auto& n : names) {
    unsigned char buf[16];
    if (::inet_pton(AF_INET, n.c_str(), buf) == 1 || ::inet_pton(AF_INET6, n.c_str(), buf) == 1) {
      san += ",IP:" + n;
      continue;
    }
    bool dns = !n.empty() && n.size() <= 253 && std::all_of(n.begin(), n.end(), [](char ch) {
      return std::isalnum(static_cast<unsigned char>(ch)) || ch == '.' || ch == '-';
    });
    if (!dns) {
      return make_error(ErrorCode::kInvalidArgument,
                        "--san '" + n + "' is neither a DNS name nor an IP address");
    }
    san += ",DNS:" + n;
  }
  return san;
}

auto pem_key(EVP_PKEY* k) {
  return [k](FILE* out) {
    return PEM_write_PrivateKey(out, k, nullptr, nullptr, 0, nullptr, nullptr);
  };
}
auto pem_cert(X509* c) {
  return [c](FILE* out) { return PEM_write_X509(out, c); };
}

// A new server key and certificate signed by the CA, written to
// `cert_path` and `key_path`.
Status write_server(X509* ca, EVP_PKEY* ca_key, const std::string& san,
                    const std::string& cert_path, const std::string& key_path) {
  auto key = new_key();
  if (!key) return std::unexpected(key.error());
  auto cert = make_cert(key->get(), "logctl-controller", ca, ca_key, 730, false, san);
  if (!cert) return std::unexpected(cert.error());
  if (auto s = write_pem(key_path, 0600, pem_key(key->get())); !s) return s;
  return write_pem(cert_path, 0644, pem_cert(cert->get()));
}

// Reads a PEM file (no link followed) with `read`.
template <typename T, typename Read>
Result<T> read_pem(const std::string& path, Read read) {
  int fd = ::open(path.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) return make_error(ErrorCode::kIo, "open " + path + ": " + std::strerror(errno));
  FILE* f = ::fdopen(fd, "r");
  if (!f) {
    ::close(fd);
    return make_error(ErrorCode::kIo, "fdopen " + path);
  }
  T v(read(f));
  std::fclose(f);
  if (!v) return make_error(ErrorCode::kCorrupt, ssl_error("read " + path));
  return v;
}

}  // namespace

Status make_tls(const std::string& data_dir, const std::vector<std::string>& names) {
  std::string dir = data_dir + "/tls";
  if (::mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST) {
    return make_error(ErrorCode::kIo, "mkdir " + dir + ": " + std::strerror(errno));
  }
  auto san = san_of(names);
  if (!san) return std::unexpected(san.error());
  auto ca_key = new_key();
  if (!ca_key) return std::unexpected(ca_key.error());
  auto ca = make_cert(ca_key->get(), "logctl controller CA", nullptr, nullptr, 3650, true, "");
  if (!ca) return std::unexpected(ca.error());
  auto f = tls_files(data_dir);
  if (auto s = write_pem(f.ca_key, 0600, pem_key(ca_key->get())); !s) return s;
  if (auto s = write_pem(f.ca_cert, 0644, pem_cert(ca->get())); !s) return s;
  return write_server(ca->get(), ca_key->get(), *san, f.server_cert, f.server_key);
}

// The DNS names and IP addresses in a certificate's subjectAltName.
std::vector<std::string> names_in(X509* cert) {
  std::vector<std::string> out;
  auto* alt =
      static_cast<GENERAL_NAMES*>(X509_get_ext_d2i(cert, NID_subject_alt_name, nullptr, nullptr));
  if (!alt) return out;
  for (int i = 0; i < sk_GENERAL_NAME_num(alt); ++i) {
    const GENERAL_NAME* g = sk_GENERAL_NAME_value(alt, i);
    const unsigned char* d = ASN1_STRING_get0_data(g->d.ia5);
    int len = ASN1_STRING_length(g->d.ia5);
    if (g->type == GEN_DNS) {
      out.emplace_back(reinterpret_cast<const char*>(d), static_cast<std::size_t>(len));
    } else if (g->type == GEN_IPADD && (len == 4 || len == 16)) {
      char text[INET6_ADDRSTRLEN] = {};
      ::inet_ntop(len == 4 ? AF_INET : AF_INET6, d, text, sizeof text);
      out.emplace_back(text);
    }
  }
  GENERAL_NAMES_free(alt);
  return out;
}

Status reissue_server_cert(const std::string& data_dir, const std::vector<std::string>& names) {
  auto f = tls_files(data_dir);
  // The names the certificate has now are kept (clients reach the controller
  // by them); `names` adds to them.
  std::vector<std::string> all;
  auto old = read_pem<Cert>(f.server_cert,
                            [](FILE* in) { return PEM_read_X509(in, nullptr, nullptr, nullptr); });
  if (old) all = names_in(old->get());
  for (const auto& n : names) all.push_back(n);
  std::vector<std::string> keep;
  for (const auto& n : all) {
    bool always = n == "localhost" || n == "127.0.0.1" || n == "::1";
    if (!always && std::find(keep.begin(), keep.end(), n) == keep.end()) keep.push_back(n);
  }
  auto san = san_of(keep);
  if (!san) return std::unexpected(san.error());
  auto ca = read_pem<Cert>(f.ca_cert,
                           [](FILE* in) { return PEM_read_X509(in, nullptr, nullptr, nullptr); });
  if (!ca) return std::unexpected(ca.error());
  auto ca_key = read_pem<Key>(
      f.ca_key, [](FILE* in) { return PEM_read_PrivateKey(in, nullptr, nullptr, nullptr); });
  if (!ca_key) return std::unexpected(ca_key.error());
  std::string cert_new = f.server_cert + ".new", key_new = f.server_key + ".new";
  ::unlink(cert_new.c_str());  // left by an interrupted run
  ::unlink(key_new.c_str());
  if (auto s = write_server(ca->get(), ca_key->get(), *san, cert_new, key_new); !s) return s;
  if (::rename(key_new.c_str(), f.server_key.c_str()) != 0 ||
      ::rename(cert_new.c_str(), f.server_cert.c_str()) != 0) {
    return make_error(ErrorCode::kIo, "rename into " + f.server_cert + ": " + std::strerror(errno));
  }
  return {};
}

}  // namespace logctl::controller
