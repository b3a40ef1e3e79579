#include "tests/support/stored_sessions.h"

namespace execaudit::testing {

storage::SessionRecord sample_session(const std::string& id, int64_t start_ns, std::vector<std::string> command) {
    storage::SessionRecord r;
    r.id = id;
    r.node = "node-1";
    r.namespace_name = "shop";
    r.pod = "web";
    r.container = "app";
    r.container_id = "c0ffee";
    r.cgroup_id = 7;
    r.leader_pid = 100;
    r.tty = true;
    r.rows = 24;
    r.cols = 80;
    r.start_ns = start_ns;
    r.start_boot_ns = 1;
    r.command = std::move(command);
    return r;
}

storage::CommandRecord sample_command(const storage::SessionRecord& s, uint32_t seq, std::vector<std::string> argv,
                                      int32_t retval) {
    storage::CommandRecord c;
    c.session_id = s.id;
    c.seq = seq;
    c.time_ns = s.start_ns + seq * kSecondNs;
    c.pid = 200 + seq;
    c.ppid = 100;
    c.filename = argv.empty() ? "" : argv[0];
    c.argv = std::move(argv);
    c.retval = retval;
    return c;
}

storage::StoredChunkRecord sample_chunk(const std::string& session_id, uint32_t seq, const std::string& output) {
    storage::StoredChunkRecord k;
    k.session_id = session_id;
    k.seq = seq;
    storage::ChunkEncoder e;
    e.add_bytes(0, storage::FrameKind::output, output);
    k.data = e.take();
    k.raw_size = k.data.size();
    k.frames = 1;
    k.output_bytes = output.size();
    return k;
}

upload::Batch sample_batch(const std::string& node, const std::string& spool_id, std::vector<upload::v1::UploadRecord> records) {
    upload::Batch b;
    b.header.set_version(1);
    b.header.set_node(node);
    b.header.set_spool_id(spool_id);
    b.header.set_records(static_cast<uint32_t>(records.size()));
    b.records = std::move(records);
    return b;
}

void write_ops(const std::string& db_path, std::vector<storage::WriteOp> ops) {
    storage::StoreWriter writer(storage::Database::open(db_path, storage::Database::Mode::read_write), {});
    for (auto& op : ops) writer.submit(std::move(op));
    writer.flush();
}

void write_finished_session(const std::string& db_path, const std::string& id, int64_t start_ns, int commands) {
    auto s = sample_session(id, start_ns);
    std::vector<storage::WriteOp> ops{storage::WriteSession{s}};
    for (int i = 0; i < commands; ++i)
        ops.push_back(storage::WriteCommand{sample_command(s, static_cast<uint32_t>(i), {"/bin/echo", std::to_string(i)})});
    s.status = "ended";
    s.end_ns = start_ns + (commands + 1) * kSecondNs;
    s.exit_code = 0;
    s.commands = static_cast<uint32_t>(commands);
    ops.push_back(storage::WriteSession{s});
    write_ops(db_path, std::move(ops));
}

}  // namespace execaudit::testing
