// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Commands: every execve/execveat of a session process, and the exec that starts a session.
 *
 * Hooks: tp/syscalls/sys_{enter,exit}_execve(at). The enter tracepoint still sees the caller's
 * memory, so filename and argv are read there (bounded); the exit tracepoint adds the return
 * value, so failed execs are recorded too. sched_process_exec would miss failures.
 *
 * A session starts when a task in a pod cgroup execs and it entered the container from outside:
 * its parent is neither in its cgroup nor below it (runc exec puts the task there; its parent is
 * runc or the shim). The first such task per container cgroup is the container's init, never a
 * session; every later one is an exec.
 *
 * Kernels: 5.8+ (ring buffer, bpf_get_current_ancestor_cgroup_id for tracing);
 * kernfs_node::parent became __parent in 6.15 ("kernfs: Use RCU to access kernfs_node::parent"),
 * handled with CO-RE.
 */
#include "common.bpf.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

/* Before 6.15 the parent pointer had no underscores. */
struct kernfs_node___pre615 {
	struct kernfs_node *parent;
} __attribute__((preserve_access_index));

static __always_inline struct kernfs_node *kn_parent(struct kernfs_node *kn)
{
	if (bpf_core_field_exists(kn->__parent))
		return BPF_CORE_READ(kn, __parent);
	return BPF_CORE_READ((struct kernfs_node___pre615 *)kn, parent);
}

/* Is the parent's cgroup the task's cgroup or one below it (a workload's own child)? */
static __always_inline bool parent_inside(struct task_struct *task, __u64 cgid, __u64 *parent_cgid)
{
	struct kernfs_node *kn = BPF_CORE_READ(task, real_parent, cgroups, dfl_cgrp, kn);

	*parent_cgid = BPF_CORE_READ(kn, id);
	for (int depth = 0; depth < 8; depth++) {
		if (!kn)
			return false;
		if (BPF_CORE_READ(kn, id) == cgid)
			return true;
		kn = kn_parent(kn);
	}
	return false;
}

/* Returns the session of the current task, starting one if this exec enters a container. */
static __always_inline struct session_task *session_for_exec(struct task_struct *task, __u32 tgid,
							     __u64 cgid, __u16 *flags,
							     __u64 *parent_cgid)
{
	struct session_task *st = bpf_map_lookup_elem(&ea_session_of, &tgid);

	if (st)
		return st;
	if (!ea_in_scope())
		return NULL;
	if (parent_inside(task, cgid, parent_cgid))
		return NULL; /* the container's own workload */

	__u32 *init = bpf_map_lookup_elem(&ea_init_seen, &cgid);
	if (!init) {
		bpf_map_update_elem(&ea_init_seen, &cgid, &tgid, BPF_NOEXIST);
		return NULL; /* the container's init */
	}
	if (*init == tgid)
		return NULL; /* the init exec'ing again */

	struct session_task fresh = {
		.session_id = __sync_fetch_and_add(&ea_next_session, 1) + 1,
		.leader_tgid = tgid,
	};
	if (bpf_map_update_elem(&ea_session_of, &tgid, &fresh, BPF_NOEXIST)) {
		ea_count_drop(NULL, 0); /* session table full: visible in the drop counters */
		return NULL;
	}
	*flags |= EA_EXEC_SESSION_START;
	return bpf_map_lookup_elem(&ea_session_of, &tgid);
}

static __always_inline __u32 ns_pid_of(struct task_struct *task)
{
	struct pid *pid = BPF_CORE_READ(task, thread_pid);
	unsigned int level = BPF_CORE_READ(pid, level);
	struct upid upid = {};

	bpf_core_read(&upid, sizeof(upid), &pid->numbers[level & 31]);
	return upid.nr;
}

static __always_inline int on_exec_enter(const char *filename, const char *const *argv, __u16 flags)
{
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;
	__u64 cgid = bpf_get_current_cgroup_id();
	__u64 parent_cgid = 0;
	struct session_task *st = session_for_exec(task, tgid, cgid, &flags, &parent_cgid);

	if (!st)
		return 0;
	ea_report_loss(st);

	union ea_scratch *scratch = ea_scratch();
	if (!scratch)
		return 0;
	struct ea_exec *e = &scratch->exec;

	/* kubectl exec -t gives the session a terminal; correlation matches on it */
	if ((flags & EA_EXEC_SESSION_START) && (ea_fd_is_terminal(task, 0) || ea_fd_is_terminal(task, 1)))
		flags |= EA_EXEC_STDIO_TTY;
	ea_fill_header(&e->hdr, EA_EV_EXEC, flags, st->session_id);
	e->task_start_ns = BPF_CORE_READ(task, group_leader, start_boottime);
	e->parent_cgroup_id = parent_cgid;
	e->ppid = BPF_CORE_READ(task, real_parent, tgid);
	__u64 ugid = bpf_get_current_uid_gid();
	e->uid = (__u32)ugid;
	e->gid = ugid >> 32;
	e->ns_pid = ns_pid_of(task);
	bpf_get_current_comm(e->comm, sizeof(e->comm));
	BPF_CORE_READ_INTO(&e->parent_comm, task, real_parent, comm);

	long n = bpf_probe_read_user_str(e->filename, sizeof(e->filename), filename);
	if (n < 0)
		n = 1, e->filename[0] = '\0';
	if (n == sizeof(e->filename))
		e->hdr.flags |= EA_EXEC_FILENAME_TRUNCATED;
	e->filename_len = n - 1;

	__u32 off = 0;
	__u16 argc = 0;
	for (int i = 0; i < EA_ARGC_MAX; i++) {
		const char *arg = NULL;
		if (bpf_probe_read_user(&arg, sizeof(arg), &argv[i]) || !arg)
			break;
		if (off >= EA_ARG_MAX) {
			e->hdr.flags |= EA_EXEC_ARGV_TRUNCATED;
			break;
		}
		long len = bpf_probe_read_user_str(&e->args[off], EA_ARG_MAX, arg);
		if (len <= 0) {
			e->hdr.flags |= EA_EXEC_ARGV_TRUNCATED;
			break;
		}
		if (len == EA_ARG_MAX)
			e->hdr.flags |= EA_EXEC_ARGV_TRUNCATED;
		off += len;
		argc++;
	}
	if (argc == EA_ARGC_MAX) {
		const char *more = NULL;
		if (!bpf_probe_read_user(&more, sizeof(more), &argv[EA_ARGC_MAX]) && more)
			e->hdr.flags |= EA_EXEC_ARGV_TRUNCATED;
	}
	e->argc = argc;
	e->args_len = off;

	__u64 size = offsetof(struct ea_exec, args) + off;
	if (size > sizeof(*e))
		size = sizeof(*e);
	e->hdr.size = size;
	ea_output(e, size, st, 0);
	return 0;
}

static __always_inline int on_exec_exit(long ret)
{
	struct session_task *st = ea_session_of_current();

	if (!st)
		return 0;

	struct ea_exec_result rec = {};
	ea_fill_header(&rec.hdr, EA_EV_EXEC_RESULT, 0, st->session_id);
	rec.hdr.size = sizeof(rec);
	rec.retval = ret;
	ea_output(&rec, sizeof(rec), st, 0);
	return 0;
}

SEC("tp/syscalls/sys_enter_execve")
int ea_enter_execve(struct trace_event_raw_sys_enter *ctx)
{
	return on_exec_enter((const char *)ctx->args[0], (const char *const *)ctx->args[1], 0);
}

SEC("tp/syscalls/sys_exit_execve")
int ea_exit_execve(struct trace_event_raw_sys_exit *ctx)
{
	return on_exec_exit(ctx->ret);
}

/* execveat(dirfd, pathname, argv, envp, flags) */
SEC("tp/syscalls/sys_enter_execveat")
int ea_enter_execveat(struct trace_event_raw_sys_enter *ctx)
{
	return on_exec_enter((const char *)ctx->args[1], (const char *const *)ctx->args[2],
			     EA_EXEC_EXECVEAT);
}

SEC("tp/syscalls/sys_exit_execveat")
int ea_exit_execveat(struct trace_event_raw_sys_exit *ctx)
{
	return on_exec_exit(ctx->ret);
}
