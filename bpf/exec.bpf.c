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

/* Mount and pid namespaces of pod containers (inode number -> the container's cgroup id),
 * learnt from each container's init. LRU: stale entries of gone containers go first. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 65536);
	__type(key, __u32);
	__type(value, __u64);
} ea_container_ns SEC(".maps") EA_WEAK;

/* The node's own namespaces (of pid 1), set by user space: a hostPID pod shares the node's pid
 * namespace, which therefore never marks a container. */
const volatile __u32 ea_host_mnt_ns EA_WEAK = 0;
const volatile __u32 ea_host_pid_ns EA_WEAK = 0;

static __always_inline void learn_container_ns(__u32 inum, __u64 cgid)
{
	if (inum && inum != ea_host_mnt_ns && inum != ea_host_pid_ns)
		bpf_map_update_elem(&ea_container_ns, &inum, &cgid, BPF_ANY);
}

static __always_inline __u32 mnt_ns_of(struct task_struct *task)
{
	return BPF_CORE_READ(task, nsproxy, mnt_ns, ns.inum);
}

static __always_inline __u32 pid_ns_of(struct task_struct *task)
{
	struct pid *pid = BPF_CORE_READ(task, thread_pid);
	unsigned int level = BPF_CORE_READ(pid, level);
	struct upid upid = {};

	bpf_core_read(&upid, sizeof(upid), &pid->numbers[level & 31]);
	return BPF_CORE_READ(upid.ns, ns.inum);
}

static __always_inline struct session_task *start_session(__u32 tgid, __u16 *flags, __u16 why)
{
	struct session_task fresh = {
		.session_id = __sync_fetch_and_add(&ea_next_session, 1) + 1,
		.leader_tgid = tgid,
	};
	if (bpf_map_update_elem(&ea_session_of, &tgid, &fresh, BPF_NOEXIST)) {
		ea_count_drop(NULL, 0); /* session table full: visible in the drop counters */
		return NULL;
	}
	*flags |= EA_EXEC_SESSION_START | why;
	return bpf_map_lookup_elem(&ea_session_of, &tgid);
}

/* Returns the session of the current task, starting one if this exec enters a container. */
static __always_inline struct session_task *session_for_exec(struct task_struct *task, __u32 tgid,
							     __u64 cgid, __u16 *flags,
							     __u64 *parent_cgid, __u64 *target_cgid)
{
	struct session_task *st = bpf_map_lookup_elem(&ea_session_of, &tgid);

	if (st)
		return st;
	if (!ea_in_scope()) {
		/* Outside the pod cgroups but inside a container's mount or pid namespace: nsenter or
		 * setns from the node (runc joins the cgroup before it execs; CNI plugins join only a
		 * network namespace). Nobody asked the API server for this. */
		__u32 mnt = mnt_ns_of(task), pidns = pid_ns_of(task);
		__u64 *target = bpf_map_lookup_elem(&ea_container_ns, &mnt);
		if (!target)
			target = bpf_map_lookup_elem(&ea_container_ns, &pidns);
		if (!target)
			return NULL;
		*target_cgid = *target;
		return start_session(tgid, flags, EA_EXEC_NSENTER);
	}
	if (parent_inside(task, cgid, parent_cgid))
		return NULL; /* the container's own workload */

	__u32 *init = bpf_map_lookup_elem(&ea_init_seen, &cgid);
	if (!init) {
		bpf_map_update_elem(&ea_init_seen, &cgid, &tgid, BPF_NOEXIST);
		/* only a namespace of its own, not one it shares with the runtime that started it
		 * (a hostPID pod's pid namespace is the node's) */
		struct task_struct *parent = BPF_CORE_READ(task, real_parent);
		__u32 mnt = mnt_ns_of(task), pidns = pid_ns_of(task);
		if (mnt != mnt_ns_of(parent))
			learn_container_ns(mnt, cgid);
		if (pidns != pid_ns_of(parent))
			learn_container_ns(pidns, cgid);
		/* An init on a terminal is where kubectl attach types, and the shell of an ephemeral
		 * container (kubectl debug): a candidate session its request confirms. */
		if (ea_fd_is_terminal(task, 0) || ea_fd_is_terminal(task, 1))
			return start_session(tgid, flags, EA_EXEC_TTY_INIT);
		return NULL; /* the container's init */
	}
	if (*init == tgid)
		return NULL; /* the init exec'ing again */
	return start_session(tgid, flags, 0);
}

static __always_inline __u32 ns_pid_of(struct task_struct *task)
{
	struct pid *pid = BPF_CORE_READ(task, thread_pid);
	unsigned int level = BPF_CORE_READ(pid, level);
	struct upid upid = {};

	bpf_core_read(&upid, sizeof(upid), &pid->numbers[level & 31]);
	return upid.nr;
}

/* argv, one argument per bpf_loop iteration: up to EA_ARGC_V2_MAX arguments and
 * EA_ARGS_V2_MAX bytes. The loop's state lives in the record itself. */
struct argv_walk {
	const char *const *argv;
	struct ea_exec_v2 *e;
	__u32 off;
	__u16 argc;
	bool truncated;
	bool done;
};

static long read_one_arg(__u32 i, struct argv_walk *w)
{
	const char *arg = NULL;

	if (bpf_probe_read_user(&arg, sizeof(arg), &w->argv[i]) || !arg) {
		w->done = true;
		return 1;
	}
	if (i >= EA_ARGC_V2_MAX || w->off >= EA_ARGS_V2_MAX) {
		w->truncated = true;
		return 1;
	}
	__u32 off = w->off & (EA_ARGS_V2_MAX - 1);
	long len = bpf_probe_read_user_str(&w->e->args[off], EA_ARGS_V2_MAX, arg);
	if (len <= 0) {
		w->truncated = true;
		return 1;
	}
	/* the argument may end past EA_ARGS_V2_MAX (the buffer is twice that): cut it there */
	if (off + len > EA_ARGS_V2_MAX) {
		w->off = EA_ARGS_V2_MAX;
		w->argc++;
		w->truncated = true;
		return 1;
	}
	w->off = off + len;
	w->argc++;
	return 0;
}

static __always_inline int on_exec_enter(const char *filename, const char *const *argv, __u16 flags)
{
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;
	__u64 cgid = bpf_get_current_cgroup_id();
	__u64 parent_cgid = 0, target_cgid = 0;
	struct session_task *st = session_for_exec(task, tgid, cgid, &flags, &parent_cgid, &target_cgid);

	if (!st)
		return 0;
	ea_report_loss(st);

	union ea_scratch *scratch = ea_scratch();
	if (!scratch)
		return 0;
	struct ea_exec_v2 *e = &scratch->exec;

	/* kubectl exec -t gives the session a terminal; correlation matches on it */
	if ((flags & EA_EXEC_SESSION_START) && (ea_fd_is_terminal(task, 0) || ea_fd_is_terminal(task, 1)))
		flags |= EA_EXEC_STDIO_TTY;
	ea_fill_header(&e->hdr, EA_EV_EXEC_V2, flags, st->session_id);
	e->task_start_ns = BPF_CORE_READ(task, group_leader, start_boottime);
	e->parent_cgroup_id = parent_cgid;
	e->target_cgroup_id = target_cgid;
	e->ppid = BPF_CORE_READ(task, real_parent, tgid);
	__u64 ugid = bpf_get_current_uid_gid();
	e->uid = (__u32)ugid;
	e->gid = ugid >> 32;
	e->ns_pid = ns_pid_of(task);
	e->mnt_ns = mnt_ns_of(task);
	e->pid_ns = pid_ns_of(task);
	bpf_get_current_comm(e->comm, sizeof(e->comm));
	BPF_CORE_READ_INTO(&e->parent_comm, task, real_parent, comm);

	long n = bpf_probe_read_user_str(e->filename, sizeof(e->filename), filename);
	if (n < 0)
		n = 1, e->filename[0] = '\0';
	if (n == sizeof(e->filename))
		e->hdr.flags |= EA_EXEC_FILENAME_TRUNCATED;
	e->filename_len = n - 1;

	struct argv_walk w = {.argv = argv, .e = e};
	bpf_loop(EA_ARGC_V2_MAX + 1, (void *)read_one_arg, &w, 0);
	if (w.truncated)
		e->hdr.flags |= EA_EXEC_ARGV_TRUNCATED;
	e->argc = w.argc;
	e->args_len = w.off;

	__u64 size = offsetof(struct ea_exec_v2, args) + (w.off & (EA_ARGS_V2_BUF - 1));
	if (size > sizeof(*e))
		size = sizeof(*e);
	e->hdr.size = size;
	ea_output(e, size, st, 0);
	return 0;
}

/* The executable the kernel loaded, as its path from the process's root: dentry names up
 * to each mount's root, then across to its mount point, collected leaf first. */
#define EA_PATH_DEPTH 32

struct path_walk {
	struct dentry *d;
	struct mount *m;
	struct dentry *root_d;
	struct vfsmount *root_m;
	__u32 n;
	__u32 off; /* bytes of the path written */
	bool truncated;
	const unsigned char *names[EA_PATH_DEPTH];
	__u32 lens[EA_PATH_DEPTH];
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct path_walk);
} ea_path_walk SEC(".maps");

static __always_inline struct mount *real_mount(struct vfsmount *m)
{
	return (struct mount *)((void *)m - bpf_core_field_offset(struct mount, mnt));
}

static long path_up(__u32 i, void *unused)
{
	__u32 zero = 0;
	struct path_walk *w = bpf_map_lookup_elem(&ea_path_walk, &zero);
	if (!w)
		return 1;
	struct dentry *d = w->d;
	struct mount *m = w->m;

	if (d == w->root_d && (struct vfsmount *)((void *)m + bpf_core_field_offset(struct mount, mnt)) == w->root_m)
		return 1; /* the process's root */
	if (d == BPF_CORE_READ(m, mnt.mnt_root)) {
		struct mount *parent = BPF_CORE_READ(m, mnt_parent);
		if (parent == m)
			return 1; /* the root of its mount tree */
		w->d = BPF_CORE_READ(m, mnt_mountpoint);
		w->m = parent;
		return 0;
	}
	if (w->n >= EA_PATH_DEPTH) {
		w->truncated = true;
		return 1;
	}
	__u32 k = w->n & (EA_PATH_DEPTH - 1);
	w->names[k] = BPF_CORE_READ(d, d_name.name);
	w->lens[k] = BPF_CORE_READ(d, d_name.len);
	w->n++;
	struct dentry *parent = BPF_CORE_READ(d, d_parent);
	if (parent == d)
		return 1; /* a pseudo file's own root (memfd) */
	w->d = parent;
	return 0;
}

/* Writes component n-1-i (root first) into the result record being built. */
static long path_write(__u32 i, void *unused)
{
	__u32 zero = 0;
	struct path_walk *w = bpf_map_lookup_elem(&ea_path_walk, &zero);
	union ea_scratch *scratch = ea_scratch();
	if (!w || !scratch || i >= w->n)
		return 1;
	if (w->off >= EA_EXE_PATH_MAX) {
		w->truncated = true;
		return 1;
	}
	struct ea_exec_result_v2 *r = &scratch->result;
	__u32 k = (w->n - 1 - i) & (EA_PATH_DEPTH - 1);
	__u32 off = w->off & (EA_EXE_PATH_MAX - 1);
	r->path[off] = '/';
	off++; /* at most EA_EXE_PATH_MAX: a name of up to 255 bytes still fits EA_EXE_PATH_BUF */
	__u32 len = w->lens[k] & 255;
	if (off > EA_EXE_PATH_MAX)
		return 1;
	if (bpf_probe_read_kernel(&r->path[off], len, w->names[k]))
		len = 0;
	w->off = off + len;
	return 0;
}

static __always_inline void fill_exe(struct task_struct *task, struct ea_exec_result_v2 *r)
{
	struct file *exe = BPF_CORE_READ(task, mm, exe_file);
	__u32 zero = 0;
	struct path_walk *w = bpf_map_lookup_elem(&ea_path_walk, &zero);

	if (!exe || !w)
		return;
	struct inode *inode = BPF_CORE_READ(exe, f_inode);
	r->exe_ino = BPF_CORE_READ(inode, i_ino);
	r->exe_dev = BPF_CORE_READ(inode, i_sb, s_dev);
	r->exe_nlink = BPF_CORE_READ(inode, __i_nlink);
	struct dentry *d = BPF_CORE_READ(exe, f_path.dentry);
	/* a name in no directory: deleted, or never linked (memfd_create, O_TMPFILE) */
	if (r->exe_nlink == 0 || !BPF_CORE_READ(d, d_hash.pprev))
		r->exe_flags |= EA_EXE_FILELESS;

	w->d = d;
	w->m = real_mount(BPF_CORE_READ(exe, f_path.mnt));
	w->root_d = BPF_CORE_READ(task, fs, root.dentry);
	w->root_m = BPF_CORE_READ(task, fs, root.mnt);
	w->n = 0;
	w->truncated = false;
	bpf_loop(2 * EA_PATH_DEPTH, path_up, NULL, 0);

	w->off = 0;
	bpf_loop(EA_PATH_DEPTH, path_write, NULL, 0);
	__u32 off = w->off;
	if (off > EA_EXE_PATH_MAX) {
		off = EA_EXE_PATH_MAX;
		w->truncated = true;
	}
	if (w->truncated)
		r->exe_flags |= EA_EXE_PATH_TRUNCATED;
	r->path_len = off;
}

static __always_inline int on_exec_exit(long ret)
{
	struct session_task *st = ea_session_of_current();
	union ea_scratch *scratch = ea_scratch();

	if (!st || !scratch)
		return 0;

	struct ea_exec_result_v2 *r = &scratch->result;
	ea_fill_header(&r->hdr, EA_EV_EXEC_RESULT_V2, 0, st->session_id);
	r->retval = ret;
	r->exe_flags = 0;
	r->exe_ino = 0;
	r->exe_dev = 0;
	r->exe_nlink = 0;
	r->path_len = 0;
	if (ret == 0)
		fill_exe((struct task_struct *)bpf_get_current_task(), r);
	__u64 size = offsetof(struct ea_exec_result_v2, path) + (r->path_len & (2 * EA_EXE_PATH_MAX - 1));
	if (size > sizeof(*r))
		size = sizeof(*r);
	r->hdr.size = size;
	ea_output(r, size, st, 0);
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
