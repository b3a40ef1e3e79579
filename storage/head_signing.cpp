#include "storage/head_signing.h"

#include "common/errors.h"
#include "storage/session_chain.h"

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include <fmt/format.h>

#include <cstdio>

namespace execaudit::storage {

void PkeyFree::operator()(EVP_PKEY* k) const { EVP_PKEY_free(k); }

namespace {

struct FileClose {
    void operator()(FILE* f) const { std::fclose(f); }
};
struct CtxFree {
    void operator()(EVP_MD_CTX* c) const { EVP_MD_CTX_free(c); }
};

std::string openssl_error() {
    unsigned long e = ERR_get_error();
    if (!e) return "no key in it";
    char buf[256];
    ERR_error_string_n(e, buf, sizeof(buf));
    ERR_clear_error();
    return buf;
}

std::string key_id_of(EVP_PKEY* key) {
    unsigned char raw[32];
    size_t n = sizeof(raw);
    if (EVP_PKEY_get_raw_public_key(key, raw, &n) != 1) throw RuntimeError("cannot read an Ed25519 public key");
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    EVP_Digest(raw, n, digest, &len, EVP_sha256(), nullptr);
    return to_hex(std::string_view(reinterpret_cast<const char*>(digest), 8));
}

std::shared_ptr<EVP_PKEY> read_key(const std::string& path, const char* flag, bool private_key) {
    std::unique_ptr<FILE, FileClose> f(std::fopen(path.c_str(), "r"));
    if (!f) throw UsageError(fmt::format("{} {}: {}", flag, path, std::strerror(errno)));
    EVP_PKEY* key = private_key ? PEM_read_PrivateKey(f.get(), nullptr, nullptr, nullptr)
                                : PEM_read_PUBKEY(f.get(), nullptr, nullptr, nullptr);
    if (!key && !private_key) {
        // a private key file holds the public key too
        ERR_clear_error();
        std::rewind(f.get());
        key = PEM_read_PrivateKey(f.get(), nullptr, nullptr, nullptr);
    }
    if (!key) throw UsageError(fmt::format("{} {}: not a PEM {} key ({})", flag, path, private_key ? "private" : "public",
                                           openssl_error()));
    std::shared_ptr<EVP_PKEY> out(key, PkeyFree{});
    if (EVP_PKEY_id(key) != EVP_PKEY_ED25519)
        throw UsageError(fmt::format("{} {}: not an Ed25519 key (make one with `openssl genpkey -algorithm ed25519`)", flag, path));
    return out;
}

}  // namespace

HeadSigner HeadSigner::from_pem_file(const std::string& path) {
    HeadSigner s;
    s.key_ = read_key(path, "--signing-key", true);
    s.key_id_ = key_id_of(s.key_.get());
    return s;
}

std::string HeadSigner::sign(std::string_view message) const {
    std::unique_ptr<EVP_MD_CTX, CtxFree> ctx(EVP_MD_CTX_new());
    std::string sig(64, '\0');
    size_t n = sig.size();
    if (!ctx || EVP_DigestSignInit(ctx.get(), nullptr, nullptr, nullptr, key_.get()) != 1 ||
        EVP_DigestSign(ctx.get(), reinterpret_cast<unsigned char*>(sig.data()), &n,
                       reinterpret_cast<const unsigned char*>(message.data()), message.size()) != 1)
        throw RuntimeError("Ed25519 signing failed: " + openssl_error());
    sig.resize(n);
    return sig;
}

HeadVerifier HeadVerifier::from_pem_file(const std::string& path) { return from_pem_files({path}); }

HeadVerifier HeadVerifier::from_pem_files(const std::vector<std::string>& paths) {
    if (paths.empty()) throw UsageError("--public-key: no key given");
    HeadVerifier v;
    for (const auto& path : paths) {
        Key k{read_key(path, "--public-key", false), {}};
        k.id = key_id_of(k.key.get());
        if (v.holds(k.id)) continue;  // the same key twice
        v.key_ids_ += (v.keys_.empty() ? "" : ", ") + k.id;
        v.keys_.push_back(std::move(k));
    }
    return v;
}

namespace {

bool verify_one(EVP_PKEY* key, std::string_view message, std::string_view signature) {
    std::unique_ptr<EVP_MD_CTX, CtxFree> ctx(EVP_MD_CTX_new());
    bool ok = ctx && EVP_DigestVerifyInit(ctx.get(), nullptr, nullptr, nullptr, key) == 1 &&
              EVP_DigestVerify(ctx.get(), reinterpret_cast<const unsigned char*>(signature.data()), signature.size(),
                               reinterpret_cast<const unsigned char*>(message.data()), message.size()) == 1;
    ERR_clear_error();
    return ok;
}

}  // namespace

bool HeadVerifier::verify(std::string_view message, std::string_view signature) const {
    for (const auto& k : keys_)
        if (verify_one(k.key.get(), message, signature)) return true;
    return false;
}

bool HeadVerifier::verify_with(std::string_view key_id, std::string_view message, std::string_view signature) const {
    for (const auto& k : keys_)
        if (k.id == key_id) return verify_one(k.key.get(), message, signature);
    return false;
}

bool HeadVerifier::holds(std::string_view key_id) const {
    for (const auto& k : keys_)
        if (k.id == key_id) return true;
    return false;
}

}  // namespace execaudit::storage
