/* gcp-sm and azure-kv reply parsers (see cloud_parse.h). */
#include "cloud_parse.h"
#include "netstore.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

uint32_t lb_crc32c(const void *p, size_t len)
{
	static uint32_t table[256];
	static bool ready;
	const unsigned char *b = p;
	uint32_t crc = 0xffffffffu;

	if (!ready) {
		for (uint32_t i = 0; i < 256; i++) {
			uint32_t c = i;
			for (int k = 0; k < 8; k++)
				c = (c & 1) ? (c >> 1) ^ 0x82f63b78u : c >> 1;
			table[i] = c;
		}
		ready = true;
	}
	for (size_t i = 0; i < len; i++)
		crc = table[(crc ^ b[i]) & 0xff] ^ (crc >> 8);
	return crc ^ 0xffffffffu;
}

static void version_from(const char *name, char *version, size_t vcap)
{
	const char *slash = name ? strrchr(name, '/') : NULL;

	snprintf(version, vcap, "%s", slash ? slash + 1 : "");
	lb_nst_printable(version);
}

int lb_gcp_access_parse(json_t *reply, lb_secbuf **value, char *version, size_t vcap, bool *no_crc,
			lb_err *e)
{
	json_t *payload = json_object_get(reply, "payload");
	json_t *data = json_object_get(payload, "data");
	json_t *crc = json_object_get(payload, "dataCrc32c");
	_cleanup_secbuf_ lb_secbuf *v = NULL;
	size_t len = 0, b64len;
	long long want = -1;

	*value = NULL;
	if (!json_is_string(data))
		return lb_fail(e, 0, "reply has no payload.data");
	b64len = json_string_length(data);
	v = lb_secbuf_new(b64len / 4 * 3 + 3);
	if (!v)
		return lb_fail(e, ENOMEM, "out of secure memory");
	if (sodium_base642bin(v->data, b64len / 4 * 3 + 3, json_string_value(data), b64len, NULL,
			      &len, NULL, sodium_base64_VARIANT_ORIGINAL) != 0)
		return lb_fail(e, 0, "payload.data is not base64");
	v->len = len;
	v->data[len] = '\0';
	/* dataCrc32c is an int64, which JSON (proto3 mapping) carries as a string. */
	if (json_is_string(crc)) {
		char *end;
		want = strtoll(json_string_value(crc), &end, 10);
		if (*end || want < 0)
			return lb_fail(e, 0, "payload.dataCrc32c is not a number");
	} else if (json_is_integer(crc)) {
		want = json_integer_value(crc);
	}
	if (want >= 0 && (uint32_t)want != lb_crc32c(v->data, len))
		return lb_fail(e, 0,
			       "payload checksum mismatch (dataCrc32c): the value was corrupted "
			       "in transit");
	*no_crc = want < 0;
	version_from(json_string_value(json_object_get(reply, "name")), version, vcap);
	*value = v;
	v = NULL;
	return 0;
}

void lb_gcp_error(long status, json_t *reply, char *buf, size_t cap)
{
	json_t *err = json_object_get(reply, "error");
	const char *st = json_string_value(json_object_get(err, "status"));
	const char *msg = json_string_value(json_object_get(err, "message"));
	const char *name = st;

	if (!name) /* no Google error body (a proxy): name the status as the API would */
		name = status == 404   ? "NOT_FOUND"
		       : status == 403 ? "PERMISSION_DENIED"
		       : status == 429 ? "RESOURCE_EXHAUSTED"
		       : status == 401 ? "UNAUTHENTICATED"
		       : status >= 500 ? "UNAVAILABLE"
				       : "error";
	snprintf(buf, cap, "%s: %.300s (HTTP %ld)", name, msg ? msg : "no message", status);
	lb_nst_printable(buf);
}

int lb_azure_secret_parse(json_t *reply, lb_secbuf **value, char *version, size_t vcap, lb_err *e)
{
	json_t *v = json_object_get(reply, "value");

	*value = NULL;
	if (!json_is_string(v))
		return lb_fail(e, 0, "reply has no value");
	*value = lb_secbuf_dup(json_string_value(v), json_string_length(v));
	if (!*value)
		return lb_fail(e, ENOMEM, "out of secure memory");
	version_from(json_string_value(json_object_get(reply, "id")), version, vcap);
	return 0;
}

void lb_azure_error(long status, json_t *reply, char *buf, size_t cap)
{
	json_t *err = json_object_get(reply, "error");
	const char *code = json_string_value(json_object_get(err, "code"));
	const char *inner =
	    json_string_value(json_object_get(json_object_get(err, "innererror"), "code"));
	const char *msg = json_string_value(json_object_get(err, "message"));

	if (!code)
		code = status == 404   ? "NotFound"
		       : status == 403 ? "Forbidden"
		       : status == 401 ? "Unauthorized"
		       : status == 429 ? "Throttled"
				       : "error";
	snprintf(buf, cap, "%s%s%s: %.300s (HTTP %ld)", code, inner ? "/" : "", inner ? inner : "",
		 msg ? msg : "no message", status);
	lb_nst_printable(buf);
}
