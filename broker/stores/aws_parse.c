/* AWS reply parsing (see aws_parse.h). */
#include "aws_parse.h"
#include "cleanup.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static const char *const THROTTLE_TYPES[] = {"ThrottlingException",
					     "Throttling",
					     "ThrottledException",
					     "TooManyRequestsException",
					     "RequestLimitExceeded",
					     "ServiceUnavailable",
					     "ServiceUnavailableException",
					     "InternalServiceError",
					     "InternalServiceErrorException",
					     "InternalFailure",
					     "InternalServerError",
					     "RequestThrottledException",
					     "ProvisionedThroughputExceededException",
					     NULL};
static const char *const AUTH_TYPES[] = {"InvalidSignatureException",
					 "UnrecognizedClientException",
					 "IncompleteSignature",
					 "IncompleteSignatureException",
					 "InvalidClientTokenId",
					 "MissingAuthenticationToken",
					 "MissingAuthenticationTokenException",
					 "SignatureDoesNotMatch",
					 "RequestExpired",
					 NULL};
static const char *const EXPIRED_TYPES[] = {"ExpiredTokenException", "ExpiredToken", NULL};

/* "com.amazonaws.secretsmanager#ResourceNotFoundException:http://..." -> the bare name. */
static void error_type(json_t *j, char *out, size_t cap)
{
	const char *t = json_string_value(json_object_get(j, "__type"));
	const char *hash;
	size_t n;

	out[0] = '\0';
	if (!t)
		return;
	if ((hash = strrchr(t, '#')))
		t = hash + 1;
	n = strcspn(t, ":");
	if (n >= cap)
		n = cap - 1;
	memcpy(out, t, n);
	out[n] = '\0';
	lb_nst_printable(out);
}

static bool type_in(const char *t, const char *const *list)
{
	for (; *list; list++)
		if (strcmp(t, *list) == 0)
			return true;
	return false;
}

void lb_aws_classify(long status, const unsigned char *body, size_t len, bool replayed,
		     lb_nst_reply *r)
{
	json_t *j = NULL;
	const char *m;
	char type[128], msg[300];

	if (body && len)
		j = json_loadb((const char *)body, len, 0, NULL);
	if (j && !json_is_object(j)) {
		json_decref(j);
		j = NULL;
	}
	r->json = j;
	if (status == 200) {
		r->verdict = j ? LB_NST_OK : LB_NST_FAULT;
		if (!j)
			lb_fail(&r->err, 0, "malformed JSON reply (HTTP 200)");
		return;
	}
	error_type(j, type, sizeof(type));
	m = json_string_value(json_object_get(j, "message"));
	if (!m)
		m = json_string_value(json_object_get(j, "Message"));
	snprintf(msg, sizeof(msg), "%s", m ? m : "");
	lb_nst_printable(msg);
	lb_fail(&r->err, 0, "%s%s%s (HTTP %ld)", type[0] ? type : "error", msg[0] ? ": " : "", msg,
		status);
	if (type_in(type, EXPIRED_TYPES) && !replayed) {
		/* Temporary credentials ran out early: new ones, then once more. */
		r->verdict = LB_NST_REFRESH;
	} else if (type_in(type, AUTH_TYPES) || type_in(type, EXPIRED_TYPES)) {
		/* Drop the credentials (a fixed file or a new role is read next time) and back
		 * off: a refused signature is never retried in a loop. */
		r->drop_cred = true;
		r->verdict = LB_NST_FAULT;
	} else if (type_in(type, THROTTLE_TYPES) || status >= 500 || status == 429 ||
		   (!j && status != 400)) {
		r->verdict = LB_NST_FAULT;
	} else {
		r->verdict = LB_NST_FINAL;
	}
}

int lb_aws_value_parse(json_t *j, bool ssm, lb_secbuf **value, bool *structured, char *version,
		       size_t vcap, lb_err *e)
{
	json_t *s, *v;

	*value = NULL;
	*structured = false;
	if (ssm) {
		json_t *p = json_object_get(j, "Parameter");
		s = json_object_get(p, "Value");
		v = json_object_get(p, "Version");
		if (!json_is_string(s))
			return lb_fail(e, 0, "reply has no Parameter.Value");
		snprintf(version, vcap, "%lld", (long long)json_integer_value(v));
	} else {
		json_t *bin = json_object_get(j, "SecretBinary");
		const char *vid = json_string_value(json_object_get(j, "VersionId"));

		s = json_object_get(j, "SecretString");
		if (!json_is_string(s) && !json_is_string(bin))
			return lb_fail(e, 0, "reply has neither SecretString nor SecretBinary");
		snprintf(version, vcap, "%s", vid ? vid : "");
		lb_nst_printable(version);
		if (!json_is_string(s)) {
			const char *b64 = json_string_value(bin);
			size_t blen = json_string_length(bin), outlen = 0;
			lb_secbuf *out = lb_secbuf_new(blen / 4 * 3 + 3);

			if (!out)
				return lb_fail(e, ENOMEM, "out of secure memory");
			if (sodium_base642bin(out->data, blen / 4 * 3 + 3, b64, blen, "\r\n",
					      &outlen, NULL, sodium_base64_VARIANT_ORIGINAL)) {
				lb_secbuf_free(out);
				return lb_fail(e, 0, "SecretBinary is not valid base64");
			}
			out->len = outlen;
			out->data[outlen] = '\0';
			*value = out;
			return 0;
		}
	}
	*value = lb_secbuf_dup(json_string_value(s), json_string_length(s));
	if (!*value)
		return lb_fail(e, ENOMEM, "out of secure memory");
	*structured = lb_nst_is_json_object(*value);
	return 0;
}

/* "2026-11-26T00:15:00Z" (fractions and offsets other than Z are not used by AWS here). */
static int64_t parse_iso8601(const char *s)
{
	struct tm tm = {0};

	if (!s || !strptime(s, "%Y-%m-%dT%H:%M:%S", &tm))
		return 0;
	return (int64_t)timegm(&tm);
}

void lb_aws_creds_clear(lb_aws_creds *c)
{
	sodium_memzero(c->akid, sizeof(c->akid));
	lb_secbuf_free(c->secret);
	lb_secbuf_free(c->token);
	c->secret = c->token = NULL;
	c->expire = 0;
}

int lb_aws_creds_parse(const unsigned char *body, size_t len, const char *source, lb_aws_creds *c,
		       lb_err *e)
{
	_cleanup_json_ json_t *j = NULL;
	const char *id, *sk, *tok, *exp, *code;
	char cbuf[80];

	memset(c, 0, sizeof(*c));
	if (body && len)
		j = json_loadb((const char *)body, len, 0, NULL);
	id = json_string_value(json_object_get(j, "AccessKeyId"));
	sk = json_string_value(json_object_get(j, "SecretAccessKey"));
	tok = json_string_value(json_object_get(j, "Token"));
	exp = json_string_value(json_object_get(j, "Expiration"));
	code = json_string_value(json_object_get(j, "Code"));
	if (code && strcmp(code, "Success") != 0) {
		snprintf(cbuf, sizeof(cbuf), "%.64s", code);
		lb_nst_printable(cbuf);
		return lb_fail(e, 0, "%s answered Code %s", source, cbuf);
	}
	if (!id || !sk)
		return lb_fail(e, 0, "%s: reply has no AccessKeyId/SecretAccessKey", source);
	c->expire = parse_iso8601(exp);
	if (exp && !c->expire)
		return lb_fail(e, 0, "%s: unreadable Expiration", source);
	if (strlen(id) >= sizeof(c->akid))
		return lb_fail(e, 0, "credentials from %s are malformed", source);
	snprintf(c->akid, sizeof(c->akid), "%s", id);
	c->secret = lb_secbuf_dup(sk, json_string_length(json_object_get(j, "SecretAccessKey")));
	if (tok)
		c->token = lb_secbuf_dup(tok, json_string_length(json_object_get(j, "Token")));
	if (!c->secret || (tok && !c->token)) {
		lb_aws_creds_clear(c);
		return lb_fail(e, ENOMEM, "out of secure memory");
	}
	return 0;
}
