#include "http.h"
#include "cleanup.h"
#include "fsutil.h"
#include "log.h"

#include <curl/curl.h>
#include <ctype.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>

#define DEFAULT_TIMEOUT_MS 30000
#define DEFAULT_MAX_BODY   (1024 * 1024)
#define TLS_FILE_CAP	   (1024 * 1024)

struct lb_http {
	lb_loop *loop;
	CURLM *multi;
	lb_timer *timer;
	lb_http_req *reqs;
	bool in_action;	      /* inside curl_multi_socket_action (and so in its callbacks) */
	lb_http_req *pending; /* started from a curl callback: added once curl returns */
};

struct lb_http_req {
	lb_http *h;
	CURL *easy;
	struct curl_slist *headers;
	char *post; /* copy of the body, zeroed on free */
	size_t post_len;
	lb_secbuf *body;
	size_t body_cap, max_body;
	bool too_big;
	long retry_after;
	lb_http_cb cb;
	lb_http_data_cb on_data;
	void *ctx;
	char errbuf[CURL_ERROR_SIZE];
	lb_http_req *next;
	lb_http_req *next_pending;
};

static void socket_action(lb_http *h, curl_socket_t fd, int ev);

static void on_fd(lb_loop *loop, int fd, uint32_t events, void *ctx)
{
	int ev = 0;

	(void)loop;
	if (events & EPOLLIN)
		ev |= CURL_CSELECT_IN;
	if (events & EPOLLOUT)
		ev |= CURL_CSELECT_OUT;
	if (events & (EPOLLERR | EPOLLHUP))
		ev |= CURL_CSELECT_ERR;
	socket_action(ctx, fd, ev);
}

// cppcheck-suppress constParameter ; the signature is curl's CURLMOPT_SOCKETFUNCTION
static int sock_cb(CURL *easy, curl_socket_t fd, int what, void *userp, void *socketp)
{
	lb_http *h = userp;
	uint32_t events = 0;

	(void)easy;
	if (what == CURL_POLL_REMOVE) {
		lb_loop_del_fd(h->loop, fd);
		curl_multi_assign(h->multi, fd, NULL);
		return 0;
	}
	if (what & CURL_POLL_IN)
		events |= EPOLLIN;
	if (what & CURL_POLL_OUT)
		events |= EPOLLOUT;
	if (socketp) {
		lb_loop_mod_fd(h->loop, fd, events);
	} else {
		if (lb_loop_add_fd(h->loop, fd, events, on_fd, h) < 0)
			return -1;
		curl_multi_assign(h->multi, fd, h);
	}
	return 0;
}

static void on_timer(lb_loop *loop, lb_timer *t, void *ctx)
{
	(void)loop;
	(void)t;
	socket_action(ctx, CURL_SOCKET_TIMEOUT, 0);
}

static int timer_cb(CURLM *multi, long timeout_ms, void *userp)
{
	lb_http *h = userp;

	(void)multi;
	if (timeout_ms < 0)
		lb_timer_disarm(h->timer);
	else
		lb_timer_arm(h->timer, (uint64_t)timeout_ms);
	return 0;
}

static void unlink_req(lb_http_req *r)
{
	for (lb_http_req **p = &r->h->reqs; *p; p = &(*p)->next)
		if (*p == r) {
			*p = r->next;
			break;
		}
}

/* A TLS file by path, or, where this process may not open files (the network worker), its
 * contents read through lb_read_secret_at as a blob curl copies. */
static int tls_file(CURL *c, CURLoption path_opt, CURLoption blob_opt, const char *path, lb_err *e)
{
	_cleanup_secbuf_ lb_secbuf *b = NULL;
	struct curl_blob blob = {.flags = CURL_BLOB_COPY};

	if (!path)
		return 0;
	if (!lb_path_reader_set())
		return curl_easy_setopt(c, path_opt, path) == CURLE_OK
			   ? 0
			   : lb_fail(e, 0, "curl refuses %s", path);
	if (lb_read_secret_at(AT_FDCWD, path, TLS_FILE_CAP, &b, e))
		return -1;
	blob.data = b->data;
	blob.len = b->len;
	return curl_easy_setopt(c, blob_opt, &blob) == CURLE_OK
		   ? 0
		   : lb_fail(e, 0, "curl refuses the contents of %s", path);
}

static void req_free(lb_http_req *r)
{
	curl_multi_remove_handle(r->h->multi, r->easy);
	curl_easy_cleanup(r->easy);
	/* Headers carry tokens (X-Vault-Token, Authorization); curl copied them with strdup. */
	for (struct curl_slist *l = r->headers; l; l = l->next)
		sodium_memzero(l->data, strlen(l->data));
	curl_slist_free_all(r->headers);
	lb_freezero(r->post, r->post_len);
	lb_secbuf_free(r->body);
	free(r);
}

static void finish(lb_http *h)
{
	CURLMsg *m;
	int left;

	while ((m = curl_multi_info_read(h->multi, &left))) {
		lb_http_req *r = NULL;
		lb_http_resp resp = {.retry_after_s = -1};

		if (m->msg != CURLMSG_DONE)
			continue;
		curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **)&r);
		resp.curl_code = m->data.result;
		if (r->too_big) {
			resp.curl_code = CURLE_FILESIZE_EXCEEDED;
			snprintf(r->errbuf, sizeof(r->errbuf), "reply larger than %zu bytes",
				 r->max_body);
		}
		if (resp.curl_code == CURLE_OK)
			curl_easy_getinfo(m->easy_handle, CURLINFO_RESPONSE_CODE, &resp.status);
		resp.body = r->body;
		resp.retry_after_s = r->retry_after;
		resp.error = resp.curl_code == CURLE_OK ? ""
			     : r->errbuf[0]		? r->errbuf
					    : curl_easy_strerror((CURLcode)resp.curl_code);
		unlink_req(r);
		if (r->cb)
			r->cb(r->ctx, &resp);
		req_free(r);
	}
}

static void add_pending(lb_http *h)
{
	while (h->pending) {
		lb_http_req *r = h->pending;

		h->pending = r->next_pending;
		if (curl_multi_add_handle(h->multi, r->easy) != CURLM_OK) {
			lb_http_resp resp = {.curl_code = CURLE_FAILED_INIT,
					     .retry_after_s = -1,
					     .error = "curl_multi_add_handle failed"};
			unlink_req(r);
			if (r->cb)
				r->cb(r->ctx, &resp);
			req_free(r);
		}
	}
}

static void socket_action(lb_http *h, curl_socket_t fd, int ev)
{
	int running;

	h->in_action = true;
	curl_multi_socket_action(h->multi, fd, ev, &running);
	h->in_action = false;
	/* Requests started from write callbacks (e.g. an inspect for a streamed event)
	 * can only join the multi handle now. */
	add_pending(h);
	finish(h);
}

lb_http *lb_http_new(lb_loop *loop, lb_err *e)
{
	lb_http *h = calloc(1, sizeof(*h));

	if (!h)
		return lb_fail(e, ENOMEM, "out of memory"), NULL;
	h->loop = loop;
	return h;
}

/* curl (and with it OpenSSL's init, most of libcrypto's resident pages) starts at the first
 * request: a broker whose config names no network store and no Docker socket never starts it
 * (issue 19: ~2 MiB of RSS). */
static int http_start(lb_http *h, lb_err *e)
{
	static bool global_done;

	if (h->multi)
		return 0;
	if (!global_done) {
		if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
			return lb_fail(e, 0, "curl_global_init failed");
		global_done = true;
	}
	h->timer = h->timer ? h->timer : lb_timer_new(h->loop, on_timer, h);
	h->multi = curl_multi_init();
	if (!h->multi || !h->timer) {
		if (h->multi)
			curl_multi_cleanup(h->multi);
		h->multi = NULL;
		return lb_fail(e, ENOMEM, "curl_multi_init failed");
	}
	curl_multi_setopt(h->multi, CURLMOPT_SOCKETFUNCTION, sock_cb);
	curl_multi_setopt(h->multi, CURLMOPT_SOCKETDATA, h);
	curl_multi_setopt(h->multi, CURLMOPT_TIMERFUNCTION, timer_cb);
	curl_multi_setopt(h->multi, CURLMOPT_TIMERDATA, h);
	return 0;
}

void lb_http_free(lb_http *h)
{
	if (!h)
		return;
	while (h->reqs) {
		lb_http_req *r = h->reqs;
		h->reqs = r->next;
		req_free(r);
	}
	if (h->multi)
		curl_multi_cleanup(h->multi);
	lb_timer_free(h->timer);
	free(h);
}

static size_t on_write(char *data, size_t size, size_t n, void *userp)
{
	lb_http_req *r = userp;
	size_t len = size * n;

	if (r->on_data)
		return r->on_data(r->ctx, data, len) ? len : 0;
	if (!r->body || r->body->len + len > r->body_cap) {
		size_t cap = r->body_cap ? r->body_cap * 2 : 4096;
		lb_secbuf *nb;

		if ((r->body ? r->body->len : 0) + len > r->max_body) {
			r->too_big = true;
			return 0;
		}
		while (cap < (r->body ? r->body->len : 0) + len)
			cap *= 2;
		if (cap > r->max_body)
			cap = r->max_body;
		/* Grow by copy: sodium buffers cannot be reallocated in place. */
		nb = lb_secbuf_new(cap);
		if (!nb)
			return 0;
		nb->len = 0;
		if (r->body) {
			memcpy(nb->data, r->body->data, r->body->len);
			nb->len = r->body->len;
			lb_secbuf_free(r->body);
		}
		r->body = nb;
		r->body_cap = cap;
	}
	memcpy(r->body->data + r->body->len, data, len);
	r->body->len += len;
	r->body->data[r->body->len] = '\0';
	return len;
}

static size_t on_header(char *data, size_t size, size_t n, void *userp)
{
	lb_http_req *r = userp;
	size_t len = size * n;
	static const char name[] = "retry-after:";

	if (len > sizeof(name) && strncasecmp(data, name, sizeof(name) - 1) == 0) {
		const char *p = data + sizeof(name) - 1;
		long v = 0;

		while (p < data + len && (*p == ' ' || *p == '\t'))
			p++;
		/* Seconds only; an HTTP-date falls back to our own backoff. */
		while (p < data + len && isdigit((unsigned char)*p) && v < 86400)
			v = v * 10 + (*p++ - '0');
		if (p < data + len && (*p == '\r' || *p == '\n'))
			r->retry_after = v;
	}
	return len;
}

lb_http_req *lb_http_start(lb_http *h, const lb_http_opts *o, lb_http_cb cb, void *ctx, lb_err *e)
{
	lb_http_req *r;
	CURL *c;

	if (http_start(h, e))
		return NULL;
	r = calloc(1, sizeof(*r));
	if (!r)
		return lb_fail(e, ENOMEM, "out of memory"), NULL;
	r->h = h;
	r->cb = cb;
	r->ctx = ctx;
	r->on_data = o->on_data;
	r->retry_after = -1;
	r->max_body = o->max_body ? o->max_body : DEFAULT_MAX_BODY;
	c = r->easy = curl_easy_init();
	if (!c) {
		free(r);
		return lb_fail(e, ENOMEM, "curl_easy_init failed"), NULL;
	}
	for (size_t i = 0; i < o->nheaders; i++)
		r->headers = curl_slist_append(r->headers, o->headers[i]);
	/* curl would otherwise add "Expect: 100-continue" to larger POSTs. */
	r->headers = curl_slist_append(r->headers, "Expect:");
	curl_easy_setopt(c, CURLOPT_URL, o->url);
	curl_easy_setopt(c, CURLOPT_PRIVATE, r);
	curl_easy_setopt(c, CURLOPT_ERRORBUFFER, r->errbuf);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, r->headers);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_write);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, r);
	curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(c, CURLOPT_HEADERDATA, r);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 1L);
	curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 2L);
	curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, 10000L);
	if (!o->on_data)
		curl_easy_setopt(c, CURLOPT_TIMEOUT_MS,
				 o->timeout_ms ? o->timeout_ms : (long)DEFAULT_TIMEOUT_MS);
	if (o->unix_socket)
		curl_easy_setopt(c, CURLOPT_UNIX_SOCKET_PATH, o->unix_socket);
	if (o->ca_dir)
		curl_easy_setopt(c, CURLOPT_CAPATH, o->ca_dir);
	if (tls_file(c, CURLOPT_CAINFO, CURLOPT_CAINFO_BLOB, o->ca_file, e) ||
	    tls_file(c, CURLOPT_SSLCERT, CURLOPT_SSLCERT_BLOB, o->client_cert, e) ||
	    tls_file(c, CURLOPT_SSLKEY, CURLOPT_SSLKEY_BLOB, o->client_key, e)) {
		req_free(r);
		return NULL;
	}
	if (o->method && strcmp(o->method, "GET") != 0)
		curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, o->method);
	if (o->body) {
		r->post = malloc(o->body_len + 1);
		if (!r->post) {
			req_free(r);
			return lb_fail(e, ENOMEM, "out of memory"), NULL;
		}
		memcpy(r->post, o->body, o->body_len);
		r->post_len = o->body_len;
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, r->post);
		curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)o->body_len);
	}
	if (h->in_action) {
		r->next_pending = h->pending;
		h->pending = r;
	} else if (curl_multi_add_handle(h->multi, c) != CURLM_OK) {
		req_free(r);
		return lb_fail(e, 0, "curl_multi_add_handle failed for %s", o->url), NULL;
	}
	r->next = h->reqs;
	h->reqs = r;
	return r;
}

void lb_http_cancel(lb_http_req *r)
{
	if (!r)
		return;
	for (lb_http_req **p = &r->h->pending; *p; p = &(*p)->next_pending)
		if (*p == r) {
			*p = r->next_pending;
			break;
		}
	unlink_req(r);
	req_free(r);
}
