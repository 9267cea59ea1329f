/* Vault reply parsing (see vault_parse.h). */
#include "vault_parse.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>

void lb_vault_errors(json_t *j, char *buf, size_t cap)
{
	json_t *errs = json_object_get(j, "errors"), *e;
	size_t i, o = 0;

	if (!cap)
		return;
	buf[0] = '\0';
	json_array_foreach (errs, i, e) {
		const char *s = json_string_value(e);
		const char *star;

		if (!s)
			continue;
		star = strstr(s, "occurred:") ? strstr(s, "* ") : NULL;
		if (!star) {
			o += (size_t)snprintf(buf + o, o < cap ? cap - o : 0, "%s%s", o ? "; " : "",
					      s);
			if (o >= cap)
				break;
			continue;
		}
		while (star && o < cap) {
			const char *end = strchr(star, '\n');
			int len = end ? (int)(end - star - 2) : (int)strlen(star + 2);

			o += (size_t)snprintf(buf + o, o < cap ? cap - o : 0, "%s%.*s",
					      o ? ", " : "", len, star + 2);
			star = end ? strstr(end, "* ") : NULL;
		}
		if (o >= cap)
			break;
	}
	/* Non-printable bytes from the server never reach a log line. */
	for (char *p = buf; *p; p++)
		if (!isprint((unsigned char)*p))
			*p = ' ';
}

void lb_vault_reply_parse(lb_vault_reply *r, long status, const unsigned char *body, size_t len)
{
	r->status = status;
	r->json = NULL;
	r->err[0] = '\0';
	if (body && len)
		r->json = json_loadb((const char *)body, len, 0, NULL);
	if (r->json && !json_is_object(r->json)) {
		json_decref(r->json);
		r->json = NULL;
	}
	if (status == 429 || status >= 500) {
		char msg[300];

		lb_vault_errors(r->json, msg, sizeof(msg));
		r->kind = LB_VAULT_FAULT;
		snprintf(r->err, sizeof(r->err), "%s (HTTP %ld)", msg[0] ? msg : "server error",
			 status);
	} else if (status >= 200 && status < 300) {
		r->kind = LB_VAULT_OK;
		if (body && len && !r->json) {
			r->kind = LB_VAULT_FAULT;
			snprintf(r->err, sizeof(r->err), "malformed JSON reply (HTTP %ld)", status);
		}
	} else {
		r->kind = LB_VAULT_ERR;
		lb_vault_errors(r->json, r->err, sizeof(r->err));
		if (!r->err[0])
			snprintf(r->err, sizeof(r->err), "HTTP %ld", status);
	}
}

lb_secbuf *lb_vault_secbuf_from_json(json_t *j)
{
	char *dump = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY);
	lb_secbuf *b;

	if (!dump)
		return NULL;
	b = lb_secbuf_dup(dump, strlen(dump));
	lb_json_free(dump);
	return b;
}

/* "secret/" (or "secret") is the mount of "secret/web" and of "secret". */
static bool mount_prefixes(const char *mount, const char *path)
{
	size_t n = strlen(mount);

	if (n && mount[n - 1] == '/')
		n--;
	return n && strncmp(path, mount, n) == 0 && (path[n] == '/' || path[n] == '\0');
}

int lb_vault_mount_parse(json_t *reply, const char *asked, char *mpath, size_t cap, bool *kv,
			 int *version)
{
	json_t *d = json_object_get(reply, "data");
	const char *type, *path, *ver;
	char first[512];

	if (!json_is_object(d))
		return -1;
	type = json_string_value(json_object_get(d, "type"));
	path = json_string_value(json_object_get(d, "path"));
	ver = json_string_value(json_object_get(json_object_get(d, "options"), "version"));
	*kv = type && (strcmp(type, "kv") == 0 || strcmp(type, "generic") == 0);
	*version = ver && strcmp(ver, "2") == 0 ? 2 : 1;
	if (!path || !*path) {
		snprintf(first, sizeof(first), "%s", asked);
		first[strcspn(first, "/")] = '\0';
		path = first;
	}
	/* In a namespace Vault answers "NS/secret/"; the path we asked about has no NS
	 * prefix. Drop leading components until the mount prefixes it (as the vault CLI's
	 * addPrefixToKVPath does). */
	while (!mount_prefixes(path, asked) && strchr(path, '/') && strchr(path, '/')[1])
		path = strchr(path, '/') + 1;
	snprintf(mpath, cap, "%s", path);
	return 0;
}

int lb_vault_kv_parse(const lb_vault_reply *r, int kv_version, const char *pinned,
		      const char *vpath, lb_secbuf **value, char *version, size_t vcap, lb_err *e)
{
	json_t *d = json_object_get(r->json, "data");
	json_t *data = kv_version == 2 ? json_object_get(d, "data") : d;

	*value = NULL;
	version[0] = '\0';
	if (r->kind == LB_VAULT_OK && json_is_object(data)) {
		*value = lb_vault_secbuf_from_json(data);
		if (!*value)
			return lb_fail(e, ENOMEM, "out of secure memory");
		if (kv_version == 2)
			snprintf(version, vcap, "%lld",
				 (long long)json_integer_value(
				     json_object_get(json_object_get(d, "metadata"), "version")));
		return 0;
	}
	if (r->kind == LB_VAULT_OK) {
		lb_fail(e, 0, "reply has no data object");
	} else if (r->status == 404 && kv_version == 2 &&
		   json_is_object(json_object_get(d, "metadata"))) {
		json_t *md = json_object_get(d, "metadata");
		const char *dt = json_string_value(json_object_get(md, "deletion_time"));
		long long n = (long long)json_integer_value(json_object_get(md, "version"));

		if (json_is_true(json_object_get(md, "destroyed")))
			lb_fail(e, 0, "version %lld is destroyed", n);
		else if (dt && *dt)
			lb_fail(e, 0, "version %lld is deleted (since %.40s)", n, dt);
		else
			lb_fail(e, 0, "version %lld has no data", n);
		/* The timestamp came from the server. */
		for (char *p = e->msg; *p; p++)
			if (!isprint((unsigned char)*p))
				*p = ' ';
	} else if (r->status == 404) {
		if (pinned[0])
			lb_fail(e, 0, "version %s not found", pinned);
		else
			lb_fail(e, 0, "not found");
	} else if (r->status == 403) {
		lb_fail(e, 0, "%s: the token's policies do not grant read on %s", r->err, vpath);
	} else {
		lb_fail(e, 0, "%s", r->err);
	}
	return -1;
}

int lb_vault_lease_parse(const lb_vault_reply *r, const char *path, lb_secbuf **value, char *id,
			 size_t idcap, int64_t *duration, bool *renewable, lb_err *e)
{
	json_t *d = json_object_get(r->json, "data");
	const char *lid = json_string_value(json_object_get(r->json, "lease_id"));

	*value = NULL;
	id[0] = '\0';
	if (r->kind == LB_VAULT_OK && json_is_object(d)) {
		*value = lb_vault_secbuf_from_json(d);
		if (!*value)
			return lb_fail(e, ENOMEM, "out of secure memory");
		snprintf(id, idcap, "%s", lid ? lid : "");
		*duration = json_integer_value(json_object_get(r->json, "lease_duration"));
		if (*duration < 0)
			*duration = 0;
		*renewable = json_is_true(json_object_get(r->json, "renewable"));
		return 0;
	}
	if (r->kind == LB_VAULT_OK)
		lb_fail(e, 0, "reply has no data object");
	else if (r->status == 403)
		lb_fail(e, 0, "%s: the token's policies do not grant read on %s", r->err, path);
	else
		lb_fail(e, 0, "%s", r->err[0] ? r->err : "read failed");
	return -1;
}

int lb_vault_login_parse(json_t *reply, lb_secbuf **token, int64_t *ttl, bool *renewable)
{
	json_t *a = json_object_get(reply, "auth");
	json_t *t = json_object_get(a, "client_token");
	const char *tok = json_string_value(t);

	*token = NULL;
	if (!tok || !*tok)
		return -1;
	/* It goes into a header line: visible ASCII only (no CR/LF from the server). */
	for (const char *p = tok; *p; p++)
		if (*p < 0x21 || *p > 0x7e)
			return -1;
	*token = lb_secbuf_dup(tok, strlen(tok));
	if (!*token)
		return -1;
	*ttl = json_integer_value(json_object_get(a, "lease_duration"));
	if (*ttl < 0)
		*ttl = 0;
	*renewable = json_is_true(json_object_get(a, "renewable"));
	return 0;
}
