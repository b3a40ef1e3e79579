#include "cli/config_file.h"

#include "common/text.h"

#include <fmt/format.h>
#include <yaml-cpp/yaml.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <map>
#include <regex>

namespace execaudit::cli {
namespace {

CLI::ConfigError config_error(const std::string& source, int line, const std::string& message) {
    return CLI::ConfigError(fmt::format("{}:{}: {}", terminal_safe(source), line, message));
}

std::string quoted_key(const std::string& key) { return "'" + terminal_safe(key) + "'"; }

std::string command_path(const CLI::App& command) {
    std::string path;
    for (const CLI::App* a = &command; a; a = a->get_parent()) path = a->get_name() + (path.empty() ? "" : " " + path);
    return path;
}

bool is_key(const CLI::App& app, const CLI::Option* opt) {
    return opt && opt->get_configurable() && !opt->get_lnames().empty() && opt != app.get_help_ptr() &&
           opt != app.get_help_all_ptr();
}

/// The option a key names: the subcommand's own flag, else one of its parents' (--log-level).
CLI::Option* option_for(CLI::App& command, const std::string& key) {
    for (CLI::App* app = &command; app; app = app->get_parent()) {
        CLI::Option* opt = app->get_option_no_throw("--" + key);
        if (is_key(*app, opt)) return opt;
    }
    return nullptr;
}

/// CLI11's messages start with the flag's name ("--ring-buffer-mb: Value 5000 not in range ..."): the
/// key is named already.
std::string without_flag_prefix(std::string message, const std::string& key) {
    std::string prefix = "--" + key + ": ";
    if (message.rfind(prefix, 0) == 0) message.erase(0, prefix.size());
    return message;
}

void apply_entry(CLI::App& command, const ConfigEntry& entry, const std::string& source) {
    CLI::Option* opt = option_for(command, entry.key);
    if (!opt)
        throw config_error(source, entry.line,
                           fmt::format("unknown key {}: `{}` has no flag --{} (see `{} --help`)", quoted_key(entry.key),
                                       command_path(command), terminal_safe(entry.key), command_path(command)));
    if (entry.mapping && opt->get_type_name().find('=') == std::string::npos)
        throw config_error(source, entry.value_line,
                           fmt::format("key {}: a value or a list of values, not a mapping", quoted_key(entry.key)));
    // The command line (or the environment) wins; the file's value is still checked, so a wrong
    // file is found before the day the flag goes away.
    std::vector<std::string> given = opt->results();
    bool overridden = opt->count() > 0;
    opt->clear();
    try {
        if (opt->get_expected_min() == 0) {  // a flag: true / false
            if (entry.list) throw CLI::ConversionError(fmt::format("{} is a flag: true or false, not a list", entry.key));
            opt->add_result(opt->get_flag_value(entry.key, entry.values.front()));
        } else {
            opt->add_result(entry.values);
        }
        opt->run_callback();
    } catch (const CLI::Error& e) {
        opt->clear();
        throw config_error(source, entry.value_line,
                           fmt::format("bad value for key {}: {}", quoted_key(entry.key),
                                       terminal_safe(without_flag_prefix(e.what(), entry.key))));
    }
    if (overridden) {
        opt->clear();
        opt->add_result(given);
        opt->run_callback();
    }
}

void apply_config_file(CLI::App& command, const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) throw CLI::ConfigError(fmt::format("--config {}: cannot read it ({})", terminal_safe(path), std::strerror(errno)));
    // A settings file is small; a path to something else (a log, a device) is a mistake to name.
    constexpr std::streamsize kMaxBytes = 1 << 20;
    std::string text(kMaxBytes + 1, '\0');
    in.read(text.data(), kMaxBytes + 1);
    text.resize(static_cast<size_t>(in.gcount()));
    if (text.size() > static_cast<size_t>(kMaxBytes))
        throw CLI::ConfigError(fmt::format("--config {}: larger than 1 MiB: not a settings file", terminal_safe(path)));
    for (const auto& entry : parse_config_yaml(text, path)) apply_entry(command, entry, path);
}

std::string yaml_scalar(const std::string& value) {
    YAML::Emitter out;
    out << value;
    return out.c_str();
}

std::string yaml_value(const std::vector<std::string>& values, bool list) {
    if (!list) return yaml_scalar(values.empty() ? "" : values.front());
    YAML::Emitter out;
    out << YAML::Flow << values;
    return out.c_str();
}

std::string redact_url_password(const std::string& value) {
    static const std::regex password(R"(^([A-Za-z][A-Za-z0-9+.-]*://[^/:@]*:)[^@/]*@)");
    return std::regex_replace(value, password, "$1***@");
}

bool is_list(const CLI::Option& opt) { return opt.get_expected_max() > 1 || opt.get_items_expected_max() > 1; }

}  // namespace

std::vector<ConfigEntry> parse_config_yaml(const std::string& text, const std::string& source) {
    YAML::Node root;
    try {
        root = YAML::Load(text);
    } catch (const YAML::Exception& e) {
        throw config_error(source, e.mark.line + 1, "not valid YAML: " + terminal_safe(e.msg));
    }
    std::vector<ConfigEntry> entries;
    if (!root || root.IsNull()) return entries;  // an empty file sets nothing
    if (!root.IsMap())
        throw config_error(source, root.Mark().line + 1,
                           "a config file is a mapping of flag names to values (`audit-skew: 2`), one per line");
    std::map<std::string, int> seen;
    for (const auto& kv : root) {
        const YAML::Node& key = kv.first;
        const YAML::Node& value = kv.second;
        int line = key.Mark().line + 1;
        if (!key.IsScalar()) throw config_error(source, line, "a key is a flag name without the dashes, e.g. `audit-skew`");
        ConfigEntry entry{.key = key.Scalar(), .line = line, .value_line = value.Mark().line >= 0 ? value.Mark().line + 1 : line};
        if (auto [it, fresh] = seen.emplace(entry.key, line); !fresh)
            throw config_error(source, line, fmt::format("key {} appears twice (first on line {})", quoted_key(entry.key), it->second));
        if (!value || value.IsNull())
            throw config_error(source, line, fmt::format("key {} has no value", quoted_key(entry.key)));
        if (value.IsMap()) {
            // `retention-namespace: {prod-*: 400}` is `--retention-namespace prod-*=400`
            entry.list = entry.mapping = true;
            for (const auto& item : value) {
                if (!item.first.IsScalar() || !item.second.IsScalar())
                    throw config_error(source, item.first.Mark().line + 1,
                                       fmt::format("key {}: a mapping of plain names to plain values", quoted_key(entry.key)));
                entry.values.push_back(item.first.Scalar() + "=" + item.second.Scalar());
            }
            if (entry.values.empty())
                throw config_error(source, entry.value_line, fmt::format("key {} has an empty mapping", quoted_key(entry.key)));
        } else if (value.IsSequence()) {
            entry.list = true;
            for (const auto& item : value) {
                if (!item.IsScalar())
                    throw config_error(source, item.Mark().line + 1,
                                       fmt::format("key {}: a list holds plain values only", quoted_key(entry.key)));
                entry.values.push_back(item.Scalar());
            }
            if (entry.values.empty())
                throw config_error(source, entry.value_line, fmt::format("key {} has an empty list", quoted_key(entry.key)));
        } else {
            entry.values.push_back(value.Scalar());
        }
        entries.push_back(std::move(entry));
    }
    return entries;
}

void add_config_options(CLI::App* command) {
    command
        ->add_option_function<std::string>(
            "--config", [command](const std::string& path) { apply_config_file(*command, path); },
            "Read settings from this YAML file: each key is one of these flags without the dashes "
            "(`audit-skew: 2`, `cgroup-root: [/kubepods]`, `ecs: true`); flags given here win (docs/cli.md)")
        ->type_name("FILE")
        ->configurable(false);
    command->add_flag("--print-config")
        ->description("Print the settings in effect as a --config file and exit")
        ->configurable(false);
}

bool print_config_requested(const CLI::App& command) {
    const CLI::Option* opt = command.get_option_no_throw("--print-config");
    return opt && opt->count() > 0;
}

std::string effective_config(const CLI::App& command) {
    std::string set, unset;
    auto describe = [&](const CLI::App& app) {
        for (const CLI::Option* opt : app.get_options()) {
            if (!is_key(app, opt)) continue;
            const std::string& key = opt->get_lnames().front();
            if (opt->count() > 0) {
                std::vector<std::string> values;
                for (const auto& v : opt->results()) values.push_back(redact_url_password(v));
                if (opt->get_expected_min() == 0) {  // a flag given as yes/on/1 reads back as true
                    try {
                        values = {opt->as<bool>() ? "true" : "false"};
                    } catch (const CLI::Error&) {
                    }
                }
                set += fmt::format("{}: {}\n", key, yaml_value(values, is_list(*opt)));
            } else {
                std::string def = opt->get_default_str();
                unset += def.empty() ? fmt::format("# {}:\n", key)
                                     : fmt::format("# {}: {}\n", key, yaml_scalar(redact_url_password(def)));
            }
        }
    };
    for (const CLI::App* app = &command; app; app = app->get_parent()) describe(*app);
    std::string path = command_path(command);
    return fmt::format("# `{} --config FILE` reads this; each key is a flag of `{} --help`.\n{}"
                       "# Not set (the default, where there is one):\n{}",
                       path, path, set, unset);
}

}  // namespace execaudit::cli
