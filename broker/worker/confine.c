#include "confine.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <linux/netlink.h>
#include <sched.h>
#include <seccomp.h>
#include <stddef.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <unistd.h>

int lb_worker_drop_privileges(uid_t uid, gid_t gid)
{
	for (int cap = 0; prctl(PR_CAPBSET_READ, cap, 0, 0, 0) >= 0; cap++)
		if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) < 0)
			return 72;
	if (uid == 0 || gid == 0 || setgroups(0, NULL) < 0 || setresgid(gid, gid, gid) < 0 ||
	    setresuid(uid, uid, uid) < 0)
		return 73;
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
		return 74;
	return 0;
}

/* Allowed without looking at the arguments. */
static const char *const plain[] = {
    /* memory (sodium: mlock, madvise, mprotect guard pages) */
    "brk",
    "mmap",
    "munmap",
    "mprotect",
    "mremap",
    "madvise",
    "mlock",
    "munlock",
    "mlock2",
    /* I/O on fds it holds */
    "read",
    "write",
    "readv",
    "writev",
    "pread64",
    "pwrite64",
    "close",
    "lseek",
    "fstat",
    "newfstatat",
    "statx",
    "fsync",
    "fdatasync",
    "dup",
    "dup3",
    "fcntl",
    "getdents64",
    "faccessat",
    "faccessat2",
    "readlinkat",
    "getcwd",
    /* the loop */
    "epoll_create1",
    "epoll_ctl",
    "epoll_wait",
    "epoll_pwait",
    "epoll_pwait2",
    "poll",
    "ppoll",
    "timerfd_create",
    "timerfd_settime",
    "timerfd_gettime",
    "eventfd2",
    "pipe2",
    /* network (socket() itself is checked below) */
    "connect",
    "getsockopt",
    "setsockopt",
    "getsockname",
    "getpeername",
    "shutdown",
    "sendto",
    "sendmsg",
    "sendmmsg",
    "recvfrom",
    "recvmsg",
    "recvmmsg",
    "bind",
    /* threads (curl's resolver), time, randomness, signals, identity, exit */
    "futex",
    "set_robust_list",
    "get_robust_list",
    "rseq",
    "set_tid_address",
    "gettid",
    "getpid",
    "getppid",
    "getuid",
    "geteuid",
    "getgid",
    "getegid",
    "getresuid",
    "getresgid",
    "getgroups",
    "sched_yield",
    "sched_getaffinity",
    "clock_gettime",
    "clock_getres",
    "clock_nanosleep",
    "nanosleep",
    "gettimeofday",
    "time",
    "getrandom",
    "uname",
    "sysinfo",
    "prlimit64",
    "getrlimit",
    "rt_sigaction",
    "rt_sigprocmask",
    "rt_sigreturn",
    "sigaltstack",
    "restart_syscall",
    "exit",
    "exit_group",
    "membarrier",
};

static int allow(scmp_filter_ctx f, const char *name, unsigned n, const struct scmp_arg_cmp *c)
{
	int nr = seccomp_syscall_resolve_name(name);

	if (nr == __NR_SCMP_ERROR)
		return 0; /* not on this architecture */
	return seccomp_rule_add_array(f, SCMP_ACT_ALLOW, nr, n, c);
}

#define ALLOW(f, name, ...)                                                                        \
	allow(f, name, sizeof((struct scmp_arg_cmp[]){__VA_ARGS__}) / sizeof(struct scmp_arg_cmp), \
	      (struct scmp_arg_cmp[]){__VA_ARGS__})

static int rules(scmp_filter_ctx f, int statefd)
{
	const scmp_datum_t wr = O_WRONLY | O_RDWR | O_CREAT | O_TRUNC | O_APPEND | O_TMPFILE;
	const scmp_datum_t sfd = (scmp_datum_t)statefd;
	int rc = 0;

	for (size_t i = 0; i < sizeof(plain) / sizeof(plain[0]); i++)
		rc |= allow(f, plain[i], 0, NULL);
	/* Files: read-only anywhere the uid may read; anything under the state directory. */
	rc |= ALLOW(f, "openat", SCMP_A2(SCMP_CMP_MASKED_EQ, wr, 0));
	rc |= ALLOW(f, "openat", SCMP_A0(SCMP_CMP_EQ, sfd));
	rc |= ALLOW(f, "renameat", SCMP_A0(SCMP_CMP_EQ, sfd), SCMP_A2(SCMP_CMP_EQ, sfd));
	rc |= ALLOW(f, "renameat2", SCMP_A0(SCMP_CMP_EQ, sfd), SCMP_A2(SCMP_CMP_EQ, sfd));
	rc |= ALLOW(f, "unlinkat", SCMP_A0(SCMP_CMP_EQ, sfd));
	rc |= ALLOW(f, "fchmod", SCMP_A1(SCMP_CMP_MASKED_EQ, 07000, 0));
	/* Sockets: TCP/UDP over IPv4/IPv6, route netlink for getaddrinfo, socketpairs. */
	rc |= ALLOW(f, "socket", SCMP_A0(SCMP_CMP_EQ, AF_INET));
	rc |= ALLOW(f, "socket", SCMP_A0(SCMP_CMP_EQ, AF_INET6));
	rc |= ALLOW(f, "socket", SCMP_A0(SCMP_CMP_EQ, AF_NETLINK),
		    SCMP_A2(SCMP_CMP_EQ, NETLINK_ROUTE));
	rc |= ALLOW(f, "socketpair", SCMP_A0(SCMP_CMP_EQ, AF_UNIX));
	rc |= ALLOW(f, "ioctl", SCMP_A1(SCMP_CMP_EQ, FIONREAD));
	rc |= ALLOW(f, "ioctl", SCMP_A1(SCMP_CMP_EQ, FIONBIO));
	/* Threads, never processes; clone3's flags are out of reach of a filter, so it says
	 * ENOSYS and glibc falls back to clone. */
	rc |= ALLOW(f, "clone", SCMP_A0(SCMP_CMP_MASKED_EQ, CLONE_THREAD, CLONE_THREAD));
	rc |= seccomp_rule_add(f, SCMP_ACT_ERRNO(ENOSYS), SCMP_SYS(clone3), 0);
	/* Signals to itself only (abort, curl's resolver threads never signal). */
	rc |= ALLOW(f, "tgkill", SCMP_A0(SCMP_CMP_EQ, (scmp_datum_t)getpid()));
	rc |= ALLOW(f, "kill", SCMP_A0(SCMP_CMP_EQ, (scmp_datum_t)getpid()));
	rc |= ALLOW(f, "prctl", SCMP_A0(SCMP_CMP_EQ, PR_SET_NAME));
	rc |= ALLOW(f, "prctl", SCMP_A0(SCMP_CMP_EQ, PR_GET_DUMPABLE));
	return rc;
}

int lb_worker_confine(int statefd, lb_err *e)
{
	scmp_filter_ctx f;
	int rc;

	if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) < 0)
		return lb_fail_errno(e, "PR_SET_DUMPABLE");
	if (prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0) != 1)
		return lb_fail(e, 0, "no_new_privs is not set");
	f = seccomp_init(SCMP_ACT_ERRNO(EPERM));
	if (!f)
		return lb_fail(e, ENOMEM, "seccomp_init failed");
	rc = rules(f, statefd);
	if (rc == 0)
		rc = seccomp_load(f);
	seccomp_release(f);
	return rc ? lb_fail(e, -rc, "seccomp filter: %s", rc < 0 ? "refused" : "rule failed") : 0;
}
