/* Probe of tests/bench/docker_fanout.sh, static (musl), two modes:
 *   probe hup SECONDS        in a container, under `lockbox exec`: prints "ready", then
 *                            "hup NS" (CLOCK_REALTIME) at every SIGHUP; exits on SIGTERM or
 *                            after SECONDS.
 *   probe watch SECONDS DIR...  on the host: prints "ready", then waits until every DIR has
 *                            had a new ..data (the broker's swap is a rename onto it) and
 *                            prints "seen K of N first NS last NS"; gives up after SECONDS.
 * The containers share the host's CLOCK_REALTIME (no time namespace), so the times compare. */
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <time.h>
#include <unistd.h>

static long long now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static int hup(int seconds)
{
	sigset_t set;
	struct timespec left = {.tv_sec = seconds};
	long long end = now_ns() + (long long)seconds * 1000000000LL;

	sigemptyset(&set);
	sigaddset(&set, SIGHUP);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigprocmask(SIG_BLOCK, &set, NULL);
	(void)setvbuf(stdout, NULL, _IONBF, 0);
	printf("ready\n");
	for (;;) {
		long long rest = end - now_ns();
		int sig;

		if (rest <= 0)
			return 0;
		left.tv_sec = rest / 1000000000LL;
		left.tv_nsec = rest % 1000000000LL;
		sig = sigtimedwait(&set, NULL, &left);
		if (sig == SIGHUP)
			printf("hup %lld\n", now_ns());
		else if (sig > 0)
			return 0;
	}
}

#define DIRS_MAX 4096

static int watch(int seconds, int n, char **dirs)
{
	static int wd[DIRS_MAX];
	static char hit[DIRS_MAX];
	int fd = inotify_init1(IN_CLOEXEC), seen = 0;
	long long first = 0, last = 0, end;
	char buf[64 * 1024] __attribute__((aligned(__alignof__(struct inotify_event))));

	if (fd < 0 || n > DIRS_MAX)
		return 1;
	for (int i = 0; i < n; i++)
		if ((wd[i] = inotify_add_watch(fd, dirs[i], IN_MOVED_TO | IN_CREATE)) < 0) {
			perror(dirs[i]);
			return 1;
		}
	(void)setvbuf(stdout, NULL, _IONBF, 0);
	printf("ready\n");
	end = now_ns() + (long long)seconds * 1000000000LL;
	while (seen < n && now_ns() < end) {
		struct pollfd pfd = {.fd = fd, .events = POLLIN};
		ssize_t got;

		if (poll(&pfd, 1, 100) <= 0)
			continue;
		got = read(fd, buf, sizeof(buf));
		for (char *p = buf; got > 0 && p < buf + got;) {
			struct inotify_event *ev = (struct inotify_event *)(void *)p;
			long long t = now_ns();

			p += sizeof(*ev) + ev->len;
			if (!ev->len || strcmp(ev->name, "..data") != 0)
				continue;
			for (int i = 0; i < n; i++)
				if (wd[i] == ev->wd && !hit[i]) {
					hit[i] = 1;
					seen++;
					if (!first)
						first = t;
					last = t;
				}
		}
	}
	printf("seen %d of %d first %lld last %lld\n", seen, n, first, last);
	return seen == n ? 0 : 2;
}

int main(int argc, char **argv)
{
	int secs = argc >= 3 ? (int)strtol(argv[2], NULL, 10) : 0;

	if (argc >= 3 && strcmp(argv[1], "hup") == 0)
		return hup(secs);
	if (argc >= 4 && strcmp(argv[1], "watch") == 0)
		return watch(secs, argc - 3, argv + 3);
	(void)fputs("usage: probe hup SECONDS | probe watch SECONDS DIR...\n", stderr);
	return 64;
}
