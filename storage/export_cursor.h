#pragma once
// Where each export destination stands: the outbox position up to which every record is known
// delivered. Persisted, so a restarted recorder resumes there (at-least-once: what was sent
// after it may be sent again, with the same record ids).

#include "storage/database.h"

#include <cstdint>
#include <optional>
#include <string>

namespace execaudit::storage {

class ExportCursor {
public:
    /// `name` identifies the destination ("syslog tls://siem:6514"); a new name starts at 0.
    ExportCursor(Database& db, std::string name);

    /// The persisted position (0 when this destination never exported).
    int64_t load();
    /// Persists `position` (never moves backwards).
    void save(int64_t position, int64_t now_ns);

private:
    Database& db_;
    std::string name_;
};

}  // namespace execaudit::storage
