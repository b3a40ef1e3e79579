#include "net/tls_context.h"

#include "common/errors.h"

#include <fmt/format.h>
#include <openssl/err.h>

namespace execaudit::net {

std::string openssl_errors() {
    std::string out;
    while (unsigned long e = ERR_get_error()) {
        char buf[256];
        ERR_error_string_n(e, buf, sizeof(buf));
        if (!out.empty()) out += "; ";
        out += buf;
    }
    return out.empty() ? "unknown TLS error" : out;
}

SslCtxPtr make_client_context(const TlsOptions& o) {
    SslCtxPtr ctx(SSL_CTX_new(TLS_client_method()));
    if (!ctx) throw RuntimeError("TLS: " + openssl_errors());
    SSL_CTX_set_min_proto_version(ctx.get(), TLS1_2_VERSION);
    SSL_CTX_set_verify(ctx.get(), SSL_VERIFY_PEER, nullptr);
    SSL_CTX_set_mode(ctx.get(), SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
    if (o.ca_file.empty()) {
        if (SSL_CTX_set_default_verify_paths(ctx.get()) != 1)
            throw UsageError("TLS: cannot load the system's CA certificates: " + openssl_errors());
    } else if (SSL_CTX_load_verify_locations(ctx.get(), o.ca_file.c_str(), nullptr) != 1) {
        throw UsageError(fmt::format("TLS: cannot load CA certificates from {}: {}", o.ca_file, openssl_errors()));
    }
    if (!o.cert_file.empty()) {
        std::string key = o.key_file.empty() ? o.cert_file : o.key_file;
        if (SSL_CTX_use_certificate_chain_file(ctx.get(), o.cert_file.c_str()) != 1)
            throw UsageError(fmt::format("TLS: cannot load the client certificate {}: {}", o.cert_file, openssl_errors()));
        if (SSL_CTX_use_PrivateKey_file(ctx.get(), key.c_str(), SSL_FILETYPE_PEM) != 1)
            throw UsageError(fmt::format("TLS: cannot load the client key {}: {}", key, openssl_errors()));
        if (SSL_CTX_check_private_key(ctx.get()) != 1)
            throw UsageError(fmt::format("TLS: the key {} does not belong to the certificate {}", key, o.cert_file));
    } else if (!o.key_file.empty()) {
        throw UsageError("TLS: a client key was given without a client certificate");
    }
    return ctx;
}

}  // namespace execaudit::net
