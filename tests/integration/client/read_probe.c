/* Test driver for lockbox_read(): `read_probe DIR NAME [--allow-writable] [--cap N]`.
 * Writes the secret to stdout, the error message to stderr, exits with the return code. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <lockbox/client.h>

int main(int argc, char **argv)
{
	struct lockbox_error err;
	unsigned flags = 0;
	size_t cap = 4096, len = 0;
	char buf[4096];
	int rc;

	if (argc < 3) {
		fprintf(stderr, "usage: read_probe DIR NAME [--allow-writable] [--cap N]\n");
		return 64;
	}
	for (int i = 3; i < argc; i++) {
		if (!strcmp(argv[i], "--allow-writable"))
			flags |= LOCKBOX_ALLOW_WRITABLE;
		else if (!strcmp(argv[i], "--cap") && i + 1 < argc)
			cap = strtoul(argv[++i], NULL, 10);
	}
	if (cap > sizeof(buf))
		cap = sizeof(buf);
	rc = lockbox_read(argv[1], argv[2], flags, buf, cap, &len, &err);
	if (rc) {
		fprintf(stderr, "read_probe: %s (code %d, len %zu)\n", err.msg, err.code, len);
		return rc;
	}
	if (err.code != 0 || err.msg[0]) {
		fprintf(stderr, "read_probe: error filled on success\n");
		return 1;
	}
	rc = fwrite(buf, 1, len, stdout) == len && fflush(stdout) == 0 ? 0 : 1;
	explicit_bzero(buf, sizeof(buf));
	return rc;
}
