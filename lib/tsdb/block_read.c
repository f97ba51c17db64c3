/* block_read.c — reading an open block: samples of a series through a
 * small cache of decompressed frames (each frame checked against its CRC
 * when it is loaded), and label selection over the postings. The format is
 * in block_int.h; block.c opens and checks a block. Corruption is -EBADMSG
 * with obs_corrupt_last() naming the file, the offset and the check. */
#include "tsdb/block_int.h"

/* Frame k of the chunk file failed check: -EBADMSG, detail recorded. */
static int bad_frame(const struct obs_block *b, uint32_t k, const char *check)
{
	char path[4200];
	snprintf(path, sizeof path, "%s/chunks", b->dir);
	return obs_corruptf(path, b->frames[k].off, "frame %u: %s", k, check);
}

/* Decompress (or copy) frame k into buf (rlen bytes). */
static int load_frame(const struct obs_block *b, uint32_t k, ZSTD_DCtx *dc, uint8_t *buf)
{
	const struct rframe *f = &b->frames[k];
	const uint8_t *p = b->cmap + f->off;
	if (obs_crc32c(0, p, f->clen) != f->crc)
		return bad_frame(b, k, "CRC-32C of the frame's bytes does not match the index");
	if (f->raw) {
		memcpy(buf, p, f->rlen);
		return 0;
	}
	size_t z = ZSTD_decompressDCtx(dc, buf, f->rlen, p, f->clen);
	return ZSTD_isError(z) || z != f->rlen ? bad_frame(b, k, "zstd decompression failed or short") : 0;
}

/* The raw bytes of frame k: from the cache (*slot >= 0, release with
 * frame_put) or freshly decompressed (*slot == -1, then *owned is the buffer
 * to free). Raw frames point into the mapping. */
static int frame_get(struct obs_block *b, uint32_t k, ZSTD_DCtx **dc, const uint8_t **p, int *slot, uint8_t **owned)
{
	const struct rframe *f = &b->frames[k];
	*slot = -1;
	*owned = NULL;
	if (f->raw) {
		if (obs_crc32c(0, b->cmap + f->off, f->clen) != f->crc)
			return bad_frame(b, k, "CRC-32C of the frame's bytes does not match the index");
		*p = b->cmap + f->off;
		return 0;
	}
	pthread_mutex_lock(&b->lock);
	for (int i = 0; i < FCACHE; i++)
		if (b->cache[i].frame == k) {
			b->cache[i].refs++;
			b->cache[i].used = ++b->tick;
			*p = b->cache[i].buf;
			*slot = i;
			pthread_mutex_unlock(&b->lock);
			return 0;
		}
	pthread_mutex_unlock(&b->lock);
	if (!*dc && !(*dc = ZSTD_createDCtx()))
		return -ENOMEM;
	uint8_t *buf = malloc(f->rlen);
	if (!buf)
		return -ENOMEM;
	int rc = load_frame(b, k, *dc, buf);
	if (rc) {
		free(buf);
		return rc;
	}
	*p = buf;
	pthread_mutex_lock(&b->lock);
	int victim = -1;
	for (int i = 0; i < FCACHE; i++) {
		if (b->cache[i].frame == k) {   /* another reader won the race */
			victim = -1;
			break;
		}
		if (!b->cache[i].refs && (victim < 0 || b->cache[i].used < b->cache[victim].used))
			victim = i;
	}
	if (victim >= 0) {
		struct fslot *sl = &b->cache[victim];
		free(sl->buf);
		sl->buf = buf;
		sl->frame = k;
		sl->refs = 1;
		sl->used = ++b->tick;
		*slot = victim;
	} else {
		*owned = buf;
	}
	pthread_mutex_unlock(&b->lock);
	return 0;
}

static void frame_put(struct obs_block *b, int slot, uint8_t *owned)
{
	if (slot >= 0) {
		pthread_mutex_lock(&b->lock);
		b->cache[slot].refs--;
		pthread_mutex_unlock(&b->lock);
	}
	free(owned);
}

int obs_block_series_range(const struct obs_block *b, uint32_t i, int64_t *mint, int64_t *maxt)
{
	if (i >= b->nseries || !b->series[i].nchunks)
		return -ENOENT;
	const struct rseries *s = &b->series[i];
	*mint = b->chunks[s->chunk0].mint;
	*maxt = b->chunks[s->chunk0 + s->nchunks - 1].maxt;
	return 0;
}

int obs_block_read(const struct obs_block *cb, uint32_t i, int64_t from, int64_t to, struct obs_samples *out)
{
	struct obs_block *b = (struct obs_block *)cb;   /* only the locked cache changes */
	if (i >= b->nseries)
		return -ENOENT;
	if (from > to)
		return 0;
	const struct rseries *s = &b->series[i];
	size_t n0 = out->n;
	ZSTD_DCtx *dc = NULL;
	uint32_t have = UINT32_MAX;
	const uint8_t *p = NULL;
	int slot = -1, rc = 0;
	uint8_t *owned = NULL;
	for (uint32_t k = 0; k < s->nchunks && !rc; k++) {
		const struct rchunk *c = &b->chunks[s->chunk0 + k];
		if (c->maxt < from)
			continue;
		if (c->mint > to)
			break;
		if (have != c->frame) {
			if (have != UINT32_MAX)
				frame_put(b, slot, owned);
			have = UINT32_MAX;
			if ((rc = frame_get(b, c->frame, &dc, &p, &slot, &owned)))
				break;
			have = c->frame;
		}
		if ((rc = obs_samples_reserve(out, c->count)))
			break;
		int64_t *ts = out->t + out->n;
		double *vs = out->v + out->n;
		int got = obs_enc_decode(p + c->off, c->len, ts, vs, c->count);
		if (got != (int)c->count || ts[0] != c->mint || ts[got - 1] != c->maxt) {
			char cpath[4200], what[160];
			snprintf(cpath, sizeof cpath, "%s/chunks", b->dir);
			snprintf(what, sizeof what, "frame %u, chunk at raw offset %u of series %u", c->frame, c->off,
				 b->series[i].id);
			if (got < 0)
				rc = obs_corrupt_inside(cpath, b->frames[c->frame].off, what);
			else
				rc = obs_corruptf(cpath, b->frames[c->frame].off,
						 "%s: decodes to %d samples, the index says %u from %" PRId64 " to %" PRId64,
						 what, got, c->count, c->mint, c->maxt);
			break;
		}
		size_t lo = 0, hi = (size_t)got;
		if (c->mint < from)
			while (lo < hi && ts[lo] < from)
				lo++;
		if (c->maxt > to)
			while (hi > lo && ts[hi - 1] > to)
				hi--;
		if (lo) {
			memmove(ts, ts + lo, (hi - lo) * sizeof(*ts));
			memmove(vs, vs + lo, (hi - lo) * sizeof(*vs));
		}
		out->n += hi - lo;
	}
	if (have != UINT32_MAX)
		frame_put(b, slot, owned);
	ZSTD_freeDCtx(dc);
	if (rc)
		out->n = n0;
	return rc;
}

static roaring_bitmap_t *pair_bitmap(const struct obs_block *b, const struct rpair *p)
{
	return roaring_bitmap_portable_deserialize_safe((const char *)b->body + p->off, p->len);
}

/* Series ids matched by one matcher. */
static roaring_bitmap_t *select_one(const struct obs_block *b, const struct obs_matcher *m)
{
	int empty_ok = obs_matcher_matches_empty(m);
	size_t lo = 0, hi = b->nsym, nm = SIZE_MAX;
	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		int c = strcmp(b->sym[mid], m->name);
		if (!c) {
			nm = mid;
			break;
		}
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	/* pairs of name nm: [p0, p1) */
	size_t p0 = b->npairs, p1 = b->npairs;
	if (nm != SIZE_MAX) {
		lo = 0;
		hi = b->npairs;
		while (lo < hi) {
			size_t mid = (lo + hi) / 2;
			if (b->pairs[mid].name < nm)
				lo = mid + 1;
			else
				hi = mid;
		}
		p0 = p1 = lo;
		while (p1 < b->npairs && b->pairs[p1].name == nm)
			p1++;
	}
	roaring_bitmap_t *acc = roaring_bitmap_create();
	if (!acc)
		return NULL;
	for (size_t i = p0; i < p1; i++) {
		int hit = obs_matcher_match(m, b->sym[b->pairs[i].value]);
		if (hit < 0) {
			roaring_bitmap_free(acc);
			return NULL;
		}
		/* matchers matching "": all minus non-matching values; else union of matching */
		if ((hit != 0) == !empty_ok) {
			roaring_bitmap_t *bm = pair_bitmap(b, &b->pairs[i]);
			if (!bm) {
				roaring_bitmap_free(acc);
				return NULL;
			}
			roaring_bitmap_or_inplace(acc, bm);
			roaring_bitmap_free(bm);
		}
	}
	if (empty_ok) {
		roaring_bitmap_t *r = roaring_bitmap_andnot(b->all, acc);
		roaring_bitmap_free(acc);
		return r;
	}
	return acc;
}

roaring_bitmap_t *obs_block_select(const struct obs_block *b, const struct obs_matcher *m, size_t n)
{
	roaring_bitmap_t *res = roaring_bitmap_copy(b->all);
	for (size_t i = 0; i < n && res; i++) {
		if (roaring_bitmap_is_empty(res))
			break;
		roaring_bitmap_t *one = select_one(b, &m[i]);
		if (!one) {
			roaring_bitmap_free(res);
			return NULL;
		}
		roaring_bitmap_and_inplace(res, one);
		roaring_bitmap_free(one);
	}
	return res;
}
