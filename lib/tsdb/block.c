/* block.c — the block reader: open (meta, index checked as a whole), series
 * lookup; sample reads through the frame cache and label selection are in
 * block_read.c. The format is in block_int.h; the writer is block_write.c. Corruption is -EBADMSG, and obs_corrupt_last() (core/
 * corrupt.h) then names the file, the offset and the check that failed. */
#include "tsdb/block_int.h"

/* ---- reader ---------------------------------------------------------- */

/* Parse "key <int>\n" at *p; advances. */
static int meta_field(const char *buf, const char **p, const char *end, const char *key, int sign, uint64_t *v)
{
	size_t kl = strlen(key);
	const char *s = *p;
	if ((size_t)(end - s) < kl + 2 || memcmp(s, key, kl) || s[kl] != ' ')
		return obs_corruptf(NULL, (uint64_t)(s - buf), "meta line '%s': failed check ((size_t)(end - s) < kl + 2 || memcmp(s, key, kl) || s[kl] != ' ')", key);
	s += kl + 1;
	int neg = 0;
	if (sign && s < end && *s == '-') {
		neg = 1;
		s++;
	}
	if (s >= end || *s < '0' || *s > '9')
		return obs_corruptf(NULL, (uint64_t)(s - buf), "meta line '%s': failed check (s >= end || *s < '0' || *s > '9')", key);
	uint64_t x = 0;
	while (s < end && *s >= '0' && *s <= '9') {
		if (x > (UINT64_MAX - 9) / 10)
			return obs_corruptf(NULL, (uint64_t)(s - buf), "meta line '%s': failed check (x > (UINT64_MAX - 9) / 10)", key);
		x = x * 10 + (uint64_t)(*s++ - '0');
	}
	if (s >= end || *s != '\n')
		return obs_corruptf(NULL, (uint64_t)(s - buf), "meta line '%s': failed check (s >= end || *s != '\\n')", key);
	if (sign) {
		if (x > (uint64_t)INT64_MAX + neg)
			return obs_corruptf(NULL, (uint64_t)(s - buf), "meta line '%s': failed check (x > (uint64_t)INT64_MAX + neg)", key);
		x = neg ? 0 - x : x;
	}
	*v = x;
	*p = s + 1;
	return 0;
}

static int parse_meta(const char *buf, size_t len, struct obs_block_meta *m, uint64_t *isize, uint64_t *csize,
		      char **parents)
{
	const char *p = buf, *end = buf + len;
	static const char head[] = "obsblock 1\n";
	if (len < sizeof(head) - 1 || memcmp(buf, head, sizeof(head) - 1))
		return obs_corruptf(NULL, (uint64_t)(p - buf), "failed check (len < sizeof(head) - 1 || memcmp(buf, head, sizeof(head) - 1))");
	p += sizeof(head) - 1;
	uint64_t lv, mint, maxt;
	if (meta_field(buf, &p, end, "level", 0, &lv) || meta_field(buf, &p, end, "mint", 1, &mint) ||
	    meta_field(buf, &p, end, "maxt", 1, &maxt) || meta_field(buf, &p, end, "series", 0, &m->series) ||
	    meta_field(buf, &p, end, "samples", 0, &m->samples) || meta_field(buf, &p, end, "chunks", 0, &m->chunks) ||
	    meta_field(buf, &p, end, "index", 0, isize) || meta_field(buf, &p, end, "chunkfile", 0, csize))
		return -EBADMSG;   /* detail recorded by meta_field */
	if ((size_t)(end - p) > 8 && !memcmp(p, "parents ", 8)) {
		const char *v = p + 8, *nl = memchr(v, '\n', (size_t)(end - v));
		if (!nl)
			return obs_corruptf(NULL, (uint64_t)(p - buf), "failed check (!nl)");
		for (const char *c = v; c < nl; c++)
			if (!((*c >= '0' && *c <= '9') || (*c >= 'A' && *c <= 'Z') || (*c >= 'a' && *c <= 'z') || *c == ','))
				return obs_corruptf(NULL, (uint64_t)(p - buf), "failed check (!((*c >= '0' && *c <= '9') || (*c >= 'A' && *c <= 'Z') || (*c >= 'a' && *c <= 'z') || *c == ','))");
		*parents = strndup(v, (size_t)(nl - v));
		if (!*parents)
			return -ENOMEM;
		p = nl + 1;
	}
	size_t body = (size_t)(p - buf);
	char want[32];
	snprintf(want, sizeof(want), "crc32c %08x\n", obs_crc32c(0, buf, body));
	if ((size_t)(end - p) != strlen(want) || memcmp(p, want, strlen(want)))
		return obs_corruptf(NULL, (uint64_t)(p - buf), "meta crc32c line missing or not the CRC-32C of the preceding bytes");
	if (lv < 1 || lv > 1000 || (int64_t)mint > (int64_t)maxt || m->series == 0)
		return obs_corruptf(NULL, (uint64_t)(p - buf), "failed check (lv < 1 || lv > 1000 || (int64_t)mint > (int64_t)maxt || m->series == 0)");
	m->level = (int)lv;
	m->mint = (int64_t)mint;
	m->maxt = (int64_t)maxt;
	return 0;
}

static int map_file(const char *dir, const char *name, const uint8_t **p, size_t *len)
{
	char *path = path_join(dir, name);
	if (!path)
		return -ENOMEM;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	free(path);
	if (fd < 0) {
		int e = errno;
		char *full = path_join(dir, name);
		int rc = e == ENOENT ? obs_corruptf(full ? full : name, 0, "file missing") : -e;
		free(full);
		return rc;
	}
	struct stat st;
	if (fstat(fd, &st)) {
		int e = -errno;
		close(fd);
		return e;
	}
	*len = (size_t)st.st_size;
	*p = NULL;
	if (st.st_size > 0) {
		void *m = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_SHARED, fd, 0);
		if (m == MAP_FAILED) {
			int e = -errno;
			close(fd);
			return e;
		}
		*p = m;
	}
	close(fd);
	return 0;
}

/* Load and check the index file; fills b->body. */
static int load_index(struct obs_block *b, const uint8_t *f, size_t n)
{
	char ipath[4200];
	snprintf(ipath, sizeof ipath, "%s/index", b->dir);
	if (n < IDX_HDR + 4 || memcmp(f, IDX_MAGIC, 8))
		return obs_corruptf(ipath, 0, "index header: failed check (n < IDX_HDR + 4 || memcmp(f, IDX_MAGIC, 8))");
	uint32_t comp = obs_get_le32(f + 8), slen = obs_get_le32(f + 12);
	uint64_t rlen = obs_get_le64(f + 16);
	if (comp > 1 || (uint64_t)slen + IDX_HDR + 4 != n || rlen > RINDEX_MAX)
		return obs_corruptf(ipath, 8, "index header: failed check (comp > 1 || (uint64_t)slen + IDX_HDR + 4 != n || rlen > RINDEX_MAX)");
	if (rlen > (uint64_t)slen * 4096 + (1u << 20))   /* beyond any real index's ratio */
		return obs_corruptf(ipath, 16, "index header: failed check (rlen > (uint64_t)slen * 4096 + (1u << 20))");
	if (obs_crc32c(0, f, n - 4) != obs_get_le32(f + n - 4))
		return obs_corruptf(ipath, n - 4, "index CRC-32C of the preceding bytes does not match");
	if (!comp && rlen != slen)
		return obs_corruptf(ipath, 0, "index header: failed check (!comp && rlen != slen)");
	if (comp) {
		unsigned long long fc = ZSTD_getFrameContentSize(f + IDX_HDR, slen);
		if (fc != rlen)
			return obs_corruptf(ipath, IDX_HDR, "index body: zstd frame content size differs from the raw length");
	}
	b->body = malloc(rlen ? rlen : 1);
	if (!b->body)
		return -ENOMEM;
	b->bodylen = rlen;
	if (comp) {
		size_t z = ZSTD_decompress(b->body, rlen, f + IDX_HDR, slen);
		if (ZSTD_isError(z) || z != rlen)
			return obs_corruptf(ipath, IDX_HDR, "index body: zstd decompression failed or short");
	} else {
		memcpy(b->body, f + IDX_HDR, rlen);
	}
	return 0;
}

static int parse_index(struct obs_block *b, const struct obs_block_meta *m)
{
	char ipath[4200];
	snprintf(ipath, sizeof ipath, "%s/index", b->dir);
	struct rd r = { b->body, b->body + b->bodylen, 0 };
	/* symbols */
	size_t nsym = get_count(&r);
	if (r.err)
		return obs_corruptf(ipath, (uint64_t)(r.p - b->body), "index body (offset in the decompressed body): failed check (a count or varint runs past the end)");
	b->sym = calloc(nsym ? nsym : 1, sizeof(char *));
	b->symarena = malloc(b->bodylen + 1);
	if (!b->sym || !b->symarena)
		return -ENOMEM;
	char *a = b->symarena;
	for (size_t i = 0; i < nsym; i++) {
		size_t l = get_count(&r);
		if (r.err || memchr(r.p, 0, l))
			return obs_corruptf(ipath, (uint64_t)(r.p - b->body), "index body (offset in the decompressed body): failed check (a varint runs past the end || memchr(r.p, 0, l))");
		memcpy(a, r.p, l);
		a[l] = 0;
		b->sym[i] = a;
		a += l + 1;
		r.p += l;
		if (i && strcmp(b->sym[i - 1], b->sym[i]) >= 0)
			return obs_corruptf(ipath, (uint64_t)(r.p - b->body), "index body (offset in the decompressed body): failed check (i && strcmp(b->sym[i - 1], b->sym[i]) >= 0)");
	}
	b->nsym = nsym;
	/* frames */
	size_t nf = get_count(&r);
	if (r.err)
		return obs_corruptf(ipath, (uint64_t)(r.p - b->body), "index body (offset in the decompressed body): failed check (a count or varint runs past the end)");
	b->frames = calloc(nf ? nf : 1, sizeof(*b->frames));
	if (!b->frames)
		return -ENOMEM;
	uint64_t off = 8;
	for (size_t i = 0; i < nf; i++) {
		uint64_t cl = get_var(&r), rl = get_var(&r);
		if (r.err || r.end - r.p < 4)
			return obs_corruptf(ipath, (uint64_t)(r.p - b->body), "index body (offset in the decompressed body): failed check (a varint runs past the end || r.end - r.p < 4)");
		struct rframe *fr = &b->frames[i];
		fr->raw = cl & 1;
		cl >>= 1;
		if (cl == 0 || cl > UINT32_MAX || rl == 0 || rl > RFRAME_MAX || (fr->raw && cl != rl) ||
		    off + cl > b->csize)
			return obs_corruptf(ipath, (uint64_t)(r.p - b->body), "index body (offset in the decompressed body): failed check (cl == 0 || cl > UINT32_MAX || rl == 0 || rl > RFRAME_MAX || (fr->raw && cl != rl) || off + cl > b->csize)");
		fr->off = off;
		fr->clen = (uint32_t)cl;
		fr->rlen = (uint32_t)rl;
		fr->crc = obs_get_le32(r.p);
		r.p += 4;
		off += cl;
	}
	if (off != b->csize)
		return obs_corruptf(ipath, (uint64_t)(r.p - b->body), "index body (offset in the decompressed body): failed check (off != b->csize)");
	b->nframes = nf;
	/* series */
	size_t ns = get_count(&r);
	if (r.err || ns != m->series)
		return obs_corruptf(ipath, (uint64_t)(r.p - b->body), "index body (offset in the decompressed body): failed check (a varint runs past the end || ns != m->series)");
	b->series = calloc(ns, sizeof(*b->series));
	uint32_t *ids = malloc(ns * sizeof(uint32_t));
	size_t capc = m->chunks;
	if (capc > (size_t)(r.end - r.p))
		return free(ids), obs_corruptf(ipath, (uint64_t)(r.p - b->body), "index body (offset in the decompressed body): failed check (capc > (size_t)(r.end - r.p))");
	b->chunks = calloc(capc ? capc : 1, sizeof(*b->chunks));
	if (!b->series || !ids || !b->chunks)
		return free(ids), -ENOMEM;
	struct obs_buf canon;
	obs_buf_init(&canon);
	struct obs_label lab[OBS_MAX_LABELS];
	uint64_t prev = 0, samples = 0;
	size_t nc = 0;
	int rc = -EBADMSG;
	for (size_t i = 0; i < ns; i++) {
		uint64_t id = get_var(&r);
		if (i) {
			if (id == 0) {
				rc = obs_corruptf(ipath, (uint64_t)(r.p - b->body), "index body (offset in the decompressed body): failed check (id == 0)");
				goto bad;
			}
			id += prev;
		}
		if (r.err || id > UINT32_MAX) {
			rc = obs_corruptf(ipath, (uint64_t)(r.p - b->body), "index body (offset in the decompressed body): failed check (a varint runs past the end || id > UINT32_MAX)");
			goto bad;
		}
		prev = id;
		size_t nl = get_var(&r);
		if (r.err || nl == 0 || nl > OBS_MAX_LABELS) {
			rc = obs_corruptf(ipath, (uint64_t)(r.p - b->body), "index body (offset in the decompressed body): failed check (a varint runs past the end || nl == 0 || nl > OBS_MAX_LABELS)");
			goto bad;
		}
		uint64_t lastname = 0;
		for (size_t j = 0; j < nl; j++) {
			uint64_t nm = get_var(&r), va = get_var(&r);
			if (r.err || nm >= nsym || va >= nsym || (j && nm <= lastname)) {
				rc = obs_corruptf(ipath, (uint64_t)(r.p - b->body), "index body (offset in the decompressed body): failed check (a varint runs past the end || nm >= nsym || va >= nsym || (j && nm <= lastname))");
				goto bad;
			}
			lastname = nm;
			lab[j].name = b->sym[nm];
			lab[j].value = b->sym[va];
		}
		struct obs_labels l = { lab, nl };
		size_t c0 = canon.len;
		if (obs_labels_format(&l, &canon) || obs_buf_putc(&canon, 0)) {
			rc = -ENOMEM;
			goto bad;
		}
		struct rseries *s = &b->series[i];
		s->id = (uint32_t)id;
		ids[i] = (uint32_t)id;
		s->canon = c0;
		s->canonlen = canon.len - c0 - 1;
		size_t k = get_var(&r);
		if (r.err || k == 0 || k > capc - nc) {
			rc = obs_corruptf(ipath, (uint64_t)(r.p - b->body), "index body (offset in the decompressed body): failed check (a varint runs past the end || k == 0 || k > capc - nc)");
			goto bad;
		}
		s->chunk0 = (uint32_t)nc;
		s->nchunks = (uint32_t)k;
		int64_t last = m->mint;
		for (size_t j = 0; j < k; j++) {
			struct rchunk *c = &b->chunks[nc++];
			uint64_t fr = get_var(&r), fo = get_var(&r), fl = get_var(&r), cnt = get_var(&r);
			int64_t dm = get_zz(&r);
			uint64_t span = get_var(&r);
			if (r.err || fr >= nf || fl == 0 || fo > b->frames[fr].rlen || fl > b->frames[fr].rlen - fo ||
			    cnt == 0 || cnt > OBS_ENC_MAX_SAMPLES || span < cnt - 1) {
				rc = obs_corruptf(ipath, (uint64_t)(r.p - b->body), "index body (offset in the decompressed body): failed check (a varint runs past the end || fr >= nf || fl == 0 || fo > b->frames[fr].rlen || fl > b->frames[fr].rlen - fo || cnt == 0 || cnt > OBS_ENC_MAX_SAMPLES || span < cnt - 1)");
				goto bad;
			}
			c->frame = (uint32_t)fr;
			c->off = (uint32_t)fo;
			c->len = (uint32_t)fl;
			c->count = (uint32_t)cnt;
			c->mint = (int64_t)((uint64_t)last + (uint64_t)dm);
			c->maxt = (int64_t)((uint64_t)c->mint + span);
			if (c->mint < m->mint || c->maxt > m->maxt || c->maxt < c->mint || (j && c->mint <= last)) {
				rc = obs_corruptf(ipath, (uint64_t)(r.p - b->body), "index body (offset in the decompressed body): failed check (c->mint < m->mint || c->maxt > m->maxt || c->maxt < c->mint || (j && c->mint <= last))");
				goto bad;
			}
			last = c->maxt;
			samples += cnt;
		}
	}
	if (nc != m->chunks || samples != m->samples) {
		rc = obs_corruptf(ipath, (uint64_t)(r.p - b->body), "index body (offset in the decompressed body): failed check (nc != m->chunks || samples != m->samples)");
		goto bad;
	}
	b->nseries = ns;
	b->nchunks = nc;
	b->canon = obs_buf_detach(&canon, NULL);
	/* postings */
	size_t np = get_count(&r);
	if (r.err) {
		rc = obs_corruptf(ipath, (uint64_t)(r.p - b->body), "index body (offset in the decompressed body): failed check (a count or varint runs past the end)");
		goto bad;
	}
	b->pairs = calloc(np ? np : 1, sizeof(*b->pairs));
	if (!b->pairs) {
		rc = -ENOMEM;
		goto bad;
	}
	for (size_t i = 0; i < np; i++) {
		uint64_t nm = get_var(&r), va = get_var(&r);
		size_t bl = get_count(&r);
		if (r.err || nm >= nsym || va >= nsym || bl == 0) {
			rc = obs_corruptf(ipath, (uint64_t)(r.p - b->body), "index body (offset in the decompressed body): failed check (a varint runs past the end || nm >= nsym || va >= nsym || bl == 0)");
			goto bad;
		}
		if (i && (nm < b->pairs[i - 1].name || (nm == b->pairs[i - 1].name && va <= b->pairs[i - 1].value))) {
			rc = obs_corruptf(ipath, (uint64_t)(r.p - b->body), "index body (offset in the decompressed body): failed check (i && (nm < b->pairs[i - 1].name || (nm == b->pairs[i - 1].name && va <= b->pairs[i - 1].value)))");
			goto bad;
		}
		b->pairs[i] = (struct rpair){ (uint32_t)nm, (uint32_t)va, (size_t)(r.p - b->body), bl };
		r.p += bl;
	}
	if (r.p != r.end) {
		rc = obs_corruptf(ipath, (uint64_t)(r.p - b->body), "index body (offset in the decompressed body): failed check (r.p != r.end)");
		goto bad;
	}
	b->npairs = np;
	b->all = roaring_bitmap_of_ptr(ns, ids);
	free(ids);
	return b->all ? 0 : -ENOMEM;
bad:
	obs_buf_release(&canon);
	free(ids);
	return rc;
}

int obs_block_open(const char *dir, struct obs_block **out)
{
	if (!dir || !out)
		return -EINVAL;
	struct obs_block *b = calloc(1, sizeof(*b));
	if (!b)
		return -ENOMEM;
	pthread_mutex_init(&b->lock, NULL);
	for (int k = 0; k < FCACHE; k++)
		b->cache[k].frame = UINT32_MAX;
	int rc = -ENOMEM;
	b->dir = strdup(dir);
	if (!b->dir)
		goto fail;
	for (size_t l = strlen(b->dir); l > 1 && b->dir[l - 1] == '/'; l--)
		b->dir[l - 1] = 0;
	b->id = strrchr(b->dir, '/');
	b->id = b->id ? b->id + 1 : b->dir;
	if (!strncmp(b->id, ".tmp-", 5)) {   /* a crashed writer's leftovers */
		rc = -ENOENT;
		goto fail;
	}
	char *mp = path_join(dir, "meta");
	if (!mp)
		goto fail;
	char *mbuf = NULL;
	size_t mlen = 0;
	rc = obs_read_file(mp, META_MAX - 1, &mbuf, &mlen);
	if (rc == -EFBIG)
		rc = obs_corruptf(mp, META_MAX, "file larger than %d bytes", META_MAX - 1);
	if (rc == -ENOENT) {
		struct stat st;
		rc = stat(dir, &st) ? -errno : obs_corruptf(mp, 0, "file missing");
	}
	uint64_t isize = 0, csize = 0;
	if (!rc) {
		rc = parse_meta(mbuf, mlen, &b->meta, &isize, &csize, &b->parents);
		if (rc == -EBADMSG)
			obs_corrupt_in(mp, 0, NULL);
	}
	free(mbuf);
	free(mp);
	if (rc)
		goto fail;
	const uint8_t *ip;
	size_t ilen;
	rc = map_file(dir, "index", &ip, &ilen);
	if (rc)
		goto fail;
	if (ilen != isize) {
		if (ip)
			munmap((void *)ip, ilen);
		rc = obs_corruptf(b->dir, 0, "index is %zu bytes, meta says %" PRIu64, ilen, isize);
		goto fail;
	}
	rc = load_index(b, ip, ilen);
	if (ip)
		munmap((void *)ip, ilen);
	if (rc)
		goto fail;
	rc = map_file(dir, "chunks", &b->cmap, &b->csize);
	if (rc)
		goto fail;
	if (b->csize != csize || b->csize < 8) {
		rc = obs_corruptf(b->dir, 0, "chunks is %zu bytes, meta says %" PRIu64, b->csize, csize);
		goto fail;
	}
	if (memcmp(b->cmap, CHK_MAGIC, 8)) {
		rc = obs_corruptf(b->dir, 0, "chunks: bad magic (not OBSCHK1)");
		goto fail;
	}
	rc = parse_index(b, &b->meta);
	if (rc)
		goto fail;
	b->meta.bytes = mlen + ilen + b->csize;
	*out = b;
	return 0;
fail:
	obs_block_close(b);
	return rc;
}

void obs_block_close(struct obs_block *b)
{
	if (!b)
		return;
	if (b->cmap)
		munmap((void *)b->cmap, b->csize);
	for (int k = 0; k < FCACHE; k++)
		free(b->cache[k].buf);
	pthread_mutex_destroy(&b->lock);
	if (b->all)
		roaring_bitmap_free(b->all);
	free(b->parents);
	free(b->body);
	free(b->sym);
	free(b->symarena);
	free(b->frames);
	free(b->series);
	free(b->chunks);
	free(b->pairs);
	free(b->canon);
	free(b->dir);
	free(b);
}

const char *obs_block_parents(const struct obs_block *b)
{
	return b->parents ? b->parents : "";
}

void obs_block_get_meta(const struct obs_block *b, struct obs_block_meta *m)
{
	*m = b->meta;
}

const char *obs_block_id(const struct obs_block *b)
{
	return b->id;
}

const char *obs_block_dir(const struct obs_block *b)
{
	return b->dir;
}

uint32_t obs_block_series_count(const struct obs_block *b)
{
	return (uint32_t)b->nseries;
}

int obs_block_series(const struct obs_block *b, uint32_t i, uint32_t *series_id, const char **canon, size_t *len)
{
	if (i >= b->nseries)
		return -ENOENT;
	const struct rseries *s = &b->series[i];
	if (series_id)
		*series_id = s->id;
	if (canon)
		*canon = b->canon + s->canon;
	if (len)
		*len = s->canonlen;
	return 0;
}

int obs_block_find(const struct obs_block *b, uint32_t series_id, uint32_t *i)
{
	size_t lo = 0, hi = b->nseries;
	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		uint32_t v = b->series[mid].id;
		if (v == series_id) {
			if (i)
				*i = (uint32_t)mid;
			return 0;
		}
		if (v < series_id)
			lo = mid + 1;
		else
			hi = mid;
	}
	return -ENOENT;
}

