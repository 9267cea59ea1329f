#include "procfacts.h"
#include "cleanup.h"

#include <ctype.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

/* ---- parsers ---- */

static const char *skip_blank(const char *p)
{
	while (*p == ' ' || *p == '\t')
		p++;
	return p;
}

static int parse_u64(const char **p, int base, uint64_t *out)
{
	const char *s = skip_blank(*p);
	uint64_t v = 0;
	int digits = 0;

	for (;; s++, digits++) {
		int d;
		if (isdigit((unsigned char)*s))
			d = *s - '0';
		else if (base == 16 && isxdigit((unsigned char)*s))
			d = tolower((unsigned char)*s) - 'a' + 10;
		else
			break;
		if (v > (UINT64_MAX - (uint64_t)d) / (uint64_t)base)
			return -1;
		v = v * (uint64_t)base + (uint64_t)d;
	}
	if (!digits)
		return -1;
	*out = v;
	*p = s;
	return 0;
}

/* The value part of "Key:\t..." when line starts with key, else NULL. */
static const char *status_value(const char *line, const char *key)
{
	size_t n = strlen(key);

	if (strncmp(line, key, n) != 0 || line[n] != ':')
		return NULL;
	return line + n + 1;
}

int lb_procfacts_parse_status(const char *text, lb_kernel_facts *k, lb_err *e)
{
	enum { UID = 1, GID = 2, EFF = 4, PRM = 8, BND = 16, AMB = 32 };
	const char *line = text;
	unsigned seen = 0;

	k->have_status = false;
	k->no_new_privs = -1;
	k->seccomp = -1;
	while (*line) {
		const char *nl = strchr(line, '\n'), *v;
		uint64_t x;
		struct {
			const char *key;
			unsigned bit;
			uint64_t *dst;
		} caps[] = {{"CapEff", EFF, &k->cap_eff},
			    {"CapPrm", PRM, &k->cap_prm},
			    {"CapBnd", BND, &k->cap_bnd},
			    {"CapAmb", AMB, &k->cap_amb}};

		if ((v = status_value(line, "Uid")) || (v = status_value(line, "Gid"))) {
			bool is_uid = line[0] == 'U';
			uint32_t *ids = is_uid ? k->uid : k->gid;
			for (int i = 0; i < 4; i++) {
				if (parse_u64(&v, 10, &x) || x > UINT32_MAX)
					return lb_fail(e, 0, "status: malformed %s line",
						       is_uid ? "Uid" : "Gid");
				ids[i] = (uint32_t)x;
			}
			seen |= is_uid ? UID : GID;
		} else if ((v = status_value(line, "NoNewPrivs"))) {
			if (parse_u64(&v, 10, &x) || x > 1)
				return lb_fail(e, 0, "status: malformed NoNewPrivs line");
			k->no_new_privs = (int)x;
		} else if ((v = status_value(line, "Seccomp"))) {
			if (parse_u64(&v, 10, &x) || x > 2)
				return lb_fail(e, 0, "status: malformed Seccomp line");
			k->seccomp = (int)x;
		} else {
			for (size_t i = 0; i < sizeof(caps) / sizeof(caps[0]); i++)
				if ((v = status_value(line, caps[i].key))) {
					if (parse_u64(&v, 16, caps[i].dst))
						return lb_fail(e, 0, "status: malformed %s line",
							       caps[i].key);
					seen |= caps[i].bit;
				}
		}
		if (!nl)
			break;
		line = nl + 1;
	}
	if ((seen & (UID | GID | EFF | PRM | BND)) != (UID | GID | EFF | PRM | BND))
		return lb_fail(e, 0, "status: missing Uid, Gid or Cap lines");
	k->have_status = true;
	return 0;
}

int lb_procfacts_parse_maps(const char *uid_map, const char *gid_map, lb_kernel_facts *k, lb_err *e)
{
	k->have_maps = false;
	if (lb_idmap_parse(uid_map, &k->uid_map, e))
		return lb_fail_wrap(e, "uid_map");
	if (lb_idmap_parse(gid_map, &k->gid_map, e))
		return lb_fail_wrap(e, "gid_map");
	k->have_maps = true;
	return 0;
}

int lb_procfacts_parse_ns(const char *text, uint64_t ns[LB_NS_COUNT], lb_err *e)
{
	const char *line = text;

	for (int i = 0; i < LB_NS_COUNT; i++)
		ns[i] = 0;
	while (*line) {
		const char *nl = strchr(line, '\n');
		const char *colon = strchr(line, ':');
		size_t len = nl ? (size_t)(nl - line) : strlen(line);

		if (len && (!colon || colon > line + len || colon[1] != '['))
			return lb_fail(e, 0, "ns: expected \"NAME:[INODE]\" lines");
		for (int i = 0; len && i < LB_NS_COUNT; i++) {
			const char *name = lb_ns_name((enum lb_ns)i);
			const char *p = colon + 2;
			uint64_t ino;

			if (strlen(name) != (size_t)(colon - line) ||
			    strncmp(line, name, strlen(name)) != 0)
				continue;
			if (parse_u64(&p, 10, &ino) || *p != ']' || ino == 0)
				return lb_fail(e, 0, "ns: malformed %s link", name);
			ns[i] = ino;
		}
		if (!nl)
			break;
		line = nl + 1;
	}
	return 0;
}

/* One space-separated mountinfo field with \ooo escapes decoded; NULL on malloc failure. */
static char *mountinfo_field(const char **p)
{
	const char *s = *p, *end = s;
	char *out, *o;

	while (*end && *end != ' ' && *end != '\n')
		end++;
	out = malloc((size_t)(end - s) + 1);
	if (!out)
		return NULL;
	for (o = out; s < end; s++) {
		if (s[0] == '\\' && end - s >= 4 && s[1] >= '0' && s[1] <= '3' && s[2] >= '0' &&
		    s[2] <= '7' && s[3] >= '0' && s[3] <= '7') {
			*o++ = (char)((s[1] - '0') * 64 + (s[2] - '0') * 8 + (s[3] - '0'));
			s += 3;
		} else {
			*o++ = *s;
		}
	}
	*o = '\0';
	*p = *end == ' ' ? end + 1 : end;
	return out;
}

static void skip_field(const char **p)
{
	const char *s = *p;

	while (*s && *s != ' ' && *s != '\n')
		s++;
	*p = *s == ' ' ? s + 1 : s;
}

static bool has_option(const char *opts, const char *want)
{
	size_t n = strlen(want);

	for (const char *s = opts; *s;) {
		size_t len = strcspn(s, ",");
		if (len == n && strncmp(s, want, n) == 0)
			return true;
		s += len + (s[len] == ',');
	}
	return false;
}

static int parse_mount_line(const char *line, lb_mount *m, lb_err *e)
{
	const char *p = line;
	_cleanup_free_ char *opts = NULL;
	uint64_t major, minor;

	skip_field(&p); /* mount id */
	skip_field(&p); /* parent id */
	if (parse_u64(&p, 10, &major) || *p++ != ':' || parse_u64(&p, 10, &minor) || *p++ != ' ' ||
	    major > UINT32_MAX || minor > UINT32_MAX)
		return lb_fail(e, 0, "mountinfo: malformed major:minor");
	m->major = (unsigned)major;
	m->minor = (unsigned)minor;
	m->root = mountinfo_field(&p);
	m->mountpoint = mountinfo_field(&p);
	opts = mountinfo_field(&p);
	if (!m->root || !m->mountpoint || !opts)
		// NOLINTNEXTLINE(clang-analyzer-unix.Malloc): _cleanup_free_ frees it
		return lb_fail(e, 12, "mountinfo: out of memory");
	/* The root of an nsfs bind (dockerd's exec-root/netns/ID) is "net:[4026532181]". */
	if (!m->root[0] || m->mountpoint[0] != '/')
		return lb_fail(e, 0, "mountinfo: malformed line");
	m->ro = has_option(opts, "ro");
	/* optional fields up to the "-" separator */
	while (*p && *p != '\n' && !(p[0] == '-' && (p[1] == ' ' || p[1] == '\n')))
		skip_field(&p);
	if (p[0] != '-' || p[1] != ' ')
		return lb_fail(e, 0, "mountinfo: no \" - \" separator");
	p += 2;
	m->fstype = mountinfo_field(&p);
	if (!m->fstype)
		return lb_fail(e, 12, "mountinfo: out of memory");
	return 0;
}

int lb_procfacts_parse_mountinfo(const char *text, lb_mounts *out, lb_err *e)
{
	lb_mounts ms = {0};
	size_t cap = 0, lineno = 0;
	const char *line = text;

	lb_mounts_clear(out);
	while (*line) {
		const char *nl = strchr(line, '\n');

		lineno++;
		if (*line != '\n') {
			if (ms.n == cap) {
				size_t ncap = cap ? cap * 2 : 64;
				lb_mount *v = realloc(ms.v, ncap * sizeof(*v));
				if (!v) {
					lb_mounts_clear(&ms);
					return lb_fail(e, 12, "mountinfo: out of memory");
				}
				ms.v = v;
				cap = ncap;
			}
			memset(&ms.v[ms.n], 0, sizeof(ms.v[0]));
			ms.n++;
			if (parse_mount_line(line, &ms.v[ms.n - 1], e)) {
				lb_mounts_clear(&ms);
				return lb_fail_wrap(e, "line %zu", lineno);
			}
		}
		if (!nl)
			break;
		line = nl + 1;
	}
	*out = ms;
	return 0;
}

void lb_procfacts_set_lsm(lb_kernel_facts *k, const char *label)
{
	size_t n;

	k->lsm_available = label != NULL;
	k->lsm_label[0] = '\0';
	if (!label)
		return;
	n = strlen(label);
	if (n >= sizeof(k->lsm_label))
		n = sizeof(k->lsm_label) - 1;
	memcpy(k->lsm_label, label, n);
	while (n && (k->lsm_label[n - 1] == '\n' || k->lsm_label[n - 1] == '\0'))
		n--;
	k->lsm_label[n] = '\0';
}

/* ---- reading /proc ---- */

/* All of fd from its current offset, at most cap - 1 bytes, NUL-terminated in a malloc'd
 * buffer; pid and name only name it in errors. */
static int read_fd_capped(int fd, int pid, const char *name, size_t cap, char **out, lb_err *e)
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
static int read_capped(int dirfd, int pid, const char *name, size_t cap, char **out, lb_err *e)
{
	_cleanup_close_ int fd = openat(dirfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY);

	if (fd < 0)
		return lb_fail_errno(e, "open /proc/%d/%s", pid, name);
	return read_fd_capped(fd, pid, name, cap, out, e);
}

static int read_ns(int dirfd, int pid, uint64_t ns[LB_NS_COUNT], lb_err *e)
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

static int open_proc_dir(int pid, lb_err *e)
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
static void read_lsm(int dirfd, int pid, lb_kernel_facts *k)
{
	static const char *const files[] = {"attr/current", "attr/apparmor/current"};

	for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		_cleanup_free_ char *label = NULL;
		lb_err ignored = {0};

		if (read_capped(dirfd, pid, files[i], LB_PROCFACTS_ATTR_MAX, &label, &ignored) ==
			0 &&
		    label[0]) {
			lb_procfacts_set_lsm(k, label);
			return;
		}
	}
	lb_procfacts_set_lsm(k, NULL);
}

/* The container part of k (everything but host_ns and host_mounts) through dirfd. */
static int read_container(int dirfd, int pid, lb_kernel_facts *k, lb_err *e)
{
	_cleanup_free_ char *status = NULL, *uid_map = NULL, *gid_map = NULL, *mountinfo = NULL;

	k->pid = pid;
	if (read_capped(dirfd, pid, "status", LB_PROCFACTS_STATUS_MAX, &status, e) ||
	    read_capped(dirfd, pid, "uid_map", LB_PROCFACTS_MAP_MAX, &uid_map, e) ||
	    read_capped(dirfd, pid, "gid_map", LB_PROCFACTS_MAP_MAX, &gid_map, e) ||
	    read_capped(dirfd, pid, "mountinfo", LB_PROCFACTS_MOUNTINFO_MAX, &mountinfo, e))
		return -1;
	if (lb_procfacts_parse_status(status, k, e) ||
	    lb_procfacts_parse_maps(uid_map, gid_map, k, e) ||
	    lb_procfacts_parse_mountinfo(mountinfo, &k->mounts, e))
		return lb_fail_wrap(e, "/proc/%d", pid);
	if (read_ns(dirfd, pid, k->ns, e))
		return -1;
	read_lsm(dirfd, pid, k);
	return 0;
}

int lb_procfacts_read(pid_t pid, lb_kernel_facts *k, lb_err *e)
{
	const int self = (int)getpid();
	_cleanup_close_ int dirfd = -1, selffd = -1;
	_cleanup_free_ char *host_mountinfo = NULL;

	if (pid <= 0)
		return lb_fail(e, 0, "posture facts: bad pid %d", (int)pid);
	if ((dirfd = open_proc_dir((int)pid, e)) < 0 || (selffd = open_proc_dir(self, e)) < 0)
		return -1;
	if (read_container(dirfd, (int)pid, k, e) ||
	    read_capped(selffd, self, "mountinfo", LB_PROCFACTS_MOUNTINFO_MAX, &host_mountinfo, e))
		return -1;
	if (lb_procfacts_parse_mountinfo(host_mountinfo, &k->host_mounts, e))
		return lb_fail_wrap(e, "/proc/%d (lockboxd)", self);
	return read_ns(selffd, self, k->host_ns, e);
}

/* ---- a container's process, pinned by its cgroup ---- */

bool lb_procfacts_cgroup_names(const char *cgroup, const char *id)
{
	size_t n = strlen(id);

	if (n != 64 || strspn(id, "0123456789abcdef") != 64)
		return false;
	for (const char *p = strstr(cgroup, id); p; p = strstr(p + 1, id)) {
		bool before = p == cgroup || !isxdigit((unsigned char)p[-1]);
		bool after = !isxdigit((unsigned char)p[n]);
		if (before && after)
			return true;
	}
	return false;
}

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
	if ((dirfd = open_proc_dir((int)pid, e)) < 0 ||
	    read_capped(dirfd, (int)pid, "cgroup", LB_PROCFACTS_STATUS_MAX, &cg, e))
		return -1;
	if (!lb_procfacts_cgroup_names(cg, container_id))
		return lb_fail(e, 0,
			       "process %d is not in container %.12s's cgroup (it exited and its "
			       "PID was reused?)",
			       (int)pid, container_id);
	if (read_capped(dirfd, (int)pid, "uid_map", LB_PROCFACTS_MAP_MAX, &um, e) ||
	    read_capped(dirfd, (int)pid, "gid_map", LB_PROCFACTS_MAP_MAX, &gm, e))
		return -1;
	/* Read through the same dirfd after the maps: it only ever shows that one process, and
	 * fails once it has exited, so the maps above were the container's. */
	if (read_capped(dirfd, (int)pid, "cgroup", LB_PROCFACTS_STATUS_MAX, &cg2, e) ||
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
	if ((dirfd = open_proc_dir((int)pid, e)) < 0 ||
	    read_capped(dirfd, (int)pid, "cgroup", LB_PROCFACTS_STATUS_MAX, &cg, e))
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
	if ((dirfd = open_proc_dir((int)pid, e)) < 0 ||
	    read_capped(dirfd, (int)pid, "mountinfo", LB_PROCFACTS_MOUNTINFO_MAX, &text, e))
		return -1;
	return lb_procfacts_parse_mountinfo(text, out, e);
}

/* ---- the posture re-check cache ---- */

int lb_procfacts_parse_start(const char *stat, uint64_t *start, lb_err *e)
{
	/* "PID (COMM) STATE PPID ..." where COMM is the process's to choose, ')' and spaces
	 * included: the fields start after the last ')'. starttime is field 22, the 20th after
	 * it (STATE is field 3). */
	const char *p = strrchr(stat, ')');

	if (!p || p[1] != ' ')
		return lb_fail(e, 0, "stat: no \"(COMM) \" field");
	p += 2;
	for (int field = 3; field < 22; field++) {
		p = strchr(p, ' ');
		if (!p)
			return lb_fail(e, 0, "stat: fewer than 22 fields");
		p++;
	}
	if (*p == ' ' || *p == '\t' || parse_u64(&p, 10, start) || (*p != ' ' && *p != '\n'))
		return lb_fail(e, 0, "stat: malformed starttime");
	return 0;
}

bool lb_procfacts_status_frozen(const lb_kernel_facts *k)
{
	for (int i = 1; i < 4; i++)
		if (k->uid[i] != k->uid[0] || k->gid[i] != k->gid[0])
			return false;
	return k->have_status && k->no_new_privs == 1 && k->cap_prm == 0 && k->cap_eff == 0 &&
	       k->cap_amb == 0;
}

bool lb_procfacts_cache_fresh(const lb_procfacts_cache *c, const lb_procfacts_key *now)
{
	return c->valid && now->pid > 0 && now->start && now->mnt_ns && c->key.pid == now->pid &&
	       c->key.start == now->start && c->key.mnt_ns == now->mnt_ns;
}

void lb_procfacts_cache_init(lb_procfacts_cache *c)
{
	memset(c, 0, sizeof(*c));
	lb_kernel_facts_init(&c->k);
}

void lb_procfacts_cache_clear(lb_procfacts_cache *c)
{
	lb_kernel_facts_clear(&c->k);
	free(c->host_view.v); /* shallow: the strings are the host's */
	lb_procfacts_cache_init(c);
}

void lb_procfacts_host_init(lb_procfacts_host *h)
{
	memset(h, 0, sizeof(*h));
	h->mountinfo_fd = -1;
}

void lb_procfacts_host_clear(lb_procfacts_host *h)
{
	if (h->mountinfo_fd >= 0)
		close(h->mountinfo_fd);
	lb_mounts_clear(&h->mounts);
	lb_procfacts_host_init(h);
}

/* pid's key through its dirfd: starttime from stat, the mount namespace's inode. */
static int read_key(int dirfd, int pid, lb_procfacts_key *key, lb_err *e)
{
	_cleanup_free_ char *stat = NULL;
	char link[40];
	ssize_t n;
	uint64_t ns[LB_NS_COUNT];

	key->pid = pid;
	if (read_capped(dirfd, pid, "stat", LB_PROCFACTS_ATTR_MAX, &stat, e))
		return -1;
	if (lb_procfacts_parse_start(stat, &key->start, e))
		return lb_fail_wrap(e, "/proc/%d", pid);
	n = readlinkat(dirfd, "ns/mnt", link, sizeof(link) - 2);
	if (n < 0)
		return lb_fail_errno(e, "readlink /proc/%d/ns/mnt", pid);
	link[n] = '\0';
	if (lb_procfacts_parse_ns(link, ns, e))
		return lb_fail_wrap(e, "/proc/%d", pid);
	key->mnt_ns = ns[LB_NS_MNT];
	return 0;
}

/* lockboxd's own mount table and namespaces: parsed again only when poll() on the mountinfo
 * fd kept open says the table changed (the kernel's POLLPRI on /proc/PID/mountinfo). */
static int host_open(lb_procfacts_host *h, int self, lb_err *e)
{
	_cleanup_close_ int selffd = open_proc_dir(self, e);

	if (selffd < 0 || read_ns(selffd, self, h->ns, e))
		return -1;
	h->mountinfo_fd = openat(selffd, "mountinfo", O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (h->mountinfo_fd < 0)
		return lb_fail_errno(e, "open /proc/%d/mountinfo", self);
	return 0;
}

static int host_read(lb_procfacts_host *h, lb_err *e)
{
	const int self = (int)getpid();
	_cleanup_free_ char *text = NULL;
	struct pollfd pfd;

	if (h->valid) {
		pfd = (struct pollfd){.fd = h->mountinfo_fd, .events = POLLPRI};
		if (poll(&pfd, 1, 0) == 0)
			return 0;
	}
	h->valid = false;
	if (h->mountinfo_fd < 0) {
		if (host_open(h, self, e))
			return -1;
	} else if (lseek(h->mountinfo_fd, 0, SEEK_SET) < 0) {
		return lb_fail_errno(e, "seek /proc/%d/mountinfo", self);
	}
	if (read_fd_capped(h->mountinfo_fd, self, "mountinfo", LB_PROCFACTS_MOUNTINFO_MAX, &text,
			   e) ||
	    lb_procfacts_parse_mountinfo(text, &h->mounts, e))
		return lb_fail_wrap(e, "/proc/%d (lockboxd)", self);
	h->valid = true;
	h->gen++;
	return 0;
}

static bool on_device_of(const lb_mounts *ms, const lb_mount *m)
{
	for (size_t i = 0; i < ms->n; i++)
		if (ms->v[i].major == m->major && ms->v[i].minor == m->minor)
			return true;
	return false;
}

/* c->host_view for h's current table (see lb_procfacts_cache). */
static int host_view(lb_procfacts_cache *c, const lb_procfacts_host *h, lb_err *e)
{
	lb_mount *v;
	size_t n = 0;

	if (c->host_view.v && c->host_gen == h->gen)
		return 0;
	v = malloc((h->mounts.n ? h->mounts.n : 1) * sizeof(*v));
	if (!v)
		return lb_fail(e, 12, "posture facts: out of memory");
	for (size_t i = 0; i < h->mounts.n; i++)
		if (on_device_of(&c->k.mounts, &h->mounts.v[i]))
			v[n++] = h->mounts.v[i];
	free(c->host_view.v);
	c->host_view.v = v;
	c->host_view.n = n;
	c->host_gen = h->gen;
	return 0;
}

int lb_procfacts_read_cached(lb_procfacts_cache *c, lb_procfacts_host *h, pid_t pid,
			     lb_kernel_facts *view, bool *parsed, lb_err *e)
{
	_cleanup_close_ int dirfd = -1;
	_cleanup_free_ char *status = NULL;
	lb_procfacts_key now = {0};

	*parsed = false;
	if (pid <= 0)
		return lb_fail(e, 0, "posture facts: bad pid %d", (int)pid);
	/* Every read below goes through this dirfd: it shows only the process it was opened
	 * for, so a PID reused after the key was read cannot pass as the cached process. */
	if ((dirfd = open_proc_dir((int)pid, e)) < 0 || read_key(dirfd, (int)pid, &now, e) ||
	    host_read(h, e))
		goto fail;
	if (lb_procfacts_cache_fresh(c, &now)) {
		/* Status is what a running process changes in place (execve of a setuid file):
		 * read again unless nothing in it can change any more. */
		if (!lb_procfacts_status_frozen(&c->k) &&
		    (read_capped(dirfd, (int)pid, "status", LB_PROCFACTS_STATUS_MAX, &status, e) ||
		     lb_procfacts_parse_status(status, &c->k, e))) {
			lb_fail_wrap(e, "/proc/%d", (int)pid);
			goto fail;
		}
	} else {
		lb_procfacts_cache_clear(c);
		if (read_container(dirfd, (int)pid, &c->k, e))
			goto fail;
		c->key = now;
		c->valid = true;
		*parsed = true;
	}
	if (host_view(c, h, e))
		goto fail;
	*view = c->k;
	memcpy(view->host_ns, h->ns, sizeof(view->host_ns));
	/* None on a shared device: the whole table, so that "unknown" (empty) keeps meaning
	 * unknown. */
	view->host_mounts = c->host_view.n ? c->host_view : h->mounts;
	return 0;
fail:
	lb_procfacts_cache_clear(c);
	return -1;
}
