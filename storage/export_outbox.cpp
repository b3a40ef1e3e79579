#include "storage/export_outbox.h"

#include <fmt/format.h>

namespace execaudit::storage {
namespace {

constexpr const char* kColumns = "position, session_id, kind, seq, noted_ns";

OutboxEntry read_entry(const Statement& st) {
    OutboxEntry e;
    e.position = st.column_int(0);
    e.session_id = st.column_text(1);
    e.kind = static_cast<OutboxKind>(st.column_int(2));
    e.seq = static_cast<uint32_t>(st.column_int(3));
    e.noted_ns = st.column_int(4);
    return e;
}

}  // namespace

std::string record_id(const OutboxEntry& e) {
    switch (e.kind) {
        case OutboxKind::session_start:
            return e.session_id + ":start";
        case OutboxKind::command:
            return fmt::format("{}:command:{}", e.session_id, e.seq);
        case OutboxKind::session_end:
            return e.session_id + ":end";
        case OutboxKind::session_attributed:
            return fmt::format("{}:attributed:{}", e.session_id, e.seq);
    }
    return fmt::format("{}:kind{}:{}", e.session_id, static_cast<int>(e.kind), e.seq);
}

ExportOutbox::ExportOutbox(Database& db)
    : after_(db.prepare(fmt::format("SELECT {} FROM export_outbox WHERE position > ?1 ORDER BY position LIMIT ?2",
                                    kColumns))),
      after_session_(db.prepare(fmt::format(
          "SELECT {} FROM export_outbox WHERE session_id = ?3 AND position > ?1 ORDER BY position LIMIT ?2", kColumns))),
      count_after_(db.prepare("SELECT count(*) FROM export_outbox WHERE position > ?1")),
      last_(db.prepare("SELECT coalesce(max(position), 0) FROM export_outbox")) {}

std::vector<OutboxEntry> ExportOutbox::after(int64_t position, size_t limit,
                                             const std::optional<std::string>& session_id) {
    Statement& st = session_id ? after_session_ : after_;
    st.bind(1, position).bind(2, static_cast<int64_t>(limit));
    if (session_id) st.bind(3, *session_id);
    std::vector<OutboxEntry> out;
    while (st.step()) out.push_back(read_entry(st));
    st.reset();
    return out;
}

int64_t ExportOutbox::count_after(int64_t position) {
    count_after_.bind(1, position);
    count_after_.step();
    int64_t n = count_after_.column_int(0);
    count_after_.reset();
    return n;
}

int64_t ExportOutbox::last_position() {
    last_.step();
    int64_t n = last_.column_int(0);
    last_.reset();
    return n;
}

}  // namespace execaudit::storage
