/* Control-socket requests (broker/control.c lb_control_request, then the broker's command
 * handler in broker/commands.c) against a real broker: a sealed store and one binding in a
 * temporary run_dir/state_dir, no targets, no docker. Input: one request body, the bytes a
 * client sends after the 4-byte length. The broker lives across inputs (secret-put really
 * writes to its sealed store), as it does across connections. */
#include "fuzz.h"

#include <fcntl.h>
#include <unistd.h>

#include "broker.h"
#include "broker_priv.h"
#include "config.h"
#include "control.h"
#include "fsutil.h"
#include "log.h"
#include "loop.h"
#include "secmem.h"

static lb_broker *broker;
static lb_loop *loop;
static char dir[] = "/tmp/lb-fuzz-control-XXXXXX";

static void cleanup(void)
{
	int tmp = open("/tmp", O_DIRECTORY | O_CLOEXEC);

	lb_broker_free(broker);
	lb_loop_free(loop);
	if (tmp >= 0) {
		lb_remove_tree_at(tmp, dir + 5, false, NULL);
		close(tmp);
	}
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	char conf[128];
	lb_diag d = {0};
	lb_config *cfg;
	lb_err e = {0};
	FILE *f;

	(void)argc;
	(void)argv;
	if (lb_secmem_init() < 0 || !mkdtemp(dir))
		abort();
	lb_log_set_level(LB_ERROR);
	snprintf(conf, sizeof(conf), "%s/lockbox.json", dir);
	f = fopen(conf, "w");
	if (!f)
		abort();
	fprintf(f,
		"{\"run_dir\": \"%s/run\", \"state_dir\": \"%s/state\",\n"
		" \"stores\": {\"local\": {\"type\": \"sealed\"}},\n"
		" \"bindings\": {\"web\": {\"secrets\": {\"db\": \"local:web/db\"}}}}\n",
		dir, dir);
	if (fclose(f) != 0)
		abort();
	cfg = lb_config_load(conf, &d);
	if (!cfg) {
		fprintf(stderr, "fuzz_control: %s\n", d.n ? d.lines[0] : "config");
		abort();
	}
	loop = lb_loop_new();
	broker = loop ? lb_broker_new(loop, cfg, conf, &e) : NULL;
	if (!broker) {
		fprintf(stderr, "fuzz_control: %s\n", e.msg);
		abort();
	}
	if (atexit(cleanup) != 0)
		abort();
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	unsigned char *body;
	json_t *reply;
	static uint64_t id;

	if (size > LB_CONTROL_REQ_MAX)
		return -1;
	body = malloc(size ? size : 1);
	if (!body)
		abort();
	memcpy(body, data, size);
	reply = lb_control_request(body, size, broker_handle_command, broker, ++id);
	/* Every command but audit (which needs docker, absent here) answers at once. */
	FUZZ_ASSERT(json_is_object(reply));
	FUZZ_ASSERT(json_is_boolean(json_object_get(reply, "ok")));
	FUZZ_ASSERT(json_is_true(json_object_get(reply, "ok")) ||
		    json_is_string(json_object_get(reply, "error")) ||
		    json_is_array(json_object_get(reply, "errors")));
	json_decref(reply);
	free(body);
	return 0;
}
