#pragma once
// Ed25519 signatures over session chain heads (storage/session_chain.h), through OpenSSL.
// `record --signing-key FILE` and `collect --signing-key FILE` sign; `verify --public-key FILE`
// (repeatable: the nodes' keys and the collector's) checks. A key is named by its id: the first 16
// hex digits of SHA-256 over the raw 32-byte public key.

#include <memory>
#include <string>
#include <string_view>
#include <vector>

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

/// One or several public keys; a signature names the key it was made with (its key id).
class HeadVerifier {
public:
    /// An Ed25519 public key (PEM, `openssl pkey -pubout`), or a private key (its public half).
    static HeadVerifier from_pem_file(const std::string& path);
    /// Every key in `paths` (at least one). Throws UsageError naming a bad file.
    static HeadVerifier from_pem_files(const std::vector<std::string>& paths);
    /// Whether any of the keys made `signature` over `message`.
    bool verify(std::string_view message, std::string_view signature) const;
    /// Whether the key `key_id` is one of these and made `signature` over `message`.
    bool verify_with(std::string_view key_id, std::string_view message, std::string_view signature) const;
    bool holds(std::string_view key_id) const;
    /// The key's id; with several keys, their ids joined by ", " (for messages).
    const std::string& key_id() const { return key_ids_; }

private:
    struct Key {
        std::shared_ptr<EVP_PKEY> key;
        std::string id;
    };
    std::vector<Key> keys_;
    std::string key_ids_;
};

}  // namespace execaudit::storage
