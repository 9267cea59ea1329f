/* AWS Signature Version 4: canonical request, string to sign, key chain, Authorization.
 * Follows the public SigV4 description and the aws-c-auth signer where the description is
 * silent (path normalisation, query re-encoding); tests/unit/test_sigv4.c runs its suite. */
#include "sigv4.h"
#include "sigv4_impl.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "cleanup.h"

#define ALGORITHM    "AWS4-HMAC-SHA256"
#define SCOPE_END    "aws4_request"
#define UNSIGNED     "UNSIGNED-PAYLOAD"
#define MAX_STS	     512 /* string to sign: fixed parts, bounded scope, one digest */
#define MAX_EXTRA_HD 3	 /* x-amz-date, x-amz-security-token, x-amz-content-sha256 */

static int add_method(struct sb *b, const lb_sigv4_request *req, lb_err *e)
{
	size_t n;

	if (sv4_check_len(req->method, LB_SIGV4_MAX_METHOD, false, "method", &n, e))
		return -1;
	for (size_t i = 0; i < n; i++)
		if (req->method[i] < 'A' || req->method[i] > 'Z')
			return lb_fail(e, 0, "sigv4: method may hold only A-Z");
	sv4_sb_add(b, req->method, n);
	sv4_sb_addc(b, '\n');
	return 0;
}

/* Drop empty and "." segments, let ".." remove the one before, keep a trailing '/': what the
 * aws-c-auth signer does (its suite's "*-normalized" cases). */
static void normalize_path(struct sb *out, const char *p, size_t n)
{
	size_t i = 0;

	while (i < n) {
		size_t start, len;

		while (i < n && p[i] == '/')
			i++;
		start = i;
		while (i < n && p[i] != '/')
			i++;
		len = i - start;
		if (!len || (len == 1 && p[start] == '.'))
			continue;
		if (len == 2 && p[start] == '.' && p[start + 1] == '.') {
			char *slash = out->len ? memrchr(out->buf, '/', out->len) : NULL;

			if (slash) {
				out->len = (size_t)(slash - out->buf);
				out->buf[out->len] = '\0';
			}
			continue;
		}
		sv4_sb_addc(out, '/');
		sv4_sb_add(out, p + start, len);
	}
	if (!out->len || p[n - 1] == '/')
		sv4_sb_addc(out, '/');
}

static int add_path(struct sb *b, const lb_sigv4_request *req, lb_err *e)
{
	_cleanup_sb_ struct sb norm = {0};
	const char *p = req->path;
	bool verbatim = req->flags & LB_SIGV4_NO_PATH_ENCODE;
	size_t n;

	if (sv4_check_len(p, LB_SIGV4_MAX_PATH, false, "path", &n, e))
		return -1;
	if (p[0] != '/')
		return lb_fail(e, 0, "sigv4: path does not start with '/'");
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)p[i];

		if (sv4_is_ctl(c) || c == '?' || c == '#')
			return lb_fail(e, 0,
				       "sigv4: path holds a control character, '?' or '#' "
				       "(offset %zu)",
				       i);
		if (verbatim && (c == ' ' || c >= 0x80))
			return lb_fail(e, 0,
				       "sigv4: path is signed as it is but is not percent-encoded "
				       "(offset %zu)",
				       i);
	}
	if (!(req->flags & LB_SIGV4_NO_PATH_NORMALIZE)) {
		normalize_path(&norm, p, n);
		if (sv4_sb_check(&norm, "path", e))
			return -1;
		p = norm.buf;
		n = norm.len;
	}
	if (verbatim)
		sv4_sb_add(b, p, n);
	else
		sv4_sb_add_encoded(b, p, n, true);
	sv4_sb_addc(b, '\n');
	return 0;
}

struct qparam {
	const char *key, *value;
};

static int qparam_cmp(const void *a, const void *b)
{
	const struct qparam *x = a, *y = b;
	int c = strcmp(x->key, y->key);

	return c ? c : strcmp(x->value, y->value);
}

/* Decode s[0..n) and write it re-encoded, NUL-terminated, at *w. */
static int reencode(const char *q, size_t off, size_t n, char **w, lb_err *e)
{
	static const char digits[] = "0123456789ABCDEF";
	char *o = *w;

	for (size_t i = off; i < off + n; i++) {
		unsigned char c = (unsigned char)q[i];

		if (c == '%') {
			int hi = i + 2 < off + n ? sv4_hex_value((unsigned char)q[i + 1]) : -1;
			int lo = hi >= 0 ? sv4_hex_value((unsigned char)q[i + 2]) : -1;

			if (lo < 0)
				return lb_fail(e, 0,
					       "sigv4: query string has a bad %%-escape at offset "
					       "%zu",
					       i);
			c = (unsigned char)(hi << 4 | lo);
			i += 2;
		}
		if (sv4_is_unreserved(c)) {
			*o++ = (char)c;
		} else {
			*o++ = '%';
			*o++ = digits[c >> 4];
			*o++ = digits[c & 15];
		}
	}
	*o++ = '\0';
	*w = o;
	return 0;
}

static int add_query(struct sb *b, const lb_sigv4_request *req, lb_err *e)
{
	_cleanup_free_ struct qparam *params = NULL;
	_cleanup_free_ char *enc = NULL;
	const char *q = req->query;
	size_t n, count = 0, i = 0;
	char *w;

	if (!q || !*q) {
		sv4_sb_addc(b, '\n');
		return 0;
	}
	if (sv4_check_len(q, LB_SIGV4_MAX_QUERY, false, "query string", &n, e))
		return -1;
	for (size_t j = 0; j < n; j++) {
		if (sv4_is_ctl((unsigned char)q[j]) || q[j] == '#')
			return lb_fail(e, 0,
				       "sigv4: query string holds a control character or '#' "
				       "(offset %zu)",
				       j);
		if ((j == 0 || q[j - 1] == '&') && q[j] != '&')
			count++;
	}
	if (count > LB_SIGV4_MAX_QUERY_PARAMS)
		return lb_fail(e, 0, "sigv4: query string has %zu parameters (limit %d)", count,
			       LB_SIGV4_MAX_QUERY_PARAMS);
	params = calloc(count ? count : 1, sizeof(*params));
	/* Every byte becomes at most "%XY"; each key and value gets a NUL. */
	enc = malloc(3 * n + 2 * count + 1);
	if (!params || !enc)
		// NOLINTNEXTLINE(clang-analyzer-unix.Malloc): _cleanup_free_ frees params and enc
		return lb_fail(e, ENOMEM, "sigv4: out of memory");
	w = enc;
	count = 0;
	while (i < n) {
		size_t start = i, end, eq;

		while (i < n && q[i] != '&')
			i++;
		end = i++;
		if (end == start)
			continue;
		for (eq = start; eq < end && q[eq] != '='; eq++)
			;
		params[count].key = w;
		if (reencode(q, start, eq - start, &w, e))
			return -1;
		params[count].value = w;
		if (reencode(q, eq < end ? eq + 1 : end, eq < end ? end - eq - 1 : 0, &w, e))
			return -1;
		count++;
	}
	// NOLINTNEXTLINE(clang-analyzer-unix.Malloc): _cleanup_free_ frees enc (w points into it)
	qsort(params, count, sizeof(*params), qparam_cmp);
	for (size_t j = 0; j < count; j++) {
		if (j)
			sv4_sb_addc(b, '&');
		sv4_sb_adds(b, params[j].key);
		sv4_sb_addc(b, '=');
		sv4_sb_adds(b, params[j].value);
	}
	sv4_sb_addc(b, '\n');
	return 0;
}

struct hdr {
	char name[LB_SIGV4_MAX_HEADER_NAME + 1]; /* lowercase */
	const char *value;
	size_t value_len, order;
};

static int hdr_cmp(const void *a, const void *b)
{
	const struct hdr *x = a, *y = b;
	int c = strcmp(x->name, y->name);

	/* Values of a repeated header are joined in the order the caller gave them. */
	if (c)
		return c;
	return x->order < y->order ? -1 : x->order > y->order;
}

static bool is_ws(char c)
{
	return c == ' ' || c == '\t';
}

/* Trim, and squeeze each run of blanks to one space. */
static void sb_add_value(struct sb *b, const char *v, size_t n)
{
	size_t i = 0, end = n;
	bool blank = false;

	while (i < end && is_ws(v[i]))
		i++;
	while (end > i && is_ws(v[end - 1]))
		end--;
	for (; i < end; i++) {
		if (!is_ws(v[i]))
			sv4_sb_addc(b, v[i]);
		else if (!blank)
			sv4_sb_addc(b, ' ');
		blank = is_ws(v[i]);
	}
}

static int check_header(const lb_sigv4_header *h, size_t idx, struct hdr *out, lb_err *e)
{
	static const char *const reserved[] = {"authorization", "x-amz-date",
					       "x-amz-security-token", "x-amz-content-sha256"};
	size_t n;

	if (!h->name)
		return lb_fail(e, 0, "sigv4: header %zu has no name", idx);
	n = strnlen(h->name, LB_SIGV4_MAX_HEADER_NAME + 1);
	if (!n)
		return lb_fail(e, 0, "sigv4: header %zu has an empty name", idx);
	if (n > LB_SIGV4_MAX_HEADER_NAME)
		return lb_fail(e, 0, "sigv4: header %zu name is longer than %d bytes", idx,
			       LB_SIGV4_MAX_HEADER_NAME);
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)h->name[i];

		if (!sv4_is_tchar(c))
			return lb_fail(e, 0, "sigv4: header %zu name is not an HTTP token", idx);
		out->name[i] = (char)(c >= 'A' && c <= 'Z' ? c + ('a' - 'A') : c);
	}
	out->name[n] = '\0';
	for (size_t i = 0; i < sizeof(reserved) / sizeof(reserved[0]); i++)
		if (!strcmp(out->name, reserved[i]))
			return lb_fail(e, 0, "sigv4: header %s is set by the signer", h->name);
	if (!h->value)
		return lb_fail(e, 0, "sigv4: header %s has no value", h->name);
	n = strnlen(h->value, LB_SIGV4_MAX_HEADER_VALUE + 1);
	if (n > LB_SIGV4_MAX_HEADER_VALUE)
		return lb_fail(e, 0, "sigv4: header %s value is longer than %d bytes", h->name,
			       LB_SIGV4_MAX_HEADER_VALUE);
	for (size_t i = 0; i < n; i++)
		if (sv4_is_ctl((unsigned char)h->value[i]) && h->value[i] != '\t')
			return lb_fail(e, 0,
				       "sigv4: header %s value holds a control character "
				       "(offset %zu)",
				       h->name, i);
	out->value = h->value;
	out->value_len = n;
	out->order = idx;
	return 0;
}

static void set_extra(struct hdr *h, const char *name, const char *value, size_t order)
{
	snprintf(h->name, sizeof(h->name), "%s", name);
	h->value = value;
	h->value_len = strlen(value);
	h->order = order;
}

/* Canonical headers into b, the signed header list into sh. */
static int add_headers(struct sb *b, struct sb *sh, const lb_sigv4_request *req, const char *token,
		       const char *hash, lb_err *e)
{
	_cleanup_free_ struct hdr *h = NULL;
	size_t n = 0;
	bool host = false;

	if (req->nheaders > LB_SIGV4_MAX_HEADERS)
		return lb_fail(e, 0, "sigv4: %zu headers to sign (limit %d)", req->nheaders,
			       LB_SIGV4_MAX_HEADERS);
	if (req->nheaders && !req->headers)
		return lb_fail(e, 0, "sigv4: headers are missing but their count is %zu",
			       req->nheaders);
	h = calloc(req->nheaders + MAX_EXTRA_HD, sizeof(*h));
	if (!h)
		return lb_fail(e, ENOMEM, "sigv4: out of memory");
	for (; n < req->nheaders; n++) {
		if (check_header(&req->headers[n], n, &h[n], e))
			return -1;
		host |= !strcmp(h[n].name, "host");
	}
	if (!host)
		// NOLINTNEXTLINE(clang-analyzer-unix.Malloc): _cleanup_free_ frees h
		return lb_fail(e, 0, "sigv4: request has no Host header");
	set_extra(&h[n], "x-amz-date", req->timestamp, n);
	n++;
	if (token && !(req->flags & LB_SIGV4_UNSIGNED_TOKEN)) {
		set_extra(&h[n], "x-amz-security-token", token, n);
		n++;
	}
	if (req->flags & LB_SIGV4_CONTENT_SHA256) {
		set_extra(&h[n], "x-amz-content-sha256", hash, n);
		n++;
	}
	qsort(h, n, sizeof(*h), hdr_cmp);
	for (size_t i = 0; i < n; i++) {
		bool same = i && !strcmp(h[i].name, h[i - 1].name);

		if (same) {
			sv4_sb_addc(b, ',');
		} else {
			if (i) {
				sv4_sb_addc(b, '\n');
				sv4_sb_addc(sh, ';');
			}
			sv4_sb_adds(b, h[i].name);
			sv4_sb_addc(b, ':');
			sv4_sb_adds(sh, h[i].name);
		}
		sb_add_value(b, h[i].value, h[i].value_len);
	}
	sv4_sb_addc(b, '\n');
	return 0;
}

int lb_sigv4_canonical_request(const lb_sigv4_request *req, char **out, char **signed_headers,
			       lb_err *e)
{
	_cleanup_sb_ struct sb b = {0};
	_cleanup_sb_ struct sb sh = {0};
	char hash[LB_SIGV4_HEX_SIZE];
	const char *token;

	if (!req || !out || !signed_headers)
		return lb_fail(e, 0, "sigv4: request or result missing");
	*out = *signed_headers = NULL;
	if (sv4_check_creds_present(req, e) || sv4_session_token(req, &token, e) ||
	    sv4_check_scope(req, e) || sv4_payload_hash(req, hash, e))
		return -1;
	if (add_method(&b, req, e) || add_path(&b, req, e) || add_query(&b, req, e) ||
	    add_headers(&b, &sh, req, token, hash, e))
		return -1;
	if (sv4_sb_check(&sh, "signed header list", e))
		return -1;
	sv4_sb_addc(&b, '\n');
	sv4_sb_add(&b, sh.buf, sh.len);
	sv4_sb_addc(&b, '\n');
	sv4_sb_adds(&b, hash);
	if (sv4_sb_check(&b, "canonical request", e))
		return -1;
	if (sv4_sb_steal(&sh, "signed header list", signed_headers, e))
		return -1;
	return sv4_sb_steal(&b, "canonical request", out, e);
}

static void add_scope(struct sb *b, const lb_sigv4_request *req)
{
	sv4_sb_add(b, req->timestamp, 8);
	sv4_sb_addc(b, '/');
	sv4_sb_adds(b, req->region);
	sv4_sb_addc(b, '/');
	sv4_sb_adds(b, req->service);
	sv4_sb_adds(b, "/" SCOPE_END);
}

int lb_sigv4_string_to_sign(const lb_sigv4_request *req, const char *canonical_request, char **out,
			    lb_err *e)
{
	_cleanup_sb_ struct sb b = {0};
	char hash[LB_SIGV4_HEX_SIZE];
	size_t n;

	if (!req || !out)
		return lb_fail(e, 0, "sigv4: request or result missing");
	*out = NULL;
	if (sv4_check_scope(req, e) ||
	    sv4_check_len(canonical_request, LB_SIGV4_MAX_CANONICAL, false, "canonical request", &n,
			  e) ||
	    sv4_sha256_hex(canonical_request, n, hash, e))
		return -1;
	sv4_sb_adds(&b, ALGORITHM "\n");
	sv4_sb_adds(&b, req->timestamp);
	sv4_sb_addc(&b, '\n');
	add_scope(&b, req);
	sv4_sb_addc(&b, '\n');
	sv4_sb_adds(&b, hash);
	return sv4_sb_steal(&b, "string to sign", out, e);
}

int lb_sigv4_signature(const lb_sigv4_request *req, const char *string_to_sign,
		       char sig[LB_SIGV4_HEX_SIZE], lb_err *e)
{
	_cleanup_secbuf_ lb_secbuf *k_secret = NULL;
	_cleanup_secbuf_ lb_secbuf *chain = NULL;
	const lb_secbuf *secret;
	unsigned char md[SHA256_LEN];
	const char *parts[4];
	unsigned char *k, *next;
	size_t n, klen;

	if (!req || !sig)
		return lb_fail(e, 0, "sigv4: request or result missing");
	sig[0] = '\0';
	if (sv4_check_creds_present(req, e) || sv4_check_scope(req, e) ||
	    sv4_check_len(string_to_sign, MAX_STS, false, "string to sign", &n, e))
		return -1;
	secret = req->creds->secret_access_key;
	if (!secret || !secret->data || !secret->len)
		return lb_fail(e, 0, "sigv4: secret access key is empty");
	if (secret->len > LB_SIGV4_MAX_SECRET_KEY)
		return lb_fail(e, 0, "sigv4: secret access key is longer than %d bytes",
			       LB_SIGV4_MAX_SECRET_KEY);

	/* kSecret = "AWS4" + secret; kDate, kRegion, kService, kSigning follow, each the HMAC of
	 * the previous one. All of them live in secure memory, zeroed when freed. */
	k_secret = lb_secbuf_new(4 + secret->len);
	chain = lb_secbuf_new(2 * SHA256_LEN);
	if (!k_secret || !chain)
		return lb_fail(e, ENOMEM, "sigv4: out of secure memory");
	memcpy(k_secret->data, "AWS4", 4);
	memcpy(k_secret->data + 4, secret->data, secret->len);
	parts[0] = req->timestamp;
	parts[1] = req->region;
	parts[2] = req->service;
	parts[3] = SCOPE_END;
	k = k_secret->data;
	klen = k_secret->len;
	for (size_t i = 0; i < 4; i++) {
		next = chain->data + (i % 2) * SHA256_LEN;
		if (sv4_hmac_sha256(k, klen, parts[i], i ? strlen(parts[i]) : 8, next, e))
			return -1;
		k = next;
		klen = SHA256_LEN;
	}
	if (sv4_hmac_sha256(k, klen, string_to_sign, n, md, e))
		return -1;
	sv4_to_hex(md, SHA256_LEN, sig);
	return 0;
}

int lb_sigv4_authorization(const lb_sigv4_request *req, const char *signed_headers,
			   const char *signature, char **out, lb_err *e)
{
	_cleanup_sb_ struct sb b = {0};
	size_t n;

	if (!req || !out)
		return lb_fail(e, 0, "sigv4: request or result missing");
	*out = NULL;
	if (sv4_check_creds_present(req, e) || sv4_check_key_id(req, e) ||
	    sv4_check_scope(req, e) ||
	    sv4_check_len(signed_headers, LB_SIGV4_MAX_CANONICAL, false, "signed header list", &n,
			  e))
		return -1;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)signed_headers[i];

		if ((!sv4_is_tchar(c) && c != ';') || (c >= 'A' && c <= 'Z'))
			return lb_fail(e, 0,
				       "sigv4: signed header list is not lowercase "
				       "header names joined by ';'");
	}
	if (!signature || strnlen(signature, LB_SIGV4_HEX_SIZE) != 64 ||
	    !sv4_is_lower_hex(signature, 64))
		return lb_fail(e, 0, "sigv4: signature is not 64 lowercase hex digits");
	sv4_sb_adds(&b, ALGORITHM " Credential=");
	sv4_sb_adds(&b, req->creds->access_key_id);
	sv4_sb_addc(&b, '/');
	add_scope(&b, req);
	sv4_sb_adds(&b, ", SignedHeaders=");
	sv4_sb_add(&b, signed_headers, n);
	sv4_sb_adds(&b, ", Signature=");
	sv4_sb_adds(&b, signature);
	return sv4_sb_steal(&b, "Authorization header", out, e);
}

void lb_sigv4_signed_clear(lb_sigv4_signed *s)
{
	if (!s)
		return;
	sv4_freez(s->canonical_request);
	sv4_freez(s->string_to_sign);
	sv4_freez(s->signed_headers);
	sv4_freez(s->authorization);
	for (size_t i = 0; i < s->nadd; i++)
		sv4_freez(s->add[i].value);
	*s = (lb_sigv4_signed){0};
}

static int add_result_header(lb_sigv4_signed *s, const char *name, const char *value, lb_err *e)
{
	char *v;

	if (s->nadd >= sizeof(s->add) / sizeof(s->add[0]))
		return lb_fail(e, 0, "sigv4: more than %zu headers to add",
			       sizeof(s->add) / sizeof(s->add[0]));
	v = strdup(value);
	if (!v)
		return lb_fail(e, ENOMEM, "sigv4: out of memory");
	s->add[s->nadd].name = name;
	s->add[s->nadd].value = v;
	// NOLINTNEXTLINE(clang-analyzer-unix.Malloc): s owns v (lb_sigv4_signed_clear frees it)
	s->nadd++;
	return 0;
}

int lb_sigv4_sign(const lb_sigv4_request *req, lb_sigv4_signed *out, lb_err *e)
{
	lb_sigv4_signed s = {0};
	const char *token, *hash;

	if (!out)
		return lb_fail(e, 0, "sigv4: result missing");
	*out = (lb_sigv4_signed){0};
	if (lb_sigv4_canonical_request(req, &s.canonical_request, &s.signed_headers, e) ||
	    lb_sigv4_string_to_sign(req, s.canonical_request, &s.string_to_sign, e) ||
	    lb_sigv4_signature(req, s.string_to_sign, s.signature, e) ||
	    lb_sigv4_authorization(req, s.signed_headers, s.signature, &s.authorization, e))
		goto fail;
	/* Validated by lb_sigv4_canonical_request; the payload hash ends the canonical request. */
	token = req->creds->session_token && *req->creds->session_token ? req->creds->session_token
									: NULL;
	hash = strrchr(s.canonical_request, '\n') + 1;
	if ((token && add_result_header(&s, "X-Amz-Security-Token", token, e)) ||
	    add_result_header(&s, "X-Amz-Date", req->timestamp, e) ||
	    ((req->flags & LB_SIGV4_CONTENT_SHA256) &&
	     add_result_header(&s, "x-amz-content-sha256", hash, e)) ||
	    add_result_header(&s, "Authorization", s.authorization, e))
		goto fail;
	*out = s;
	return 0;
fail:
	lb_sigv4_signed_clear(&s);
	return -1;
}

int lb_sigv4_timestamp(time_t t, char out[LB_SIGV4_DATE_SIZE], lb_err *e)
{
	struct tm tm;

	if (!out)
		return lb_fail(e, 0, "sigv4: result missing");
	out[0] = '\0';
	if (!gmtime_r(&t, &tm))
		return lb_fail(e, EOVERFLOW, "sigv4: time %lld is out of range", (long long)t);
	if (tm.tm_year < 1000 - 1900 || tm.tm_year > 9999 - 1900 ||
	    strftime(out, LB_SIGV4_DATE_SIZE, "%Y%m%dT%H%M%SZ", &tm) != 16)
		return lb_fail(e, EOVERFLOW, "sigv4: time %lld has no four-digit year",
			       (long long)t);
	return 0;
}
