#include "idmap.h"
#include "cleanup.h"

#include <ctype.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MAP_FILE_MAX (64 * 1024)

static int parse_u32(const char **p, uint32_t *out)
{
	unsigned long long v = 0;
	const char *s = *p;

	while (*s == ' ' || *s == '\t')
		s++;
	if (!isdigit((unsigned char)*s))
		return -1;
	while (isdigit((unsigned char)*s)) {
		v = v * 10 + (unsigned long long)(*s++ - '0');
		if (v > UINT32_MAX)
			return -1;
	}
	*out = (uint32_t)v;
	*p = s;
	return 0;
}

static bool overlaps(uint32_t a, uint32_t alen, uint32_t b, uint32_t blen)
{
	return (uint64_t)a < (uint64_t)b + blen && (uint64_t)b < (uint64_t)a + alen;
}

static int add_range(lb_idmap *m, uint32_t in, uint32_t out, uint32_t count, lb_err *e)
{
	if (count == 0)
		return lb_fail(e, 0, "id map line \"%u %u 0\": count must be > 0", in, out);
	if ((uint64_t)in + count > (uint64_t)UINT32_MAX + 1 ||
	    (uint64_t)out + count > (uint64_t)UINT32_MAX + 1)
		return lb_fail(e, 0, "id map line \"%u %u %u\": range overflows 32 bits", in, out,
			       count);
	if (m->n >= LB_IDMAP_MAX)
		return lb_fail(e, 0, "id map has more than %d lines", LB_IDMAP_MAX);
	for (size_t i = 0; i < m->n; i++)
		if (overlaps(in, count, m->r[i].inside, m->r[i].count) ||
		    overlaps(out, count, m->r[i].outside, m->r[i].count))
			return lb_fail(e, 0, "id map line \"%u %u %u\" overlaps another line", in,
				       out, count);
	m->r[m->n].inside = in;
	m->r[m->n].outside = out;
	m->r[m->n].count = count;
	m->n++;
	return 0;
}

int lb_idmap_parse(const char *text, lb_idmap *m, lb_err *e)
{
	const char *p = text;

	memset(m, 0, sizeof(*m));
	while (*p) {
		uint32_t in, out, count;

		while (*p == '\n' || *p == ' ' || *p == '\t')
			p++;
		if (!*p)
			break;
		if (parse_u32(&p, &in) || parse_u32(&p, &out) || parse_u32(&p, &count))
			return lb_fail(e, 0, "id map: expected lines \"INSIDE OUTSIDE COUNT\"");
		while (*p == ' ' || *p == '\t')
			p++;
		if (*p && *p != '\n')
			return lb_fail(e, 0, "id map: trailing text after \"%u %u %u\"", in, out,
				       count);
		if (add_range(m, in, out, count, e))
			return -1;
	}
	if (m->n == 0)
		return lb_fail(e, 0, "id map is empty");
	return 0;
}

static bool user_name_ok(const char *s)
{
	if (!*s || strlen(s) > 32)
		return false;
	for (; *s; s++)
		if (!isalnum((unsigned char)*s) && *s != '_' && *s != '-' && *s != '.')
			return false;
	return true;
}

int lb_idmap_spec_check(const char *spec, lb_err *e)
{
	lb_idmap m;

	if (strncmp(spec, "subuid:", 7) == 0)
		return user_name_ok(spec + 7)
			   ? 0
			   : lb_fail(e, 0, "bad user name in \"%s\" (expected subuid:USER)", spec);
	if (strncmp(spec, "pid:", 4) == 0) {
		const char *p = spec + 4;
		uint32_t pid;
		if (parse_u32(&p, &pid) || *p || pid == 0)
			return lb_fail(e, 0, "bad pid in \"%s\" (expected pid:N)", spec);
		return 0;
	}
	return lb_idmap_parse(spec, &m, e);
}

static int read_small_file(const char *path, char *buf, size_t cap, lb_err *e)
{
	_cleanup_close_ int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	size_t off = 0;

	if (fd < 0)
		return lb_fail_errno(e, "open %s", path);
	for (;;) {
		ssize_t n = read(fd, buf + off, cap - 1 - off);
		if (n < 0)
			return lb_fail_errno(e, "read %s", path);
		if (n == 0)
			break;
		off += (size_t)n;
		if (off >= cap - 1)
			return lb_fail(e, 0, "%s is larger than %zu bytes", path, cap - 1);
	}
	buf[off] = '\0';
	return 0;
}

int lb_idmap_from_subid(const char *text, const char *user, const char *user_id, lb_idmap *m,
			lb_err *e)
{
	const char *line = text;
	uint32_t next_inside = 0;

	memset(m, 0, sizeof(*m));
	while (*line) {
		const char *nl = strchr(line, '\n'), *colon = strchr(line, ':');
		size_t len = nl ? (size_t)(nl - line) : strlen(line);

		if (colon && colon < line + len &&
		    ((strlen(user) == (size_t)(colon - line) &&
		      strncmp(line, user, strlen(user)) == 0) ||
		     (user_id && strlen(user_id) == (size_t)(colon - line) &&
		      strncmp(line, user_id, strlen(user_id)) == 0))) {
			const char *p = colon + 1;
			uint32_t start, count;

			if (parse_u32(&p, &start) || *p++ != ':' || parse_u32(&p, &count))
				return lb_fail(e, 0, "malformed subordinate id line for %s", user);
			/* Consecutive inside ids across ranges, as dockerd and newuidmap do. */
			if (add_range(m, next_inside, start, count, e))
				return -1;
			next_inside += count;
		}
		line += len + (nl ? 1 : 0);
	}
	if (m->n == 0)
		return lb_fail(e, 0, "no subordinate id range for user %s", user);
	return 0;
}

int lb_idmap_load(const char *spec, bool gid, lb_idmap *m, lb_err *e)
{
	char buf[MAP_FILE_MAX];

	memset(m, 0, sizeof(*m));
	if (!spec || !*spec)
		return 0;
	if (strncmp(spec, "subuid:", 7) == 0) {
		const char *file = gid ? "/etc/subgid" : "/etc/subuid";
		const char *user = spec + 7;
		char idbuf[16] = "";
		struct passwd *pw = getpwnam(user);

		if (pw)
			snprintf(idbuf, sizeof(idbuf), "%u", (unsigned)pw->pw_uid);
		if (read_small_file(file, buf, sizeof(buf), e))
			return -1;
		if (lb_idmap_from_subid(buf, user, pw ? idbuf : NULL, m, e))
			return lb_fail_wrap(e, "%s", file);
		return 0;
	}
	if (strncmp(spec, "pid:", 4) == 0) {
		char path[64];

		snprintf(path, sizeof(path), "/proc/%s/%s", spec + 4, gid ? "gid_map" : "uid_map");
		if (read_small_file(path, buf, sizeof(buf), e))
			return -1;
		if (lb_idmap_parse(buf, m, e))
			return lb_fail_wrap(e, "%s", path);
		return 0;
	}
	return lb_idmap_parse(spec, m, e);
}

int lb_idmap_to_host(const lb_idmap *m, uint32_t id, uint32_t *host, lb_err *e)
{
	if (m->n == 0) {
		*host = id;
		return 0;
	}
	for (size_t i = 0; i < m->n; i++)
		if (id >= m->r[i].inside && id - m->r[i].inside < m->r[i].count) {
			*host = m->r[i].outside + (id - m->r[i].inside);
			return 0;
		}
	return lb_fail(e, 0, "id %u is not mapped by the user namespace", id);
}
