/* The vault store's options (storeopts.h), read by vault.c and checked by policy/config.c. */
#include "storeopts.h"

#include <ctype.h>
#include <string.h>

static const char *const methods[] = {"token", "approle", "cert", "jwt", "kubernetes", "aws", NULL};

/* An auth mount is a path inside Vault's auth/ (it becomes part of the login URL): letters,
 * digits, '_', '-', '.' and inner '/', no "." or ".." segment. */
static bool mount_ok(const char *m)
{
	size_t n = strlen(m);

	if (n == 0 || n > 200 || m[0] == '/' || m[n - 1] == '/')
		return false;
	for (const char *seg = m; *seg;) {
		size_t len = strcspn(seg, "/");
		if ((len == 1 && seg[0] == '.') || (len == 2 && seg[0] == '.' && seg[1] == '.') ||
		    len == 0)
			return false;
		for (size_t i = 0; i < len; i++)
			if (!isalnum((unsigned char)seg[i]) && !strchr("_-.", seg[i]))
				return false;
		seg += len + (seg[len] == '/');
	}
	return true;
}

static void check_auth(json_t *auth, lb_opt_report report, void *ctx)
{
	const char *m = json_string_value(json_object_get(auth, "method"));
	static const char *const need_token[] = {"token_file", NULL};
	static const char *const need_approle[] = {"role_id_file", "secret_id_file", NULL};
	static const char *const need_jwt[] = {"role", "jwt_file", NULL};
	static const char *const need_role[] = {"role", NULL};
	static const char *const aws_only[] = {"region", "sts_endpoint", "server_id", NULL};
	const char *mount = json_string_value(json_object_get(auth, "mount"));
	const char *const *need = NULL;

	if (m && strcmp(m, "token") == 0)
		need = need_token;
	else if (m && strcmp(m, "approle") == 0)
		need = need_approle;
	else if (m && strcmp(m, "jwt") == 0)
		need = need_jwt;
	else if (m && (strcmp(m, "kubernetes") == 0 || strcmp(m, "aws") == 0))
		need = need_role;
	for (; need && *need; need++)
		if (!json_object_get(auth, *need))
			report(ctx, NULL, "missing required key \"%s\"", *need);
	if (mount && !mount_ok(mount))
		report(ctx, "mount",
		       "not an auth mount path (letters, digits, '_', '-', '.', '/')");
	for (const char *const *k = aws_only; m && strcmp(m, "aws") != 0 && *k; k++)
		if (json_object_get(auth, *k))
			report(ctx, *k, "applies to auth method aws only");
}

static const lb_opt auth_opts[] = {
    {.key = "method",
     .type = LB_OPT_CHOICE,
     .required = true,
     .choices = methods,
     .choice_name = "auth method"},
    {.key = "token_file", .type = LB_OPT_PATH},
    {.key = "role_id_file", .type = LB_OPT_PATH},
    {.key = "secret_id_file", .type = LB_OPT_PATH},
    {.key = "secret_id_wrapped", .type = LB_OPT_BOOL},
    {.key = "mount", .type = LB_OPT_STRING},
    {.key = "name", .type = LB_OPT_STRING},
    {.key = "role", .type = LB_OPT_STRING},
    {.key = "jwt_file", .type = LB_OPT_PATH},
    {.key = "region", .type = LB_OPT_IDENT},
    {.key = "sts_endpoint", .type = LB_OPT_HTTPS},
    {.key = "server_id", .type = LB_OPT_STRING},
    {.key = NULL},
};

static const lb_opt_schema auth_schema = {auth_opts, check_auth};

static void check_vault(json_t *v, lb_opt_report report, void *ctx)
{
	const char *m = json_string_value(json_object_get(json_object_get(v, "auth"), "method"));

	if (m && strcmp(m, "cert") == 0 && !json_object_get(v, "client_cert"))
		report(ctx, NULL, "auth method cert needs \"client_cert\" and \"client_key\"");
}

static const lb_opt vault_opts[] = {
    {.key = "type", .type = LB_OPT_STRING, .required = true},
    {.key = "address", .type = LB_OPT_HTTPS, .required = true},
    {.key = "ca_file", .type = LB_OPT_PATH},
    {.key = "ca_dir", .type = LB_OPT_PATH},
    {.key = "namespace", .type = LB_OPT_STRING},
    {.key = "kv_version", .type = LB_OPT_INT, .min = 1, .max = 2},
    {.key = "client_cert", .type = LB_OPT_PATH},
    {.key = "client_key", .type = LB_OPT_PATH},
    {.key = "auth", .type = LB_OPT_OBJECT, .required = true, .sub = &auth_schema},
    {.key = NULL},
};

const lb_store_schema lb_vault_schema = {"vault", {vault_opts, check_vault}};
