/* azure-kv reply parsing (broker/stores/cloud_parse.c, oauth.c): the reply's classification
 * (401 / 429 / 5xx / other errors / 2xx without JSON), secrets/NAME[/VERSION] and its id,
 * Key Vault error bodies (innererror), and the OAuth token endpoint's reply and errors. A server
 * (or anything on its address) chooses every byte. Input: one byte choosing the HTTP status (and
 * read vs token request), then the body (fuzz_oauth_reply.h). */
#include "fuzz_oauth_reply.h"

FUZZ_INIT_SECMEM()

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	return fuzz_oauth_reply(data, size, lb_azure_error, lb_azure_secret_parse);
}
