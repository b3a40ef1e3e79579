#include "storage/export_cursor.h"

namespace execaudit::storage {

ExportCursor::ExportCursor(Database& db, std::string name) : db_(db), name_(std::move(name)) {}

int64_t ExportCursor::load() {
    auto st = db_.prepare("SELECT position FROM export_cursor WHERE name = ?1");
    st.bind(1, name_);
    return st.step() ? st.column_int(0) : 0;
}

void ExportCursor::save(int64_t position, int64_t now_ns) {
    auto st = db_.prepare(
        "INSERT INTO export_cursor (name, position, updated_ns) VALUES (?1, ?2, ?3) "
        "ON CONFLICT (name) DO UPDATE SET position = max(position, excluded.position), updated_ns = excluded.updated_ns");
    st.bind(1, name_).bind(2, position).bind(3, now_ns);
    st.run();
}

}  // namespace execaudit::storage
