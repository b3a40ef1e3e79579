// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Terminal I/O of session processes: what they write to a pty (output) and read from it (input).
 *
 * Hooks: tp/syscalls/sys_{enter,exit}_{write,read,writev,readv}. At enter, a session process's
 * fd is checked to be a pty slave (char device, majors 136-143) or /dev/tty (5:0, which leads to
 * the same tty_struct), and the user buffer is stashed per thread with the tty's window size.
 * At exit, only the bytes actually transferred are copied, in EA_IO_CHUNK records. Everything
 * else returns after one hash lookup.
 *
 * Kernels: 5.17+ (bpf_loop: a bounded loop over up to 256 chunks is too much for the verifier).
 * Field accesses are CO-RE reads.
 */
#include "common.bpf.h"

#define EA_TERMIOS_ECHO 0000010
#define EA_TERMIOS_OPOST 0000001
#define EA_TERMIOS_ONLCR 0000004
#define EA_IOV_MAX_SEEN 16 /* iovecs of one readv/writev followed; the rest count as lost */

struct io_stash {
	__u64 buf;    /* read/write: the buffer */
	__u64 iov;    /* readv/writev: the iovec array (buf unused) */
	__u64 tty_id;
	__u32 iovcnt;
	__u16 flags; /* EA_IO_* */
	__u16 rows;
	__u16 cols;
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384);
	__type(key, __u64); /* pid_tgid: one syscall in flight per thread */
	__type(value, struct io_stash);
} ea_io_stash SEC(".maps");

static __always_inline int on_io_enter(__u32 fd, __u64 buf, __u64 iov, __u32 iovcnt, __u16 flags)
{
	__u64 id = bpf_get_current_pid_tgid();
	__u32 tgid = id >> 32;

	if (!bpf_map_lookup_elem(&ea_session_of, &tgid))
		return 0;

	struct file *file = ea_file_of_fd((struct task_struct *)bpf_get_current_task(), fd);
	if (!file)
		return 0;
	struct inode *inode = BPF_CORE_READ(file, f_inode);
	__u32 rdev = 0;
	bool pty_slave = false;
	if (!ea_terminal_inode(inode, &rdev, &pty_slave))
		return 0;

	/* tty files keep a tty_file_private in private_data (tty_alloc_file) */
	struct tty_file_private *priv = BPF_CORE_READ(file, private_data);
	struct tty_struct *tty = BPF_CORE_READ(priv, tty);
	struct io_stash stash = {
		.buf = buf,
		.iov = iov,
		.iovcnt = iovcnt,
		.flags = flags,
		.rows = BPF_CORE_READ(tty, winsize.ws_row),
		.cols = BPF_CORE_READ(tty, winsize.ws_col),
	};
	__u64 sb_dev = BPF_CORE_READ(inode, i_sb, s_dev);
	stash.tty_id = pty_slave ? (sb_dev << 32 | rdev) : rdev;
	if (flags & EA_IO_INPUT) {
		if (!(BPF_CORE_READ(tty, termios.c_lflag) & EA_TERMIOS_ECHO))
			stash.flags |= EA_IO_ECHO_OFF;
	} else {
		/* the bytes are taken before the line discipline's output processing */
		__u32 oflag = BPF_CORE_READ(tty, termios.c_oflag);
		if ((oflag & (EA_TERMIOS_OPOST | EA_TERMIOS_ONLCR)) == (EA_TERMIOS_OPOST | EA_TERMIOS_ONLCR))
			stash.flags |= EA_IO_ONLCR;
	}

	bpf_map_update_elem(&ea_io_stash, &id, &stash, BPF_ANY);
	return 0;
}

/* State of one syscall's copy. It lives in a per-CPU map, not on the stack: values loaded from
 * a map are imprecise to the verifier, so the bpf_loop callback converges after one pass
 * (6.7+ re-verifies callbacks until their state stops changing). */
struct io_copy {
	struct io_stash stash;
	__u64 remaining; /* bytes transferred and not yet copied */
	__u64 seg_base;  /* current user segment */
	__u64 seg_len;
	__u32 next_iov;
	__u16 continued; /* EA_IO_CONTINUED after the first record */
	__u16 reserved;
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct io_copy);
} ea_io_copy SEC(".maps");

static __always_inline struct io_copy *io_copy_state(void)
{
	__u32 zero = 0;
	return bpf_map_lookup_elem(&ea_io_copy, &zero);
}

/* The header of one terminal record of `len` bytes, in the ring or in the scratch area. */
static __always_inline void fill_tty_io(struct ea_tty_io *r, const struct io_copy *c, const struct session_task *st,
					__u64 len)
{
	ea_fill_header(&r->hdr, EA_EV_TTY_IO, c->stash.flags | c->continued, st->session_id);
	r->hdr.size = offsetof(struct ea_tty_io, data) + len;
	r->tty_id = c->stash.tty_id;
	r->rows = c->stash.rows;
	r->cols = c->stash.cols;
	r->len = len;
}

/* One iteration: open the next iovec, or copy one chunk of the current segment. */
static long copy_one(__u32 index, void *unused)
{
	struct io_copy *c = io_copy_state();
	union ea_scratch *scratch = ea_scratch();
	struct session_task *st = ea_session_of_current();

	if (!c || !scratch || !st || !c->remaining)
		return 1;
	if (!c->seg_len) {
		if (!c->stash.iov || c->next_iov >= c->stash.iovcnt || c->next_iov >= EA_IOV_MAX_SEEN)
			return 1;
		struct iovec v = {};
		if (bpf_probe_read_user(&v, sizeof(v),
					(void *)(c->stash.iov + c->next_iov * sizeof(struct iovec))))
			return 1;
		c->next_iov++;
		c->seg_base = (__u64)v.iov_base;
		c->seg_len = v.iov_len;
		return 0;
	}

	__u64 n = c->seg_len < c->remaining ? c->seg_len : c->remaining;
	if (n >= EA_IO_CHUNK) {
		/* A full chunk (floods are made of these): read straight into the ring, one copy. */
		n = EA_IO_CHUNK;
		struct ea_tty_io *r = bpf_ringbuf_reserve(&ea_events, sizeof(*r), 0);
		if (!r) {
			ea_count_drop(st, n);
		} else if (bpf_probe_read_user(r->data, EA_IO_CHUNK, (void *)c->seg_base)) {
			bpf_ringbuf_discard(r, BPF_RB_NO_WAKEUP);
			return 1; /* unreadable: the rest is counted as lost by the caller */
		} else {
			fill_tty_io(r, c, st, EA_IO_CHUNK);
			bpf_ringbuf_submit(r, ea_wakeup_flags());
		}
	} else {
		/* A partial chunk: built in the scratch area so it takes only its size in the ring. */
		struct ea_tty_io *e = &scratch->io;
		if (bpf_probe_read_user(e->data, n, (void *)c->seg_base))
			return 1;
		fill_tty_io(e, c, st, n);
		ea_output(e, offsetof(struct ea_tty_io, data) + n, st, n);
	}

	c->continued = EA_IO_CONTINUED;
	c->seg_base += n;
	c->seg_len -= n;
	c->remaining -= n;
	return 0;
}

static __always_inline int on_io_exit(long ret)
{
	__u64 id = bpf_get_current_pid_tgid();
	struct io_stash *found = bpf_map_lookup_elem(&ea_io_stash, &id);

	if (!found)
		return 0;
	struct io_stash stash = *found;
	bpf_map_delete_elem(&ea_io_stash, &id);
	if (ret <= 0)
		return 0;

	struct session_task *st = ea_session_of_current();
	struct io_copy *c = io_copy_state();
	if (!st || !c)
		return 0;
	ea_report_loss(st);

	__u64 beyond_cap = 0;
	__u64 total = ret;
	if (total > EA_IO_MAX_PER_CALL) {
		beyond_cap = total - EA_IO_MAX_PER_CALL;
		total = EA_IO_MAX_PER_CALL;
	}
	c->stash = stash;
	c->remaining = total;
	/* a plain buffer is one segment; an iovec array is opened entry by entry */
	c->seg_base = stash.buf;
	c->seg_len = stash.iov ? 0 : total;
	c->next_iov = 0;
	c->continued = 0;

	bpf_loop(EA_IO_MAX_PER_CALL / EA_IO_CHUNK + EA_IOV_MAX_SEEN, copy_one, NULL, 0);

	__u64 missed = c->remaining + beyond_cap;
	if (missed) {
		__sync_fetch_and_add(&st->lost_events, 1);
		__sync_fetch_and_add(&st->lost_bytes, missed);
	}
	return 0;
}

/* write(fd, buf, count) / read(fd, buf, count) */
SEC("tp/syscalls/sys_enter_write")
int ea_enter_write(struct trace_event_raw_sys_enter *ctx)
{
	return on_io_enter(ctx->args[0], ctx->args[1], 0, 0, 0);
}

SEC("tp/syscalls/sys_exit_write")
int ea_exit_write(struct trace_event_raw_sys_exit *ctx)
{
	return on_io_exit(ctx->ret);
}

SEC("tp/syscalls/sys_enter_read")
int ea_enter_read(struct trace_event_raw_sys_enter *ctx)
{
	return on_io_enter(ctx->args[0], ctx->args[1], 0, 0, EA_IO_INPUT);
}

SEC("tp/syscalls/sys_exit_read")
int ea_exit_read(struct trace_event_raw_sys_exit *ctx)
{
	return on_io_exit(ctx->ret);
}

/* writev(fd, iov, iovcnt) / readv(fd, iov, iovcnt) */
SEC("tp/syscalls/sys_enter_writev")
int ea_enter_writev(struct trace_event_raw_sys_enter *ctx)
{
	return on_io_enter(ctx->args[0], 0, ctx->args[1], ctx->args[2], 0);
}

SEC("tp/syscalls/sys_exit_writev")
int ea_exit_writev(struct trace_event_raw_sys_exit *ctx)
{
	return on_io_exit(ctx->ret);
}

SEC("tp/syscalls/sys_enter_readv")
int ea_enter_readv(struct trace_event_raw_sys_enter *ctx)
{
	return on_io_enter(ctx->args[0], 0, ctx->args[1], ctx->args[2], EA_IO_INPUT);
}

SEC("tp/syscalls/sys_exit_readv")
int ea_exit_readv(struct trace_event_raw_sys_exit *ctx)
{
	return on_io_exit(ctx->ret);
}
