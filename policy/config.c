#include "config.h"
#include "config_priv.h"
#include "cleanup.h"
#include "jsonpos.h"
#include "posture.h"
#include "units.h"
#include "idmap.h"

#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static void diag_add(lb_diag *d, const char *line)
{
	char **n = realloc(d->lines, (d->n + 1) * sizeof(*n));

	if (!n)
		return;
	d->lines = n;
	d->lines[d->n] = strdup(line);
	if (d->lines[d->n])
		d->n++;
}

void lb_diag_free(lb_diag *d)
{
	for (size_t i = 0; i < d->n; i++)
		free(d->lines[i]);
	free(d->lines);
	d->lines = NULL;
	d->n = 0;
}

__attribute__((format(printf, 3, 4))) static void cerr(struct ctx *c, const char *path,
						       const char *fmt, ...)
{
	char msg[768], line[1200];
	int ln = 1, col = 1;
	va_list ap;

	va_start(ap, fmt);
	(void)vsnprintf(msg, sizeof(msg), fmt, ap); /* a message cut at 767 bytes is fine */
	va_end(ap);
	if (c->pos)
		lb_jsonpos_lookup(c->pos, path, &ln, &col);
	snprintf(line, sizeof(line), "%s:%d:%d: %s: %s", c->file, ln, col, path[0] ? path : "(top)",
		 msg);
	diag_add(c->d, line);
	c->errors++;
}

static const char *type_name(const json_t *v)
{
	switch (json_typeof(v)) {
	case JSON_OBJECT:
		return "object";
	case JSON_ARRAY:
		return "array";
	case JSON_STRING:
		return "string";
	case JSON_INTEGER:
		return "integer";
	case JSON_REAL:
		return "number";
	case JSON_TRUE:
	case JSON_FALSE:
		return "boolean";
	default:
		return "null";
	}
}

/* Reject keys not in allowed (NULL-terminated). */
static void check_keys(struct ctx *c, const char *path, json_t *obj, const char *const *allowed)
{
	const char *key;
	json_t *v;

	json_object_foreach (obj, key, v) {
		bool ok = false;
		char sub[512];

		for (const char *const *a = allowed; *a; a++)
			ok = ok || strcmp(*a, key) == 0;
		if (!ok) {
			char list[256] = "";
			for (const char *const *a = allowed; *a; a++)
				snprintf(list + strlen(list), sizeof(list) - strlen(list), "%s%s",
					 list[0] ? ", " : "", *a);
			snprintf(sub, sizeof(sub), "%s%s%s", path, path[0] ? "." : "", key);
			cerr(c, sub, "unknown key (expected one of: %s)", list);
		}
	}
}

static json_t *want(struct ctx *c, json_t *obj, const char *path, const char *key, json_type t,
		    bool required, char *sub, size_t subcap)
{
	json_t *v = json_object_get(obj, key);

	snprintf(sub, subcap, "%s%s%s", path, path[0] ? "." : "", key);
	if (!v) {
		if (required)
			cerr(c, path, "missing required key \"%s\"", key);
		return NULL;
	}
	if (json_typeof(v) != t && !(t == JSON_TRUE && json_is_boolean(v))) {
		static const char *const names[] = {"object", "array",	 "string",  "integer",
						    "number", "boolean", "boolean", "null"};
		cerr(c, sub, "expected %s, got %s", names[t], type_name(v));
		return NULL;
	}
	return v;
}

static bool abs_path_ok(const char *s)
{
	return s[0] == '/' && !strstr(s, "/../") &&
	       strcmp(s + strlen(s) - (strlen(s) > 2 ? 3 : 0), "/..") != 0;
}

static const char *get_path(struct ctx *c, json_t *obj, const char *path, const char *key,
			    const char *def)
{
	char sub[512];
	json_t *v = want(c, obj, path, key, JSON_STRING, false, sub, sizeof(sub));

	if (!v)
		return def;
	if (!abs_path_ok(json_string_value(v))) {
		cerr(c, sub, "must be an absolute path without \"..\"");
		return def;
	}
	return json_string_value(v);
}

/* A unix socket the broker binds or connects to: sun_path holds 107 bytes and a NUL. The
 * plugin socket also names the volume driver: its base name without ".sock" (issue 13:
 * --check-config accepted paths the broker could not bind). */
static void check_socket_path(struct ctx *c, const char *where, const char *p, bool driver)
{
	const char *base = strrchr(p, '/') + 1;
	size_t n = strlen(base);

	if (strlen(p) > 107) {
		cerr(c, where, "socket path of %zu bytes, at most 107", strlen(p));
		return;
	}
	if (!driver)
		return;
	/* dockerd looks for plugin NAME at NAME.sock. */
	if (n < 5 || strcmp(base + n - 5, ".sock") != 0) {
		cerr(c, where, "must name a NAME.sock file (NAME is the volume driver)");
		return;
	}
	n -= 5;
	if (n == 0 || n > 63) {
		cerr(c, where,
		     "needs a file name NAME.sock, NAME (the volume driver) of 1 to 63 "
		     "characters");
		return;
	}
	for (size_t i = 0; i < n; i++)
		if (!((base[i] >= 'a' && base[i] <= 'z') || (base[i] >= 'A' && base[i] <= 'Z') ||
		      (base[i] >= '0' && base[i] <= '9') || strchr("_-.", base[i]))) {
			cerr(c, where,
			     "the volume driver name \"%.*s\" may hold only letters, "
			     "digits, '_', '-' and '.'",
			     (int)n, base);
			return;
		}
}

bool lb_cfg_ident_ok(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > 63)
		return false;
	for (; *s; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
		      (*s >= '0' && *s <= '9') || *s == '_' || *s == '-'))
			return false;
	return true;
}

/* For config_secret.c (config_priv.h). */
void lb_cfg_err(struct ctx *c, const char *path, const char *fmt, ...)
{
	char msg[768];
	va_list ap;

	va_start(ap, fmt);
	(void)vsnprintf(msg, sizeof(msg), fmt, ap); /* a message cut at 767 bytes is fine */
	va_end(ap);
	cerr(c, path, "%s", msg);
}

void lb_cfg_err_at(struct ctx *c, const char *file, int line, int col, const char *path,
		   const char *fmt, ...)
{
	char msg[768], out[1200];
	va_list ap;

	va_start(ap, fmt);
	(void)vsnprintf(msg, sizeof(msg), fmt, ap); /* a message cut at 767 bytes is fine */
	va_end(ap);
	snprintf(out, sizeof(out), "%s:%d:%d: %s: %s", file ? file : c->file, line, col, path, msg);
	diag_add(c->d, out);
	c->errors++;
}

const char *lb_cfg_type_name(const json_t *v)
{
	return type_name(v);
}

void lb_cfg_check_keys(struct ctx *c, const char *path, json_t *obj, const char *const *allowed)
{
	check_keys(c, path, obj, allowed);
}

json_t *lb_cfg_want(struct ctx *c, json_t *obj, const char *path, const char *key, json_type t,
		    bool required, char *sub, size_t subcap)
{
	return want(c, obj, path, key, t, required, sub, subcap);
}

bool lb_cfg_abs_path_ok(const char *s)
{
	return abs_path_ok(s);
}

static bool get_id(struct ctx *c, json_t *obj, const char *path, const char *key, uint32_t *out)
{
	char sub[512];
	json_t *v = want(c, obj, path, key, JSON_INTEGER, false, sub, sizeof(sub));

	if (!v)
		return false;
	if (json_integer_value(v) < 0 || json_integer_value(v) > 4294967294LL) {
		cerr(c, sub, "must be between 0 and 4294967294");
		return false;
	}
	*out = (uint32_t)json_integer_value(v);
	return true;
}

static void parse_match(struct ctx *c, const char *path, json_t *m)
{
	static const char *const keys[] = {"images", "labels", NULL};
	char sub[512];
	json_t *images = want(c, m, path, "images", JSON_ARRAY, false, sub, sizeof(sub));
	json_t *labels, *v;
	const char *k;
	size_t i;

	check_keys(c, path, m, keys);
	json_array_foreach (images, i, v) {
		char el[600];
		snprintf(el, sizeof(el), "%s[%zu]", sub, i);
		if (!json_is_string(v) || !json_string_length(v))
			cerr(c, el, "expected a non-empty image pattern string");
	}
	labels = want(c, m, path, "labels", JSON_OBJECT, false, sub, sizeof(sub));
	json_object_foreach (labels, k, v) {
		char el[600];
		snprintf(el, sizeof(el), "%s.%s", sub, k);
		if (!json_is_string(v))
			cerr(c, el, "expected string, got %s", type_name(v));
	}
}

static void parse_binding(struct ctx *c, lb_config *cfg, const char *name, json_t *v, lb_binding *b)
{
	static const char *const keys[] = {"secrets", "match",	   "require", "notify",
					   "refresh", "size",	   "grace",   "uid",
					   "gid",     "on_refuse", NULL};
	char path[512], sub[512];
	json_t *secrets, *x;
	const char *k;
	size_t i;

	snprintf(path, sizeof(path), "bindings.%s", name);
	b->name = name;
	b->refresh_ms = 5 * 60 * 1000;
	b->grace_ms = LB_DEFAULT_GRACE_S * 1000;
	b->size = 1024 * 1024;
	b->require = LB_CHECKS_DEFAULT;
	if (!lb_secret_name_valid(name))
		cerr(c, path, "bad binding name (expected [A-Za-z0-9_][A-Za-z0-9_.-]{0,127})");
	if (!json_is_object(v)) {
		cerr(c, path, "expected object, got %s", type_name(v));
		return;
	}
	check_keys(c, path, v, keys);
	secrets = want(c, v, path, "secrets", JSON_OBJECT, true, sub, sizeof(sub));
	if (secrets && json_object_size(secrets) == 0)
		cerr(c, sub, "a binding needs at least one secret");
	if (secrets) {
		b->secrets = calloc(json_object_size(secrets) + 1, sizeof(*b->secrets));
		if (!b->secrets) {
			cerr(c, sub, "out of memory for %zu secrets", json_object_size(secrets));
			return;
		}
		json_object_foreach (secrets, k, x) {
			char spath[700];
			snprintf(spath, sizeof(spath), "%s.%s", sub, k);
			lb_cfg_parse_secret(c, cfg, spath, k, x, &b->secrets[b->nsecrets++]);
		}
	}
	if ((x = want(c, v, path, "match", JSON_OBJECT, false, sub, sizeof(sub)))) {
		parse_match(c, sub, x);
		b->match = json_incref(x);
	}
	if ((x = want(c, v, path, "require", JSON_ARRAY, false, sub, sizeof(sub)))) {
		json_t *r;
		b->require = 0;
		json_array_foreach (x, i, r) {
			char el[600];
			int chk;
			snprintf(el, sizeof(el), "%s[%zu]", sub, i);
			if (!json_is_string(r)) {
				cerr(c, el, "expected string, got %s", type_name(r));
				continue;
			}
			chk = lb_check_from_name(json_string_value(r));
			if (chk < 0)
				cerr(c, el, "unknown posture check \"%s\"", json_string_value(r));
			else if (b->require & LB_CHECK_BIT(chk))
				cerr(c, el, "posture check \"%s\" listed twice",
				     json_string_value(r));
			else
				b->require |= LB_CHECK_BIT(chk);
		}
	}
	if ((x = want(c, v, path, "notify", JSON_STRING, false, sub, sizeof(sub))) &&
	    lb_parse_signal(json_string_value(x), &b->notify_sig))
		cerr(c, sub, "bad signal \"%s\" (expected e.g. SIGHUP, SIGUSR1, SIGTERM)",
		     json_string_value(x));
	if ((x = want(c, v, path, "refresh", JSON_STRING, false, sub, sizeof(sub))) &&
	    lb_parse_duration(json_string_value(x), &b->refresh_ms))
		cerr(c, sub, "bad duration \"%s\" (expected e.g. 30s, 5m, 1h)",
		     json_string_value(x));
	if ((x = want(c, v, path, "grace", JSON_STRING, false, sub, sizeof(sub))) &&
	    lb_parse_duration(json_string_value(x), &b->grace_ms))
		cerr(c, sub, "bad duration \"%s\" (expected e.g. 30s, 5m, 1h)",
		     json_string_value(x));
	if ((x = want(c, v, path, "size", JSON_STRING, false, sub, sizeof(sub)))) {
		if (lb_parse_size(json_string_value(x), &b->size))
			cerr(c, sub, "bad size \"%s\" (expected e.g. 64k, 1m)",
			     json_string_value(x));
		else if (b->size < 16 * 1024 || b->size > 256 * 1024 * 1024)
			cerr(c, sub, "size \"%s\" out of range (16k to 256m)",
			     json_string_value(x));
	}
	b->has_uid = get_id(c, v, path, "uid", &b->uid);
	b->has_gid = get_id(c, v, path, "gid", &b->gid);
	if ((x = want(c, v, path, "on_refuse", JSON_STRING, false, sub, sizeof(sub)))) {
		if (strcmp(json_string_value(x), "warn") == 0)
			b->on_refuse_warn = true;
		else if (strcmp(json_string_value(x), "stop") != 0)
			cerr(c, sub, "expected \"stop\" or \"warn\"");
	}
}

static void parse_target(struct ctx *c, lb_config *cfg, const char *name, json_t *v,
			 lb_target_cfg *t)
{
	static const char *const keys[] = {"binding", "uid", "gid", "uid_map", "gid_map", NULL};
	char path[512], sub[512];
	json_t *x;

	snprintf(path, sizeof(path), "targets.%s", name);
	t->name = name;
	if (!lb_secret_name_valid(name))
		cerr(c, path, "bad target name (expected [A-Za-z0-9_][A-Za-z0-9_.-]{0,127})");
	if (!json_is_object(v)) {
		cerr(c, path, "expected object, got %s", type_name(v));
		return;
	}
	check_keys(c, path, v, keys);
	if ((x = want(c, v, path, "binding", JSON_STRING, true, sub, sizeof(sub)))) {
		t->binding = lb_config_binding(cfg, json_string_value(x));
		if (!t->binding)
			cerr(c, sub, "binding \"%s\" is not defined in \"bindings\"",
			     json_string_value(x));
	}
	if (!get_id(c, v, path, "uid", &t->uid) && t->binding && t->binding->has_uid)
		t->uid = t->binding->uid;
	if (!get_id(c, v, path, "gid", &t->gid) && t->binding && t->binding->has_gid)
		t->gid = t->binding->gid;
	for (int i = 0; i < 2; i++) {
		const char *key = i ? "gid_map" : "uid_map";
		lb_err e = {0};

		if (!(x = want(c, v, path, key, JSON_STRING, false, sub, sizeof(sub))))
			continue;
		if (lb_idmap_spec_check(json_string_value(x), &e))
			cerr(c, sub, "%s", e.msg);
		else if (i)
			t->gid_map = json_string_value(x);
		else
			t->uid_map = json_string_value(x);
	}
}

/* "metrics": {"listen": "127.0.0.1:9464", "container_ids": false} (issue 18). */
static void parse_metrics(struct ctx *c, lb_config *cfg, json_t *x, const char *const *keys)
{
	struct sockaddr_storage sa;
	socklen_t len;
	char sub[512];
	json_t *v;

	check_keys(c, "metrics", x, keys);
	if ((v = want(c, x, "metrics", "listen", JSON_STRING, false, sub, sizeof(sub)))) {
		if (lb_parse_listen(json_string_value(v), &sa, &len) == 0)
			cfg->metrics_listen = json_string_value(v);
		else
			cerr(c, sub,
			     "expected ADDRESS:PORT with a numeric IPv4 or [IPv6] address, got "
			     "\"%s\"",
			     json_string_value(v));
	}
	if ((v = want(c, x, "metrics", "container_ids", JSON_TRUE, false, sub, sizeof(sub))))
		cfg->metrics_container_ids = json_is_true(v);
}

lb_config *lb_config_parse(const char *text, const char *name, lb_diag *d)
{
	static const char *const top_keys[] = {"run_dir",  "state_dir", "docker",  "stores",
					       "bindings", "targets",	"metrics", NULL};
	static const char *const docker_keys[] = {"socket", "plugin_socket", NULL};
	static const char *const metrics_keys[] = {"listen", "container_ids", NULL};
	struct ctx c = {.file = name, .text = text, .d = d};
	lb_config *cfg = calloc(1, sizeof(*cfg));
	json_error_t jerr;
	json_t *root, *x;
	char sub[512];
	const char *k;

	if (!cfg)
		return NULL;
	root = json_loads(text, JSON_REJECT_DUPLICATES, &jerr);
	if (!root) {
		char line[900];
		snprintf(line, sizeof(line), "%s:%d:%d: %s", name, jerr.line, jerr.column,
			 jerr.text);
		diag_add(d, line);
		free(cfg);
		return NULL;
	}
	c.pos = lb_jsonpos_index(text);
	if (!json_is_object(root)) {
		cerr(&c, "", "the configuration must be a JSON object");
		goto out;
	}
	check_keys(&c, "", root, top_keys);
	cfg->run_dir = get_path(&c, root, "", "run_dir", "/run/lockbox");
	cfg->state_dir = get_path(&c, root, "", "state_dir", "/var/lib/lockbox");
	if ((x = want(&c, root, "", "docker", JSON_OBJECT, false, sub, sizeof(sub)))) {
		check_keys(&c, "docker", x, docker_keys);
		cfg->docker_socket = get_path(&c, x, "docker", "socket", "/var/run/docker.sock");
		cfg->plugin_socket =
		    get_path(&c, x, "docker", "plugin_socket", "/run/docker/plugins/lockbox.sock");
		check_socket_path(&c, "docker.socket", cfg->docker_socket, false);
		check_socket_path(&c, "docker.plugin_socket", cfg->plugin_socket, true);
	}
	if ((x = want(&c, root, "", "metrics", JSON_OBJECT, false, sub, sizeof(sub))))
		parse_metrics(&c, cfg, x, metrics_keys);
	if (strlen(cfg->run_dir) > 107 - strlen("/control.sock"))
		cerr(&c, "run_dir", "too long for RUN_DIR/control.sock (at most %zu bytes)",
		     107 - strlen("/control.sock"));
	x = want(&c, root, "", "stores", JSON_OBJECT, false, sub, sizeof(sub));
	if (!x && !json_object_get(root, "stores")) {
		/* The sealed local store is the embedded default. */
		x = json_pack("{s:{s:s}}", "local", "type", "sealed");
		json_object_set_new(root, "stores", x);
	}
	if (x)
		lb_cfg_parse_stores(&c, cfg, x);
	if ((x = want(&c, root, "", "bindings", JSON_OBJECT, false, sub, sizeof(sub)))) {
		json_t *v;
		cfg->bindings = calloc(json_object_size(x) + 1, sizeof(*cfg->bindings));
		if (!cfg->bindings) {
			cerr(&c, "bindings", "out of memory for %zu bindings", json_object_size(x));
			goto out;
		}
		json_object_foreach (x, k, v)
			parse_binding(&c, cfg, k, v, &cfg->bindings[cfg->nbindings++]);
	}
	/* Targets look their binding up by name. */
	if (lb_cfg_index_build(&cfg->binding_index, cfg->bindings, sizeof(*cfg->bindings),
			       cfg->nbindings)) {
		cerr(&c, "bindings", "out of memory for the index of %zu bindings", cfg->nbindings);
		goto out;
	}
	if ((x = want(&c, root, "", "targets", JSON_OBJECT, false, sub, sizeof(sub)))) {
		json_t *v;
		cfg->targets = calloc(json_object_size(x) + 1, sizeof(*cfg->targets));
		if (!cfg->targets) {
			cerr(&c, "targets", "out of memory for %zu targets", json_object_size(x));
			goto out;
		}
		json_object_foreach (x, k, v)
			parse_target(&c, cfg, k, v, &cfg->targets[cfg->ntargets++]);
	}
	if (lb_cfg_index_build(&cfg->target_index, cfg->targets, sizeof(*cfg->targets),
			       cfg->ntargets))
		cerr(&c, "targets", "out of memory for the index of %zu targets", cfg->ntargets);
	/* The structs keep what they need; the tree goes (issue 19: it was most of a static
	 * target's memory). */
	if (!c.errors && lb_cfg_compact(cfg))
		cerr(&c, "", "out of memory for the names and paths of the configuration");
out:
	json_decref(c.pos);
	json_decref(root);
	if (c.errors) {
		lb_config_free(cfg);
		return NULL;
	}
	return cfg;
}

/* A text file: a regular file of at most cap bytes without NUL. Opened O_NONBLOCK: a FIFO
 * put where the config (or a template) was must not hang SIGHUP (issue 13 defect 1). */
char *lb_cfg_read_text(const char *path, size_t cap, size_t *len, lb_err *e)
{
	_cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
	_cleanup_free_ char *buf = NULL;
	struct stat st;
	size_t off = 0;

	if (fd < 0 || fstat(fd, &st) < 0)
		// cppcheck-suppress resourceLeak ; _cleanup_close_ closes fd
		return lb_fail_errno(e, "%s: cannot read", path), NULL;
	if (!S_ISREG(st.st_mode) || (size_t)st.st_size > cap)
		// cppcheck-suppress resourceLeak ; _cleanup_close_ closes fd
		return lb_fail(e, 0, "%s: not a regular file of at most %zu bytes", path, cap),
		       NULL;
	buf = malloc((size_t)st.st_size + 1);
	if (!buf)
		// cppcheck-suppress resourceLeak ; _cleanup_close_ closes fd
		return lb_fail(e, ENOMEM, "%s: out of memory", path), NULL;
	while (off < (size_t)st.st_size) {
		ssize_t n = read(fd, buf + off, (size_t)st.st_size - off);
		if (n <= 0)
			return lb_fail(e, 0, "%s: read failed", path), NULL;
		off += (size_t)n;
	}
	buf[off] = '\0';
	if (strlen(buf) != off)
		// NOLINTNEXTLINE(clang-analyzer-unix.Malloc): _cleanup_free_ frees buf
		return lb_fail(e, 0, "%s: contains a NUL byte", path), NULL;
	if (len)
		*len = off;
	return steal_ptr(buf);
}

static char *read_config_text(const char *path, lb_diag *d)
{
	lb_err e = {0};
	char *text = lb_cfg_read_text(path, LB_CONFIG_MAX, NULL, &e);

	if (!text)
		diag_add(d, e.msg);
	return text;
}

lb_config *lb_config_load(const char *path, lb_diag *d)
{
	_cleanup_free_ char *buf = read_config_text(path, d);

	return buf ? lb_config_parse(buf, path, d) : NULL;
}

int lb_config_dirs(const char *path, char *run_dir, char *state_dir, size_t cap, lb_diag *d)
{
	json_error_t jerr;
	_cleanup_json_ json_t *root = NULL;
	_cleanup_free_ char *text = NULL;
	const char *r, *s;
	char line[700];

	snprintf(run_dir, cap, "/run/lockbox");
	snprintf(state_dir, cap, "/var/lib/lockbox");
	text = read_config_text(path, d);
	if (!text)
		return -1;
	// NOLINTNEXTLINE(clang-analyzer-unix.Malloc): _cleanup_free_ frees text
	root = json_loads(text, 0, &jerr);
	if (!root) {
		snprintf(line, sizeof(line), "%s:%d:%d: %s", path, jerr.line, jerr.column,
			 jerr.text);
		diag_add(d, line);
		return -1;
	}
	r = json_string_value(json_object_get(root, "run_dir"));
	s = json_string_value(json_object_get(root, "state_dir"));
	if (r && abs_path_ok(r))
		snprintf(run_dir, cap, "%s", r);
	if (s && abs_path_ok(s))
		snprintf(state_dir, cap, "%s", s);
	return 0;
}
