#include "storage/exported_heads.h"

#include "common/errors.h"
#include "common/text.h"
#include "common/time_format.h"
#include "storage/session_chain.h"

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cstring>
#include <fstream>
#include <set>

namespace execaudit::storage {
namespace {

// An export line is one record; the longest a record gets is a few MiB (argv of 256 KiB, labels).
constexpr size_t kMaxLine = 64u << 20;
constexpr size_t kExamples = 5;

bool is_hex_hash(const std::string& s) {
    return s.size() == 64 && std::all_of(s.begin(), s.end(), [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); });
}

const nlohmann::json* member(const nlohmann::json& j, const char* key) {
    if (!j.is_object()) return nullptr;
    auto it = j.find(key);
    return it == j.end() ? nullptr : &*it;
}
std::string text_of(const nlohmann::json* j) { return j && j->is_string() ? j->get<std::string>() : std::string(); }

// The session id, its head (hex), records and start, from a record in either style; "" id: none.
struct Found {
    std::string session_id, kind, time, head, start, node;
    uint64_t records = 0;
    bool has_chain = false;
};
std::optional<Found> parse_record(const nlohmann::json& j, std::string& why) {
    Found f;
    const nlohmann::json* chain = nullptr;
    if (const auto* session = member(j, "session"); session && member(j, "record_id")) {
        // execaudit.proto's JSON form
        f.session_id = text_of(member(*session, "id"));
        f.kind = text_of(member(j, "kind"));
        f.time = text_of(member(j, "time"));
        f.start = text_of(member(*session, "start"));
        f.node = text_of(member(*session, "node"));
        chain = member(*session, "chain");
    } else if (const auto* ours = member(j, "execaudit"); ours && member(j, "ecs")) {
        f.session_id = text_of(member(*ours, "session_id"));
        f.kind = text_of(member(*ours, "kind"));
        f.time = text_of(member(j, "@timestamp"));
        f.start = text_of(member(*ours, "session_start"));
        if (const auto* host = member(j, "host")) f.node = text_of(member(*host, "name"));
        chain = member(*ours, "chain");
    } else {
        why = "not an execaudit export record";
        return std::nullopt;
    }
    if (f.session_id.empty()) {
        why = "a record without a session id";
        return std::nullopt;
    }
    if (chain && chain->is_object()) {
        f.head = text_of(member(*chain, "head"));
        const auto* records = member(*chain, "records");
        if (!is_hex_hash(f.head) || !records || !records->is_number_unsigned()) {
            why = "a chain that is not a SHA-256 head and a record count";
            return std::nullopt;
        }
        f.records = records->get<uint64_t>();
        f.has_chain = true;
    }
    return f;
}

}  // namespace

ExportedHeads read_exported_heads(const std::vector<std::string>& paths) {
    ExportedHeads out;
    for (const auto& path : paths) {
        std::ifstream in(path, std::ios::binary);
        if (!in) throw UsageError(fmt::format("--exported {}: {}", path, std::strerror(errno)));
        std::string line;
        uint64_t n = 0;
        auto unreadable = [&](const std::string& why) {
            ++out.unreadable;
            if (out.unreadable_examples.size() < kExamples) out.unreadable_examples.push_back(fmt::format("{}:{}: {}", path, n, why));
        };
        while (std::getline(in, line)) {
            ++n;
            ++out.lines;
            if (line.empty()) continue;
            if (line.size() > kMaxLine) {
                unreadable(fmt::format("a line of {} bytes", line.size()));
                continue;
            }
            auto j = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
            if (j.is_discarded()) {
                unreadable("not JSON");
                continue;
            }
            std::string why;
            auto f = parse_record(j, why);
            if (!f) {
                unreadable(why);
                continue;
            }
            ++out.records;
            if (!f->has_chain) continue;  // a record of an open session, or one recorded before hash chains
            std::string where = fmt::format("{}:{}", path, n);
            auto [it, fresh] = out.sessions.try_emplace(f->session_id);
            ExportedHead& h = it->second;
            if (fresh) {
                h.head = f->head;
                h.records = f->records;
                h.time = f->time;
                h.where = where;
                h.node = f->node;
                if (auto s = parse_rfc3339(f->start)) h.start_ns = *s;
            } else if ((h.head != f->head || h.records != f->records) && h.other_head_at.empty()) {
                h.other_head_at = where;
            }
        }
    }
    return out;
}

std::vector<ExportComparison> compare_with_export(const ExportedHeads& exported, const std::vector<SessionRecord>& stored,
                                                  const std::map<std::string, TombstoneRecord>& tombstones,
                                                  const ExportScope& scope) {
    std::vector<ExportComparison> out;
    std::map<std::string, const SessionRecord*> by_id;
    for (const auto& s : stored) by_id.emplace(s.id, &s);
    std::set<std::string> ids(scope.ids.begin(), scope.ids.end());
    for (const auto& [id, e] : exported.sessions) {
        auto found = by_id.find(id);
        if (found == by_id.end() && !scope.nodes.empty() && !e.node.empty() && !scope.nodes.count(e.node)) continue;
        bool in_scope = found != by_id.end() || ids.count(id) ||
                        (scope.ids.empty() && (!e.start_ns || ((!scope.since_ns || *e.start_ns >= *scope.since_ns) &&
                                                               (!scope.until_ns || *e.start_ns < *scope.until_ns))));
        if (!in_scope) continue;
        ExportComparison c{id, Integrity::intact, {}};
        std::string exported_as = fmt::format("the export holds head {} over {} records ({}, {})", e.head.substr(0, 16), e.records,
                                              terminal_safe(e.time), terminal_safe(e.where));
        if (!e.other_head_at.empty()) {
            c.verdict = Integrity::altered;
            c.detail = fmt::format("{}, and another head for it at {}: the session was rewritten after it was first exported",
                                   exported_as, terminal_safe(e.other_head_at));
        } else if (found != by_id.end()) {
            const SessionRecord& s = *found->second;
            std::string head = to_hex(s.chain_head);
            if (s.chain_head.empty()) {
                c.verdict = Integrity::unsealed;
                c.detail = exported_as + "; the store's copy has no head (it was reopened or its head removed)";
            } else if (head != e.head || s.chain_records != e.records) {
                c.verdict = Integrity::altered;
                c.detail = fmt::format("{}; the store's head is {} over {} records: the session was rewritten after it left the node",
                                       exported_as, head.substr(0, 16), s.chain_records);
            } else {
                c.detail = "matches its exported head";
            }
        } else if (auto t = tombstones.find(id); t != tombstones.end()) {
            if (to_hex(t->second.chain_head) != e.head) {
                c.verdict = Integrity::altered;
                c.detail = fmt::format("{}; its tombstone says head {}: what was deleted is not what was exported", exported_as,
                                       to_hex(t->second.chain_head).substr(0, 16));
            } else {
                c.verdict = Integrity::deleted;
                c.detail = "deleted by a retention rule; its tombstone holds the exported head";
            }
        } else {
            c.verdict = Integrity::removed;
            c.detail = exported_as + "; the store holds neither the session nor a tombstone: it was removed";
        }
        out.push_back(std::move(c));
    }
    return out;
}

}  // namespace execaudit::storage
