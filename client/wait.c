/* Waiting for secrets: the broker may populate a container's tmpfs after the container
 * started, so readers wait for ..data (and the names they need) with inotify on D. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/signalfd.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"

int64_t lb_now_ms(void)
{
	struct timespec ts;

	lb_clock(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

struct links {
	struct lb_dir *d;
	lb_err *err;
	const char *missing;
	char name[LB_NAME_MAX + 1];
	int rc;
};

static void link_entry(const struct lb_entry *e, void *arg)
{
	struct links *l = arg;

	if (l->rc)
		return;
	memcpy(l->name, e->name, e->name_len);
	l->name[e->name_len] = '\0';
	l->rc = lb_link_check(l->d, l->name, l->err);
	l->missing = l->name;
}

/* Ready: ..data, every NAME in it verified, and the D/NAME link of every secret present
 * (the broker may add links of new names just after the swap). A generation never changes
 * once published, so every attempt reopens ..data. */
static int try_ready(struct lb_dir *d, const char *const *names, int n, const char **missing,
		     struct links *l, lb_err *err)
{
	size_t size;
	int rc, fd;

	*missing = LB_DATA_LINK;
	rc = lb_data_open(d, err);
	if (rc)
		return rc;
	for (int i = 0; i < n; i++) {
		*missing = names[i];
		rc = lb_secret_open(d, names[i], &fd, &size, err);
		if (rc)
			return rc;
		close(fd);
	}
	*l = (struct links){.d = d, .err = err};
	lb_manifest_each(d, link_entry, l);
	*missing = l->missing;
	return l->rc;
}

/* "NAME, NAME" of the secrets that do not open yet (or ..data), for the timeout message. */
static const char *missing_list(struct lb_dir *d, const char *const *names, int n, char *buf,
				size_t cap)
{
	size_t off = 0;
	lb_err ignored;
	size_t size;
	int fd;
	bool none = lb_data_open(d, &ignored) != 0; /* no generation yet: all of them */

	buf[0] = '\0';
	for (int i = 0; i < n; i++) {
		size_t len = strlen(names[i]);
		if (!none && lb_secret_open(d, names[i], &fd, &size, &ignored) == 0) {
			close(fd);
			continue;
		}
		if (off + len + 3 >= cap)
			break;
		if (off) {
			memcpy(buf + off, ", ", 2);
			off += 2;
		}
		memcpy(buf + off, names[i], len);
		off += len;
		buf[off] = '\0';
	}
	return buf[0] ? buf : (none ? LB_DATA_LINK : "");
}

void lb_say_status(const struct lb_dir *d, int rc)
{
	char buf[1024];
	ssize_t n;
	int fd;

	if ((rc != LB_EXIT_NOINPUT && rc != LB_EXIT_TEMPFAIL) || d->dfd < 0)
		return;
	fd = openat(d->dfd, LB_STATUS_FILE,
		    O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
	if (fd < 0)
		return;
	/* O_NONBLOCK: a FIFO or a device there (the tmpfs is lockboxd's, read-only) cannot
	 * block; anything but a file fails or reads nothing. */
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return;
	buf[n] = '\0';
	for (ssize_t i = 0; i < n; i++)
		if (buf[i] < 0x20 || buf[i] > 0x7e)
			buf[i] = '?';
	lb_say(2, "lockbox: lockboxd says: ", buf, "\n", LB_END);
}

/* lb_wait once the secrets were not there at the first try. */
LB_NOINLINE static int wait_ready(struct lb_dir *d, const char *const *names, int n,
				  int64_t timeout_ms, const sigset_t *stop, lb_err *err)
{
	int64_t deadline = lb_now_ms() + timeout_ms, left;
	char events[4096] __attribute__((aligned(__alignof__(struct inotify_event))));
	struct pollfd pfd[2] = {{.fd = -1, .events = POLLIN}, {.fd = -1, .events = POLLIN}};
	struct signalfd_siginfo si;
	const char *missing;
	struct links links;
	char num[24], names_buf[256];
	int rc;

	/* Watch first, then check again: nothing can slip in between. */
	pfd[0].fd = inotify_init1(IN_CLOEXEC | IN_NONBLOCK);
	if (pfd[0].fd < 0 ||
	    inotify_add_watch(pfd[0].fd, d->path, IN_CREATE | IN_MOVED_TO | IN_ONLYDIR) < 0) {
		rc = lb_fail(err, LB_EXIT_TEMPFAIL, "wait", d->path, NULL,
			     "inotify: ", lb_errstr(errno), LB_END);
		goto out;
	}
	/* The caller blocks STOP: a signal that came before this signalfd is pending and read
	 * from it all the same. */
	if (stop)
		pfd[1].fd = signalfd(-1, stop, SFD_CLOEXEC | SFD_NONBLOCK);
	for (;;) {
		rc = try_ready(d, names, n, &missing, &links, err);
		if (rc != LB_EXIT_NOINPUT)
			goto out;
		left = deadline - lb_now_ms();
		if (left <= 0) {
			const char *list = missing_list(d, names, n, names_buf, sizeof(names_buf));
			bool more = list[0] && strcmp(list, missing) != 0;
			rc = lb_fail(err, LB_EXIT_TEMPFAIL, "wait", d->path, missing,
				     "timed out after ", lb_fmt_i64(num, timeout_ms), " ms",
				     more ? " (missing: " : "", more ? list : "", more ? ")" : "",
				     LB_END);
			goto out;
		}
		if (poll(pfd, 2, left > 1000000000 ? 1000000000 : (int)left) < 0 &&
		    errno != EINTR) {
			rc = lb_fail(err, LB_EXIT_TEMPFAIL, "wait", d->path, NULL,
				     "poll: ", lb_errstr(errno), LB_END);
			goto out;
		}
		if ((pfd[1].revents & POLLIN) && read(pfd[1].fd, &si, sizeof(si)) == sizeof(si)) {
			rc = lb_fail(err, 128 + (int)si.ssi_signo, "wait", d->path, missing,
				     "stopped by signal ", lb_fmt_i64(num, si.ssi_signo), LB_END);
			goto out;
		}
		while (read(pfd[0].fd, events, sizeof(events)) > 0)
			;
	}
out:
	for (int i = 0; i < 2; i++)
		if (pfd[i].fd >= 0)
			close(pfd[i].fd);
	return rc;
}

int lb_wait(struct lb_dir *d, const char *const *names, int n, int64_t timeout_ms,
	    const sigset_t *stop, lb_err *err)
{
	const char *missing;
	struct links links;
	int rc = try_ready(d, names, n, &missing, &links, err);

	if (rc != LB_EXIT_NOINPUT || timeout_ms == 0)
		return rc;
	return wait_ready(d, names, n, timeout_ms, stop, err);
}
