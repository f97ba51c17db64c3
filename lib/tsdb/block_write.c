/* block_write.c — the block writer: series in, a durable block directory
 * out (the format and the crash-safety rule are in block_int.h).
 *
 * obs_block_writer_add() collects each series' samples as encoded chunks of
 * up to CHUNK_MAX samples; commit orders the series by label set, writes the
 * chunk file in zstd frames, the index (symbols, series, chunk refs, frames,
 * postings) and meta into BLOCKS/.tmp-ID, fsyncs each file and the
 * directory, renames it to BLOCKS/ID and fsyncs BLOCKS (fault points
 * block.write, block.fsync, block.rename, block.dirsync). */
#include "tsdb/block_int.h"

/* Test hook: when set to k > 0, the writer calls abort() at step k of
 * commit (1 tmp dir made, 2 chunks written, 3 index written, 4 meta
 * written, 5 files and tmp dir fsynced, 6 renamed, before the parent fsync).
 * Only tests set it. */
int obs_block_crash_step;

static void crash_point(int k)
{
	if (obs_block_crash_step == k)
		abort();
}

/* ---- writer ---------------------------------------------------------- */

struct wseries {
	uint32_t id;
	struct obs_labels labels;
	size_t chunk0, nchunks;
};

struct wchunk {
	size_t off, len;          /* in the writer's payload buffer */
	int64_t mint, maxt;
	uint32_t count;
	uint32_t frame, foff;     /* set at commit */
};

struct obs_block_writer {
	char *dir;
	int level;
	struct wseries *s;
	size_t ns, caps;
	struct wchunk *c;
	size_t nc, capc;
	struct obs_buf payload;
	roaring_bitmap_t *ids;
	int64_t mint, maxt;
	uint64_t samples;
	char *parents;            /* "ID,ID,..." of merged inputs, or NULL */
};

int obs_block_writer_new(const char *blocks_dir, int level, struct obs_block_writer **out)
{
	if (!blocks_dir || !*blocks_dir || level < 1)
		return -EINVAL;
	if (mkdir(blocks_dir, 0755) && errno != EEXIST)
		return -errno;
	struct obs_block_writer *w = calloc(1, sizeof(*w));
	if (!w)
		return -ENOMEM;
	w->dir = strdup(blocks_dir);
	w->ids = roaring_bitmap_create();
	if (!w->dir || !w->ids) {
		obs_block_writer_abort(w);
		return -ENOMEM;
	}
	w->level = level;
	w->mint = INT64_MAX;
	w->maxt = INT64_MIN;
	obs_buf_init(&w->payload);
	*out = w;
	return 0;
}

void obs_block_writer_abort(struct obs_block_writer *w)
{
	if (!w)
		return;
	for (size_t i = 0; i < w->ns; i++)
		obs_labels_release(&w->s[i].labels);
	free(w->s);
	free(w->c);
	obs_buf_release(&w->payload);
	if (w->ids)
		roaring_bitmap_free(w->ids);
	free(w->parents);
	free(w->dir);
	free(w);
}

int obs_block_writer_set_parents(struct obs_block_writer *w, const char *ids)
{
	for (const char *c = ids; *c; c++)
		if (!((*c >= '0' && *c <= '9') || (*c >= 'A' && *c <= 'Z') || (*c >= 'a' && *c <= 'z') || *c == ','))
			return -EINVAL;
	char *dup = strdup(ids);
	if (!dup)
		return -ENOMEM;
	free(w->parents);
	w->parents = dup;
	return 0;
}

int obs_block_writer_add(struct obs_block_writer *w, uint32_t series_id, const char *canon, size_t canonlen,
			 const int64_t *ts, const double *vs, size_t n)
{
	if (!w || !canon || !ts || !vs || n == 0)
		return -EINVAL;
	for (size_t i = 1; i < n; i++)
		if (ts[i] <= ts[i - 1])
			return -EINVAL;
	if (roaring_bitmap_contains(w->ids, series_id))
		return -EEXIST;
	struct obs_labels l;
	int rc = obs_labels_parse(canon, canonlen, &l, NULL);
	if (rc)
		return rc;
	if (l.n == 0) {
		obs_labels_release(&l);
		return -EINVAL;
	}
	size_t nchunks = (n + CHUNK_MAX - 1) / CHUNK_MAX;
	if (OBS_VEC_RESERVE_FROM(w->s, w->caps, w->ns + 1, 64) ||
	    OBS_VEC_RESERVE_FROM(w->c, w->capc, w->nc + nchunks, 64)) {
		obs_labels_release(&l);
		return -ENOMEM;
	}
	size_t oldlen = w->payload.len;
	for (size_t k = 0; k < nchunks; k++) {
		size_t a = k * CHUNK_MAX, m = n - a < CHUNK_MAX ? n - a : CHUNK_MAX;
		size_t before = w->payload.len;
		rc = obs_enc_encode(ts + a, vs + a, m, &w->payload);
		if (rc) {
			w->payload.len = oldlen;
			obs_labels_release(&l);
			return rc;
		}
		w->c[w->nc + k] = (struct wchunk){
			.off = before, .len = w->payload.len - before,
			.mint = ts[a], .maxt = ts[a + m - 1], .count = (uint32_t)m,
		};
	}
	w->s[w->ns++] = (struct wseries){ .id = series_id, .labels = l, .chunk0 = w->nc, .nchunks = nchunks };
	w->nc += nchunks;
	roaring_bitmap_add(w->ids, series_id);
	if (ts[0] < w->mint)
		w->mint = ts[0];
	if (ts[n - 1] > w->maxt)
		w->maxt = ts[n - 1];
	w->samples += n;
	return 0;
}

/* Not obs_labels_cmp alone: that order puts label names below "__name__"
 * (upper case, "__a") and series without a name first, and blocks have
 * always been written name first (block_int.h). */
int block_series_cmp(const struct obs_labels *a, const struct obs_labels *b)
{
	const char *na = obs_labels_get(a, "__name__"), *nb = obs_labels_get(b, "__name__");
	int c = strcmp(na ? na : "", nb ? nb : "");
	return c ? c : obs_labels_cmp(a, b);
}

/* qsort context (qsort has none); per thread, so commits may run in parallel */
static _Thread_local const struct obs_block_writer *tls_w;

static int cmp_by_labels(const void *x, const void *y)
{
	const struct wseries *s = tls_w->s;
	return block_series_cmp(&s[*(const size_t *)x].labels, &s[*(const size_t *)y].labels);
}

static int cmp_by_id(const void *x, const void *y)
{
	const struct wseries *s = tls_w->s;
	uint32_t a = s[*(const size_t *)x].id, b = s[*(const size_t *)y].id;
	return (a > b) - (a < b);
}

static int cmp_str(const void *x, const void *y)
{
	return strcmp(*(const char *const *)x, *(const char *const *)y);
}

struct pairent {
	uint32_t name, value, id;
};

static int cmp_pair(const void *x, const void *y)
{
	const struct pairent *a = x, *b = y;
	if (a->name != b->name)
		return (a->name > b->name) - (a->name < b->name);
	if (a->value != b->value)
		return (a->value > b->value) - (a->value < b->value);
	return (a->id > b->id) - (a->id < b->id);
}

static uint32_t sym_find(const char *const *syms, size_t n, const char *s)
{
	size_t lo = 0, hi = n;
	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		int c = strcmp(syms[mid], s);
		if (c == 0)
			return (uint32_t)mid;
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return UINT32_MAX;   /* not reached for strings that were collected */
}

static void make_id(int64_t mint, char *id)
{
	static const char b32[] = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";
	uint64_t t = mint < 0 ? 0 : (uint64_t)mint;
	if (t >= (1ull << 48))
		t = (1ull << 48) - 1;
	for (int i = 9; i >= 0; i--) {
		id[i] = b32[t & 31];
		t >>= 5;
	}
	uint8_t r[10];
	if (getrandom(r, sizeof(r), 0) != (ssize_t)sizeof(r)) {
		struct timespec tsp;
		clock_gettime(CLOCK_REALTIME, &tsp);
		uint64_t x = (uint64_t)tsp.tv_nsec ^ ((uint64_t)getpid() << 32) ^ (uint64_t)(uintptr_t)id;
		for (int i = 0; i < 10; i++) {
			x ^= x << 13;
			x ^= x >> 7;
			x ^= x << 17;
			r[i] = (uint8_t)x;
		}
	}
	/* 80 bits -> 16 characters */
	uint64_t hi = 0, lo = 0;
	for (int i = 0; i < 5; i++)
		hi = hi << 8 | r[i];
	for (int i = 5; i < 10; i++)
		lo = lo << 8 | r[i];
	for (int i = 7; i >= 0; i--) {
		id[10 + i] = b32[hi & 31];
		hi >>= 5;
		id[18 + i] = b32[lo & 31];
		lo >>= 5;
	}
	id[26] = 0;
}

/* A new file dir/name of the block being written: fd or -errno. */
static int create_file(const char *dir, const char *name)
{
	char *path = path_join(dir, name);
	if (!path)
		return -ENOMEM;
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	free(path);
	return fd < 0 ? -errno : fd;
}

/* fsync (unless rc already failed) and close fd: rc or the first error. */
static int finish_file(int fd, int rc)
{
	if (!rc && (rc = obs_fault("block.fsync")) == 0 && fsync(fd))
		rc = -errno;
	if (close(fd) && !rc)
		rc = -errno;
	return rc;
}

static int write_file(const char *dir, const char *name, const void *p, size_t n)
{
	int fd = create_file(dir, name);
	if (fd < 0)
		return fd;
	int rc = obs_fault("block.write");
	if (!rc)
		rc = obs_write_all(fd, p, n);
	return finish_file(fd, rc);
}

int obs_block_gc_tmp(const char *blocks_dir)
{
	DIR *d = opendir(blocks_dir);
	if (!d)
		return errno == ENOENT ? 0 : -errno;
	int rc = 0, removed = 0;
	struct dirent *e;
	while ((e = readdir(d))) {
		if (strncmp(e->d_name, ".tmp-", 5))
			continue;
		char *p = path_join(blocks_dir, e->d_name);
		if (!p) {
			rc = -ENOMEM;
			break;
		}
		int r = obs_rm_tree(p);
		free(p);
		if (r && !rc)
			rc = r;
		removed++;
	}
	closedir(d);
	if (removed && !rc)
		rc = obs_fsync_dir(blocks_dir);
	return rc;
}

/* Compress and append one frame of the chunk file; records it in idx. */
static int flush_frame(ZSTD_CCtx *cc, struct obs_buf *raw, struct obs_buf *zbuf, int fd,
		       struct obs_buf *frames, uint64_t *nframes)
{
	size_t bound = ZSTD_compressBound(raw->len);
	obs_buf_reset(zbuf);
	if (obs_buf_reserve(zbuf, bound))
		return -ENOMEM;
	size_t z = ZSTD_compressCCtx(cc, zbuf->data, bound, raw->data, raw->len, ZLEVEL);
	if (ZSTD_isError(z))
		return -EIO;
	const void *p = zbuf->data;
	size_t n = z;
	int stored_raw = 0;
	if (z >= raw->len) {
		p = raw->data;
		n = raw->len;
		stored_raw = 1;
	}
	int rc = obs_write_all(fd, p, n);
	if (rc)
		return rc;
	uint8_t crc[4];
	obs_put_le32(crc, obs_crc32c(0, p, n));
	rc = obs_buf_varint(frames, (uint64_t)n << 1 | (uint64_t)stored_raw);
	rc |= obs_buf_varint(frames, raw->len);
	rc |= obs_buf_append(frames, crc, 4);
	if (rc)
		return -ENOMEM;
	(*nframes)++;
	obs_buf_reset(raw);
	return 0;
}

/* Write the chunk file into dir; set frame/foff of every chunk. */
static int write_chunks(struct obs_block_writer *w, const char *dir, const size_t *order,
			struct obs_buf *frames, uint64_t *nframes, uint64_t *size)
{
	int fd = create_file(dir, "chunks");
	if (fd < 0)
		return fd;
	struct obs_buf raw, zbuf;
	obs_buf_init(&raw);
	obs_buf_init(&zbuf);
	ZSTD_CCtx *cc = ZSTD_createCCtx();
	int rc = cc ? obs_fault("block.write") : -ENOMEM;
	if (!rc)
		rc = obs_write_all(fd, CHK_MAGIC, 8);
	for (size_t i = 0; i < w->ns && !rc; i++) {
		const struct wseries *s = &w->s[order[i]];
		for (size_t k = 0; k < s->nchunks && !rc; k++) {
			struct wchunk *c = &w->c[s->chunk0 + k];
			if (raw.len && raw.len + c->len > FRAME_TARGET)
				rc = flush_frame(cc, &raw, &zbuf, fd, frames, nframes);
			if (rc)
				break;
			c->frame = (uint32_t)*nframes;
			c->foff = (uint32_t)raw.len;
			if (obs_buf_append(&raw, w->payload.data + c->off, c->len))
				rc = -ENOMEM;
		}
	}
	if (!rc && raw.len)
		rc = flush_frame(cc, &raw, &zbuf, fd, frames, nframes);
	if (!rc) {
		off_t end = lseek(fd, 0, SEEK_END);
		if (end < 0)
			rc = -errno;
		else
			*size = (uint64_t)end;
	}
	rc = finish_file(fd, rc);
	ZSTD_freeCCtx(cc);
	obs_buf_release(&raw);
	obs_buf_release(&zbuf);
	return rc;
}

/* Build the raw index body. */
static int build_index(struct obs_block_writer *w, const size_t *by_id, const struct obs_buf *frames,
		       uint64_t nframes, struct obs_buf *body)
{
	int rc = -ENOMEM;
	size_t nstr = 0;
	for (size_t i = 0; i < w->ns; i++)
		nstr += w->s[i].labels.n * 2;
	const char **syms = malloc((nstr ? nstr : 1) * sizeof(*syms));
	struct pairent *pairs = malloc((nstr / 2 + 1) * sizeof(*pairs));
	if (!syms || !pairs)
		goto out;
	size_t k = 0;
	for (size_t i = 0; i < w->ns; i++)
		for (size_t j = 0; j < w->s[i].labels.n; j++) {
			syms[k++] = w->s[i].labels.v[j].name;
			syms[k++] = w->s[i].labels.v[j].value;
		}
	qsort(syms, nstr, sizeof(*syms), cmp_str);
	size_t nsym = 0;
	for (size_t i = 0; i < nstr; i++)
		if (!nsym || strcmp(syms[nsym - 1], syms[i]))
			syms[nsym++] = syms[i];

	rc = obs_buf_varint(body, nsym);
	for (size_t i = 0; i < nsym && !rc; i++) {
		size_t l = strlen(syms[i]);
		rc = obs_buf_varint(body, l) | obs_buf_append(body, syms[i], l);
	}
	rc |= obs_buf_varint(body, nframes);
	rc |= obs_buf_append(body, frames->data, frames->len);
	rc |= obs_buf_varint(body, w->ns);
	uint32_t prev = 0;
	size_t np = 0;
	for (size_t i = 0; i < w->ns && !rc; i++) {
		const struct wseries *s = &w->s[by_id[i]];
		rc |= obs_buf_varint(body, i ? s->id - prev : s->id);
		prev = s->id;
		rc |= obs_buf_varint(body, s->labels.n);
		for (size_t j = 0; j < s->labels.n; j++) {
			uint32_t nm = sym_find(syms, nsym, s->labels.v[j].name);
			uint32_t va = sym_find(syms, nsym, s->labels.v[j].value);
			rc |= obs_buf_varint(body, nm) | obs_buf_varint(body, va);
			pairs[np++] = (struct pairent){ nm, va, s->id };
		}
		rc |= obs_buf_varint(body, s->nchunks);
		int64_t last = w->mint;
		for (size_t c = 0; c < s->nchunks; c++) {
			const struct wchunk *ch = &w->c[s->chunk0 + c];
			rc |= obs_buf_varint(body, ch->frame) | obs_buf_varint(body, ch->foff) | obs_buf_varint(body, ch->len);
			rc |= obs_buf_varint(body, ch->count);
			rc |= put_zz(body, (int64_t)((uint64_t)ch->mint - (uint64_t)last));
			rc |= obs_buf_varint(body, (uint64_t)ch->maxt - (uint64_t)ch->mint);
			last = ch->maxt;
		}
	}
	if (rc)
		goto out;
	qsort(pairs, np, sizeof(*pairs), cmp_pair);
	size_t npair = 0;
	for (size_t i = 0; i < np; i++)
		if (!i || pairs[i].name != pairs[i - 1].name || pairs[i].value != pairs[i - 1].value)
			npair++;
	rc = obs_buf_varint(body, npair);
	uint32_t *ids = malloc((np ? np : 1) * sizeof(*ids));
	if (!ids)
		rc = -ENOMEM;
	for (size_t i = 0; i < np && !rc;) {
		size_t j = i, m = 0;
		while (j < np && pairs[j].name == pairs[i].name && pairs[j].value == pairs[i].value)
			ids[m++] = pairs[j++].id;
		roaring_bitmap_t *bm = roaring_bitmap_of_ptr(m, ids);
		if (!bm) {
			rc = -ENOMEM;
			break;
		}
		roaring_bitmap_run_optimize(bm);
		size_t bl = roaring_bitmap_portable_size_in_bytes(bm);
		rc = obs_buf_varint(body, pairs[i].name) | obs_buf_varint(body, pairs[i].value) | obs_buf_varint(body, bl);
		if (!rc && obs_buf_reserve(body, bl))
			rc = -ENOMEM;
		if (!rc) {
			roaring_bitmap_portable_serialize(bm, body->data + body->len);
			body->len += bl;
			body->data[body->len] = 0;
		}
		roaring_bitmap_free(bm);
		i = j;
	}
	free(ids);
	if (rc)
		rc = -ENOMEM;
out:
	free(syms);
	free(pairs);
	return rc;
}

static int write_index(const char *dir, const struct obs_buf *body, uint64_t *size)
{
	size_t bound = ZSTD_compressBound(body->len);
	uint8_t *f = malloc(IDX_HDR + bound + 4);
	if (!f)
		return -ENOMEM;
	size_t z = ZSTD_compress(f + IDX_HDR, bound, body->data, body->len, ZLEVEL);
	uint32_t comp = 1;
	if (ZSTD_isError(z) || z >= body->len) {
		comp = 0;
		z = body->len;
		memcpy(f + IDX_HDR, body->data, z);
	}
	if (z > UINT32_MAX) {
		free(f);
		return -EFBIG;
	}
	memcpy(f, IDX_MAGIC, 8);
	obs_put_le32(f + 8, comp);
	obs_put_le32(f + 12, (uint32_t)z);
	obs_put_le64(f + 16, body->len);
	obs_put_le32(f + IDX_HDR + z, obs_crc32c(0, f, IDX_HDR + z));
	*size = IDX_HDR + z + 4;
	int rc = write_file(dir, "index", f, *size);
	free(f);
	return rc;
}

static int meta_text(struct obs_buf *b, int level, int64_t mint, int64_t maxt, uint64_t series, uint64_t samples,
		     uint64_t chunks, uint64_t isize, uint64_t csize, const char *parents)
{
	int rc = obs_buf_printf(b, "obsblock 1\nlevel %d\nmint %lld\nmaxt %lld\nseries %llu\nsamples %llu\n"
				"chunks %llu\nindex %llu\nchunkfile %llu\n",
				level, (long long)mint, (long long)maxt, (unsigned long long)series,
				(unsigned long long)samples, (unsigned long long)chunks,
				(unsigned long long)isize, (unsigned long long)csize);
	if (!rc && parents && *parents)
		rc = obs_buf_printf(b, "parents %s\n", parents);
	if (rc)
		return rc;
	return obs_buf_printf(b, "crc32c %08x\n", obs_crc32c(0, b->data, b->len));
}

int obs_block_writer_commit(struct obs_block_writer *w, char *id)
{
	if (!w)
		return -EINVAL;
	if (w->ns == 0) {
		obs_block_writer_abort(w);
		return -ENODATA;
	}
	int rc = -ENOMEM;
	char bid[32], tname[40];
	char *tmp = NULL, *fin = NULL;
	struct obs_buf frames, body, meta;
	obs_buf_init(&frames);
	obs_buf_init(&body);
	obs_buf_init(&meta);
	size_t *by_lab = malloc(w->ns * sizeof(size_t)), *by_id = malloc(w->ns * sizeof(size_t));
	if (!by_lab || !by_id)
		goto out;
	for (size_t i = 0; i < w->ns; i++)
		by_lab[i] = by_id[i] = i;
	tls_w = w;
	qsort(by_lab, w->ns, sizeof(size_t), cmp_by_labels);
	qsort(by_id, w->ns, sizeof(size_t), cmp_by_id);

	make_id(w->mint, bid);
	snprintf(tname, sizeof(tname), ".tmp-%s", bid);
	tmp = path_join(w->dir, tname);
	fin = path_join(w->dir, bid);
	if (!tmp || !fin)
		goto out;
	if ((rc = obs_fault("block.mkdir")) != 0)
		goto out;
	if (mkdir(tmp, 0755)) {
		rc = -errno;
		goto out;
	}
	crash_point(1);
	uint64_t nframes = 0, csize = 0, isize = 0;
	rc = write_chunks(w, tmp, by_lab, &frames, &nframes, &csize);
	if (rc)
		goto fail;
	crash_point(2);
	rc = build_index(w, by_id, &frames, nframes, &body);
	if (!rc)
		rc = write_index(tmp, &body, &isize);
	if (rc)
		goto fail;
	crash_point(3);
	rc = meta_text(&meta, w->level, w->mint, w->maxt, w->ns, w->samples, w->nc, isize, csize, w->parents);
	if (!rc)
		rc = write_file(tmp, "meta", meta.data, meta.len);
	if (rc)
		goto fail;
	crash_point(4);
	rc = obs_fault("block.fsync");
	if (!rc)
		rc = obs_fsync_dir(tmp);
	if (rc)
		goto fail;
	crash_point(5);
	if ((rc = obs_fault("block.rename")) != 0)
		goto fail;
	if (rename(tmp, fin)) {
		rc = -errno;
		goto fail;
	}
	crash_point(6);
	rc = obs_fault("block.dirsync");
	if (!rc)
		rc = obs_fsync_dir(w->dir);
	if (rc) {
		/* renamed but not known durable: take it back, so that a failed
		 * commit never leaves a block a caller did not register */
		obs_rm_tree(fin);
		obs_fsync_dir(w->dir);
		goto out;
	}
	memcpy(id, bid, 27);
	goto out;
fail:
	obs_rm_tree(tmp);
out:
	free(tmp);
	free(fin);
	free(by_lab);
	free(by_id);
	obs_buf_release(&frames);
	obs_buf_release(&body);
	obs_buf_release(&meta);
	obs_block_writer_abort(w);
	return rc;
}
