// `execaudit detach`: the end of an installation on a node. The recorder leaves its programs
// attached on purpose (bpf_pins.h); this removes them, and closes what they were following.
#include "recorder/recorder.h"

#include "common/errors.h"
#include "common/log.h"
#include "recorder/capture/bpf_pins.h"
#include "storage/recorder_restart.h"

#include <fmt/format.h>

#include <filesystem>
#include <iostream>
#include <unistd.h>

namespace execaudit::recorder {

int run_detach(const DetachOptions& options) {
    namespace fs = std::filesystem;
    const std::string& dir = options.bpf_pin_dir;
    if (dir.empty()) throw UsageError("--bpf-pin-dir cannot be empty");
    size_t pins = 0;
    std::error_code ec;
    if (fs::is_directory(fs::symlink_status(dir, ec))) {
        PinLock lock(dir);  // never under a running recorder
        for (const auto& tag : pinned_tags(dir)) pins += remove_pins(dir + "/" + tag);
        if (fs::is_empty(dir, ec) && !ec) ::rmdir(dir.c_str());
        else log::warn("{} holds more than execaudit's pins; left in place", dir);
    }
    std::cout << fmt::format("{} pins removed from {}{}\n", pins, dir,
                             pins ? ": execaudit's programs are detached" : " (nothing was pinned)");
    if (!options.db_path.empty()) {
        auto db = storage::Database::open(options.db_path, storage::Database::Mode::read_write);
        int closed = storage::close_abandoned_sessions(db);
        storage::clear_recorder_state(db, storage::kCleanStopKey);
        std::cout << fmt::format("{} open sessions in {} marked interrupted\n", closed, options.db_path);
    }
    return 0;
}

}  // namespace execaudit::recorder
