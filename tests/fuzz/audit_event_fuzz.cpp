// libFuzzer target: audit events as the two ways in deliver them — a line of the log backend
// (the audit-log tail) and an EventList body (the audit webhook). Every field is chosen by whoever
// can post to the webhook or, through a request, by the person being recorded.
#include "attribution/audit_event.h"
#include "attribution/exec_request.h"
#include "tests/fuzz/fuzz_check.h"

using namespace execaudit;

namespace {

void use(const attribution::AuditEvent& event) {
    fuzz::check(event.target.command.size() <= attribution::kMaxCommandArgs, "more arguments kept than the bound");
    (void)attribution::check_event_times(event, 1'700'000'000'000'000'000, 10'000'000'000);
    attribution::ExecRequest request;
    request.merge(event);
    (void)attribution::request_key(event);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    std::string copy(fuzz::as_text(data, size));
    if (auto line = attribution::parse_audit_log_line(copy); line && *line) use(**line);
    if (auto list = attribution::parse_event_list(copy)) {
        fuzz::check(list->errors.size() <= list->malformed, "more errors than malformed items");
        for (const auto& e : list->events) use(e);
    }
    return 0;
}
