/* lockboxctl: operator CLI over the control socket; secret commands also work offline on
 * the sealed store when lockboxd is not running. */
#include "broker.h"
#include "cleanup.h"
#include "fsutil.h"
#include "sealed.h"
#include "secmem.h"

#include <fcntl.h>
#include <getopt.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static const char *config_path = LB_DEFAULT_CONFIG;
static bool want_json;

static void usage(FILE *f)
{
	fprintf(
	    f,
	    "usage: lockboxctl [--config FILE] [--json] COMMAND [ARGS]\n"
	    "       lockboxctl --help | --version\n"
	    "commands:\n"
	    "  status                     broker status and the health of every store\n"
	    "  targets                    targets, their generation and secrets (no values)\n"
	    "  reload                     reload the configuration (prints its errors)\n"
	    "  rotate [TARGET]            refresh one or every target now\n"
	    "  audit [CONTAINER...]       posture report of the containers (default: every\n"
	    "                             running one); exit 1 when a required check fails\n"
	    "  secret put NAME [--from-file F] [--store S]   value from stdin or F, never argv\n"
	    "  secret list [--store S]    names, versions, dates (no values)\n"
	    "  secret rm NAME [--store S] remove every version of a sealed secret\n"
	    "options:\n"
	    "  -c, --config FILE          default %s\n"
	    "      --json                 print replies as JSON\n"
	    "See lockboxctl(8).\n",
	    LB_DEFAULT_CONFIG);
}

struct dirs {
	char run_dir[4096];
	char state_dir[4096];
};

static void load_dirs(struct dirs *dirs)
{
	lb_diag d = {0};

	if (lb_config_dirs(config_path, dirs->run_dir, dirs->state_dir, sizeof(dirs->run_dir), &d) <
	    0)
		fprintf(stderr, "lockboxctl: warning: %s; using %s and %s\n",
			d.n ? d.lines[0] : config_path, dirs->run_dir, dirs->state_dir);
	lb_diag_free(&d);
}

static int read_value(const char *file, lb_secbuf **out)
{
	_cleanup_close_ int fd = file ? open(file, O_RDONLY | O_CLOEXEC) : dup(STDIN_FILENO);
	_cleanup_secbuf_ lb_secbuf *b = lb_secbuf_new(LB_SEALED_VALUE_MAX + 1);

	if (fd < 0) {
		fprintf(stderr, "lockboxctl: cannot open %s: %s\n", file ? file : "stdin",
			strerror(errno));
		return -1;
	}
	if (!b)
		return -1;
	b->len = 0;
	for (;;) {
		ssize_t n = read(fd, b->data + b->len, LB_SEALED_VALUE_MAX + 1 - b->len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			fprintf(stderr, "lockboxctl: read %s: %s\n", file ? file : "stdin",
				strerror(errno));
			return -1;
		}
		if (n == 0)
			break;
		b->len += (size_t)n;
		if (b->len > LB_SEALED_VALUE_MAX) {
			fprintf(stderr, "lockboxctl: value larger than %d bytes\n",
				LB_SEALED_VALUE_MAX);
			return -1;
		}
	}
	*out = steal_ptr(b);
	return 0;
}

static void print_time(time_t t)
{
	char buf[64];
	struct tm tm;

	gmtime_r(&t, &tm);
	if (strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		buf[0] = '\0';
	printf("%s", buf);
}

static void print_secret_list(json_t *list)
{
	size_t i;
	json_t *s;

	if (want_json) {
		json_dumpf(list, stdout, JSON_INDENT(2));
		printf("\n");
		return;
	}
	printf("%-40s %8s %9s  %s\n", "NAME", "VERSION", "VERSIONS", "UPDATED");
	json_array_foreach (list, i, s) {
		printf("%-40s %8lld %9lld  ", json_string_value(json_object_get(s, "name")),
		       (long long)json_integer_value(json_object_get(s, "version")),
		       (long long)json_integer_value(json_object_get(s, "versions")));
		print_time((time_t)json_integer_value(json_object_get(s, "created")));
		printf("\n");
	}
}

/* Offline: straight on state_dir, when no broker listens. */
static int secret_offline(const struct dirs *cfg, const char *sub, const char *name, lb_secbuf *val)
{
	lb_err e = {0};
	_cleanup_close_ int sfd = lb_open_dir_path(cfg->state_dir, true, 0700, &e);
	lb_sealed *s = NULL;
	int rc = 1;

	if (sfd < 0 || lb_sealed_open(sfd, true, &s, &e))
		goto out;
	if (strcmp(sub, "put") == 0) {
		uint32_t v;
		if (lb_sealed_put(s, name, val, &v, &e))
			goto out;
		printf("stored %s version %u (lockboxd not running: targets update when it "
		       "starts)\n",
		       name, v);
	} else if (strcmp(sub, "rm") == 0) {
		if (lb_sealed_rm(s, name, &e))
			goto out;
		printf("removed %s\n", name);
	} else {
		json_t *list = lb_sealed_list(s, &e);
		if (!list)
			goto out;
		print_secret_list(list);
		json_decref(list);
	}
	rc = 0;
out:
	if (rc)
		fprintf(stderr, "lockboxctl: %s\n", e.msg);
	lb_sealed_close(s);
	return rc;
}

static int call(const struct dirs *cfg, json_t *req, json_t **reply)
{
	lb_err e = {0};
	int rc = lb_control_call(cfg->run_dir, req, reply, &e);

	if (rc == LB_CONTROL_NO_BROKER)
		return rc;
	if (rc) {
		fprintf(stderr, "lockboxctl: %s\n", e.msg);
		return -1;
	}
	if (!json_is_true(json_object_get(*reply, "ok"))) {
		json_t *errs = json_object_get(*reply, "errors");
		size_t i;
		json_t *x;
		if (json_object_get(*reply, "error"))
			fprintf(stderr, "lockboxctl: %s\n",
				json_string_value(json_object_get(*reply, "error")));
		json_array_foreach (errs, i, x)
			fprintf(stderr, "%s\n", json_string_value(x));
		return -1;
	}
	return 0;
}

static int cmd_secret(const struct dirs *cfg, int argc, char **argv)
{
	static const struct option opts[] = {
	    {"from-file", required_argument, NULL, 'f'},
	    {"store", required_argument, NULL, 's'},
	    {NULL, 0, NULL, 0},
	};
	const char *file = NULL, *store = NULL, *sub, *name = NULL;
	_cleanup_secbuf_ lb_secbuf *val = NULL;
	_cleanup_secbuf_ lb_secbuf *b64 = NULL;
	_cleanup_json_ json_t *req = NULL;
	_cleanup_json_ json_t *reply = NULL;
	int c, rc;

	if (argc < 2) {
		usage(stderr);
		return 64;
	}
	sub = argv[1];
	optind = 2;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (c == 'f')
			file = optarg;
		else if (c == 's')
			store = optarg;
		else
			return 64;
	}
	if (strcmp(sub, "list") == 0) {
		if (optind != argc)
			return usage(stderr), 64;
	} else if (strcmp(sub, "put") == 0 || strcmp(sub, "rm") == 0) {
		if (optind + 1 != argc)
			return usage(stderr), 64;
		name = argv[optind];
		if (!lb_sealed_name_valid(name)) {
			fprintf(stderr, "lockboxctl: bad secret name \"%s\"\n", name);
			return 64;
		}
	} else {
		usage(stderr);
		return 64;
	}
	if (strcmp(sub, "put") == 0) {
		size_t cap;
		if (read_value(file, &val))
			return 1;
		cap = sodium_base64_ENCODED_LEN(val->len, sodium_base64_VARIANT_ORIGINAL);
		b64 = lb_secbuf_new(cap);
		if (!b64)
			return 1;
		sodium_bin2base64((char *)b64->data, cap, val->data, val->len,
				  sodium_base64_VARIANT_ORIGINAL);
		b64->len = strlen((char *)b64->data);
	}
	req = json_pack("{s:s}", "cmd",
			strcmp(sub, "put") == 0	 ? "secret-put"
			: strcmp(sub, "rm") == 0 ? "secret-rm"
						 : "secret-list");
	if (name)
		json_object_set_new(req, "name", json_string(name));
	if (store)
		json_object_set_new(req, "store", json_string(store));
	if (b64)
		json_object_set_new(req, "value", json_stringn((char *)b64->data, b64->len));
	rc = call(cfg, req, &reply);
	if (rc == LB_CONTROL_NO_BROKER)
		return secret_offline(cfg, sub, name, val);
	if (rc)
		return 1;
	if (strcmp(sub, "list") == 0) {
		print_secret_list(json_object_get(reply, "secrets"));
	} else if (strcmp(sub, "put") == 0) {
		printf("stored %s version %lld; rotated %zu target(s)\n", name,
		       (long long)json_integer_value(json_object_get(reply, "version")),
		       json_array_size(json_object_get(reply, "rotated")));
	} else {
		printf("removed %s", name);
		if (json_array_size(json_object_get(reply, "still_held_by")))
			printf("; %zu target(s) keep their last copy until their binding stops "
			       "naming it",
			       json_array_size(json_object_get(reply, "still_held_by")));
		printf("\n");
	}
	return 0;
}

/* Each check with its verdict and evidence, required ones marked with '*'. */
static void print_audit(json_t *containers)
{
	size_t i, j;
	json_t *c, *k;

	json_array_foreach (containers, i, c) {
		const char *binding = json_string_value(json_object_get(c, "binding"));

		if (json_object_get(c, "error")) {
			printf("%s: %s\n\n", json_string_value(json_object_get(c, "container")),
			       json_string_value(json_object_get(c, "error")));
			continue;
		}
		printf("container %.12s  %s  binding %s  %s\n",
		       json_string_value(json_object_get(c, "container")),
		       json_string_value(json_object_get(c, "name")) ?: "",
		       binding ? binding : "(none: default requirements)",
		       json_is_true(json_object_get(c, "satisfied")) ? "SATISFIED" : "REFUSED");
		json_array_foreach (json_object_get(c, "checks"), j, k) {
			const char *reason = json_string_value(json_object_get(k, "reason"));
			const char *kern = json_string_value(json_object_get(k, "kernel"));
			printf("  %c %-20s %-4s %s\n",
			       json_is_true(json_object_get(k, "required")) ? '*' : ' ',
			       json_string_value(json_object_get(k, "check")),
			       json_is_true(json_object_get(k, "pass")) ? "ok" : "FAIL",
			       reason ? reason : "");
			printf("      inspect: %s\n",
			       json_string_value(json_object_get(k, "inspect")) ?: "");
			if (kern)
				printf("      kernel:  %s\n", kern);
		}
		printf("\n");
	}
}

/* Docker targets: container name, short id and volume instead of "@KEY". */
static void print_target_name(json_t *t)
{
	const char *cname = json_string_value(json_object_get(t, "container_name"));
	const char *cid = json_string_value(json_object_get(t, "container"));
	const char *vol = json_string_value(json_object_get(t, "volume"));
	char buf[400];

	if (vol)
		snprintf(buf, sizeof(buf), "%s %.12s %s", cname && cname[0] ? cname : "(starting)",
			 cid ? cid : "-", vol);
	else
		snprintf(buf, sizeof(buf), "%s", json_string_value(json_object_get(t, "name")));
	printf("%-24s ", buf);
}

static void print_targets(json_t *targets)
{
	size_t i;
	json_t *t;

	printf("%-24s %-16s %10s %10s %6s  %s\n", "TARGET", "BINDING", "UID", "HOST_UID", "GEN",
	       "SECRETS");
	json_array_foreach (targets, i, t) {
		const char *k;
		json_t *s;
		bool first = true;

		print_target_name(t);
		printf("%-16s %10lld %10lld %6lld  ",
		       json_string_value(json_object_get(t, "binding")),
		       (long long)json_integer_value(json_object_get(t, "uid")),
		       (long long)json_integer_value(json_object_get(t, "host_uid")),
		       (long long)json_integer_value(json_object_get(t, "generation")));
		json_object_foreach (json_object_get(t, "secrets"), k, s) {
			json_t *na = json_object_get(s, "not_after");
			printf("%s%s@%s", first ? "" : ", ", k,
			       json_string_value(json_object_get(s, "version")));
			if (na) {
				printf(" until ");
				print_time((time_t)json_integer_value(na));
			}
			first = false;
		}
		/* What is not delivered yet, and why. */
		json_object_foreach (json_object_get(t, "status"), k, s) {
			const char *state = json_string_value(json_object_get(s, "state"));
			const char *err = json_string_value(json_object_get(s, "error"));
			if (!state || strcmp(state, "ok") == 0)
				continue;
			printf("%s%s %s%s%s", first ? "" : ", ", k, state, err ? ": " : "",
			       err ? err : "");
			first = false;
		}
		printf("\n");
	}
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"config", required_argument, NULL, 'c'},
	    {"json", no_argument, NULL, 'j'},
	    {"help", no_argument, NULL, 'h'},
	    {"version", no_argument, NULL, 'V'},
	    {NULL, 0, NULL, 0},
	};
	_cleanup_json_ json_t *req = NULL;
	_cleanup_json_ json_t *reply = NULL;
	struct dirs dirs;
	const struct dirs *cfg = &dirs;
	const char *cmd;
	int c, rc;

	while ((c = getopt_long(argc, argv, "+c:h", opts, NULL)) != -1) {
		switch (c) {
		case 'c':
			config_path = optarg;
			break;
		case 'j':
			want_json = true;
			break;
		case 'h':
			usage(stdout);
			return 0;
		case 'V':
			printf("lockboxctl %s\n", LOCKBOX_VERSION);
			return 0;
		default:
			usage(stderr);
			return 64;
		}
	}
	if (optind >= argc) {
		usage(stderr);
		return 64;
	}
	if (lb_secmem_init() < 0)
		return 1;
	load_dirs(&dirs);
	cmd = argv[optind];
	if (strcmp(cmd, "secret") == 0) {
		return cmd_secret(cfg, argc - optind, argv + optind);
	}
	if (strcmp(cmd, "status") == 0 || strcmp(cmd, "targets") == 0 ||
	    strcmp(cmd, "reload") == 0) {
		if (optind + 1 != argc)
			goto bad;
		req = json_pack("{s:s}", "cmd", cmd);
	} else if (strcmp(cmd, "rotate") == 0) {
		if (optind + 2 < argc)
			goto bad;
		req = json_pack("{s:s}", "cmd", cmd);
		if (optind + 1 < argc)
			json_object_set_new(req, "target", json_string(argv[optind + 1]));
	} else if (strcmp(cmd, "audit") == 0) {
		json_t *list = json_array();
		for (int i = optind + 1; i < argc; i++) {
			if (strcmp(argv[i], "--json") == 0)
				want_json = true;
			else
				json_array_append_new(list, json_string(argv[i]));
		}
		req = json_pack("{s:s,s:o}", "cmd", cmd, "containers", list);
	} else {
		goto bad;
	}
	rc = call(cfg, req, &reply);
	if (rc == LB_CONTROL_NO_BROKER)
		fprintf(stderr, "lockboxctl: lockboxd is not running (no %s/control.sock)\n",
			cfg->run_dir);
	if (rc)
		return 1;
	if (strcmp(cmd, "audit") == 0 && !json_is_true(json_object_get(reply, "satisfied")))
		rc = 1; /* some required check does not hold */
	if (want_json || strcmp(cmd, "status") == 0) {
		json_object_del(reply, "ok");
		json_dumpf(reply, stdout, JSON_INDENT(2));
		printf("\n");
	} else if (strcmp(cmd, "audit") == 0) {
		print_audit(json_object_get(reply, "containers"));
	} else if (strcmp(cmd, "targets") == 0) {
		print_targets(json_object_get(reply, "targets"));
	} else if (strcmp(cmd, "reload") == 0) {
		printf("reloaded %s\n", config_path);
	} else {
		printf("rotated %zu target(s)\n",
		       json_array_size(json_object_get(reply, "rotated")));
	}
	return rc;
bad:
	usage(stderr);
	return 64;
}
