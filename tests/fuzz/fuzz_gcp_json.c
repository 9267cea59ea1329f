/* gcp-sm reply parsing (broker/stores/cloud_parse.c, oauth.c): the reply's classification
 * (401 / 429 / 5xx / other errors / 2xx without JSON), versions/V:access with its CRC32C,
 * Google error bodies, and the OAuth token endpoint's reply and errors. A server (or
 * anything on its address) chooses every byte.
 * Input: one byte choosing the HTTP status (and read vs token request), then the body
 * (fuzz_oauth_reply.h). */
#include "fuzz_oauth_reply.h"

FUZZ_INIT_SECMEM()

/* The CRC32C flag is the parse's own business here: checked or not, the value is sound. */
static int gcp_parse(json_t *reply, lb_secbuf **value, char *version, size_t vcap, lb_err *e)
{
	bool no_crc = false;

	return lb_gcp_access_parse(reply, value, version, vcap, &no_crc, e);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	return fuzz_oauth_reply(data, size, lb_gcp_error, gcp_parse);
}
