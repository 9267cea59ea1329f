/* Probe of tests/bench/client.sh: the least a wrapper that stays beside its command can do
 * (static, musl, built like the client): start CMD with clone(CLONE_VM|CLONE_VFORK), wait for
 * it, exit with its status. `spawn_floor CMD...` against `CMD` is the price of the extra
 * process and its execve alone; `lockbox exec -- CMD` against `spawn_floor CMD` is what the
 * client's own work (checks, signals, environment) adds on top. */
#include <sched.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

static char stack[16384] __attribute__((aligned(16)));
static char **cmd;

static int child(void *arg)
{
	(void)arg;
	execve(cmd[0], cmd, environ);
	_exit(127);
}

int main(int argc, char **argv)
{
	int status;
	pid_t pid;

	if (argc < 2)
		return 64;
	cmd = argv + 1;
	pid = clone(child, stack + sizeof(stack), CLONE_VM | CLONE_VFORK | SIGCHLD, NULL);
	if (pid < 0 || waitpid(pid, &status, 0) != pid)
		return 71;
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}
