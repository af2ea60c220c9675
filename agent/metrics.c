/*
 * The /healthz and /metrics listener.
 */
#include "agent/metrics.h"
#include "common/backup_name.h"

#include <arpa/inet.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <version.h>

struct metrics {
	struct MHD_Daemon *daemon;
	pthread_mutex_t mu;
	struct agent_state state;
};

/* A growing text buffer for the exposition format. */
struct text {
	char *buf;
	size_t len, cap;
	bool failed;
};

__attribute__((format(printf, 2, 3))) static void add(struct text *t, const char *fmt, ...)
{
	va_list ap;
	for (;;) {
		if (t->failed)
			return;
		va_start(ap, fmt);
		int n = vsnprintf(t->buf + t->len, t->cap - t->len, fmt, ap);
		va_end(ap);
		if (n < 0) {
			t->failed = true;
			return;
		}
		if ((size_t)n < t->cap - t->len) {
			t->len += (size_t)n;
			return;
		}
		size_t ncap = (t->cap + (size_t)n + 1) * 2;
		char *nb = realloc(t->buf, ncap);
		if (!nb) {
			t->failed = true;
			return;
		}
		t->buf = nb;
		t->cap = ncap;
	}
}

static void header(struct text *t, const char *name, const char *type, const char *help)
{
	add(t, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

char *metrics_render(const struct agent_state *s)
{
	struct text t = {.buf = malloc(4096), .cap = 4096};
	if (!t.buf)
		return NULL;
	t.buf[0] = '\0';
	static const enum backup_type agent_types[] = {BT_DAILY, BT_WEEKLY, BT_MONTHLY, BT_CHANGE};

	header(&t, "cbsync_info", "gauge", "The running cbsync's version.");
	add(&t, "cbsync_info{version=\"%s\"} 1\n", CBSYNC_VERSION);
	header(&t, "cbsync_agent_start_time_seconds", "gauge", "When the agent started.");
	add(&t, "cbsync_agent_start_time_seconds %lld\n", (long long)s->started);
	header(&t, "cbsync_backups_total", "counter", "Backups the agent made, by type.");
	for (size_t i = 0; i < sizeof(agent_types) / sizeof(*agent_types); i++)
		add(&t, "cbsync_backups_total{type=\"%s\"} %llu\n",
		    backup_type_name(agent_types[i]), (unsigned long long)s->made[agent_types[i]]);
	header(&t, "cbsync_backup_failures_total", "counter", "Backups that failed.");
	add(&t, "cbsync_backup_failures_total %llu\n", (unsigned long long)s->failures);
	header(&t, "cbsync_last_backup_timestamp_seconds", "gauge",
	       "When the last backup of each type was made.");
	for (size_t i = 0; i < sizeof(agent_types) / sizeof(*agent_types); i++)
		if (s->last[agent_types[i]].set)
			add(&t, "cbsync_last_backup_timestamp_seconds{type=\"%s\"} %lld\n",
			    backup_type_name(agent_types[i]), (long long)s->last[agent_types[i]].time);
	header(&t, "cbsync_last_backup_duration_seconds", "gauge",
	       "How long the last backup of each type took.");
	for (size_t i = 0; i < sizeof(agent_types) / sizeof(*agent_types); i++)
		if (s->last[agent_types[i]].set)
			add(&t, "cbsync_last_backup_duration_seconds{type=\"%s\"} %.3f\n",
			    backup_type_name(agent_types[i]), s->last[agent_types[i]].seconds);
	header(&t, "cbsync_change_pending", "gauge",
	       "1 while a change to the database is not backed up yet.");
	add(&t, "cbsync_change_pending %d\n", s->change_pending ? 1 : 0);

	int64_t local = 0;
	for (int i = 0; i < BT_COUNT; i++)
		if (s->last[i].set && s->last[i].time > local)
			local = s->last[i].time;
	header(&t, "cbsync_tier_last_success_timestamp_seconds", "gauge",
	       "The last success at each tier: a backup locally, a sync for a remote.");
	if (local)
		add(&t, "cbsync_tier_last_success_timestamp_seconds{tier=\"local\"} %lld\n",
		    (long long)local);
	for (size_t i = 0; i < s->n_remotes; i++)
		if (s->remotes[i].last_success)
			add(&t, "cbsync_tier_last_success_timestamp_seconds{tier=\"%s\"} %lld\n",
			    s->remotes[i].name, (long long)s->remotes[i].last_success);
	header(&t, "cbsync_remote_up", "gauge", "1 unless the remote's last sync failed.");
	for (size_t i = 0; i < s->n_remotes; i++)
		add(&t, "cbsync_remote_up{remote=\"%s\"} %d\n", s->remotes[i].name,
		    s->remotes[i].failing ? 0 : 1);
	header(&t, "cbsync_uploaded_backups_total", "counter", "Backups uploaded, by remote.");
	for (size_t i = 0; i < s->n_remotes; i++)
		add(&t, "cbsync_uploaded_backups_total{remote=\"%s\"} %llu\n", s->remotes[i].name,
		    (unsigned long long)s->remotes[i].uploaded);
	header(&t, "cbsync_uploaded_bytes_total", "counter", "Bytes uploaded, by remote.");
	for (size_t i = 0; i < s->n_remotes; i++)
		add(&t, "cbsync_uploaded_bytes_total{remote=\"%s\"} %llu\n", s->remotes[i].name,
		    (unsigned long long)s->remotes[i].bytes_up);
	header(&t, "cbsync_sync_errors_total", "counter", "Failed syncs, by remote.");
	for (size_t i = 0; i < s->n_remotes; i++)
		add(&t, "cbsync_sync_errors_total{remote=\"%s\"} %llu\n", s->remotes[i].name,
		    (unsigned long long)s->remotes[i].sync_errors);
	header(&t, "cbsync_remote_requests_total", "counter",
	       "Requests made to each remote (object stores bill per request).");
	for (size_t i = 0; i < s->n_remotes; i++)
		add(&t, "cbsync_remote_requests_total{remote=\"%s\"} %llu\n", s->remotes[i].name,
		    (unsigned long long)s->remotes[i].requests);
	if (t.failed) {
		free(t.buf);
		return NULL;
	}
	return t.buf;
}

static enum MHD_Result reply(struct MHD_Connection *conn, unsigned status, const char *type,
			     char *body, bool owned)
{
	struct MHD_Response *resp = MHD_create_response_from_buffer(
		strlen(body), body, owned ? MHD_RESPMEM_MUST_FREE : MHD_RESPMEM_PERSISTENT);
	if (!resp) {
		if (owned)
			free(body);
		return MHD_NO;
	}
	MHD_add_response_header(resp, "Content-Type", type);
	enum MHD_Result r = MHD_queue_response(conn, status, resp);
	MHD_destroy_response(resp);
	return r;
}

static enum MHD_Result handle(void *cls, struct MHD_Connection *conn, const char *url,
			      const char *method, const char *version, const char *upload_data,
			      size_t *upload_data_size, void **req_cls)
{
	struct metrics *m = cls;
	(void)version;
	(void)upload_data;
	(void)upload_data_size;
	(void)req_cls;
	if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0)
		return reply(conn, MHD_HTTP_METHOD_NOT_ALLOWED, "text/plain",
			     "only GET and HEAD\n", false);
	if (strcmp(url, "/healthz") == 0)
		return reply(conn, MHD_HTTP_OK, "text/plain", "ok\n", false);
	if (strcmp(url, "/metrics") == 0) {
		pthread_mutex_lock(&m->mu);
		char *text = metrics_render(&m->state);
		pthread_mutex_unlock(&m->mu);
		if (!text)
			return reply(conn, MHD_HTTP_INTERNAL_SERVER_ERROR, "text/plain",
				     "out of memory\n", false);
		return reply(conn, MHD_HTTP_OK, "text/plain; version=0.0.4; charset=utf-8", text,
			     true);
	}
	return reply(conn, MHD_HTTP_NOT_FOUND, "text/plain", "not found: try /healthz or /metrics\n",
		     false);
}

enum result metrics_start(struct metrics **out, const char *listen, struct error *err)
{
	struct sockaddr_in v4;
	struct sockaddr_in6 v6;
	const struct sockaddr *addr;
	unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD;
	const char *colon = strrchr(listen, ':');
	char host[64];
	size_t hlen = colon ? (size_t)(colon - listen) : 0;
	char *end = NULL;
	long port = colon ? strtol(colon + 1, &end, 10) : 0;

	if (!colon || hlen == 0 || hlen >= sizeof(host) || !end || *end || port < 1 || port > 65535)
		return error_set(err, CB_ERR_CONFIG, "[metrics] listen: '%s' is not HOST:PORT", listen);
	memcpy(host, listen, hlen);
	host[hlen] = '\0';
	memset(&v4, 0, sizeof(v4));
	memset(&v6, 0, sizeof(v6));
	if (host[0] == '[') {
		host[hlen - 1] = '\0';
		v6.sin6_family = AF_INET6;
		v6.sin6_port = htons((uint16_t)port);
		if (inet_pton(AF_INET6, host + 1, &v6.sin6_addr) != 1)
			return error_set(err, CB_ERR_CONFIG, "[metrics] listen: bad address '%s'", listen);
		addr = (const struct sockaddr *)&v6;
		flags |= MHD_USE_IPv6;
	} else {
		v4.sin_family = AF_INET;
		v4.sin_port = htons((uint16_t)port);
		if (inet_pton(AF_INET, strcmp(host, "localhost") == 0 ? "127.0.0.1" : host,
			      &v4.sin_addr) != 1)
			return error_set(err, CB_ERR_CONFIG, "[metrics] listen: bad address '%s'", listen);
		addr = (const struct sockaddr *)&v4;
	}

	struct metrics *m = calloc(1, sizeof(*m));
	if (!m)
		return error_set(err, CB_ERR_NOMEM, "out of memory");
	pthread_mutex_init(&m->mu, NULL);
	m->daemon = MHD_start_daemon(flags, (uint16_t)port, NULL, NULL, handle, m,
				     MHD_OPTION_SOCK_ADDR, addr,
				     MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int)10,
				     MHD_OPTION_CONNECTION_LIMIT, (unsigned int)16,
				     MHD_OPTION_END);
	if (!m->daemon) {
		pthread_mutex_destroy(&m->mu);
		free(m);
		return error_set(err, CB_ERR_IO,
				 "cannot listen on %s for metrics (address in use, or not this "
				 "machine's?)",
				 listen);
	}
	*out = m;
	return CB_OK;
}

void metrics_publish(struct metrics *m, const struct agent_state *s)
{
	if (!m)
		return;
	pthread_mutex_lock(&m->mu);
	m->state = *s;
	pthread_mutex_unlock(&m->mu);
}

void metrics_stop(struct metrics *m)
{
	if (!m)
		return;
	MHD_stop_daemon(m->daemon);
	pthread_mutex_destroy(&m->mu);
	free(m);
}
