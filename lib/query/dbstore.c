/* dbstore.c — obs_query_store over struct obs_db: the matchers select
 * series ids through the CRoaring postings, each series' canonical text
 * gives its labels, obs_db_read() its samples in [mint, maxt]. */
#include <errno.h>
#include <roaring/roaring.h>
#include <stdint.h>

#include "query/dbstore.h"
#include "tsdb/samples.h"

static int db_select(void *ctx, const struct obs_matcher *m, size_t nm, int64_t mint, int64_t maxt,
		     obs_query_emit_fn emit, void *ectx)
{
	struct obs_db *db = ctx;
	roaring_bitmap_t *ids = obs_db_select(db, m, nm);
	if (!ids)
		return -ENOMEM;
	struct obs_buf text;
	struct obs_samples s;
	obs_buf_init(&text);
	obs_samples_init(&s);
	int rc = 0;
	roaring_uint32_iterator_t *it = roaring_create_iterator(ids);
	if (!it)
		rc = -ENOMEM;
	for (; !rc && it && it->has_value; roaring_advance_uint32_iterator(it)) {
		uint32_t id = it->current_value;
		obs_buf_reset(&text);
		obs_samples_reset(&s);
		if (obs_db_series_text(db, id, &text) != 0)
			continue;   /* gone since the selection */
		struct obs_labels l;
		const char *why;
		if (obs_labels_parse(text.data, text.len, &l, &why) != 0)
			continue;
		rc = obs_db_read(db, id, mint, maxt, &s);
		if (!rc && s.n)
			rc = emit(ectx, &l, s.t, s.v, s.n);
		obs_labels_release(&l);
	}
	if (it)
		roaring_free_uint32_iterator(it);
	roaring_bitmap_free(ids);
	obs_buf_release(&text);
	obs_samples_release(&s);
	return rc;
}

struct obs_query_store obs_query_db_store(struct obs_db *db)
{
	struct obs_query_store st = { .select = db_select, .ctx = db };
	return st;
}
