/*
 * Tiers (agent/tiers/tiers.c) on a real local tier and local-mirror remotes
 * in a temp directory: opening the local tier on a missing directory,
 * catalogs (the local tier's metadata read at once, good or not; a remote's
 * on demand), deleting, opening sets of tiers by name, the candidates of a
 * set with one remote down, and fetching real gzip'd SQLite backups back
 * with every check -- a SHA-256 that disagrees with the metadata, metadata
 * that names another backup, and an object that grew past its listed size;
 * increments listed on both kinds of tier, their metadata read on demand
 * (good, missing, unusable, naming another increment).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "tiers_test.h"

#include "agent/tiers/packed.h"
#include "agent/tiers/tiers.h"
#include "common/buf.h"
#include "backends/backend.h"
#include "common/fsutil.h"
#include "common/hash.h"
#include "common/increment.h"
#include "common/meta.h"

#include <fcntl.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#define A "cloudbrain_daily_20270103_020000.db.gz"
#define B "cloudbrain_change_20270102_060000.db.gz"
#define C "cloudbrain_manual_20270101_120000.db.gz"
#define D "cloudbrain_weekly_20261231_030000.db.gz"
#define LONE "cloudbrain_daily_20270104_020000.db.gz"
#define OTHER "cloud_daily_20270105_020000.db.gz"

static char root[64];

/* tier_delete of a plain backup, by name. */
static enum result delete_name(struct tier *t, const char *name, struct error *err)
{
	struct catalog_entry e = {0};
	snprintf(e.name, sizeof(e.name), "%s", name);
	return tier_delete(t, &e, err);
}
static char local_dir[128];
static char mirror[128];
static char gone[128];
static struct conf conf;

static void write_text(const char *dir, const char *key, const char *text)
{
	write_obj(dir, key, text, strlen(text));
}

static void copy_obj(const char *from, const char *to, const char *key)
{
	size_t len;
	char *data = read_obj(from, key, &len);
	write_obj(to, key, data, len);
	free(data);
}

static void write_meta(const char *dir, const struct backup_meta *m)
{
	char key[BACKUP_NAME_MAX + 8];
	char *json = meta_to_json(m);
	assert_non_null(json);
	meta_key(key, sizeof(key), m->name);
	write_text(dir, key, json);
	free(json);
}

/* The source database of backup name (kept to compare restores with). */
static char *src_path(const char *name)
{
	char *p = NULL;
	assert_true(asprintf(&p, "%s/src-%s.db", root, name) > 0);
	return p;
}

/* A real backup in dir: a SQLite database of `rows` rows, gzip'd, with its
 * metadata in *m (written beside it when with_meta). */
static void real_backup(const char *dir, const char *name, int rows, bool with_meta,
			struct backup_meta *m)
{
	char *src = src_path(name);
	unlink(src);
	sqlite3 *db = NULL;
	assert_int_equal(sqlite3_open(src, &db), SQLITE_OK);
	assert_int_equal(sqlite3_exec(db, "CREATE TABLE t(id INTEGER PRIMARY KEY, v TEXT)",
				      NULL, NULL, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_exec(db, "BEGIN", NULL, NULL, NULL), SQLITE_OK);
	for (int i = 0; i < rows; i++) {
		char sql[128];
		snprintf(sql, sizeof(sql), "INSERT INTO t(v) VALUES ('row %d of %s')", i, name);
		assert_int_equal(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
	}
	assert_int_equal(sqlite3_exec(db, "COMMIT", NULL, NULL, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_close(db), SQLITE_OK);

	size_t len;
	char *data = NULL;
	struct error err = {0};
	assert_int_equal(fs_read_file(src, 1 << 26, &data, &len, &err), CB_OK);
	char *dst = path_in(dir, name);
	gzFile gz = gzopen(dst, "wb");
	assert_non_null(gz);
	assert_int_equal(gzwrite(gz, data, (unsigned)len), (int)len);
	assert_int_equal(gzclose(gz), Z_OK);
	free(data);
	free(dst);
	free(src);

	size_t glen;
	char *gzdata = read_obj(dir, name, &glen);
	uint8_t d[SHA256_LEN];
	sha256_buf(gzdata, glen, d);
	free(gzdata);
	struct backup_name bn;
	assert_true(backup_name_parse(name, &bn));
	memset(m, 0, sizeof(*m));
	snprintf(m->name, sizeof(m->name), "%s", name);
	snprintf(m->database, sizeof(m->database), "%s", bn.db);
	hex_encode(d, SHA256_LEN, m->sha256);
	m->type = bn.type;
	m->created = bn.created;
	m->original_size = (int64_t)len;
	m->compressed_size = (int64_t)glen;
	m->page_size = 4096;
	m->page_count = (int64_t)len / 4096;
	snprintf(m->version, sizeof(m->version), "test");
	if (with_meta)
		write_meta(dir, m);
}

/* A small object that looks like a backup (not read back as one). */
static void fake_backup(const char *dir, const char *name, bool with_meta)
{
	write_text(dir, name, "not really gzip");
	if (with_meta) {
		struct backup_meta m = {0};
		struct backup_name bn;
		assert_true(backup_name_parse(name, &bn));
		snprintf(m.name, sizeof(m.name), "%s", name);
		snprintf(m.database, sizeof(m.database), "%s", bn.db);
		memset(m.sha256, 'a', SHA256_HEX_LEN);
		m.type = bn.type;
		m.created = bn.created;
		m.original_size = 4096;
		m.compressed_size = 15;
		m.page_size = 4096;
		m.page_count = 1;
		snprintf(m.version, sizeof(m.version), "test");
		write_meta(dir, &m);
	}
}

static const struct conf_remote *remote(const char *name)
{
	const struct conf_remote *rc = conf_remote_find(&conf, name);
	assert_non_null(rc);
	return rc;
}

/* An output file for tiers_fetch. */
static int open_out(const char *name, char *path, size_t size)
{
	snprintf(path, size, "%s/out-%s", root, name);
	unlink(path);
	int fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	assert_true(fd >= 0);
	return fd;
}

static void same_file(const char *a, const char *b)
{
	size_t la, lb;
	char *x = read_obj(root, a, &la), *y = read_obj(root, b, &lb);
	assert_int_equal(la, lb);
	assert_memory_equal(x, y, la);
	free(x);
	free(y);
}

/* Metadata of increment seq of the chain rooted in snapshot, one second a
 * step from its snapshot's time; m->name is its key. */
static void incr_meta_of(struct incr_meta *m, const char *snapshot, uint64_t seq)
{
	struct backup_name bn;
	assert_true(backup_name_parse(snapshot, &bn));
	memset(m, 0, sizeof(*m));
	struct incr_name n = {.seq_first = seq, .seq_last = seq,
			      .first = bn.created + (int64_t)seq, .last = bn.created + (int64_t)seq};
	snprintf(n.snapshot, sizeof(n.snapshot), "%s", snapshot);
	assert_true(incr_name_format(&n, m->name, sizeof(m->name)));
	if (seq > 1) {
		n.seq_first = n.seq_last = seq - 1;
		n.first = n.last = bn.created + (int64_t)seq - 1;
		assert_true(incr_name_format(&n, m->prev, sizeof(m->prev)));
	}
	snprintf(m->database, sizeof(m->database), "%s", bn.db);
	snprintf(m->snapshot, sizeof(m->snapshot), "%s", snapshot);
	m->seq_first = m->seq_last = seq;
	m->first_tx_ms = m->last_tx_ms = (bn.created + (int64_t)seq) * 1000 + 250;
	m->page_size = 4096;
	m->page_count = 3;
	m->pages = 1;
	m->original_size = 32 + 4096 + 24;
	m->compressed_size = 100;
	memset(m->sha256, 'b', SHA256_HEX_LEN);
	snprintf(m->version, sizeof(m->version), "test");
}

static void write_incr(const char *dir, const struct incr_meta *m, bool data, bool meta)
{
	char *path = path_in(dir, m->name), *folder = fs_dirname(path);
	struct error err = {0};
	assert_int_equal(fs_mkdirs(folder, 0700, &err), CB_OK);
	free(folder);
	free(path);
	if (data)
		write_text(dir, m->name, "not really an increment");
	if (meta) {
		char key[INCR_NAME_MAX + 8];
		char *json = incr_meta_to_json(m);
		assert_non_null(json);
		snprintf(key, sizeof(key), "%s%s", m->name, META_SUFFIX);
		write_text(dir, key, json);
		free(json);
	}
}

/* ---- opening and listing ---- */

static void local_tier_on_a_missing_directory(void **state)
{
	(void)state;
	char dir[160];
	snprintf(dir, sizeof(dir), "%s/not-yet", root);
	struct tier t;
	struct retention_policy keep;
	struct error err = {0};
	retention_policy_default(&keep);
	assert_int_equal(tier_open_local(&t, dir, &keep, &err), CB_OK);
	assert_string_equal(t.name, "local");
	assert_ptr_equal(t.dir, dir);
	assert_ptr_equal(t.keep, &keep);
	assert_null(t.remote);
	char label[64];
	tier_label(&t, label, sizeof(label));
	assert_string_equal(label, "local");

	struct catalog cat;
	assert_int_equal(tier_catalog(&t, "cloudbrain", "test", &cat, &err), CB_OK);
	assert_int_equal(cat.n, 0);
	catalog_free(&cat);
	assert_int_equal(tier_catalog(&t, NULL, "test", &cat, &err), CB_OK);
	assert_int_equal(cat.n, 0);
	catalog_free(&cat);
	/* Deleting from it is fine too, and makes nothing. */
	assert_int_equal(delete_name(&t, A, &err), CB_OK);
	assert_false(fs_exists(dir));
	tier_close(&t);
	assert_null(t.backend);
	assert_false(fs_exists(dir));
}

static void local_catalog_reads_every_metadata(void **state)
{
	(void)state;
	struct backup_meta m;
	real_backup(local_dir, A, 10, true, &m);
	fake_backup(local_dir, B, false);                    /* none: a seed-tool backup */
	fake_backup(local_dir, C, false);
	write_text(local_dir, C META_SUFFIX, "{not json");   /* unusable */
	fake_backup(local_dir, D, false);
	struct backup_meta wrong = m;                        /* A's, beside D */
	char *json = meta_to_json(&wrong);
	write_text(local_dir, D META_SUFFIX, json);
	free(json);
	fake_backup(local_dir, LONE, true);                  /* a killed run's half */
	char *p = path_in(local_dir, LONE);
	unlink(p);
	free(p);
	fake_backup(local_dir, OTHER, true);

	struct tier t;
	struct error err = {0};
	assert_int_equal(tier_open_local(&t, local_dir, &conf.local_keep, &err), CB_OK);
	struct catalog cat;
	assert_int_equal(tier_catalog(&t, "cloudbrain", "test", &cat, &err), CB_OK);
	assert_int_equal(cat.n, 4);          /* the lone metadata is no backup here */
	assert_int_equal(cat.other_db, 1);
	assert_null(catalog_find(&cat, LONE));
	assert_string_equal(cat.items[0].name, A);

	struct catalog_entry *a = catalog_find(&cat, A);
	assert_true(a->has_data && a->has_meta);
	assert_non_null(a->meta);
	assert_null(a->meta_error);
	assert_string_equal(a->meta->sha256, m.sha256);
	assert_int_equal(a->meta->original_size, m.original_size);

	struct catalog_entry *b = catalog_find(&cat, B);
	assert_false(b->has_meta);
	assert_null(b->meta);
	assert_null(b->meta_error);      /* none is no error */

	struct catalog_entry *c = catalog_find(&cat, C);
	assert_true(c->has_data);
	assert_false(c->has_meta);
	assert_null(c->meta);
	assert_non_null(c->meta_error);
	assert_non_null(strstr(c->meta_error, "JSON"));

	struct catalog_entry *d = catalog_find(&cat, D);
	assert_false(d->has_meta);
	assert_null(d->meta);
	assert_non_null(d->meta_error);
	assert_non_null(strstr(d->meta_error, "another backup"));
	catalog_free(&cat);

	/* Every database's, with db NULL. */
	assert_int_equal(tier_catalog(&t, NULL, "test", &cat, &err), CB_OK);
	assert_int_equal(cat.n, 5);
	assert_string_equal(cat.items[0].name, OTHER);
	assert_true(cat.items[0].has_meta);
	assert_non_null(cat.items[0].meta);
	catalog_free(&cat);
	tier_close(&t);
}

static void remote_metadata_is_read_on_demand(void **state)
{
	(void)state;
	struct backup_meta m;
	real_backup(mirror, A, 10, true, &m);
	fake_backup(mirror, B, false);
	fake_backup(mirror, C, false);
	write_text(mirror, C META_SUFFIX, "{not json");
	fake_backup(mirror, D, false);
	char *json = meta_to_json(&m);   /* A's, beside D */
	write_text(mirror, D META_SUFFIX, json);
	free(json);
	fake_backup(mirror, LONE, true);
	char *p = path_in(mirror, LONE);
	unlink(p);
	free(p);

	struct tier t;
	struct error err = {0};
	assert_int_equal(tier_open_remote(&t, remote("off"), &err), CB_OK);
	assert_string_equal(t.name, "off");
	assert_null(t.dir);
	assert_ptr_equal(t.keep, &remote("off")->keep);
	char label[64];
	tier_label(&t, label, sizeof(label));
	assert_string_equal(label, "remote 'off'");

	struct catalog cat;
	assert_int_equal(tier_catalog(&t, "cloudbrain", "test", &cat, &err), CB_OK);
	assert_int_equal(cat.n, 5);      /* a remote's lone metadata is listed */
	for (size_t i = 0; i < cat.n; i++) {
		assert_null(cat.items[i].meta);      /* nothing read yet */
		assert_null(cat.items[i].meta_error);
	}
	struct catalog_entry *lone = catalog_find(&cat, LONE);
	assert_false(lone->has_data);
	assert_true(lone->has_meta);

	struct catalog_entry *a = catalog_find(&cat, A);
	assert_true(a->has_meta);
	assert_int_equal(tier_read_meta(&t, a, &err), CB_OK);
	assert_non_null(a->meta);
	assert_string_equal(a->meta->sha256, m.sha256);
	assert_string_equal(a->meta->name, A);
	/* Read once: gone from the remote, still known. */
	p = path_in(mirror, A META_SUFFIX);
	unlink(p);
	free(p);
	assert_int_equal(tier_read_meta(&t, a, &err), CB_OK);

	struct catalog_entry *b = catalog_find(&cat, B);
	assert_int_equal(tier_read_meta(&t, b, &err), CB_ERR_NOT_FOUND);
	assert_null(b->meta);

	struct catalog_entry *c = catalog_find(&cat, C);
	assert_true(c->has_meta);
	assert_int_equal(tier_read_meta(&t, c, &err), CB_ERR_CORRUPT);
	assert_null(c->meta);

	struct catalog_entry *d = catalog_find(&cat, D);
	err = (struct error){0};
	assert_int_equal(tier_read_meta(&t, d, &err), CB_ERR_CORRUPT);
	assert_non_null(strstr(err.msg, "another backup"));
	assert_null(d->meta);

	/* Listed, then removed before it was read. */
	p = path_in(mirror, LONE META_SUFFIX);
	unlink(p);
	free(p);
	assert_int_equal(tier_read_meta(&t, lone, &err), CB_ERR_NOT_FOUND);
	catalog_free(&cat);
	tier_close(&t);
}

static void increment_metadata_is_read_on_demand(void **state)
{
	(void)state;
	struct incr_meta m1, m2, m3, m4, mo;
	incr_meta_of(&m1, A, 1);
	incr_meta_of(&m2, A, 2);
	incr_meta_of(&m3, A, 3);
	incr_meta_of(&m4, A, 4);
	incr_meta_of(&mo, OTHER, 1);
	const char *dirs[] = {local_dir, mirror};
	for (size_t k = 0; k < 2; k++) {
		const char *dir = dirs[k];
		fake_backup(dir, A, true);
		write_incr(dir, &m1, true, true);
		write_incr(dir, &m2, true, false);       /* no metadata */
		write_incr(dir, &m3, true, false);
		char key[INCR_NAME_MAX + 8];
		snprintf(key, sizeof(key), "%s%s", m3.name, META_SUFFIX);
		write_text(dir, key, "{\"format\": 1");  /* unusable */
		struct incr_meta swapped = m3;           /* names the fourth */
		snprintf(swapped.name, sizeof(swapped.name), "%s", m4.name);
		write_incr(dir, &m4, true, false);
		snprintf(key, sizeof(key), "%s%s", m4.name, META_SUFFIX);
		char *json = incr_meta_to_json(&m3);
		write_text(dir, key, json);
		free(json);
		write_incr(dir, &mo, true, true);

		struct tier t;
		struct error err = {0};
		if (k == 0)
			assert_int_equal(tier_open_local(&t, dir, &conf.local_keep, &err), CB_OK);
		else
			assert_int_equal(tier_open_remote(&t, remote("off"), &err), CB_OK);
		struct catalog cat;
		assert_int_equal(tier_catalog(&t, "cloudbrain", "test", &cat, &err), CB_OK);
		assert_int_equal(cat.n, 1);
		assert_int_equal(cat.foreign, 0);
		size_t n = 0;
		struct catalog_incr *chain = catalog_chain(&cat, A, &n);
		assert_int_equal(n, 4);
		assert_int_equal(cat.n_incrs, 4);      /* the other database's is gone */
		for (size_t i = 0; i < n; i++)
			assert_null(chain[i].meta);      /* not read by the listing */

		assert_int_equal(tier_read_incr_meta(&t, &chain[0], &err), CB_OK);
		assert_non_null(chain[0].meta);
		assert_string_equal(chain[0].meta->name, m1.name);
		assert_int_equal(chain[0].meta->last_tx_ms, m1.last_tx_ms);
		struct incr_meta *kept = chain[0].meta;
		assert_int_equal(tier_read_incr_meta(&t, &chain[0], &err), CB_OK);
		assert_ptr_equal(chain[0].meta, kept);  /* read once */

		/* On a remote, an object without a .json holds its own
		 * metadata (packed.h), or is refused for not holding it. */
		if (k == 0) {
			assert_int_equal(tier_read_incr_meta(&t, &chain[1], &err), CB_ERR_NOT_FOUND);
		} else {
			assert_int_equal(tier_read_incr_meta(&t, &chain[1], &err), CB_ERR_CORRUPT);
			assert_non_null(strstr(err.msg, "metadata member"));
			assert_non_null(strstr(err.msg, m2.name));
		}
		assert_null(chain[1].meta);
		assert_int_equal(tier_read_incr_meta(&t, &chain[2], &err), CB_ERR_CORRUPT);
		assert_non_null(strstr(err.msg, m3.name));
		assert_null(chain[2].meta);
		assert_int_equal(tier_read_incr_meta(&t, &chain[3], &err), CB_ERR_CORRUPT);
		assert_non_null(strstr(err.msg, "describes another increment"));
		assert_non_null(strstr(err.msg, m4.name));
		assert_null(chain[3].meta);
		catalog_free(&cat);

		/* A metadata object bigger than any metadata is refused unread. */
		char *big = malloc(META_MAX_BYTES + 2);
		memset(big, ' ', META_MAX_BYTES + 1);
		big[META_MAX_BYTES + 1] = '\0';
		snprintf(key, sizeof(key), "%s%s", m1.name, META_SUFFIX);
		write_text(dir, key, big);
		free(big);
		assert_int_equal(tier_catalog(&t, "cloudbrain", "test", &cat, &err), CB_OK);
		chain = catalog_chain(&cat, A, &n);
		assert_int_not_equal(tier_read_incr_meta(&t, &chain[0], &err), CB_OK);
		assert_null(chain[0].meta);
		catalog_free(&cat);
		tier_close(&t);
	}
}

/* Write m's object to the mirror packed (packed.h): the metadata member of
 * json (m's own when NULL), then body, or only the member's first cut
 * bytes when cut is not 0. */
static void write_packed(const struct incr_meta *m, const char *json, const char *body,
			 size_t cut)
{
	char *own = json ? NULL : incr_meta_to_json(m);
	unsigned char *head;
	size_t head_len;
	struct error err = {0};
	write_incr(mirror, m, false, false);   /* its folder */
	assert_int_equal(packed_head(json ? json : own, strlen(json ? json : own), &head,
				     &head_len, &err), CB_OK);
	assert_int_equal(head_len, strlen(json ? json : own) + PACKED_OVERHEAD);
	size_t blen = strlen(body);
	char *obj = malloc(head_len + blen);
	memcpy(obj, head, head_len);
	memcpy(obj + head_len, body, blen);
	write_obj(mirror, m->name, obj, cut ? cut : head_len + blen);
	free(obj);
	free(head);
	free(own);
}

static enum result collect(void *ctx, const void *buf, size_t len, struct error *err)
{
	(void)err;
	struct buf *b = ctx;
	buf_add(b, buf, len);
	return b->oom ? CB_ERR_NOMEM : CB_OK;
}

static void packed_increments_on_a_remote(void **state)
{
	(void)state;
	static const char body[] = "stands for the .wal.gz of an increment";
	struct incr_meta m[7];
	for (uint64_t i = 0; i < 7; i++) {
		incr_meta_of(&m[i], A, i + 1);
		m[i].compressed_size = (int64_t)strlen(body);
	}
	fake_backup(mirror, A, true);
	write_packed(&m[0], NULL, body, 0);            /* whole */
	m[1].compressed_size++;
	write_packed(&m[1], NULL, body, 0);            /* not the size it says */
	char *other = incr_meta_to_json(&m[0]);
	write_packed(&m[2], other, body, 0);           /* names another */
	free(other);
	write_packed(&m[3], NULL, body, 20);           /* cut inside its member */
	z_stream z = {0};                              /* plain gzip of data */
	unsigned char gz[256];
	assert_int_equal(deflateInit2(&z, 6, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY), Z_OK);
	z.next_in = (unsigned char *)body;
	z.avail_in = (uInt)strlen(body);
	z.next_out = gz;
	z.avail_out = sizeof(gz);
	assert_int_equal(deflate(&z, Z_FINISH), Z_STREAM_END);
	write_incr(mirror, &m[4], false, false);
	write_obj(mirror, m[4].name, gz, z.total_out);
	deflateEnd(&z);
	write_incr(mirror, &m[5], false, false);
	write_text(mirror, m[5].name, "neither gzip nor anything");
	write_incr(mirror, &m[6], true, true);         /* before packing: a .json beside */

	struct tier t;
	struct error err = {0};
	struct catalog cat;
	size_t n = 0;
	assert_int_equal(tier_open_remote(&t, remote("off"), &err), CB_OK);
	assert_int_equal(tier_catalog(&t, "cloudbrain", "test", &cat, &err), CB_OK);
	struct catalog_incr *chain = catalog_chain(&cat, A, &n);
	assert_int_equal(n, 7);
	for (size_t i = 0; i < 6; i++)
		assert_true(chain[i].packed && chain[i].has_meta);
	assert_false(chain[6].packed);

	assert_int_equal(tier_read_incr_meta(&t, &chain[0], &err), CB_OK);
	assert_string_equal(chain[0].meta->name, m[0].name);
	assert_int_equal(chain[0].head_len + strlen(body), chain[0].size);
	struct buf got = {0};
	assert_int_equal(tier_fetch_incr(&t, &chain[0], collect, &got, &err), CB_OK);
	assert_int_equal(got.len, strlen(body));
	assert_memory_equal(got.data, body, strlen(body));
	buf_free(&got);

	static const char *const why[] = {NULL, "its object is", "describes another increment",
					  "ends inside its metadata member",
					  "the first gzip member holds data", "not gzip"};
	for (size_t i = 1; i < 6; i++) {
		assert_int_equal(tier_read_incr_meta(&t, &chain[i], &err), CB_ERR_CORRUPT);
		assert_non_null(strstr(err.msg, m[i].name));
		assert_non_null(strstr(err.msg, why[i]));
		assert_null(chain[i].meta);
		/* Never fetched on a guess where its data starts. */
		assert_int_not_equal(tier_fetch_incr(&t, &chain[i], collect, &got, &err), CB_OK);
		buf_free(&got);
	}
	assert_int_equal(tier_read_incr_meta(&t, &chain[6], &err), CB_OK);
	assert_int_equal(tier_fetch_incr(&t, &chain[6], collect, &got, &err), CB_OK);
	assert_string_equal(got.data ? got.data : "", "not really an increment");
	buf_free(&got);
	catalog_free(&cat);
	tier_close(&t);
}

static void delete_removes_data_then_metadata(void **state)
{
	(void)state;
	struct tier t;
	struct error err = {0};
	assert_int_equal(tier_open_remote(&t, remote("off"), &err), CB_OK);
	fake_backup(mirror, A, true);
	fake_backup(mirror, B, false);
	fake_backup(mirror, C, true);
	assert_int_equal(delete_name(&t, A, &err), CB_OK);
	assert_false(exists(mirror, A));
	assert_false(exists(mirror, A META_SUFFIX));
	assert_true(exists(mirror, C));
	assert_true(exists(mirror, C META_SUFFIX));
	/* Missing (entirely, or its metadata) is fine. */
	assert_int_equal(delete_name(&t, A, &err), CB_OK);
	assert_int_equal(delete_name(&t, B, &err), CB_OK);
	assert_false(exists(mirror, B));

	/* Data first: when the data cannot go, the metadata stays. */
	char *p = path_in(mirror, C);
	unlink(p);
	assert_int_equal(mkdir(p, 0700), 0);
	write_text(p, "inside", "x");
	assert_int_not_equal(delete_name(&t, C, &err), CB_OK);
	assert_true(exists(mirror, C META_SUFFIX));
	char *q = path_in(p, "inside");
	unlink(q);
	free(q);
	rmdir(p);
	free(p);
	tier_close(&t);

	/* The local tier the same way. */
	assert_int_equal(tier_open_local(&t, local_dir, &conf.local_keep, &err), CB_OK);
	fake_backup(local_dir, D, true);
	assert_int_equal(delete_name(&t, D, &err), CB_OK);
	assert_false(exists(local_dir, D));
	assert_false(exists(local_dir, D META_SUFFIX));
	assert_int_equal(delete_name(&t, D, &err), CB_OK);
	tier_close(&t);
}

static void tiers_open_by_name(void **state)
{
	(void)state;
	struct tier_set set;
	struct error err = {0};
	assert_int_equal(tiers_open(&set, &conf, "local", &err), CB_OK);
	assert_int_equal(set.n, 1);
	assert_string_equal(set.tiers[0].name, "local");
	assert_string_equal(set.tiers[0].dir, local_dir);
	assert_ptr_equal(set.tiers[0].keep, &conf.local_keep);
	assert_int_equal(set.max_size, conf.restore_max_size);
	tiers_close(&set);
	assert_null(set.tiers);
	assert_int_equal(set.n, 0);

	const char *alls[] = {"all", NULL};
	for (int k = 0; k < 2; k++) {
		assert_int_equal(tiers_open(&set, &conf, alls[k], &err), CB_OK);
		assert_int_equal(set.n, 1 + conf.n_remotes);
		assert_int_equal(set.n, 3);
		assert_string_equal(set.tiers[0].name, "local");
		assert_non_null(set.tiers[0].dir);
		for (size_t i = 1; i < set.n; i++) {
			assert_null(set.tiers[i].dir);
			assert_ptr_equal(set.tiers[i].remote, &conf.remotes[i - 1]);
			assert_non_null(set.tiers[i].backend);
		}
		tiers_close(&set);
	}

	assert_int_equal(tiers_open(&set, &conf, "off", &err), CB_OK);
	assert_int_equal(set.n, 1);
	assert_string_equal(set.tiers[0].name, "off");
	assert_null(set.tiers[0].dir);
	tiers_close(&set);

	err = (struct error){0};
	assert_int_equal(tiers_open(&set, &conf, "nosuch", &err), CB_ERR_USAGE);
	assert_non_null(strstr(err.msg, "'nosuch'"));
	assert_int_equal(set.n, 0);
	assert_null(set.tiers);
}

static void candidates_with_a_remote_down(void **state)
{
	(void)state;
	struct backup_meta m;
	real_backup(local_dir, A, 5, true, &m);
	copy_obj(local_dir, mirror, A);
	copy_obj(local_dir, mirror, A META_SUFFIX);
	fake_backup(local_dir, B, false);
	fake_backup(mirror, C, true);
	fake_backup(mirror, LONE, true);         /* a lone metadata object */
	char *p = path_in(mirror, LONE);
	unlink(p);
	free(p);
	fake_backup(mirror, OTHER, true);        /* every database's */

	struct tier_set set;
	struct error err = {0};
	assert_int_equal(tiers_open(&set, &conf, NULL, &err), CB_OK);
	size_t off = 0, down = 0;
	for (size_t i = 1; i < set.n; i++) {
		if (strcmp(set.tiers[i].name, "off") == 0)
			off = i;
		if (strcmp(set.tiers[i].name, "gone") == 0)
			down = i;
	}
	assert_true(off && down);
	struct candidate_list cl;
	assert_int_equal(tiers_candidates(&set, &cl, &err), CB_OK);
	assert_true(set.tiers[0].listed);
	assert_true(set.tiers[off].listed);
	assert_false(set.tiers[down].listed);
	assert_int_equal(set.tiers[down].list_error.code, CB_ERR_RETRY);
	assert_non_null(strstr(set.tiers[down].list_error.msg, "does not exist"));

	assert_int_equal(cl.n, 5);
	assert_string_equal(cl.items[0].name, OTHER);
	assert_int_equal(cl.items[0].tier, off);
	assert_string_equal(cl.items[1].name, A);       /* one name: tiers in set order */
	assert_int_equal(cl.items[1].tier, 0);
	assert_true(cl.items[1].has_meta);
	assert_int_equal(cl.items[1].size, (uint64_t)m.compressed_size);
	assert_int_equal(cl.items[1].parsed.type, BT_DAILY);
	assert_string_equal(cl.items[2].name, A);
	assert_int_equal(cl.items[2].tier, off);
	assert_true(cl.items[2].has_meta);
	assert_string_equal(cl.items[3].name, B);
	assert_int_equal(cl.items[3].tier, 0);
	assert_false(cl.items[3].has_meta);
	assert_string_equal(cl.items[4].name, C);
	assert_int_equal(cl.items[4].tier, off);
	assert_true(cl.items[4].has_meta);
	candidates_free(&cl);
	assert_null(cl.items);

	/* Back: listed again. */
	assert_int_equal(mkdir(gone, 0700), 0);
	assert_int_equal(tiers_candidates(&set, &cl, &err), CB_OK);
	assert_true(set.tiers[down].listed);
	assert_int_equal(cl.n, 5);
	candidates_free(&cl);
	tiers_close(&set);
}

/* ---- fetching ---- */

static struct candidate *find_cand(struct candidate_list *cl, const char *name, size_t tier)
{
	for (size_t i = 0; i < cl->n; i++)
		if (strcmp(cl->items[i].name, name) == 0 && cl->items[i].tier == tier)
			return &cl->items[i];
	fail_msg("no candidate %s on tier %zu", name, tier);
	return NULL;
}

static void fetch_good_backups_from_each_tier(void **state)
{
	(void)state;
	struct backup_meta ma, mb, mc;
	real_backup(local_dir, A, 200, true, &ma);
	real_backup(mirror, B, 300, true, &mb);
	real_backup(mirror, C, 50, false, &mc);   /* no metadata: still checked */

	struct tier_set set;
	struct error err = {0};
	assert_int_equal(tiers_open(&set, &conf, "all", &err), CB_OK);
	size_t off = strcmp(set.tiers[1].name, "off") == 0 ? 1 : 2;
	struct candidate_list cl;
	assert_int_equal(tiers_candidates(&set, &cl, &err), CB_OK);

	const struct {
		const char *name;
		size_t tier;
		struct backup_meta *m;
		bool meta;
	} cases[] = {{A, 0, &ma, true}, {B, off, &mb, true}, {C, off, &mc, false}};
	for (size_t k = 0; k < 3; k++) {
		struct candidate *cand = find_cand(&cl, cases[k].name, cases[k].tier);
		char out[256];
		int fd = open_out(cases[k].name, out, sizeof(out));
		struct check_result res;
		struct backup_meta got;
		bool have = !cases[k].meta;
		if (tiers_fetch(&set, cand, fd, out, NULL, &res, &got, &have, &err))
			fail_msg("%s: %s", cases[k].name, err.msg);
		close(fd);
		assert_int_equal(have, cases[k].meta);
		assert_int_equal(res.sha_checked, cases[k].meta);
		if (cases[k].meta) {
			assert_string_equal(got.name, cases[k].name);
			assert_string_equal(got.sha256, cases[k].m->sha256);
		}
		assert_string_equal(res.sha256, cases[k].m->sha256);
		assert_int_equal(res.data_size, (uint64_t)cases[k].m->original_size);
		assert_int_equal(res.compressed_size, (uint64_t)cases[k].m->compressed_size);
		assert_int_equal(res.page_size, 4096);
		assert_true(res.page_count >= 2);
		/* The output is the database, byte for byte. */
		char *src = src_path(cases[k].name);
		same_file(src + strlen(root) + 1, out + strlen(root) + 1);
		free(src);
		unlink(out);
	}
	candidates_free(&cl);
	tiers_close(&set);
}

static void fetch_refuses_what_does_not_check(void **state)
{
	(void)state;
	struct backup_meta ma, mb, mc;
	real_backup(mirror, A, 100, false, &ma);
	ma.sha256[0] = ma.sha256[0] == '0' ? '1' : '0';   /* another hash */
	write_meta(mirror, &ma);
	real_backup(mirror, B, 100, false, &mb);
	real_backup(mirror, C, 100, true, &mc);
	char *json = meta_to_json(&mc);                    /* C's, beside B */
	write_text(mirror, B META_SUFFIX, json);
	free(json);

	struct tier_set set;
	struct error err = {0};
	assert_int_equal(tiers_open(&set, &conf, "off", &err), CB_OK);
	struct candidate_list cl;
	assert_int_equal(tiers_candidates(&set, &cl, &err), CB_OK);
	assert_int_equal(cl.n, 3);

	char out[256];
	struct check_result res;
	struct backup_meta got;
	bool have;
	int fd = open_out(A, out, sizeof(out));
	err = (struct error){0};
	assert_int_equal(tiers_fetch(&set, find_cand(&cl, A, 0), fd, out, NULL, &res, &got,
				     &have, &err), CB_ERR_CORRUPT);
	assert_non_null(strstr(err.msg, "SHA-256"));
	assert_non_null(strstr(err.msg, A));
	close(fd);

	fd = open_out(B, out, sizeof(out));
	err = (struct error){0};
	assert_int_equal(tiers_fetch(&set, find_cand(&cl, B, 0), fd, out, NULL, &res, &got,
				     &have, &err), CB_ERR_CORRUPT);
	assert_non_null(strstr(err.msg, "refused"));
	assert_non_null(strstr(err.msg, "another backup"));
	assert_false(have);
	struct stat st;
	assert_int_equal(fstat(fd, &st), 0);
	assert_int_equal(st.st_size, 0);    /* refused before a byte was written */
	close(fd);

	/* C grows after it was listed: cut off at its listed size. */
	char *p = path_in(mirror, C);
	FILE *f = fopen(p, "ab");
	assert_non_null(f);
	for (int i = 0; i < 1000; i++)
		fputc(i & 0xff, f);
	assert_int_equal(fclose(f), 0);
	free(p);
	fd = open_out(C, out, sizeof(out));
	err = (struct error){0};
	assert_int_equal(tiers_fetch(&set, find_cand(&cl, C, 0), fd, out, NULL, &res, &got,
				     &have, &err), CB_ERR_CORRUPT);
	assert_non_null(strstr(err.msg, "sent more than"));
	assert_non_null(strstr(err.msg, C));
	close(fd);
	/* Listed again, its size is what it is now: the gzip check catches it. */
	candidates_free(&cl);
	assert_int_equal(tiers_candidates(&set, &cl, &err), CB_OK);
	fd = open_out(C, out, sizeof(out));
	err = (struct error){0};
	assert_int_equal(tiers_fetch(&set, find_cand(&cl, C, 0), fd, out, NULL, &res, &got,
				     &have, &err), CB_ERR_CORRUPT);
	assert_null(strstr(err.msg, "sent more than"));
	close(fd);
	candidates_free(&cl);
	tiers_close(&set);
}

/* ---- fixture ---- */

static int setup(void **state)
{
	(void)state;
	snprintf(root, sizeof(root), "/tmp/cbsync-tiers-XXXXXX");
	if (!mkdtemp(root))
		return -1;
	snprintf(local_dir, sizeof(local_dir), "%s/local", root);
	snprintf(mirror, sizeof(mirror), "%s/mirror", root);
	snprintf(gone, sizeof(gone), "%s/gone", root);
	struct error err = {0};
	if (fs_mkdirs(local_dir, 0700, &err) || fs_mkdirs(mirror, 0700, &err))
		return -1;
	char e_dir[200], e_off[200], e_gone[200];
	snprintf(e_dir, sizeof(e_dir), "CBSYNC_LOCAL_DIR=%s", local_dir);
	snprintf(e_off, sizeof(e_off), "CBSYNC_REMOTE_OFF_PATH=%s", mirror);
	snprintf(e_gone, sizeof(e_gone), "CBSYNC_REMOTE_GONE_PATH=%s", gone);
	char *env[] = {e_dir, "CBSYNC_REMOTE_OFF_TYPE=local", e_off,
		       "CBSYNC_REMOTE_GONE_TYPE=local", e_gone, NULL};
	size_t nt = 0;
	struct conf_load_opts opts = {.system_path = "/nonexistent", .environ = env};
	opts.remote_types = backend_remote_types(&nt);
	opts.n_remote_types = nt;
	if (conf_load(&conf, &opts, &err)) {
		fprintf(stderr, "conf_load: %s\n", err.msg);
		return -1;
	}
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	conf_free(&conf);
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", root);
	return system(cmd) == 0 ? 0 : -1;
}

#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

int main(void)
{
	struct error err = {0};
	if (backend_global_init(&err)) {
		fprintf(stderr, "test_tiers: %s\n", err.msg);
		return 1;
	}
	const struct CMUnitTest tests[] = {
		T(local_tier_on_a_missing_directory),
		T(local_catalog_reads_every_metadata),
		T(remote_metadata_is_read_on_demand),
		T(increment_metadata_is_read_on_demand),
		T(packed_increments_on_a_remote),
		T(delete_removes_data_then_metadata),
		T(tiers_open_by_name),
		T(candidates_with_a_remote_down),
		T(fetch_good_backups_from_each_tier),
		T(fetch_refuses_what_does_not_check),
	};
	int failed = cmocka_run_group_tests(tests, NULL, NULL);
	backend_global_cleanup();
	return failed;
}
