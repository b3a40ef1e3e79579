/* Writes its argument and a newline to stdout through the ia32 syscall table (int $0x80), as a
 * 32-bit binary would: tp/syscalls never sees these calls. Built without PIE so that the
 * buffer's address fits the 32-bit register. */
#include <string.h>

static char buf[256];

int main(int argc, char **argv)
{
	if (argc < 2 || strlen(argv[1]) + 1 >= sizeof(buf))
		return 2;
	size_t n = strlen(argv[1]);
	memcpy(buf, argv[1], n);
	buf[n++] = '\n';
	long ret;
	/* ia32 write = 4: ebx fd, ecx buf, edx count */
	__asm__ volatile("int $0x80" : "=a"(ret) : "a"(4L), "b"(1L), "c"(buf), "d"(n) : "memory");
	return ret == (long)n ? 0 : 1;
}
