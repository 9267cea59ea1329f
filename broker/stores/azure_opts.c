/* The azure-kv store's options (storeopts.h), read by azure.c and checked by
 * policy/config.c. */
#include "storeopts.h"

#include <ctype.h>
#include <string.h>

/* The token resource is derived from vault_url's DNS suffix (https://NAME.vault.azure.net
 * -> https://vault.azure.net): an IP address gave "https://0.0.1" (issue 13). */
static void check_vault_host(json_t *v, lb_opt_report report, void *ctx)
{
	const char *url = json_string_value(json_object_get(v, "vault_url"));
	const char *host;
	size_t n, i;

	if (!url || strncmp(url, "https://", 8) != 0)
		return;
	host = url + 8;
	n = strcspn(host, ":/?#");
	for (i = 0; i < n && (isdigit((unsigned char)host[i]) || host[i] == '.'); i++)
		;
	if (n == 0 || host[0] == '[' || i == n || !memchr(host, '.', n))
		report(ctx, "vault_url",
		       "must name the vault by its DNS name (https://NAME.vault.azure.net), not an "
		       "IP address or a bare host: the token resource is its DNS suffix (use "
		       "\"endpoint\" to reach it at another address)");
}

static void check_azure(json_t *v, lb_opt_report report, void *ctx)
{
	bool secret = json_object_get(v, "client_secret_file") != NULL;
	bool cert = json_object_get(v, "client_certificate_file") != NULL;

	check_vault_host(v, report, ctx);
	if ((secret || cert) &&
	    (!json_object_get(v, "tenant_id") || !json_object_get(v, "client_id")))
		report(ctx, NULL, "a client secret or certificate needs tenant_id and client_id");
	if (secret && cert)
		report(ctx, NULL,
		       "client_secret_file and client_certificate_file exclude each other");
}

static const lb_opt azure_opts[] = {
    {.key = "type", .type = LB_OPT_STRING, .required = true},
    {.key = "vault_url", .type = LB_OPT_HTTPS, .required = true},
    {.key = "tenant_id", .type = LB_OPT_STRING},
    {.key = "client_id", .type = LB_OPT_STRING},
    {.key = "client_secret_file", .type = LB_OPT_PATH},
    {.key = "client_certificate_file", .type = LB_OPT_PATH},
    {.key = "authority_host", .type = LB_OPT_HTTPS, .def = "https://login.microsoftonline.com"},
    {.key = "endpoint", .type = LB_OPT_HTTPS},
    {.key = "ca_file", .type = LB_OPT_PATH},
    {.key = NULL},
};

const lb_store_schema lb_azure_kv_schema = {"azure-kv", {azure_opts, check_azure}};
