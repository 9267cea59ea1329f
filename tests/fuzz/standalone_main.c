/* Replays corpus files through a libFuzzer harness without libFuzzer: the gcc build (default
 * and asan presets) runs every seed on each ctest run.
 *
 * usage: fuzz_NAME DIR|FILE...
 * A directory contributes its regular files in name order, except hidden files and known
 * crashers (crash-*), which are run only when named as FILE. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fuzz.h"

#define INPUT_MAX (4 * 1024 * 1024)

static int run_file(const char *path)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	struct stat st;
	uint8_t *buf;
	size_t off = 0;

	if (fd < 0 || fstat(fd, &st) < 0) {
		fprintf(stderr, "%s: %s\n", path, strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	if (!S_ISREG(st.st_mode) || st.st_size > INPUT_MAX) {
		fprintf(stderr, "%s: not a regular file of at most %d bytes\n", path, INPUT_MAX);
		close(fd);
		return -1;
	}
	/* Exact size (malloc(0) may return NULL): the harness must not read past it. */
	buf = malloc(st.st_size ? (size_t)st.st_size : 1);
	if (!buf) {
		close(fd);
		return -1;
	}
	while (off < (size_t)st.st_size) {
		ssize_t n = read(fd, buf + off, (size_t)st.st_size - off);
		if (n <= 0) {
			fprintf(stderr, "%s: short read\n", path);
			free(buf);
			close(fd);
			return -1;
		}
		off += (size_t)n;
	}
	close(fd);
	fprintf(stderr, "running %s (%zu bytes)\n", path, off);
	LLVMFuzzerTestOneInput(buf, off);
	free(buf);
	return 0;
}

static int name_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Returns the number of inputs run, or -1. */
static int run_dir(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	char **names = NULL;
	size_t n = 0, skipped = 0;
	int ran = 0;
	bool failed = false;

	if (!d) {
		fprintf(stderr, "%s: %s\n", dir, strerror(errno));
		return -1;
	}
	while ((de = readdir(d))) {
		char **grown;

		if (de->d_name[0] == '.')
			continue;
		if (strncmp(de->d_name, "crash-", 6) == 0) {
			skipped++;
			continue;
		}
		grown = realloc(names, (n + 1) * sizeof(*names));
		if (!grown || !(grown[n] = strdup(de->d_name))) {
			names = grown ? grown : names;
			failed = true;
			break;
		}
		names = grown;
		n++;
	}
	closedir(d);
	if (n)
		qsort(names, n, sizeof(*names), name_cmp);
	for (size_t i = 0; i < n; i++) {
		char path[4096];

		snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
		if (run_file(path) == 0)
			ran++;
		else
			failed = true;
		free(names[i]);
	}
	free(names);
	if (skipped)
		fprintf(stderr, "%s: skipped %zu known crasher(s) (crash-*)\n", dir, skipped);
	return failed ? -1 : ran;
}

int main(int argc, char **argv)
{
	int total = 0;

	if (argc < 2) {
		fprintf(stderr, "usage: %s DIR|FILE...\n", argv[0]);
		return 2;
	}
	if (LLVMFuzzerInitialize)
		LLVMFuzzerInitialize(&argc, &argv);
	for (int i = 1; i < argc; i++) {
		struct stat st;
		int r;

		if (stat(argv[i], &st) < 0) {
			fprintf(stderr, "%s: %s\n", argv[i], strerror(errno));
			return 1;
		}
		r = S_ISDIR(st.st_mode) ? run_dir(argv[i]) : run_file(argv[i]) == 0 ? 1 : -1;
		if (r < 0)
			return 1;
		total += r;
	}
	/* An empty corpus means a wrong path, not a pass. */
	if (total == 0) {
		fprintf(stderr, "no inputs run\n");
		return 1;
	}
	fprintf(stderr, "%d input(s) ran\n", total);
	return 0;
}
