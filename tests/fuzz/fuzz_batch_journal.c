// sources: lib/ingest/batch.c lib/core/strmap.c lib/core/buf.c lib/core/fileio.c lib/core/fault.c
/* fuzz_batch_journal.c — libFuzzer harness for the batch table's journal
 * (obs_batchtab_open, format in lib/ingest/batch.c): any bytes as the
 * journal file load without error; every well-formed "KEY END\n" line of
 * them (checked here by an independent reading of the format) is known to
 * the table afterwards (a batch KEY 0..END is skipped whole); the file
 * rewritten at open is a fixed point (loading it again rewrites the same
 * bytes); a commit after the open is known to the next open. The journal
 * lives in a scratch directory (fuzz_tmp.h). */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/fileio.h"
#include "ingest/batch.h"
#include "fuzz_tmp.h"

static const char *path;

static char *slurp(size_t *len)
{
	FILE *f = fopen(path, "r");
	if (!f)
		abort();
	char *s = NULL;
	size_t cap = 0, got;
	*len = 0;
	do {
		if (!(s = realloc(s, cap += 4096)))
			abort();
		*len += got = fread(s + *len, 1, cap - *len, f);
	} while (got);
	fclose(f);
	return s;
}

/* The format read independently: a line "KEY END" (no '\n') with KEY
 * [!-~]{1,200} and END 1..19 decimal digits. */
static int well_formed(const char *l, size_t n, size_t *keylen, uint64_t *end)
{
	size_t sp = n;
	while (sp > 0 && l[sp - 1] != ' ')
		sp--;
	if (!sp)
		return 0;
	*keylen = sp - 1;
	if (!*keylen || *keylen > OBS_BATCH_KEY_MAX)
		return 0;
	for (size_t i = 0; i < *keylen; i++)
		if (l[i] < '!' || l[i] > '~')
			return 0;
	size_t dl = n - sp;
	if (!dl || dl > 19)
		return 0;
	*end = 0;
	for (size_t i = sp; i < n; i++) {
		if (l[i] < '0' || l[i] > '9')
			return 0;
		*end = *end * 10 + (uint64_t)(l[i] - '0');
	}
	return 1;
}

static void check_known(struct obs_batchtab *t, const char *key, size_t keylen, uint64_t end)
{
	struct obs_directive d = {.kind = OBS_DIR_BATCH, .key = key, .keylen = keylen, .start = 0, .end = end};
	if (obs_batchtab_skip(t, &d, NULL) != end)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t n)
{
	path = fuzz_tmp_file("batches");
	if (obs_write_file_atomic(path, (const char *)data, n, NULL))
		abort();
	struct obs_batchtab *t = obs_batchtab_new(1u << 16);   /* no key forgotten */
	if (!t || obs_batchtab_open(t, path))
		abort();
	const char *p = (const char *)data, *e = p + n;
	while (p < e) {
		const char *nl = memchr(p, '\n', (size_t)(e - p));
		if (!nl)
			break;   /* a torn last line is skipped */
		size_t keylen;
		uint64_t end;
		if (well_formed(p, (size_t)(nl - p), &keylen, &end))
			check_known(t, p, keylen, end);
		p = nl + 1;
	}
	struct obs_directive c = {.kind = OBS_DIR_BATCH, .key = "fz:after", .keylen = 8, .start = 0, .end = 7};
	if (obs_batchtab_commit(t, &c, 7))
		abort();
	obs_batchtab_free(t);

	size_t blen, b2len;
	struct obs_batchtab *u = obs_batchtab_new(1u << 16);
	if (!u || obs_batchtab_open(u, path))
		abort();
	check_known(u, "fz:after", 8, 7);
	obs_batchtab_free(u);
	u = obs_batchtab_new(1u << 16);
	if (!u || obs_batchtab_open(u, path))
		abort();
	char *b = slurp(&blen);
	struct obs_batchtab *v = obs_batchtab_new(1u << 16);
	if (!v || obs_batchtab_open(v, path))
		abort();
	char *b2 = slurp(&b2len);
	if (blen != b2len || memcmp(b, b2, blen))
		abort();   /* a rewritten journal is a fixed point */
	obs_batchtab_free(u);
	obs_batchtab_free(v);
	free(b);
	free(b2);
	return 0;
}
