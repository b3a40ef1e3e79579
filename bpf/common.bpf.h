/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Kernel-only pieces shared by every execaudit program: the maps, the scope test, session
 * membership, and the one way a record reaches the ring buffer (with drop accounting).
 *
 * Maps and globals are __weak so that each .bpf.c can include this header and
 * `bpftool gen object` links them into one skeleton with one copy of each.
 */
#ifndef EXECAUDIT_COMMON_BPF_H
#define EXECAUDIT_COMMON_BPF_H

#include "vmlinux.h"
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

#include "events.h"

#define EA_WEAK __attribute__((weak))

/* ---- configuration, written by user space before load ------------------------------------- */

/* Wake the consumer only once this many bytes wait in the ring: it drains on a timer otherwise
 * (a wakeup per record costs ~10% of a container's exec rate). */
const volatile __u64 ea_wakeup_mark EA_WEAK = 256 * 1024;
/* Bit i set: at least one scope root sits at cgroup level i (level 0 is the root cgroup). */
const volatile __u32 ea_scope_levels EA_WEAK = 0;

/* Kernel-side session numbers; user space maps them to durable ids. */
__u64 ea_next_session EA_WEAK = 0;

/* ---- maps ---------------------------------------------------------------------------------- */

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 16 * 1024 * 1024); /* resized by user space before load */
} ea_events SEC(".maps") EA_WEAK;

/* cgroup v2 ids of the pod cgroup roots (e.g. /kubepods). Value unused. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 64);
	__type(key, __u64);
	__type(value, __u8);
} ea_scope_roots SEC(".maps") EA_WEAK;

/* Container cgroup id -> tgid of its init: the first task that entered the cgroup from outside.
 * Filled at start-up from the running containers, then by the exec program. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 65536);
	__type(key, __u64);
	__type(value, __u32);
} ea_init_seen SEC(".maps") EA_WEAK;

/* A process (tgid) that belongs to an exec session. */
struct session_task {
	__u64 session_id;
	__u32 leader_tgid;
	__u32 reserved;
	__u64 lost_events; /* records of this process the ring refused, not yet reported */
	__u64 lost_bytes;
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 65536);
	__type(key, __u32);
	__type(value, struct session_task);
} ea_session_of SEC(".maps") EA_WEAK;

/* Records built here: too large for the 512-byte BPF stack, and (argv) for a per-CPU map's
 * 32 KiB value limit, so one slot per CPU of a plain array (max_entries set by user space to
 * the number of possible CPUs). A program runs on one CPU with migration disabled. */
union ea_scratch {
	struct ea_exec_v2 exec;
	struct ea_exec_result_v2 result;
	struct ea_tty_io io;
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, union ea_scratch);
} ea_scratch_map SEC(".maps") EA_WEAK;

/* Records the ring buffer refused, per CPU: the global view of loss (metrics, shutdown report). */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct ea_drop_counters);
} ea_drops SEC(".maps") EA_WEAK;

/* ---- helpers ------------------------------------------------------------------------------- */

static __always_inline union ea_scratch *ea_scratch(void)
{
	__u32 cpu = bpf_get_smp_processor_id();
	return bpf_map_lookup_elem(&ea_scratch_map, &cpu);
}

/* Is the current task in a cgroup below one of the pod roots? */
static __always_inline bool ea_in_scope(void)
{
	__u32 levels = ea_scope_levels;

#pragma unroll
	for (int level = 0; level < 16; level++) {
		if (!(levels & (1u << level)))
			continue;
		__u64 ancestor = bpf_get_current_ancestor_cgroup_id(level);
		if (ancestor && bpf_map_lookup_elem(&ea_scope_roots, &ancestor))
			return true;
	}
	return false;
}

static __always_inline void ea_fill_header(struct ea_header *h, __u16 type, __u16 flags,
					   __u64 session_id)
{
	__u64 id = bpf_get_current_pid_tgid();

	h->type = type;
	h->flags = flags;
	h->size = 0;
	h->ts_boot_ns = bpf_ktime_get_boot_ns();
	h->cgroup_id = bpf_get_current_cgroup_id();
	h->session_id = session_id;
	h->pid = id >> 32;
	h->tid = (__u32)id;
}

static __always_inline void ea_count_drop(struct session_task *st, __u64 bytes)
{
	__u32 zero = 0;
	struct ea_drop_counters *d = bpf_map_lookup_elem(&ea_drops, &zero);

	if (d) {
		d->events += 1; /* per-CPU slot: no atomics needed */
		d->bytes += bytes;
	}
	if (st) {
		__sync_fetch_and_add(&st->lost_events, 1);
		__sync_fetch_and_add(&st->lost_bytes, bytes);
	}
}

/* Put one record in the ring. On failure, count it (bytes: terminal bytes it carried) so that a
 * gap record reports it later. Never wakes the consumer unless the ring passed the fill mark. */
static __always_inline __u64 ea_wakeup_flags(void)
{
	return bpf_ringbuf_query(&ea_events, BPF_RB_AVAIL_DATA) > ea_wakeup_mark ? BPF_RB_FORCE_WAKEUP
										 : BPF_RB_NO_WAKEUP;
}

static __always_inline long ea_output(void *rec, __u64 size, struct session_task *st, __u64 bytes)
{
	long err = bpf_ringbuf_output(&ea_events, rec, size, ea_wakeup_flags());

	if (err)
		ea_count_drop(st, bytes);
	return err;
}

/* Before a session process's next record: report what it lost since its last one. */
static __always_inline void ea_report_loss(struct session_task *st)
{
	if (!st->lost_events)
		return;

	struct ea_lost rec = {};
	__u64 events = __sync_lock_test_and_set(&st->lost_events, 0);
	__u64 bytes = __sync_lock_test_and_set(&st->lost_bytes, 0);

	ea_fill_header(&rec.hdr, EA_EV_LOST, 0, st->session_id);
	rec.hdr.size = sizeof(rec);
	rec.lost_events = events;
	rec.lost_bytes = bytes;
	if (bpf_ringbuf_output(&ea_events, &rec, sizeof(rec), BPF_RB_NO_WAKEUP)) {
		/* still no room: keep owing it, and count the marker itself */
		__sync_fetch_and_add(&st->lost_events, events);
		__sync_fetch_and_add(&st->lost_bytes, bytes);
		ea_count_drop(st, 0);
	}
}

#define EA_S_IFMT 00170000
#define EA_S_IFCHR 0020000
#define EA_PTY_SLAVE_MAJOR_MIN 136
#define EA_PTY_SLAVE_MAJOR_MAX 143
#define EA_TTYAUX_MAJOR 5
#define EA_MINORBITS 20

static __always_inline struct file *ea_file_of_fd(struct task_struct *task, __u32 fd)
{
	struct fdtable *fdt = BPF_CORE_READ(task, files, fdt);
	struct file **fds = BPF_CORE_READ(fdt, fd);
	struct file *file = NULL;

	if (fd >= BPF_CORE_READ(fdt, max_fds))
		return NULL;
	bpf_probe_read_kernel(&file, sizeof(file), &fds[fd]);
	return file;
}

/* A pty slave (char device, majors 136-143) or /dev/tty (5:0, which leads to the same tty). */
static __always_inline bool ea_terminal_inode(struct inode *inode, __u32 *rdev, bool *pty_slave)
{
	if (!inode || (BPF_CORE_READ(inode, i_mode) & EA_S_IFMT) != EA_S_IFCHR)
		return false;
	*rdev = BPF_CORE_READ(inode, i_rdev);
	__u32 major = *rdev >> EA_MINORBITS;
	*pty_slave = major >= EA_PTY_SLAVE_MAJOR_MIN && major <= EA_PTY_SLAVE_MAJOR_MAX;
	return *pty_slave || *rdev == (EA_TTYAUX_MAJOR << EA_MINORBITS);
}

static __always_inline bool ea_fd_is_terminal(struct task_struct *task, __u32 fd)
{
	struct file *file = ea_file_of_fd(task, fd);
	__u32 rdev;
	bool pty_slave;

	return file && ea_terminal_inode(BPF_CORE_READ(file, f_inode), &rdev, &pty_slave);
}

static __always_inline struct session_task *ea_session_of_current(void)
{
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;
	return bpf_map_lookup_elem(&ea_session_of, &tgid);
}

#endif /* EXECAUDIT_COMMON_BPF_H */
