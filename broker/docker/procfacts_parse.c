/* The /proc text parsers of procfacts.h: pure, on NUL-terminated text exactly as the kernel
 * gives it (also what tests and fuzz_procfacts feed them). */
#include "procfacts.h"
#include "cleanup.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

bool lb_procfacts_label(char label[LB_LSM_LABEL_MAX], const char *text)
{
	size_t n;

	label[0] = '\0';
	if (!text)
		return false;
	n = strlen(text);
	while (n && text[n - 1] == '\n')
		n--;
	/* A label cut short would lose what ends it ("(complain)"): one too long for the
	 * facts is kept as no label, which no rule takes for confined (review, session 5). */
	if (n >= LB_LSM_LABEL_MAX)
		return true;
	memcpy(label, text, n);
	label[n] = '\0';
	return true;
}

void lb_procfacts_set_lsm(lb_kernel_facts *k, const char *label)
{
	k->lsm_available = lb_procfacts_label(k->lsm_label, label);
}

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
