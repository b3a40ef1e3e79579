#pragma once
// Ed25519 signatures over session chain heads (storage/session_chain.h), through OpenSSL.
// `record --signing-key FILE` signs; `verify --public-key FILE` checks. A key is named by its
// id: the first 16 hex digits of SHA-256 over the raw 32-byte public key.

#include <memory>
#include <string>
#include <string_view>

typedef struct evp_pkey_st EVP_PKEY;

namespace execaudit::storage {

struct PkeyFree {
    void operator()(EVP_PKEY* k) const;
};

class HeadSigner {
public:
    /// Reads an Ed25519 private key (PEM, e.g. `openssl genpkey -algorithm ed25519`). Throws
    /// UsageError when the file is unreadable or holds another kind of key.
    static HeadSigner from_pem_file(const std::string& path);
    /// A 64-byte signature.
    std::string sign(std::string_view message) const;
    const std::string& key_id() const { return key_id_; }

private:
    std::shared_ptr<EVP_PKEY> key_;
    std::string key_id_;
};

class HeadVerifier {
public:
    /// An Ed25519 public key (PEM, `openssl pkey -pubout`), or a private key (its public half).
    static HeadVerifier from_pem_file(const std::string& path);
    bool verify(std::string_view message, std::string_view signature) const;
    const std::string& key_id() const { return key_id_; }

private:
    std::shared_ptr<EVP_PKEY> key_;
    std::string key_id_;
};

}  // namespace execaudit::storage
