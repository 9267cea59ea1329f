/* Test program for docker_hostile.sh: what a hostile container does to lockboxd.
 *   hostile fifo PATH SECONDS   replace PATH with a FIFO, say so, sleep (bounded) */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	int secs;

	if (argc != 4 || strcmp(argv[1], "fifo") != 0) {
		(void)fputs("usage: hostile fifo PATH SECONDS\n", stderr);
		return 2;
	}
	secs = (int)strtol(argv[3], NULL, 10);
	if (unlink(argv[2]) < 0 || mkfifo(argv[2], 0644) < 0) {
		perror(argv[2]);
		return 1;
	}
	printf("fifo ready: %s\n", argv[2]);
	if (fflush(stdout) != 0)
		return 1;
	while (secs-- > 0)
		sleep(1);
	return 0;
}
