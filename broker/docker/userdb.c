#include "userdb.h"
#include "cleanup.h"
#include "fsutil.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#define SCAN_TOKEN_MAX (64 * 1024)  /* Go's bufio.MaxScanTokenSize (passwd) */
#define READER_BUF     4096	    /* Go's bufio.Reader default size (group) */
#define ID_MAX	       2147483647LL /* runc's maxID */

struct span {
	const char *p;
	size_t n;
};

/* --- Go's strconv.Atoi and bytes.TrimSpace --- */

enum { ATOI_OK, ATOI_SYNTAX, ATOI_RANGE };

/* strconv.Atoi on a 64-bit int: a sign, then decimal digits only. A syntax error gives 0;
 * overflow (detected digit by digit, before a later bad byte is seen) clamps. */
static int go_atoi(struct span s, int64_t *v)
{
	const uint64_t cutoff = UINT64_MAX / 10 + 1;
	uint64_t n = 0;
	bool neg = false, range = false;
	size_t i = 0;

	*v = 0;
	if (s.n && (s.p[0] == '+' || s.p[0] == '-')) {
		neg = s.p[0] == '-';
		i = 1;
	}
	if (i == s.n)
		return ATOI_SYNTAX;
	for (; i < s.n && !range; i++) {
		unsigned d = (unsigned char)s.p[i] - (unsigned)'0';
		if (d > 9)
			return ATOI_SYNTAX;
		if (n >= cutoff || n * 10 + d < n * 10) {
			range = true;
			n = UINT64_MAX;
		} else {
			n = n * 10 + d;
		}
	}
	if (!neg && n >= (1ULL << 63)) {
		*v = INT64_MAX;
		return ATOI_RANGE;
	}
	if (neg && n > (1ULL << 63)) {
		*v = INT64_MIN;
		return ATOI_RANGE;
	}
	*v = !neg ? (int64_t)n : n == (1ULL << 63) ? INT64_MIN : -(int64_t)n;
	return range ? ATOI_RANGE : ATOI_OK;
}

/* Width of the unicode.IsSpace rune that s starts with (at_end: ends with), or 0. Valid
 * UTF-8 is unique, so matching the encodings is what decoding would find. */
static size_t space_width(struct span s, bool at_end)
{
	static const char *const wide[] = {
	    "\xc2\x85",	    "\xc2\xa0",	    "\xe1\x9a\x80", "\xe2\x80\x80", "\xe2\x80\x81",
	    "\xe2\x80\x82", "\xe2\x80\x83", "\xe2\x80\x84", "\xe2\x80\x85", "\xe2\x80\x86",
	    "\xe2\x80\x87", "\xe2\x80\x88", "\xe2\x80\x89", "\xe2\x80\x8a", "\xe2\x80\xa8",
	    "\xe2\x80\xa9", "\xe2\x80\xaf", "\xe2\x81\x9f", "\xe3\x80\x80"};
	unsigned char c;

	if (!s.n)
		return 0;
	c = (unsigned char)s.p[at_end ? s.n - 1 : 0];
	if (c == ' ' || (c >= '\t' && c <= '\r'))
		return 1;
	for (size_t i = 0; i < sizeof(wide) / sizeof(wide[0]); i++) {
		size_t w = strlen(wide[i]);
		if (s.n >= w && memcmp(s.p + (at_end ? s.n - w : 0), wide[i], w) == 0)
			return w;
	}
	return 0;
}

static struct span trim_space(struct span s)
{
	size_t w;

	while ((w = space_width(s, false))) {
		s.p += w;
		s.n -= w;
	}
	while ((w = space_width(s, true)))
		s.n -= w;
	return s;
}

/* Field i of a ':'-separated line (bytes.Split); a missing field is empty. */
static struct span field(struct span line, int i)
{
	const char *p = line.p, *end = line.p + line.n;

	for (; i > 0; i--) {
		const char *c = memchr(p, ':', (size_t)(end - p));
		if (!c)
			return (struct span){"", 0};
		p = c + 1;
	}
	{
		const char *c = memchr(p, ':', (size_t)(end - p));
		return (struct span){p, (size_t)((c ? c : end) - p)};
	}
}

static int64_t field_int(struct span line, int i)
{
	int64_t v;

	go_atoi(field(line, i), &v);
	return v;
}

static bool span_eq(struct span a, struct span b)
{
	return a.n == b.n && (a.n == 0 || memcmp(a.p, b.p, a.n) == 0);
}

/* The next line of text (without '\n'); false at the end. */
static bool next_line(struct span *rest, struct span *line, bool *terminated)
{
	const char *nl;

	if (!rest->n)
		return false;
	nl = memchr(rest->p, '\n', rest->n);
	line->p = rest->p;
	line->n = nl ? (size_t)(nl - rest->p) : rest->n;
	*terminated = nl != NULL;
	rest->p += line->n + (nl ? 1 : 0);
	rest->n -= line->n + (nl ? 1 : 0);
	return true;
}

/* bufio.Reader.ReadLine drops a last line that is not terminated by '\n' when its 4 KiB
 * chunks end exactly at the end of the file (a chunk ending in '\r' is one byte shorter). */
static bool group_line_lost(struct span line, bool terminated)
{
	size_t pos = 0;

	if (terminated || line.n < READER_BUF)
		return false;
	while (line.n - pos >= READER_BUF)
		pos += line.p[pos + READER_BUF - 1] == '\r' ? READER_BUF - 1 : READER_BUF;
	return pos == line.n;
}

/* --- GetExecUser --- */

/* A printable copy of container-controlled text for messages. */
static const char *printable(struct span s, char *buf, size_t cap)
{
	size_t i;

	for (i = 0; i < s.n && i + 1 < cap; i++) {
		unsigned char c = (unsigned char)s.p[i];
		buf[i] = '?';
		if (c >= 0x20 && c < 0x7f && c != '"')
			buf[i] = (char)c;
	}
	buf[i] = '\0';
	return buf;
}

static int id_out_of_range(const char *what, struct span name, int64_t v, lb_err *e)
{
	char nb[80];

	return lb_fail(e, 0,
		       "%s \"%s\" has id %lld in the container's %s, outside 0..2147483647 "
		       "(Docker would truncate it to 32 bits)",
		       what[0] == 'u' ? "user" : "group", printable(name, nb, sizeof(nb)),
		       (long long)v, what[0] == 'u' ? "/etc/passwd" : "/etc/group");
}

int lb_userdb_resolve(const char *spec, const char *passwd, size_t passwd_len, const char *group,
		      size_t group_len, uint32_t *uid, uint32_t *gid, lb_err *e)
{
	struct span s = {spec ? spec : "", spec ? strlen(spec) : 0};
	struct span ua = field(s, 0), ga = field(s, 1), rest, line, matched = {NULL, 0};
	int64_t uarg, garg, u = 0, g = 0;
	bool unum = go_atoi(ua, &uarg) == ATOI_OK, gnum = go_atoi(ga, &garg) == ATOI_OK;
	bool found = false, term;
	char nb[80];

	if (passwd) {
		/* The whole file is scanned before any match is used: one overlong line fails it.
		 */
		rest = (struct span){passwd, passwd_len};
		while (next_line(&rest, &line, &term))
			if (line.n >= SCAN_TOKEN_MAX)
				return lb_fail(
				    e, 0,
				    "the container's /etc/passwd has a line of %zu bytes "
				    "(Docker fails on lines of 64 KiB or more)",
				    line.n);
		rest = (struct span){passwd, passwd_len};
		while (!found && next_line(&rest, &line, &term)) {
			line = trim_space(line);
			if (!line.n)
				continue;
			if (!ua.n)
				found = field_int(line, 2) == 0;
			else if (unum)
				found = field_int(line, 2) == uarg;
			else
				found = span_eq(field(line, 0), ua);
			if (found) {
				matched = field(line, 0);
				u = field_int(line, 2);
				g = field_int(line, 3);
			}
		}
	}
	if (found && (u < 0 || u > ID_MAX))
		return id_out_of_range("user", matched, u, e);
	if (found && !ga.n && (g < 0 || g > ID_MAX))
		return id_out_of_range("user", matched, g, e);
	if (!found && ua.n) {
		if (!unum)
			return lb_fail(e, 0, "user \"%s\" not found in the container's /etc/passwd",
				       printable(ua, nb, sizeof(nb)));
		if (uarg < 0 || uarg > ID_MAX)
			return lb_fail(e, 0, "uid %lld out of range 0..2147483647",
				       (long long)uarg);
		u = uarg;
	}
	/* Without a group in spec, the group file only adds supplementary groups. */
	if (ga.n) {
		found = false;
		rest = (struct span){group, group ? group_len : 0};
		while (!found && next_line(&rest, &line, &term)) {
			if (group_line_lost(line, term))
				break;
			line = trim_space(line);
			if (!line.n || line.p[0] == '#')
				continue;
			found = gnum ? field_int(line, 2) == garg : span_eq(field(line, 0), ga);
			if (found)
				g = field_int(line, 2);
		}
		if (found && (g < 0 || g > ID_MAX))
			return id_out_of_range("group", ga, g, e);
		if (!found) {
			if (!gnum)
				return lb_fail(
				    e, 0, "group \"%s\" not found in the container's /etc/group",
				    printable(ga, nb, sizeof(nb)));
			if (garg < 0 || garg > ID_MAX)
				return lb_fail(e, 0, "gid %lld out of range 0..2147483647",
					       (long long)garg);
			g = garg;
		}
	}
	*uid = (uint32_t)u;
	*gid = (uint32_t)g;
	return 0;
}

int64_t lb_userdb_uid_hint(const char *spec)
{
	struct span ua = field((struct span){spec ? spec : "", spec ? strlen(spec) : 0}, 0);
	int64_t v;

	if (!ua.n)
		return 0;
	return go_atoi(ua, &v) == ATOI_OK && v >= 0 && v <= ID_MAX ? v : -1;
}

/* --- reading the files --- */

int lb_userdb_read_in_root(int rootfd, const char *path, char **text, size_t *len, lb_err *e)
{
	struct open_how how = {.flags = O_PATH | O_CLOEXEC,
			       .resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS};
	_cleanup_close_ int pfd = -1;
	_cleanup_close_ int fd = -1;
	char proc[64];
	struct stat st;

	*text = NULL;
	*len = 0;
	pfd = (int)syscall(SYS_openat2, rootfd, path, &how, sizeof(how));
	/* Docker ignores a file it cannot open (GetExecUserPath). */
	if (pfd < 0 && (errno == ENOENT || errno == ENOTDIR))
		return 1;
	if (pfd < 0)
		return lb_fail_errno(e, "open /%s in the container", path);
	if (fstat(pfd, &st) < 0)
		return lb_fail_errno(e, "stat /%s in the container", path);
	if (!S_ISREG(st.st_mode))
		return lb_fail(e, 0, "/%s in the container is not a regular file", path);
	if (st.st_size > LB_USERDB_FILE_MAX)
		return lb_fail(e, 0, "/%s in the container is larger than %d bytes", path,
			       LB_USERDB_FILE_MAX);
	/* Reopen the regular file we checked (our own /proc, not the container's). */
	snprintf(proc, sizeof(proc), "/proc/self/fd/%d", pfd);
	fd = open(proc, O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
	if (fd < 0)
		return lb_fail_errno(e, "reopen /%s in the container", path);
	if (lb_read_fd(fd, path, LB_USERDB_FILE_MAX, text, len, e))
		return lb_fail_wrap(e, "the container's /%s", path);
	return 0;
}

int lb_userdb_consumer_ids(int pid, const char *user, uint32_t *uid, uint32_t *gid, lb_err *e)
{
	struct span s = {user ? user : "", user ? strlen(user) : 0};
	_cleanup_close_ int rootfd = -1;
	_cleanup_free_ char *pw = NULL;
	_cleanup_free_ char *gr = NULL;
	size_t pwl = 0, grl = 0;
	char path[64];

	snprintf(path, sizeof(path), "/proc/%d/root", pid);
	rootfd = open(path, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (rootfd < 0)
		return lb_fail_errno(e, "open %s", path);
	if (lb_userdb_read_in_root(rootfd, "etc/passwd", &pw, &pwl, e) < 0)
		return -1;
	/* Only a group named in user needs /etc/group (the rest is supplementary groups). */
	if (field(s, 1).n && lb_userdb_read_in_root(rootfd, "etc/group", &gr, &grl, e) < 0)
		return -1;
	return lb_userdb_resolve(user, pw, pwl, gr, grl, uid, gid, e);
}

bool lb_userdb_remap_user(const char *root_dir, const char *subuid, size_t len, char *user,
			  size_t cap)
{
	const char *base = root_dir ? strrchr(root_dir, '/') : NULL;
	const char *dot = base ? strchr(base, '.') : NULL;
	size_t wl = dot ? (size_t)(dot - base - 1) : 0;
	const char *p = subuid, *end = subuid + len;

	if (!dot || wl == 0 || wl > 10 || strspn(base + 1, "0123456789") != wl || cap == 0)
		return false;
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		const char *le = nl ? nl : end;
		const char *c1 = memchr(p, ':', (size_t)(le - p));
		const char *c2 = c1 ? memchr(c1 + 1, ':', (size_t)(le - c1 - 1)) : NULL;

		if (c2 && c1 > p && (size_t)(c2 - c1 - 1) == wl &&
		    memcmp(c1 + 1, base + 1, wl) == 0 && !memchr(p, '\0', (size_t)(c1 - p)) &&
		    (size_t)(c1 - p) < cap) {
			memcpy(user, p, (size_t)(c1 - p));
			user[c1 - p] = '\0';
			return true;
		}
		p = le + 1;
	}
	return false;
}
