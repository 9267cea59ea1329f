/* Posture check of a container's environment: secret-looking names, and values that are
 * managed secrets (compared by keyed hash, never in clear). */
#include "posture_rules.h"

#include <ctype.h>
#include <string.h>

static bool ends_with(const char *s, size_t n, const char *suffix)
{
	size_t m = strlen(suffix);
	return n >= m && strncmp(s + n - m, suffix, m) == 0;
}

/* DESIGN.md: names like *PASSWORD*, *SECRET*, *TOKEN*, *KEY* without a _FILE suffix (or
 * _PATH: a path is not the secret). GPG_KEY(S) of the official language images is a public
 * key fingerprint. */
static bool secret_looking_name(const char *name, size_t n)
{
	static const char *const words[] = {"PASSWORD", "PASSWD",      "SECRET",     "TOKEN",
					    "API_KEY",	"PRIVATE_KEY", "CREDENTIAL", "KEY"};
	char up[256];

	if (n >= sizeof(up))
		n = sizeof(up) - 1;
	for (size_t i = 0; i < n; i++)
		up[i] = (char)toupper((unsigned char)name[i]);
	up[n] = '\0';
	if (ends_with(up, n, "_FILE") || ends_with(up, n, "_PATH") || strcmp(up, "GPG_KEY") == 0 ||
	    strcmp(up, "GPG_KEYS") == 0)
		return false;
	for (size_t i = 0; i < sizeof(words) / sizeof(words[0]); i++)
		if (strstr(up, words[i]))
			return true;
	return false;
}

void lb_pe_check_no_secret_env(const ctx *c, side *in, side *k)
{
	char names_buf[LB_EVIDENCE_MAX], vals_buf[LB_EVIDENCE_MAX];
	size_t i, n_names = 0, n_vals = 0;
	sb names, vals;
	json_t *x;

	(void)k; /* /proc/PID/environ would bring the values into lockboxd: inspect has them */
	lb_pe_sb_init(&names, names_buf, sizeof(names_buf));
	lb_pe_sb_init(&vals, vals_buf, sizeof(vals_buf));
	lb_pe_sb_add(&in->ev, "Env names [");
	json_array_foreach (c->in->env, i, x) {
		const char *s = json_string_value(x), *eq = strchr(s, '=');
		size_t n = eq ? (size_t)(eq - s) : strlen(s);
		char name[80];

		snprintf(name, sizeof(name), "%.*s", (int)(n < 79 ? n : 79), s);
		lb_pe_sb_add(&in->ev, i ? " " : "");
		lb_pe_sb_untrusted(&in->ev, name, 64);
		if (secret_looking_name(s, n)) {
			if (n_names++ < 3) {
				lb_pe_sb_add(&names, n_names > 1 ? " " : "");
				lb_pe_sb_untrusted(&names, name, 64);
			}
		}
		if (eq && c->h && lb_secret_hashes_contains(c->h, eq + 1, strlen(eq + 1))) {
			if (n_vals++ < 3) {
				lb_pe_sb_add(&vals, n_vals > 1 ? " " : "");
				lb_pe_sb_untrusted(&vals, name, 64);
			}
		}
	}
	lb_pe_sb_add(&in->ev, "]%s", c->h ? ", values checked against managed secrets" : "");
	if (n_names)
		lb_pe_side_fail(in, "secret-looking env %s%s", names_buf,
				n_names > 3 ? " ..." : "");
	if (n_vals)
		lb_pe_side_fail(in, "env %s holds a managed secret%s", vals_buf,
				n_vals > 3 ? " ..." : "");
}
