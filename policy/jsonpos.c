#include "jsonpos.h"

#include <stdio.h>
#include <string.h>

#define MAX_DEPTH    64
#define PATH_MAX_LEN 1024

struct scan {
	const char *p;
	int line, col;
	json_t *index;
};

static void adv(struct scan *s)
{
	if (*s->p == '\n') {
		s->line++;
		s->col = 1;
	} else {
		s->col++;
	}
	s->p++;
}

static void skip_ws(struct scan *s)
{
	while (*s->p == ' ' || *s->p == '\t' || *s->p == '\n' || *s->p == '\r')
		adv(s);
}

static void record(struct scan *s, const char *path, int line, int col)
{
	if (!json_object_get(s->index, path))
		json_object_set_new(s->index, path, json_pack("[i,i]", line, col));
}

/* Reads a string token; the decoded text goes to out (escapes other than \" and \\ are kept
 * verbatim: key paths are only for humans). */
static void scan_string(struct scan *s, char *out, size_t cap)
{
	size_t n = 0;

	adv(s); /* opening quote */
	while (*s->p && *s->p != '"') {
		char c = *s->p;
		if (c == '\\') {
			adv(s);
			c = *s->p;
		}
		if (out && n + 1 < cap)
			out[n++] = c;
		if (*s->p)
			adv(s);
	}
	if (*s->p)
		adv(s);
	if (out)
		out[n] = '\0';
}

// NOLINTNEXTLINE(misc-no-recursion): nesting capped at MAX_DEPTH
static void scan_value(struct scan *s, char *path, size_t plen, int depth)
{
	skip_ws(s);
	if (path[0])
		record(s, path, s->line, s->col);
	if (depth > MAX_DEPTH)
		return;
	if (*s->p == '{') {
		adv(s);
		for (;;) {
			char key[256];
			int kl, kc;

			skip_ws(s);
			if (*s->p != '"')
				break;
			kl = s->line;
			kc = s->col;
			scan_string(s, key, sizeof(key));
			snprintf(path + plen, PATH_MAX_LEN - plen, "%s%s", plen ? "." : "", key);
			record(s, path, kl, kc);
			skip_ws(s);
			if (*s->p == ':')
				adv(s);
			scan_value(s, path, strlen(path), depth + 1);
			path[plen] = '\0';
			skip_ws(s);
			if (*s->p != ',')
				break;
			adv(s);
		}
		if (*s->p == '}')
			adv(s);
	} else if (*s->p == '[') {
		adv(s);
		for (int i = 0;; i++) {
			skip_ws(s);
			if (*s->p == ']')
				break;
			snprintf(path + plen, PATH_MAX_LEN - plen, "[%d]", i);
			scan_value(s, path, strlen(path), depth + 1);
			path[plen] = '\0';
			skip_ws(s);
			if (*s->p != ',')
				break;
			adv(s);
		}
		if (*s->p == ']')
			adv(s);
	} else if (*s->p == '"') {
		scan_string(s, NULL, 0);
	} else {
		while (*s->p && !strchr(",]} \t\r\n", *s->p))
			adv(s);
	}
}

json_t *lb_jsonpos_index(const char *text)
{
	struct scan s = {.p = text, .line = 1, .col = 1, .index = json_object()};
	char path[PATH_MAX_LEN] = "";

	if (!s.index)
		return NULL;
	scan_value(&s, path, 0, 0);
	return s.index;
}

void lb_jsonpos_lookup(json_t *index, const char *path, int *line, int *col)
{
	char buf[PATH_MAX_LEN];

	*line = 1;
	*col = 1;
	snprintf(buf, sizeof(buf), "%s", path);
	while (buf[0]) {
		json_t *pos = json_object_get(index, buf);
		char *cut;

		if (pos) {
			*line = (int)json_integer_value(json_array_get(pos, 0));
			*col = (int)json_integer_value(json_array_get(pos, 1));
			return;
		}
		cut = strrchr(buf, '.');
		if (strrchr(buf, '[') > cut)
			cut = strrchr(buf, '[');
		if (!cut)
			break;
		*cut = '\0';
	}
}
