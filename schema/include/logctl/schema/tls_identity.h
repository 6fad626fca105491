// The identity a TLS client demands of its server (the controller, an http
// output): the host of the URL it was given, a DNS name or an IP address,
// which the server's certificate must name. Set on the client's SSL_CTX, so
// OpenSSL checks it during every handshake's chain verification and a
// mismatch fails the handshake (the HTTP library's own post-handshake host
// check compared uninitialised memory for IP addresses in the version Debian
// ships: an address not in the certificate was accepted at random).
//
// Thread safety: pure functions; the SSL_CTX is the caller's.
#pragma once

#include <string>
#include <string_view>

typedef struct ssl_ctx_st SSL_CTX;

namespace logctl::tls {

// "https://ctl.example.net:7443/x" -> "ctl.example.net"; "https://[::1]:7443" -> "::1".
std::string url_host(std::string_view url);
// Makes `ctx` verify that the peer's certificate names `host` (an IP address
// as an iPAddress SAN, a name as a dNSName SAN); false if OpenSSL refused it.
bool demand_identity(SSL_CTX* ctx, const std::string& host);

}  // namespace logctl::tls
