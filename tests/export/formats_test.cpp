// Export formats without privileges: records built from the database, JSON lines that round-trip
// through protobuf's JSON parser, ECS, RFC 5424 with octet counting, length-delimited protobuf,
// and syslog URLs.
#include "export/ecs_format.h"
#include "export/export_record.h"
#include "export/jsonl_format.h"
#include "export/proto_format.h"
#include "export/syslog_format.h"
#include "export/syslog_url.h"
#include "storage/export_outbox.h"
#include "tests/support/environment.h"
#include "tests/support/stored_sessions.h"

#include <google/protobuf/io/zero_copy_stream_impl_lite.h>
#include <google/protobuf/util/delimited_message_util.h>
#include <google/protobuf/util/json_util.h>
#include <google/protobuf/util/message_differencer.h>
#include <gtest/gtest.h>

#include <regex>

using namespace execaudit;
using namespace execaudit::exporting;
using namespace execaudit::testing;
using execaudit::v1::ExportRecord;

namespace {

// The API request the session was matched to: alice, acting as bob.
storage::ExecRequestRecord matched_request(const std::string& id, const std::string& session_id) {
    storage::ExecRequestRecord r;
    r.id = id;
    r.source = "audit";
    r.kind = "exec";
    r.verb = "create";
    r.namespace_name = "shop";
    r.pod = "web";
    r.command = {"/bin/bash", "-l"};
    r.requester.user = "alice@example.com";
    r.requester.impersonated_user = "bob";
    r.requester.impersonated_groups_json = R"(["ops"])";
    r.requester.authz_decision = "allow";
    r.requester.authz_reason = "RBAC: allowed by ClusterRoleBinding \"ops\"";
    r.received_ns = kT0Ns;
    r.state = "matched";
    r.session_id = session_id;
    return r;
}

class Formats : public ::testing::Test {
protected:
    void SetUp() override {
        auto s = sample_session("abcd000000000001", kT0Ns, {"/bin/bash", "-l"});
        auto ended = s;
        ended.status = "ended";
        ended.end_ns = kT0Ns + 90 * kSecondNs;
        ended.exit_code = 3;
        ended.commands = 3;
        ended.output_bytes = 1234;
        ended.input_bytes = 56;
        write_ops(db_path_,
                  {storage::WriteSession{s}, storage::WriteCommand{sample_command(s, 0, {"/bin/bash", "-l"})},
                   // hostile: a newline, quotes, a bracket, a backslash, invalid UTF-8, non-ASCII
                   storage::WriteCommand{sample_command(
                       s, 1, {"sh", "-c", "echo \"a]b\\c\"\nrm -rf /tmp/x", std::string("\xff\xfe", 2), "caf\xc3\xa9"})},
                   storage::WriteCommand{sample_command(s, 2, {"/tmp/noexec.sh"}, -13)}, storage::WriteSession{ended},
                   storage::WriteExecRequest{matched_request("a-1", s.id)}});
        auto db = storage::Database::open(db_path_, storage::Database::Mode::read_write);
        db.exec("UPDATE sessions SET attribution = 'audit', user = 'alice@example.com', groups_json = '[\"system:masters\"]', "
                "source_ips_json = '[\"10.0.0.7\"]', user_agent = 'kubectl/v1.30', audit_id = 'a-1' "
                "WHERE id = 'abcd000000000001'");
        storage::ExportOutbox outbox(db);
        RecordReader reader(db);
        for (const auto& e : outbox.after(0, 100)) records_.push_back(*reader.read(e));
    }
    const ExportRecord& record(const std::string& id) {
        for (const auto& r : records_)
            if (r.record_id() == id) return r;
        throw std::runtime_error("no record " + id);
    }

    TempDir dir_;
    std::string db_path_ = dir_.file("s.db");
    std::vector<ExportRecord> records_;
};

TEST_F(Formats, RecordsCarryTheSessionAsItIsNow) {
    ASSERT_EQ(records_.size(), 6u);
    std::vector<std::string> ids;
    for (const auto& r : records_) ids.push_back(r.record_id());
    EXPECT_EQ(ids, (std::vector<std::string>{"abcd000000000001:start", "abcd000000000001:command:0",
                                             "abcd000000000001:command:1", "abcd000000000001:command:2",
                                             "abcd000000000001:end", "abcd000000000001:attributed:0"}));
    const auto& start = record("abcd000000000001:start");
    EXPECT_EQ(start.kind(), v1::session_start);
    EXPECT_EQ(start.time(), "2024-10-29T12:21:44.189258Z");
    EXPECT_EQ(start.node(), "node-1");
    EXPECT_FALSE(start.has_command());
    EXPECT_EQ(start.session().user(), "alice@example.com");  // read when exported, not when written
    const auto& failed = record("abcd000000000001:command:2");
    EXPECT_EQ(failed.kind(), v1::command);
    EXPECT_EQ(failed.command().retval(), -13);
    EXPECT_EQ(failed.time(), "2024-10-29T12:21:46.189258Z");
    const auto& end = record("abcd000000000001:end");
    EXPECT_EQ(end.time(), "2024-10-29T12:23:14.189258Z");
    EXPECT_EQ(end.session().exit_code(), 3);
    EXPECT_EQ(end.session().output_bytes(), 1234u);
    EXPECT_EQ(end.session().status(), v1::Session::ended);
    EXPECT_EQ(record("abcd000000000001:attributed:0").kind(), v1::session_attributed);
    for (const auto& r : records_) {  // every record says who asked, whole, as `show` does
        EXPECT_EQ(r.session().impersonated_user(), "bob") << r.record_id();
        ASSERT_EQ(r.session().impersonated_groups_size(), 1) << r.record_id();
        EXPECT_EQ(r.session().impersonated_groups(0), "ops");
        EXPECT_EQ(r.session().authz_decision(), "allow");
        EXPECT_EQ(r.session().request_verb(), "create");
    }
    for (size_t i = 1; i < records_.size(); ++i) EXPECT_GT(records_[i].position(), records_[i - 1].position());
}

TEST_F(Formats, JsonLinesRoundTripThroughProtobufsParser) {
    for (const auto& r : records_) {
        std::string line = jsonl_line(r, JsonStyle::proto);
        ASSERT_EQ(line.back(), '\n');
        EXPECT_EQ(line.find('\n'), line.size() - 1) << line;
        auto j = nlohmann::json::parse(line);
        EXPECT_EQ(j["record_id"], r.record_id());
        EXPECT_TRUE(j["session"]["end"].is_null() || j["session"]["end"].is_string());
        EXPECT_FALSE(j["session"].contains("timeline"));
        ExportRecord back;
        auto status = google::protobuf::util::JsonStringToMessage(line, &back);
        ASSERT_TRUE(status.ok()) << status.ToString() << "\n" << line;
        EXPECT_TRUE(google::protobuf::util::MessageDifferencer::Equals(back, r)) << line;
    }
    auto j = nlohmann::json::parse(jsonl_line(record("abcd000000000001:command:1"), JsonStyle::proto));
    EXPECT_EQ(j["kind"], "command");
    EXPECT_EQ(j["command"]["argv"][3], "\xef\xbf\xbd\xef\xbf\xbd");  // invalid bytes replaced, never dropped
    EXPECT_EQ(j["command"]["argv"][4], "caf\xc3\xa9");
    EXPECT_EQ(j["session"]["user"], "alice@example.com");
    EXPECT_EQ(j["session"]["output_bytes"], 1234);  // the session as stored when the record was read
}

TEST_F(Formats, AsciiOnlyJsonParsesToTheSameObject) {
    const auto& r = record("abcd000000000001:command:1");
    std::string ascii = jsonl_line(r, JsonStyle::proto, true);
    for (unsigned char c : ascii) ASSERT_LT(c, 0x80);
    EXPECT_EQ(nlohmann::json::parse(ascii), nlohmann::json::parse(jsonl_line(r, JsonStyle::proto)));
}

TEST_F(Formats, EcsFields) {
    auto cmd = to_ecs(record("abcd000000000001:command:2"));
    EXPECT_EQ(cmd["@timestamp"], "2024-10-29T12:21:46.189258Z");
    EXPECT_EQ(cmd["ecs"]["version"], kEcsVersion);
    EXPECT_EQ(cmd["event"]["id"], "abcd000000000001:command:2");
    EXPECT_EQ(cmd["event"]["outcome"], "failure");
    EXPECT_EQ(cmd["event"]["category"], nlohmann::json::array({"process"}));
    EXPECT_EQ(cmd["process"]["args"], nlohmann::json::array({"/tmp/noexec.sh"}));
    EXPECT_EQ(cmd["process"]["exit_code"], -13);
    EXPECT_EQ(cmd["process"]["parent"]["pid"], 100);
    EXPECT_EQ(cmd["process"]["session_leader"]["args"], nlohmann::json::array({"/bin/bash", "-l"}));
    EXPECT_EQ(cmd["user"]["name"], "alice@example.com");
    EXPECT_EQ(cmd["orchestrator"]["namespace"], "shop");
    EXPECT_EQ(cmd["orchestrator"]["resource"]["name"], "web");
    EXPECT_EQ(cmd["container"]["name"], "app");
    EXPECT_EQ(cmd["host"]["name"], "node-1");
    EXPECT_EQ(cmd["source"]["ip"], "10.0.0.7");
    EXPECT_EQ(cmd["user_agent"]["original"], "kubectl/v1.30");
    EXPECT_EQ(cmd["execaudit"]["session_id"], "abcd000000000001");
    auto end = to_ecs(record("abcd000000000001:end"));
    EXPECT_EQ(end["event"]["type"], nlohmann::json::array({"end"}));
    EXPECT_EQ(end["process"]["exit_code"], 3);
    EXPECT_EQ(end["execaudit"]["output_bytes"], 1234);
    EXPECT_EQ(nlohmann::json::parse(jsonl_line(record("abcd000000000001:end"), JsonStyle::ecs)), end);
}

TEST_F(Formats, Rfc5424WithOctetCounting) {
    // RFC 5424: <PRI>1 TIMESTAMP HOSTNAME APP-NAME PROCID MSGID [SD-ID PARAM="VALUE"...] MSG
    std::regex header(R"(^<(\d{1,3})>1 (\S+) (\S+) (\S+) (\S+) (\S+) \[execaudit@32473( [^ =\]"]{1,32}="(?:[^"\\\]]|\\["\\\]])*")+\] \{.*\}$)");
    for (const auto& r : records_) {
        std::string msg = syslog_message(r, {});
        std::smatch m;
        ASSERT_TRUE(std::regex_match(msg, m, header)) << msg;
        int pri = std::stoi(m[1]);
        EXPECT_EQ(pri / 8, 10);  // authpriv
        EXPECT_EQ(pri % 8, r.kind() == v1::command ? 6 : 5);
        EXPECT_EQ(m[2], r.time());
        EXPECT_EQ(m[3], "node-1");
        EXPECT_EQ(m[4], "execaudit");
        EXPECT_EQ(m[5], "-");
        EXPECT_EQ(msg.find('\n'), std::string::npos);
        // MSG is the whole record as ASCII JSON, no BOM needed
        std::string json = msg.substr(msg.find("] {") + 2);
        for (unsigned char c : json) ASSERT_LT(c, 0x80);
        ExportRecord back;
        ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(json, &back).ok());
        EXPECT_EQ(back.record_id(), r.record_id());
        // octet counting: the length is of the bytes that follow the space
        std::string frame = octet_counted(msg);
        size_t sp = frame.find(' ');
        EXPECT_EQ(std::stoul(frame.substr(0, sp)), frame.size() - sp - 1);
    }
    std::string hostile = syslog_message(record("abcd000000000001:command:1"), {});
    EXPECT_NE(hostile.find(R"(command="sh -c 'echo \"a\]b\\c\" rm -rf /tmp/x' )"), std::string::npos) << hostile;
    EXPECT_NE(hostile.find(R"(user="alice@example.com")"), std::string::npos);
    EXPECT_NE(hostile.find(" command [execaudit@32473 record_id=\"abcd000000000001:command:1\""), std::string::npos);
    std::string end = syslog_message(record("abcd000000000001:end"), {});
    EXPECT_NE(end.find(R"(exit_code="3")"), std::string::npos) << end;
    EXPECT_NE(end.find(R"(output_bytes="1234")"), std::string::npos);
}

// The head leaves the node with every session end (docs/integrity.md): JSON lines, ECS and syslog
// carry the chain as the store holds it, so the SIEM's copy can be compared with the store later.
TEST_F(Formats, SessionEndsCarryTheChainHeadInEveryForm) {
    auto db = storage::Database::open(db_path_, storage::Database::Mode::read_only);
    auto st = db.prepare("SELECT lower(hex(chain_start)), lower(hex(chain_head)), chain_records FROM sessions");
    ASSERT_TRUE(st.step());
    std::string start = st.column_text(0), head = st.column_text(1);
    auto records = st.column_int(2);
    ASSERT_EQ(head.size(), 64u);
    ASSERT_EQ(records, 3);  // the three commands

    auto json = nlohmann::json::parse(jsonl_line(record("abcd000000000001:end"), JsonStyle::proto));
    EXPECT_EQ(json["session"]["chain"]["head"], head) << json.dump();
    EXPECT_EQ(json["session"]["chain"]["start"], start);
    EXPECT_EQ(json["session"]["chain"]["records"], 3);
    EXPECT_TRUE(json["session"]["chain"]["sealed"].is_null());  // a node's store: no collector sealed it
    auto ecs = to_ecs(record("abcd000000000001:end"));
    EXPECT_EQ(ecs["execaudit"]["chain"]["head"], head) << ecs.dump();
    EXPECT_EQ(ecs["execaudit"]["chain"]["records"], 3);
    std::string sys = syslog_message(record("abcd000000000001:end"), {});
    EXPECT_NE(sys.find("chain_head=\"" + head + "\" chain_records=\"3\""), std::string::npos) << sys;
}

TEST(SyslogFormat, SdValuesAreCutOnCharacterBoundaries) {
    EXPECT_EQ(sd_param_value("caf\xc3\xa9", 4), "caf");
    EXPECT_EQ(sd_param_value("caf\xc3\xa9", 5), "caf\xc3\xa9");
    EXPECT_EQ(sd_param_value("a\"b]c\\", 100), "a\\\"b\\]c\\\\");
    EXPECT_EQ(sd_param_value(std::string("\x1b[2J\xff", 5), 100), " [2J\xef\xbf\xbd");
}

// A SIEM console or `tail` of the log file is a terminal too: C1 controls (U+009B is a CSI) are
// replaced as C0 controls are; printable Latin-1 stays (issue 12).
TEST(SyslogFormat, SdValuesReplaceC1Controls) {
    EXPECT_EQ(sd_param_value("a\xc2\x9b" "31m\xc2\x80\xc2\x9f\xc2\x9d" "52;c;x\x07" "b", 100), "a 31m   52;c;x b");
    EXPECT_EQ(sd_param_value("\xc2\xa0\xc3\xa9", 100), "\xc2\xa0\xc3\xa9");
}

TEST(ProtoFormat, LengthDelimitedReadsBackWithProtobufsReader) {
    std::string stream;
    for (int i = 0; i < 3; ++i) {
        ExportRecord r;
        r.set_record_id("s:command:" + std::to_string(i));
        r.mutable_command()->add_argv(std::string(200 * (i + 1), 'x'));  // lengths past one varint byte
        stream += length_delimited(r);
    }
    google::protobuf::io::ArrayInputStream in(stream.data(), static_cast<int>(stream.size()));
    for (int i = 0; i < 3; ++i) {
        ExportRecord r;
        bool clean_eof = false;
        ASSERT_TRUE(google::protobuf::util::ParseDelimitedFromZeroCopyStream(&r, &in, &clean_eof));
        EXPECT_EQ(r.record_id(), "s:command:" + std::to_string(i));
        EXPECT_EQ(r.command().argv(0).size(), 200u * (i + 1));
    }
    ExportRecord none;
    bool clean_eof = false;
    EXPECT_FALSE(google::protobuf::util::ParseDelimitedFromZeroCopyStream(&none, &in, &clean_eof));
    EXPECT_TRUE(clean_eof);
}

TEST(SyslogUrl, ParsesAndExplains) {
    auto tcp = parse_syslog_url("tcp://127.0.0.1:5514");
    ASSERT_TRUE(tcp);
    EXPECT_FALSE(tcp->tls);
    EXPECT_EQ(tcp->host, "127.0.0.1");
    EXPECT_EQ(tcp->port, 5514);
    EXPECT_EQ(tcp->text(), "tcp://127.0.0.1:5514");
    auto tls = parse_syslog_url("tls://siem.example.com:6514");
    ASSERT_TRUE(tls);
    EXPECT_TRUE(tls->tls);
    auto v6 = parse_syslog_url("tls://[::1]:6514");
    ASSERT_TRUE(v6);
    EXPECT_EQ(v6->host, "::1");
    EXPECT_EQ(v6->text(), "tls://[::1]:6514");
    for (const char* bad : {"udp://h:514", "http://h:1", "tcp://h", "tcp://:514", "tcp://h:0", "tcp://h:65536",
                            "tcp://h:5x", "tcp://::1:514", "tcp://h h:514", "h:514", ""}) {
        auto r = parse_syslog_url(bad);
        EXPECT_FALSE(r) << bad;
        if (!r) {
            EXPECT_NE(r.error().find("expected tcp://HOST:PORT"), std::string::npos) << r.error();
        }
    }
    EXPECT_NE(parse_syslog_url("udp://h:514").error().find("UDP"), std::string::npos);
}

}  // namespace

// Which workload (issue 17): labels, owner, workload, service account and cluster on every form.
// Labels are chosen by whoever creates the pod: quotes, backslashes, brackets, newlines and
// invalid UTF-8 in them break no JSON line and no structured data.
class PodMetadataFormats : public ::testing::Test {
protected:
    void SetUp() override {
        auto known = sample_session("abcd000000000002", kT0Ns, {"/bin/sh"});
        storage::PodMetadata m;
        nlohmann::json labels = {{"app", "web"},
                                 {"pod-template-hash", "7f9c6d5b8"},
                                 {"evil", "a\"b]c\\d\ne [x@1 k=\"v\"]"},
                                 {"bad-utf8", "caf\xc3\xa9"}};
        m.labels_json = labels.dump();
        m.labels_dropped = 2;
        m.owner_kind = "ReplicaSet";
        m.owner_name = "web-7f9c6d5b8";
        m.workload_kind = "Deployment";
        m.workload_name = "web";
        m.service_account = "web-sa";
        known.pod_meta = m;
        known.cluster = "prod-eu";
        auto unknown = sample_session("abcd000000000003", kT0Ns + kSecondNs, {"/bin/sh"});
        write_ops(db_path_, {storage::WriteSession{known}, storage::WriteSession{unknown}});
        auto db = storage::Database::open(db_path_, storage::Database::Mode::read_write);
        storage::ExportOutbox outbox(db);
        RecordReader reader(db);
        for (const auto& e : outbox.after(0, 100)) {
            auto r = *reader.read(e);
            (r.session_id() == known.id ? known_ : unknown_) = r;
        }
    }
    TempDir dir_;
    std::string db_path_ = dir_.file("s.db");
    ExportRecord known_, unknown_;
};

TEST_F(PodMetadataFormats, JsonLinesCarryThemAndNullWhenThePodWasNotKnown) {
    std::string line = jsonl_line(known_, JsonStyle::proto);
    EXPECT_EQ(line.find('\n'), line.size() - 1) << line;
    auto j = nlohmann::json::parse(line)["session"];
    EXPECT_EQ(j["labels"]["app"], "web");
    EXPECT_EQ(j["labels"]["evil"], "a\"b]c\\d\ne [x@1 k=\"v\"]");
    EXPECT_EQ(j["labels"]["bad-utf8"], "caf\xc3\xa9");
    EXPECT_EQ(j["labels_dropped"], 2);
    EXPECT_EQ(j["owner"], (nlohmann::json{{"kind", "ReplicaSet"}, {"name", "web-7f9c6d5b8"}}));
    EXPECT_EQ(j["workload"], (nlohmann::json{{"kind", "Deployment"}, {"name", "web"}}));
    EXPECT_EQ(j["service_account"], "web-sa");
    EXPECT_EQ(j["cluster"], "prod-eu");
    ExportRecord back;
    ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(line, &back).ok()) << line;
    EXPECT_TRUE(google::protobuf::util::MessageDifferencer::Equals(back, known_)) << line;

    auto u = nlohmann::json::parse(jsonl_line(unknown_, JsonStyle::proto))["session"];
    EXPECT_FALSE(u.contains("labels")) << u;  // not {}: nobody knows it has none
    EXPECT_FALSE(u.contains("owner"));
    EXPECT_FALSE(u.contains("workload"));
    EXPECT_TRUE(u["service_account"].is_null());  // not ""
    EXPECT_TRUE(u["cluster"].is_null());
    EXPECT_TRUE(u["labels_dropped"].is_null());
}

TEST_F(PodMetadataFormats, EcsOrchestratorFields) {
    auto j = to_ecs(known_);
    EXPECT_EQ(j["orchestrator"]["cluster"]["name"], "prod-eu");
    EXPECT_EQ(j["orchestrator"]["resource"]["parent"]["type"], "Deployment");
    EXPECT_EQ(j["orchestrator"]["resource"]["label"],
              nlohmann::json::array({"app:web", "bad-utf8:caf\xc3\xa9", "evil:a\"b]c\\d\ne [x@1 k=\"v\"]",
                                     "pod-template-hash:7f9c6d5b8"}));
    EXPECT_EQ(j["execaudit"]["workload"], (nlohmann::json{{"kind", "Deployment"}, {"name", "web"}}));
    EXPECT_EQ(j["execaudit"]["owner"]["name"], "web-7f9c6d5b8");
    EXPECT_EQ(j["execaudit"]["service_account"], "web-sa");
    EXPECT_EQ(j["execaudit"]["labels_dropped"], 2);
    std::string line = jsonl_line(known_, JsonStyle::ecs);
    EXPECT_EQ(line.find('\n'), line.size() - 1) << line;
    auto u = to_ecs(unknown_);
    EXPECT_FALSE(u["orchestrator"].contains("cluster"));
    EXPECT_FALSE(u["orchestrator"]["resource"].contains("label"));
    EXPECT_FALSE(u["execaudit"].contains("workload"));
}

TEST_F(PodMetadataFormats, SyslogStructuredDataEscapesHostileLabels) {
    std::regex sd(R"(^<\d{1,3}>1 \S+ \S+ \S+ \S+ \S+ \[execaudit@32473( [^ =\]"]{1,32}="(?:[^"\\\]]|\\["\\\]])*")+\] \{.*\}$)");
    std::string msg = syslog_message(known_, {});
    ASSERT_TRUE(std::regex_match(msg, sd)) << msg;
    EXPECT_EQ(msg.find('\n'), std::string::npos);
    EXPECT_NE(msg.find(R"( cluster="prod-eu")"), std::string::npos) << msg;
    EXPECT_NE(msg.find(R"( workload="Deployment/web")"), std::string::npos);
    EXPECT_NE(msg.find(R"( owner="ReplicaSet/web-7f9c6d5b8")"), std::string::npos);
    EXPECT_NE(msg.find(R"( service_account="web-sa")"), std::string::npos);
    EXPECT_NE(msg.find(R"( label="app=web")"), std::string::npos);
    // the newline becomes a space; '"', '\' and ']' are escaped: the value cannot end the SD early
    EXPECT_NE(msg.find(R"( label="evil=a\"b\]c\\d e [x@1 k=\"v\"\]")"), std::string::npos) << msg;
    EXPECT_NE(msg.find(R"( labels_dropped="2")"), std::string::npos);
    std::string u = syslog_message(unknown_, {});
    ASSERT_TRUE(std::regex_match(u, sd)) << u;
    EXPECT_EQ(u.find("workload="), std::string::npos);
    EXPECT_EQ(u.find("label="), std::string::npos);
}
