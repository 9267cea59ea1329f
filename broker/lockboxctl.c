/* lockboxctl: operator CLI over the control socket; secret commands also work offline on
 * the sealed store when lockboxd is not running. */
#include "broker.h"
#include "ctl_print.h"
#include "metrics_http.h"
#include "cleanup.h"
#include "fsutil.h"
#include "sealed.h"
#include "secmem.h"

#include <fcntl.h>
#include <getopt.h>
#include <poll.h>
#include <stdarg.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

static const char *config_path = LB_DEFAULT_CONFIG;
static bool want_json, want_wide;
#define METRICS_REPLY_MAX (32u << 20)

static void usage(FILE *f)
{
	fprintf(f,
		"usage: lockboxctl [--config FILE] [--json] COMMAND [ARGS]\n"
		"       lockboxctl --help | --version\n"
		"commands:\n"
		"  status                  broker, stores, Docker, targets, containers\n"
		"  targets [--wide]        targets: container, binding, uid, generation, state\n"
		"  reload                  reload the configuration and print its errors\n"
		"  rotate [TARGET]         refresh a target (or a container's), or all, now\n"
		"  audit [CONTAINER...]    posture checks; exit 1 when a required one fails\n"
		"  metrics                 the Prometheus metrics lockboxd serves\n"
		"  secret put NAME         store a new sealed version (stdin or --from-file F)\n"
		"  secret list             sealed secrets: names, versions, dates (no values)\n"
		"  secret rm NAME          remove every version of a sealed secret\n"
		"options:\n"
		"  -c, --config FILE       default %s\n"
		"      --json              machine-readable output (see lockboxctl(8))\n"
		"      --wide              targets: every column, none cut to fit 80 columns\n"
		"      --store S           secret: the sealed store S (default: the first)\n"
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
	struct stat st;

	if (stat(config_path, &st) < 0) {
		/* One plain line; the defaults still find a broker started without a file. */
		int err = errno;
		lb_config_dirs("/nonexistent", dirs->run_dir, dirs->state_dir,
			       sizeof(dirs->run_dir), &d);
		lb_diag_free(&d);
		fprintf(stderr, "lockboxctl: %s: %s (using run_dir %s)\n", config_path,
			err == ENOENT ? "no such configuration file" : strerror(err),
			dirs->run_dir);
		return;
	}
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
		lb_ctl_print_time(stdout,
				  (time_t)json_integer_value(json_object_get(s, "created")));
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

__attribute__((format(printf, 1, 2))) static int bad_usage(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "lockboxctl: ");
	va_start(ap, fmt);
	(void)vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, " (see lockboxctl --help)\n");
	return 64;
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

	if (argc < 2)
		return bad_usage("secret needs put, list or rm");
	sub = argv[1];
	optind = 2;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (c == 'f')
			file = optarg;
		else if (c == 's')
			store = optarg;
		else
			return bad_usage("unknown option or missing value \"%s\" for secret %s",
					 argv[optind - 1], sub);
	}
	if (strcmp(sub, "list") == 0) {
		if (optind != argc)
			return bad_usage("too many arguments (\"%s\") for secret %s", argv[optind],
					 sub);
	} else if (strcmp(sub, "put") == 0 || strcmp(sub, "rm") == 0) {
		if (optind + 1 != argc)
			return bad_usage("secret %s takes one NAME", sub);
		name = argv[optind];
		if (!lb_sealed_name_valid(name)) {
			fprintf(stderr, "lockboxctl: bad secret name \"%s\"\n", name);
			return 64;
		}
	} else {
		return bad_usage("unknown secret command \"%s\": put, list or rm", sub);
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

static bool put_out(const char *p, size_t n)
{
	return fwrite(p, 1, n, stdout) == n;
}

/* GET /metrics on RUN_DIR/metrics.sock: the body on stdout. HTTP/1.0, so the body ends at
 * EOF; every wait has a deadline, the reply a cap. Streamed: only the header is kept. */
static int cmd_metrics(const struct dirs *cfg)
{
	static const char req[] = "GET /metrics HTTP/1.0\r\nHost: lockbox\r\n\r\n";
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	_cleanup_close_ int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	char chunk[65536], head[4096];
	size_t hlen = 0, total = 0;
	bool in_body = false;

	if ((size_t)snprintf(sa.sun_path, sizeof(sa.sun_path), "%s/%s", cfg->run_dir,
			     LB_METRICS_SOCK) >= sizeof(sa.sun_path) ||
	    fd < 0)
		return fprintf(stderr, "lockboxctl: %s: bad socket path\n", cfg->run_dir), 1;
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		fprintf(stderr, "lockboxctl: lockboxd is not running (cannot connect to %s: %s)\n",
			sa.sun_path, strerror(errno));
		return 1;
	}
	if (write(fd, req, sizeof(req) - 1) != (ssize_t)(sizeof(req) - 1))
		return fprintf(stderr, "lockboxctl: write %s: %s\n", sa.sun_path, strerror(errno)),
		       1;
	for (;;) {
		struct pollfd p = {.fd = fd, .events = POLLIN};
		ssize_t n;
		size_t take;
		const char *end;

		if (poll(&p, 1, 10000) <= 0)
			return fprintf(stderr, "lockboxctl: no answer on %s within 10 s\n",
				       sa.sun_path),
			       1;
		n = read(fd, chunk, sizeof(chunk));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return fprintf(stderr, "lockboxctl: read %s: %s\n", sa.sun_path,
				       strerror(errno)),
			       1;
		if (n == 0)
			break;
		total += (size_t)n;
		if (total > METRICS_REPLY_MAX)
			return fprintf(stderr, "lockboxctl: metrics reply too large\n"), 1;
		if (in_body) {
			if (!put_out(chunk, (size_t)n))
				return 1;
			continue;
		}
		take = (size_t)n < sizeof(head) - 1 - hlen ? (size_t)n : sizeof(head) - 1 - hlen;
		memcpy(head + hlen, chunk, take);
		hlen += take;
		head[hlen] = '\0';
		end = strstr(head, "\r\n\r\n");
		if (!end && hlen < sizeof(head) - 1)
			continue;
		if (!end || strncmp(head, "HTTP/1.", 7) != 0 || strncmp(head + 9, "200", 3) != 0)
			break;
		in_body = true;
		end += 4;
		if (!put_out(end, hlen - (size_t)(end - head)) ||
		    !put_out(chunk + take, (size_t)n - take))
			return 1;
	}
	if (!in_body)
		return fprintf(stderr, "lockboxctl: unexpected answer on %s\n", sa.sun_path), 1;
	return 0;
}

/* Options after the command (--json, --wide) and the positional arguments that stay. */
static int command_args(int argc, char **argv, const char *cmd, int max_args, json_t **args)
{
	*args = json_array();
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--json") == 0)
			want_json = true;
		else if (strcmp(argv[i], "--wide") == 0 && strcmp(cmd, "targets") == 0)
			want_wide = true;
		else if (argv[i][0] == '-' && argv[i][1])
			return bad_usage("unknown option \"%s\" for %s", argv[i], cmd);
		else
			json_array_append_new(*args, json_string(argv[i]));
	}
	if (max_args >= 0 && json_array_size(*args) > (size_t)max_args)
		return bad_usage("too many arguments (\"%s\") for %s",
				 json_string_value(json_array_get(*args, (size_t)max_args)), cmd);
	return 0;
}

static void print_reply(const char *cmd, json_t *reply)
{
	time_t now = time(NULL);

	if (want_json) {
		json_object_del(reply, "ok");
		json_dumpf(reply, stdout, JSON_INDENT(2));
		printf("\n");
	} else if (strcmp(cmd, "status") == 0) {
		lb_ctl_print_status(stdout, reply, now);
	} else if (strcmp(cmd, "audit") == 0) {
		lb_ctl_print_audit(stdout, json_object_get(reply, "containers"));
	} else if (strcmp(cmd, "targets") == 0) {
		lb_ctl_print_targets(stdout, json_object_get(reply, "targets"), want_wide, now);
	} else if (strcmp(cmd, "reload") == 0) {
		printf("reloaded %s\n", config_path);
	} else {
		printf("rotated %zu target(s)\n",
		       json_array_size(json_object_get(reply, "rotated")));
	}
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"config", required_argument, NULL, 'c'}, {"json", no_argument, NULL, 'j'},
	    {"wide", no_argument, NULL, 'w'},	      {"help", no_argument, NULL, 'h'},
	    {"version", no_argument, NULL, 'V'},      {NULL, 0, NULL, 0},
	};
	_cleanup_json_ json_t *req = NULL;
	_cleanup_json_ json_t *reply = NULL;
	_cleanup_json_ json_t *args = NULL;
	struct dirs dirs;
	const struct dirs *cfg = &dirs;
	const char *cmd;
	int c, rc;

	opterr = 0; /* unknown options are named below, in one line */
	while ((c = getopt_long(argc, argv, "+:c:h", opts, NULL)) != -1) {
		switch (c) {
		case 'c':
			config_path = optarg;
			break;
		case 'j':
			want_json = true;
			break;
		case 'w':
			want_wide = true;
			break;
		case 'h':
			usage(stdout);
			return 0;
		case 'V':
			printf("lockboxctl %s\n", LOCKBOX_VERSION);
			return 0;
		case ':':
			return bad_usage("option \"%s\" needs a value", argv[optind - 1]);
		default:
			return bad_usage("unknown option \"%s\"", argv[optind - 1]);
		}
	}
	if (optind >= argc) {
		usage(stderr);
		return 64;
	}
	if (lb_secmem_init() < 0) /* before the first JSON value (its allocator) */
		return 1;
	cmd = argv[optind];
	if (strcmp(cmd, "secret") != 0 && strcmp(cmd, "status") != 0 &&
	    strcmp(cmd, "targets") != 0 && strcmp(cmd, "reload") != 0 &&
	    strcmp(cmd, "rotate") != 0 && strcmp(cmd, "audit") != 0 && strcmp(cmd, "metrics") != 0)
		return bad_usage("unknown command \"%s\"", cmd);
	if (strcmp(cmd, "secret") != 0 && command_args(argc - optind, argv + optind, cmd,
						       strcmp(cmd, "audit") == 0    ? -1
						       : strcmp(cmd, "rotate") == 0 ? 1
										    : 0,
						       &args))
		return 64;
	load_dirs(&dirs);
	if (strcmp(cmd, "secret") == 0)
		return cmd_secret(cfg, argc - optind, argv + optind);
	if (strcmp(cmd, "metrics") == 0)
		return cmd_metrics(cfg);
	req = json_pack("{s:s}", "cmd", cmd);
	if (strcmp(cmd, "rotate") == 0 && json_array_size(args))
		json_object_set(req, "target", json_array_get(args, 0));
	if (strcmp(cmd, "audit") == 0)
		json_object_set(req, "containers", args);
	rc = call(cfg, req, &reply);
	if (rc == LB_CONTROL_NO_BROKER)
		fprintf(stderr, "lockboxctl: lockboxd is not running (no %s/control.sock)\n",
			cfg->run_dir);
	if (rc)
		return 1;
	if (strcmp(cmd, "audit") == 0 && !json_is_true(json_object_get(reply, "satisfied")))
		rc = 1; /* some required check does not hold */
	print_reply(cmd, reply);
	return rc;
}
