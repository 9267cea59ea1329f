/* The vault store's aws login (IAM method): a SigV4-signed sts:GetCallerIdentity request,
 * made with the AWS stores' credential chain (aws_creds.c) and signer (sigv4.c), handed to
 * Vault in its iam_* fields (base64), which Vault forwards to STS to learn who signed it.
 * The request is never sent to AWS by lockbox. Secret keys, session tokens and the signed
 * headers live only in secure buffers (and jansson's zeroing allocator). */
#include "vault.h"
#include "aws.h"
#include "cleanup.h"
#include "log.h"
#include "storeopts.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define STS_BODY	 "Action=GetCallerIdentity&Version=2011-06-15"
#define STS_CT		 "application/x-www-form-urlencoded; charset=utf-8"
#define SERVER_ID_HEADER "X-Vault-AWS-IAM-Server-ID"

struct vault_aws {
	lb_nst *ns;
	struct aws *chain;
	char *region, *url, *host, *server_id;
	vault_aws_cb cb;
};

/* "[\"v\"]" of a header for the JSON of http.Header (value: printable, no '"' or '\'). */
static int header_json(lb_secbuf *out, size_t *at, bool first, const char *name, const char *val)
{
	int n = snprintf((char *)out->data + *at, out->len - *at, "%s\"%s\":[\"%s\"]",
			 first ? "" : ",", name, val);

	if (n < 0 || (size_t)n >= out->len - *at)
		return -1;
	*at += (size_t)n;
	return 0;
}

static bool json_safe(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || *s == '"' || *s == '\\' ||
		    (unsigned char)*s >= 0x7f)
			return false;
	return true;
}

static lb_secbuf *b64(const void *p, size_t n)
{
	size_t cap = sodium_base64_ENCODED_LEN(n, sodium_base64_VARIANT_ORIGINAL);
	lb_secbuf *b = lb_secbuf_new(cap);

	if (!b)
		return NULL;
	sodium_bin2base64((char *)b->data, cap, p, n, sodium_base64_VARIANT_ORIGINAL);
	b->len = strlen((char *)b->data);
	return b;
}

/* The login body for the chain's current credentials; NULL with e. */
static json_t *login_body(struct vault_aws *x, const char *role, lb_err *e)
{
	lb_sigv4_creds creds;
	char ts[LB_SIGV4_DATE_SIZE];
	lb_sigv4_header sh[3] = {{"Host", x->host}, {"Content-Type", STS_CT}};
	size_t nh = 2, at = 1;
	lb_sigv4_signed sig = {0};
	_cleanup_secbuf_ lb_secbuf *hj = NULL, *hb = NULL, *ub = NULL, *bb = NULL;
	json_t *body;

	if (x->server_id)
		sh[nh++] = (lb_sigv4_header){SERVER_ID_HEADER, x->server_id};
	aws_chain_creds(x->chain, &creds);
	if (lb_sigv4_timestamp(time(NULL), ts, e) ||
	    lb_sigv4_sign(&(lb_sigv4_request){.method = "POST",
					      .path = "/",
					      .headers = sh,
					      .nheaders = nh,
					      .payload = STS_BODY,
					      .payload_len = strlen(STS_BODY),
					      .region = x->region,
					      .service = "sts",
					      .timestamp = ts,
					      .creds = &creds},
			  &sig, e)) {
		lb_fail_wrap(e, "signing sts:GetCallerIdentity");
		return NULL;
	}
	/* http.Header as JSON: {"Name":["value"],...}; every value here is JSON-safe ASCII
	 * (the signer's output, the host, a checked server_id). */
	hj = lb_secbuf_new(2 * LB_SIGV4_MAX_TOKEN + 4096);
	if (!hj) {
		lb_sigv4_signed_clear(&sig);
		lb_fail(e, ENOMEM, "out of secure memory");
		return NULL;
	}
	hj->data[0] = '{';
	int rc = 0;
	for (size_t i = 0; i < nh; i++)
		rc |= header_json(hj, &at, i == 0, sh[i].name, sh[i].value);
	for (size_t i = 0; i < sig.nadd; i++)
		rc |= !json_safe(sig.add[i].value) ||
		      header_json(hj, &at, false, sig.add[i].name, sig.add[i].value);
	lb_sigv4_signed_clear(&sig);
	if (rc || at + 2 > hj->len) {
		lb_fail(e, 0, "signed sts:GetCallerIdentity headers do not fit");
		return NULL;
	}
	hj->data[at++] = '}';
	hj->data[at] = '\0';
	hb = b64(hj->data, at);
	ub = b64(x->url, strlen(x->url));
	bb = b64(STS_BODY, strlen(STS_BODY));
	if (!hb || !ub || !bb) {
		lb_fail(e, ENOMEM, "out of secure memory");
		return NULL;
	}
	body = json_pack("{s:s,s:s,s:s%,s:s%,s:s%}", "role", role, "iam_http_request_method",
			 "POST", "iam_request_url", (const char *)ub->data, ub->len,
			 "iam_request_body", (const char *)bb->data, bb->len, "iam_request_headers",
			 (const char *)hb->data, hb->len);
	if (!body)
		lb_fail(e, 0, "role is not valid UTF-8");
	return body;
}

static void on_chain(void *ctx, const char *err)
{
	struct vault_aws *x = ctx;
	_cleanup_json_ json_t *body = NULL;
	lb_err e = {0};

	if (err) {
		x->cb(x->ns, NULL, err);
		return;
	}
	body = login_body(x, vault_auth_role(vault_auth_of(x->ns)), &e);
	x->cb(x->ns, body, body ? NULL : e.msg);
}

void vault_aws_login(struct vault_aws *x)
{
	aws_chain_get(x->chain);
}

struct vault_aws *vault_aws_new(lb_nst *ns, json_t *auth, vault_aws_cb cb, lb_err *e)
{
	struct vault_aws *x = calloc(1, sizeof(*x));
	_cleanup_free_ char *opt_ep = lb_opt_str(auth, NULL, "sts_endpoint");
	char def[300];
	const char *ep, *p;
	size_t n;

	if (!x) {
		lb_fail(e, ENOMEM, "out of memory");
		return NULL;
	}
	x->ns = ns;
	x->cb = cb;
	x->region = lb_opt_str(auth, NULL, "region");
	x->server_id = lb_opt_str(auth, NULL, "server_id");
	if (!x->region)
		x->region = strdup("us-east-1");
	x->chain = aws_chain_new(ns, "vault", on_chain, x);
	if (!x->region || !x->chain) {
		vault_aws_free(x);
		lb_fail(e, ENOMEM, "out of memory");
		return NULL;
	}
	if (strlen(x->region) > LB_SIGV4_MAX_SCOPE_PART ||
	    (x->server_id && (!json_safe(x->server_id) || strlen(x->server_id) > 256))) {
		vault_aws_free(x);
		lb_fail(e, 0, "aws auth: region or server_id is not valid");
		return NULL;
	}
	if (strcmp(x->region, "us-east-1") == 0)
		snprintf(def, sizeof(def), "https://sts.amazonaws.com/");
	else
		snprintf(def, sizeof(def), "https://sts.%s.amazonaws.com/", x->region);
	ep = opt_ep ? opt_ep : def;
	/* The request goes to the endpoint's root: https://HOST/ */
	p = strncmp(ep, "https://", 8) == 0 ? ep + 8 : ep;
	n = strcspn(p, "/?#");
	x->host = strndup(p, n);
	x->url = malloc(n + 10);
	if (!x->host || !x->url || !n || !json_safe(x->host)) {
		vault_aws_free(x);
		lb_fail(e, 0, "aws auth: sts_endpoint has no host");
		return NULL;
	}
	snprintf(x->url, n + 10, "https://%s/", x->host);
	return x;
}

void vault_aws_cancel(struct vault_aws *x)
{
	if (x)
		aws_creds_cancel(x->chain);
}

void vault_aws_free(struct vault_aws *x)
{
	if (!x)
		return;
	aws_chain_free(x->chain);
	free(x->region);
	free(x->url);
	free(x->host);
	free(x->server_id);
	free(x);
}
