/* AWS Secrets Manager (aws-sm) and SSM Parameter Store (aws-ssm) stores.
 *
 * A provider of the network-store engine (netstore.h), which shares reads, queues them
 * while credentials are fetched and backs off. JSON 1.1 over HTTPS (POST /, X-Amz-Target),
 * signed with SigV4 (sigv4.c) when sent. Credentials (aws_creds.c)
 * come from the first source that has them: the store's files, lockboxd's AWS_* environment,
 * the shared credentials file, ECS container credentials, EC2 IMDSv2; temporary ones are
 * fetched again before their Expiration (at the first request after the refresh point, so
 * an idle broker never wakes up). Errors are classified by the reply's __type (aws_parse.c),
 * not its HTTP status (AWS answers throttling and signature errors alike with 400): throttling and
 * server faults put the store in a capped exponential backoff with jitter; an expired token
 * refreshes the credentials and replays the request once; a refused signature or key drops
 * the credentials (re-read at the next attempt) and backs off, so it is never retried in a
 * loop. Secret keys, session tokens and values live only in lb_secbuf. */
#include "aws.h"
#include "aws_parse.h"
#include "cleanup.h"
#include "storeopts.h"
#include "log.h"

#include <ctype.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define JSON_CT "application/x-amz-json-1.1"

/* VersionId: 32..64 of [0-9a-fA-F-] (AWS makes UUIDs); anything else is a staging label. */
static bool is_version_id(const char *v)
{
	size_t n = strlen(v);

	if (n < 32 || n > 64)
		return false;
	for (; *v; v++)
		if (!isxdigit((unsigned char)*v) && *v != '-')
			return false;
	return true;
}

static int aws_read_request(lb_nst *ns, const lb_source *src, const char *target, lb_nst_req *req,
			    lb_err *e)
{
	struct aws *a = lb_nst_data(ns);
	_cleanup_json_ json_t *body = NULL;
	char name[600];
	char *dump;

	(void)target;
	if (a->ssm) {
		if (strchr(src->path, '/') && src->path[0] != '/' &&
		    strncmp(src->path, "arn:", 4) != 0)
			snprintf(name, sizeof(name), "/%s", src->path);
		else
			snprintf(name, sizeof(name), "%s", src->path);
		if (src->version[0])
			snprintf(name + strlen(name), sizeof(name) - strlen(name), ":%s",
				 src->version);
		body = json_pack("{s:s,s:b}", "Name", name, "WithDecryption", 1);
	} else if (src->version[0]) {
		body = json_pack("{s:s,s:s}", "SecretId", src->path,
				 is_version_id(src->version) ? "VersionId" : "VersionStage",
				 src->version);
	} else {
		body = json_pack("{s:s}", "SecretId", src->path);
	}
	dump = body ? json_dumps(body, JSON_COMPACT) : NULL;
	if (!dump)
		return lb_fail(e, ENOMEM, "out of memory");
	req->body = lb_secbuf_dup(dump, strlen(dump));
	lb_json_free(dump);
	if (!req->body)
		return lb_fail(e, ENOMEM, "out of secure memory");
	snprintf(req->method, sizeof(req->method), "POST");
	snprintf(req->what, sizeof(req->what), "%s %s", a->target_op, src->path);
	req->cred = LB_NST_CRED;
	return 0;
}

/* Signed when sent: a replay after new credentials is signed with those. */
static int aws_prepare(lb_nst *ns, const lb_nst_req *req, lb_nst_http *h, lb_err *e)
{
	struct aws *a = lb_nst_data(ns);
	char ts[LB_SIGV4_DATE_SIZE];
	lb_sigv4_signed sig = {0};
	const lb_sigv4_header sh[] = {
	    {"Host", a->host},
	    {"Content-Type", JSON_CT},
	    {"X-Amz-Target", a->target_op},
	};
	const lb_sigv4_creds creds = {
	    .access_key_id = a->akid,
	    .secret_access_key = a->secret,
	    .session_token = a->token ? (const char *)a->token->data : NULL,
	};
	const lb_sigv4_request sr = {
	    .method = "POST",
	    .path = a->path,
	    .headers = sh,
	    .nheaders = 3,
	    .payload = (const char *)req->body->data,
	    .payload_len = req->body->len,
	    .region = a->region,
	    .service = a->service,
	    .timestamp = ts,
	    .creds = &creds,
	};
	int rc = 0;

	if (!a->have_creds)
		return lb_fail(e, 0, "no credentials");
	if (lb_sigv4_timestamp(time(NULL), ts, e) || lb_sigv4_sign(&sr, &sig, e))
		return lb_fail_wrap(e, "signing");
	for (size_t i = 0; i < 3; i++)
		rc |= lb_nst_http_header(h, sh[i].name, sh[i].value, strlen(sh[i].value));
	for (size_t i = 0; i < sig.nadd; i++)
		rc |= lb_nst_http_header(h, sig.add[i].name, sig.add[i].value,
					 strlen(sig.add[i].value));
	lb_sigv4_signed_clear(&sig);
	if (rc)
		return lb_fail(e, ENOMEM, "out of secure memory");
	snprintf(h->url, sizeof(h->url), "%s%s", a->endpoint, a->path);
	return 0;
}

static void aws_classify(lb_nst *ns, const lb_nst_req *req, const lb_http_resp *resp,
			 lb_nst_reply *r)
{
	(void)ns;
	(void)req;
	lb_aws_classify(resp->status, resp->body ? resp->body->data : NULL,
			resp->body ? resp->body->len : 0, r->replayed, r);
}

static int aws_read_parse(lb_nst *ns, const lb_source *src, const lb_nst_reply *r,
			  lb_fetch_result *res, lb_err *e)
{
	struct aws *a = lb_nst_data(ns);

	(void)src;
	if (r->verdict != LB_NST_OK)
		return lb_fail(e, 0, "%s", r->err.msg);
	return lb_aws_value_parse(r->json, a->ssm, &res->value, &res->structured, res->version,
				  sizeof(res->version), e);
}

static void aws_cred_drop(lb_nst *ns)
{
	aws_creds_clear(lb_nst_data(ns));
}

static json_t *aws_health(lb_nst *ns)
{
	struct aws *a = lb_nst_data(ns);
	json_t *h = json_pack("{s:s,s:s,s:b}", "region", a->region, "endpoint", a->endpoint,
			      "credentials", a->have_creds);

	if (h && a->have_creds) {
		json_object_set_new(h, "credentials_source", json_string(a->cred_source));
		if (a->expire)
			json_object_set_new(h, "credentials_expire", json_integer(a->expire));
	}
	return h;
}

static void aws_close_provider(lb_nst *ns)
{
	aws_creds_cancel(lb_nst_data(ns));
}

static void aws_free(void *p)
{
	struct aws *a = p;

	if (!a)
		return;
	aws_creds_clear(a);
	lb_secbuf_free(a->imds_token);
	free(a->region);
	free(a->endpoint);
	free(a->host);
	free(a->path);
	free(a->akid_cfg);
	free(a->secret_file);
	free(a->token_file);
	free(a);
}

/* One provider for both: messages name the store's type (aws-sm, aws-ssm). */
static const lb_nst_provider aws_provider = {
    .unauth_health = "no credentials yet",
    .authenticate = aws_creds_begin,
    .cred_drop = aws_cred_drop,
    .prepare = aws_prepare,
    .classify = aws_classify,
    .read_request = aws_read_request,
    .read_parse = aws_read_parse,
    .health = aws_health,
    .close = aws_close_provider,
    .free = aws_free,
};

static int aws_open_kind(lb_store *s, bool ssm, lb_err *e)
{
	json_t *o = s->cfg->opts;
	struct aws *a = calloc(1, sizeof(*a));
	_cleanup_free_ char *ca_file = lb_opt_str(o, &lb_aws_sm_schema.opts, "ca_file");
	const char *p;
	char def[300];

	if (!a)
		return lb_fail(e, ENOMEM, "out of memory");
	a->ssm = ssm;
	a->kind = ssm ? "aws-ssm" : "aws-sm";
	a->service = ssm ? "ssm" : "secretsmanager";
	a->target_op = ssm ? "AmazonSSM.GetParameter" : "secretsmanager.GetSecretValue";
	a->region = lb_opt_str(o, &lb_aws_sm_schema.opts, "region");
	a->endpoint = lb_opt_str(o, &lb_aws_sm_schema.opts, "endpoint");
	a->akid_cfg = lb_opt_str(o, &lb_aws_sm_schema.opts, "access_key_id");
	a->secret_file = lb_opt_str(o, &lb_aws_sm_schema.opts, "secret_access_key_file");
	a->token_file = lb_opt_str(o, &lb_aws_sm_schema.opts, "session_token_file");
	if (!a->region || strlen(a->region) > LB_SIGV4_MAX_SCOPE_PART) {
		aws_free(a);
		return lb_fail(e, 0, "region is required");
	}
	if (!a->akid_cfg != !a->secret_file ||
	    (a->akid_cfg && !aws_akid_ok(a->akid_cfg, strlen(a->akid_cfg)))) {
		aws_free(a);
		return lb_fail(e, 0,
			       "access_key_id (letters and digits) and "
			       "secret_access_key_file go together");
	}
	if (!a->endpoint) {
		snprintf(def, sizeof(def), "https://%s.%s.amazonaws.com", a->service, a->region);
		a->endpoint = strdup(def);
	}
	if (!a->endpoint || strncmp(a->endpoint, "https://", 8) != 0) {
		aws_free(a);
		return lb_fail(e, 0, "endpoint must be an https:// URL");
	}
	p = a->endpoint + 8;
	a->host = strndup(p, strcspn(p, "/?#"));
	a->path = strdup(p[strcspn(p, "/?#")] == '/' ? p + strcspn(p, "/?#") : "/");
	if (!a->host || !a->path || !*a->host) {
		aws_free(a);
		return lb_fail(e, 0, "endpoint has no host");
	}
	a->endpoint[8 + strlen(a->host)] = '\0';
	if (lb_nst_open(s, &aws_provider, a, &(lb_nst_tls){.ca_file = ca_file}, e))
		return -1;
	a->ns = s->priv;
	return 0;
}

static int aws_sm_open(lb_store *s, lb_err *e)
{
	return aws_open_kind(s, false, e);
}

static int aws_ssm_open(lb_store *s, lb_err *e)
{
	return aws_open_kind(s, true, e);
}

const lb_store_ops lb_aws_sm_ops = {
    .type = "aws-sm",
    .per_target = false,
    .open = aws_sm_open,
    .fetch = lb_nst_store_fetch,
    .health = lb_nst_store_health,
    .close = lb_nst_store_close,
};

const lb_store_ops lb_aws_ssm_ops = {
    .type = "aws-ssm",
    .per_target = false,
    .open = aws_ssm_open,
    .fetch = lb_nst_store_fetch,
    .health = lb_nst_store_health,
    .close = lb_nst_store_close,
};
