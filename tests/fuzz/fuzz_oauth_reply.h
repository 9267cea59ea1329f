/* The body shared by the OAuth-authenticated cloud stores' reply harnesses (fuzz_azure_json.c,
 * fuzz_gcp_json.c): one byte choosing the HTTP status (and read vs token request), then the
 * body; the reply's classification with the store's error formatter, the store's secret parse,
 * the OAuth token endpoint's reply and errors. Included once per harness. */
#ifndef LB_FUZZ_OAUTH_REPLY_H
#define LB_FUZZ_OAUTH_REPLY_H

#include "fuzz.h"

#include "cloud_parse.h"
#include "oauth.h"
#include "secmem.h"

typedef void (*fuzz_error_fn)(long status, json_t *reply, char *buf, size_t cap);
typedef int (*fuzz_secret_fn)(json_t *reply, lb_secbuf **value, char *version, size_t vcap,
			      lb_err *e);

static const long fuzz_statuses[] = {200, 201, 400, 401, 403, 404, 412, 429, 500, 503};

static int fuzz_oauth_reply(const uint8_t *data, size_t size, fuzz_error_fn error,
			    fuzz_secret_fn parse)
{
	lb_secbuf *body, *value = NULL, *tok = NULL;
	lb_nst_req req = {0};
	lb_nst_reply r = {0};
	lb_http_resp resp = {0};
	lb_err e = {0};
	char version[64], buf[400];
	int64_t ttl = -1;

	if (size < 1)
		return -1;
	body = lb_secbuf_dup(data + 1, size - 1);
	if (!body)
		abort();
	resp.status = fuzz_statuses[data[0] % (sizeof(fuzz_statuses) / sizeof(fuzz_statuses[0]))];
	resp.body = body;
	resp.retry_after_s = -1;
	if (data[0] & 0x80)
		req.flags = LB_OAUTH_TOKEN_REQ;
	lb_oauth_classify(&req, &resp, &r, error);
	FUZZ_ASSERT(r.json == NULL || json_is_object(r.json));
	FUZZ_ASSERT(r.verdict == LB_NST_OK || r.err.msg[0] != '\0');
	fuzz_check_printable(r.err.msg, sizeof(r.err.msg));
	if (r.verdict == LB_NST_OK && !req.flags) {
		if (parse(r.json, &value, version, sizeof(version), &e) == 0) {
			FUZZ_ASSERT(value && value->data[value->len] == '\0');
			fuzz_check_printable(version, sizeof(version));
		} else {
			FUZZ_ASSERT(value == NULL && e.msg[0]);
		}
		lb_secbuf_free(value);
	}
	if (lb_oauth_token_parse(r.json, &tok, &ttl, &e) == 0)
		FUZZ_ASSERT(tok && tok->len > 0 && ttl > 0);
	else
		FUZZ_ASSERT(tok == NULL);
	lb_secbuf_free(tok);
	error(resp.status, r.json, buf, 8); /* a small buffer truncates */
	fuzz_check_printable(buf, 8);
	lb_oauth_error(r.json, resp.status, buf, sizeof(buf));
	fuzz_check_printable(buf, sizeof(buf));
	json_decref(r.json);
	lb_secbuf_free(body);
	return 0;
}

#endif
