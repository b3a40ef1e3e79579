#pragma once
// Who ran each session. Sessions arrive from the SessionTracker, API requests from the audit
// webhook, the audit log and the admission webhook; the Correlator decides, and every verdict
// and every received stage is stored. Runs on the recorder's io_context.

#include "attribution/correlator.h"
#include "common/time_format.h"
#include "storage/database.h"
#include "storage/records.h"
#include "storage/store_writer.h"

#include <boost/asio/io_context.hpp>

#include <atomic>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

namespace execaudit::attribution {

class Attribution {
public:
    struct Stats {
        uint64_t stages = 0;           ///< audit stages stored
        uint64_t stages_out_of_range = 0;  ///< stored, but dated too far ahead to correlate
        uint64_t admission_reviews = 0;
        uint64_t unverified_reviews = 0;   ///< from a listener that could not authenticate its sender
        uint64_t unattributed = 0;     ///< sessions found to have no API request (findings)
        uint64_t unrecorded = 0;       ///< allowed execs with no session here
        uint64_t denied = 0;
        uint64_t attributed = 0;
        uint64_t ambiguous = 0;
        uint64_t kubelet = 0;          ///< the kubelet's own probe and hook runs (not findings)
    };

    /// `clock`: the node's wall clock (tests replay time).
    Attribution(boost::asio::io_context& io, Correlator::Options options, storage::WriteSink& writer,
                std::function<int64_t()> clock = wall_clock_ns);

    /// Reloads what may still change (recent unsettled sessions and requests) after a restart.
    void reload(storage::Database& db, int64_t now_ns);
    /// The same from any store: the requests that may still change, the unsettled sessions, and
    /// an ambiguous session's candidates.
    void reload(const std::vector<storage::ExecRequestRecord>& requests, const std::vector<storage::SessionRecord>& sessions,
                const std::function<std::vector<std::string>(const std::string&)>& candidates_of, int64_t now_ns);

    void session_started(const storage::SessionRecord& session);
    /// Its kubelet judgement (session.kubelet, judged by the node's recorder, which knows the pod's
    /// spec and the session's commands) decides it when no API request explains it.
    void session_ended(const storage::SessionRecord& session);

    /// Audit stages from `source` ("webhook" or "log"). `cursor` is stored in the same
    /// transaction; `on_stored` runs on the io_context once they are durable.
    void ingest(std::vector<AuditEvent> events, const std::string& source,
                std::optional<storage::LogCursorRecord> cursor, std::function<void()> on_stored);
    /// A request seen by the admission webhook; `raw` is the AdmissionReview as received.
    /// `request.verified` says whether the listener authenticated its sender.
    void admit(ExecRequest request, std::string raw);

    /// What the webhooks, on their server's thread, may consult without touching the
    /// correlator: whether it has room, and how many events wait for the loop. Closed, the
    /// webhooks answer 503 with Retry-After (the API server retries) and the log tail waits.
    struct Intake {
        static constexpr size_t kMaxQueued = 20'000;  ///< events posted to the loop, not yet ingested
        std::atomic<bool> room{true};
        std::atomic<size_t> queued{0};
        std::atomic<uint64_t> refused{0};            ///< webhook batches answered 503
        std::atomic<uint64_t> reviews_dropped{0};    ///< admission reviews not kept (full)
        std::atomic<bool> store_failing{false};      ///< the database refuses writes: nothing could be kept
        bool open() const { return room && queued < kMaxQueued && !store_failing; }
    };
    Intake& intake() { return intake_; }
    const Intake& intake() const { return intake_; }
    bool accepting() const { return intake_.open(); }
    const Correlator& correlator() const { return correlator_; }
    boost::asio::io_context& io() { return io_; }

    /// Applies the grace period; call every second or so.
    void tick();
    const Stats& stats() const { return stats_; }

private:
    void on_session_verdict(const SessionVerdict& v);
    void on_request_verdict(const RequestVerdict& v);
    /// Stores each request that changed since the last call, once (a webhook batch may carry
    /// several stages of one request, and each may change its verdict).
    void store_changed_requests();

    boost::asio::io_context& io_;
    storage::WriteSink& writer_;
    std::function<int64_t()> clock_;
    Correlator correlator_;
    std::set<std::string> changed_requests_;
    /// Where each session the correlator still tracks ran, for the findings' log lines.
    struct SessionPlace {
        std::string namespace_name, pod, container, entered_via;
    };
    std::map<std::string, SessionPlace> places_;
    Stats stats_;
    Intake intake_;
};

/// Conversions between the correlator's view and stored records.
storage::RequesterRecord to_requester(const RequestIdentity& identity);
storage::ExecRequestRecord to_record(const ExecRequest& request, RequestState state, const std::string& session_id);
ExecRequest from_record(const storage::ExecRequestRecord& record);

}  // namespace execaudit::attribution
