// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Terminal I/O of session processes: what they write to a pty (output) and read from it (input).
 *
 * Two hook families; the loader loads exactly one (recorder/capture/capture.cpp, --tty-hook):
 * - fentry/fexit on tty_write and tty_read (end of this file), where the kernel allows
 *   trampolines: only terminal I/O pays, the rest of the node nothing.
 * - Elsewhere, one tp_btf/sys_exit program for every syscall that moves bytes to or from a file.
 *   Everything else on the node returns after one register compare (the syscall number), which
 *   is what an unrelated process pays: a tp/syscalls enter+exit pair per syscall costs twice as
 *   much (measured: docs/architecture.md, "What the syscall tracepoints cost"). At exit the saved
 *   registers still hold the arguments, and only the bytes actually transferred are copied, in
 *   EA_IO_CHUNK records. No table holds a syscall in flight, so nothing can be crowded out.
 *
 * Captured by the tracepoint: read/write, readv/writev, pread64/pwrite64, preadv/pwritev, preadv2/pwritev2 (a tty
 * takes offset -1 there), and a 32-bit process's read/write (int 0x80 or a compat binary: the
 * ia32 table, which tp/syscalls never sees). Counted as uncaptured (a gap with its byte count):
 * sendfile, splice and copy_file_range with a terminal on either side (the bytes come from
 * another file, out of reach here), io_uring requests on a terminal (tp/io_uring), and a 32-bit
 * process's vector and splice forms.
 *
 * Kernels: 5.17+ (bpf_loop), x86_64 registers. Field accesses are CO-RE reads.
 */
#include "common.bpf.h"

#define EA_TERMIOS_ECHO 0000010
#define EA_TERMIOS_ICANON 0000002
#define EA_TERMIOS_OPOST 0000001
#define EA_TERMIOS_ONLCR 0000004
#define EA_IOV_MAX_SEEN 16 /* iovecs of one readv/writev followed; the rest count as lost */
#define EA_TS_COMPAT 0x0002 /* thread_info.status: this syscall came through the ia32 table */

#if !defined(__TARGET_ARCH_x86)
#error "tty.bpf.c reads x86_64 syscall registers; add this architecture's numbers and registers"
#endif

/* Keep input read with ECHO off in canonical mode (a password) instead of its length only. */
const volatile __u8 ea_keep_echo_off_input EA_WEAK = 0;
/* Which family is loaded (1: the tty layer's fexit). Unused here: it makes the two program sets
 * differ in their pin tag, so a recorder in the other mode replaces them as an upgrade would. */
const volatile __u8 ea_tty_hook_fexit EA_WEAK = 0;

enum ea_io_op { EA_OP_NONE, EA_OP_READ, EA_OP_WRITE, EA_OP_READV, EA_OP_WRITEV, EA_OP_SENDFILE, EA_OP_SPLICE, EA_OP_COPY_RANGE, EA_OP_COMPAT_OTHER };

struct io_stash {
	__u64 buf;    /* read/write: the buffer */
	__u64 iov;    /* readv/writev: the iovec array (buf unused) */
	__u64 tty_id;
	__u64 skip;  /* readv/writev: bytes of the first iovec consumed before the call */
	__u32 iovcnt;
	__u16 flags; /* EA_IO_* */
	__u16 rows;
	__u16 cols;
};

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

/* The terminal behind `file`, if it is one: its id, window size and line discipline flags. */
static __always_inline bool terminal_of(struct file *file, bool input, struct io_stash *out)
{
	if (!file)
		return false;
	struct inode *inode = BPF_CORE_READ(file, f_inode);
	__u32 rdev = 0;
	bool pty_slave = false;
	if (!ea_terminal_inode(inode, &rdev, &pty_slave))
		return false;

	/* tty files keep a tty_file_private in private_data (tty_alloc_file) */
	struct tty_file_private *priv = BPF_CORE_READ(file, private_data);
	struct tty_struct *tty = BPF_CORE_READ(priv, tty);
	out->rows = BPF_CORE_READ(tty, winsize.ws_row);
	out->cols = BPF_CORE_READ(tty, winsize.ws_col);
	__u64 sb_dev = BPF_CORE_READ(inode, i_sb, s_dev);
	out->tty_id = pty_slave ? (sb_dev << 32 | rdev) : rdev;
	__u32 oflag = BPF_CORE_READ(tty, termios.c_oflag);
	bool onlcr = (oflag & (EA_TERMIOS_OPOST | EA_TERMIOS_ONLCR)) == (EA_TERMIOS_OPOST | EA_TERMIOS_ONLCR);
	if (input) {
		__u32 lflag = BPF_CORE_READ(tty, termios.c_lflag);
		out->flags |= EA_IO_INPUT;
		if (!(lflag & EA_TERMIOS_ECHO)) {
			out->flags |= EA_IO_ECHO_OFF;
			/* ECHO off in canonical mode is a password prompt; readline, vim and less run
			 * with ECHO off in raw mode, and their keystrokes are ordinary input */
			if ((lflag & EA_TERMIOS_ICANON) && !ea_keep_echo_off_input)
				out->flags |= EA_IO_MASKED;
		} else {
			/* the tty echoed it as it was typed (and maps \n to \r\n on the way) */
			out->flags |= EA_IO_KERNEL_ECHO;
			if (onlcr)
				out->flags |= EA_IO_ONLCR;
		}
	} else if (onlcr) {
		/* the bytes are taken before the line discipline's output processing */
		out->flags |= EA_IO_ONLCR;
	}
	return true;
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
		if (c->next_iov == 0 && c->stash.skip) {
			__u64 skip = c->stash.skip < v.iov_len ? c->stash.skip : v.iov_len;
			v.iov_base = (void *)((__u64)v.iov_base + skip);
			v.iov_len -= skip;
		}
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

/* `ret` bytes moved through a terminal: record them. */
static __always_inline void record_io(struct session_task *st, struct io_stash *stash, long ret)
{
	struct io_copy *c = io_copy_state();
	if (!c)
		return;
	ea_report_loss(st);

	if (stash->flags & EA_IO_MASKED) {
		/* how many bytes, never which */
		union ea_scratch *scratch = ea_scratch();
		if (!scratch)
			return;
		struct ea_tty_io *e = &scratch->io;
		c->stash = *stash;
		c->continued = 0;
		fill_tty_io(e, c, st, 0);
		e->len = ret;
		ea_output(e, offsetof(struct ea_tty_io, data), st, 0);
		return;
	}

	__u64 beyond_cap = 0;
	__u64 total = ret;
	if (total > EA_IO_MAX_PER_CALL) {
		beyond_cap = total - EA_IO_MAX_PER_CALL;
		total = EA_IO_MAX_PER_CALL;
	}
	c->stash = *stash;
	c->remaining = total;
	/* a plain buffer is one segment; an iovec array is opened entry by entry */
	c->seg_base = stash->buf;
	c->seg_len = stash->iov ? 0 : total;
	c->next_iov = 0;
	c->continued = 0;

	bpf_loop(EA_IO_MAX_PER_CALL / EA_IO_CHUNK + EA_IOV_MAX_SEEN, copy_one, NULL, 0);

	__u64 missed = c->remaining + beyond_cap;
	if (missed) {
		__sync_fetch_and_add(&st->lost_events, 1);
		__sync_fetch_and_add(&st->lost_bytes, missed);
	}
}

/* `bytes` moved through a terminal by a path whose data is out of reach: a counted gap. */
static __always_inline void record_uncaptured(struct session_task *st, const struct io_stash *t, __u32 path,
					      __u64 bytes)
{
	struct ea_uncaptured rec = {};

	ea_report_loss(st);
	ea_fill_header(&rec.hdr, EA_EV_UNCAPTURED, t->flags & EA_IO_INPUT, st->session_id);
	rec.hdr.size = sizeof(rec);
	rec.tty_id = t->tty_id;
	rec.bytes = bytes;
	rec.path = path;
	ea_output(&rec, sizeof(rec), st, bytes);
}

/* Which operation a syscall number is, in the 64-bit or the ia32 table. */
static __always_inline enum ea_io_op op_of(long nr, bool compat)
{
	if (compat) {
		switch (nr) {
		case 3: return EA_OP_READ;   /* read */
		case 4: return EA_OP_WRITE;  /* write */
		case 180: return EA_OP_READ; /* pread64 */
		case 181: return EA_OP_WRITE;
		case 145: case 146: case 333: case 334: case 378: case 379: /* readv writev preadv pwritev preadv2 pwritev2 */
		case 187: case 239: case 313: case 377: /* sendfile sendfile64 splice copy_file_range */
			return EA_OP_COMPAT_OTHER;
		}
		return EA_OP_NONE;
	}
	switch (nr) {
	case 0: case 17: return EA_OP_READ;                  /* read pread64 */
	case 1: case 18: return EA_OP_WRITE;                 /* write pwrite64 */
	case 19: case 295: case 327: return EA_OP_READV;     /* readv preadv preadv2 */
	case 20: case 296: case 328: return EA_OP_WRITEV;    /* writev pwritev pwritev2 */
	case 40: return EA_OP_SENDFILE;
	case 275: return EA_OP_SPLICE;
	case 326: return EA_OP_COPY_RANGE;
	}
	return EA_OP_NONE;
}

SEC("tp_btf/sys_exit")
int BPF_PROG(ea_sys_exit, struct pt_regs *regs, long ret)
{
	long nr = regs->orig_ax;

	/* the node's other processes leave here: a number that moves no bytes, or nothing moved */
	if (nr > 379 || ret <= 0)
		return 0;
	struct task_struct *task = bpf_get_current_task_btf();
	bool compat = task->thread_info.status & EA_TS_COMPAT;
	enum ea_io_op op = op_of(nr, compat);
	if (op == EA_OP_NONE)
		return 0;
	__u32 tgid = task->tgid;
	struct session_task *st = bpf_map_lookup_elem(&ea_session_of, &tgid);
	if (!st)
		return 0;

	struct io_stash t = {};
	if (compat) {
		/* ia32 arguments: ebx, ecx, edx, esi, edi */
		__u32 fd = regs->bx;
		if (op == EA_OP_COMPAT_OTHER) {
			/* fd is the (output) descriptor of every form but splice; both ends are checked */
			bool out = terminal_of(ea_file_of_fd(task, fd), false, &t);
			if (!out && !terminal_of(ea_file_of_fd(task, (__u32)regs->cx), true, &t) &&
			    !terminal_of(ea_file_of_fd(task, (__u32)regs->si), false, &t))
				return 0;
			record_uncaptured(st, &t, EA_PATH_COMPAT_VECTOR, ret);
			return 0;
		}
		if (!terminal_of(ea_file_of_fd(task, fd), op == EA_OP_READ, &t))
			return 0;
		t.buf = (__u32)regs->cx;
		record_io(st, &t, ret);
		return 0;
	}

	__u32 fd = regs->di;
	switch (op) {
	case EA_OP_READ:
	case EA_OP_WRITE:
		if (!terminal_of(ea_file_of_fd(task, fd), op == EA_OP_READ, &t))
			return 0;
		t.buf = regs->si;
		record_io(st, &t, ret);
		return 0;
	case EA_OP_READV:
	case EA_OP_WRITEV:
		if (!terminal_of(ea_file_of_fd(task, fd), op == EA_OP_READV, &t))
			return 0;
		t.iov = regs->si;
		t.iovcnt = regs->dx;
		record_io(st, &t, ret);
		return 0;
	case EA_OP_SENDFILE:
		/* sendfile(out_fd, in_fd, offset, count) */
		if (terminal_of(ea_file_of_fd(task, fd), false, &t) ||
		    terminal_of(ea_file_of_fd(task, (__u32)regs->si), true, &t))
			record_uncaptured(st, &t, EA_PATH_SENDFILE, ret);
		return 0;
	case EA_OP_SPLICE:
	case EA_OP_COPY_RANGE:
		/* splice / copy_file_range(fd_in, off_in, fd_out, off_out, len, flags) */
		if (terminal_of(ea_file_of_fd(task, (__u32)regs->dx), false, &t) ||
		    terminal_of(ea_file_of_fd(task, fd), true, &t))
			record_uncaptured(st, &t, op == EA_OP_SPLICE ? EA_PATH_SPLICE : EA_PATH_COPY_FILE_RANGE, ret);
		return 0;
	default:
		return 0;
	}
}

/* io_uring requests run in the submitter's task work or its io-wq threads (same tgid): a
 * completed request on a terminal is counted, with its direction from the (uapi) opcode. */
struct io_uring_complete_args {
	__u64 common;
	void *ctx;
	struct io_kiocb *req;
	__u64 user_data;
	int res;
};

SEC("tp/io_uring/io_uring_complete")
int ea_io_uring_complete(struct io_uring_complete_args *ctx)
{
	if (ctx->res <= 0)
		return 0;
	struct session_task *st = ea_session_of_current();
	if (!st)
		return 0;
	struct io_kiocb *req = ctx->req;
	__u8 opcode = BPF_CORE_READ(req, opcode);
	/* IORING_OP_READV 1, READ_FIXED 4, READ 22, READ_MULTISHOT 49 */
	bool input = opcode == 1 || opcode == 4 || opcode == 22 || opcode == 49;
	struct io_stash t = {};
	if (!terminal_of(BPF_CORE_READ(req, file), input, &t))
		return 0;
	record_uncaptured(st, &t, EA_PATH_IO_URING, ctx->res);
	return 0;
}

/* ---- Where the kernel allows trampolines: the tty layer itself (Linux 6.4+) ----
 *
 * fentry/fexit on tty_write and tty_read run for terminal I/O only: the node's other processes pay
 * nothing at all. Every way bytes reach a terminal passes there: the read/write family of both
 * syscall tables, io_uring (its io-wq workers are threads of the submitter), and sendfile/splice
 * (their bytes arrive in kernel pages: counted, not captured). The loader tries these first and
 * falls back to ea_sys_exit and ea_io_uring_complete where the kernel refuses them
 * (recorder/capture/capture.cpp); exactly one of the two families is loaded.
 *
 * fentry notes where the caller's buffer starts, in task storage (one entry per session task that
 * does terminal I/O, freed with the task: nothing a session can crowd out); fexit copies the
 * bytes the call moved. */

enum ea_iter_kind { EA_ITER_NONE, EA_ITER_USER_BUF, EA_ITER_USER_IOV, EA_ITER_KERNEL };

struct tty_call {
	__u64 base;  /* EA_ITER_USER_BUF: the buffer at the call's position */
	__u64 iov;   /* EA_ITER_USER_IOV: the segment array at the call's position */
	__u64 skip;  /* bytes of the first segment consumed before the call */
	__u32 nr_segs;
	__u8 kind;   /* enum ea_iter_kind; EA_ITER_NONE once the call is done */
	__u8 pad[3];
};

struct {
	__uint(type, BPF_MAP_TYPE_TASK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct tty_call);
} ea_tty_call SEC(".maps");

static __always_inline void tty_call_begin(struct iov_iter *it)
{
	if (!ea_session_of_current())
		return;
	struct tty_call *c = bpf_task_storage_get(&ea_tty_call, bpf_get_current_task_btf(), 0,
						  BPF_LOCAL_STORAGE_GET_F_CREATE);
	if (!c)
		return; /* no memory: fexit counts the call's bytes as lost */
	__u8 type = BPF_CORE_READ(it, iter_type);
	__u64 offset = BPF_CORE_READ(it, iov_offset);
	c->base = c->iov = c->skip = 0;
	c->nr_segs = 0;
	if (bpf_core_enum_value_exists(enum iter_type, ITER_UBUF) && type == bpf_core_enum_value(enum iter_type, ITER_UBUF)) {
		c->kind = EA_ITER_USER_BUF;
		c->base = (__u64)BPF_CORE_READ(it, ubuf) + offset;
	} else if (type == bpf_core_enum_value(enum iter_type, ITER_IOVEC)) {
		c->kind = EA_ITER_USER_IOV;
		c->iov = (__u64)BPF_CORE_READ(it, __iov);
		c->skip = offset;
		c->nr_segs = BPF_CORE_READ(it, nr_segs);
	} else {
		c->kind = EA_ITER_KERNEL; /* kvec, bvec, pipe pages: sendfile and splice */
	}
}

static __always_inline void tty_call_end(struct kiocb *iocb, bool input, long ret)
{
	struct session_task *st = ea_session_of_current();
	if (!st)
		return;
	struct tty_call *c = bpf_task_storage_get(&ea_tty_call, bpf_get_current_task_btf(), 0, 0);
	struct tty_call call = {};
	if (c) {
		call = *c;
		c->kind = EA_ITER_NONE;
	}
	struct io_stash t = {};
	if (ret <= 0 || !terminal_of(BPF_CORE_READ(iocb, ki_filp), input, &t))
		return;
	switch (call.kind) {
	case EA_ITER_USER_BUF:
		t.buf = call.base;
		record_io(st, &t, ret);
		return;
	case EA_ITER_USER_IOV:
		t.iov = call.iov;
		t.iovcnt = call.nr_segs;
		t.skip = call.skip;
		record_io(st, &t, ret);
		return;
	case EA_ITER_KERNEL:
		record_uncaptured(st, &t, EA_PATH_KERNEL_PAGES, ret);
		return;
	default:
		/* fentry had no memory for the call (or ran before this session was followed) */
		ea_report_loss(st);
		__sync_fetch_and_add(&st->lost_events, 1);
		__sync_fetch_and_add(&st->lost_bytes, ret);
		return;
	}
}

SEC("fentry/tty_write")
int BPF_PROG(ea_tty_write_entry, struct kiocb *iocb, struct iov_iter *from)
{
	tty_call_begin(from);
	return 0;
}

SEC("fexit/tty_write")
int BPF_PROG(ea_tty_write_exit, struct kiocb *iocb, struct iov_iter *from, long ret)
{
	tty_call_end(iocb, false, ret);
	return 0;
}

SEC("fentry/tty_read")
int BPF_PROG(ea_tty_read_entry, struct kiocb *iocb, struct iov_iter *to)
{
	tty_call_begin(to);
	return 0;
}

SEC("fexit/tty_read")
int BPF_PROG(ea_tty_read_exit, struct kiocb *iocb, struct iov_iter *to, long ret)
{
	tty_call_end(iocb, true, ret);
	return 0;
}
