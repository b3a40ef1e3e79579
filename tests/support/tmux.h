#pragma once
// A program in a real terminal, driven and read like a person would: tmux on a private server
// (its own -L socket, so tests never touch another tmux), a fixed window size, keys in with
// send-keys, the screen out with capture-pane. The server is killed on destruction.

#include "tests/support/environment.h"

#include <chrono>
#include <functional>
#include <optional>
#include <string>
#include <vector>

namespace execaudit::testing {

class Tmux {
public:
    /// Runs `argv` in a rows x cols window (LANG=C.UTF-8, TERM=tmux-256color).
    Tmux(int rows, int cols, const std::vector<std::string>& argv);
    ~Tmux();
    Tmux(const Tmux&) = delete;
    Tmux& operator=(const Tmux&) = delete;

    /// tmux key names: "Space", "Right", "Enter", "Escape", "q", "C-c", ...
    void keys(const std::vector<std::string>& keys);
    /// Literal text, typed.
    void type(const std::string& text);
    /// What the pane shows now, one line per row.
    std::string screen() const;
    /// The screen once it stops changing (two captures 50 ms apart agree): never half a redraw.
    std::string settled() const;
    /// Waits until the screen contains `needle`; false (after `timeout`) when it never does.
    bool wait_for(const std::string& needle, std::chrono::milliseconds timeout = std::chrono::seconds(10)) const;
    bool wait_until(const std::function<bool(const std::string&)>& ok, std::chrono::milliseconds timeout = std::chrono::seconds(10)) const;
    std::string pane_title() const;
    /// The pid of the program while it runs (to read its /proc, as the bench reads the player's
    /// RSS); nullopt once it has exited.
    std::optional<int> program_pid() const;
    /// The program's exit status once it has exited.
    std::optional<int> exit_status() const;
    void resize(int rows, int cols);

private:
    std::vector<std::string> tmux(const std::vector<std::string>& args) const;

    TempDir dir_;
    std::string socket_;
};

/// argv of the player: `execaudit play ID --db DB EXTRA...`.
std::vector<std::string> play_argv(const std::string& db, const std::string& id, const std::vector<std::string>& extra = {});
/// The position the player's header shows ("MM:SS.T / "), in tenths of a second; -1 when none.
long shown_tenths(const std::string& screen);

}  // namespace execaudit::testing
