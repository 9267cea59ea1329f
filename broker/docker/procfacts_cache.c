/* The posture re-check cache (procfacts.h, issue 19): a container's kernel facts kept while
 * everything they depend on is unchanged, lockboxd's own mount table parsed once per change. */
#include "procfacts_int.h"
#include "cleanup.h"

#include <errno.h>
#include <linux/capability.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

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
	if (!c->valid || now->pid <= 0 || !now->start || c->key.pid != now->pid ||
	    c->key.start != now->start || c->key.lsm_available != now->lsm_available ||
	    strcmp(c->key.lsm_label, now->lsm_label) != 0)
		return false;
	for (int i = 0; i < LB_NS_COUNT; i++)
		if (!now->ns[i] || c->key.ns[i] != now->ns[i])
			return false;
	return true;
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
	free(h->by_dev);
	lb_procfacts_host_init(h);
}

/* pid's key through its dirfd: starttime from stat, every namespace's inode, the LSM label. */
static int read_key(int dirfd, int pid, const lb_procfacts_host *h, lb_procfacts_key *key,
		    lb_err *e)
{
	_cleanup_free_ char *stat = NULL;

	key->pid = pid;
	if (lb_pf_read_capped(dirfd, pid, "stat", LB_PROCFACTS_ATTR_MAX, &stat, e))
		return -1;
	if (lb_procfacts_parse_start(stat, &key->start, e))
		return lb_fail_wrap(e, "/proc/%d", pid);
	if (lb_pf_read_ns(dirfd, pid, key->ns, e))
		return -1;
	if (h->no_lsm) {
		key->lsm_available = false;
		key->lsm_label[0] = '\0';
	} else {
		key->lsm_available = lb_pf_read_lsm(dirfd, pid, key->lsm_label);
	}
	return 0;
}

/* Does no LSM label processes on this kernel? lockboxd's own attr/current gives EINVAL
 * when none provides it (an LSM is chosen at boot) and attr/apparmor/current is not there
 * without AppArmor: then nobody's label can be read, now or later, and a re-check does not
 * try (two failed opens per container saved). Anything else: read per container. */
static bool no_lsm(int selffd, int self)
{
	_cleanup_free_ char *text = NULL, *aa = NULL;
	lb_err e = {0}, e2 = {0};

	return lb_pf_read_capped(selffd, self, "attr/current", LB_PROCFACTS_ATTR_MAX, &text, &e) &&
	       e.sys == EINVAL &&
	       lb_pf_read_capped(selffd, self, "attr/apparmor/current", LB_PROCFACTS_ATTR_MAX, &aa,
				 &e2) &&
	       e2.sys == ENOENT;
}

/* lockboxd's own mount table and namespaces: parsed again only when poll() on the mountinfo
 * fd kept open says the table changed (the kernel's POLLPRI on /proc/PID/mountinfo). */
static int host_open(lb_procfacts_host *h, int self, lb_err *e)
{
	_cleanup_close_ int selffd = lb_pf_open_proc_dir(self, e);

	if (selffd < 0 || lb_pf_read_ns(selffd, self, h->ns, e))
		return -1;
	h->no_lsm = no_lsm(selffd, self);
	h->mountinfo_fd = openat(selffd, "mountinfo", O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (h->mountinfo_fd < 0)
		return lb_fail_errno(e, "open /proc/%d/mountinfo", self);
	return 0;
}

static int index_by_dev(lb_procfacts_host *h, lb_err *e);

static int host_read(lb_procfacts_host *h, lb_err *e)
{
	_cleanup_free_ char *text = NULL;
	struct pollfd pfd;
	int self;

	if (h->valid) {
		pfd = (struct pollfd){.fd = h->mountinfo_fd, .events = POLLPRI};
		if (poll(&pfd, 1, 0) == 0)
			return 0;
	}
	h->valid = false;
	self = (int)getpid(); /* a system call in glibc: not for every re-check */
	if (h->mountinfo_fd < 0) {
		if (host_open(h, self, e))
			return -1;
	} else if (lseek(h->mountinfo_fd, 0, SEEK_SET) < 0) {
		return lb_fail_errno(e, "seek /proc/%d/mountinfo", self);
	}
	if (lb_pf_read_fd_capped(h->mountinfo_fd, self, "mountinfo", LB_PROCFACTS_MOUNTINFO_MAX,
				 &text, e) ||
	    lb_procfacts_parse_mountinfo(text, &h->mounts, e))
		return lb_fail_wrap(e, "/proc/%d (lockboxd)", self);
	if (index_by_dev(h, e))
		return -1;
	h->valid = true;
	h->gen++;
	return 0;
}

static void bump(lb_procfacts_cache *c)
{
	static uint64_t versions;

	c->version = ++versions;
}

/* a before b: by device, then by place in the table. */
static int dev_cmp(const lb_mounts *ms, uint32_t a, uint32_t b)
{
	const lb_mount *x = &ms->v[a], *y = &ms->v[b];

	if (x->major != y->major)
		return x->major < y->major ? -1 : 1;
	if (x->minor != y->minor)
		return x->minor < y->minor ? -1 : 1;
	return a < b ? -1 : a > b;
}

static const lb_mounts *sort_table; /* qsort has no context argument */

static int by_dev_cmp(const void *a, const void *b)
{
	return dev_cmp(sort_table, *(const uint32_t *)a, *(const uint32_t *)b);
}

static int u32_cmp(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

static int index_by_dev(lb_procfacts_host *h, lb_err *e)
{
	uint32_t *ix;

	if (h->mounts.n > UINT32_MAX)
		return lb_fail(e, 0, "lockboxd's mount table has too many entries");
	ix = realloc(h->by_dev, (h->mounts.n ? h->mounts.n : 1) * sizeof(*ix));
	if (!ix)
		return lb_fail(e, 12, "posture facts: out of memory");
	for (size_t i = 0; i < h->mounts.n; i++)
		ix[i] = (uint32_t)i;
	sort_table = &h->mounts;
	qsort(ix, h->mounts.n, sizeof(*ix), by_dev_cmp);
	sort_table = NULL;
	h->by_dev = ix;
	return 0;
}

/* The first place in h->by_dev whose mount's device is not below major:minor. */
static size_t lower_bound(const lb_procfacts_host *h, unsigned major, unsigned minor)
{
	size_t lo = 0, hi = h->mounts.n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		const lb_mount *m = &h->mounts.v[h->by_dev[mid]];
		if (m->major < major || (m->major == major && m->minor < minor))
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/* Already taken for an earlier container mount of the same device? */
static bool seen_dev(const lb_mounts *ms, size_t upto, const lb_mount *m)
{
	for (size_t i = 0; i < upto; i++)
		if (ms->v[i].major == m->major && ms->v[i].minor == m->minor)
			return true;
	return false;
}

/* c->host_view for h's current table (see lb_procfacts_cache): the host mounts on each of
 * the container's devices through h->by_dev, put back in table order. */
static int host_view(lb_procfacts_cache *c, const lb_procfacts_host *h, lb_err *e)
{
	_cleanup_free_ uint32_t *take = NULL;
	lb_mount *v;
	size_t n = 0;

	if (c->host_view.v && c->host_gen == h->gen)
		return 0;
	take = malloc((h->mounts.n ? h->mounts.n : 1) * sizeof(*take));
	if (!take)
		return lb_fail(e, 12, "posture facts: out of memory");
	for (size_t i = 0; i < c->k.mounts.n; i++) {
		const lb_mount *cm = &c->k.mounts.v[i];

		if (seen_dev(&c->k.mounts, i, cm))
			continue;
		for (size_t j = lower_bound(h, cm->major, cm->minor); j < h->mounts.n; j++) {
			const lb_mount *hm = &h->mounts.v[h->by_dev[j]];
			if (hm->major != cm->major || hm->minor != cm->minor)
				break;
			take[n++] = h->by_dev[j];
		}
	}
	qsort(take, n, sizeof(*take), u32_cmp);
	v = malloc((n ? n : 1) * sizeof(*v));
	if (!v)
		return lb_fail(e, 12, "posture facts: out of memory");
	for (size_t i = 0; i < n; i++)
		v[i] = h->mounts.v[take[i]];
	free(c->host_view.v);
	c->host_view.v = v;
	c->host_view.n = n;
	c->host_gen = h->gen;
	bump(c);
	return 0;
}

/* Does a status parse change anything a check reads? */
/* A container whose processes may hold CAP_SYS_ADMIN can change its mounts in place
 * (`mount -o remount,rw /`) without a new namespace, which the key does not see: its facts
 * are read afresh at every check. Docker's default bounding set has no CAP_SYS_ADMIN
 * (`--privileged` and `--cap-add SYS_ADMIN` add it), and no process of the container can get
 * it back into the container's own namespaces once the first one's bounding set lacks it. */
static bool mounts_may_change(const lb_kernel_facts *k)
{
	return !k->have_status || (k->cap_bnd & (UINT64_C(1) << CAP_SYS_ADMIN)) != 0;
}

static bool status_same(const lb_kernel_facts *a, const lb_kernel_facts *b)
{
	return a->have_status == b->have_status && memcmp(a->uid, b->uid, sizeof(a->uid)) == 0 &&
	       memcmp(a->gid, b->gid, sizeof(a->gid)) == 0 && a->no_new_privs == b->no_new_privs &&
	       a->seccomp == b->seccomp && a->cap_eff == b->cap_eff && a->cap_prm == b->cap_prm &&
	       a->cap_bnd == b->cap_bnd && a->cap_amb == b->cap_amb;
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
	if ((dirfd = lb_pf_open_proc_dir((int)pid, e)) < 0 || host_read(h, e) ||
	    read_key(dirfd, (int)pid, h, &now, e))
		goto fail;
	if (lb_procfacts_cache_fresh(c, &now) && !mounts_may_change(&c->k)) {
		/* Status is what a running process changes in place (execve of a setuid file):
		 * read again unless nothing in it can change any more. */
		if (!lb_procfacts_status_frozen(&c->k)) {
			lb_kernel_facts before = c->k;

			if (lb_pf_read_capped(dirfd, (int)pid, "status", LB_PROCFACTS_STATUS_MAX,
					      &status, e) ||
			    lb_procfacts_parse_status(status, &c->k, e)) {
				lb_fail_wrap(e, "/proc/%d", (int)pid);
				goto fail;
			}
			if (!status_same(&before, &c->k))
				bump(c);
		}
	} else {
		lb_procfacts_cache_clear(c);
		if (lb_pf_read_container(dirfd, (int)pid, &c->k, e))
			goto fail;
		c->key = now;
		c->valid = true;
		*parsed = true;
		bump(c);
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
