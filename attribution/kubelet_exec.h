#pragma once
// Is this exec session the kubelet's own exec probe or exec lifecycle hook? The kubelet runs them
// through the runtime exactly as `kubectl exec` arrives (a runc exec into the container), with no
// API request, so without this every probe run would be an `unattributed` finding.
//
// A session is the kubelet's only when everything fits, in the spec that held when it started:
// no tty; its first command's argv is exactly the argv of an exec probe or hook of the container
// it ran in; and every later command of its tree is accounted for by that command line (a shell
// probe `sh -c SCRIPT` may run the words of SCRIPT; any other probe runs nothing more). Anything
// else is a look-alike and stays a finding, with the reason: a tty, another container's probe, a
// command the probe's line does not account for (preloaded code, a replaced binary that execs
// something), or a pod whose spec is unknown. Pure logic; the caller passes what it knows.

#include <optional>
#include <set>
#include <string>
#include <vector>

namespace execaudit::attribution {

/// One exec action of a container's spec.
struct KubeletAction {
    std::string entered_via;  ///< "probe" or "hook"
    std::string name;         ///< liveness, readiness, startup / postStart, preStop
    std::vector<std::string> argv;
};

/// What the pod spec says (nullopt: the pod's spec is unknown).
struct KubeletSpec {
    std::string container;                     ///< the container the session ran in
    std::vector<KubeletAction> actions;        ///< that container's exec probes and hooks
    std::vector<std::pair<std::string, KubeletAction>> others;  ///< other containers' (name, action)
};

struct KubeletJudgement {
    bool kubelet = false;
    std::string entered_via;  ///< kubelet: "probe" or "hook"
    std::string name;         ///< kubelet: which (liveness, postStart, ...)
    std::string reason;       ///< not kubelet but probe-like: why it stays a finding ("" when nothing alike)
};

/// `commands`: the argv of every command of the session's tree, in order (the first is the
/// session's own); `commands_complete` false when some were lost or not kept (then it is no run).
KubeletJudgement judge_kubelet_exec(const std::optional<KubeletSpec>& spec, bool tty,
                                    const std::vector<std::vector<std::string>>& commands, bool commands_complete);

/// A shell script's words (whitespace and operators split, quotes removed) and those in command
/// position (first, or after an operator or a keyword); nullopt when `argv` is no `SHELL -c SCRIPT`.
struct ScriptWords {
    std::set<std::string> words, commands;
};
std::optional<ScriptWords> shell_script_words(const std::vector<std::string>& argv);

}  // namespace execaudit::attribution
