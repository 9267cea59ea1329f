/* The network worker's identity, state directory and process (root side). */
#include "worker_int.h"
#include "cleanup.h"
#include "confine.h"
#include "log.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <grp.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/pidfd.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#define WORKER_USER   "lockbox"
#define DYN_UID_FIRST 61184u
#define DYN_UID_LAST  65519u
#define WORKER_DIR    "worker"

extern char **environ;

int lb_worker_identity(uid_t *uid, gid_t *gid, const char **source, lb_err *e)
{
	struct passwd *pw = getpwnam(WORKER_USER);

	if (pw && pw->pw_uid != 0 && pw->pw_gid != 0) {
		*uid = pw->pw_uid;
		*gid = pw->pw_gid;
		*source = "lockbox user";
		return 0;
	}
	for (uid_t u = DYN_UID_FIRST; u <= DYN_UID_LAST; u++) {
		if (getpwuid(u) || getgrgid((gid_t)u))
			continue;
		*uid = u;
		*gid = (gid_t)u;
		*source = "dynamic";
		return 0;
	}
	return lb_fail(e, 0, "no user \"%s\" and no unused uid in %u-%u for the network worker",
		       WORKER_USER, DYN_UID_FIRST, DYN_UID_LAST);
}

/* A directory stream on a duplicate of dirfd (which stays open); NULL when there is none. */
static DIR *dir_stream(int dirfd)
{
	int dfd = fcntl(dirfd, F_DUPFD_CLOEXEC, 0);
	DIR *d = dfd >= 0 ? fdopendir(dfd) : NULL;

	if (!d && dfd >= 0)
		close(dfd);
	return d;
}

/* Give the worker what it holds: regular files with one link that root did not make
 * (a file the worker linked from elsewhere is never handed over). */
static void chown_entries(int wdirfd, uid_t uid, gid_t gid)
{
	_cleanup_dir_ DIR *d = dir_stream(wdirfd);
	struct dirent *de;

	if (!d)
		return;
	while ((de = readdir(d))) {
		struct stat st;
		if (de->d_name[0] == '.' ||
		    fstatat(wdirfd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0)
			continue;
		if (S_ISREG(st.st_mode) && st.st_nlink == 1 && st.st_uid != 0 &&
		    (st.st_uid != uid || st.st_gid != gid) &&
		    fchownat(wdirfd, de->d_name, uid, gid, AT_SYMLINK_NOFOLLOW) < 0)
			lb_log(LB_WARN, "network worker: cannot hand over state_dir/%s/%s: %s",
			       WORKER_DIR, de->d_name, strerror(errno));
	}
}

/* Vault lease files that an earlier lockboxd kept in state_dir itself. */
static void migrate_leases(int state_dirfd, int wdirfd, uid_t uid, gid_t gid)
{
	_cleanup_dir_ DIR *d = dir_stream(state_dirfd);
	struct dirent *de;

	if (!d)
		return;
	while ((de = readdir(d))) {
		struct stat st;
		if (fnmatch("vault-*.json", de->d_name, 0) != 0 ||
		    fstatat(state_dirfd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0 ||
		    !S_ISREG(st.st_mode) || st.st_nlink != 1)
			continue;
		if (renameat2(state_dirfd, de->d_name, wdirfd, de->d_name, RENAME_NOREPLACE) < 0)
			continue;
		if (fchownat(wdirfd, de->d_name, uid, gid, AT_SYMLINK_NOFOLLOW) < 0)
			lb_log(LB_WARN, "network worker: cannot hand over %s: %s", de->d_name,
			       strerror(errno));
		lb_log(LB_INFO, "network worker: moved %s into state_dir/%s", de->d_name,
		       WORKER_DIR);
	}
}

int lb_worker_statedir(int state_dirfd, uid_t uid, gid_t gid, lb_err *e)
{
	_cleanup_close_ int fd = -1;
	struct stat st;

	if (mkdirat(state_dirfd, WORKER_DIR, 0700) < 0 && errno != EEXIST)
		return lb_fail_errno(e, "mkdir state_dir/%s", WORKER_DIR);
	fd = openat(state_dirfd, WORKER_DIR, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return lb_fail_errno(e, "open state_dir/%s", WORKER_DIR);
	if (fstat(fd, &st) < 0 || !S_ISDIR(st.st_mode))
		// cppcheck-suppress resourceLeak ; _cleanup_close_ closes fd
		return lb_fail(e, 0, "state_dir/%s is not a directory", WORKER_DIR);
	if (fchown(fd, uid, gid) < 0 || fchmod(fd, 0700) < 0)
		// cppcheck-suppress resourceLeak ; _cleanup_close_ closes fd
		return lb_fail_errno(e, "chown state_dir/%s", WORKER_DIR);
	migrate_leases(state_dirfd, fd, uid, gid);
	chown_entries(fd, uid, gid);
	return steal_fd(fd);
}

/* In the child, between fork and exec: only system calls, nothing that allocates. */
__attribute__((noreturn)) static void child(int exe_fd, int chan_fd, int wdirfd, uid_t uid,
					    gid_t gid, pid_t parent, char *const argv[])
{
	sigset_t all;
	int c = fcntl(chan_fd, F_DUPFD_CLOEXEC, 10), w = fcntl(wdirfd, F_DUPFD_CLOEXEC, 10);
	int x = fcntl(exe_fd, F_DUPFD_CLOEXEC, 10), rc;

	sigemptyset(&all);
	if (c < 0 || w < 0 || x < 0 || dup2(c, 3) < 0 || dup2(w, 4) < 0 ||
	    dup3(x, 5, O_CLOEXEC) < 0 || syscall(SYS_close_range, 6, ~0U, 0) < 0 ||
	    sigprocmask(SIG_SETMASK, &all, NULL) < 0)
		_exit(71);
	if ((rc = lb_worker_drop_privileges(uid, gid)) != 0)
		_exit(rc);
	/* After the ids changed (that clears it): the worker never outlives root. */
	if (prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) < 0 || getppid() != parent)
		_exit(76);
	syscall(SYS_execveat, 5, "", argv, environ, AT_EMPTY_PATH);
	_exit(75);
}

pid_t lb_worker_spawn(int exe_fd, int chan_fd, int wdirfd, uid_t uid, gid_t gid,
		      const char *log_level, int *pidfd, lb_err *e)
{
	char *const argv[] = {"lockboxd", "--network-worker", (char *)log_level, NULL};
	pid_t parent = getpid(), pid = fork();

	if (pid < 0)
		return lb_fail_errno(e, "fork the network worker");
	if (pid == 0)
		child(exe_fd, chan_fd, wdirfd, uid, gid, parent, argv);
	*pidfd = pidfd_open(pid, 0);
	if (*pidfd < 0) {
		int err = errno;
		kill(pid, SIGKILL);
		(void)waitpid(pid, NULL, 0);
		errno = err;
		return lb_fail_errno(e, "pidfd_open for the network worker");
	}
	return pid;
}
