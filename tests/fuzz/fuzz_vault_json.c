/* Vault reply parsing (broker/stores/vault_parse.c): everything the vault store reads out
 * of a server's reply — the error list, the OK/error/fault split, sys/internal/ui/mounts,
 * KV v1/v2 reads (latest and pinned), leased reads, logins and PKI issue replies. A Vault server,
 * or anything that answers on its address, chooses every byte. Input: one byte choosing the HTTP
 * status, then the body. */
#include "fuzz.h"

#include "secmem.h"
#include "vault_parse.h"

static const long statuses[] = {200, 204, 400, 403, 404, 412, 429, 500, 502, 503};

FUZZ_INIT_SECMEM()

/* A value handed to targets is the data object re-encoded: it must parse back. */
static void check_value(const lb_secbuf *v)
{
	json_t *j;

	FUZZ_ASSERT(v && v->data[v->len] == '\0');
	j = json_loadb((const char *)v->data, v->len, 0, NULL);
	FUZZ_ASSERT(json_is_object(j));
	json_decref(j);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	lb_vault_reply r = {0};
	lb_secbuf *value = NULL, *tok = NULL;
	char version[64], err[400], id[600], mpath[512];
	int64_t dur = -1, ttl = -1;
	bool renewable = false, kv = false;
	lb_err le = {0};
	int kvver = 0;

	if (size < 1)
		return -1;
	lb_vault_reply_parse(&r, statuses[data[0] % (sizeof(statuses) / sizeof(statuses[0]))],
			     data + 1, size - 1);
	fuzz_check_text(r.err, sizeof(r.err));
	FUZZ_ASSERT(r.json == NULL || json_is_object(r.json));
	FUZZ_ASSERT(r.kind == LB_VAULT_OK || r.err[0] != '\0');
	for (const char *p = r.err; *p; p++)
		FUZZ_ASSERT(r.kind == LB_VAULT_OK || *p != '\n');

	for (int ver = 1; ver <= 2; ver++) {
		const char *pins[] = {"", "3"};
		for (size_t i = 0; i < 2; i++) {
			lb_err e = {0};
			if (lb_vault_kv_parse(&r, ver, pins[i], "secret/data/web", &value, version,
					      sizeof(version), &e) == 0) {
				FUZZ_ASSERT(r.kind == LB_VAULT_OK);
				check_value(value);
				FUZZ_ASSERT(ver == 2 || version[0] == '\0');
			} else {
				FUZZ_ASSERT(value == NULL && e.msg[0] != '\0');
				fuzz_check_text(e.msg, sizeof(e.msg));
			}
			lb_secbuf_free(value);
			value = NULL;
		}
	}

	if (lb_vault_lease_parse(&r, "database/creds/web", &value, id, sizeof(id), &dur, &renewable,
				 &le) == 0) {
		check_value(value);
		FUZZ_ASSERT(dur >= 0);
		fuzz_check_text(id, sizeof(id));
	} else {
		FUZZ_ASSERT(value == NULL && le.msg[0] != '\0');
		fuzz_check_text(le.msg, sizeof(le.msg));
	}
	lb_secbuf_free(value);

	if (lb_vault_mount_parse(r.json, "ns1/secret/web", mpath, sizeof(mpath), &kv, &kvver) ==
	    0) {
		FUZZ_ASSERT(kvver == 1 || kvver == 2);
		fuzz_check_text(mpath, sizeof(mpath));
	}
	if (lb_vault_mount_parse(r.json, "secret/web", mpath, sizeof(mpath), &kv, &kvver) == 0)
		FUZZ_ASSERT(mpath[0] != '\0');

	if (lb_vault_login_parse(r.json, &tok, &ttl, &renewable) == 0) {
		FUZZ_ASSERT(tok && tok->len > 0 && ttl >= 0);
		for (size_t i = 0; i < tok->len; i++)
			FUZZ_ASSERT(tok->data[i] > 0x20 && tok->data[i] < 0x7f);
	} else {
		FUZZ_ASSERT(tok == NULL);
	}
	lb_secbuf_free(tok);

	{
		char serial[64];
		int64_t not_after = -1;
		lb_err pe = {0};

		if (lb_vault_pki_parse(&r, &value, serial, sizeof(serial), &not_after, &pe) == 0) {
			check_value(value);
			FUZZ_ASSERT(not_after > 0 && serial[0]);
			FUZZ_ASSERT(strspn(serial, "0123456789abcdefABCDEF:") == strlen(serial));
		} else {
			FUZZ_ASSERT(value == NULL && pe.msg[0] != '\0');
			fuzz_check_text(pe.msg, sizeof(pe.msg));
		}
		lb_secbuf_free(value);
		value = NULL;
	}

	lb_vault_errors(r.json, err, 8); /* a small buffer truncates, never overflows */
	fuzz_check_text(err, 8);
	json_decref(r.json);
	return 0;
}
