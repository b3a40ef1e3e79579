#pragma once
// OpenSSL clients (syslog over TLS, RFC 5425; the Kubernetes API server): a client context that
// verifies the server against a CA (or the system's), optionally presents a client certificate.
// Certificates and keys come from files or from PEM text (a kubeconfig's `*-data`). RAII over
// every handle.

#include <openssl/ssl.h>

#include <memory>
#include <string>

namespace execaudit::net {

struct TlsOptions {
    std::string ca_file;    ///< PEM CA bundle; empty: the system's trusted CAs
    std::string cert_file;  ///< client certificate (PEM chain), optional
    std::string key_file;   ///< its private key (PEM); defaults to cert_file
    // The same as PEM text instead of files (a kubeconfig's certificate-authority-data, ...); a
    // text and a file of the same kind cannot both be given.
    std::string ca_pem;
    std::string cert_pem;
    std::string key_pem;
};

struct SslCtxFree {
    void operator()(SSL_CTX* ctx) const { SSL_CTX_free(ctx); }
};
struct SslFree {
    void operator()(SSL* ssl) const { SSL_free(ssl); }
};
using SslCtxPtr = std::unique_ptr<SSL_CTX, SslCtxFree>;
using SslPtr = std::unique_ptr<SSL, SslFree>;

/// A client context: TLS 1.2+, peer verification on. Throws UsageError naming the file when a
/// CA, certificate or key cannot be loaded (a configuration error, caught at start-up).
SslCtxPtr make_client_context(const TlsOptions& options);

/// Makes the handshake check the server's certificate names `host` (an IP address against its IP
/// SANs, a DNS name against its DNS SANs) and sends SNI for a DNS name. False when OpenSSL refuses.
bool expect_server_name(SSL* ssl, const std::string& host);

/// The newest OpenSSL error(s) as text, and clears the queue.
std::string openssl_errors();

}  // namespace execaudit::net
