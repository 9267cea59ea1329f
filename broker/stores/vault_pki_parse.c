/* pki/issue/ROLE's reply (issue 17): a pure function, reached by fuzz_vault_json. */
#include "cleanup.h"
#include "vault_parse.h"

#include <stdio.h>
#include <string.h>

/* PEM texts joined, each ending with a newline; *n counts the bytes (out NULL: count
 * only). */
static void join(const char *const *parts, size_t np, unsigned char *out, size_t *n)
{
	*n = 0;
	for (size_t i = 0; i < np; i++) {
		size_t l = strlen(parts[i]);

		if (!l)
			continue;
		if (out)
			memcpy(out + *n, parts[i], l);
		*n += l;
		if (parts[i][l - 1] != '\n') {
			if (out)
				out[*n] = '\n';
			(*n)++;
		}
	}
}

static int set_joined(json_t *obj, const char *key, const char *const *parts, size_t np)
{
	_cleanup_secbuf_ lb_secbuf *b = NULL;
	size_t n;

	join(parts, np, NULL, &n);
	if (!(b = lb_secbuf_new(n)))
		return -1;
	join(parts, np, b->data, &n);
	return json_object_set_new(obj, key, json_stringn((const char *)b->data, n));
}

int lb_vault_pki_parse(const lb_vault_reply *r, lb_secbuf **value, char *serial, size_t scap,
		       int64_t *not_after, lb_err *e)
{
	json_t *d = json_object_get(r->json, "data"), *chain, *x;
	const char *cert, *key, *ca, *ser, *type;
	const char *parts[18];
	size_t np = 0, i;
	_cleanup_json_ json_t *obj = NULL;

	*value = NULL;
	serial[0] = '\0';
	*not_after = 0;
	if (r->kind != LB_VAULT_OK)
		return lb_fail(e, 0, "%s", r->err[0] ? r->err : "issue failed");
	cert = json_string_value(json_object_get(d, "certificate"));
	key = json_string_value(json_object_get(d, "private_key"));
	ca = json_string_value(json_object_get(d, "issuing_ca"));
	ser = json_string_value(json_object_get(d, "serial_number"));
	type = json_string_value(json_object_get(d, "private_key_type"));
	x = json_object_get(d, "expiration");
	if (!cert || !key || !ca || !ser || !json_is_integer(x) || json_integer_value(x) <= 0 ||
	    !*cert || !*key)
		return lb_fail(e, 0,
			       "issue reply without certificate, private_key, issuing_ca, "
			       "serial_number or expiration");
	if (!*ser || strlen(ser) >= scap || strspn(ser, "0123456789abcdefABCDEF:") != strlen(ser))
		return lb_fail(e, 0, "issue reply with a bad serial_number");
	chain = json_object_get(d, "ca_chain");
	json_array_foreach (chain, i, x) {
		if (!json_is_string(x) || np == 16)
			return lb_fail(e, 0, "issue reply with a bad ca_chain");
		parts[np++] = json_string_value(x);
	}
	if (np == 0)
		parts[np++] = ca;
	obj = json_object();
	if (!obj || json_object_set_new(obj, "certificate", json_string(cert)) ||
	    json_object_set_new(obj, "private_key", json_string(key)) ||
	    json_object_set_new(obj, "issuing_ca", json_string(ca)) ||
	    json_object_set_new(obj, "serial_number", json_string(ser)) ||
	    json_object_set_new(
		obj, "expiration",
		json_integer(json_integer_value(json_object_get(d, "expiration")))) ||
	    (type && json_object_set_new(obj, "private_key_type", json_string(type))) ||
	    set_joined(obj, "ca_chain", parts, np))
		return lb_fail(e, ENOMEM, "out of memory");
	/* The bundle: certificate, chain, key (what nginx's ssl_certificate plus key, or
	 * HAProxy's crt, take in one file). */
	memmove(parts + 1, parts, np * sizeof(parts[0]));
	parts[0] = cert;
	parts[np + 1] = key;
	if (set_joined(obj, "bundle", parts, np + 2))
		return lb_fail(e, ENOMEM, "out of memory");
	if (!(*value = lb_vault_secbuf_from_json(obj)))
		return lb_fail(e, ENOMEM, "out of secure memory");
	snprintf(serial, scap, "%s", ser);
	*not_after = json_integer_value(json_object_get(d, "expiration"));
	return 0;
}
