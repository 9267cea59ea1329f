#include "sealed.h"
#include "store.h"
#include "cleanup.h"
#include "fsutil.h"
#include "layout.h"

#include <dirent.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define MAGIC	  "LBSEALED1\n"
#define MAGIC_LEN 10
#define HDR_LEN	  (MAGIC_LEN + 8 + 4 + crypto_secretstream_xchacha20poly1305_HEADERBYTES)
#define KEY_FILE  "sealed.key"
#define DIR_NAME  "sealed"
#define LOCK_FILE ".lock"

struct lb_sealed {
	int dirfd;	/* state_dir/sealed */
	lb_secbuf *key; /* secretstream key */
};

bool lb_sealed_name_valid(const char *name)
{
	const char *p = name, *slash;

	if (!*name || strlen(name) > 255)
		return false;
	for (;;) {
		char comp[LB_NAME_MAX + 1];
		size_t len;

		slash = strchr(p, '/');
		len = slash ? (size_t)(slash - p) : strlen(p);
		if (len == 0 || len > LB_NAME_MAX)
			return false;
		memcpy(comp, p, len);
		comp[len] = '\0';
		if (!lb_secret_name_valid(comp))
			return false;
		if (!slash)
			return true;
		p = slash + 1;
	}
}

/* '/' is stored as '+', which names cannot contain. */
static void file_name(const char *name, uint32_t version, char *buf, size_t cap)
{
	size_t i;

	for (i = 0; name[i] && i + 1 < cap; i++) {
		buf[i] = name[i];
		if (buf[i] == '/')
			buf[i] = '+';
	}
	buf[i] = '\0';
	snprintf(buf + i, cap - i, ".v%u", version);
}

/* Splits "web+api_key.v3" into name "web/api_key" and 3. */
static bool parse_file_name(const char *f, char *name, size_t cap, uint32_t *version)
{
	const char *dot = strrchr(f, '.');
	char *end;
	unsigned long v;
	size_t len;

	if (!dot || dot[1] != 'v' || !dot[2])
		return false;
	v = strtoul(dot + 2, &end, 10);
	if (*end || v == 0 || v > UINT32_MAX)
		return false;
	len = (size_t)(dot - f);
	if (len == 0 || len >= cap)
		return false;
	for (size_t i = 0; i < len; i++) {
		name[i] = f[i];
		if (name[i] == '+')
			name[i] = '/';
	}
	name[len] = '\0';
	*version = (uint32_t)v;
	return lb_sealed_name_valid(name);
}

static int lock_store(int dirfd, lb_err *e)
{
	int fd = openat(dirfd, LOCK_FILE, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);

	if (fd < 0)
		return lb_fail_errno(e, "open sealed/%s", LOCK_FILE);
	if (flock(fd, LOCK_EX) < 0) {
		lb_fail_errno(e, "lock sealed/%s", LOCK_FILE);
		close(fd);
		return -1;
	}
	return fd;
}

static int load_key(int state_dirfd, bool create, lb_secbuf **out, lb_err *e)
{
	_cleanup_secbuf_ lb_secbuf *key = NULL;
	lb_err ignored;
	struct stat st;

	if (lb_read_secret_at(state_dirfd, KEY_FILE, 64, &key, &ignored) == 0) {
		if (key->len != crypto_secretstream_xchacha20poly1305_KEYBYTES)
			return lb_fail(e, 0, "%s has the wrong size (%zu bytes)", KEY_FILE,
				       key->len);
		*out = steal_ptr(key);
		return 0;
	}
	if (fstatat(state_dirfd, KEY_FILE, &st, AT_SYMLINK_NOFOLLOW) == 0 || !create)
		return lb_fail(e, ignored.sys, "cannot read %s: %s", KEY_FILE, ignored.msg);
	key = lb_secbuf_new(crypto_secretstream_xchacha20poly1305_KEYBYTES);
	if (!key)
		return lb_fail(e, ENOMEM, "out of secure memory");
	crypto_secretstream_xchacha20poly1305_keygen(key->data);
	/* fsync'd with its directory entry: sealed files that outlived a power loss are no use
	 * without it. Never over a key that is there (the caller holds the store's lock, so a
	 * second creator waits and then reads this one). */
	if (lb_write_create_at(state_dirfd, KEY_FILE, key->data, key->len, 0400, e))
		return -1;
	*out = steal_ptr(key);
	return 0;
}

int lb_sealed_open(int state_dirfd, bool create, lb_sealed **out, lb_err *e)
{
	_cleanup_close_ int lock = -1;
	lb_sealed *s = calloc(1, sizeof(*s));

	if (!s)
		return lb_fail(e, ENOMEM, "out of memory");
	s->dirfd = -1;
	if (create && mkdirat(state_dirfd, DIR_NAME, 0700) == 0) {
		/* New: its name in state_dir must reach the disk before files are sealed in it. */
		if (lb_sync_dir(state_dirfd, DIR_NAME, e))
			goto fail;
	} else if (create && errno != EEXIST) {
		lb_fail_errno(e, "mkdir %s", DIR_NAME);
		goto fail;
	}
	s->dirfd = lb_open_dir_at(state_dirfd, DIR_NAME, e);
	if (s->dirfd < 0)
		goto fail;
	/* lockboxctl offline and lockboxd starting for the first time at once make one key. */
	lock = create ? lock_store(s->dirfd, e) : -1;
	if ((create && lock < 0) || load_key(state_dirfd, create, &s->key, e))
		goto fail;
	*out = s;
	return 0;
fail:
	lb_sealed_close(s);
	return -1;
}

void lb_sealed_close(lb_sealed *s)
{
	if (!s)
		return;
	if (s->dirfd >= 0)
		close(s->dirfd);
	lb_secbuf_free(s->key);
	free(s);
}

struct versions {
	const char *name;
	uint32_t *vers;
	size_t cap, n;
};

static int version_entry(int dirfd, const char *fname, void *arg)
{
	struct versions *w = arg;
	char nm[300];
	uint32_t v;

	(void)dirfd;
	if (parse_file_name(fname, nm, sizeof(nm), &v) && strcmp(nm, w->name) == 0 && w->n < w->cap)
		w->vers[w->n++] = v;
	return 0;
}

/* Versions of name present on disk, ascending; returns count (≤ cap). */
static size_t list_versions(lb_sealed *s, const char *name, uint32_t *vers, size_t cap)
{
	struct versions w = {.name = name, .vers = vers, .cap = cap};
	size_t n;
	lb_err ignored;

	if (lb_dir_each(s->dirfd, ".", version_entry, &w, &ignored))
		return 0;
	n = w.n;
	for (size_t i = 1; i < n; i++)
		for (size_t j = i; j > 0 && vers[j - 1] > vers[j]; j--) {
			uint32_t t = vers[j];
			vers[j] = vers[j - 1];
			vers[j - 1] = t;
		}
	return n;
}

static void make_ad(unsigned char *ad, size_t *adlen, const unsigned char *hdr, const char *name)
{
	memcpy(ad, hdr, MAGIC_LEN + 12);
	// NOLINTNEXTLINE(bugprone-not-null-terminated-result): binary AD, its length is *adlen
	memcpy(ad + MAGIC_LEN + 12, name, strlen(name));
	*adlen = MAGIC_LEN + 12 + strlen(name);
}

int lb_sealed_put(lb_sealed *s, const char *name, const lb_secbuf *value, uint32_t *version,
		  lb_err *e)
{
	_cleanup_close_ int lock = -1;
	_cleanup_free_ unsigned char *file = NULL;
	crypto_secretstream_xchacha20poly1305_state st;
	unsigned char ad[MAGIC_LEN + 12 + 256];
	uint32_t vers[4096], v;
	uint64_t created = (uint64_t)time(NULL);
	size_t n, adlen, flen;
	char fname[300];

	if (!lb_sealed_name_valid(name))
		return lb_fail(e, 0, "bad sealed secret name \"%s\"", name);
	if (value->len > LB_SEALED_VALUE_MAX)
		return lb_fail(e, 0, "secret %s: value larger than %d bytes", name,
			       LB_SEALED_VALUE_MAX);
	lock = lock_store(s->dirfd, e);
	if (lock < 0)
		return -1;
	n = list_versions(s, name, vers, 4096);
	v = n ? vers[n - 1] + 1 : 1;
	flen = HDR_LEN + value->len + crypto_secretstream_xchacha20poly1305_ABYTES;
	file = malloc(flen);
	if (!file)
		return lb_fail(e, ENOMEM, "out of memory");
	memcpy(file, MAGIC, MAGIC_LEN);
	for (int i = 0; i < 8; i++)
		file[MAGIC_LEN + i] = (unsigned char)(created >> (8 * i));
	for (int i = 0; i < 4; i++)
		file[MAGIC_LEN + 8 + i] = (unsigned char)(v >> (8 * i));
	crypto_secretstream_xchacha20poly1305_init_push(&st, file + MAGIC_LEN + 12, s->key->data);
	make_ad(ad, &adlen, file, name);
	crypto_secretstream_xchacha20poly1305_push(&st, file + HDR_LEN, NULL, value->data,
						   value->len, ad, adlen,
						   crypto_secretstream_xchacha20poly1305_TAG_FINAL);
	sodium_memzero(&st, sizeof(st));
	file_name(name, v, fname, sizeof(fname));
	if (lb_write_replace_at(s->dirfd, fname, file, flen, 0400, e))
		return -1;
	/* Keep the newest few versions for pinning; older ones are wiped. */
	for (size_t i = 0; i + LB_SEALED_KEEP < n + 1; i++) {
		lb_err ignored;
		file_name(name, vers[i], fname, sizeof(fname));
		lb_remove_tree_at(s->dirfd, fname, true, &ignored);
	}
	*version = v;
	return 0;
}

int lb_sealed_get(lb_sealed *s, const char *name, uint32_t version, lb_secbuf **out,
		  uint32_t *got_version, lb_err *e)
{
	_cleanup_free_ char *file = NULL;
	_cleanup_secbuf_ lb_secbuf *plain = NULL;
	crypto_secretstream_xchacha20poly1305_state st;
	unsigned char ad[MAGIC_LEN + 12 + 256], tag = 0;
	unsigned long long plen = 0;
	uint32_t vers[4096], fv = 0;
	size_t flen, adlen;
	char fname[300];

	if (!lb_sealed_name_valid(name))
		return lb_fail(e, 0, "bad sealed secret name \"%s\"", name);
	if (version == 0) {
		size_t n = list_versions(s, name, vers, 4096);
		if (n == 0)
			return lb_fail(e, ENOENT, "sealed secret %s does not exist", name);
		version = vers[n - 1];
	}
	file_name(name, version, fname, sizeof(fname));
	if (lb_read_at(s->dirfd, fname, HDR_LEN + LB_SEALED_VALUE_MAX + 64, &file, &flen, e))
		return errno == ENOENT
			   ? lb_fail(e, ENOENT, "sealed secret %s version %u does not exist", name,
				     version)
			   : lb_fail_wrap(e, "sealed secret %s", name);
	if (flen < HDR_LEN + crypto_secretstream_xchacha20poly1305_ABYTES ||
	    memcmp(file, MAGIC, MAGIC_LEN) != 0)
		return lb_fail(e, 0,
			       "sealed secret %s version %u (sealed/%s): truncated or not a "
			       "sealed file",
			       name, version, fname);
	for (int i = 0; i < 4; i++)
		fv |= (uint32_t)(unsigned char)file[MAGIC_LEN + 8 + i] << (8 * i);
	make_ad(ad, &adlen, (unsigned char *)file, name);
	plain = lb_secbuf_new(flen - HDR_LEN - crypto_secretstream_xchacha20poly1305_ABYTES);
	if (!plain)
		return lb_fail(e, ENOMEM, "out of secure memory");
	if (fv != version ||
	    crypto_secretstream_xchacha20poly1305_init_pull(
		&st, (unsigned char *)file + MAGIC_LEN + 12, s->key->data) != 0 ||
	    crypto_secretstream_xchacha20poly1305_pull(&st, plain->data, &plen, &tag,
						       (unsigned char *)file + HDR_LEN,
						       flen - HDR_LEN, ad, adlen) != 0 ||
	    tag != crypto_secretstream_xchacha20poly1305_TAG_FINAL) {
		sodium_memzero(&st, sizeof(st));
		return lb_fail(e, EBADMSG,
			       "sealed secret %s version %u (sealed/%s) failed authentication: "
			       "tampered, truncated or sealed under another key",
			       name, version, fname);
	}
	sodium_memzero(&st, sizeof(st));
	plain->len = (size_t)plen;
	*out = steal_ptr(plain);
	if (got_version)
		*got_version = version;
	return 0;
}

int lb_sealed_rm(lb_sealed *s, const char *name, lb_err *e)
{
	_cleanup_close_ int lock = -1;
	uint32_t vers[4096];
	size_t n;

	if (!lb_sealed_name_valid(name))
		return lb_fail(e, 0, "bad sealed secret name \"%s\"", name);
	lock = lock_store(s->dirfd, e);
	if (lock < 0)
		return -1;
	n = list_versions(s, name, vers, 4096);
	if (n == 0)
		return lb_fail(e, ENOENT, "sealed secret %s does not exist", name);
	for (size_t i = 0; i < n; i++) {
		char fname[300];
		file_name(name, vers[i], fname, sizeof(fname));
		if (lb_remove_tree_at(s->dirfd, fname, true, e))
			return -1;
	}
	/* A removed secret stays removed across a power loss. */
	return lb_sync_dir(s->dirfd, DIR_NAME, e);
}

static int cmp_name(const void *a, const void *b)
{
	return strcmp(json_string_value(json_object_get(*(json_t *const *)a, "name")),
		      json_string_value(json_object_get(*(json_t *const *)b, "name")));
}

static int list_entry(int dirfd, const char *fname, void *arg)
{
	json_t *by_name = arg, *ent;
	char nm[300];
	uint32_t ver;
	struct stat st;

	if (!parse_file_name(fname, nm, sizeof(nm), &ver) ||
	    fstatat(dirfd, fname, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return 0;
	ent = json_object_get(by_name, nm);
	if (!ent) {
		ent = json_pack("{s:s,s:i,s:i,s:I}", "name", nm, "version", 0, "versions", 0,
				"created", (json_int_t)0);
		json_object_set_new(by_name, nm, ent);
	}
	json_object_set_new(ent, "versions",
			    json_integer(json_integer_value(json_object_get(ent, "versions")) + 1));
	if (ver > json_integer_value(json_object_get(ent, "version"))) {
		json_object_set_new(ent, "version", json_integer(ver));
		json_object_set_new(ent, "created", json_integer(st.st_mtim.tv_sec));
	}
	return 0;
}

json_t *lb_sealed_list(lb_sealed *s, lb_err *e)
{
	_cleanup_json_ json_t *by_name = json_object();
	json_t *arr, *v;
	const char *k;
	size_t n = 0, i = 0;
	json_t **items;

	if (lb_dir_each(s->dirfd, ".", list_entry, by_name, e)) {
		lb_fail_wrap(e, "sealed/");
		return NULL;
	}
	items = calloc(json_object_size(by_name) + 1, sizeof(json_t *));
	if (!items)
		return NULL;
	json_object_foreach (by_name, k, v)
		items[n++] = v;
	qsort(items, n, sizeof(json_t *), cmp_name);
	arr = json_array();
	for (i = 0; i < n; i++)
		json_array_append(arr, items[i]);
	free(items);
	return arr;
}

/* --- the store vtable --- */

static int sealed_store_open(lb_store *st, lb_err *e)
{
	lb_sealed *s;

	if (lb_sealed_open(st->env.state_dirfd, true, &s, e))
		return -1;
	st->priv = s;
	return 0;
}

static void sealed_store_fetch(lb_store *st, const lb_source *src, const char *target,
			       lb_fetch_cb cb, void *ctx)
{
	lb_fetch_result r = {0};
	lb_err e = {0};
	uint32_t want = 0, got = 0;

	(void)target;
	if (src->version[0]) {
		char *end;
		unsigned long v = strtoul(src->version, &end, 10);
		if (*end || v == 0 || v > UINT32_MAX) {
			r.status = -1;
			snprintf(r.error, sizeof(r.error), "%s:%s: version must be a number",
				 src->store, src->path);
			cb(ctx, &r);
			return;
		}
		want = (uint32_t)v;
	}
	if (lb_sealed_get(st->priv, src->path, want, &r.value, &got, &e)) {
		r.status = -1;
		snprintf(r.error, sizeof(r.error), "%s", e.msg);
	} else {
		snprintf(r.version, sizeof(r.version), "%u", got);
	}
	cb(ctx, &r);
	lb_secbuf_free(r.value);
}

static void sealed_store_close(lb_store *st)
{
	lb_sealed_close(st->priv);
}

const lb_store_ops lb_sealed_ops = {
    .type = "sealed",
    .open = sealed_store_open,
    .fetch = sealed_store_fetch,
    .close = sealed_store_close,
};

lb_sealed *lb_store_sealed(struct lb_store *s)
{
	return s && s->ops == &lb_sealed_ops ? s->priv : NULL;
}
