#pragma once
// `--config FILE` for the long-running subcommands (record, collect): a YAML mapping whose keys are
// the subcommand's long flags without the dashes, e.g.
//     audit-webhook: 0.0.0.0:9443
//     cgroup-root: [/kubepods.slice]
//     ecs: true
// The keys are the CLI11 options themselves (looked up by name when the file is read), so every new
// flag is a key with no list to keep, and each value goes through the flag's own conversion and
// checks. Precedence: the command line, then the environment, then the file, then the defaults.
// An unknown key or a bad value is a parse error naming the file, the line and the key (exit 2).

#include <CLI/CLI.hpp>

#include <string>
#include <vector>

namespace execaudit::cli {

/// One key of a config file, as written.
struct ConfigEntry {
    std::string key;
    std::vector<std::string> values;  ///< one for a scalar, each element for a list
    bool list = false;
    bool mapping = false;  ///< written as a mapping: each value is "KEY=VALUE" (flags whose values are NAME=VALUE)
    int line = 0;  ///< 1-based, of the key
    int value_line = 0;
};

/// Reads YAML text into entries; `source` names it in errors. Throws CLI::ConfigError
/// ("SOURCE:LINE: ...") for a syntax error, a file that is not a mapping, a duplicate key, a key
/// that is not a name, or a value that is empty, a mapping, or a list of non-scalars.
std::vector<ConfigEntry> parse_config_yaml(const std::string& text, const std::string& source);

/// Adds `--config FILE` and `--print-config` to `command`.
void add_config_options(CLI::App* command);

/// True when `--print-config` was given: the caller prints effective_config() and exits 0.
bool print_config_requested(const CLI::App& command);

/// `command`'s settings as a config file that `--config` reads back: every key that is set (on the
/// command line, in the environment or in the file) with its value, every other key commented out
/// with its default. A password in a URL (`scheme://user:password@host`) is printed as `***`.
std::string effective_config(const CLI::App& command);

}  // namespace execaudit::cli
