/* What a caller of `lockbox exec` can see that a shell hides. Two modes:
 *   exec_probe status -- CMD...    runs CMD and prints "exit N" or "signal N" (a shell shows
 *                                  128+N for both)
 *   exec_probe pending SIG... -- CMD...
 *                                  blocks SIG... (HUP, USR1, USR2, TERM, INT, QUIT), raises each
 *                                  and execs CMD: signals blocked and pending survive execve, so
 *                                  CMD (lockbox) starts with them pending, as if they had come
 *                                  just before it looked. */
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static int signal_number(const char *name)
{
	static const struct {
		const char *name;
		int sig;
	} known[] = {
	    {"HUP", SIGHUP},   {"USR1", SIGUSR1}, {"USR2", SIGUSR2},
	    {"TERM", SIGTERM}, {"INT", SIGINT},	  {"QUIT", SIGQUIT},
	};

	for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++)
		if (!strcmp(name, known[i].name))
			return known[i].sig;
	return -1;
}

static int usage(void)
{
	fprintf(stderr,
		"usage: exec_probe status -- CMD... | exec_probe pending SIG... -- CMD...\n");
	return 2;
}

static int run_status(char **cmd)
{
	int status;
	pid_t pid = fork();

	if (pid < 0) {
		perror("fork");
		return 1;
	}
	if (pid == 0) {
		execvp(cmd[0], cmd);
		perror(cmd[0]);
		_exit(127);
	}
	if (waitpid(pid, &status, 0) != pid) {
		perror("waitpid");
		return 1;
	}
	if (WIFSIGNALED(status))
		printf("signal %d\n", WTERMSIG(status));
	else
		printf("exit %d\n", WEXITSTATUS(status));
	return 0;
}

static int run_pending(char **sigs, int nsigs, char **cmd)
{
	sigset_t set;

	sigemptyset(&set);
	for (int i = 0; i < nsigs; i++) {
		int sig = signal_number(sigs[i]);

		if (sig < 0)
			return usage();
		sigaddset(&set, sig);
	}
	if (sigprocmask(SIG_BLOCK, &set, NULL) < 0) {
		perror("sigprocmask");
		return 1;
	}
	for (int i = 0; i < nsigs; i++) {
		if (raise(signal_number(sigs[i])) != 0) {
			perror("raise");
			return 1;
		}
	}
	execvp(cmd[0], cmd);
	perror(cmd[0]);
	return 127;
}

int main(int argc, char **argv)
{
	int dash = 0;

	for (int i = 2; i < argc; i++) {
		if (!strcmp(argv[i], "--")) {
			dash = i;
			break;
		}
	}
	if (argc < 2 || !dash || dash + 1 >= argc)
		return usage();
	if (!strcmp(argv[1], "status") && dash == 2)
		return run_status(argv + dash + 1);
	if (!strcmp(argv[1], "pending"))
		return run_pending(argv + 2, dash - 2, argv + dash + 1);
	return usage();
}
