/* Reading a container's facts from /proc (procfacts.h): every file under a /proc/PID dirfd
 * with O_NOFOLLOW, length-capped; the parsers are in procfacts_parse.c, the re-check cache
 * in procfacts_cache.c. */
#include "procfacts_int.h"
#include "cleanup.h"

#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

/* ---- reading /proc ---- */

/* All of fd from its current offset, at most cap - 1 bytes, NUL-terminated in a malloc'd
 * buffer; pid and name only name it in errors. */
int lb_pf_read_fd_capped(int fd, int pid, const char *name, size_t cap, char **out, lb_err *e)
{
	_cleanup_free_ char *buf = NULL;
	size_t len = 0, size = 0;

	for (;;) {
		ssize_t n;

		if (len + 1 >= size) {
			size_t nsize = size ? size * 2 : 4096;
			char *nb;

			if (nsize > cap)
				nsize = cap;
			if (len + 1 >= nsize)
				return lb_fail(e, 0, "/proc/%d/%s is larger than %zu bytes", pid,
					       name, cap - 1);
			nb = realloc(buf, nsize);
			if (!nb)
				return lb_fail(e, 12, "/proc/%d/%s: out of memory", pid, name);
			buf = nb;
			size = nsize;
		}
		n = read(fd, buf + len, size - 1 - len);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return lb_fail_errno(e, "read /proc/%d/%s", pid, name);
		}
		if (n == 0)
			break;
		len += (size_t)n;
	}
	if (!buf && !(buf = malloc(1)))
		return lb_fail(e, 12, "/proc/%d/%s: out of memory", pid, name);
	buf[len] = '\0';
	*out = steal_ptr(buf);
	return 0;
}

/* NAME under dirfd (/proc/PID), at most cap - 1 bytes, NUL-terminated in a malloc'd buffer. */
int lb_pf_read_capped(int dirfd, int pid, const char *name, size_t cap, char **out, lb_err *e)
{
	_cleanup_close_ int fd = openat(dirfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY);

	if (fd < 0)
		return lb_fail_errno(e, "open /proc/%d/%s", pid, name);
	return lb_pf_read_fd_capped(fd, pid, name, cap, out, e);
}

int lb_pf_read_ns(int dirfd, int pid, uint64_t ns[LB_NS_COUNT], lb_err *e)
{
	char text[LB_NS_COUNT * 48];
	size_t off = 0;

	for (int i = 0; i < LB_NS_COUNT; i++) {
		char path[16], link[40];
		ssize_t n;

		snprintf(path, sizeof(path), "ns/%s", lb_ns_name((enum lb_ns)i));
		n = readlinkat(dirfd, path, link, sizeof(link) - 1);
		if (n < 0)
			return lb_fail_errno(e, "readlink /proc/%d/%s", pid, path);
		link[n] = '\0';
		off += (size_t)snprintf(text + off, sizeof(text) - off, "%s\n", link);
	}
	if (lb_procfacts_parse_ns(text, ns, e))
		return lb_fail_wrap(e, "/proc/%d", pid);
	return 0;
}

int lb_pf_open_proc_dir(int pid, lb_err *e)
{
	char path[32];
	int fd;

	snprintf(path, sizeof(path), "/proc/%d", pid);
	fd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return lb_fail_errno(e, "open %s", path);
	return fd;
}

/* attr/current (SELinux, or AppArmor with the old interface), else attr/apparmor/current.
 * EINVAL/ENOENT/EACCES: no LSM that labels processes. */
bool lb_pf_read_lsm(int dirfd, int pid, char label[LB_LSM_LABEL_MAX])
{
	static const char *const files[] = {"attr/current", "attr/apparmor/current"};

	for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		_cleanup_free_ char *text = NULL;
		lb_err ignored = {0};

		if (lb_pf_read_capped(dirfd, pid, files[i], LB_PROCFACTS_ATTR_MAX, &text,
				      &ignored) == 0 &&
		    text[0])
			return lb_procfacts_label(label, text);
	}
	return lb_procfacts_label(label, NULL);
}

/* The container part of k (everything but host_ns and host_mounts) through dirfd. */
int lb_pf_read_container(int dirfd, int pid, lb_kernel_facts *k, lb_err *e)
{
	_cleanup_free_ char *status = NULL, *uid_map = NULL, *gid_map = NULL, *mountinfo = NULL;

	k->pid = pid;
	if (lb_pf_read_capped(dirfd, pid, "status", LB_PROCFACTS_STATUS_MAX, &status, e) ||
	    lb_pf_read_capped(dirfd, pid, "uid_map", LB_PROCFACTS_MAP_MAX, &uid_map, e) ||
	    lb_pf_read_capped(dirfd, pid, "gid_map", LB_PROCFACTS_MAP_MAX, &gid_map, e) ||
	    lb_pf_read_capped(dirfd, pid, "mountinfo", LB_PROCFACTS_MOUNTINFO_MAX, &mountinfo, e))
		return -1;
	if (lb_procfacts_parse_status(status, k, e) ||
	    lb_procfacts_parse_maps(uid_map, gid_map, k, e) ||
	    lb_procfacts_parse_mountinfo(mountinfo, &k->mounts, e))
		return lb_fail_wrap(e, "/proc/%d", pid);
	if (lb_pf_read_ns(dirfd, pid, k->ns, e))
		return -1;
	k->lsm_available = lb_pf_read_lsm(dirfd, pid, k->lsm_label);
	return 0;
}

int lb_procfacts_read(pid_t pid, lb_kernel_facts *k, lb_err *e)
{
	const int self = (int)getpid();
	_cleanup_close_ int dirfd = -1, selffd = -1;
	_cleanup_free_ char *host_mountinfo = NULL;

	if (pid <= 0)
		return lb_fail(e, 0, "posture facts: bad pid %d", (int)pid);
	if ((dirfd = lb_pf_open_proc_dir((int)pid, e)) < 0 ||
	    (selffd = lb_pf_open_proc_dir(self, e)) < 0)
		return -1;
	if (lb_pf_read_container(dirfd, (int)pid, k, e) ||
	    lb_pf_read_capped(selffd, self, "mountinfo", LB_PROCFACTS_MOUNTINFO_MAX,
			      &host_mountinfo, e))
		return -1;
	if (lb_procfacts_parse_mountinfo(host_mountinfo, &k->host_mounts, e))
		return lb_fail_wrap(e, "/proc/%d (lockboxd)", self);
	return lb_pf_read_ns(selffd, self, k->host_ns, e);
}

/* ---- a container's process, pinned by its cgroup ---- */

static int format_map(const lb_idmap *m, char *buf, size_t cap, lb_err *e)
{
	size_t off = 0;

	buf[0] = '\0';
	for (size_t i = 0; i < m->n; i++) {
		int w = snprintf(buf + off, cap - off, "%s%" PRIu32 " %" PRIu32 " %" PRIu32,
				 i ? "\n" : "", m->r[i].inside, m->r[i].outside, m->r[i].count);
		if (w < 0 || (size_t)w >= cap - off)
			return lb_fail(e, 0,
				       "user namespace map of %zu lines does not fit %zu bytes",
				       m->n, cap);
		off += (size_t)w;
	}
	return 0;
}

int lb_procfacts_container_maps(pid_t pid, const char *container_id, char *uid_map, char *gid_map,
				size_t cap, lb_err *e)
{
	_cleanup_close_ int dirfd = -1;
	_cleanup_free_ char *cg = NULL, *cg2 = NULL, *um = NULL, *gm = NULL;
	lb_idmap m;

	if (pid <= 0)
		return lb_fail(e, 0, "bad pid %d", (int)pid);
	if ((dirfd = lb_pf_open_proc_dir((int)pid, e)) < 0 ||
	    lb_pf_read_capped(dirfd, (int)pid, "cgroup", LB_PROCFACTS_STATUS_MAX, &cg, e))
		return -1;
	if (!lb_procfacts_cgroup_names(cg, container_id))
		return lb_fail(e, 0,
			       "process %d is not in container %.12s's cgroup (it exited and its "
			       "PID was reused?)",
			       (int)pid, container_id);
	if (lb_pf_read_capped(dirfd, (int)pid, "uid_map", LB_PROCFACTS_MAP_MAX, &um, e) ||
	    lb_pf_read_capped(dirfd, (int)pid, "gid_map", LB_PROCFACTS_MAP_MAX, &gm, e))
		return -1;
	/* Read through the same dirfd after the maps: it only ever shows that one process, and
	 * fails once it has exited, so the maps above were the container's. */
	if (lb_pf_read_capped(dirfd, (int)pid, "cgroup", LB_PROCFACTS_STATUS_MAX, &cg2, e) ||
	    !lb_procfacts_cgroup_names(cg2, container_id))
		return lb_fail(e, 0, "process %d of container %.12s exited while being read",
			       (int)pid, container_id);
	if (lb_idmap_parse(um, &m, e) || format_map(&m, uid_map, cap, e))
		return lb_fail_wrap(e, "/proc/%d/uid_map", (int)pid);
	if (lb_idmap_parse(gm, &m, e) || format_map(&m, gid_map, cap, e))
		return lb_fail_wrap(e, "/proc/%d/gid_map", (int)pid);
	return 0;
}

int lb_procfacts_signal(pid_t pid, const char *container_id, int sig, lb_err *e)
{
	_cleanup_close_ int pidfd = -1, dirfd = -1;
	_cleanup_free_ char *cg = NULL;

	if (pid <= 0)
		return lb_fail(e, 0, "bad pid %d", (int)pid);
	/* The pidfd names the process that has the PID now; the cgroup read after it shows
	 * that process, or (if it exited and the PID was reused meanwhile) another one, which
	 * fails the check or, if it passes, still gets nothing: the signal goes to the pidfd's
	 * process, which is gone. */
	pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
	if (pidfd < 0)
		return lb_fail_errno(e, "pidfd_open %d", (int)pid);
	if ((dirfd = lb_pf_open_proc_dir((int)pid, e)) < 0 ||
	    lb_pf_read_capped(dirfd, (int)pid, "cgroup", LB_PROCFACTS_STATUS_MAX, &cg, e))
		return -1;
	if (!lb_procfacts_cgroup_names(cg, container_id))
		return lb_fail(e, 0, "process %d is not in container %.12s's cgroup (it exited?)",
			       (int)pid, container_id);
	if (syscall(SYS_pidfd_send_signal, pidfd, sig, NULL, 0) < 0)
		return lb_fail_errno(e, "signal %d to process %d of container %.12s", sig, (int)pid,
				     container_id);
	return 0;
}

int lb_procfacts_read_mountinfo(pid_t pid, lb_mounts *out, lb_err *e)
{
	_cleanup_close_ int dirfd = -1;
	_cleanup_free_ char *text = NULL;

	if (pid <= 0)
		return lb_fail(e, 0, "mountinfo: bad pid %d", (int)pid);
	if ((dirfd = lb_pf_open_proc_dir((int)pid, e)) < 0 ||
	    lb_pf_read_capped(dirfd, (int)pid, "mountinfo", LB_PROCFACTS_MOUNTINFO_MAX, &text, e))
		return -1;
	return lb_procfacts_parse_mountinfo(text, out, e);
}
