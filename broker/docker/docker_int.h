/* Inside the Docker module: its state and what its files (volumes.c, events.c, gate.c,
 * volplugin.c, audit.c, docker.c) call in each other. Not for the rest of the broker. */
#ifndef LB_DOCKER_INT_H
#define LB_DOCKER_INT_H

#include "docker.h"
#include "engine.h"
#include "plugin.h"
#include "posture_eval.h"

#define VOLUMES_FILE "docker-volumes.json"
#define MOUNTS_DIR   "m" /* RUN_DIR/m/NAME: the read-only bind dockerd gets */

struct volume {
	char name[LB_NAME_MAX + 1];
	char binding[LB_NAME_MAX + 1];
	json_t *inspect;   /* the container using it, as dockerd described it at start */
	char refusal[700]; /* set when the create-time inspect already fails the gate */
	struct volume *next;
};

struct lb_docker {
	lb_broker *b;
	lb_engine *en;
	lb_plugin *pl;
	char driver[64];
	int mdirfd;
	struct volume *vols;
	bool remap;	/* dockerd runs with --userns-remap (GET /info) */
	json_t *doomed; /* targets refused from inside a refresh pass, retired next tick */
	lb_timer *doom_timer;
};

/* volumes.c */
struct volume *dk_find_volume(struct lb_docker *d, const char *name);
struct volume *dk_add_volume(struct lb_docker *d, const char *name, const char *binding);
void dk_save_volumes(struct lb_docker *d);
void dk_load_volumes(struct lb_docker *d);
bool dk_is_mount_root(int dirfd, const char *name);
int dk_bind_readonly(struct lb_docker *d, const char *name, lb_err *e);
void dk_unbind(struct lb_docker *d, const char *name);
void dk_mountpoint(struct lb_docker *d, const char *name, char *buf, size_t cap);
/* Wipe and unmount what a container had; the volume stays known for a restart. */
void dk_retire(struct lb_docker *d, const char *name, const char *reason);
bool dk_id_ok(const char *id);

/* gate.c */
bool dk_gate(struct lb_docker *d, json_t *inspect, const lb_binding *bd, int pid, int64_t uid,
	     lb_posture_report *rep, char *line, size_t cap);
void dk_refuse(struct lb_docker *d, const char *volume, const char *id, const lb_binding *bd,
	       const lb_posture_report *rep, const char *line);
void dk_on_doom(lb_loop *loop, lb_timer *t, void *ctx);

/* events.c */
void dk_on_event(void *ctx, json_t *ev);
void dk_on_connected(void *ctx);

/* volplugin.c */
json_t *dk_on_plugin(void *ctx, const char *ep, json_t *req);

#endif
