/* The floor of one rotation's file work per target (issue 19), on N real detached tmpfs mounts
 * (fsopen/fsmount as broker/target.c), one secret of 5 changed per target, per variant:
 *  a    today's lb_gen_write: mkdir 0700, create+write+fchown+close of the changed file,
 *       4 linkat, the manifest's create+write+fchown+ACL+close, fchmodat 0755, symlinkat
 *       ..data.tmp, renameat over ..data;
 *  b    a staged next generation (made off the critical path: mkdir 0755, 5 linkat, symlinkat
 *       ..data.tmp, a touch of the current manifest); the rotation unlinks the changed name,
 *       creates+writes+fchowns+closes it, writes the manifest and renames ..data.tmp;
 *  c    b with the manifest's group and ACL inherited (setgid directory of the consumer's gid
 *       with a default ACL, set while staging): the manifest is create+write+close;
 *  d    b with the inodes made while staging too: a spare file (0400, the consumer's) and an
 *       empty manifest (root:gid 0440 + ACL); the rotation writes the spare and renames it
 *       over the changed name, writes the manifest through open(O_WRONLY), renames ..data.tmp.
 * Per target: wall and CPU of the critical path, and of the staging; per class of system call
 * (clock_gettime around each class in a second pass, which adds its own ~0.1 us per class).
 * Usage: publish_floor [N] [ROUNDS] (root; defaults 1000, 5). Prints, asserts nothing. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/xattr.h>
#include <time.h>
#include <unistd.h>

#define NSEC 5
#define UID  1000
#define GID  1000

enum { C_MKDIR, C_CREATE, C_WRITE, C_CHOWN, C_CLOSE, C_LINK, C_ACL, C_CHMOD, C_SWAP, C_UNLINK, NC };
static const char *cname[NC] = {"mkdir", "create", "write", "chown", "close",
				"link",	 "acl",	   "chmod", "swap",  "unlink"};
static double cls[NC];
static long calls;
static int timed;
static struct timespec t0c;

static double now_ns(clockid_t c)
{
	struct timespec ts;

	clock_gettime(c, &ts);
	return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static void beg(void)
{
	if (timed)
		clock_gettime(CLOCK_MONOTONIC, &t0c);
}

static void end(int c, int n)
{
	calls += n;
	if (timed) {
		struct timespec t;
		clock_gettime(CLOCK_MONOTONIC, &t);
		cls[c] += (double)(t.tv_sec - t0c.tv_sec) * 1e9 + (double)(t.tv_nsec - t0c.tv_nsec);
	}
}

static void die(const char *what)
{
	perror(what);
	exit(1);
}

static int mount_one(void)
{
	int fs = (int)syscall(SYS_fsopen, "tmpfs", FSOPEN_CLOEXEC), m;

	if (fs < 0 || syscall(SYS_fsconfig, fs, FSCONFIG_SET_STRING, "size", "64k", 0) < 0 ||
	    syscall(SYS_fsconfig, fs, FSCONFIG_SET_STRING, "mode", "0755", 0) < 0 ||
	    syscall(SYS_fsconfig, fs, FSCONFIG_CMD_CREATE, NULL, NULL, 0) < 0)
		die("tmpfs");
	m = (int)syscall(SYS_fsmount, fs, FSMOUNT_CLOEXEC, 0);
	if (m < 0)
		die("fsmount");
	close(fs);
	return m;
}

static const struct {
	uint32_t version;
	struct {
		uint16_t tag, perm;
		uint32_t id;
	} __attribute__((packed)) ent[5];
} __attribute__((packed)) acl = {2,
				 {{0x01, 4, UINT32_MAX},
				  {0x02, 4, UID},
				  {0x04, 4, UINT32_MAX},
				  {0x10, 4, UINT32_MAX},
				  {0x20, 0, UINT32_MAX}}};

static char manifest[600];
static size_t mlen;

static int create(int d, const char *p, const void *buf, size_t len, mode_t mode, uid_t u, gid_t g)
{
	int fd;

	beg();
	fd = openat(d, p, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode);
	end(C_CREATE, 1);
	if (fd < 0)
		die(p);
	beg();
	if (len && write(fd, buf, len) != (ssize_t)len)
		die("write");
	end(C_WRITE, 1);
	if (u || g) {
		beg();
		if (fchown(fd, u, g) < 0)
			die("fchown");
		end(C_CHOWN, 1);
	}
	return fd;
}

static void xclose(int fd)
{
	beg();
	close(fd);
	end(C_CLOSE, 1);
}

static void set_acl(int fd)
{
	beg();
	if (fsetxattr(fd, "system.posix_acl_access", &acl, sizeof(acl), 0) < 0)
		die("acl");
	end(C_ACL, 1);
}

static void swap(int d, const char *g, int mk)
{
	beg();
	if (mk && symlinkat(g, d, "..data.tmp") < 0)
		die("symlink");
	if (renameat(d, "..data.tmp", d, "..data") < 0)
		die("rename");
	end(C_SWAP, 1 + mk);
}

static void gname(char *b, unsigned long g)
{
	(void)sprintf(b, "..gen-%lu", g);
}

/* Generation 1: 5 files of the consumer, the manifest, ..data. */
static void first(int d)
{
	char p[64];
	int fd;

	mkdirat(d, "..gen-1", 0755);
	for (int i = 0; i < NSEC; i++) {
		(void)sprintf(p, "..gen-1/s%d", i);
		close(create(d, p, "value", 5, 0400, UID, GID));
	}
	fd = create(d, "..gen-1/.manifest.json", manifest, mlen, 0440, 0, GID);
	set_acl(fd);
	close(fd);
	symlinkat("..gen-1", d, "..data.tmp");
	renameat(d, "..data.tmp", d, "..data");
}

static void rm_gen(int d, unsigned long g)
{
	char p[96], b[64];

	gname(b, g);
	for (int i = 0; i < NSEC; i++) {
		(void)sprintf(p, "%s/s%d", b, i);
		unlinkat(d, p, 0);
	}
	(void)sprintf(p, "%s/.manifest.json", b);
	unlinkat(d, p, 0);
	(void)sprintf(p, "%s/..spare", b);
	unlinkat(d, p, 0);
	unlinkat(d, b, AT_REMOVEDIR);
}

static void pub_a(int d, unsigned long g)
{
	char b[64], pb[64], p[96], q[96];
	int fd;

	gname(b, g);
	gname(pb, g - 1);
	beg();
	if (mkdirat(d, b, 0700) < 0)
		die("mkdir");
	end(C_MKDIR, 1);
	(void)sprintf(p, "%s/s0", b);
	xclose(create(d, p, "new-value", 9, 0400, UID, GID));
	for (int i = 1; i < NSEC; i++) {
		(void)sprintf(p, "%s/s%d", pb, i);
		(void)sprintf(q, "%s/s%d", b, i);
		beg();
		if (linkat(d, p, d, q, 0) < 0)
			die("link");
		end(C_LINK, 1);
	}
	(void)sprintf(p, "%s/.manifest.json", b);
	fd = create(d, p, manifest, mlen, 0440, 0, GID);
	set_acl(fd);
	xclose(fd);
	beg();
	fchmodat(d, b, 0755, 0);
	end(C_CHMOD, 1);
	swap(d, b, 1);
}

/* Staging of generation g (from g - 1, the current one). v: 'b', 'c' or 'd'. */
static void stage(int d, unsigned long g, int v)
{
	char b[64], pb[64], p[96], q[96];
	int fd;

	gname(b, g);
	gname(pb, g - 1);
	beg();
	if (mkdirat(d, b, 0755) < 0)
		die("mkdir");
	end(C_MKDIR, 1);
	if (v == 'c') {
		static const struct {
			uint32_t version;
			struct {
				uint16_t tag, perm;
				uint32_t id;
			} __attribute__((packed)) ent[5];
		} __attribute__((packed)) dacl = {2,
						  {{0x01, 6, UINT32_MAX},
						   {0x02, 4, UID},
						   {0x04, 4, UINT32_MAX},
						   {0x10, 4, UINT32_MAX},
						   {0x20, 0, UINT32_MAX}}};
		beg();
		if (fchownat(d, b, 0, GID, 0) < 0 || fchmodat(d, b, 02755, 0) < 0)
			die("setgid");
		end(C_CHMOD, 2);
		beg();
		{
			int dfd = openat(d, b, O_DIRECTORY | O_RDONLY | O_CLOEXEC);
			if (dfd < 0 ||
			    fsetxattr(dfd, "system.posix_acl_default", &dacl, sizeof(dacl), 0) < 0)
				die("default acl");
			close(dfd);
		}
		end(C_ACL, 3);
	}
	for (int i = 0; i < NSEC; i++) {
		(void)sprintf(p, "%s/s%d", pb, i);
		(void)sprintf(q, "%s/s%d", b, i);
		beg();
		if (linkat(d, p, d, q, 0) < 0)
			die("link");
		end(C_LINK, 1);
	}
	if (v == 'd') {
		(void)sprintf(p, "%s/..spare", b);
		xclose(create(d, p, NULL, 0, 0400, UID, GID));
		(void)sprintf(p, "%s/.manifest.json", b);
		fd = create(d, p, NULL, 0, 0440, 0, GID);
		set_acl(fd);
		xclose(fd);
	}
	beg();
	if (symlinkat(b, d, "..data.tmp") < 0)
		die("symlink");
	end(C_SWAP, 1);
	/* The links moved the current files' ctime past their manifest's (the restart check). */
	(void)sprintf(p, "%s/.manifest.json", pb);
	beg();
	utimensat(d, p, NULL, AT_SYMLINK_NOFOLLOW);
	end(C_CHMOD, 1);
}

static void pub_staged(int d, unsigned long g, int v)
{
	char b[64], p[96], q[96];
	int fd;

	gname(b, g);
	if (v == 'd') {
		(void)sprintf(p, "%s/..spare", b);
		beg();
		fd = openat(d, p, O_WRONLY | O_NOFOLLOW | O_CLOEXEC);
		end(C_CREATE, 1);
		beg();
		if (fd < 0 || write(fd, "new-value", 9) != 9)
			die("spare");
		end(C_WRITE, 1);
		xclose(fd);
		(void)sprintf(q, "%s/s0", b);
		beg();
		if (renameat(d, p, d, q) < 0)
			die("rename spare");
		end(C_UNLINK, 1);
		(void)sprintf(p, "%s/.manifest.json", b);
		beg();
		fd = openat(d, p, O_WRONLY | O_NOFOLLOW | O_CLOEXEC);
		end(C_CREATE, 1);
		beg();
		if (fd < 0 || write(fd, manifest, mlen) != (ssize_t)mlen)
			die("manifest");
		end(C_WRITE, 1);
		xclose(fd);
		swap(d, b, 0);
		return;
	}
	(void)sprintf(p, "%s/s0", b);
	beg();
	unlinkat(d, p, 0);
	end(C_UNLINK, 1);
	xclose(create(d, p, "new-value", 9, 0400, UID, v == 'c' ? (gid_t)-1 : GID));
	(void)sprintf(p, "%s/.manifest.json", b);
	if (v == 'c') {
		xclose(create(d, p, manifest, mlen, 0440, 0, 0));
	} else {
		fd = create(d, p, manifest, mlen, 0440, 0, GID);
		set_acl(fd);
		xclose(fd);
	}
	swap(d, b, 0);
}

static double load1(void)
{
	char buf[64] = "";
	int fd = open("/proc/loadavg", O_RDONLY | O_CLOEXEC);

	if (fd >= 0) {
		(void)!read(fd, buf, sizeof(buf) - 1);
		(void)close(fd);
	}
	return strtod(buf, NULL);
}

int main(int argc, char **argv)
{
	int n = argc > 1 ? (int)strtol(argv[1], NULL, 10) : 1000,
	    rounds = argc > 2 ? (int)strtol(argv[2], NULL, 10) : 5;
	int *fds = calloc((size_t)n, sizeof(int));
	const char *vs = "abcd";

	if (!fds || n <= 0 || rounds <= 0) {
		free(fds);
		return 2;
	}
	mlen = (size_t)snprintf(manifest, sizeof(manifest), "{\"generation\":2,\"secrets\":{");
	for (int i = 0; i < NSEC; i++)
		mlen += (size_t)snprintf(manifest + mlen, sizeof(manifest) - mlen,
					 "%s\"s%d\":{\"mode\":256,\"source\":\"local:k%d\","
					 "\"version\":\"v%d\"}",
					 i ? "," : "", i, i, i);
	mlen += (size_t)snprintf(manifest + mlen, sizeof(manifest) - mlen,
				 "},\"written_at\":1700000000}");
	printf("publish_floor: %d detached tmpfs targets x %d secrets, one changed, %d rounds per "
	       "variant [load %.2f]\n",
	       n, NSEC, rounds, load1());
	for (const char *v = vs; *v; v++) {
		double best = 1e18, sum = 0, cpu = 0, sbest = 1e18, scpu = 0;
		long pcalls = 0, scalls = 0;
		for (int i = 0; i < n; i++) {
			fds[i] = mount_one();
			first(fds[i]);
			if (*v != 'a')
				stage(fds[i], 2, *v);
		}
		memset(cls, 0, sizeof(cls));
		/* rounds untimed per class, then one round with the class clocks */
		for (int r = 0; r <= rounds; r++) {
			unsigned long g = (unsigned long)r + 2;
			double w0, c0, w1, c1;
			timed = r == rounds;
			calls = 0;
			w0 = now_ns(CLOCK_MONOTONIC);
			c0 = now_ns(CLOCK_PROCESS_CPUTIME_ID);
			for (int i = 0; i < n; i++)
				*v == 'a' ? pub_a(fds[i], g) : pub_staged(fds[i], g, *v);
			w1 = now_ns(CLOCK_MONOTONIC);
			c1 = now_ns(CLOCK_PROCESS_CPUTIME_ID);
			if (!timed) {
				best = w1 - w0 < best ? w1 - w0 : best;
				sum += w1 - w0;
				cpu += c1 - c0;
				pcalls = calls;
			}
			if (*v != 'a') {
				double sw0 = now_ns(CLOCK_MONOTONIC),
				       sc0 = now_ns(CLOCK_PROCESS_CPUTIME_ID);
				int was = timed;
				timed = 0;
				calls = 0;
				for (int i = 0; i < n; i++)
					stage(fds[i], g + 1, *v);
				timed = was;
				scalls = calls;
				if (!timed) {
					double sw = now_ns(CLOCK_MONOTONIC) - sw0;
					sbest = sw < sbest ? sw : sbest;
					scpu += now_ns(CLOCK_PROCESS_CPUTIME_ID) - sc0;
				}
			}
			for (int i = 0; i < n; i++)
				rm_gen(fds[i], g - 1);
		}
		printf("%c: critical path per target %.1f us best, %.1f us mean wall, %.1f us CPU, "
		       "%ld calls",
		       *v, best / 1e3 / n, sum / 1e3 / n / rounds, cpu / 1e3 / n / rounds,
		       pcalls / n);
		if (*v != 'a')
			printf("; staging %.1f us best wall, %.1f us CPU, %ld calls",
			       sbest / 1e3 / n, scpu / 1e3 / n / rounds, scalls / n);
		printf(" [load %.2f]\n   per class (us per target, timed round):", load1());
		for (int c = 0; c < NC; c++)
			if (cls[c] > 0)
				printf(" %s %.1f", cname[c], cls[c] / 1e3 / n);
		printf("\n");
		for (int i = 0; i < n; i++)
			close(fds[i]); /* detached: the tmpfs goes with its last fd */
	}
	free(fds);
	return 0;
}
