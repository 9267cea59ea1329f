/* The network worker's confinement (broker/worker/confine.c), run in a child as the worker
 * runs it: privileges dropped to an unused uid, then the seccomp allow-list. What must fail
 * (mount, ptrace, execve, a new process, setuid back, a unix socket, opening a root-only file,
 * creating a file outside the state directory it was handed) fails; what the worker needs
 * (read-only opens, files under the state directory, TCP sockets, threads, socketpairs, the
 * loop's fds, secure memory) works; /proc shows no capability, no_new_privs and the filter.
 * Needs root (exit 77 without, unless LOCKBOX_MUST_WORK=1). */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/mount.h>
#include <sys/ptrace.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/timerfd.h>
#include <sys/wait.h>
#include <unistd.h>

#include "confine.h"
#include "secmem.h"
#include "worker_int.h"

static int out_fd; /* the child reports each check on this pipe */
static int failures;

static void report(const char *what, int ok)
{
	char line[256];
	int n = ok ? snprintf(line, sizeof(line), "ok   %s\n", what)
		   : snprintf(line, sizeof(line), "FAIL %s (errno %d)\n", what, errno);

	if (!ok)
		failures++;
	if (write(out_fd, line, (size_t)n) < 0)
		_exit(99);
}

/* The call must fail (-1) with errno in {e1, e2}. */
#define MUST_FAIL(what, call, e1, e2)                                                              \
	do {                                                                                       \
		errno = 0;                                                                         \
		long r_ = (long)(call);                                                            \
		report("refused: " what, r_ == -1 && (errno == (e1) || errno == (e2)));            \
	} while (0)
#define MUST_WORK(what, cond) report("works: " what, (cond))

static void *thread_main(void *arg)
{
	return arg;
}

static int status_field(const char *name, char *out, size_t cap)
{
	FILE *f = fopen("/proc/self/status", "r");
	char line[256];
	size_t n = strlen(name);

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (strncmp(line, name, n) == 0 && line[n] == ':') {
			snprintf(out, cap, "%s", line + n + 1 + strspn(line + n + 1, " \t"));
			out[strcspn(out, "\n")] = '\0';
			(void)fclose(f);
			return 0;
		}
	(void)fclose(f);
	return -1;
}

static void child(int statefd, const char *secret_path, uid_t uid, gid_t gid)
{
	char v[128];
	lb_err e = {0};
	int fd, sv[2];
	pthread_t th;
	lb_secbuf *b;

	if (lb_worker_drop_privileges(uid, gid) != 0) {
		report("drop privileges", 0);
		_exit(1);
	}
	if (lb_worker_confine(statefd, &e) < 0) {
		report(e.msg, 0);
		_exit(1);
	}
	/* What the worker must never do. */
	MUST_FAIL("mount", mount("none", "/mnt", "tmpfs", 0, NULL), EPERM, EPERM);
	MUST_FAIL("ptrace", ptrace(PTRACE_ATTACH, getppid(), NULL, NULL), EPERM, EPERM);
	MUST_FAIL("execve", execl("/bin/true", "true", (char *)NULL), EPERM, EPERM);
	MUST_FAIL("fork", syscall(SYS_clone, SIGCHLD, 0, 0, 0, 0), EPERM, EPERM);
	MUST_FAIL("setuid 0", setuid(0), EPERM, EPERM);
	MUST_FAIL("unix socket", socket(AF_UNIX, SOCK_STREAM, 0), EPERM, EPERM);
	MUST_FAIL("open a root-only file", open(secret_path, O_RDONLY | O_CLOEXEC), EACCES, EPERM);
	MUST_FAIL("create a file outside the state dir",
		  open("/tmp/lockbox-confine-test", O_WRONLY | O_CREAT | O_CLOEXEC, 0600), EPERM,
		  EPERM);
	MUST_FAIL("unlink outside the state dir", unlink("/etc/hostname"), EPERM, EPERM);
	MUST_FAIL("kill another process", kill(getppid(), SIGTERM), EPERM, EPERM);
	/* What it needs. */
	fd = open("/etc/hosts", O_RDONLY | O_CLOEXEC);
	MUST_WORK("read-only open", fd >= 0);
	close(fd);
	fd = openat(statefd, "lease.tmp", O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW,
		    0600);
	MUST_WORK("create under the state dir",
		  fd >= 0 && write(fd, "{}", 2) == 2 && fsync(fd) == 0);
	close(fd);
	MUST_WORK("rename under the state dir",
		  renameat(statefd, "lease.tmp", statefd, "lease") == 0);
	MUST_WORK("unlink under the state dir", unlinkat(statefd, "lease", 0) == 0);
	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	MUST_WORK("TCP socket", fd >= 0);
	close(fd);
	fd = socket(AF_INET6, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	MUST_WORK("UDP socket (IPv6)", fd >= 0 || errno == EAFNOSUPPORT);
	close(fd);
	MUST_WORK("socketpair", socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0);
	close(sv[0]);
	close(sv[1]);
	MUST_WORK("thread",
		  pthread_create(&th, NULL, thread_main, NULL) == 0 && pthread_join(th, NULL) == 0);
	fd = epoll_create1(EPOLL_CLOEXEC);
	MUST_WORK("epoll", fd >= 0);
	close(fd);
	fd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
	MUST_WORK("timerfd", fd >= 0);
	close(fd);
	b = lb_secbuf_dup("secret", 6);
	MUST_WORK("secure memory", b != NULL);
	lb_secbuf_free(b);
	/* What /proc says. */
	MUST_WORK("Uid not 0", status_field("Uid", v, sizeof(v)) == 0 && strtol(v, NULL, 10) != 0);
	MUST_WORK("Gid not 0", status_field("Gid", v, sizeof(v)) == 0 && strtol(v, NULL, 10) != 0);
	MUST_WORK("CapEff 0",
		  status_field("CapEff", v, sizeof(v)) == 0 && strtoull(v, NULL, 16) == 0);
	MUST_WORK("CapPrm 0",
		  status_field("CapPrm", v, sizeof(v)) == 0 && strtoull(v, NULL, 16) == 0);
	MUST_WORK("CapBnd 0",
		  status_field("CapBnd", v, sizeof(v)) == 0 && strtoull(v, NULL, 16) == 0);
	MUST_WORK("NoNewPrivs 1",
		  status_field("NoNewPrivs", v, sizeof(v)) == 0 && strtol(v, NULL, 10) == 1);
	MUST_WORK("Seccomp 2",
		  status_field("Seccomp", v, sizeof(v)) == 0 && strtol(v, NULL, 10) == 2);
	_exit(failures ? 1 : 0);
}

int main(void)
{
	char dir[] = "/tmp/lbconfine.XXXXXX", secret[64], state[64], buf[8192];
	const char *src = NULL;
	int pfd[2], status = 0, statefd, sfd;
	uid_t uid;
	gid_t gid;
	lb_err e = {0};
	ssize_t n;
	size_t len = 0;
	pid_t pid;

	if (geteuid() != 0) {
		fprintf(stderr, "skip: needs root\n");
		return getenv("LOCKBOX_MUST_WORK") ? 1 : 77;
	}
	if (lb_secmem_init() < 0 || !mkdtemp(dir) || pipe2(pfd, O_CLOEXEC) < 0)
		return 1;
	/* A root-only file (as the sealed store's are), and the state dir the worker owns. */
	snprintf(secret, sizeof(secret), "%s/sealed.key", dir);
	snprintf(state, sizeof(state), "%s/state", dir);
	sfd = open(secret, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (sfd < 0 || write(sfd, "key", 3) != 3 || close(sfd) < 0 ||
	    lb_worker_identity(&uid, &gid, &src, &e) < 0 || mkdir(state, 0700) < 0 ||
	    chown(state, uid, gid) < 0) {
		fprintf(stderr, "setup failed: %s %s\n", e.msg, strerror(errno));
		return 1;
	}
	statefd = open(state, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	pid = fork();
	if (pid == 0) {
		close(pfd[0]);
		out_fd = pfd[1];
		child(statefd, secret, uid, gid);
	}
	close(pfd[1]);
	while (len < sizeof(buf) - 1 && (n = read(pfd[0], buf + len, sizeof(buf) - 1 - len)) > 0)
		len += (size_t)n;
	buf[len] = '\0';
	waitpid(pid, &status, 0);
	printf("confinement as uid %u (%s):\n%s", (unsigned)uid, src, buf);
	unlink(secret);
	rmdir(state);
	rmdir(dir);
	unlink("/tmp/lockbox-confine-test"); /* only if the check failed */
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0 || !strstr(buf, "Seccomp 2")) {
		fprintf(stderr, "confinement check failed (status %d)\n", status);
		return 1;
	}
	return 0;
}
