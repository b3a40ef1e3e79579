#include "attribution/kubelet_exec.h"

#include <algorithm>
#include <set>

namespace execaudit::attribution {
namespace {

std::string basename_of(const std::string& path) {
    auto slash = path.rfind('/');
    return slash == std::string::npos ? path : path.substr(slash + 1);
}

std::string shown(const std::vector<std::string>& argv) {
    std::string out;
    for (const auto& a : argv) {
        if (!out.empty()) out += ' ';
        out += a.size() > 64 ? a.substr(0, 64) + "..." : a;
        if (out.size() > 200) return out + " ...";
    }
    return out;
}

}  // namespace

std::optional<ScriptWords> shell_script_words(const std::vector<std::string>& argv) {
    static const std::set<std::string> kShells = {"sh", "bash", "dash", "ash", "zsh", "ksh"};
    static const std::set<std::string> kKeywords = {"exec", "then", "do", "else", "elif", "!", "if", "while", "until",
                                                    "command", "time", "nice", "timeout", "env"};
    if (argv.size() < 3 || !kShells.contains(basename_of(argv[0])) || argv[1] != "-c") return std::nullopt;
    ScriptWords out;
    std::string word;
    char quote = 0;
    bool command_position = true;
    auto flush = [&] {
        if (word.empty()) return;
        out.words.insert(word);
        bool was_command = command_position;
        if (command_position) out.commands.insert(word);
        // after a keyword or a prefix command the next word is a command too; an assignment too
        command_position = was_command && (kKeywords.contains(word) || word.find('=') != std::string::npos);
        word.clear();
    };
    for (char c : argv[2]) {
        if (quote) {
            if (c == quote) quote = 0;
            else word.push_back(c);
        } else if (c == '\'' || c == '"') {
            quote = c;
        } else if (c == ' ' || c == '\t') {
            flush();
        } else if (c == '\n' || c == ';' || c == '|' || c == '&' || c == '(' || c == ')' || c == '`' || c == '{' ||
                   c == '}') {
            flush();
            command_position = true;
        } else if (c == '<' || c == '>') {
            flush();
        } else {
            word.push_back(c);
        }
    }
    flush();
    return out;
}

KubeletJudgement judge_kubelet_exec(const std::optional<KubeletSpec>& spec, bool tty,
                                    const std::vector<std::vector<std::string>>& commands, bool commands_complete) {
    KubeletJudgement j;
    if (!spec) {
        if (!tty) j.reason = "pod spec unknown: a kubelet probe or hook cannot be told from a look-alike";
        return j;
    }
    if (commands.empty()) return j;
    const auto& first = commands.front();
    const KubeletAction* action = nullptr;
    for (const auto& a : spec->actions)
        if (a.argv == first) action = &a;
    if (!action) {
        for (const auto& [container, a] : spec->others)
            if (a.argv == first) {
                j.reason = "the argv of container " + container + "'s " + a.name + " " + a.entered_via + ", run in container " +
                           spec->container + ": the kubelet runs it only in its own container";
                return j;
            }
        return j;  // nothing alike: an ordinary finding
    }
    std::string what = action->name + " " + action->entered_via;
    if (tty) {
        j.reason = "the argv of the " + what + " on a tty: the kubelet runs it without one";
        return j;
    }
    if (!commands_complete) {
        j.reason = "the argv of the " + what + ", but not every command of its tree was seen";
        return j;
    }
    auto script = shell_script_words(action->argv);
    for (size_t i = 1; i < commands.size(); ++i) {
        const auto& c = commands[i];
        // a shell probe may run the commands its script names, with the script's own words only
        bool accounted = script && !c.empty() &&
                         (script->commands.contains(c[0]) || script->commands.contains(basename_of(c[0]))) &&
                         std::all_of(c.begin() + 1, c.end(), [&](const std::string& arg) { return script->words.contains(arg); });
        if (!accounted) {
            j.reason = "the argv of the " + what + ", but its tree ran `" + shown(c) +
                       "`, which the " + action->entered_via + "'s command line does not account for";
            return j;
        }
    }
    j.kubelet = true;
    j.entered_via = action->entered_via;
    j.name = action->name;
    return j;
}

}  // namespace execaudit::attribution
