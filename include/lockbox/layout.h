/* The tmpfs layout shared by lockboxd (writer) and the lockbox client (reader).
 * Header-only and libc-only so that the static musl client can include it. */
#ifndef LOCKBOX_LAYOUT_H
#define LOCKBOX_LAYOUT_H

#include <stdbool.h>
#include <stddef.h>
#include <string.h>

/* RUN_DIR/t/NAME/ holds one target. */
#define LB_TARGETS_SUBDIR "t"
#define LB_DATA_LINK	  "..data"
#define LB_DATA_LINK_TMP  "..data.tmp"
#define LB_GEN_PREFIX	  "..gen-"
#define LB_MANIFEST	  ".manifest.json"
#define LB_STATUS_FILE	  "..status.json" /* why secrets are missing (Docker targets) */
#define LB_DEFAULT_DIR	  "/run/secrets"
#define LB_NAME_MAX	  128
/* A manifest is small JSON without secret bytes; anything bigger is malformed. */
#define LB_MANIFEST_MAX	   (256 * 1024)
#define LB_DEFAULT_GRACE_S 60

/* Secret names: [A-Za-z0-9_][A-Za-z0-9_.-]{0,127}, no "..", no leading '.'
 * (names starting with '.' are reserved for the layout). */
static inline bool lb_name_char_ok(char c, bool first)
{
	if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_')
		return true;
	return !first && (c == '.' || c == '-');
}

static inline bool lb_secret_name_valid(const char *s)
{
	size_t len = s ? strnlen(s, LB_NAME_MAX + 1) : 0;

	if (len == 0 || len > LB_NAME_MAX)
		return false;
	for (size_t i = 0; i < len; i++) {
		if (!lb_name_char_ok(s[i], i == 0))
			return false;
		if (s[i] == '.' && s[i + 1] == '.')
			return false;
	}
	return true;
}

#endif
