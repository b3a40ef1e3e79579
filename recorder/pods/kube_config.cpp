#include "recorder/pods/kube_config.h"

#include "common/errors.h"
#include "common/text.h"

#include <fmt/format.h>
#include <openssl/evp.h>
#include <yaml-cpp/yaml.h>

#include <filesystem>
#include <fstream>
#include <sstream>

namespace execaudit::recorder {
namespace {

namespace fs = std::filesystem;

constexpr size_t kMaxTokenBytes = 64 << 10;   // a bound token is ~1 KB
constexpr size_t kMaxConfigBytes = 16 << 20;  // kubeconfigs with embedded certificates are KBs

std::optional<std::string> read_small_file(const std::string& path, size_t limit, std::string& error) {
    std::ifstream in(path, std::ios::binary);
    if (!in) {
        error = fmt::format("cannot read {}", terminal_safe(path));
        return std::nullopt;
    }
    std::string out(limit + 1, '\0');
    in.read(out.data(), static_cast<std::streamsize>(out.size()));
    out.resize(static_cast<size_t>(in.gcount()));
    if (out.size() > limit) {
        error = fmt::format("{} is larger than {} bytes", terminal_safe(path), limit);
        return std::nullopt;
    }
    return out;
}

std::string trim(std::string s) {
    auto first = s.find_first_not_of(" \t\r\n");
    if (first == std::string::npos) return {};
    auto last = s.find_last_not_of(" \t\r\n");
    return s.substr(first, last - first + 1);
}

/// A token goes into an HTTP header: printable ASCII only (no CR/LF to smuggle a header).
bool header_safe(const std::string& token) {
    for (unsigned char c : token)
        if (c < 0x21 || c > 0x7e) return false;
    return true;
}

std::string base64_decode(const std::string& text, const std::string& what) {
    std::string in;
    for (char c : text)
        if (c != '\n' && c != '\r' && c != ' ' && c != '\t') in.push_back(c);
    if (in.size() % 4 != 0) throw UsageError(fmt::format("{}: not base64", what));
    std::string out(in.size() / 4 * 3, '\0');
    int n = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data()), reinterpret_cast<const unsigned char*>(in.data()),
                            static_cast<int>(in.size()));
    if (n < 0) throw UsageError(fmt::format("{}: not base64", what));
    size_t pad = in.ends_with("==") ? 2 : in.ends_with("=") ? 1 : 0;
    out.resize(static_cast<size_t>(n) - pad);
    return out;
}

/// "https://host[:port][/path]" into the config. Only https: a token never travels in clear.
void parse_server(const std::string& server, KubeConfig& c, const std::string& where) {
    std::string_view s = server;
    if (!s.starts_with("https://"))
        throw UsageError(fmt::format("{}: server {} is not an https:// URL (the token and the pods' specs never travel "
                                     "in clear)", where, terminal_safe(server)));
    s.remove_prefix(8);
    auto slash = s.find('/');
    std::string_view authority = s.substr(0, slash);
    if (slash != std::string_view::npos) {
        c.base_path = std::string(s.substr(slash));
        while (c.base_path.ends_with('/')) c.base_path.pop_back();
    }
    if (authority.empty()) throw UsageError(fmt::format("{}: server {} has no host", where, terminal_safe(server)));
    if (authority.front() == '[') {
        auto close = authority.find(']');
        if (close == std::string_view::npos) throw UsageError(fmt::format("{}: server {}: unclosed '['", where, terminal_safe(server)));
        c.host = std::string(authority.substr(1, close - 1));
        authority.remove_prefix(close + 1);
        if (!authority.empty()) {
            if (authority.front() != ':') throw UsageError(fmt::format("{}: server {}: bad port", where, terminal_safe(server)));
            c.port = std::string(authority.substr(1));
        }
    } else if (auto colon = authority.rfind(':'); colon != std::string_view::npos) {
        c.host = std::string(authority.substr(0, colon));
        c.port = std::string(authority.substr(colon + 1));
    } else {
        c.host = std::string(authority);
    }
    bool digits = !c.port.empty() && c.port.size() <= 5 && c.port.find_first_not_of("0123456789") == std::string::npos;
    if (!digits || std::stoul(c.port) == 0 || std::stoul(c.port) > 65535 || c.host.empty())
        throw UsageError(fmt::format("{}: server {}: bad host or port", where, terminal_safe(server)));
}

std::string relative_to(const std::string& file, const fs::path& dir) {
    if (file.empty()) return file;
    fs::path p(file);
    return p.is_absolute() ? file : (dir / p).string();
}

const YAML::Node named(const YAML::Node& list, const std::string& name, const char* key, const std::string& where) {
    if (list && list.IsSequence())
        for (const auto& item : list)
            if (item.IsMap() && item["name"] && item["name"].as<std::string>("") == name) {
                YAML::Node inner = item[key];
                if (!inner || !inner.IsMap()) throw UsageError(fmt::format("{}: {} {} has no {} map", where, key, terminal_safe(name), key));
                return inner;
            }
    throw UsageError(fmt::format("{}: no {} named {}", where, key, terminal_safe(name)));
}

std::string text(const YAML::Node& map, const char* key) {
    YAML::Node v = map[key];
    if (!v) return {};
    if (!v.IsScalar()) throw UsageError(fmt::format("{} is not a string", key));
    return v.as<std::string>();
}

}  // namespace

std::string KubeConfig::server() const {
    bool v6 = host.find(':') != std::string::npos;
    return fmt::format("https://{}{}{}:{}{}", v6 ? "[" : "", host, v6 ? "]" : "", port, base_path);
}

std::optional<std::string> KubeConfig::read_token(std::string& error) const {
    if (token_file.empty()) return token;
    auto t = read_small_file(token_file, kMaxTokenBytes, error);
    if (!t) return std::nullopt;
    std::string value = trim(std::move(*t));
    if (value.empty()) {
        error = fmt::format("the token file {} is empty", terminal_safe(token_file));
        return std::nullopt;
    }
    if (!header_safe(value)) {
        error = fmt::format("the token file {} holds bytes a bearer token cannot", terminal_safe(token_file));
        return std::nullopt;
    }
    return value;
}

std::optional<KubeConfig> in_cluster_config(const InClusterPaths& paths) {
    const char* host = paths.getenv("KUBERNETES_SERVICE_HOST");
    if (!host || !*host) return std::nullopt;
    const char* port = paths.getenv("KUBERNETES_SERVICE_PORT");
    if (!port || !*port)
        throw UsageError("in-cluster configuration: KUBERNETES_SERVICE_HOST is set but KUBERNETES_SERVICE_PORT is not");
    KubeConfig c;
    c.source = "in-cluster";
    bool v6 = std::string_view(host).find(':') != std::string_view::npos;
    parse_server(fmt::format("https://{}{}{}:{}", v6 ? "[" : "", host, v6 ? "]" : "", port), c, "in-cluster configuration");
    fs::path dir(paths.service_account_dir);
    c.token_file = (dir / "token").string();
    c.tls.ca_file = (dir / "ca.crt").string();
    std::error_code ec;
    if (!fs::exists(c.token_file, ec))
        throw UsageError(fmt::format("in-cluster configuration: no service account token at {} (is "
                                     "automountServiceAccountToken off? --kubeconfig gives another way in)",
                                     terminal_safe(c.token_file)));
    if (!fs::exists(c.tls.ca_file, ec))
        throw UsageError(fmt::format("in-cluster configuration: no CA certificate at {}", terminal_safe(c.tls.ca_file)));
    return c;
}

KubeConfig load_kubeconfig(const std::string& path, const std::string& context_name) {
    std::string error;
    auto content = read_small_file(path, kMaxConfigBytes, error);
    if (!content) throw UsageError("--kubeconfig: " + error);
    std::string where = "--kubeconfig " + terminal_safe(path);
    YAML::Node root;
    try {
        root = YAML::Load(*content);
    } catch (const YAML::Exception& e) {
        throw UsageError(fmt::format("{}: not YAML: {}", where, e.what()));
    }
    if (!root.IsMap()) throw UsageError(where + ": not a kubeconfig (no map at the top)");
    try {
        std::string current = context_name.empty() ? text(root, "current-context") : context_name;
        if (current.empty()) throw UsageError(where + ": no current-context");
        YAML::Node context = named(root["contexts"], current, "context", where);
        std::string cluster_name = text(context, "cluster"), user_name = text(context, "user");
        YAML::Node cluster = named(root["clusters"], cluster_name, "cluster", where);
        fs::path dir = fs::absolute(fs::path(path)).parent_path();

        KubeConfig c;
        c.source = path;
        parse_server(text(cluster, "server"), c, where);
        if (cluster["insecure-skip-tls-verify"] && cluster["insecure-skip-tls-verify"].as<bool>(false))
            throw UsageError(where + ": insecure-skip-tls-verify is not supported: an unverified API server could feed "
                                     "pod specs that hide sessions; give certificate-authority or certificate-authority-data");
        c.tls.ca_file = relative_to(text(cluster, "certificate-authority"), dir);
        if (std::string data = text(cluster, "certificate-authority-data"); !data.empty())
            c.tls.ca_pem = base64_decode(data, where + ": certificate-authority-data");
        if (!c.tls.ca_file.empty() && !c.tls.ca_pem.empty())
            throw UsageError(where + ": certificate-authority and certificate-authority-data: give one");
        c.tls_server_name = text(cluster, "tls-server-name");

        if (!user_name.empty()) {
            YAML::Node user = named(root["users"], user_name, "user", where);
            if (user["exec"] || user["auth-provider"])
                throw UsageError(where + ": user " + terminal_safe(user_name) +
                                 " authenticates with an exec plugin or auth provider, which execaudit does not run; "
                                 "give a token, tokenFile or client certificate");
            if (user["username"] || user["password"])
                throw UsageError(where + ": basic authentication (username/password) is not supported");
            c.token = trim(text(user, "token"));
            c.token_file = relative_to(text(user, "tokenFile"), dir);
            if (!c.token.empty() && !header_safe(c.token)) throw UsageError(where + ": the token holds bytes a bearer token cannot");
            c.tls.cert_file = relative_to(text(user, "client-certificate"), dir);
            c.tls.key_file = relative_to(text(user, "client-key"), dir);
            if (std::string d = text(user, "client-certificate-data"); !d.empty())
                c.tls.cert_pem = base64_decode(d, where + ": client-certificate-data");
            if (std::string d = text(user, "client-key-data"); !d.empty())
                c.tls.key_pem = base64_decode(d, where + ": client-key-data");
            if (c.tls.cert_file.empty() != c.tls.key_file.empty() || c.tls.cert_pem.empty() != c.tls.key_pem.empty())
                throw UsageError(where + ": a client certificate goes with its key");
        }
        if (c.token.empty() && c.token_file.empty() && c.tls.cert_file.empty() && c.tls.cert_pem.empty())
            throw UsageError(where + ": the user has no credentials (token, tokenFile, client-certificate)");
        return c;
    } catch (const YAML::Exception& e) {
        throw UsageError(fmt::format("{}: {}", where, e.what()));
    } catch (const UsageError& e) {
        std::string m = e.what();
        if (m.starts_with(where)) throw;
        throw UsageError(where + ": " + m);
    }
}

}  // namespace execaudit::recorder
