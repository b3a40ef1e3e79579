// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Session membership: children inherit their parent's session on fork; a session process that
 * ends leaves the map; the leader's end is reported (with its wait status) and ends the session.
 *
 * Hooks: tp_btf/sched_process_fork and tp_btf/sched_process_exit (BTF-typed raw tracepoints:
 * direct task_struct access, no tracefs needed). Both fire for threads too: only new processes
 * join, and a process leaves when its last thread is gone (signal->live reached 0 before the
 * tracepoint; 6.x also passes group_dead, which older kernels lack, so it is not used).
 * Kernels: 5.5+ (tp_btf).
 */
#include "common.bpf.h"

SEC("tp_btf/sched_process_fork")
int BPF_PROG(ea_process_fork, struct task_struct *parent, struct task_struct *child)
{
	if (child->pid != child->tgid)
		return 0; /* a new thread: same process, same membership */

	__u32 parent_tgid = parent->tgid;
	struct session_task *st = bpf_map_lookup_elem(&ea_session_of, &parent_tgid);
	if (!st)
		return 0;

	struct session_task joined = {
		.session_id = st->session_id,
		.leader_tgid = st->leader_tgid,
	};
	__u32 child_tgid = child->tgid;
	if (bpf_map_update_elem(&ea_session_of, &child_tgid, &joined, BPF_ANY))
		ea_count_drop(st, 0); /* the child goes unseen: the session shows a gap */
	return 0;
}

SEC("tp_btf/sched_process_exit")
int BPF_PROG(ea_process_exit, struct task_struct *task)
{
	__u32 tgid = task->tgid;
	struct session_task *st = bpf_map_lookup_elem(&ea_session_of, &tgid);

	if (!st)
		return 0;
	if (BPF_CORE_READ(task, signal, live.counter) != 0)
		return 0; /* other threads of the process still run */

	if (st->leader_tgid == tgid) {
		/* The session ends with its first process: report its wait status. */
		ea_report_loss(st);
		struct ea_exit rec = {};
		ea_fill_header(&rec.hdr, EA_EV_EXIT, EA_EXIT_LEADER, st->session_id);
		rec.hdr.size = sizeof(rec);
		rec.exit_code = BPF_CORE_READ(task, exit_code);
		rec.task_start_ns = BPF_CORE_READ(task, group_leader, start_boottime);
		ea_output(&rec, sizeof(rec), st, 0);
	} else if (st->lost_events) {
		/* Other processes end silently (a loop of short commands would otherwise pay a record
		 * per process); loss they could not report yet passes to the leader. */
		ea_report_loss(st);
		__u32 leader = st->leader_tgid;
		struct session_task *lt = bpf_map_lookup_elem(&ea_session_of, &leader);
		if (lt && st->lost_events) {
			__sync_fetch_and_add(&lt->lost_events, __sync_lock_test_and_set(&st->lost_events, 0));
			__sync_fetch_and_add(&lt->lost_bytes, __sync_lock_test_and_set(&st->lost_bytes, 0));
		}
	}
	bpf_map_delete_elem(&ea_session_of, &tgid);
	return 0;
}
