#include "net/tls_context.h"

#include "common/errors.h"

#include <arpa/inet.h>
#include <fmt/format.h>
#include <vector>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

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

namespace {

struct BioFree {
    void operator()(BIO* b) const { BIO_free(b); }
};
struct X509Free {
    void operator()(X509* x) const { X509_free(x); }
};
struct PkeyFree {
    void operator()(EVP_PKEY* k) const { EVP_PKEY_free(k); }
};
using BioPtr = std::unique_ptr<BIO, BioFree>;
using X509Ptr = std::unique_ptr<X509, X509Free>;

BioPtr pem_bio(const std::string& pem) {
    BioPtr bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
    if (!bio) throw RuntimeError("TLS: " + openssl_errors());
    return bio;
}

/// Every certificate of a PEM text, in order; none is an error.
std::vector<X509Ptr> pem_certificates(const std::string& pem, const char* what) {
    auto bio = pem_bio(pem);
    std::vector<X509Ptr> out;
    while (X509* x = PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr)) out.emplace_back(x);
    ERR_clear_error();  // the end of the text reads as an error
    if (out.empty()) throw UsageError(fmt::format("TLS: the {} holds no PEM certificate", what));
    return out;
}

void load_pem(SSL_CTX* ctx, const TlsOptions& o) {
    if (!o.ca_pem.empty()) {
        X509_STORE* store = SSL_CTX_get_cert_store(ctx);
        for (auto& cert : pem_certificates(o.ca_pem, "CA data"))
            if (X509_STORE_add_cert(store, cert.get()) != 1)
                throw UsageError("TLS: cannot use the CA data: " + openssl_errors());
    }
    if (o.cert_pem.empty()) return;
    auto chain = pem_certificates(o.cert_pem, "client certificate data");
    if (SSL_CTX_use_certificate(ctx, chain[0].get()) != 1)
        throw UsageError("TLS: cannot use the client certificate data: " + openssl_errors());
    for (size_t i = 1; i < chain.size(); ++i)
        if (SSL_CTX_add1_chain_cert(ctx, chain[i].get()) != 1)
            throw UsageError("TLS: cannot use the client certificate chain: " + openssl_errors());
    const std::string& key_text = o.key_pem.empty() ? o.cert_pem : o.key_pem;
    auto bio = pem_bio(key_text);
    std::unique_ptr<EVP_PKEY, PkeyFree> key(PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr));
    if (!key) throw UsageError("TLS: the client key data holds no PEM private key: " + openssl_errors());
    if (SSL_CTX_use_PrivateKey(ctx, key.get()) != 1 || SSL_CTX_check_private_key(ctx) != 1)
        throw UsageError("TLS: the client key data does not belong to the client certificate data");
}

}  // namespace

bool expect_server_name(SSL* ssl, const std::string& host) {
    unsigned char addr[16];
    if (inet_pton(AF_INET, host.c_str(), addr) == 1 || inet_pton(AF_INET6, host.c_str(), addr) == 1)
        return X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), host.c_str()) == 1;
    return SSL_set_tlsext_host_name(ssl, host.c_str()) == 1 && SSL_set1_host(ssl, host.c_str()) == 1;
}

SslCtxPtr make_client_context(const TlsOptions& o) {
    if (!o.ca_file.empty() && !o.ca_pem.empty()) throw UsageError("TLS: a CA file and CA data: give one");
    if ((!o.cert_file.empty() || !o.key_file.empty()) && (!o.cert_pem.empty() || !o.key_pem.empty()))
        throw UsageError("TLS: a client certificate file and client certificate data: give one");
    if (!o.key_pem.empty() && o.cert_pem.empty()) throw UsageError("TLS: client key data without client certificate data");
    SslCtxPtr ctx(SSL_CTX_new(TLS_client_method()));
    if (!ctx) throw RuntimeError("TLS: " + openssl_errors());
    SSL_CTX_set_min_proto_version(ctx.get(), TLS1_2_VERSION);
    SSL_CTX_set_verify(ctx.get(), SSL_VERIFY_PEER, nullptr);
    SSL_CTX_set_mode(ctx.get(), SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
    if (!o.ca_pem.empty()) {
        // only the given CA: the system's are not trusted beside it
    } else if (o.ca_file.empty()) {
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
    load_pem(ctx.get(), o);
    return ctx;
}

}  // namespace execaudit::net
