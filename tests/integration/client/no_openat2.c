/* Runs a command with openat2(2) answering ENOSYS (a seccomp filter), as on kernels before
 * 5.6 or under container seccomp profiles that predate it, so that tests exercise the
 * client's O_NOFOLLOW fallback. `no_openat2 --self-test` checks the filter itself. */
#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sys/prctl.h>
#include <sys/syscall.h>

#ifndef SYS_openat2
#define SYS_openat2 437
#endif

static int install_filter(void)
{
	struct sock_filter insns[] = {
	    BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch)),
	    BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, AUDIT_ARCH_X86_64, 1, 0),
	    BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
	    BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
	    BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_openat2, 0, 1),
	    BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | (ENOSYS & SECCOMP_RET_DATA)),
	    BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
	};
	struct sock_fprog prog = {.len = sizeof(insns) / sizeof(insns[0]), .filter = insns};

	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
		return -1;
	return prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog);
}

int main(int argc, char **argv)
{
	unsigned long long how[3] = {O_RDONLY, 0, 0};

	if (argc < 2) {
		fprintf(stderr, "usage: no_openat2 --self-test | CMD...\n");
		return 64;
	}
	if (install_filter() < 0) {
		perror("no_openat2: seccomp");
		return 77;
	}
	if (!strcmp(argv[1], "--self-test")) {
		long rc = syscall(SYS_openat2, AT_FDCWD, "/", how, sizeof(how));

		if (rc >= 0 || errno != ENOSYS) {
			fprintf(stderr, "no_openat2: openat2 still works (rc %ld, errno %d)\n", rc,
				errno);
			return 1;
		}
		return 0;
	}
	execv(argv[1], argv + 1);
	perror("no_openat2: exec");
	return 127;
}
