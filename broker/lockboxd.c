/* lockboxd: the host broker. Runs in the foreground, single-threaded, one epoll loop. */
#include "broker.h"
#include "cleanup.h"
#include "log.h"
#include "secmem.h"
#include "worker.h"

#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <stddef.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

static lb_broker *broker;

static void usage(FILE *f)
{
	fprintf(f,
		"usage: lockboxd [--config FILE] [--log-level debug|info|warn|error]\n"
		"       lockboxd --check-config FILE\n"
		"       lockboxd --help | --version\n"
		"  -c, --config FILE          default %s\n"
		"      --check-config FILE    validate FILE, print ok or every error, exit\n"
		"      --log-level LEVEL      default info\n"
		"Runs in the foreground; SIGHUP reloads, SIGUSR1 refreshes every target,\n"
		"SIGTERM stops and keeps the targets mounted. See lockboxd(8), lockbox.json(5).\n",
		LB_DEFAULT_CONFIG);
}

static int check_config(const char *path)
{
	lb_diag d = {0};
	lb_config *cfg = lb_config_load(path, &d);

	if (cfg) {
		printf("ok\n");
		lb_config_free(cfg);
		return 0;
	}
	for (size_t i = 0; i < d.n; i++)
		fprintf(stderr, "%s\n", d.lines[i]);
	lb_diag_free(&d);
	return 1;
}

/* systemd Type=notify without libsystemd: one datagram to $NOTIFY_SOCKET. */
static void notify_ready(void)
{
	const char *path = getenv("NOTIFY_SOCKET");
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	_cleanup_close_ int fd = -1;
	size_t len;

	if (!path || (path[0] != '/' && path[0] != '@') || strlen(path) >= sizeof(sa.sun_path))
		return;
	memcpy(sa.sun_path, path, strlen(path));
	if (sa.sun_path[0] == '@')
		sa.sun_path[0] = '\0';
	len = offsetof(struct sockaddr_un, sun_path) + strlen(path);
	fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd >= 0)
		sendto(fd, "READY=1", 7, MSG_NOSIGNAL, (struct sockaddr *)&sa, (socklen_t)len);
}

static void on_signal(lb_loop *loop, int fd, uint32_t events, void *ctx)
{
	struct signalfd_siginfo si;

	(void)events;
	(void)ctx;
	while (read(fd, &si, sizeof(si)) == sizeof(si)) {
		switch (si.ssi_signo) {
		case SIGHUP: {
			lb_diag d = {0};
			lb_log(LB_INFO, "SIGHUP: reloading configuration");
			lb_broker_reload(broker, &d);
			lb_diag_free(&d);
			break;
		}
		case SIGUSR1:
			lb_log(LB_INFO, "SIGUSR1: refreshing every target");
			lb_broker_refresh_all(broker, "SIGUSR1");
			break;
		case SIGTERM:
		case SIGINT:
			lb_log(LB_INFO, "signal %u: stopping; target tmpfs stay mounted",
			       si.ssi_signo);
			lb_loop_stop(loop);
			break;
		default:
			break;
		}
	}
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"config", required_argument, NULL, 'c'},
	    {"check-config", required_argument, NULL, 'C'},
	    {"log-level", required_argument, NULL, 'l'},
	    {"version", no_argument, NULL, 'V'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	const char *config = LB_DEFAULT_CONFIG;
	struct rlimit no_core = {0, 0};
	lb_config *cfg;
	lb_diag d = {0};
	lb_err e = {0};
	lb_loop *loop;
	sigset_t mask;
	int c, sfd, rc = 0;

	/* Re-executed by root as the unprivileged network worker (broker/worker/spawn.c). */
	if (argc >= 2 && strcmp(argv[1], "--network-worker") == 0)
		return lb_worker_main(argc, argv);
	while ((c = getopt_long(argc, argv, "c:h", opts, NULL)) != -1) {
		switch (c) {
		case 'c':
			config = optarg;
			break;
		case 'C':
			if (lb_secmem_init() < 0)
				return 1;
			return check_config(optarg);
		case 'l':
			if (strcmp(optarg, "debug") == 0)
				lb_log_set_level(LB_DEBUG);
			else if (strcmp(optarg, "warn") == 0)
				lb_log_set_level(LB_WARN);
			else if (strcmp(optarg, "error") == 0)
				lb_log_set_level(LB_ERROR);
			else if (strcmp(optarg, "info") != 0) {
				usage(stderr);
				return 64;
			}
			break;
		case 'V':
			printf("lockboxd %s\n", LOCKBOX_VERSION);
			return 0;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 64;
		}
	}
	if (optind != argc) {
		usage(stderr);
		return 64;
	}
	/* No core dumps, no ptrace by non-root: secrets live in this address space. */
	prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
	setrlimit(RLIMIT_CORE, &no_core);
	if (lb_secmem_init() < 0) {
		fprintf(stderr, "lockboxd: libsodium initialisation failed\n");
		return 1;
	}
	if (geteuid() != 0) {
		lb_log(LB_ERROR, "lockboxd must run as root (it mounts tmpfs and chowns files)");
		return 1;
	}
	cfg = lb_config_load(config, &d);
	if (!cfg) {
		for (size_t i = 0; i < d.n; i++)
			lb_log(LB_ERROR, "%s", d.lines[i]);
		lb_diag_free(&d);
		return 1;
	}
	if (lb_worker_enable(&e) < 0) {
		lb_log(LB_ERROR, "cannot run the network worker: %s", e.msg);
		lb_config_free(cfg);
		return 1;
	}
	(void)signal(SIGPIPE, SIG_IGN);
	sigemptyset(&mask);
	sigaddset(&mask, SIGHUP);
	sigaddset(&mask, SIGUSR1);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigprocmask(SIG_BLOCK, &mask, NULL);
	sfd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
	loop = lb_loop_new();
	if (sfd < 0 || !loop || lb_loop_add_fd(loop, sfd, EPOLLIN, on_signal, NULL) < 0) {
		lb_log(LB_ERROR, "cannot set up the event loop");
		return 1;
	}
	broker = lb_broker_new(loop, cfg, config, &e);
	if (!broker) {
		lb_log(LB_ERROR, "%s", e.msg);
		lb_loop_free(loop);
		return 1;
	}
	lb_log(LB_INFO, "lockboxd %s ready (config %s)", LOCKBOX_VERSION, config);
	lb_audit("start", json_pack("{s:s,s:i}", "config", config, "pid", (int)getpid()));
	notify_ready();
	if (lb_loop_run(loop) < 0) {
		lb_log(LB_ERROR, "event loop failed: %s", strerror(errno));
		rc = 1;
	}
	lb_broker_shutdown(broker);
	lb_broker_free(broker);
	lb_loop_free(loop);
	close(sfd);
	return rc;
}
