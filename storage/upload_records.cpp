#include "storage/upload_records.h"

namespace execaudit::storage {

upload::v1::UploadSession to_upload(const SessionRecord& s) {
    upload::v1::UploadSession u;
    u.set_id(s.id);
    u.set_node(s.node);
    u.set_namespace_(s.namespace_name);
    u.set_pod(s.pod);
    u.set_pod_uid(s.pod_uid);
    u.set_container(s.container);
    u.set_container_id(s.container_id);
    u.set_cgroup_id(s.cgroup_id);
    u.set_cgroup_path(s.cgroup_path);
    u.set_leader_pid(s.leader_pid);
    u.set_leader_start_ns(s.leader_start_ns);
    u.set_boot_id(s.boot_id);
    u.set_tty(s.tty);
    for (const auto& a : s.command) u.add_command(a);
    u.set_start_ns(s.start_ns);
    u.set_start_boot_ns(s.start_boot_ns);
    if (s.end_ns) u.set_end_ns(*s.end_ns);
    u.set_status(s.status);
    if (s.exit_code) u.set_exit_code(*s.exit_code);
    if (s.exit_signal) u.set_exit_signal(*s.exit_signal);
    u.set_commands(s.commands);
    u.set_output_bytes(s.output_bytes);
    u.set_input_bytes(s.input_bytes);
    u.set_lost_bytes(s.lost_bytes);
    u.set_lost_events(s.lost_events);
    u.set_rows(s.rows);
    u.set_cols(s.cols);
    u.set_entered_via(s.entered_via);
    u.set_start_lost(s.start_lost);
    u.set_last_activity_ns(s.last_activity_ns);
    u.set_kernel_session_id(s.kernel_session_id);
    u.set_chain_start(s.chain_start);
    u.set_chain_head(s.chain_head);
    u.set_chain_records(s.chain_records);
    u.set_head_signature(s.head_signature);
    u.set_signing_key(s.signing_key);
    if (const auto& m = s.pod_meta) {
        auto* pod = u.mutable_pod_meta();
        pod->set_labels_json(m->labels_json);
        pod->set_labels_dropped(m->labels_dropped);
        pod->set_owner_kind(m->owner_kind);
        pod->set_owner_name(m->owner_name);
        pod->set_workload_kind(m->workload_kind);
        pod->set_workload_name(m->workload_name);
        pod->set_service_account(m->service_account);
    }
    if (s.cluster) u.set_cluster(*s.cluster);
    if (s.kubelet) {
        auto* k = u.mutable_kubelet();
        k->set_kubelet(s.kubelet->kubelet);
        k->set_entered_via(s.kubelet->entered_via);
        k->set_name(s.kubelet->name);
        k->set_reason(s.kubelet->reason);
    }
    return u;
}

upload::v1::UploadCommand to_upload(const CommandRecord& c) {
    upload::v1::UploadCommand u;
    u.set_session_id(c.session_id);
    u.set_seq(c.seq);
    u.set_time_ns(c.time_ns);
    u.set_boot_ns(c.boot_ns);
    u.set_pid(c.pid);
    u.set_ppid(c.ppid);
    u.set_ns_pid(c.ns_pid);
    u.set_uid(c.uid);
    u.set_gid(c.gid);
    u.set_filename(c.filename);
    for (const auto& a : c.argv) u.add_argv(a);
    if (c.retval) u.set_retval(*c.retval);
    u.set_argv_truncated(c.argv_truncated);
    u.set_exe_path(c.exe_path);
    u.set_exe_ino(c.exe_ino);
    u.set_exe_dev(c.exe_dev);
    u.set_exe_fileless(c.exe_fileless);
    if (c.chain_index) u.set_chain_index(*c.chain_index);
    u.set_chain_hash(c.chain_hash);
    return u;
}

upload::v1::UploadChunk to_upload(const StoredChunkRecord& k) {
    upload::v1::UploadChunk u;
    u.set_session_id(k.session_id);
    u.set_seq(k.seq);
    u.set_first_offset_us(k.first_offset_us);
    u.set_last_offset_us(k.last_offset_us);
    u.set_frames(k.frames);
    u.set_output_bytes(k.output_bytes);
    u.set_input_bytes(k.input_bytes);
    u.set_encoding(k.encoding);
    u.set_raw_size(k.raw_size);
    u.set_data(k.data);
    if (k.chain_index) u.set_chain_index(*k.chain_index);
    u.set_chain_hash(k.chain_hash);
    return u;
}

SessionRecord from_upload(const upload::v1::UploadSession& u) {
    SessionRecord s;
    s.id = u.id();
    s.node = u.node();
    s.namespace_name = u.namespace_();
    s.pod = u.pod();
    s.pod_uid = u.pod_uid();
    s.container = u.container();
    s.container_id = u.container_id();
    s.cgroup_id = u.cgroup_id();
    s.cgroup_path = u.cgroup_path();
    s.leader_pid = u.leader_pid();
    s.leader_start_ns = u.leader_start_ns();
    s.boot_id = u.boot_id();
    s.tty = u.tty();
    s.command.assign(u.command().begin(), u.command().end());
    s.start_ns = u.start_ns();
    s.start_boot_ns = u.start_boot_ns();
    if (u.has_end_ns()) s.end_ns = u.end_ns();
    s.status = u.status();
    if (u.has_exit_code()) s.exit_code = u.exit_code();
    if (u.has_exit_signal()) s.exit_signal = u.exit_signal();
    s.commands = u.commands();
    s.output_bytes = u.output_bytes();
    s.input_bytes = u.input_bytes();
    s.lost_bytes = u.lost_bytes();
    s.lost_events = u.lost_events();
    s.rows = u.rows();
    s.cols = u.cols();
    s.entered_via = u.entered_via();
    s.start_lost = u.start_lost();
    s.last_activity_ns = u.last_activity_ns();
    s.kernel_session_id = u.kernel_session_id();
    s.chain_start = u.chain_start();
    s.chain_head = u.chain_head();
    s.chain_records = u.chain_records();
    s.head_signature = u.head_signature();
    s.signing_key = u.signing_key();
    if (u.has_pod_meta()) {
        const auto& pod = u.pod_meta();
        s.pod_meta = PodMetadata{.labels_json = pod.labels_json(),
                                 .labels_dropped = pod.labels_dropped(),
                                 .owner_kind = pod.owner_kind(),
                                 .owner_name = pod.owner_name(),
                                 .workload_kind = pod.workload_kind(),
                                 .workload_name = pod.workload_name(),
                                 .service_account = pod.service_account()};
    }
    if (u.has_cluster()) s.cluster = u.cluster();
    if (u.has_kubelet())
        s.kubelet = storage::KubeletCheck{.kubelet = u.kubelet().kubelet(), .entered_via = u.kubelet().entered_via(),
                                          .name = u.kubelet().name(), .reason = u.kubelet().reason()};
    return s;
}

CommandRecord from_upload(const upload::v1::UploadCommand& u) {
    CommandRecord c;
    c.session_id = u.session_id();
    c.seq = u.seq();
    c.time_ns = u.time_ns();
    c.boot_ns = u.boot_ns();
    c.pid = u.pid();
    c.ppid = u.ppid();
    c.ns_pid = u.ns_pid();
    c.uid = u.uid();
    c.gid = u.gid();
    c.filename = u.filename();
    c.argv.assign(u.argv().begin(), u.argv().end());
    if (u.has_retval()) c.retval = u.retval();
    c.argv_truncated = u.argv_truncated();
    c.exe_path = u.exe_path();
    c.exe_ino = u.exe_ino();
    c.exe_dev = u.exe_dev();
    c.exe_fileless = u.exe_fileless();
    if (u.has_chain_index()) c.chain_index = u.chain_index();
    c.chain_hash = u.chain_hash();
    return c;
}

StoredChunkRecord from_upload(const upload::v1::UploadChunk& u) {
    StoredChunkRecord k;
    k.session_id = u.session_id();
    k.seq = u.seq();
    k.first_offset_us = u.first_offset_us();
    k.last_offset_us = u.last_offset_us();
    k.frames = u.frames();
    k.output_bytes = u.output_bytes();
    k.input_bytes = u.input_bytes();
    k.encoding = u.encoding();
    k.raw_size = u.raw_size();
    k.data = u.data();
    if (u.has_chain_index()) k.chain_index = u.chain_index();
    k.chain_hash = u.chain_hash();
    return k;
}

}  // namespace execaudit::storage
