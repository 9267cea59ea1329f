/* aws-sm / aws-ssm reply parsing (broker/stores/aws_parse.c): the classification by
 * __type (expired, refused signature, throttling, final), GetSecretValue (SecretString,
 * base64 SecretBinary) and GetParameter values, and ECS / IMDS credential replies. A server
 * (or anything on its address) chooses every byte.
 * Input: one byte choosing the HTTP status (and replayed, ssm), then the body. */
#include "fuzz.h"

#include "aws_parse.h"
#include "secmem.h"

static const long statuses[] = {200, 400, 403, 404, 429, 500, 503};

FUZZ_INIT_SECMEM()

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	lb_nst_reply r = {0};
	lb_secbuf *value = NULL;
	lb_aws_creds c;
	lb_err e = {0};
	char version[64];
	bool structured = false, replayed, ssm;
	long status;

	if (size < 1)
		return -1;
	status = statuses[(data[0] & 0x3f) % (sizeof(statuses) / sizeof(statuses[0]))];
	replayed = data[0] & 0x40;
	ssm = data[0] & 0x80;
	lb_aws_classify(status, data + 1, size - 1, replayed, &r);
	FUZZ_ASSERT(r.json == NULL || json_is_object(r.json));
	FUZZ_ASSERT(r.verdict == LB_NST_OK || r.err.msg[0] != '\0');
	FUZZ_ASSERT(!(replayed && r.verdict == LB_NST_REFRESH));
	FUZZ_ASSERT(r.verdict != LB_NST_OK || status == 200);
	fuzz_check_printable(r.err.msg, sizeof(r.err.msg));
	if (r.verdict == LB_NST_OK) {
		if (lb_aws_value_parse(r.json, ssm, &value, &structured, version, sizeof(version),
				       &e) == 0) {
			FUZZ_ASSERT(value && value->data[value->len] == '\0');
			fuzz_check_printable(version, sizeof(version));
		} else {
			FUZZ_ASSERT(value == NULL && e.msg[0]);
		}
		lb_secbuf_free(value);
	}
	json_decref(r.json);
	if (lb_aws_creds_parse(data + 1, size - 1, "EC2 IMDSv2", &c, &e) == 0) {
		FUZZ_ASSERT(c.akid[0] && c.secret &&
			    c.secret->len == strlen((char *)c.secret->data));
		lb_aws_creds_clear(&c);
	} else {
		fuzz_check_printable(e.msg, sizeof(e.msg));
	}
	return 0;
}
