/* The vault provider's mounts and KV reads (see vault.h). A fetch's mount is looked up once
 * (sys/internal/ui/mounts); KV reads are the engine's coalesced reads, so a refresh of
 * 1,000 targets costs one request; MOUNT/issue/ROLE (or a source with params) issues a
 * certificate (vault_pki.c); any other mount is leased (vault_lease.c). */
#include "vault.h"
#include "cleanup.h"
#include "log.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct mount {
	char path[512]; /* "secret/" */
	bool kv;
	int version;
	struct mount *next;
};

struct vault_kv {
	int kv_version; /* the configured fallback, 0 = none */
	unsigned char hkey[crypto_generichash_KEYBYTES];
	struct mount *mounts;
	bool busy;
	lb_nst_waitq waiters; /* for the mount lookup */
	char lookup_path[512];
	struct vault_pki *pki; /* certificates (vault_pki.c) */
};

struct vault_pki *vault_pki_of(lb_nst *ns)
{
	return vault_kv_of(ns)->pki;
}

void vault_kv_release(lb_nst *ns, const char *target)
{
	vault_lease_release(ns, target);
	vault_pki_release(ns, target);
}

struct vault_kv *vault_kv_new(int kv_version)
{
	struct vault_kv *kv = calloc(1, sizeof(*kv));

	if (!kv)
		return NULL;
	kv->kv_version = kv_version;
	randombytes_buf(kv->hkey, sizeof(kv->hkey));
	if (!(kv->pki = vault_pki_new())) {
		free(kv);
		return NULL;
	}
	return kv;
}

void vault_kv_free(struct vault_kv *kv)
{
	if (!kv)
		return;
	while (kv->mounts) {
		struct mount *m = kv->mounts;
		kv->mounts = m->next;
		free(m);
	}
	sodium_memzero(kv->hkey, sizeof(kv->hkey));
	vault_pki_free(kv->pki);
	free(kv);
}

void vault_kv_version_hash(struct vault_kv *kv, const lb_secbuf *val, char *out, size_t cap)
{
	unsigned char h[8];
	char hex[17];

	crypto_generichash(h, sizeof(h), val->data, val->len, kv->hkey, sizeof(kv->hkey));
	sodium_bin2hex(hex, sizeof(hex), h, sizeof(h));
	snprintf(out, cap, "kv1-%s", hex);
}

static struct mount *mount_find(struct vault_kv *kv, const char *path)
{
	struct mount *best = NULL;

	for (struct mount *m = kv->mounts; m; m = m->next) {
		size_t n = strlen(m->path);
		if ((strncmp(path, m->path, n) == 0 ||
		     (strncmp(path, m->path, n - 1) == 0 && path[n - 1] == '\0')) &&
		    (!best || n > strlen(best->path)))
			best = m;
	}
	return best;
}

static void mount_add(lb_nst *ns, struct vault_kv *kv, const char *path, bool is_kv, int version)
{
	struct mount *m = calloc(1, sizeof(*m));

	if (!m)
		return;
	snprintf(m->path, sizeof(m->path), "%s%s", path,
		 path[0] && path[strlen(path) - 1] == '/' ? "" : "/");
	m->kv = is_kv;
	m->version = version;
	m->next = kv->mounts;
	kv->mounts = m;
	lb_log(LB_INFO, "vault store %s: mount %s is %s%s", lb_nst_name(ns), m->path,
	       is_kv ? "kv v" : "leased", is_kv ? (version == 2 ? "2" : "1") : "");
}

static void on_mount(lb_nst *ns, void *ctx, const lb_nst_reply *nr)
{
	struct vault_kv *kv = vault_kv_of(ns);
	lb_vault_reply r = vault_reply(nr);
	lb_nst_waitq list = kv->waiters;
	lb_nst_waiter *w;
	char err[500] = "", mpath[512];
	bool is_kv = false;
	int version = 1;

	(void)ctx;
	kv->busy = false;
	kv->waiters = (lb_nst_waitq){0};
	if (r.kind == LB_VAULT_OK && lb_vault_mount_parse(r.json, kv->lookup_path, mpath,
							  sizeof(mpath), &is_kv, &version) == 0) {
		mount_add(ns, kv, mpath, is_kv, version);
	} else if (r.kind == LB_VAULT_ERR && r.status == 403 && kv->kv_version) {
		char first[512];
		snprintf(first, sizeof(first), "%s", kv->lookup_path);
		first[strcspn(first, "/")] = '\0';
		lb_log(LB_INFO,
		       "vault store %s: mount of %s not readable (%s); using kv_version %d for %s/",
		       lb_nst_name(ns), kv->lookup_path, r.err, kv->kv_version, first);
		mount_add(ns, kv, first, true, kv->kv_version);
	} else if (r.kind == LB_VAULT_ERR && r.status == 403) {
		snprintf(err, sizeof(err),
			 "cannot tell whether this is KV v1, KV v2 or a leased secret: reading "
			 "sys/internal/ui/mounts/%s was refused (%s); grant read on it or set "
			 "\"kv_version\" in the store's configuration",
			 kv->lookup_path, r.err);
	} else {
		snprintf(err, sizeof(err), "looking up its mount: %s",
			 r.kind == LB_VAULT_OK ? "reply without data" : r.err);
	}
	while ((w = lb_nst_waitq_pop(&list))) {
		if (err[0] && (r.kind == LB_VAULT_FAULT ||
			       strcmp(lb_nst_waiter_src(w)->path, kv->lookup_path) == 0))
			lb_nst_waiter_fail(ns, w, "%s", err);
		else
			vault_kv_dispatch(ns, w);
	}
}

void vault_kv_dispatch(lb_nst *ns, lb_nst_waiter *w)
{
	struct vault_kv *kv = vault_kv_of(ns);
	const char *path = lb_nst_waiter_src(w)->path;
	struct mount *m = mount_find(kv, path);
	char p[700];

	if (m && m->kv) {
		lb_nst_read_join(ns, w);
		return;
	}
	if (m && (vault_pki_is_issue(m->path, path) || lb_nst_waiter_src(w)->params[0])) {
		vault_pki_fetch(ns, w); /* a write: a certificate */
		return;
	}
	if (m) {
		vault_lease_fetch(ns, w);
		return;
	}
	lb_nst_waitq_push(&kv->waiters, w);
	if (kv->busy)
		return;
	kv->busy = true;
	snprintf(kv->lookup_path, sizeof(kv->lookup_path), "%s", path);
	snprintf(p, sizeof(p), "sys/internal/ui/mounts/%s", path);
	vault_call(ns, "GET", p, NULL, LB_NST_CRED, on_mount, NULL);
}

/* The request path of a KV read: secret/data/web[?version=N] (v2) or secret/web (v1). */
static int kv_path(struct mount *m, const lb_source *src, char *out, size_t cap, lb_err *e)
{
	const char *rest = src->path + strlen(m->path);

	if (strlen(src->path) < strlen(m->path) || !*rest)
		return lb_fail(e, 0, "names the mount %s itself, not a secret in it", m->path);
	if (src->version[0] && m->version != 2)
		return lb_fail(e, 0, "?version=%s needs a KV v2 mount; %s is KV v1", src->version,
			       m->path);
	if (m->version == 2)
		snprintf(out, cap, "%sdata/%s%s%s", m->path, rest,
			 src->version[0] ? "?version=" : "", src->version);
	else
		snprintf(out, cap, "%s", src->path);
	return 0;
}

int vault_kv_read_request(lb_nst *ns, const lb_source *src, const char *target, lb_nst_req *req,
			  lb_err *e)
{
	struct mount *m = mount_find(vault_kv_of(ns), src->path);

	(void)target;
	if (!m)
		return lb_fail(e, 0, "no mount");
	if (kv_path(m, src, req->path, sizeof(req->path), e))
		return -1;
	snprintf(req->method, sizeof(req->method), "GET");
	snprintf(req->audit_path, sizeof(req->audit_path), "%s", req->path);
	req->audit_path[strcspn(req->audit_path, "?")] = '\0';
	snprintf(req->what, sizeof(req->what), "GET %s", req->audit_path);
	req->cred = LB_NST_CRED;
	return 0;
}

int vault_kv_read_parse(lb_nst *ns, const lb_source *src, const lb_nst_reply *nr,
			lb_fetch_result *res, lb_err *e)
{
	struct vault_kv *kv = vault_kv_of(ns);
	struct mount *m = mount_find(kv, src->path);
	lb_vault_reply r = vault_reply(nr);
	char vpath[1024];

	if (!m || kv_path(m, src, vpath, sizeof(vpath), e))
		return -1;
	vpath[strcspn(vpath, "?")] = '\0';
	res->structured = true;
	if (lb_vault_kv_parse(&r, m->version, src->version, vpath, &res->value, res->version,
			      sizeof(res->version), e) != 0) {
		if (!e->msg[0])
			lb_fail(e, 0, "read failed");
		return -1;
	}
	if (m->version != 2)
		vault_kv_version_hash(kv, res->value, res->version, sizeof(res->version));
	return 0;
}

void vault_kv_close(lb_nst *ns)
{
	lb_nst_waitq_fail(ns, &vault_kv_of(ns)->waiters, "store closed");
	vault_pki_close(ns);
}
