/* Volume-plugin requests (lb_plugin_decode, broker/docker/plugin.c): what dockerd (or any
 * root process on the plugin socket) sends, before the VolumeDriver handler. Input: one byte
 * (bit 0: GET instead of POST, bit 1: the body was over LB_PLUGIN_REQ_MAX), the URL up to
 * the first '\n', then the body. */
#include "fuzz.h"

#include "plugin.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const uint8_t *nl;
	char *url, *body;
	size_t blen;
	unsigned int status = 0;
	const char *ep = NULL;
	json_t *req = NULL, *out;

	if (size < 1 || !(nl = memchr(data + 1, '\n', size - 1)))
		return -1;
	url = fuzz_strndup(data + 1, (size_t)(nl - data - 1));
	blen = size - (size_t)(nl + 1 - data);
	body = malloc(blen ? blen : 1);
	if (!body)
		abort();
	memcpy(body, nl + 1, blen);
	out = lb_plugin_decode(data[0] & 1 ? "GET" : "POST", url, body, blen, data[0] & 2, &status,
			       &ep, &req);
	if (out) {
		FUZZ_ASSERT(json_is_object(out) && !req && !ep);
		FUZZ_ASSERT(status == 200 || json_is_string(json_object_get(out, "Err")));
	} else {
		FUZZ_ASSERT(ep && json_is_object(req) && status == 200);
	}
	json_decref(out);
	json_decref(req);
	free(url);
	free(body);
	return 0;
}
