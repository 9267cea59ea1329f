/* The SigV4 signer's small parts (see sigv4_impl.h). */
#include "sigv4_impl.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "cleanup.h"

#define UNSIGNED "UNSIGNED-PAYLOAD"

void sv4_sb_free(struct sb *b)
{
	if (b->buf)
		lb_freezero(b->buf, b->cap);
	*b = (struct sb){0};
}

void sv4_sb_add(struct sb *b, const void *p, size_t n)
{
	if (b->err)
		return;
	if (n > LB_SIGV4_MAX_CANONICAL - b->len) {
		b->err = E2BIG;
		return;
	}
	if (b->len + n + 1 > b->cap) {
		size_t cap = b->cap ? b->cap : 256;
		char *nb;

		while (cap < b->len + n + 1)
			cap *= 2;
		if (cap > LB_SIGV4_MAX_CANONICAL + 1)
			cap = LB_SIGV4_MAX_CANONICAL + 1;
		nb = malloc(cap);
		if (!nb) {
			b->err = ENOMEM;
			return;
		}
		if (b->buf) {
			memcpy(nb, b->buf, b->len);
			lb_freezero(b->buf, b->cap);
		}
		b->buf = nb;
		b->cap = cap;
	}
	if (n)
		memcpy(b->buf + b->len, p, n);
	b->len += n;
	b->buf[b->len] = '\0';
}

void sv4_sb_adds(struct sb *b, const char *s)
{
	sv4_sb_add(b, s, strlen(s));
}

void sv4_sb_addc(struct sb *b, char c)
{
	sv4_sb_add(b, &c, 1);
}

int sv4_sb_check(const struct sb *b, const char *what, lb_err *e)
{
	if (b->err == E2BIG)
		return lb_fail(e, 0, "sigv4: %s would be longer than %d bytes", what,
			       LB_SIGV4_MAX_CANONICAL);
	if (b->err)
		return lb_fail(e, ENOMEM, "sigv4: out of memory building the %s", what);
	return 0;
}

/* Hand the text out; an empty text still comes out as an allocated "". */
int sv4_sb_steal(struct sb *b, const char *what, char **out, lb_err *e)
{
	if (!b->buf)
		sv4_sb_add(b, "", 0);
	if (sv4_sb_check(b, what, e))
		return -1;
	*out = b->buf;
	*b = (struct sb){0};
	return 0;
}

void sv4_freez(const char *p)
{
	if (p)
		lb_freezero((void *)p, strlen(p));
}

bool sv4_is_alnum(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

bool sv4_is_unreserved(unsigned char c)
{
	return sv4_is_alnum(c) || c == '-' || c == '.' || c == '_' || c == '~';
}

/* RFC 7230 tchar: what a header name may be made of. */
bool sv4_is_tchar(unsigned char c)
{
	return sv4_is_alnum(c) || (c && strchr("!#$%&'*+-.^_`|~", c));
}

bool sv4_is_ctl(unsigned char c)
{
	return c < 0x20 || c == 0x7f;
}

bool sv4_is_lower_hex(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return false;
	return true;
}

int sv4_hex_value(unsigned char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

void sv4_to_hex(const unsigned char *p, size_t n, char *out)
{
	static const char digits[] = "0123456789abcdef";

	for (size_t i = 0; i < n; i++) {
		out[2 * i] = digits[p[i] >> 4];
		out[2 * i + 1] = digits[p[i] & 15];
	}
	out[2 * n] = '\0';
}

/* Percent-encode everything but RFC 3986 unreserved characters (and '/' in paths). */
void sv4_sb_add_encoded(struct sb *b, const char *p, size_t n, bool keep_slash)
{
	static const char digits[] = "0123456789ABCDEF";

	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)p[i];

		if (sv4_is_unreserved(c) || (keep_slash && c == '/')) {
			sv4_sb_addc(b, (char)c);
		} else {
			char t[3] = {'%', digits[c >> 4], digits[c & 15]};

			sv4_sb_add(b, t, sizeof(t));
		}
	}
}

/* NULL, too long and (unless allow_empty) empty strings are refused, naming the field. */
int sv4_check_len(const char *s, size_t max, bool allow_empty, const char *what, size_t *len,
		  lb_err *e)
{
	size_t n;

	if (!s)
		return lb_fail(e, 0, "sigv4: %s is missing", what);
	n = strnlen(s, max + 1);
	if (n > max)
		return lb_fail(e, 0, "sigv4: %s is longer than %zu bytes", what, max);
	if (!n && !allow_empty)
		return lb_fail(e, 0, "sigv4: %s is empty", what);
	*len = n;
	return 0;
}

bool sv4_is_timestamp(const char *t)
{
	static const char shape[] = "ddddddddTddddddZ";
	int mon, day, hour, min, sec;

	for (size_t i = 0; i < 16; i++) {
		if (shape[i] == 'd' ? !(t[i] >= '0' && t[i] <= '9') : t[i] != shape[i])
			return false;
	}
	if (t[16])
		return false;
	mon = (t[4] - '0') * 10 + (t[5] - '0');
	day = (t[6] - '0') * 10 + (t[7] - '0');
	hour = (t[9] - '0') * 10 + (t[10] - '0');
	min = (t[11] - '0') * 10 + (t[12] - '0');
	sec = (t[13] - '0') * 10 + (t[14] - '0');
	return mon >= 1 && mon <= 12 && day >= 1 && day <= 31 && hour <= 23 && min <= 59 &&
	       sec <= 60;
}

/* Region, service and timestamp: everything the credential scope is made of. */
int sv4_check_scope(const lb_sigv4_request *req, lb_err *e)
{
	const char *parts[2] = {req->region, req->service}, *names[2] = {"region", "service"};
	size_t n;

	for (size_t i = 0; i < 2; i++) {
		if (sv4_check_len(parts[i], LB_SIGV4_MAX_SCOPE_PART, false, names[i], &n, e))
			return -1;
		for (size_t j = 0; j < n; j++) {
			char c = parts[i][j];

			if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-'))
				return lb_fail(e, 0, "sigv4: %s may hold only a-z, 0-9 and '-'",
					       names[i]);
		}
	}
	if (sv4_check_len(req->timestamp, 16, false, "timestamp", &n, e))
		return -1;
	if (n != 16 || !sv4_is_timestamp(req->timestamp))
		return lb_fail(e, 0, "sigv4: timestamp is not YYYYMMDDTHHMMSSZ");
	return 0;
}

int sv4_check_creds_present(const lb_sigv4_request *req, lb_err *e)
{
	if (!req->creds)
		return lb_fail(e, 0, "sigv4: credentials are missing");
	return 0;
}

/* The token travels in a header: visible ASCII only, so that it cannot split the request. */
int sv4_session_token(const lb_sigv4_request *req, const char **tok, lb_err *e)
{
	const char *t = req->creds->session_token;
	size_t n;

	*tok = NULL;
	if (!t || !*t)
		return 0;
	if (sv4_check_len(t, LB_SIGV4_MAX_TOKEN, false, "session token", &n, e))
		return -1;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)t[i] <= ' ' || (unsigned char)t[i] >= 0x7f)
			return lb_fail(e, 0,
				       "sigv4: session token holds a byte that is not visible "
				       "ASCII (offset %zu)",
				       i);
	*tok = t;
	return 0;
}

int sv4_check_key_id(const lb_sigv4_request *req, lb_err *e)
{
	const char *id = req->creds->access_key_id;
	size_t n;

	if (sv4_check_len(id, LB_SIGV4_MAX_KEY_ID, false, "access key id", &n, e))
		return -1;
	for (size_t i = 0; i < n; i++)
		if (!sv4_is_alnum((unsigned char)id[i]))
			return lb_fail(e, 0, "sigv4: access key id may hold only A-Z, a-z and 0-9");
	return 0;
}

int sv4_sha256_hex(const void *p, size_t n, char out[LB_SIGV4_HEX_SIZE], lb_err *e)
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;

	if (EVP_Digest(n ? p : "", n, md, &mdlen, EVP_sha256(), NULL) != 1 || mdlen != SHA256_LEN)
		return lb_fail(e, 0, "sigv4: SHA-256 failed in OpenSSL");
	sv4_to_hex(md, SHA256_LEN, out);
	return 0;
}

int sv4_hmac_sha256(const unsigned char *key, size_t keylen, const void *msg, size_t msglen,
		    unsigned char out[SHA256_LEN], lb_err *e)
{
	unsigned int outlen = 0;

	if (!HMAC(EVP_sha256(), key, (int)keylen, msg, msglen, out, &outlen) ||
	    outlen != SHA256_LEN)
		return lb_fail(e, 0, "sigv4: HMAC-SHA256 failed in OpenSSL");
	return 0;
}

int sv4_payload_hash(const lb_sigv4_request *req, char out[LB_SIGV4_HEX_SIZE], lb_err *e)
{
	const char *h = req->payload_hash;

	if (h) {
		size_t n = strnlen(h, LB_SIGV4_HEX_SIZE);

		if (!(n == 64 && sv4_is_lower_hex(h, n)) && strcmp(h, UNSIGNED) != 0)
			return lb_fail(e, 0,
				       "sigv4: payload hash is neither 64 lowercase hex digits "
				       "nor " UNSIGNED);
		memcpy(out, h, n + 1);
		return 0;
	}
	if (!req->payload && req->payload_len)
		return lb_fail(e, 0, "sigv4: payload is missing but its length is %zu",
			       req->payload_len);
	return sv4_sha256_hex(req->payload, req->payload_len, out, e);
}
