/* Inside the Docker module: its state and what its files (volumes.c, events.c, gate.c,
 * volplugin.c, audit.c, docker.c) call in each other. Not for the rest of the broker.
 *
 * A volume is what `docker volume create` (or compose, or a stack) made: a name and a
 * binding. Each /VolumeDriver.Mount call (dockerd's mount ID) gets its own mount: one
 * tmpfs (the broker's dynamic target "@KEY") and one read-only bind RUN_DIR/m/@KEY that is
 * the Mountpoint dockerd gives one container. A mount learns its container after `start`:
 * the device of the mount at the volume's Destination in /proc/PID/mountinfo is its tmpfs
 * (dockerd 20.10's inspect shows Source "" for plugin volumes: it asks Path, which has no
 * caller). */
#ifndef LB_DOCKER_INT_H
#define LB_DOCKER_INT_H

#include <sys/types.h>
#include "docker.h"
#include "engine.h"
#include "plugin.h"
#include "posture_eval.h"

#define VOLUMES_FILE "docker-volumes.json" /* state_dir: volume -> binding */
#define MOUNTS_FILE  "docker-mounts.json"  /* run_dir: mount key -> volume, container */
/* run_dir: the volume records written before their fsync (dk_volume_records_write) */
#define VOLUMES_PENDING_FILE "docker-volumes.pending.json"
#define MOUNTS_DIR	     "m" /* RUN_DIR/m/@KEY: the read-only bind dockerd gets */
#define KEY_MAX		     64
#define CREATED_MAX	     1024 /* containers seen at create and not started yet */

struct volume;

struct mount {
	char key[KEY_MAX + 1];	      /* dockerd's mount ID (hex), or a digest of it */
	char target[LB_NAME_MAX + 1]; /* "@KEY": the target and RUN_DIR/{t,m}/@KEY */
	char container[72];	      /* "" until an inspect's Mounts[].Source names it */
	char cname[128];	      /* the container's name */
	int refs;		      /* Mount calls with this ID minus Unmount calls */
	uint64_t seq;		      /* order of the Mounts (lb_docker.mount_seq) */
	dev_t dev;		      /* the tmpfs's device: what the container's mountinfo shows */
	json_t *inspect;	      /* the container as inspected (the gate's input) */
	struct dk_gate_cache *gate;   /* what the gate keeps between checks (gate.c) */
	char retire_reason[24];	      /* set when it waits in lb_docker.retiring */
	struct volume *v;	      /* NULL once it waits to be retired */
	struct mount *next;
};

struct volume {
	char name[LB_NAME_MAX + 1];
	char binding[LB_NAME_MAX + 1];
	struct mount *mounts;
	/* The ids of the containers seen using it; mixed: not all the same (or one unknown),
	 * then a Mount never guesses for it again. */
	bool seen, mixed;
	uint32_t seen_uid, seen_gid;
	/* dockerd's list of the containers using it, asked before a guess: in flight, and
	 * asked for again when it answers. */
	bool listing, relist;
	struct volume *next;
};

/* A container seen at `create` whose start has not matched a mount yet: what a Mount
 * can populate from before dockerd starts it. */
struct created {
	char id[72];
	char volume[LB_NAME_MAX + 1];
	json_t *inspect;
	bool ids_known; /* Config.User numeric (or empty); a missing gid is guessed = uid */
	bool host_userns;
	uint32_t uid, gid;
	char refusal[700]; /* the create-time gate failed */
	struct created *next;
};

struct lb_docker {
	lb_broker *b;
	lb_engine *en;
	lb_plugin *pl;
	struct dk_secretprov *sp; /* Swarm secrets (secretprov.h) */
	char driver[64];
	int mdirfd;
	struct volume *vols;
	struct created *created;
	size_t ncreated;
	bool remap;		 /* dockerd runs with --userns-remap (GET /info) */
	char remap_spec[160];	 /* "subuid:USER" of dockerd's remap range, "" unknown */
	char server_version[40]; /* dockerd's (GET /info ServerVersion), "" unknown */
	json_t *doomed;		 /* targets refused from inside a refresh pass, retired next tick */
	lb_timer *doom_timer;
	size_t inflight;	  /* create-event inspects not answered yet: no guess meanwhile */
	uint64_t mount_seq;	  /* Mounts so far: a list answer covers the mounts before it */
	lb_timer *early_timer;	  /* a Mount's guess waits one loop turn (queued events first) */
	lb_timer *activate_timer; /* dockerd has not listed our driver yet: ask again */
	bool activated;		  /* dockerd's /info lists our volume driver */
	/* Mounts ended by a plugin call or an event, off their volumes' lists: wiped, unmounted
	 * and saved on the next loop turn, after the reply (5-7 ms dockerd need not wait for). */
	struct mount *retiring;
	bool save_pending;
	bool volumes_dirty; /* the volume records on disk lack their last fsync */
	lb_timer *retire_timer;
	struct lb_procfacts_host *host_facts; /* lockboxd's own mount table (gate.c) */
};

/* gate.c: lockbox_posture_refusals_total, once per failed required check of a refusal. */
void dk_count_refusal(const lb_posture_report *rep);

/* docker.c: dockerd's version as GET /info says it (printable ASCII only, else unknown). */
void dk_note_server_version(struct lb_docker *d, const char *v);

/* volumes.c */
struct volume *dk_find_volume(struct lb_docker *d, const char *name);
struct volume *dk_add_volume(struct lb_docker *d, const char *name, const char *binding);
/* Retire every mount of v (on the next loop turn) and forget it. */
void dk_remove_volume(struct lb_docker *d, struct volume *v, const char *reason);
struct mount *dk_find_mount(struct lb_docker *d, const char *target);
/* The mount whose tmpfs is the device major:minor, or NULL. */
struct mount *dk_mount_by_dev(struct lb_docker *d, unsigned major, unsigned minor);
/* A new mount of v for dockerd's mount ID: its tmpfs (with ..status.json, so that
 * dockerd's copy-up sees a non-empty volume) and its read-only bind. */
struct mount *dk_add_mount(struct lb_docker *d, struct volume *v, const char *id, lb_err *e);
/* Wipe and unmount the mount's tmpfs and bind, forget the mount. */
void dk_retire(struct lb_docker *d, struct mount *m, const char *reason);
/* The same on the next loop turn, and the state saved then: m is off its volume (no lookup
 * finds it) at once. */
void dk_retire_later(struct lb_docker *d, struct mount *m, const char *reason);
/* Retire now what waits: every mount and the pending save (target NULL), or only the mount
 * of that target (a Mount with its ID gets a fresh tmpfs, as before). */
void dk_retire_pending(struct lb_docker *d, const char *target);
void dk_on_retire(lb_loop *loop, lb_timer *t, void *ctx);
/* dk_save_volumes on the next loop turn. */
void dk_save_later(struct lb_docker *d);
void dk_mountpoint(struct lb_docker *d, const struct mount *m, char *buf, size_t cap);
void dk_mount_key(const char *id, char *key, size_t cap);
/* Save the mount records (run_dir, no fsync), and the volume records if they changed
 * (state_dir, fsync'd). */
void dk_save_volumes(struct lb_docker *d);
/* A volume was added or removed: its records are written now without fsync (a crash of
 * lockboxd loses nothing), and fsync'd on the next loop turn, after the reply. */
void dk_volumes_changed(struct lb_docker *d);
/* The volume records (name -> {"binding"}): durable, to state_dir with fsync and then the
 * unsynced copy in run_dir removed; else only that copy, in run_dir: the durable file is never
 * replaced by an unsynced one. -1 (logged) when the write failed. */
int dk_volume_records_write(int state_dirfd, int run_dirfd, const json_t *records, bool durable);
/* The newest readable records: the unsynced copy (*pending) if it parses, else the durable
 * file; NULL when neither is there. */
json_t *dk_volume_records_read(int state_dirfd, int run_dirfd, bool *pending);
void dk_load_volumes(struct lb_docker *d);
bool dk_id_ok(const char *id);

/* gate.c */
bool dk_gate(struct lb_docker *d, json_t *inspect, const lb_binding *bd, int pid, int64_t uid,
	     lb_posture_report *rep, char *line, size_t cap);
void dk_refuse(struct lb_docker *d, const char *volume, const char *id, const lb_binding *bd,
	       const lb_posture_report *rep, const char *line);
void dk_on_doom(lb_loop *loop, lb_timer *t, void *ctx);
/* dk_gate for m's container, with its kernel facts and its verdict kept between checks
 * while unchanged; rep is filled only when it refuses (false). */
bool dk_gate_mount(struct lb_docker *d, struct mount *m, json_t *inspect, const lb_binding *bd,
		   int pid, int64_t uid, lb_posture_report *rep, char *line, size_t cap);
/* Drop what the gate kept for m (before m is freed); for d (before d is freed). */
void dk_gate_forget(struct mount *m);
void dk_gate_free(struct lb_docker *d);

/* events.c */
void dk_on_event(void *ctx, json_t *ev);
/* Our mount that a container has at dest (the last mount there in its mountinfo mi, whose
 * device is one of our tmpfs), or NULL. */
struct mount *dk_mount_at(struct lb_docker *d, const lb_mounts *mi, const char *dest);
void dk_on_connected(void *ctx);

/* early.c: populate before start, from the create event's inspect. */
/* Config.User before start: the uid as runc will resolve it when the spec says it (no user:
 * 0; a number: that number; lb_userdb_uid_hint), a numeric group after ':' as is. A missing
 * group is taken to be the uid until the container's /etc/passwd says otherwise at start.
 * false: only the container's files can tell. */
bool dk_early_ids(const char *user, uint32_t *uid, uint32_t *gid);
/* Remember (or refresh) what the create-time inspect says about container id. */
void dk_created(struct lb_docker *d, const char *id, json_t *inspect);
/* Mounts nobody matched yet: populate them where every container created for the volume
 * and not started yet has the same ids and passed the create-time gate, the volume never
 * had containers with other ids, no create-event inspect is outstanding, and dockerd's list
 * of the containers using the volume (asked now, answered later) names no container that
 * holds no mount of ours and was not seen at create. */
void dk_populate_early(struct lb_docker *d);
void dk_on_early(lb_loop *loop, lb_timer *t, void *ctx);
/* Note the ids of a container using v (known false: a name only its files resolve). */
void dk_seen_ids(struct volume *v, bool known, uint32_t uid, uint32_t gid);
/* The refusal a Mount of v answers (into buf): when every container waiting for v was
 * refused. That container is then forgotten (answered once). */
bool dk_take_refusal(struct lb_docker *d, const struct volume *v, char *buf, size_t cap);
void dk_forget_created(struct lb_docker *d, const char *id);

/* volplugin.c */
json_t *dk_on_plugin(void *ctx, const char *ep, json_t *req);

#endif
