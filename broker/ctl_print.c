/* lockboxctl's tables and summaries; see ctl_print.h. */
#include "ctl_print.h"

#include <stdlib.h>
#include <string.h>

#define MAXCOLS 10

static const char *str(json_t *o, const char *key)
{
	return json_string_value(json_object_get(o, key));
}

void lb_ctl_print_time(FILE *f, time_t t)
{
	char buf[64];
	struct tm tm;

	gmtime_r(&t, &tm);
	if (strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		buf[0] = '\0';
	(void)fputs(buf, f);
}

void lb_ctl_duration(char *buf, size_t cap, long long s)
{
	if (s < 0)
		s = 0;
	if (s < 60)
		snprintf(buf, cap, "%llds", s);
	else if (s < 3600)
		snprintf(buf, cap, "%lldm%02llds", s / 60, s % 60);
	else if (s < 86400)
		snprintf(buf, cap, "%lldh%02lldm", s / 3600, s % 3600 / 60);
	else
		snprintf(buf, cap, "%lldd%02lldh", s / 86400, s % 86400 / 3600);
}

/* --- status --- */

static void print_store(FILE *f, json_t *s)
{
	const char *health = str(s, "health"), *err = str(s, "last_error"), *k;
	json_int_t backoff = json_integer_value(json_object_get(s, "backoff_ms"));
	json_t *v;
	char d[32];

	fprintf(f, "  %-16s %-10s %s", str(s, "name") ?: "?", str(s, "type") ?: "?", health ?: "?");
	if (backoff > 0) {
		lb_ctl_duration(d, sizeof(d), (backoff + 999) / 1000);
		fprintf(f, ", backing off %s", d);
	}
	/* The provider's own fields (token lifetime, lease counts, credential source). */
	json_object_foreach (s, k, v) {
		if (!strcmp(k, "name") || !strcmp(k, "type") || !strcmp(k, "health") ||
		    !strcmp(k, "last_error") || !strcmp(k, "backoff_ms"))
			continue;
		if (json_is_string(v))
			fprintf(f, ", %s %s", k, json_string_value(v));
		else if (json_is_integer(v))
			fprintf(f, ", %s %lld", k, (long long)json_integer_value(v));
		else if (json_is_boolean(v))
			fprintf(f, ", %s %s", k, json_is_true(v) ? "yes" : "no");
	}
	fprintf(f, "\n");
	if (err && err[0] && (!health || strcmp(health, "ok") != 0))
		fprintf(f, "  %-16s last error: %s\n", "", err);
}

void lb_ctl_print_status(FILE *f, json_t *st, time_t now)
{
	json_int_t started = json_integer_value(json_object_get(st, "started"));
	json_t *docker = json_object_get(st, "docker"), *metrics = json_object_get(st, "metrics");
	int ntargets = (int)json_integer_value(json_object_get(st, "targets"));
	int ndocker = (int)json_integer_value(json_object_get(st, "docker_targets"));
	size_t i;
	json_t *s;
	char up[32];

	lb_ctl_duration(up, sizeof(up), (long long)(now - (time_t)started));
	fprintf(f, "lockboxd %s, pid %lld, up %s (since ", str(st, "version") ?: "?",
		(long long)json_integer_value(json_object_get(st, "pid")), up);
	lb_ctl_print_time(f, (time_t)started);
	fprintf(f, ")\n");
	fprintf(f, "config:   %s\n", str(st, "config") ?: "?");
	fprintf(f, "run_dir:  %s\n", str(st, "run_dir") ?: "?");
	if (metrics) {
		fprintf(f, "metrics:  %s", str(metrics, "socket") ?: "?");
		if (str(metrics, "listen"))
			fprintf(f, ", http://%s/metrics", str(metrics, "listen"));
		fprintf(f, "\n");
	}
	fprintf(f, "targets:  %d (%d static, %d docker), %lld container%s\n", ntargets,
		ntargets - ndocker, ndocker,
		(long long)json_integer_value(json_object_get(st, "containers")),
		json_integer_value(json_object_get(st, "containers")) == 1 ? "" : "s");
	fprintf(f, "stores:\n");
	json_array_foreach (json_object_get(st, "stores"), i, s)
		print_store(f, s);
	if (!json_is_object(docker)) {
		fprintf(f, "docker:   not configured\n");
		return;
	}
	fprintf(f, "docker:   volume driver %s, plugin socket %s\n", str(docker, "driver") ?: "?",
		str(docker, "plugin_socket") ?: "?");
	fprintf(f, "          dockerd %s: %s, API %s", str(docker, "socket") ?: "?",
		json_is_true(json_object_get(docker, "connected")) ? "connected"
								   : "NOT connected (retrying)",
		str(docker, "api_version") ?: "?");
	if (str(docker, "server_version"))
		fprintf(f, ", dockerd %s", str(docker, "server_version"));
	fprintf(f, "\n");
}

/* --- targets --- */

struct col {
	const char *head;
	int width; /* fixed (80 columns) or computed (--wide) */
	bool right;
};

/* A cell cut to width: its last kept character becomes '~'. */
static void put_cell(FILE *f, const char *s, int width, bool right, bool last)
{
	int n = (int)strlen(s);

	if (width > 0 && n > width) {
		fprintf(f, "%.*s~", width - 1, s);
		n = width;
	} else if (right) {
		fprintf(f, "%*s", width, s);
		n = width;
	} else {
		(void)fputs(s, f);
	}
	if (!last)
		fprintf(f, "%*s", width - n + 1, "");
}

/* The secrets of a target and what is missing, for --wide. */
static void secrets_text(json_t *t, char *buf, size_t cap)
{
	size_t len = 0;
	const char *k;
	json_t *s;

	buf[0] = '\0';
	json_object_foreach (json_object_get(t, "secrets"), k, s) {
		json_t *na = json_object_get(s, "not_after");
		char until[40] = "";
		if (na) {
			time_t tna = (time_t)json_integer_value(na);
			struct tm tm;
			gmtime_r(&tna, &tm);
			if (strftime(until, sizeof(until), " until %Y-%m-%dT%H:%M:%SZ", &tm) == 0)
				until[0] = '\0';
		}
		len += (size_t)snprintf(buf + len, len < cap ? cap - len : 0, "%s%s@%s%s",
					len ? ", " : "", k, str(s, "version") ?: "?", until);
	}
	json_object_foreach (json_object_get(t, "status"), k, s) {
		const char *state = str(s, "state"), *err = str(s, "error");
		if (!state || strcmp(state, "ok") == 0)
			continue;
		len += (size_t)snprintf(buf + len, len < cap ? cap - len : 0, "%s%s %s%s%s",
					len ? ", " : "", k, state, err ? ": " : "", err ? err : "");
	}
}

#define NCOLS_80   7
#define NCOLS_WIDE 10

static void target_cells(json_t *t, bool wide, time_t now, char cells[][600])
{
	const char *cname = str(t, "container_name"), *cid = str(t, "container");
	json_t *pub = json_object_get(t, "published");
	bool docker = str(t, "volume") != NULL;
	size_t c = 0;

	snprintf(cells[c++], 600, "%s",
		 docker ? (cname && cname[0] ? cname : "(starting)") : str(t, "name") ?: "?");
	snprintf(cells[c++], 600, wide ? "%s" : "%.12s", cid ? cid : "-");
	if (wide)
		snprintf(cells[c++], 600, "%s", str(t, "volume") ?: "-");
	snprintf(cells[c++], 600, "%s", str(t, "binding") ?: "");
	snprintf(cells[c++], 600, "%lld", (long long)json_integer_value(json_object_get(t, "uid")));
	if (wide)
		snprintf(cells[c++], 600, "%lld",
			 (long long)json_integer_value(json_object_get(t, "host_uid")));
	snprintf(cells[c++], 600, "%lld",
		 (long long)json_integer_value(json_object_get(t, "generation")));
	if (pub)
		lb_ctl_duration(cells[c++], 600, (long long)(now - json_integer_value(pub)));
	else
		snprintf(cells[c++], 600, "-");
	snprintf(cells[c++], 600, "%s", str(t, "state") ?: "?");
	if (wide)
		secrets_text(t, cells[c++], 600);
}

void lb_ctl_print_targets(FILE *f, json_t *targets, bool wide, time_t now)
{
	/* 18+12+12+10+7+6+8 and six spaces: 79 columns. */
	struct col narrow[NCOLS_80] = {{"TARGET", 18, false},  {"CONTAINER", 12, false},
				       {"BINDING", 12, false}, {"UID", 10, true},
				       {"GEN", 7, true},       {"AGE", 6, true},
				       {"STATE", 8, false}};
	struct col broad[NCOLS_WIDE] = {{"TARGET", 0, false}, {"CONTAINER", 0, false},
					{"VOLUME", 0, false}, {"BINDING", 0, false},
					{"UID", 0, true},     {"HOST_UID", 0, true},
					{"GEN", 0, true},     {"AGE", 0, true},
					{"STATE", 0, false},  {"SECRETS", 0, false}};
	struct col *cols = wide ? broad : narrow;
	int ncols = wide ? NCOLS_WIDE : NCOLS_80;
	char cells[MAXCOLS][600];
	size_t i;
	json_t *t;

	if (wide) {
		for (int c = 0; c < ncols; c++)
			cols[c].width = (int)strlen(cols[c].head);
		json_array_foreach (targets, i, t) {
			target_cells(t, true, now, cells);
			for (int c = 0; c < ncols; c++)
				if ((int)strlen(cells[c]) > cols[c].width)
					cols[c].width = (int)strlen(cells[c]);
		}
	}
	for (int c = 0; c < ncols; c++)
		put_cell(f, cols[c].head, cols[c].width, cols[c].right, c == ncols - 1);
	(void)fputc('\n', f);
	json_array_foreach (targets, i, t) {
		target_cells(t, wide, now, cells);
		for (int c = 0; c < ncols; c++)
			put_cell(f, cells[c], wide && c == ncols - 1 ? 0 : cols[c].width,
				 cols[c].right, c == ncols - 1);
		(void)fputc('\n', f);
	}
}

/* --- audit --- */

void lb_ctl_print_audit(FILE *f, json_t *containers)
{
	size_t i, j;
	json_t *c, *k;

	json_array_foreach (containers, i, c) {
		const char *binding = str(c, "binding");

		if (json_object_get(c, "error")) {
			fprintf(f, "%s: %s\n\n", str(c, "container") ?: "?", str(c, "error") ?: "");
			continue;
		}
		fprintf(f, "container %.12s  %s  binding %s  %s\n", str(c, "container") ?: "?",
			str(c, "name") ?: "", binding ? binding : "(none: default requirements)",
			json_is_true(json_object_get(c, "satisfied")) ? "SATISFIED" : "REFUSED");
		json_array_foreach (json_object_get(c, "checks"), j, k) {
			const char *reason = str(k, "reason"), *kern = str(k, "kernel");
			fprintf(f, "  %c %-20s %-4s %s\n",
				json_is_true(json_object_get(k, "required")) ? '*' : ' ',
				str(k, "check") ?: "?",
				json_is_true(json_object_get(k, "pass")) ? "ok" : "FAIL",
				reason ? reason : "");
			fprintf(f, "      inspect: %s\n", str(k, "inspect") ?: "");
			if (kern)
				fprintf(f, "      kernel:  %s\n", kern);
		}
		fprintf(f, "\n");
	}
	fprintf(f, "* required: the container's binding (\"require\") or the default requirements\n"
		   "  ask for this check; a required check that FAILs refuses the container.\n"
		   "  inspect: what dockerd's inspect says; kernel: what /proc of the running\n"
		   "  container says (both must pass; a disagreement fails the check).\n");
}
