/* Reply parsers of the gcp-sm and azure-kv providers: pure functions (no I/O, no logs) so
 * that tests/fuzz/fuzz_gcp_json.c and fuzz_azure_json.c reach them. Error texts name no
 * secret and are printable. */
#ifndef LB_CLOUD_PARSE_H
#define LB_CLOUD_PARSE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <jansson.h>

#include "err.h"
#include "secmem.h"

/* CRC32C (Castagnoli), as GCP's dataCrc32c. */
uint32_t lb_crc32c(const void *p, size_t len);

/* GCP versions/V:access reply: payload.data (base64) checked against payload.dataCrc32c;
 * version = the last part of name. *no_crc when the reply has no checksum. */
int lb_gcp_access_parse(json_t *reply, lb_secbuf **value, char *version, size_t vcap, bool *no_crc,
			lb_err *e);
/* A Google API error ({"error":{"status","message"}}) as one line; the status named as the
 * API would when the body has none (a proxy). */
void lb_gcp_error(long status, json_t *reply, char *buf, size_t cap);

/* Key Vault secret reply: value and the version at the end of id. */
int lb_azure_secret_parse(json_t *reply, lb_secbuf **value, char *version, size_t vcap, lb_err *e);
/* {"error":{"code","message","innererror":{"code"}}} as one line. */
void lb_azure_error(long status, json_t *reply, char *buf, size_t cap);

#endif
