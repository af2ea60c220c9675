/*
 * Local retention: plan with the pure policy, then delete.
 */
#include "agent/prune.h"
#include "agent/format.h"
#include "agent/tier_local.h"

#include <stdlib.h>
#include <string.h>

enum result prune_local(const char *dir, const struct retention_policy *policy,
			int64_t now, bool dry_run, FILE *report,
			struct prune_result *res, struct error *err)
{
	struct local_list list;
	struct retention_item *items = NULL;
	struct retention_decision *dec = NULL;
	enum result r = local_list_scan(dir, &list, err);

	memset(res, 0, sizeof(*res));
	if (r)
		return r;
	if (list.n == 0)
		goto done;
	items = calloc(list.n, sizeof(*items));
	dec = calloc(list.n, sizeof(*dec));
	if (!items || !dec) {
		r = error_set(err, CB_ERR_NOMEM, "out of memory");
		goto done;
	}
	for (size_t i = 0; i < list.n; i++) {
		items[i].db = list.items[i].parsed.db;
		items[i].type = list.items[i].parsed.type;
		items[i].created = list.items[i].parsed.created;
	}
	retention_plan(items, list.n, policy, now, dec);
	for (size_t i = 0; i < list.n; i++) {
		const struct local_backup *b = &list.items[i];
		char why[160];
		retention_reason_format(&dec[i], b->parsed.type, policy, why, sizeof(why));
		if (dec[i].keep) {
			res->kept++;
			if (dry_run && report)
				fprintf(report, "keep    %s  (%s)\n", b->name, why);
			continue;
		}
		if (dry_run) {
			res->deleted++;
			res->freed += (uint64_t)b->file_size;
			if (report)
				fprintf(report, "delete  %s  (%s)\n", b->name, why);
			continue;
		}
		if ((r = local_delete(dir, b->name, err)))
			goto done;
		res->deleted++;
		res->freed += (uint64_t)b->file_size;
		if (report)
			fprintf(report, "Deleted %s (%s)\n", b->name, why);
	}
done:
	free(items);
	free(dec);
	local_list_free(&list);
	return r;
}
