/* The vault provider's PKI certificates (issue 17; see vault.h). A source MOUNT/issue/ROLE
 * (with the secret's "params") is a write that issues a certificate. Every field of one
 * (path, params) for one target comes from one issue call: the fields are kept, in secure
 * memory, until 2/3 of the certificate's lifetime (up to a tenth of it earlier, jitter),
 * when the target is asked to refresh and its next fetch issues a new one; the target then
 * gets certificate, key, chain and bundle in one generation. Nothing is persisted: the key
 * exists in this process and the target's tmpfs only, and a restarted broker issues new
 * certificates (the old ones expire by themselves). */
#include "vault.h"
#include "cleanup.h"
#include "layout.h"
#include "log.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct cert {
	char target[LB_NAME_MAX + 1];
	lb_source src;	  /* path and params (no field) */
	lb_secbuf *value; /* the fields (lb_vault_pki_parse), NULL before the first issue */
	char serial[64];
	int64_t not_after;
	bool issuing, due, released;
	lb_timer *timer;
	lb_nst_waitq waiters;
	lb_nst *ns;
	struct cert *next;
};

struct vault_pki {
	struct cert *certs;
};

struct vault_pki *vault_pki_new(void)
{
	return calloc(1, sizeof(struct vault_pki));
}

static void cert_free(struct cert *c)
{
	lb_nst_call_cancel(c->ns, c);
	lb_timer_free(c->timer);
	lb_secbuf_free(c->value);
	free(c);
}

static void cert_unlink(struct vault_pki *p, struct cert *c)
{
	for (struct cert **q = &p->certs; *q; q = &(*q)->next)
		if (*q == c) {
			*q = c->next;
			return;
		}
}

void vault_pki_free(struct vault_pki *p)
{
	if (!p)
		return;
	while (p->certs) {
		struct cert *c = p->certs;
		p->certs = c->next;
		lb_timer_free(c->timer);
		lb_secbuf_free(c->value);
		free(c);
	}
	free(p);
}

/* Is path MOUNT/issue/ROLE on the mount m ("pki/")? */
bool vault_pki_is_issue(const char *mount, const char *path)
{
	const char *rel = path + strlen(mount);

	return strlen(path) > strlen(mount) && strncmp(rel, "issue/", 6) == 0 && rel[6] &&
	       !strchr(rel + 6, '/');
}

static void cert_result(const struct cert *c, lb_fetch_result *res)
{
	memset(res, 0, sizeof(*res));
	res->structured = true;
	res->value = c->value;
	res->not_after = c->not_after;
	/* The serial is the version: lockboxctl targets and the manifest show it. */
	snprintf(res->version, sizeof(res->version), "%s", c->serial);
}

static void on_cert_timer(lb_loop *loop, lb_timer *t, void *ctx)
{
	struct cert *c = ctx;

	(void)loop;
	(void)t;
	c->due = true;
	lb_log(LB_INFO,
	       "vault store %s: target %s: certificate %s of %s is at 2/3 of its life; "
	       "issuing a new one",
	       lb_nst_name(c->ns), c->target, c->serial, c->src.path);
	lb_nst_request_refresh(c->ns, c->target);
}

/* New at 2/3 of the lifetime, up to a tenth of it earlier (jitter: certificates issued
 * together do not all come back at once). */
static void cert_schedule(struct cert *c)
{
	int64_t life_ms = (c->not_after - (int64_t)time(NULL)) * 1000;
	uint64_t at, jitter;

	if (!c->timer)
		c->timer = lb_timer_new(lb_nst_store(c->ns)->env.loop, on_cert_timer, c);
	if (!c->timer)
		return;
	if (life_ms < 3000)
		life_ms = 3000;
	at = (uint64_t)life_ms * 2 / 3;
	jitter = randombytes_uniform((uint32_t)((uint64_t)life_ms / 10 > UINT32_MAX - 1
						    ? UINT32_MAX - 1
						    : (uint64_t)life_ms / 10 + 1));
	lb_timer_arm(c->timer, at > jitter + 1000 ? at - jitter : 1000);
}

static void on_issue(lb_nst *ns, void *ctx, const lb_nst_reply *nr)
{
	lb_vault_reply r = vault_reply(nr);
	struct cert *c = ctx;
	lb_nst_waitq list = c->waiters;
	lb_nst_waiter *w;
	lb_secbuf *value = NULL;
	char serial[64];
	int64_t not_after = 0;
	lb_fetch_result res;
	lb_err e = {0};

	c->issuing = false;
	c->waiters = (lb_nst_waitq){0};
	if (lb_vault_pki_parse(&r, &value, serial, sizeof(serial), &not_after, &e) == 0) {
		lb_secbuf_free(c->value);
		c->value = value;
		c->not_after = not_after;
		c->due = false;
		snprintf(c->serial, sizeof(c->serial), "%s", serial);
		lb_audit("certificate_issued",
			 json_pack("{s:s,s:s,s:s,s:s,s:I}", "store", lb_nst_name(ns), "target",
				   c->target, "path", c->src.path, "serial", c->serial, "not_after",
				   (json_int_t)c->not_after));
		cert_schedule(c);
	}
	while ((w = lb_nst_waitq_pop(&list))) {
		if (e.msg[0]) {
			lb_nst_waiter_fail(ns, w, "issuing a certificate: %s", e.msg);
		} else {
			cert_result(c, &res);
			lb_nst_waiter_reply(w, &res);
		}
	}
	if (c->released) {
		cert_unlink(vault_pki_of(ns), c);
		cert_free(c);
	}
}

static struct cert *cert_find(struct vault_pki *p, const char *target, const lb_source *src)
{
	for (struct cert *c = p->certs; c; c = c->next)
		if (!c->released && strcmp(c->target, target) == 0 &&
		    strcmp(c->src.path, src->path) == 0 && strcmp(c->src.params, src->params) == 0)
			return c;
	return NULL;
}

void vault_pki_fetch(lb_nst *ns, lb_nst_waiter *w)
{
	struct vault_pki *p = vault_pki_of(ns);
	const lb_source *src = lb_nst_waiter_src(w);
	struct cert *c;
	_cleanup_json_ json_t *body = NULL;
	lb_fetch_result res;

	if (!p) {
		lb_nst_waiter_fail(ns, w, "out of memory");
		return;
	}
	if (src->version[0]) {
		lb_nst_waiter_fail(ns, w, "?version= does not apply to certificates");
		return;
	}
	c = cert_find(p, lb_nst_waiter_target(w), src);
	if (c && c->issuing) {
		lb_nst_waitq_push(&c->waiters, w);
		return;
	}
	if (c && c->value && !c->due && c->not_after > (int64_t)time(NULL)) {
		cert_result(c, &res);
		lb_nst_waiter_reply(w, &res);
		return;
	}
	body = src->params[0] ? json_loads(src->params, 0, NULL) : json_object();
	if (!json_is_object(body)) {
		lb_nst_waiter_fail(ns, w, "bad params");
		return;
	}
	if (!c) {
		if (!(c = calloc(1, sizeof(*c)))) {
			lb_nst_waiter_fail(ns, w, "out of memory");
			return;
		}
		c->ns = ns;
		snprintf(c->target, sizeof(c->target), "%s", lb_nst_waiter_target(w));
		c->src = *src;
		c->src.field[0] = '\0';
		c->next = p->certs;
		p->certs = c;
	}
	c->issuing = true;
	lb_nst_waitq_push(&c->waiters, w);
	vault_call(ns, "POST", src->path, body, LB_NST_CRED, on_issue, c);
}

void vault_pki_release(lb_nst *ns, const char *target)
{
	struct vault_pki *p = vault_pki_of(ns);
	struct cert **q;

	if (!p)
		return;
	for (q = &p->certs; *q;) {
		struct cert *c = *q;
		if (strcmp(c->target, target) != 0) {
			q = &c->next;
			continue;
		}
		if (c->issuing) {
			c->released = true; /* dropped once its answer is in */
			q = &c->next;
			continue;
		}
		*q = c->next;
		cert_free(c);
	}
}

void vault_pki_close(lb_nst *ns)
{
	struct vault_pki *p = vault_pki_of(ns);

	for (struct cert *c = p ? p->certs : NULL; c; c = c->next) {
		lb_nst_waitq_fail(ns, &c->waiters, "store closed");
		c->issuing = false;
		if (c->timer)
			lb_timer_disarm(c->timer);
	}
}
