/*
 * The agent's remotes: one sync worker per configured remote, requested after
 * each backup, retried with backoff and jitter while it fails, replaced on
 * reload.
 */
#include "agent/daemon/daemon_internal.h"

/* The longest wait between a replicating remote's retries, in seconds. */
#define REPLICATE_RETRY_CAP 15.0

/* Start a worker for every configured remote; each begins with a sync (to
 * repair whatever happened while the agent was not running). */
void daemon_remotes_setup(struct daemon *d)
{
	d->remotes = calloc(d->conf.n_remotes ? d->conf.n_remotes : 1, sizeof(*d->remotes));
	d->n_remotes = 0;
	d->state.n_remotes = 0;
	if (!d->remotes)
		return;
	for (size_t i = 0; i < d->conf.n_remotes && i < STATE_MAX_REMOTES; i++) {
		const struct conf_remote *rc = &d->conf.remotes[i];
		struct error err = {0};
		struct remote_worker *w = NULL;
		char stem[BACKUP_STEM_MAX + 1];
		backup_db_stem(d->conf.db_path, stem, sizeof(stem));
		if (remote_worker_start(&w, &d->conf, rc, stem, &err)) {
			/* Checked at start and reload, so rare (out of memory,
			 * threads); still never silent: it shows as failing. */
			log_error("agent", "remote '%s' cannot run: %s", rc->name, err.msg);
			struct state_remote *st = &d->state.remotes[d->state.n_remotes++];
			memset(st, 0, sizeof(*st));
			snprintf(st->name, sizeof(st->name), "%s", rc->name);
			st->failing = true;
			st->last_attempt = time_now();
			snprintf(st->error, sizeof(st->error), "%s", err.msg);
			continue;
		}
		struct remote_slot *s = &d->remotes[d->n_remotes++];
		struct state_remote *st = &d->state.remotes[d->state.n_remotes++];
		memset(st, 0, sizeof(*st));
		snprintf(st->name, sizeof(st->name), "%s", rc->name);
		*s = (struct remote_slot){.w = w, .rc = rc, .st = st, .pending = true};
		s->held.name = rc->name;
		s->held.keep = &rc->keep;
		st->pending = true;
	}
}

/* Every configured remote must be able to work: its settings pass the
 * backend's own checks (credentials present, a usable URL, a key...).  The
 * agent refuses to start, and a reload is refused, rather than running on
 * with a remote silently dropped. */
enum result daemon_remotes_check(const struct conf *c, struct error *err)
{
	for (size_t i = 0; i < c->n_remotes; i++) {
		struct backend *b = NULL;
		enum result r = backend_open(&c->remotes[i], &b, err);
		backend_close(b);
		if (r) {
			error_prefix(err, "the agent does not run with a remote that cannot work "
				     "(fix it, or remove its [remote] section)");
			return r == CB_ERR_NOMEM ? r : CB_ERR_CONFIG;
		}
	}
	if (c->n_remotes > STATE_MAX_REMOTES)
		return error_set(err, CB_ERR_CONFIG, "%zu remotes are configured; the agent runs "
				 "at most %d", c->n_remotes, STATE_MAX_REMOTES);
	return CB_OK;
}

void daemon_remotes_request_all(struct daemon *d)
{
	for (size_t i = 0; i < d->n_remotes; i++) {
		d->remotes[i].pending = true;
		d->remotes[i].st->pending = true;
	}
}

bool daemon_remotes_busy(struct daemon *d)
{
	for (size_t i = 0; i < d->n_remotes; i++)
		if (remote_worker_busy(d->remotes[i].w))
			return true;
	for (size_t i = 0; i < d->n_retired; i++)
		if (remote_worker_busy(d->retired[i]))
			return true;
	return false;
}

void daemon_remotes_maybe_start(struct daemon *d)
{
	if (d->stopping)
		return;
	double now = time_mono();
	for (size_t i = 0; i < d->n_remotes; i++) {
		struct remote_slot *s = &d->remotes[i];
		/* Every reconcile_interval a sync lists the remote afresh, to
		 * see what changed there behind the agent's back. */
		bool reconcile = now - s->listed_at >= d->conf.sync_reconcile_interval;
		if (reconcile && !s->pending && !remote_worker_busy(s->w))
			s->pending = true;
		if (!s->pending || now < s->retry_at || remote_worker_busy(s->w))
			continue;
		bool stale = time_now() - s->last_stale >= STALE_EVERY;
		if (!remote_worker_request(s->w, stale, reconcile))
			continue;   /* out of memory: still pending, tried again later */
		if (reconcile)
			s->listed_at = now;
		if (stale)
			s->last_stale = time_now();
		s->pending = false;
		s->st->last_attempt = time_now();
	}
}

void daemon_remotes_on_done(struct daemon *d, struct remote_slot *s)
{
	struct remote_result res;
	if (!remote_worker_take_result(s->w, &res))
		return;
	struct state_remote *st = s->st;
	const char *name = remote_worker_name(s->w);
	struct backend_stats bs = {0};
	struct backend_calls calls = {0};
	remote_worker_stats(s->w, &bs, &calls);
	st->requests = bs.requests;
	st->calls_list = calls.list;
	st->calls_put = calls.put;
	st->calls_get = calls.get;
	st->calls_remove = calls.remove;
	if (res.result == CB_OK) {
		if (st->failing)
			log_info("agent", "remote '%s' is reachable again", name);
		st->failing = false;
		st->error[0] = '\0';
		st->last_success = time_now();
		st->next_retry = 0;
		st->uploaded += res.stats.uploaded;
		st->incrs_uploaded += res.stats.incrs_uploaded;
		st->bytes_up += res.stats.bytes;
		st->newest = res.stats.newest;
		if (strcmp(s->broken, res.stats.broken) != 0 && res.stats.broken[0])
			log_warn("agent", "remote '%s': %s; the next increment starts a new chain", name,
				 res.stats.broken);
		snprintf(s->broken, sizeof(s->broken), "%s", res.stats.broken);
		if (s->broken[0])
			snprintf(st->chain_note, sizeof(st->chain_note),
				 "%s; a new chain starts with the next change", s->broken);
		else
			st->chain_note[0] = '\0';
		/* In step with what was captured before the sync began. */
		st->unshipped_since = s->next_unshipped;
		s->next_unshipped = 0;
		holdings_free(&s->held);
		s->held = res.stats.held;
		s->held.name = s->rc->name;
		s->held.keep = &s->rc->keep;
		memset(&res.stats.held, 0, sizeof(res.stats.held));
		if (res.stats.pruned.deleted)
			log_info("agent", "remote '%s': retention deleted %zu expired backup%s", name,
				 res.stats.pruned.deleted, res.stats.pruned.deleted == 1 ? "" : "s");
		s->backoff = 0;
		s->retry_at = 0;
		st->pending = s->pending;
		/* State (and so /metrics) first: whoever reads the log line and
		 * then asks finds it already counted. */
		daemon_save_state(d);
		if (res.stats.uploaded) {
			char size[32];
			format_size(res.stats.bytes, size, sizeof(size));
			log_info("agent", "remote '%s': uploaded %zu backup%s (%s) in %.2fs", name,
				 res.stats.uploaded, res.stats.uploaded == 1 ? "" : "s", size,
				 res.seconds);
		} else {
			log_debug("agent", "remote '%s': in step (%zu backups)", name,
				  res.stats.present);
		}
		return;
	}
	sync_stats_free(&res.stats);
	if (res.result == CB_ERR_INTERRUPTED) {
		s->pending = true;
		return;
	}
	/* Give-up errors wait the longest; retry errors back off from the minimum. */
	bool give_up = res.result == CB_ERR_REMOTE || res.result == CB_ERR_CONFIG;
	s->backoff = backoff_step(s->backoff, d->conf.sync_retry_min, d->conf.sync_retry_max,
				  give_up);
	double wait = backoff_jitter(s->backoff, &d->seed);
	/* Replicating, a remote that may be back any moment is tried again at
	 * least every REPLICATE_RETRY_CAP seconds, so that it is in step within
	 * seconds of its return, not at the end of a backoff grown during an
	 * hour's outage; a request every few seconds while it is down is the
	 * price.  What needs a person keeps its long wait. */
	if (!give_up && d->conf.replicate_enabled && wait > REPLICATE_RETRY_CAP)
		wait = REPLICATE_RETRY_CAP;
	s->retry_at = time_mono() + wait;
	s->pending = true;
	st->pending = true;
	st->next_retry = time_now() + (int64_t)wait;
	st->sync_errors++;
	/* Logged once per change of state, not at every retry. */
	bool news = !st->failing || strcmp(st->error, res.err.msg) != 0;
	st->failing = true;
	snprintf(st->error, sizeof(st->error), "%s", res.err.msg);
	if (news)
		log_error("agent", "%s; %sretrying in %.0fs", res.err.msg,
			  give_up ? "this needs attention (credentials, bucket, host key or "
				    "permissions); "
				  : "",
			  wait);
	else
		log_debug("agent", "still failing: %s; retrying in %.0fs", res.err.msg, wait);
	daemon_save_state(d);
}

/* Stop the workers of a replaced configuration once they are idle. */
void daemon_reap_retired(struct daemon *d)
{
	size_t w = 0;
	for (size_t i = 0; i < d->n_retired; i++) {
		if (remote_worker_busy(d->retired[i])) {
			d->retired[w++] = d->retired[i];
			continue;
		}
		struct remote_result ignored;
		if (remote_worker_take_result(d->retired[i], &ignored))
			sync_stats_free(&ignored.stats);
		remote_worker_stop(d->retired[i]);
	}
	d->n_retired = w;
}

void daemon_remotes_retire_all(struct daemon *d)
{
	struct remote_worker **nr = realloc(d->retired,
					    (d->n_retired + d->n_remotes + 1) * sizeof(*nr));
	if (!nr) {
		for (size_t i = 0; i < d->n_remotes; i++)
			remote_worker_stop(d->remotes[i].w);
	} else {
		d->retired = nr;
		for (size_t i = 0; i < d->n_remotes; i++)
			d->retired[d->n_retired++] = d->remotes[i].w;
	}
	for (size_t i = 0; i < d->n_remotes; i++)
		holdings_free(&d->remotes[i].held);
	free(d->remotes);
	d->remotes = NULL;
	d->n_remotes = 0;
	daemon_reap_retired(d);
}

void daemon_remotes_stop_all(struct daemon *d)
{
	for (size_t i = 0; i < d->n_remotes; i++) {
		remote_worker_stop(d->remotes[i].w);
		holdings_free(&d->remotes[i].held);
	}
	for (size_t i = 0; i < d->n_retired; i++)
		remote_worker_stop(d->retired[i]);
	free(d->remotes);
	free(d->retired);
	d->remotes = NULL;
	d->retired = NULL;
	d->n_remotes = d->n_retired = 0;
}
