#include "template.h"
#include "cleanup.h"

#include <sodium.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum filter { F_JSON = 1, F_SHELL, F_BASE64, F_TRIM };

static const char *const filter_names[] = {
    [F_JSON] = "json", [F_SHELL] = "shell", [F_BASE64] = "base64", [F_TRIM] = "trim"};

struct part {
	size_t off, len; /* literal: the bytes of text; placeholder: where it is */
	int source;	 /* -1: literal */
	unsigned char filters[LB_TEMPLATE_MAX_FILTERS];
	size_t nfilters;
};

struct lb_template {
	char *text; /* a copy: literal parts point into it */
	size_t len;
	struct part *parts;
	size_t nparts;
	lb_source sources[LB_TEMPLATE_MAX_SOURCES];
	size_t source_off[LB_TEMPLATE_MAX_SOURCES];
	size_t nsources;
	char digest[17];
};

static bool is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

static const char *find2(const char *p, const char *end, char c)
{
	for (; p + 1 < end; p++)
		if (p[0] == c && p[1] == c)
			return p;
	return NULL;
}

static int add_part(lb_template *t, size_t off, size_t len, int source, size_t *eoff, lb_err *e)
{
	struct part *p;

	if (t->nparts == LB_TEMPLATE_MAX_PARTS) {
		*eoff = off;
		return lb_fail(e, 0, "more than %d literal runs and placeholders",
			       LB_TEMPLATE_MAX_PARTS);
	}
	p = &t->parts[t->nparts++];
	memset(p, 0, sizeof(*p));
	p->off = off;
	p->len = len;
	p->source = source;
	return 0;
}

static int source_index(lb_template *t, const char *uri, size_t off, size_t *eoff, lb_err *e)
{
	lb_source src;

	if (lb_source_parse(uri, &src, e)) {
		*eoff = off;
		return -1;
	}
	for (size_t i = 0; i < t->nsources; i++)
		if (lb_source_same(&t->sources[i], &src))
			return (int)i;
	if (t->nsources == LB_TEMPLATE_MAX_SOURCES) {
		*eoff = off;
		return lb_fail(e, 0, "more than %d distinct sources", LB_TEMPLATE_MAX_SOURCES);
	}
	t->sources[t->nsources] = src;
	t->source_off[t->nsources] = off;
	return (int)t->nsources++;
}

/* One placeholder: text[b, end) is what lies between "{{" and "}}". */
static int parse_placeholder(lb_template *t, size_t open, size_t b, size_t end, size_t *eoff,
			     lb_err *e)
{
	const char *s = t->text;
	size_t p = b, tok;
	char uri[1024];
	int idx;
	struct part *part;

	while (p < end && is_space(s[p]))
		p++;
	if (p == end) {
		*eoff = open;
		return lb_fail(e, 0, "empty placeholder (expected {{ STORE:PATH#FIELD }})");
	}
	if (s[p] == '"') {
		/* {{ "{{" }}: a literal, the way to write braces the parser would take. */
		const char *q = memchr(s + p + 1, '"', end - p - 1);
		size_t lit = p + 1;

		if (!q) {
			*eoff = p;
			return lb_fail(e, 0, "unterminated string in placeholder");
		}
		p = (size_t)(q - s) + 1;
		while (p < end && is_space(s[p]))
			p++;
		if (p != end) {
			*eoff = p;
			return lb_fail(e, 0, "a string placeholder takes no filter");
		}
		return add_part(t, lit, (size_t)(q - s) - lit, -1, eoff, e);
	}
	tok = p;
	while (p < end && !is_space(s[p]) && s[p] != '|')
		p++;
	if (p == tok || p - tok >= sizeof(uri)) {
		*eoff = tok;
		return lb_fail(e, 0, p == tok ? "missing source before '|'" : "source too long");
	}
	memcpy(uri, s + tok, p - tok);
	uri[p - tok] = '\0';
	if ((idx = source_index(t, uri, tok, eoff, e)) < 0)
		return -1;
	if (add_part(t, open, end + 2 - open, idx, eoff, e))
		return -1;
	part = &t->parts[t->nparts - 1];
	for (;;) {
		size_t f;
		int which = 0;

		while (p < end && is_space(s[p]))
			p++;
		if (p == end)
			return 0;
		if (s[p] != '|') {
			*eoff = p;
			return lb_fail(e, 0, "unexpected '%c' in placeholder (expected '|' FILTER)",
				       s[p] > ' ' && s[p] < 0x7f ? s[p] : '?');
		}
		p++;
		while (p < end && is_space(s[p]))
			p++;
		f = p;
		while (p < end && !is_space(s[p]) && s[p] != '|')
			p++;
		for (int k = F_JSON; k <= F_TRIM; k++)
			if (p - f == strlen(filter_names[k]) &&
			    memcmp(s + f, filter_names[k], p - f) == 0)
				which = k;
		if (!which) {
			*eoff = f;
			if (p == f)
				return lb_fail(e, 0, "missing filter after '|'");
			return lb_fail(e, 0,
				       "unknown filter \"%.*s\" (expected json, shell, base64 or "
				       "trim)",
				       (int)(p - f > 40 ? 40 : p - f), s + f);
		}
		if (part->nfilters == LB_TEMPLATE_MAX_FILTERS) {
			*eoff = f;
			return lb_fail(e, 0, "more than %d filters", LB_TEMPLATE_MAX_FILTERS);
		}
		part->filters[part->nfilters++] = (unsigned char)which;
	}
}

static void make_digest(lb_template *t)
{
	unsigned char h[8];

	crypto_generichash(h, sizeof(h), (const unsigned char *)t->text, t->len, NULL, 0);
	sodium_bin2hex(t->digest, sizeof(t->digest), h, sizeof(h));
}

lb_template *lb_template_parse(const char *text, size_t len, size_t *off, lb_err *e)
{
	lb_template *t;
	size_t p = 0;

	*off = 0;
	if (len > LB_TEMPLATE_MAX) {
		lb_fail(e, 0, "template of %zu bytes, at most %d", len, LB_TEMPLATE_MAX);
		return NULL;
	}
	t = calloc(1, sizeof(*t));
	if (!t || !(t->text = malloc(len + 1)) ||
	    !(t->parts = calloc(LB_TEMPLATE_MAX_PARTS, sizeof(*t->parts)))) {
		lb_template_free(t);
		lb_fail(e, ENOMEM, "out of memory");
		return NULL;
	}
	if (len)
		memcpy(t->text, text, len);
	t->text[len] = '\0';
	t->len = len;
	while (p < len) {
		const char *open = find2(t->text + p, t->text + len, '{'), *close;
		size_t o;

		if (!open) {
			if (add_part(t, p, len - p, -1, off, e))
				goto bad;
			break;
		}
		o = (size_t)(open - t->text);
		if (o > p && add_part(t, p, o - p, -1, off, e))
			goto bad;
		close = find2(open + 2, t->text + len, '}');
		if (!close) {
			*off = o;
			lb_fail(e, 0, "unclosed \"{{\" (no \"}}\" after it)");
			goto bad;
		}
		if (parse_placeholder(t, o, o + 2, (size_t)(close - t->text), off, e))
			goto bad;
		p = (size_t)(close - t->text) + 2;
	}
	make_digest(t);
	return t;
bad:
	lb_template_free(t);
	return NULL;
}

void lb_template_free(lb_template *t)
{
	if (!t)
		return;
	free(t->text);
	free(t->parts);
	free(t);
}

size_t lb_template_nsources(const lb_template *t)
{
	return t ? t->nsources : 0;
}

const lb_source *lb_template_source(const lb_template *t, size_t i)
{
	return i < t->nsources ? &t->sources[i] : NULL;
}

size_t lb_template_source_offset(const lb_template *t, size_t i)
{
	return i < t->nsources ? t->source_off[i] : 0;
}

const char *lb_template_digest(const lb_template *t)
{
	return t->digest;
}

void lb_template_position(const char *text, size_t len, size_t off, int *line, int *col)
{
	*line = 1;
	*col = 1;
	for (size_t i = 0; i < off && i < len; i++) {
		if (text[i] == '\n') {
			(*line)++;
			*col = 1;
		} else {
			(*col)++;
		}
	}
}

/* --- rendering --- */

/* Length of a valid UTF-8 sequence at p (at most n bytes), 0 if invalid. */
static size_t utf8_len(const unsigned char *p, size_t n)
{
	size_t need;
	uint32_t cp;

	if (p[0] < 0x80)
		return 1;
	if (p[0] >= 0xc2 && p[0] <= 0xdf)
		need = 2, cp = p[0] & 0x1fu;
	else if (p[0] >= 0xe0 && p[0] <= 0xef)
		need = 3, cp = p[0] & 0x0fu;
	else if (p[0] >= 0xf0 && p[0] <= 0xf4)
		need = 4, cp = p[0] & 0x07u;
	else
		return 0;
	if (n < need)
		return 0;
	for (size_t i = 1; i < need; i++) {
		if ((p[i] & 0xc0) != 0x80)
			return 0;
		cp = (cp << 6) | (p[i] & 0x3fu);
	}
	if ((need == 3 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))) ||
	    (need == 4 && (cp < 0x10000 || cp > 0x10ffff)))
		return 0;
	return need;
}

/* A JSON string literal (quotes included). out NULL: only the length. -1: not UTF-8. */
static long json_quote(const unsigned char *in, size_t n, unsigned char *out)
{
	static const char hex[] = "0123456789abcdef";
	size_t o = 0;

#define PUT(c)                                                                                     \
	do {                                                                                       \
		if (out)                                                                           \
			out[o] = (unsigned char)(c);                                               \
		o++;                                                                               \
	} while (0)
	PUT('"');
	for (size_t i = 0; i < n;) {
		unsigned char c = in[i];
		size_t k = utf8_len(in + i, n - i);

		if (!k)
			return -1;
		if (k > 1) {
			for (size_t j = 0; j < k; j++)
				PUT(in[i + j]);
			i += k;
			continue;
		}
		i++;
		if (c == '"' || c == '\\') {
			PUT('\\');
			PUT(c);
		} else if (c == '\n' || c == '\t' || c == '\r' || c == '\b' || c == '\f') {
			PUT('\\');
			PUT(c == '\n'	? 'n'
			    : c == '\t' ? 't'
			    : c == '\r' ? 'r'
			    : c == '\b' ? 'b'
					: 'f');
		} else if (c < 0x20 || c == 0x7f) {
			PUT('\\');
			PUT('u');
			PUT('0');
			PUT('0');
			PUT(hex[c >> 4]);
			PUT(hex[c & 15]);
		} else {
			PUT(c);
		}
	}
	PUT('"');
#undef PUT
	return (long)o;
}

/* Single-quoted for sh: ' becomes '\''. -1: a NUL byte (no shell word holds one). */
static long shell_quote(const unsigned char *in, size_t n, unsigned char *out)
{
	size_t o = 0;

	if (memchr(in, '\0', n))
		return -1;
	if (out)
		out[o] = '\'';
	o++;
	for (size_t i = 0; i < n; i++) {
		if (in[i] == '\'') {
			/* '\'' : close, an escaped quote, reopen */
			for (size_t k = 0; k < 4; k++, o++)
				if (out)
					out[o] = (unsigned char)"'\\''"[k];
		} else {
			if (out)
				out[o] = in[i];
			o++;
		}
	}
	if (out)
		out[o] = '\'';
	o++;
	return (long)o;
}

/* One placeholder's bytes after its filters: *piece is a slice of the source's value or of
 * *owned. */
static int apply_filters(const lb_template *t, const struct part *p, const lb_secbuf *v,
			 const unsigned char **piece, size_t *plen, lb_secbuf **owned, lb_err *e)
{
	const unsigned char *cur = v->data;
	size_t n = v->len;
	char uri[1024];

	*owned = NULL;
	for (size_t f = 0; f < p->nfilters; f++) {
		lb_secbuf *next;
		long len = 0;

		switch (p->filters[f]) {
		case F_TRIM:
			while (n && is_space((char)cur[0]))
				cur++, n--;
			while (n && is_space((char)cur[n - 1]))
				n--;
			continue;
		case F_JSON:
			len = json_quote(cur, n, NULL);
			break;
		case F_SHELL:
			len = shell_quote(cur, n, NULL);
			break;
		case F_BASE64:
			len = (long)sodium_base64_ENCODED_LEN(n, sodium_base64_VARIANT_ORIGINAL);
			break;
		default:
			len = -1;
		}
		if (len < 0) {
			lb_source_key(&t->sources[p->source], uri, sizeof(uri));
			return lb_fail(
			    e, 0, "the value of %s%s%s %s (filter %s)", uri,
			    t->sources[p->source].field[0] ? "#" : "", t->sources[p->source].field,
			    p->filters[f] == F_JSON ? "is not valid UTF-8" : "holds a NUL byte",
			    filter_names[p->filters[f]]);
		}
		if (!(next = lb_secbuf_new((size_t)len))) {
			lb_secbuf_free(*owned);
			*owned = NULL;
			return lb_fail(e, ENOMEM, "out of secure memory");
		}
		if (p->filters[f] == F_JSON)
			json_quote(cur, n, next->data);
		else if (p->filters[f] == F_SHELL)
			shell_quote(cur, n, next->data);
		else
			sodium_bin2base64((char *)next->data, (size_t)len, cur, n,
					  sodium_base64_VARIANT_ORIGINAL);
		if (p->filters[f] == F_BASE64)
			next->len = strlen((char *)next->data); /* without the NUL it writes */
		lb_secbuf_free(*owned);
		*owned = next;
		cur = next->data;
		n = next->len;
	}
	*piece = cur;
	*plen = n;
	return 0;
}

struct piece {
	const unsigned char *p;
	size_t n;
	lb_secbuf *owned;
};

int lb_template_render(const lb_template *t, lb_template_value_fn value, void *ctx, lb_secbuf **out,
		       lb_err *e)
{
	struct piece *pieces = calloc(t->nparts + 1, sizeof(*pieces));
	size_t total = 0, o = 0;
	int rc = -1;

	*out = NULL;
	if (!pieces)
		return lb_fail(e, ENOMEM, "out of memory");
	for (size_t i = 0; i < t->nparts; i++) {
		const struct part *p = &t->parts[i];
		const lb_secbuf *v;

		if (p->source < 0) {
			pieces[i].p = (const unsigned char *)t->text + p->off;
			pieces[i].n = p->len;
		} else if (!(v = value(ctx, (size_t)p->source, e)) ||
			   apply_filters(t, p, v, &pieces[i].p, &pieces[i].n, &pieces[i].owned,
					 e)) {
			goto out;
		}
		if (pieces[i].n > SIZE_MAX / 2 - total) {
			lb_fail(e, 0, "rendered template too large");
			goto out;
		}
		total += pieces[i].n;
	}
	if (!(*out = lb_secbuf_new(total))) {
		lb_fail(e, ENOMEM, "out of secure memory");
		goto out;
	}
	for (size_t i = 0; i < t->nparts; i++) {
		if (pieces[i].n)
			memcpy((*out)->data + o, pieces[i].p, pieces[i].n);
		o += pieces[i].n;
	}
	rc = 0;
out:
	for (size_t i = 0; i < t->nparts; i++)
		lb_secbuf_free(pieces[i].owned);
	free(pieces);
	return rc;
}
