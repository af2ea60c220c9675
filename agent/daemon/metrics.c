/*
 * The /healthz and /metrics listener.
 *
 * libmicrohttpd runs without a thread of its own ("external polling" with
 * epoll): one thread here polls MHD's epoll descriptor and a pipe that says
 * stop, then lets MHD_run do the work.  No socket ever blocks that thread,
 * so a slow client delays nobody; what a slow client can take is a
 * connection slot.  A slowloris client does exactly that: it sends a header
 * line every few seconds, and since MHD's connection timeout only counts
 * idle time, each line starts the timeout again and the slot stays taken.
 *
 * So each connection also carries a clock, started when it is accepted and
 * again whenever a request on it completes: a connection must finish each
 * request within REQUEST_DEADLINE seconds, however it trickles, or the loop
 * shuts its socket down (MHD then sees the end of the stream and closes it;
 * the descriptor stays MHD's to close).  Callbacks and the sweep all run on
 * the loop thread, so the list of clocks needs no lock, and no descriptor
 * is touched after MHD has closed it (MHD announces the close first).
 *
 * With the deadline, the total limit only has to be large enough that the
 * clients a deadline lets through cannot fill it; a per-address limit
 * below it keeps one remote host from taking every slot.  (On loopback all
 * clients share one address, so there the deadline is what helps.)  An idle
 * agent has no connections and no deadline, and the thread sleeps in poll.
 */
#include "agent/daemon/metrics.h"
#include "common/backup_name.h"
#include "common/buf.h"
#include "common/log.h"
#include "common/timeutil.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <version.h>

/* Seconds a connection has for each request, from its accept or the end of
 * its previous request to the end of this one. */
#define REQUEST_DEADLINE 5
/* Connections open at once, in all and from one address. */
#define CONNECTION_LIMIT 256
#define PER_ADDRESS_LIMIT 64

/* One open connection's clock, in the loop thread's list. */
struct conn_clock {
	struct conn_clock *prev, *next;
	MHD_socket fd;
	double since;           /* CLOCK_MONOTONIC seconds: accept or last request's end */
	bool cut;               /* shut down for missing the deadline */
};

struct metrics {
	struct MHD_Daemon *daemon;
	int epoll_fd;           /* MHD's */
	int stop_pipe[2];       /* a byte in [1] stops the loop */
	pthread_t thread;
	bool thread_started;
	struct conn_clock *conns;   /* the loop thread's alone */
	pthread_mutex_t mu;     /* guards state */
	struct agent_state state;
};

static void header(struct buf *t, const char *name, const char *type, const char *help)
{
	buf_addf(t, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* The last restore drill of each tier (cbsync drill, or the agent's). */
static void render_drills(struct buf *t, const struct agent_state *s)
{
	header(t, "cbsync_drill_ok", "gauge", "1 if the last restore drill of the tier passed.");
	for (size_t i = 0; i < s->n_drills; i++)
		buf_addf(t, "cbsync_drill_ok{tier=\"%s\"} %d\n", s->drills[i].tier,
			 s->drills[i].ok ? 1 : 0);
	header(t, "cbsync_drill_duration_seconds", "gauge",
	       "How long the last drill of the tier took to recover the database (its RTO).");
	for (size_t i = 0; i < s->n_drills; i++)
		buf_addf(t, "cbsync_drill_duration_seconds{tier=\"%s\"} %.3f\n", s->drills[i].tier,
			 s->drills[i].seconds);
	header(t, "cbsync_drill_last_success_timestamp_seconds", "gauge",
	       "When a restore drill of the tier last passed.");
	for (size_t i = 0; i < s->n_drills; i++)
		if (s->drills[i].last_success)
			buf_addf(t, "cbsync_drill_last_success_timestamp_seconds{tier=\"%s\"} %lld\n",
				 s->drills[i].tier, (long long)s->drills[i].last_success);
	header(t, "cbsync_drill_recovered_age_seconds", "gauge",
	       "How old the state the last passing drill of the tier recovered was (its RPO).");
	for (size_t i = 0; i < s->n_drills; i++)
		if (s->drills[i].ok)
			buf_addf(t, "cbsync_drill_recovered_age_seconds{tier=\"%s\"} %.3f\n",
				 s->drills[i].tier, s->drills[i].rpo);
}

char *metrics_render(const struct agent_state *s)
{
	struct buf t = {0};
	static const enum backup_type agent_types[] = {BT_DAILY, BT_WEEKLY, BT_MONTHLY, BT_CHANGE};

	header(&t, "cbsync_info", "gauge", "The running cbsync's version.");
	buf_addf(&t, "cbsync_info{version=\"%s\"} 1\n", CBSYNC_VERSION);
	header(&t, "cbsync_agent_start_time_seconds", "gauge", "When the agent started.");
	buf_addf(&t, "cbsync_agent_start_time_seconds %lld\n", (long long)s->started);
	header(&t, "cbsync_backups_total", "counter", "Backups the agent made, by type.");
	for (size_t i = 0; i < sizeof(agent_types) / sizeof(*agent_types); i++)
		buf_addf(&t, "cbsync_backups_total{type=\"%s\"} %llu\n",
			 backup_type_name(agent_types[i]),
			 (unsigned long long)s->made[agent_types[i]]);
	header(&t, "cbsync_captures_total", "counter",
	       "Captures of increments, by route: the WAL's frames, or a page diff.");
	buf_addf(&t, "cbsync_captures_total{route=\"wal\"} %llu\n",
		 (unsigned long long)s->captures_wal);
	buf_addf(&t, "cbsync_captures_total{route=\"diff\"} %llu\n",
		 (unsigned long long)s->captures_diff);
	header(&t, "cbsync_wal_restarts_followed_total", "counter",
	       "WAL restarts the capture went on across without a page diff.");
	buf_addf(&t, "cbsync_wal_restarts_followed_total %llu\n",
		 (unsigned long long)s->restarts_followed);
	header(&t, "cbsync_backup_failures_total", "counter", "Backups that failed.");
	buf_addf(&t, "cbsync_backup_failures_total %llu\n", (unsigned long long)s->failures);
	header(&t, "cbsync_last_backup_timestamp_seconds", "gauge",
	       "When the last backup of each type was made.");
	for (size_t i = 0; i < sizeof(agent_types) / sizeof(*agent_types); i++)
		if (s->last[agent_types[i]].set)
			buf_addf(&t, "cbsync_last_backup_timestamp_seconds{type=\"%s\"} %lld\n",
				 backup_type_name(agent_types[i]),
				 (long long)s->last[agent_types[i]].time);
	header(&t, "cbsync_last_backup_duration_seconds", "gauge",
	       "How long the last backup of each type took.");
	for (size_t i = 0; i < sizeof(agent_types) / sizeof(*agent_types); i++)
		if (s->last[agent_types[i]].set)
			buf_addf(&t, "cbsync_last_backup_duration_seconds{type=\"%s\"} %.3f\n",
				 backup_type_name(agent_types[i]), s->last[agent_types[i]].seconds);
	header(&t, "cbsync_change_pending", "gauge",
	       "1 while a change to the database is not backed up yet.");
	buf_addf(&t, "cbsync_change_pending %d\n", s->change_pending ? 1 : 0);

	int64_t local = 0;
	for (int i = 0; i < BT_COUNT; i++)
		if (s->last[i].set && s->last[i].time > local)
			local = s->last[i].time;
	header(&t, "cbsync_tier_last_success_timestamp_seconds", "gauge",
	       "The last success at each tier: a backup locally, a sync for a remote.");
	if (local)
		buf_addf(&t, "cbsync_tier_last_success_timestamp_seconds{tier=\"local\"} %lld\n",
			 (long long)local);
	for (size_t i = 0; i < s->n_remotes; i++)
		if (s->remotes[i].last_success)
			buf_addf(&t, "cbsync_tier_last_success_timestamp_seconds{tier=\"%s\"} %lld\n",
				 s->remotes[i].name, (long long)s->remotes[i].last_success);
	header(&t, "cbsync_remote_up", "gauge", "1 unless the remote's last sync failed.");
	for (size_t i = 0; i < s->n_remotes; i++)
		buf_addf(&t, "cbsync_remote_up{remote=\"%s\"} %d\n", s->remotes[i].name,
			 s->remotes[i].failing ? 0 : 1);
	header(&t, "cbsync_uploaded_backups_total", "counter", "Backups uploaded, by remote.");
	for (size_t i = 0; i < s->n_remotes; i++)
		buf_addf(&t, "cbsync_uploaded_backups_total{remote=\"%s\"} %llu\n",
			 s->remotes[i].name, (unsigned long long)s->remotes[i].uploaded);
	header(&t, "cbsync_uploaded_bytes_total", "counter", "Bytes uploaded, by remote.");
	for (size_t i = 0; i < s->n_remotes; i++)
		buf_addf(&t, "cbsync_uploaded_bytes_total{remote=\"%s\"} %llu\n",
			 s->remotes[i].name, (unsigned long long)s->remotes[i].bytes_up);
	header(&t, "cbsync_sync_errors_total", "counter", "Failed syncs, by remote.");
	for (size_t i = 0; i < s->n_remotes; i++)
		buf_addf(&t, "cbsync_sync_errors_total{remote=\"%s\"} %llu\n", s->remotes[i].name,
			 (unsigned long long)s->remotes[i].sync_errors);
	header(&t, "cbsync_remote_requests_total", "counter",
	       "Requests made to each remote (object stores bill per request).");
	for (size_t i = 0; i < s->n_remotes; i++)
		buf_addf(&t, "cbsync_remote_requests_total{remote=\"%s\"} %llu\n",
			 s->remotes[i].name, (unsigned long long)s->remotes[i].requests);
	header(&t, "cbsync_remote_calls_total", "counter",
	       "Calls that reached each remote, by kind (list, put, get, delete).");
	for (size_t i = 0; i < s->n_remotes; i++) {
		const struct state_remote *r = &s->remotes[i];
		const struct {
			const char *kind;
			uint64_t n;
		} kinds[] = {{"list", r->calls_list}, {"put", r->calls_put}, {"get", r->calls_get},
			     {"delete", r->calls_remove}};
		for (size_t k = 0; k < sizeof(kinds) / sizeof(*kinds); k++)
			buf_addf(&t, "cbsync_remote_calls_total{remote=\"%s\",kind=\"%s\"} %llu\n",
				 r->name, kinds[k].kind, (unsigned long long)kinds[k].n);
	}
	header(&t, "cbsync_uploaded_increments_total", "counter",
	       "Increments and roll-ups uploaded, by remote.");
	for (size_t i = 0; i < s->n_remotes; i++)
		buf_addf(&t, "cbsync_uploaded_increments_total{remote=\"%s\"} %llu\n",
			 s->remotes[i].name, (unsigned long long)s->remotes[i].incrs_uploaded);
	header(&t, "cbsync_remote_lag_seconds", "gauge",
	       "Age of the oldest captured change a remote does not hold yet (0: in step).");
	for (size_t i = 0; i < s->n_remotes; i++) {
		int64_t since = s->remotes[i].unshipped_since;
		int64_t lag = since ? time_now() - since : 0;
		buf_addf(&t, "cbsync_remote_lag_seconds{remote=\"%s\"} %lld\n", s->remotes[i].name,
			 (long long)(lag > 0 ? lag : 0));
	}
	header(&t, "cbsync_remote_newest_restorable_timestamp_seconds", "gauge",
	       "The newest state each remote can restore (its last transaction).");
	for (size_t i = 0; i < s->n_remotes; i++)
		if (s->remotes[i].newest)
			buf_addf(&t, "cbsync_remote_newest_restorable_timestamp_seconds{remote=\"%s\"} "
				 "%lld\n", s->remotes[i].name, (long long)s->remotes[i].newest);
	header(&t, "cbsync_log_up", "gauge",
	       "1 while the agent's log (stderr) can be written; 0 once a line was lost.");
	buf_addf(&t, "cbsync_log_up %d\n", s->log_lost ? 0 : 1);
	render_drills(&t, s);
	header(&t, "cbsync_tier_healthy", "gauge",
	       "1 unless the tier is stale, failing, or failed its last restore drill.");
	for (size_t i = 0; i < s->n_health; i++)
		buf_addf(&t, "cbsync_tier_healthy{tier=\"%s\"} %d\n", s->health[i].tier,
			 s->health[i].healthy ? 1 : 0);
	header(&t, "cbsync_tier_stale", "gauge",
	       "1 while the tier lacks changes past [alert] max_lag or max_age.");
	for (size_t i = 0; i < s->n_health; i++)
		buf_addf(&t, "cbsync_tier_stale{tier=\"%s\"} %d\n", s->health[i].tier,
			 s->health[i].stale ? 1 : 0);
	return buf_take(&t);
}

char *metrics_health(const struct agent_state *s, bool *healthy)
{
	struct buf t = {0};
	*healthy = true;
	for (size_t i = 0; i < s->n_remotes; i++) {
		if (!s->remotes[i].failing)
			continue;
		*healthy = false;
		buf_addf(&t, "failing: remote '%s': %s\n", s->remotes[i].name, s->remotes[i].error);
	}
	for (size_t i = 0; i < s->n_health; i++) {
		const struct state_health *h = &s->health[i];
		if (h->stale || (strcmp(h->tier, "local") == 0 && !h->healthy)) {
			char why[sizeof(h->why) * 2];
			size_t o = 0;
			/* One line a tier: its reasons joined with "; ". */
			for (const char *p = h->why; *p && o + 3 < sizeof(why); p++) {
				if (*p == '\n') {
					why[o++] = ';';
					why[o++] = ' ';
				} else {
					why[o++] = *p;
				}
			}
			why[o] = '\0';
			*healthy = false;
			buf_addf(&t, "%s: tier '%s': %s\n", h->stale ? "stale" : "failing", h->tier,
				 why);
		}
	}
	for (size_t i = 0; i < s->n_drills; i++) {
		const struct drill_record *d = &s->drills[i];
		char at[32];
		if (d->ok)
			continue;
		*healthy = false;
		time_format_iso(d->ran_at, at, sizeof(at));
		buf_addf(&t, "failing: the drill of tier '%s' at %s: %s\n", d->tier, at, d->error);
	}
	if (*healthy)
		buf_addf(&t, "ok\n");
	return buf_take(&t);
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
	if (strcmp(url, "/livez") == 0)
		return reply(conn, MHD_HTTP_OK, "text/plain", "ok\n", false);
	if (strcmp(url, "/healthz") == 0) {
		bool healthy;
		pthread_mutex_lock(&m->mu);
		char *text = metrics_health(&m->state, &healthy);
		pthread_mutex_unlock(&m->mu);
		if (!text)
			return reply(conn, MHD_HTTP_INTERNAL_SERVER_ERROR, "text/plain",
				     "out of memory\n", false);
		return reply(conn, healthy ? MHD_HTTP_OK : MHD_HTTP_SERVICE_UNAVAILABLE,
			     "text/plain", text, true);
	}
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
	return reply(conn, MHD_HTTP_NOT_FOUND, "text/plain",
		     "not found: try /healthz, /livez or /metrics\n", false);
}

static double monotonic_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* MHD_OPTION_NOTIFY_CONNECTION: start a connection's clock, or drop it. */
static void on_connection(void *cls, struct MHD_Connection *conn, void **socket_context,
			  enum MHD_ConnectionNotificationCode code)
{
	struct metrics *m = cls;
	struct conn_clock *c = *socket_context;
	if (code == MHD_CONNECTION_NOTIFY_STARTED) {
		const union MHD_ConnectionInfo *info =
			MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
		/* Without a clock (no memory), the idle timeout still applies. */
		if (!info || !(c = calloc(1, sizeof(*c))))
			return;
		c->fd = info->connect_fd;
		c->since = monotonic_now();
		c->next = m->conns;
		if (m->conns)
			m->conns->prev = c;
		m->conns = c;
		*socket_context = c;
		return;
	}
	if (!c)
		return;
	if (c->prev)
		c->prev->next = c->next;
	else
		m->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	free(c);
	*socket_context = NULL;
}

/* MHD_OPTION_NOTIFY_COMPLETED: a request is over; the next one's time
 * starts now. */
static void on_completed(void *cls, struct MHD_Connection *conn, void **req_cls,
			 enum MHD_RequestTerminationCode code)
{
	(void)cls;
	(void)req_cls;
	(void)code;
	const union MHD_ConnectionInfo *info =
		MHD_get_connection_info(conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
	struct conn_clock *c = info ? info->socket_context : NULL;
	if (c)
		c->since = monotonic_now();
}

/* Shut down the connections past their deadline; returns the milliseconds
 * until the next deadline, or -1 if there is none. */
static int cut_overdue(struct metrics *m)
{
	double now = monotonic_now(), next = -1;
	for (struct conn_clock *c = m->conns; c; c = c->next) {
		if (c->cut)
			continue;
		double left = c->since + REQUEST_DEADLINE - now;
		if (left <= 0) {
			shutdown(c->fd, SHUT_RDWR);
			c->cut = true;
		} else if (next < 0 || left < next) {
			next = left;
		}
	}
	return next < 0 ? -1 : (int)(next * 1000) + 1;
}

static void *serve(void *arg)
{
	struct metrics *m = arg;
	for (;;) {
		int timeout = cut_overdue(m);
		MHD_UNSIGNED_LONG_LONG mhd_ms;
		if (MHD_get_timeout(m->daemon, &mhd_ms) == MHD_YES &&
		    (timeout < 0 || mhd_ms < (MHD_UNSIGNED_LONG_LONG)timeout))
			timeout = mhd_ms > INT_MAX ? INT_MAX : (int)mhd_ms;
		struct pollfd p[2] = {
			{.fd = m->epoll_fd, .events = POLLIN},
			{.fd = m->stop_pipe[0], .events = POLLIN},
		};
		if (poll(p, 2, timeout) < 0 && errno != EINTR)
			break;
		if (p[1].revents)
			break;
		MHD_run(m->daemon);
	}
	return NULL;
}

/* Say so when the listener can be reached from other machines. */
static void warn_if_exposed(const char *listen, const struct sockaddr *addr)
{
	bool loopback;
	if (addr->sa_family == AF_INET6) {
		const struct in6_addr *a = &((const struct sockaddr_in6 *)addr)->sin6_addr;
		loopback = IN6_IS_ADDR_LOOPBACK(a) ||
			   (IN6_IS_ADDR_V4MAPPED(a) && a->s6_addr[12] == 127);
	} else {
		loopback = ((const unsigned char *)&((const struct sockaddr_in *)addr)->sin_addr)[0]
			   == 127;
	}
	if (!loopback)
		log_warn("metrics", "listening on %s, which other machines can reach: /healthz and "
			 "/metrics need no login and show remote names and backup activity; HINT: "
			 "listen = "
			 "127.0.0.1:PORT unless a prober elsewhere needs it, and then firewall the "
			 "port", listen);
}

static void metrics_free(struct metrics *m)
{
	if (m->thread_started) {
		ssize_t w;
		do
			w = write(m->stop_pipe[1], "x", 1);
		while (w < 0 && errno == EINTR);
		pthread_join(m->thread, NULL);
	}
	if (m->daemon)
		MHD_stop_daemon(m->daemon);
	for (int i = 0; i < 2; i++)
		if (m->stop_pipe[i] >= 0)
			close(m->stop_pipe[i]);
	pthread_mutex_destroy(&m->mu);
	free(m);
}

enum result metrics_start(struct metrics **out, const char *listen, struct error *err)
{
	struct sockaddr_in v4;
	struct sockaddr_in6 v6;
	const struct sockaddr *addr;
	unsigned flags = MHD_USE_EPOLL;
	const char *colon = strrchr(listen, ':');
	char host[64];
	size_t hlen = colon ? (size_t)(colon - listen) : 0;
	char *end = NULL;
	long port = colon ? strtol(colon + 1, &end, 10) : 0;
	enum result r;

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
		return error_nomem(err);
	m->stop_pipe[0] = m->stop_pipe[1] = -1;
	pthread_mutex_init(&m->mu, NULL);
	if (pipe2(m->stop_pipe, O_CLOEXEC) != 0) {
		r = error_set(err, CB_ERR_IO, "cannot start the metrics listener: %s",
			      strerror(errno));
		goto fail;
	}
	m->daemon = MHD_start_daemon(flags, (uint16_t)port, NULL, NULL, handle, m,
				     MHD_OPTION_SOCK_ADDR, addr,
				     MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int)REQUEST_DEADLINE,
				     MHD_OPTION_CONNECTION_LIMIT, (unsigned int)CONNECTION_LIMIT,
				     MHD_OPTION_PER_IP_CONNECTION_LIMIT,
				     (unsigned int)PER_ADDRESS_LIMIT,
				     MHD_OPTION_NOTIFY_CONNECTION, on_connection, m,
				     MHD_OPTION_NOTIFY_COMPLETED, on_completed, m,
				     MHD_OPTION_END);
	const union MHD_DaemonInfo *info =
		m->daemon ? MHD_get_daemon_info(m->daemon, MHD_DAEMON_INFO_EPOLL_FD) : NULL;
	if (!info) {
		r = error_set(err, CB_ERR_IO,
			      "cannot listen on %s for metrics (address in use, or not this "
			      "machine's?)",
			      listen);
		goto fail;
	}
	m->epoll_fd = info->epoll_fd;

	/* The loop thread takes no signals: the agent reads them from a signalfd. */
	sigset_t all, old;
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	int rc = pthread_create(&m->thread, NULL, serve, m);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (rc != 0) {
		r = error_set(err, CB_ERR_IO, "cannot start the metrics listener: %s", strerror(rc));
		goto fail;
	}
	m->thread_started = true;
	warn_if_exposed(listen, addr);
	*out = m;
	return CB_OK;
fail:
	metrics_free(m);
	return r;
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
	if (m)
		metrics_free(m);
}
