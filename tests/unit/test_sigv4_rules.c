/* SigV4 signer: the rules of the canonical form (header values trimmed, query sorted, path
 * forms, session token, payload hash, timestamp) and the refusals of what it cannot sign
 * faithfully. The references from outside are unit_sigv4. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sigv4_fixture.h"

/* SHA-256 of the empty string (FIPS 180-2 example). */
#define EMPTY_SHA256 "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
/* SHA-256 of "Param1=value1", as the suite's post-x-www-form-urlencoded case gives it. */
#define FORM_SHA256 "9095672bbd1f56dfc5b65f3e153adc8731a4a654192329106275f4c7b24d0b6e"

/* ---- rules of the canonical form ---------------------------------------------------- */

struct fx {
	lb_secbuf *secret;
	lb_sigv4_creds creds;
	lb_sigv4_header h[1];
	lb_sigv4_request req;
};

/* In place: req points into f. */
static void fx_init(struct fx *f)
{
	memset(f, 0, sizeof(*f));
	f->secret = lb_secbuf_dup(SECRET, strlen(SECRET));
	assert_non_null(f->secret);
	f->creds.access_key_id = AKID;
	f->creds.secret_access_key = f->secret;
	f->h[0].name = "Host";
	f->h[0].value = "example.amazonaws.com";
	f->req.method = "GET";
	f->req.path = "/";
	f->req.headers = f->h;
	f->req.nheaders = 1;
	f->req.region = "us-east-1";
	f->req.service = "service";
	f->req.timestamp = "20150830T123600Z";
	f->req.creds = &f->creds;
}

/* Line i (0-based) of the canonical request. */
static char *cr_line(const char *cr, int i)
{
	for (; i > 0; i--) {
		cr = strchr(cr, '\n');
		assert_non_null(cr);
		cr++;
	}
	return strndup(cr, strcspn(cr, "\n"));
}

static void test_header_value_trim(void **state)
{
	struct fx f;
	lb_sigv4_signed s;
	lb_sigv4_header h[4] = {
	    {"My-Header1", "  a \t  b   c  "},
	    {"Host", "example.amazonaws.com"},
	    {"my-header2", "\t\t"},
	    {"MY-HEADER1", "z"},
	};

	(void)state;
	fx_init(&f);
	f.req.headers = h;
	f.req.nheaders = 4;
	sign_ok(&f.req, &s);
	assert_string_equal(s.canonical_request,
			    "GET\n/\n\n"
			    "host:example.amazonaws.com\n"
			    "my-header1:a b c,z\n"
			    "my-header2:\n"
			    "x-amz-date:20150830T123600Z\n"
			    "\n"
			    "host;my-header1;my-header2;x-amz-date\n" EMPTY_SHA256);
	assert_string_equal(s.signed_headers, "host;my-header1;my-header2;x-amz-date");
	lb_sigv4_signed_clear(&s);
	lb_secbuf_free(f.secret);
}

static void test_query_sort(void **state)
{
	struct fx f;
	lb_sigv4_signed s;
	char *line;

	(void)state;
	fx_init(&f);
	/* Raw and encoded forms, lower-case escapes, a bare key, an empty pair, '+' and '/'. */
	f.req.query = "b=2&a=3&a=1&A=0&c&&d=x%2fy&e=a b+c~&\xe1\x88\xb4=%e1%88%b4";
	sign_ok(&f.req, &s);
	line = cr_line(s.canonical_request, 2);
	assert_string_equal(line, "%E1%88%B4=%E1%88%B4&A=0&a=1&a=3&b=2&c=&d=x%2Fy&e=a%20b%2Bc~");
	free(line);
	lb_sigv4_signed_clear(&s);
	lb_secbuf_free(f.secret);
}

static void test_path_forms(void **state)
{
	static const struct {
		unsigned flags;
		const char *path, *want;
	} cases[] = {
	    /* Encoded once more: what the service sees after decoding once is the wire path. */
	    {0, "/a b/\xe1\x88\xb4/%41", "/a%20b/%E1%88%B4/%2541"},
	    {0, "/a/./b/../c//d/", "/a/c/d/"},
	    {0, "/..", "/"},
	    {0, "/a/b/..", "/a"},
	    {LB_SIGV4_NO_PATH_NORMALIZE, "/a/./b//c", "/a/./b//c"},
	    {LB_SIGV4_S3, "/my%20key/./x//", "/my%20key/./x//"},
	    {LB_SIGV4_NO_PATH_ENCODE, "/a%2Fb/../c", "/c"},
	};
	struct fx f;

	(void)state;
	fx_init(&f);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		lb_sigv4_signed s;
		char *line;

		f.req.flags = cases[i].flags;
		f.req.path = cases[i].path;
		sign_ok(&f.req, &s);
		line = cr_line(s.canonical_request, 1);
		assert_string_equal(line, cases[i].want);
		free(line);
		lb_sigv4_signed_clear(&s);
	}
	lb_secbuf_free(f.secret);
}

static void test_session_token(void **state)
{
	static const char tok[] = "AQoDYXdz+EXAMPLE/token==";
	struct fx f;
	lb_sigv4_signed plain, s, u;

	(void)state;
	fx_init(&f);
	sign_ok(&f.req, &plain);
	assert_int_equal(plain.nadd, 2);

	/* Signed: in the canonical headers, the signed list, and added to the request. */
	f.creds.session_token = tok;
	sign_ok(&f.req, &s);
	assert_string_equal(s.canonical_request,
			    "GET\n/\n\n"
			    "host:example.amazonaws.com\n"
			    "x-amz-date:20150830T123600Z\n"
			    "x-amz-security-token:AQoDYXdz+EXAMPLE/token==\n"
			    "\n"
			    "host;x-amz-date;x-amz-security-token\n" EMPTY_SHA256);
	assert_non_null(strstr(s.authorization,
			       ", SignedHeaders=host;x-amz-date;x-amz-security-token, Signature="));
	assert_int_equal(s.nadd, 3);
	assert_string_equal(s.add[0].name, "X-Amz-Security-Token");
	assert_string_equal(s.add[0].value, tok);
	assert_string_equal(s.add[1].name, "X-Amz-Date");
	assert_string_equal(s.add[1].value, "20150830T123600Z");
	assert_string_equal(s.add[2].name, "Authorization");
	assert_string_equal(s.add[2].value, s.authorization);
	assert_string_not_equal(s.signature, plain.signature);

	/* Unsigned: sent, but the signature is the one without a token. */
	f.req.flags = LB_SIGV4_UNSIGNED_TOKEN;
	sign_ok(&f.req, &u);
	assert_null(strstr(u.canonical_request, "security-token"));
	assert_string_equal(u.canonical_request, plain.canonical_request);
	assert_string_equal(u.signature, plain.signature);
	assert_int_equal(u.nadd, 3);
	assert_string_equal(u.add[0].name, "X-Amz-Security-Token");
	assert_string_equal(u.add[0].value, tok);

	lb_sigv4_signed_clear(&u);
	lb_sigv4_signed_clear(&s);
	lb_sigv4_signed_clear(&plain);
	lb_secbuf_free(f.secret);
}

static void test_payload_hash(void **state)
{
	static const char body[] = "Param1=value1";
	struct fx f;
	lb_sigv4_signed hashed, given, unsig;

	(void)state;
	fx_init(&f);
	f.req.method = "POST";
	f.req.payload = body;
	f.req.payload_len = strlen(body);
	f.req.flags = LB_SIGV4_CONTENT_SHA256;
	sign_ok(&f.req, &hashed);
	assert_non_null(strstr(hashed.canonical_request,
			       "\nx-amz-content-sha256:" FORM_SHA256 "\nx-amz-date:"));
	assert_int_equal(hashed.nadd, 3);
	assert_string_equal(hashed.add[1].name, "x-amz-content-sha256");
	assert_string_equal(hashed.add[1].value, FORM_SHA256);

	/* A precomputed hash stands in for the payload. */
	f.req.payload = NULL;
	f.req.payload_len = 0;
	f.req.payload_hash = FORM_SHA256;
	sign_ok(&f.req, &given);
	assert_string_equal(given.authorization, hashed.authorization);

	f.req.payload_hash = "UNSIGNED-PAYLOAD";
	sign_ok(&f.req, &unsig);
	assert_non_null(strstr(unsig.canonical_request,
			       "\nx-amz-content-sha256:UNSIGNED-PAYLOAD\nx-amz-date:"));
	assert_string_equal(strrchr(unsig.canonical_request, '\n'), "\nUNSIGNED-PAYLOAD");

	lb_sigv4_signed_clear(&unsig);
	lb_sigv4_signed_clear(&given);
	lb_sigv4_signed_clear(&hashed);
	lb_secbuf_free(f.secret);
}

static void test_timestamp(void **state)
{
	char ts[LB_SIGV4_DATE_SIZE];
	lb_err e = {0};

	(void)state;
	/* calendar.timegm((2015, 8, 30, 12, 36, 0)) == 1440938160 */
	assert_int_equal(lb_sigv4_timestamp(1440938160, ts, &e), 0);
	assert_string_equal(ts, "20150830T123600Z");
	assert_int_equal(lb_sigv4_timestamp((time_t)253402300800LL, ts, &e), -1); /* year 10000 */
	assert_non_null(strstr(e.msg, "four-digit year"));
}

/* ---- refusals ----------------------------------------------------------------------- */

static void expect_fail(const lb_sigv4_request *req, const char *part)
{
	lb_sigv4_signed s;
	lb_err e = {0};

	memset(&s, 0xa5, sizeof(s));
	assert_int_equal(lb_sigv4_sign(req, &s, &e), -1);
	if (!strstr(e.msg, part))
		fail_msg("wanted \"%s\" in the error, got \"%s\"", part, e.msg);
	assert_null(s.canonical_request);
	assert_null(s.authorization);
	assert_int_equal(s.nadd, 0);
}

static char *filled(size_t n, char c)
{
	char *s = malloc(n + 1);

	assert_non_null(s);
	memset(s, c, n);
	s[n] = '\0';
	return s;
}

static void test_errors(void **state)
{
	lb_sigv4_header hdrs[LB_SIGV4_MAX_HEADERS + 1];
	char *long_path = filled(LB_SIGV4_MAX_PATH + 1, 'a');
	char *long_query = filled(LB_SIGV4_MAX_QUERY + 1, 'a');
	char *many_params = filled(2 * (LB_SIGV4_MAX_QUERY_PARAMS + 1) - 1, '&');
	char *long_name = filled(LB_SIGV4_MAX_HEADER_NAME + 1, 'X');
	char *long_value = filled(LB_SIGV4_MAX_HEADER_VALUE + 1, 'v');
	char *big_value = filled(1100, 'v');
	char *long_service = filled(LB_SIGV4_MAX_SCOPE_PART + 1, 's');
	lb_secbuf *empty = lb_secbuf_new(0);
	lb_sigv4_creds creds;
	lb_sigv4_request r;
	struct fx f;
	char *auth = NULL;
	lb_err e = {0};

	(void)state;
	fx_init(&f);
	long_path[0] = '/';
	for (size_t i = 0; i < strlen(many_params); i += 2)
		many_params[i] = 'k';

	r = f.req, r.method = NULL, expect_fail(&r, "method is missing");
	r = f.req, r.method = "get", expect_fail(&r, "method may hold only A-Z");
	r = f.req, r.path = "index.html", expect_fail(&r, "path does not start with '/'");
	r = f.req, r.path = "/a\r\nb", expect_fail(&r, "path holds a control character");
	r = f.req, r.path = "/a?b", expect_fail(&r, "path holds a control character, '?'");
	r = f.req, r.path = long_path, expect_fail(&r, "path is longer than 4096 bytes");
	r = f.req, r.flags = LB_SIGV4_S3, r.path = "/a b";
	expect_fail(&r, "path is signed as it is but is not percent-encoded (offset 2)");
	r = f.req, r.query = "a=%zz",
	expect_fail(&r, "query string has a bad %-escape at offset 2");
	r = f.req, r.query = "a=b%4", expect_fail(&r, "bad %-escape at offset 3");
	r = f.req, r.query = "a=b\nc", expect_fail(&r, "query string holds a control character");
	r = f.req, r.query = long_query, expect_fail(&r, "query string is longer than 8192 bytes");
	r = f.req, r.query = many_params;
	expect_fail(&r, "query string has 129 parameters (limit 128)");

	/* Headers. */
	for (size_t i = 0; i < sizeof(hdrs) / sizeof(hdrs[0]); i++)
		hdrs[i] = (lb_sigv4_header){"X-Filler", "x"};
	hdrs[0] = (lb_sigv4_header){"Host", "example.amazonaws.com"};
	r = f.req, r.headers = hdrs, r.nheaders = 2;
	/* Each as the second header, after Host. */
	const struct {
		lb_sigv4_header h;
		const char *want;
	} bad_headers[] = {
	    {{"X-Bad", "1\r\nX-Evil: 2"},
	     "header X-Bad value holds a control character (offset 1)"},
	    {{"X-Del", "a\x7f"}, "header X-Del value holds a control character (offset 1)"},
	    {{long_name, "v"}, "header 1 name is longer than 128 bytes"},
	    {{"Bad Name", "v"}, "header 1 name is not an HTTP token"},
	    {{"", "v"}, "header 1 has an empty name"},
	    {{"X-Null", NULL}, "header X-Null has no value"},
	    {{"X-Big", long_value}, "header X-Big value is longer than 8192 bytes"},
	    {{"X-Amz-Date", "20150830T123600Z"}, "header X-Amz-Date is set by the signer"},
	    {{"authorization", "AWS4-HMAC-SHA256 x"}, "header authorization is set by the signer"},
	    {{"X-Amz-Security-Token", "t"}, "header X-Amz-Security-Token is set by the signer"},
	};
	for (size_t i = 0; i < sizeof(bad_headers) / sizeof(bad_headers[0]); i++) {
		hdrs[1] = bad_headers[i].h;
		expect_fail(&r, bad_headers[i].want);
	}
	// cppcheck-suppress redundantAssignment ; read through r.headers by expect_fail
	hdrs[1] = (lb_sigv4_header){"X-Filler", "x"};
	r.headers = hdrs + 1, r.nheaders = 1;
	expect_fail(&r, "request has no Host header");
	r.headers = NULL, r.nheaders = 1;
	expect_fail(&r, "headers are missing but their count is 1");
	r.headers = hdrs, r.nheaders = LB_SIGV4_MAX_HEADERS + 1;
	expect_fail(&r, "65 headers to sign (limit 64)");
	/* Each header within its bounds, the whole beyond LB_SIGV4_MAX_CANONICAL. */
	for (size_t i = 1; i < LB_SIGV4_MAX_HEADERS; i++)
		hdrs[i].value = big_value; // cppcheck-suppress unreadVariable ; read via r.headers
	r.nheaders = LB_SIGV4_MAX_HEADERS;
	expect_fail(&r, "canonical request would be longer than 65536 bytes");

	/* Scope. */
	r = f.req, r.timestamp = "2015-08-30T12:36:00Z";
	expect_fail(&r, "timestamp is longer than 16 bytes");
	r = f.req, r.timestamp = "20151330T123600Z";
	expect_fail(&r, "timestamp is not YYYYMMDDTHHMMSSZ");
	r = f.req, r.timestamp = "20150830 123600Z";
	expect_fail(&r, "timestamp is not YYYYMMDDTHHMMSSZ");
	r = f.req, r.timestamp = "20150830T12360Z", expect_fail(&r, "timestamp is not");
	r = f.req, r.region = "US-East-1";
	expect_fail(&r, "region may hold only a-z, 0-9 and '-'");
	r = f.req, r.region = "", expect_fail(&r, "region is empty");
	r = f.req, r.service = long_service, expect_fail(&r, "service is longer than 64 bytes");

	/* Credentials. */
	r = f.req, r.creds = NULL, expect_fail(&r, "credentials are missing");
	creds = f.creds, r = f.req, r.creds = &creds;
	creds.access_key_id = "AKID/x";
	expect_fail(&r, "access key id may hold only A-Z, a-z and 0-9");
	creds = f.creds, creds.access_key_id = NULL, expect_fail(&r, "access key id is missing");
	creds = f.creds, creds.secret_access_key = NULL;
	expect_fail(&r, "secret access key is empty");
	assert_non_null(empty);
	creds = f.creds, creds.secret_access_key = empty;
	expect_fail(&r, "secret access key is empty");
	creds = f.creds, creds.session_token = "abc\r\nX-Evil: 1";
	expect_fail(&r, "session token holds a byte that is not visible ASCII (offset 3)");

	/* Payload. */
	r = f.req, r.payload_hash = "ABC";
	expect_fail(&r, "payload hash is neither 64 lowercase hex digits nor UNSIGNED-PAYLOAD");
	r = f.req,
	r.payload_hash = "E3B0C44298FC1C149AFBF4C8996FB92427AE41E4649B934CA495991B7852B855";
	expect_fail(&r, "payload hash is neither");
	r = f.req, r.payload_len = 5, expect_fail(&r, "payload is missing but its length is 5");

	/* The last step refuses what could not have come from the earlier ones. */
	assert_int_equal(lb_sigv4_authorization(&f.req, "host;x-amz-date", "abc", &auth, &e), -1);
	assert_non_null(strstr(e.msg, "signature is not 64 lowercase hex digits"));
	assert_null(auth);
	assert_int_equal(lb_sigv4_authorization(&f.req, "Host;x-amz-date", EMPTY_SHA256, &auth, &e),
			 -1);
	assert_non_null(strstr(e.msg, "signed header list is not lowercase"));
	assert_int_equal(lb_sigv4_authorization(&f.req, "host, x", EMPTY_SHA256, &auth, &e), -1);
	assert_null(auth);

	lb_secbuf_free(empty);
	free(long_service);
	free(big_value);
	free(long_value);
	free(long_name);
	free(many_params);
	free(long_query);
	free(long_path);
	lb_secbuf_free(f.secret);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_header_value_trim),
	    cmocka_unit_test(test_query_sort),
	    cmocka_unit_test(test_path_forms),
	    cmocka_unit_test(test_session_token),
	    cmocka_unit_test(test_payload_hash),
	    cmocka_unit_test(test_timestamp),
	    cmocka_unit_test(test_errors),
	};

	if (lb_secmem_init() < 0) {
		fprintf(stderr, "test_sigv4_rules: libsodium failed to initialise\n");
		return 1;
	}
	return cmocka_run_group_tests(tests, NULL, NULL);
}
