/* Test program for the Docker tests: prints its ids and the files it is given, and again
 * after every SIGHUP; exits after --seconds (bounded). */
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static volatile sig_atomic_t got_hup;

static void on_hup(int sig)
{
	(void)sig;
	got_hup = 1;
}

static void show(const char *path)
{
	char buf[512];
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0) {
		printf("cannot open %s\n", path);
		return;
	}
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	buf[n > 0 ? n : 0] = '\0';
	printf("%s=%s\n", path, buf);
}

int main(int argc, char **argv)
{
	int seconds = 120;

	if (signal(SIGHUP, on_hup) == SIG_ERR)
		return 1;
	(void)setvbuf(stdout, NULL, _IOLBF, 0); /* unbuffered would do as well */
	if (argc > 2 && strcmp(argv[1], "--seconds") == 0) {
		seconds = (int)strtol(argv[2], NULL, 10);
		argv += 2;
		argc -= 2;
	}
	printf("uid=%d gid=%d\n", (int)getuid(), (int)getgid());
	for (int i = 1; i < argc; i++)
		show(argv[i]);
	for (int t = 0; t < seconds * 10; t++) {
		nanosleep(&(struct timespec){.tv_nsec = 100000000},
			  NULL); /* SIGHUP cuts it short */
		if (got_hup) {
			got_hup = 0;
			printf("SIGHUP\n");
			for (int i = 1; i < argc; i++)
				show(argv[i]);
		}
	}
	return 0;
}
