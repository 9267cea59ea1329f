/* Probe of tests/bench/client.sh: runs commands in turn, ROUNDS rounds, the order rotating from
 * round to round, each with posix_spawn (no shell, no fork of a big parent) and stdout and
 * stderr on /dev/null, and prints one line per command:
 *   INDEX WALL_MEDIAN WALL_P10 WALL_P90 CPU_MEDIAN CPU_P10 CPU_P90 WALL_RATIO CPU_RATIO
 * in microseconds. CPU is user + system time of the command and of every descendant it waited
 * for (wait4's rusage), kept by the kernel in nanoseconds, unlike perf's 10 us steps. The
 * ratios are the medians of the per-round ratios to the first command, which ran beside it.
 * usage: runab ROUNDS CMD... [:: CMD...]... */
#include <errno.h>
#include <fcntl.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>

#define MAX_CMDS 16

extern char **environ;

static int cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

/* Sorts V in place and returns its Q quantile (0..1). */
static double quantile(double *v, size_t n, double q)
{
	qsort(v, n, sizeof(*v), cmp);
	return v[(size_t)(q * (double)(n - 1))];
}

static double us(const struct timeval *tv)
{
	return (double)tv->tv_sec * 1e6 + (double)tv->tv_usec;
}

static int usage(void)
{
	(void)fprintf(stderr, "usage: runab ROUNDS CMD... [:: CMD...]...\n");
	return 64;
}

/* Runs CMD once; its wall and CPU time into *WALL and *CPU. */
static int run_one(char **cmd, const posix_spawn_file_actions_t *fa, double *wall, double *cpu)
{
	struct timespec t0, t1;
	struct rusage ru;
	int st, err;
	pid_t pid;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	err = posix_spawn(&pid, cmd[0], fa, NULL, cmd, environ);
	if (err) {
		(void)fprintf(stderr, "runab: %s: %s\n", cmd[0], strerror(err));
		return -1;
	}
	while (wait4(pid, &st, 0, &ru) < 0)
		if (errno != EINTR)
			return -1;
	clock_gettime(CLOCK_MONOTONIC, &t1);
	*wall = (double)(t1.tv_sec - t0.tv_sec) * 1e6 + (double)(t1.tv_nsec - t0.tv_nsec) / 1e3;
	*cpu = us(&ru.ru_utime) + us(&ru.ru_stime);
	return 0;
}

int main(int argc, char **argv)
{
	char **cmds[MAX_CMDS];
	double *mem, *wall[MAX_CMDS], *cpu[MAX_CMDS], *rw, *rc;
	double ratio_wall[MAX_CMDS], ratio_cpu[MAX_CMDS];
	posix_spawn_file_actions_t fa;
	size_t rounds, nc = 0;
	int rcode = 71;

	if (argc < 3 || (rounds = strtoul(argv[1], NULL, 10)) == 0)
		return usage();
	cmds[nc++] = argv + 2;
	for (int i = 2; i < argc; i++) {
		if (strcmp(argv[i], "::") != 0)
			continue;
		argv[i] = NULL;
		if (nc == MAX_CMDS)
			return usage();
		cmds[nc++] = argv + i + 1;
	}
	for (size_t k = 0; k < nc; k++)
		if (!cmds[k][0])
			return usage();
	/* One block: per command its wall and CPU samples, then two rows for ratios. */
	mem = calloc((2 * nc + 2) * rounds, sizeof(double));
	if (!mem)
		return 71;
	for (size_t k = 0; k < nc; k++) {
		wall[k] = mem + 2 * k * rounds;
		cpu[k] = wall[k] + rounds;
	}
	rw = mem + 2 * nc * rounds;
	rc = rw + rounds;
	if (posix_spawn_file_actions_init(&fa) ||
	    posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0) ||
	    posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0))
		goto out;
	for (size_t r = 0; r < rounds; r++) {
		for (size_t j = 0; j < nc; j++) {
			size_t k = (r + j) % nc;

			if (run_one(cmds[k], &fa, &wall[k][r], &cpu[k][r]) < 0)
				goto out;
		}
	}
	/* The per-round ratios first: the quantiles below sort the samples. */
	for (size_t k = 0; k < nc; k++) {
		for (size_t r = 0; r < rounds; r++) {
			rw[r] = wall[k][r] / wall[0][r];
			rc[r] = cpu[0][r] > 0 ? cpu[k][r] / cpu[0][r] : 0;
		}
		ratio_wall[k] = quantile(rw, rounds, 0.5);
		ratio_cpu[k] = quantile(rc, rounds, 0.5);
	}
	for (size_t k = 0; k < nc; k++)
		printf("%zu %.0f %.0f %.0f %.0f %.0f %.0f %.2f %.2f\n", k,
		       quantile(wall[k], rounds, 0.5), quantile(wall[k], rounds, 0.1),
		       quantile(wall[k], rounds, 0.9), quantile(cpu[k], rounds, 0.5),
		       quantile(cpu[k], rounds, 0.1), quantile(cpu[k], rounds, 0.9), ratio_wall[k],
		       ratio_cpu[k]);
	rcode = 0;
out:
	free(mem);
	return rcode;
}
