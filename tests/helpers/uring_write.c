/* Writes its argument and a newline to stdout with one io_uring IORING_OP_WRITE, using the raw
 * syscalls (no liburing): the bytes reach the terminal from an io-wq thread, with no write(2). */
#include <linux/io_uring.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	static char buf[4096];
	if (argc < 2 || strlen(argv[1]) + 1 >= sizeof(buf))
		return 2;
	size_t n = strlen(argv[1]);
	memcpy(buf, argv[1], n);
	buf[n++] = '\n';

	struct io_uring_params p;
	memset(&p, 0, sizeof(p));
	int fd = (int)syscall(__NR_io_uring_setup, 4, &p);
	if (fd < 0)
		return 3;
	size_t sq_len = p.sq_off.array + p.sq_entries * sizeof(unsigned);
	size_t cq_len = p.cq_off.cqes + p.cq_entries * sizeof(struct io_uring_cqe);
	char *sq = mmap(0, sq_len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, fd, IORING_OFF_SQ_RING);
	char *cq = mmap(0, cq_len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, fd, IORING_OFF_CQ_RING);
	struct io_uring_sqe *sqes = mmap(0, p.sq_entries * sizeof(struct io_uring_sqe), PROT_READ | PROT_WRITE,
					 MAP_SHARED | MAP_POPULATE, fd, IORING_OFF_SQES);
	if (sq == MAP_FAILED || cq == MAP_FAILED || sqes == MAP_FAILED)
		return 4;

	unsigned tail = *(unsigned *)(sq + p.sq_off.tail);
	unsigned index = tail & *(unsigned *)(sq + p.sq_off.ring_mask);
	struct io_uring_sqe *sqe = &sqes[index];
	memset(sqe, 0, sizeof(*sqe));
	sqe->opcode = IORING_OP_WRITE;
	sqe->fd = 1;
	sqe->addr = (uint64_t)(uintptr_t)buf;
	sqe->len = (unsigned)n;
	sqe->off = (uint64_t)-1; /* the file position: a terminal has none */
	((unsigned *)(sq + p.sq_off.array))[index] = index;
	__atomic_store_n((unsigned *)(sq + p.sq_off.tail), tail + 1, __ATOMIC_RELEASE);

	if (syscall(__NR_io_uring_enter, fd, 1, 1, IORING_ENTER_GETEVENTS, NULL, 0) < 0)
		return 5;
	unsigned head = *(unsigned *)(cq + p.cq_off.head);
	struct io_uring_cqe *cqe = &((struct io_uring_cqe *)(cq + p.cq_off.cqes))[head & *(unsigned *)(cq + p.cq_off.ring_mask)];
	return cqe->res == (int)n ? 0 : 6;
}
