/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * The kernel/user ABI of execaudit: every record the BPF programs put in the ring buffer.
 *
 * Plain C with __u8..__u64 only; included by the BPF programs and by the C++ recorder, which
 * static_asserts sizes and offsets (recorder/capture/event_decoder.cpp).
 *
 * Rules: event type values and flag bits are explicit and APPEND-ONLY. Never renumber, reuse or
 * resize; add a new type instead. Every record starts with struct ea_header, whose `size` is the
 * number of bytes actually submitted (variable-length tails are cut to what was used).
 */
#ifndef EXECAUDIT_BPF_EVENTS_H
#define EXECAUDIT_BPF_EVENTS_H

#ifndef __VMLINUX_H__
#include <linux/types.h>
#endif

#define EA_ABI_VERSION 1

enum ea_event_type {
	EA_EV_EXEC = 1,        /* sys_enter_execve(at): a command is about to run (struct ea_exec) */
	EA_EV_EXEC_RESULT = 2, /* sys_exit_execve(at): its return value (struct ea_exec_result) */
	EA_EV_TTY_IO = 3,      /* bytes moved through a pty slave by a session task (struct ea_tty_io) */
	EA_EV_EXIT = 4,        /* a session's first process ended: the session ends (struct ea_exit) */
	EA_EV_LOST = 5,        /* records of this session were dropped before this point (struct ea_lost) */
	EA_EV_UNCAPTURED = 6,  /* terminal bytes moved by a path capture cannot read (struct ea_uncaptured) */
	EA_EV_EXEC_V2 = 7,     /* EA_EV_EXEC with a larger argv and the task's namespaces (struct ea_exec_v2) */
	EA_EV_EXEC_RESULT_V2 = 8, /* EA_EV_EXEC_RESULT with the executable the kernel loaded (struct ea_exec_result_v2) */
};

/* ea_header.flags for EA_EV_EXEC */
#define EA_EXEC_SESSION_START (1u << 0) /* this exec entered the container from outside: a new session */
#define EA_EXEC_EXECVEAT (1u << 1)      /* execveat(2); filename is relative to a dirfd */
#define EA_EXEC_ARGV_TRUNCATED (1u << 2)
#define EA_EXEC_FILENAME_TRUNCATED (1u << 3)
#define EA_EXEC_STDIO_TTY (1u << 4) /* session start: stdin or stdout is a terminal (kubectl exec -t) */
#define EA_EXEC_NSENTER (1u << 5)   /* session start: a task outside the pod cgroups inside a container's
				       * mount or pid namespace (nsenter, setns): target_cgroup_id says which */
#define EA_EXEC_TTY_INIT (1u << 6)  /* session start: a container's init on a terminal (kubectl attach and
				       * debug type into it; otherwise it is the workload's own terminal) */

/* ea_header.flags for EA_EV_TTY_IO */
#define EA_IO_INPUT (1u << 0)     /* read(2) by the session: keystrokes; otherwise output */
#define EA_IO_ECHO_OFF (1u << 1)  /* the tty had ECHO off when this input was read (password prompt) */
#define EA_IO_CONTINUED (1u << 2) /* continues the previous record of the same syscall */
#define EA_IO_ONLCR (1u << 3)     /* output: the tty turns \n into \r\n after the write (OPOST|ONLCR) */
#define EA_IO_MASKED (1u << 4)    /* input read with ECHO off in canonical mode (a password prompt):
				   * len says how many bytes, the record carries none */
#define EA_IO_KERNEL_ECHO (1u << 5) /* input the tty echoed itself (ECHO on): the user saw it as output */

/* ea_uncaptured.path: how the bytes moved */
#define EA_PATH_SENDFILE 1
#define EA_PATH_SPLICE 2
#define EA_PATH_COPY_FILE_RANGE 3
#define EA_PATH_IO_URING 4
#define EA_PATH_COMPAT_VECTOR 5 /* a 32-bit process's readv/writev/sendfile/splice family */
#define EA_PATH_KERNEL_PAGES 6  /* seen at the tty layer in kernel memory: sendfile, splice, copy_file_range */

/* ea_exec_result_v2.exe_flags */
#define EA_EXE_FILELESS (1u << 0)       /* the executable has no name in any directory (memfd, deleted) */
#define EA_EXE_PATH_TRUNCATED (1u << 1) /* deeper or longer than the path buffer */

/* ea_header.flags for EA_EV_EXIT */
#define EA_EXIT_LEADER (1u << 0) /* the session's first process: the session ends */

#define EA_COMM_LEN 16
#define EA_FILENAME_MAX 256
#define EA_ARGC_MAX 64
#define EA_ARG_MAX 4096              /* one argument is cut at this many bytes */
#define EA_ARGS_BUF (2 * EA_ARG_MAX) /* argv area; a new argument starts only below EA_ARG_MAX */
#define EA_IO_CHUNK 16384            /* bytes of terminal data per record (a flood is made of these) */
#define EA_IO_MAX_PER_CALL (1u << 20) /* beyond this, one syscall's bytes are counted as lost */
#define EA_ARGC_V2_MAX 256
#define EA_ARGS_V2_MAX 32768               /* argv bytes kept (NULs included); the rest is truncation */
#define EA_ARGS_V2_BUF (2 * EA_ARGS_V2_MAX) /* an argument starts only below EA_ARGS_V2_MAX */
#define EA_EXE_PATH_MAX 1024
#define EA_EXE_PATH_BUF (EA_EXE_PATH_MAX + 256) /* a component starts only below EA_EXE_PATH_MAX */

/* Every record starts with this. */
struct ea_header {
	__u16 type;       /* enum ea_event_type */
	__u16 flags;      /* per-type EA_* flags */
	__u32 size;       /* bytes in this record, header included */
	__u64 ts_boot_ns; /* bpf_ktime_get_boot_ns() */
	__u64 cgroup_id;  /* cgroup v2 id (inode number) of the task */
	__u64 session_id; /* kernel-side session number, unique while the programs stay loaded */
	__u32 pid;        /* host tgid */
	__u32 tid;        /* host thread id */
};

struct ea_exec {
	struct ea_header hdr;
	__u64 task_start_ns;    /* task->start_boottime: tells a reused pid apart */
	__u64 parent_cgroup_id; /* for a session start: where the process came from */
	__u32 ppid;
	__u32 uid;
	__u32 gid;
	__u32 ns_pid;       /* pid inside the task's own pid namespace */
	__u16 filename_len; /* bytes in filename, without the NUL */
	__u16 argc;
	__u32 args_len; /* bytes used in args: argc NUL-terminated strings */
	char comm[EA_COMM_LEN];
	char parent_comm[EA_COMM_LEN];
	char filename[EA_FILENAME_MAX];
	char args[EA_ARGS_BUF]; /* only args_len bytes are submitted */
};

struct ea_exec_result {
	struct ea_header hdr;
	__s32 retval; /* 0, or -errno */
	__u32 reserved;
};

struct ea_tty_io {
	struct ea_header hdr;
	__u64 tty_id; /* devpts superblock dev << 32 | pty rdev: two devpts instances both have 136:0 */
	__u16 rows;   /* the tty's window size at the time of the call */
	__u16 cols;
	__u32 len; /* bytes of data in this record */
	__u8 data[EA_IO_CHUNK];
};

struct ea_exit {
	struct ea_header hdr;
	__s32 exit_code; /* wait status: exit status << 8 | terminating signal */
	__u32 reserved;
	__u64 task_start_ns;
};

struct ea_lost {
	struct ea_header hdr;
	__u64 lost_events;
	__u64 lost_bytes; /* terminal bytes among them */
};

struct ea_uncaptured {
	struct ea_header hdr; /* flags: EA_IO_INPUT when the bytes came from the terminal */
	__u64 tty_id;
	__u64 bytes;
	__u32 path; /* EA_PATH_* */
	__u32 reserved;
};

struct ea_exec_v2 {
	struct ea_header hdr;
	__u64 task_start_ns;
	__u64 parent_cgroup_id;
	__u64 target_cgroup_id; /* EA_EXEC_NSENTER: the container whose namespaces the task is in */
	__u32 ppid;
	__u32 uid;
	__u32 gid;
	__u32 ns_pid;
	__u32 mnt_ns; /* inode numbers of the task's mount and pid namespaces */
	__u32 pid_ns;
	__u16 filename_len;
	__u16 argc;
	__u32 args_len;
	char comm[EA_COMM_LEN];
	char parent_comm[EA_COMM_LEN];
	char filename[EA_FILENAME_MAX];
	char args[EA_ARGS_V2_BUF]; /* only args_len bytes are submitted */
};

struct ea_exec_result_v2 {
	struct ea_header hdr;
	__s32 retval;
	__u32 exe_flags; /* EA_EXE_*; exe_* are 0 when the exec failed */
	__u64 exe_ino;
	__u32 exe_dev; /* the kernel's dev_t: major << 20 | minor */
	__u32 exe_nlink;
	__u16 path_len; /* the path as the process sees it (from its root), without a NUL */
	__u16 reserved[3];
	char path[EA_EXE_PATH_BUF]; /* only path_len bytes are submitted */
};

/* Counters of records the ring buffer refused, one slot per CPU (map `ea_drops`). */
struct ea_drop_counters {
	__u64 events;
	__u64 bytes;
};

#endif /* EXECAUDIT_BPF_EVENTS_H */
