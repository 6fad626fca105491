// OpenSSL pieces agentd's TLS ends share: in_forward's <transport tls>
// (server) and out_forward's transport tls (client).
// Thread safety: ssl_error_text reads this thread's OpenSSL error queue.
#pragma once

#include <openssl/ssl.h>

#include <string>

#include "logctl/schema/result.h"

namespace logctl::agentd::tls {

// The oldest queued OpenSSL error as text (the queue is cleared).
std::string error_text();

// Loads a PEM certificate chain and its private key (decrypted with
// `passphrase` if it is encrypted; the passphrase is not kept) and checks
// that they match. kInvalidArgument naming the files.
Status load_cert_and_key(SSL_CTX* ctx, const std::string& cert, const std::string& key,
                         const std::string& passphrase);

}  // namespace logctl::agentd::tls
