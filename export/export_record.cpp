#include "export/export_record.h"

#include "common/time_format.h"
#include "storage/session_proto.h"

namespace execaudit::exporting {

std::optional<v1::ExportRecord> RecordReader::read(const storage::OutboxEntry& e) {
    // One read per session and batch: every record of it in the batch shows the same state.
    if (!cached_ || cached_->record.id != e.session_id) {
        storage::SessionFilter only;
        only.session_id = e.session_id;
        auto found = store_.list(only);
        if (found.empty()) {
            cached_.reset();
            return std::nullopt;
        }
        auto requests = requests_.requests_of_session(found.front());
        auto proto = storage::to_proto(found.front(), {}, requests);
        cached_ = CachedSession{std::move(found.front()), std::move(proto)};
    }
    const storage::SessionRecord& s = cached_->record;

    v1::ExportRecord r;
    r.set_record_id(storage::record_id(e));
    r.set_session_id(s.id);
    r.set_node(s.node);
    r.set_position(static_cast<uint64_t>(e.position));
    *r.mutable_session() = cached_->proto;
    switch (e.kind) {
        case storage::OutboxKind::session_start:
            r.set_kind(v1::session_start);
            r.set_time(format_rfc3339_us(s.start_ns));
            break;
        case storage::OutboxKind::command: {
            auto c = store_.command(e.session_id, e.seq);
            if (!c) return std::nullopt;
            r.set_kind(v1::command);
            r.set_time(format_rfc3339_us(c->time_ns));
            *r.mutable_command() = storage::to_proto(*c);
            break;
        }
        case storage::OutboxKind::session_end:
            r.set_kind(v1::session_end);
            r.set_time(format_rfc3339_us(s.end_ns.value_or(s.last_activity_ns ? s.last_activity_ns : s.start_ns)));
            break;
        case storage::OutboxKind::session_attributed:
            r.set_kind(v1::session_attributed);
            r.set_time(format_rfc3339_us(e.noted_ns));
            break;
        default:
            return std::nullopt;  // written by a newer execaudit: not ours to interpret
    }
    return r;
}

}  // namespace execaudit::exporting
