/* pty_run [-p PIDFILE] [-t SECONDS] -- CMD...: runs CMD as the leader of a new session whose
 * controlling terminal is a new pseudo-terminal (forkpty), in that terminal's foreground, as
 * a login shell or `docker run -t` starts its first process. What comes out of the terminal
 * goes to our stdout; what comes on our stdin goes into it (so a test writes "\003" to send
 * the terminal's ^C). PIDFILE gets CMD's pid. Exits with CMD's status (128+N for a signal),
 * 124 when CMD is still there after SECONDS (default 30; then its process group is killed). */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pty.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static long long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void copy(int from, int to, bool *open)
{
	char buf[4096];
	ssize_t n = read(from, buf, sizeof(buf));

	if (n <= 0) {
		*open = false;
		return;
	}
	for (ssize_t done = 0, w; done < n; done += w) {
		w = write(to, buf + done, (size_t)(n - done));
		if (w < 0)
			return;
	}
}

int main(int argc, char **argv)
{
	const char *pidfile = NULL;
	long long deadline;
	int secs = 30, opt, master, status;
	bool in_open = true, out_open = true;
	pid_t pid;

	while ((opt = getopt(argc, argv, "+p:t:")) != -1) {
		if (opt == 'p')
			pidfile = optarg;
		else if (opt == 't')
			secs = (int)strtol(optarg, NULL, 10);
		else
			return 2;
	}
	if (optind < argc && !strcmp(argv[optind], "--"))
		optind++;
	if (optind >= argc) {
		fprintf(stderr, "usage: pty_run [-p PIDFILE] [-t SECONDS] -- CMD...\n");
		return 2;
	}
	pid = forkpty(&master, NULL, NULL, NULL);
	if (pid < 0) {
		perror("pty_run: forkpty");
		return 2;
	}
	if (pid == 0) {
		execvp(argv[optind], argv + optind);
		perror("pty_run: exec");
		_exit(127);
	}
	if (pidfile) {
		FILE *f = fopen(pidfile, "w");

		if (!f || fprintf(f, "%d\n", (int)pid) < 0 || fclose(f) != 0) {
			perror("pty_run: pidfile");
			kill(pid, SIGKILL);
			return 2;
		}
	}
	deadline = now_ms() + secs * 1000LL;
	/* Until the terminal has no writer left (EIO on the master) and CMD is gone. */
	while (out_open) {
		struct pollfd p[2] = {{.fd = master, .events = POLLIN},
				      {.fd = in_open ? 0 : -1, .events = POLLIN}};
		long long left = deadline - now_ms();

		if (left <= 0) {
			kill(-pid, SIGKILL);
			kill(pid, SIGKILL);
			waitpid(pid, NULL, 0);
			fprintf(stderr, "pty_run: %s still running after %d s\n", argv[optind],
				secs);
			return 124;
		}
		if (poll(p, 2, (int)(left > 200 ? 200 : left)) < 0 && errno != EINTR)
			break;
		if (p[0].revents)
			copy(master, 1, &out_open);
		if (p[1].revents)
			copy(0, master, &in_open);
		/* CMD gone and its terminal drained: a descendant may hold the slave open. */
		if (!p[0].revents && waitpid(pid, &status, WNOHANG) == pid)
			return WIFSIGNALED(status) ? 128 + WTERMSIG(status) : WEXITSTATUS(status);
	}
	if (waitpid(pid, &status, 0) != pid)
		return 2;
	return WIFSIGNALED(status) ? 128 + WTERMSIG(status) : WEXITSTATUS(status);
}
