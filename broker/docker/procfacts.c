#include "procfacts.h"
#include "cleanup.h"

#include <ctype.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
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

/* NAME under dirfd (/proc/PID), at most cap - 1 bytes, NUL-terminated in a malloc'd buffer. */
static int read_capped(int dirfd, int pid, const char *name, size_t cap, char **out, lb_err *e)
{
	_cleanup_close_ int fd = openat(dirfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY);
	_cleanup_free_ char *buf = NULL;
	size_t len = 0, size = 0;

	if (fd < 0)
		return lb_fail_errno(e, "open /proc/%d/%s", pid, name);
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

int lb_procfacts_read(pid_t pid, lb_kernel_facts *k, lb_err *e)
{
	const int self = (int)getpid();
	_cleanup_close_ int dirfd = -1, selffd = -1;
	_cleanup_free_ char *status = NULL, *uid_map = NULL, *gid_map = NULL, *mountinfo = NULL,
			    *host_mountinfo = NULL;

	if (pid <= 0)
		return lb_fail(e, 0, "posture facts: bad pid %d", (int)pid);
	k->pid = (int)pid;
	if ((dirfd = open_proc_dir((int)pid, e)) < 0 || (selffd = open_proc_dir(self, e)) < 0)
		return -1;
	if (read_capped(dirfd, (int)pid, "status", LB_PROCFACTS_STATUS_MAX, &status, e) ||
	    read_capped(dirfd, (int)pid, "uid_map", LB_PROCFACTS_MAP_MAX, &uid_map, e) ||
	    read_capped(dirfd, (int)pid, "gid_map", LB_PROCFACTS_MAP_MAX, &gid_map, e) ||
	    read_capped(dirfd, (int)pid, "mountinfo", LB_PROCFACTS_MOUNTINFO_MAX, &mountinfo, e) ||
	    read_capped(selffd, self, "mountinfo", LB_PROCFACTS_MOUNTINFO_MAX, &host_mountinfo, e))
		return -1;
	if (lb_procfacts_parse_status(status, k, e))
		return lb_fail_wrap(e, "/proc/%d", (int)pid);
	if (lb_procfacts_parse_maps(uid_map, gid_map, k, e))
		return lb_fail_wrap(e, "/proc/%d", (int)pid);
	if (lb_procfacts_parse_mountinfo(mountinfo, &k->mounts, e))
		return lb_fail_wrap(e, "/proc/%d", (int)pid);
	if (lb_procfacts_parse_mountinfo(host_mountinfo, &k->host_mounts, e))
		return lb_fail_wrap(e, "/proc/%d (lockboxd)", self);
	if (read_ns(dirfd, (int)pid, k->ns, e) || read_ns(selffd, self, k->host_ns, e))
		return -1;
	read_lsm(dirfd, (int)pid, k);
	return 0;
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
