/* AWS reply parsing (aws-sm, aws-ssm): what a JSON 1.1 reply means (by its __type, not its
 * HTTP status: AWS answers throttling and signature errors alike with 400), the value of a
 * GetSecretValue / GetParameter reply, and the credentials of an ECS or IMDS reply. Pure
 * functions (no I/O, no logs) so that tests/fuzz/fuzz_aws_json.c reaches them. */
#ifndef LB_AWS_PARSE_H
#define LB_AWS_PARSE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <jansson.h>

#include "err.h"
#include "netstore.h"
#include "secmem.h"

/* Classify a reply of the secrets API into r (verdict, json, err, drop_cred): 200 with a
 * JSON object is OK; ExpiredToken refreshes the credentials and replays once (not after a
 * replay); a refused signature or key drops the credentials and is a fault (never retried
 * in a loop); throttling, 5xx, 429 and non-JSON errors are faults; the rest is final. */
void lb_aws_classify(long status, const unsigned char *body, size_t len, bool replayed,
		     lb_nst_reply *r);

/* GetSecretValue (ssm false: SecretString or base64 SecretBinary, VersionId) or
 * GetParameter (ssm true: Parameter.Value, Parameter.Version). */
int lb_aws_value_parse(json_t *reply, bool ssm, lb_secbuf **value, bool *structured, char *version,
		       size_t vcap, lb_err *e);

/* AccessKeyId, SecretAccessKey, Token, Expiration ("2026-11-26T00:15:00Z"), Code: the
 * shape of both ECS and IMDS credentials. *expire is 0 without an Expiration. */
typedef struct lb_aws_creds {
	char akid[129];
	lb_secbuf *secret, *token; /* token NULL when absent */
	int64_t expire;
} lb_aws_creds;
int lb_aws_creds_parse(const unsigned char *body, size_t len, const char *source, lb_aws_creds *c,
		       lb_err *e);
void lb_aws_creds_clear(lb_aws_creds *c);

#endif
