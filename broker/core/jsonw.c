#include "jsonw.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static bool reserve(lb_jsonw *w, size_t more)
{
	size_t cap = w->cap ? w->cap : 256;
	char *grown;

	if (w->oom)
		return false;
	if (w->len + more + 1 <= w->cap)
		return true;
	while (cap < w->len + more + 1)
		cap *= 2;
	grown = realloc(w->buf, cap);
	if (!grown) {
		w->oom = true;
		return false;
	}
	w->buf = grown;
	w->cap = cap;
	return true;
}

static void append(lb_jsonw *w, const char *p, size_t n)
{
	if (!reserve(w, n))
		return;
	memcpy(w->buf + w->len, p, n);
	w->len += n;
	w->buf[w->len] = '\0';
}

void lb_jsonw_raw(lb_jsonw *w, const char *text)
{
	append(w, text, strlen(text));
}

void lb_jsonw_str(lb_jsonw *w, const char *s)
{
	const char *run = s;

	append(w, "\"", 1);
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		char esc[8];

		if (c >= 0x20 && c != '"' && c != '\\')
			continue;
		append(w, run, (size_t)(s - run));
		if (c == '"' || c == '\\')
			snprintf(esc, sizeof(esc), "\\%c", c);
		else
			snprintf(esc, sizeof(esc), "\\u%04x", c);
		append(w, esc, strlen(esc));
		run = s + 1;
	}
	append(w, run, (size_t)(s - run));
	append(w, "\"", 1);
}

/* Digits by hand: manifests, targets.json and the deliver lines write several numbers per
 * target per rotation, and snprintf showed up in the profile. */
void lb_jsonw_int(lb_jsonw *w, int64_t v)
{
	char num[24];
	size_t i = sizeof(num);
	uint64_t u = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;

	do {
		num[--i] = (char)('0' + u % 10);
		u /= 10;
	} while (u);
	if (v < 0)
		num[--i] = '-';
	append(w, num + i, sizeof(num) - i);
}

void lb_jsonw_free(lb_jsonw *w)
{
	free(w->buf);
	*w = (lb_jsonw){0};
}
