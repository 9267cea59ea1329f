/* A minimal, validating JSON scanner for .manifest.json. The client is libc-only (no jansson)
 * and the manifest comes from a directory we do not trust blindly, so the whole document is
 * checked against the JSON grammar, nesting is capped, and only the few keys the client needs
 * are interpreted: "generation" and secrets.NAME.not_after. */
#include <string.h>

#include "lb.h"

/* The manifest is two levels deep; anything much deeper is not ours. */
#define JS_DEPTH_MAX 16

struct js {
	const char *p, *start, *end;
	const char *what;
	int depth;
};

static int js_err(struct js *s, const char *what)
{
	if (!s->what)
		s->what = what;
	return -1;
}

static void js_ws(struct js *s)
{
	while (s->p < s->end && (*s->p == ' ' || *s->p == '\t' || *s->p == '\n' || *s->p == '\r'))
		s->p++;
}

static int js_expect(struct js *s, char c)
{
	js_ws(s);
	if (s->p >= s->end || *s->p != c)
		return js_err(s, c == ':' ? "expected ':'" : "unexpected character");
	s->p++;
	return 0;
}

static bool js_hex(char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

/* Returns the raw bytes between the quotes; callers only compare plain ASCII names. */
static int js_string(struct js *s, const char **str, size_t *len)
{
	js_ws(s);
	if (s->p >= s->end || *s->p != '"')
		return js_err(s, "expected string");
	*str = ++s->p;
	while (s->p < s->end && *s->p != '"') {
		unsigned char c = (unsigned char)*s->p;

		if (c < 0x20)
			return js_err(s, "control character in string");
		if (c == '\\') {
			s->p++;
			if (s->p >= s->end)
				break;
			if (*s->p == 'u') {
				for (int i = 1; i <= 4; i++)
					if (s->p + i >= s->end || !js_hex(s->p[i]))
						return js_err(s, "bad \\u escape");
				s->p += 4;
			} else if (!*s->p || !strchr("\"\\/bfnrt", *s->p)) {
				return js_err(s, "bad escape");
			}
		}
		s->p++;
	}
	if (s->p >= s->end)
		return js_err(s, "unterminated string");
	*len = (size_t)(s->p - *str);
	s->p++;
	return 0;
}

static bool js_digit(const struct js *s)
{
	return s->p < s->end && *s->p >= '0' && *s->p <= '9';
}

/* *IS_INT is set for an integer that fits int64_t; its value goes to *VAL. */
static int js_number(struct js *s, bool *is_int, int64_t *val)
{
	bool neg = false, overflow = false;
	uint64_t v = 0;

	js_ws(s);
	*is_int = true;
	if (s->p < s->end && *s->p == '-') {
		neg = true;
		s->p++;
	}
	if (!js_digit(s))
		return js_err(s, "bad number");
	if (*s->p == '0') {
		s->p++;
	} else {
		while (js_digit(s)) {
			uint64_t d = (uint64_t)(*s->p++ - '0');

			if (v > (UINT64_MAX - d) / 10)
				overflow = true;
			else
				v = v * 10 + d;
		}
	}
	if (s->p < s->end && *s->p == '.') {
		s->p++;
		*is_int = false;
		if (!js_digit(s))
			return js_err(s, "bad number");
		while (js_digit(s))
			s->p++;
	}
	if (s->p < s->end && (*s->p == 'e' || *s->p == 'E')) {
		s->p++;
		*is_int = false;
		if (s->p < s->end && (*s->p == '+' || *s->p == '-'))
			s->p++;
		if (!js_digit(s))
			return js_err(s, "bad number");
		while (js_digit(s))
			s->p++;
	}
	if (overflow || v > (uint64_t)INT64_MAX)
		*is_int = false;
	if (*is_int)
		*val = neg ? -(int64_t)v : (int64_t)v;
	return 0;
}

static bool js_word(struct js *s, const char *w)
{
	size_t n = strlen(w);

	if ((size_t)(s->end - s->p) < n || memcmp(s->p, w, n) != 0)
		return false;
	s->p += n;
	return true;
}

static bool js_peek(struct js *s, char c)
{
	js_ws(s);
	return s->p < s->end && *s->p == c;
}

static int js_value(struct js *s);

/* Walks the members of an object; MEMBER is called with the parser positioned on each
 * value and must consume it. */
typedef int (*js_member_fn)(struct js *s, const char *key, size_t key_len, void *arg);

// NOLINTNEXTLINE(misc-no-recursion): nesting capped at JS_DEPTH_MAX
static int js_object(struct js *s, js_member_fn member, void *arg)
{
	const char *key;
	size_t key_len;

	if (++s->depth > JS_DEPTH_MAX)
		return js_err(s, "nested too deeply");
	if (js_expect(s, '{') < 0)
		return -1;
	if (js_peek(s, '}')) {
		s->p++;
		s->depth--;
		return 0;
	}
	for (;;) {
		if (js_string(s, &key, &key_len) < 0 || js_expect(s, ':') < 0)
			return -1;
		if ((member ? member(s, key, key_len, arg) : js_value(s)) < 0)
			return -1;
		js_ws(s);
		if (s->p < s->end && *s->p == ',') {
			s->p++;
			continue;
		}
		if (js_expect(s, '}') < 0)
			return -1;
		s->depth--;
		return 0;
	}
}

// NOLINTNEXTLINE(misc-no-recursion): nesting capped at JS_DEPTH_MAX
static int js_array(struct js *s)
{
	if (++s->depth > JS_DEPTH_MAX)
		return js_err(s, "nested too deeply");
	s->p++;
	if (js_peek(s, ']')) {
		s->p++;
		s->depth--;
		return 0;
	}
	for (;;) {
		if (js_value(s) < 0)
			return -1;
		js_ws(s);
		if (s->p < s->end && *s->p == ',') {
			s->p++;
			continue;
		}
		if (js_expect(s, ']') < 0)
			return -1;
		s->depth--;
		return 0;
	}
}

// NOLINTNEXTLINE(misc-no-recursion): js_object/js_array cap the nesting
static int js_value(struct js *s)
{
	const char *str;
	size_t len;
	bool is_int;
	int64_t v;

	js_ws(s);
	if (s->p >= s->end)
		return js_err(s, "unexpected end");
	switch (*s->p) {
	case '{':
		return js_object(s, NULL, NULL);
	case '[':
		return js_array(s);
	case '"':
		return js_string(s, &str, &len);
	case 't':
		return js_word(s, "true") ? 0 : js_err(s, "bad literal");
	case 'f':
		return js_word(s, "false") ? 0 : js_err(s, "bad literal");
	case 'n':
		return js_word(s, "null") ? 0 : js_err(s, "bad literal");
	default:
		return js_number(s, &is_int, &v);
	}
}

static bool key_is(const char *key, size_t len, const char *want)
{
	return strlen(want) == len && memcmp(key, want, len) == 0;
}

struct scan {
	lb_entry_fn fn;
	void *arg;
	struct lb_entry entry;
	bool seen_not_after;
	bool seen_generation;
	int64_t generation;
};

static int entry_member(struct js *s, const char *key, size_t len, void *arg)
{
	struct scan *sc = arg;
	bool is_int;

	if (!key_is(key, len, "not_after"))
		return js_value(s);
	if (sc->seen_not_after)
		return js_err(s, "duplicate not_after");
	sc->seen_not_after = true;
	if (js_peek(s, 'n'))
		return js_word(s, "null") ? 0 : js_err(s, "bad literal");
	if (js_number(s, &is_int, &sc->entry.not_after) < 0)
		return -1;
	if (!is_int || sc->entry.not_after < 0)
		return js_err(s, "not_after is not a non-negative integer");
	sc->entry.has_not_after = true;
	return 0;
}

static int secrets_member(struct js *s, const char *key, size_t len, void *arg)
{
	struct scan *sc = arg;
	char name[LB_NAME_MAX + 1];

	if (len > LB_NAME_MAX)
		return js_err(s, "secret name too long");
	memcpy(name, key, len);
	name[len] = '\0';
	if (!lb_secret_name_valid(name))
		return js_err(s, "invalid secret name");
	if (!js_peek(s, '{'))
		return js_err(s, "secret entry is not an object");
	sc->entry = (struct lb_entry){.name = key, .name_len = len};
	sc->seen_not_after = false;
	if (js_object(s, entry_member, sc) < 0)
		return -1;
	if (sc->fn)
		sc->fn(&sc->entry, sc->arg);
	return 0;
}

static int top_member(struct js *s, const char *key, size_t len, void *arg)
{
	struct scan *sc = arg;
	bool is_int;

	if (key_is(key, len, "secrets")) {
		if (!js_peek(s, '{'))
			return js_err(s, "secrets is not an object");
		return js_object(s, secrets_member, sc);
	}
	if (key_is(key, len, "generation")) {
		if (sc->seen_generation)
			return js_err(s, "duplicate generation");
		sc->seen_generation = true;
		if (js_number(s, &is_int, &sc->generation) < 0)
			return -1;
		return is_int ? 0 : js_err(s, "generation is not an integer");
	}
	return js_value(s);
}

int lb_manifest_scan(const char *buf, size_t len, lb_entry_fn fn, void *arg, int64_t *generation,
		     size_t *err_off, const char **what)
{
	struct js s = {.p = buf, .start = buf, .end = buf + len};
	struct scan sc = {.fn = fn, .arg = arg, .generation = -1};

	if (!js_peek(&s, '{')) {
		js_err(&s, "not a JSON object");
		goto fail;
	}
	if (js_object(&s, top_member, &sc) < 0)
		goto fail;
	js_ws(&s);
	if (s.p != s.end) {
		js_err(&s, "trailing data");
		goto fail;
	}
	if (generation)
		*generation = sc.generation;
	return 0;
fail:
	*err_off = (size_t)(s.p - s.start);
	*what = s.what;
	return -1;
}
