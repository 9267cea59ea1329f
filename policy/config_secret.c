/* One entry of a binding's "secrets": a source URI, {"from": URI, "mode"}, or a rendered
 * secret {"template": TEXT} / {"template_file": PATH} (issue 17). A template is parsed
 * here, at load: its errors, and those of the sources it names, point into the template
 * (FILE:LINE:COL of the template file, or of the config inside the inline string). */
#include "config_priv.h"
#include "cleanup.h"
#include "jsonpos.h"
#include "units.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Sealed-store names: secret-name components separated by '/'. */
static bool sealed_name_ok(const char *s)
{
	char buf[512];
	char *save = NULL;

	if (strlen(s) >= sizeof(buf) || !*s || s[0] == '/' || s[strlen(s) - 1] == '/' ||
	    strstr(s, "//"))
		return false;
	snprintf(buf, sizeof(buf), "%s", s);
	for (char *part = strtok_r(buf, "/", &save); part; part = strtok_r(NULL, "/", &save))
		if (!lb_secret_name_valid(part))
			return false;
	return true;
}

/* Does src name a store of the config (and a good sealed name)? msg says why not. */
static bool store_ok(const lb_config *cfg, const lb_source *src, const char *uri, char *msg,
		     size_t cap)
{
	const lb_store_cfg *store = lb_config_store(cfg, src->store);

	if (!store) {
		snprintf(msg, cap,
			 "source \"%s\" names store \"%s\", which is not defined in \"stores\"",
			 uri, src->store);
		return false;
	}
	if (strcmp(store->type, "sealed") == 0 && !sealed_name_ok(src->path)) {
		snprintf(msg, cap, "source \"%s\": bad sealed secret name \"%s\"", uri, src->path);
		return false;
	}
	return true;
}

/* Position in the config text of byte off of the decoded JSON string that is the value of
 * key path sub (jsonpos knows where the key is; the value follows it). */
static void inline_pos(struct ctx *c, const char *sub, size_t off, int *line, int *col)
{
	const char *p = c->text;
	int l = 1, cl = 1;
	size_t d = 0;

	lb_jsonpos_lookup(c->pos, sub, line, col);
	if (!p)
		return;
	while (*p && (l < *line || (l == *line && cl < *col))) {
		if (*p++ == '\n')
			l++, cl = 1;
		else
			cl++;
	}
	if (*p != '"')
		return;
	/* the key, the colon, the value's opening quote */
	for (p++, cl++; *p && *p != '"'; p++, cl++)
		if (*p == '\\' && p[1])
			p++, cl++;
	if (!*p)
		return;
	for (p++, cl++; *p == ' ' || *p == '\t' || *p == '\r' || *p == '\n' || *p == ':'; p++)
		if (*p == '\n')
			l++, cl = 1;
		else
			cl++;
	if (*p != '"')
		return;
	for (p++, cl++; *p && *p != '"' && d < off;) {
		size_t bytes = 1, chars = 1;

		if (*p == '\\' && p[1] == 'u') {
			unsigned cp =
			    (unsigned)strtoul((char[5]){p[2], p[3], p[4], p[5], 0}, NULL, 16);
			chars = 6;
			bytes = cp < 0x80 ? 1 : cp < 0x800 ? 2 : 3;
			if (cp >= 0xd800 && cp <= 0xdbff && p[6] == '\\' && p[7] == 'u')
				bytes = 4, chars = 12;
		} else if (*p == '\\' && p[1]) {
			chars = 2;
		}
		for (size_t i = 0; i < chars && *p; i++)
			p++;
		cl += (int)chars;
		d += bytes;
	}
	*line = l;
	*col = cl;
}

/* Report a template problem at byte off of its text. */
static void tmpl_err(struct ctx *c, const char *sub, const char *file, const char *text, size_t len,
		     size_t off, const char *msg)
{
	int line, col;

	if (file) {
		lb_template_position(text, len, off, &line, &col);
		lb_cfg_err_at(c, file, line, col, sub, "%s", msg);
	} else {
		inline_pos(c, sub, off, &line, &col);
		lb_cfg_err_at(c, NULL, line, col, sub, "%s", msg);
	}
}

static void parse_template(struct ctx *c, lb_config *cfg, const char *path, json_t *v,
			   lb_secret_spec *s)
{
	char sub[512], msg[700];
	json_t *x;
	const char *text, *file = NULL;
	_cleanup_free_ char *ftext = NULL;
	size_t len = 0, off = 0;
	lb_err e = {0};

	if ((x = lb_cfg_want(c, v, path, "template", JSON_STRING, false, sub, sizeof(sub)))) {
		text = json_string_value(x);
		len = json_string_length(x);
	} else if ((x = lb_cfg_want(c, v, path, "template_file", JSON_STRING, false, sub,
				    sizeof(sub)))) {
		file = json_string_value(x);
		if (!lb_cfg_abs_path_ok(file)) {
			lb_cfg_err(c, sub, "must be an absolute path without \"..\"");
			return;
		}
		/* Read at every load: SIGHUP picks up a changed template. */
		if (!(ftext = lb_cfg_read_text(file, LB_TEMPLATE_MAX, &len, &e))) {
			lb_cfg_err(c, sub, "cannot read the template: %s", e.msg);
			return;
		}
		text = ftext;
	} else {
		return;
	}
	s->tmpl = lb_template_parse(text, len, &off, &e);
	if (!s->tmpl) {
		tmpl_err(c, sub, file, text, len, off, e.msg);
		return;
	}
	for (size_t i = 0; i < lb_template_nsources(s->tmpl); i++) {
		const lb_source *src = lb_template_source(s->tmpl, i);
		char uri[1024];

		lb_source_key(src, uri, sizeof(uri));
		if (src->field[0])
			snprintf(uri + strlen(uri), sizeof(uri) - strlen(uri), "#%s", src->field);
		if (!store_ok(cfg, src, uri, msg, sizeof(msg)))
			tmpl_err(c, sub, file, text, len, lb_template_source_offset(s->tmpl, i),
				 msg);
	}
	/* What the manifest names as the secret's source; never fetched. */
	snprintf(s->src.store, sizeof(s->src.store), "template");
	snprintf(s->src.path, sizeof(s->src.path), "%s", file ? file : s->name);
	snprintf(s->uri, sizeof(s->uri), "template:%s", s->src.path);
}

/* "params" of a write (Vault PKI: MOUNT/issue/ROLE): scalar values, kept as canonical JSON
 * in the source, so that equal params share one certificate and different ones do not. */
static void parse_params(struct ctx *c, lb_config *cfg, const char *path, json_t *v,
			 lb_secret_spec *s)
{
	char sub[512], el[700];
	json_t *p = lb_cfg_want(c, v, path, "params", JSON_OBJECT, false, sub, sizeof(sub)), *x;
	const lb_store_cfg *store = lb_config_store(cfg, s->src.store);
	const char *k;
	char *dump;

	if (!p)
		return;
	if (!store || strcmp(store->type, "vault") != 0 || !strstr(s->src.path, "/issue/") ||
	    s->src.version[0]) {
		lb_cfg_err(c, sub,
			   "params apply to Vault PKI certificates only "
			   "(\"vault:MOUNT/issue/ROLE#certificate\", no ?version=)");
		return;
	}
	json_object_foreach (p, k, x) {
		snprintf(el, sizeof(el), "%s.%s", sub, k);
		if (!json_is_string(x) && !json_is_integer(x) && !json_is_boolean(x))
			lb_cfg_err(c, el, "expected string, integer or boolean, got %s",
				   lb_cfg_type_name(x));
	}
	dump = json_dumps(p, JSON_COMPACT | JSON_SORT_KEYS);
	if (!dump || strlen(dump) >= sizeof(s->src.params))
		lb_cfg_err(c, sub, "at most %zu bytes as compact JSON", sizeof(s->src.params) - 1);
	else if (json_object_size(p))
		snprintf(s->src.params, sizeof(s->src.params), "%s", dump);
	lb_json_free(dump);
}

void lb_cfg_parse_secret(struct ctx *c, lb_config *cfg, const char *path, const char *name,
			 json_t *v, lb_secret_spec *s)
{
	const char *uri = NULL;
	char msg[700];
	lb_err e = {0};

	s->mode = 0400;
	if (!lb_secret_name_valid(name))
		lb_cfg_err(
		    c, path,
		    "bad secret name (expected [A-Za-z0-9_][A-Za-z0-9_.-]{0,127}, no \"..\")");
	snprintf(s->name, sizeof(s->name), "%s", name);
	if (json_is_string(v)) {
		uri = json_string_value(v);
	} else if (json_is_object(v)) {
		static const char *const keys[] = {"from",	    "mode",   "template",
						   "template_file", "params", NULL};
		char sub[512];
		json_t *from =
		    lb_cfg_want(c, v, path, "from", JSON_STRING, false, sub, sizeof(sub));
		json_t *mode =
		    lb_cfg_want(c, v, path, "mode", JSON_STRING, false, sub, sizeof(sub));
		int kinds = !!json_object_get(v, "from") + !!json_object_get(v, "template") +
			    !!json_object_get(v, "template_file");

		lb_cfg_check_keys(c, path, v, keys);
		if (kinds != 1)
			lb_cfg_err(c, path,
				   kinds ? "give only one of \"from\", \"template\" and "
					   "\"template_file\""
					 : "missing required key \"from\" (or \"template\", "
					   "\"template_file\")");
		if (from)
			uri = json_string_value(from);
		if (mode && lb_parse_mode(json_string_value(mode), &s->mode))
			lb_cfg_err(c, sub,
				   "bad mode \"%s\" (expected octal like \"0440\"; no write for "
				   "group/other, no setuid/setgid/sticky)",
				   json_string_value(mode));
		if (kinds == 1 && !from)
			parse_template(c, cfg, path, v, s);
		if (!from && json_object_get(v, "params"))
			lb_cfg_err(c, path, "\"params\" go with \"from\", not with a template");
	} else {
		lb_cfg_err(
		    c, path,
		    "expected a source URI string or {\"from\":URI,\"mode\":\"0440\"}, got %s",
		    lb_cfg_type_name(v));
		return;
	}
	if (!uri)
		return;
	snprintf(s->uri, sizeof(s->uri), "%s", uri);
	if (lb_source_parse(uri, &s->src, &e)) {
		lb_cfg_err(c, path, "%s", e.msg);
		return;
	}
	if (!store_ok(cfg, &s->src, uri, msg, sizeof(msg)))
		lb_cfg_err(c, path, "%s", msg);
	else if (json_is_object(v) && json_object_get(v, "params"))
		parse_params(c, cfg, path, v, s);
}
