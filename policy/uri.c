#include "uri.h"

#include <sodium.h>
#include <stdio.h>
#include <string.h>

static bool store_char_ok(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '_' || c == '-';
}

/* Paths are passed to stores (URL paths, file names): printable ASCII, no space, no '#?%'. */
static bool path_char_ok(char c)
{
	return c > ' ' && c < 0x7f && c != '#' && c != '?' && c != '%' && c != '\\' && c != '"';
}

static int copy_part(char *dst, size_t cap, const char *src, size_t len)
{
	if (len >= cap)
		return -1;
	memcpy(dst, src, len);
	dst[len] = '\0';
	return 0;
}

int lb_source_parse(const char *uri, lb_source *out, lb_err *e)
{
	const char *colon, *p, *hash = NULL, *query = NULL, *end;

	memset(out, 0, sizeof(*out));
	if (!uri || !(colon = strchr(uri, ':')) || colon == uri)
		return lb_fail(e, 0, "source \"%s\": expected STORE:PATH[#FIELD][?version=N]",
			       uri ? uri : "");
	for (p = uri; p < colon; p++)
		if (!store_char_ok(*p))
			return lb_fail(e, 0, "source \"%s\": bad store name", uri);
	if (copy_part(out->store, sizeof(out->store), uri, (size_t)(colon - uri)))
		return lb_fail(e, 0, "source \"%s\": store name too long", uri);
	end = uri + strlen(uri);
	for (p = colon + 1; p < end; p++) {
		if (*p == '#' && !hash && !query)
			hash = p;
		else if (*p == '?' && !query)
			query = p;
	}
	{
		const char *path_end = hash ? hash : query ? query : end;
		const char *path = colon + 1;

		if (path_end == path)
			return lb_fail(e, 0, "source \"%s\": empty path", uri);
		if (*path == '/' || path_end[-1] == '/')
			return lb_fail(e, 0, "source \"%s\": path must not start or end with '/'",
				       uri);
		for (p = path; p < path_end; p++)
			if (!path_char_ok(*p))
				return lb_fail(e, 0, "source \"%s\": bad character in path", uri);
		if (strstr(path, "//") && strstr(path, "//") < path_end)
			return lb_fail(e, 0, "source \"%s\": empty path component", uri);
		if (copy_part(out->path, sizeof(out->path), path, (size_t)(path_end - path)))
			return lb_fail(e, 0, "source \"%s\": path too long", uri);
	}
	if (hash) {
		const char *f = hash + 1, *f_end = query ? query : end;

		if (f == f_end)
			return lb_fail(e, 0, "source \"%s\": empty #field", uri);
		for (p = f; p < f_end; p++)
			if (!path_char_ok(*p) || *p == '/')
				return lb_fail(e, 0, "source \"%s\": bad character in #field", uri);
		if (copy_part(out->field, sizeof(out->field), f, (size_t)(f_end - f)))
			return lb_fail(e, 0, "source \"%s\": #field too long", uri);
	}
	if (query) {
		const char *v = query + 1;

		if (strncmp(v, "version=", 8) != 0)
			return lb_fail(e, 0, "source \"%s\": only ?version=N is supported", uri);
		v += 8;
		if (!*v)
			return lb_fail(e, 0, "source \"%s\": empty version", uri);
		for (p = v; *p; p++)
			if (!store_char_ok(*p) && *p != '.')
				return lb_fail(e, 0, "source \"%s\": bad version", uri);
		if (copy_part(out->version, sizeof(out->version), v, strlen(v)))
			return lb_fail(e, 0, "source \"%s\": version too long", uri);
	}
	return 0;
}

void lb_source_key(const lb_source *s, char *buf, size_t cap)
{
	unsigned char h[8];
	char hex[17] = "";

	if (s->params[0]) {
		crypto_generichash(h, sizeof(h), (const unsigned char *)s->params,
				   strnlen(s->params, sizeof(s->params)), NULL, 0);
		sodium_bin2hex(hex, sizeof(hex), h, sizeof(h));
	}
	snprintf(buf, cap, "%s:%s%s%s%s%s", s->store, s->path, s->version[0] ? "?version=" : "",
		 s->version, hex[0] ? "?params=" : "", hex);
}

bool lb_source_same(const lb_source *a, const lb_source *b)
{
	return strcmp(a->store, b->store) == 0 && strcmp(a->path, b->path) == 0 &&
	       strcmp(a->field, b->field) == 0 && strcmp(a->version, b->version) == 0;
}
