// sources: lib/tsdb/tiers.c lib/tsdb/rollup.c lib/tsdb/rollup_file.c lib/tsdb/rollup_read.c lib/tsdb/sketch.c lib/tsdb/downsample.c lib/tsdb/samples.c lib/tsdb/block.c lib/tsdb/block_read.c lib/tsdb/block_write.c lib/tsdb/encoding.c lib/tsdb/chunk.c lib/index/matcher.c lib/core/labels.c lib/core/buf.c lib/core/crc32c.c lib/core/num.c lib/core/obstime.c lib/core/fileio.c lib/core/regex.c lib/core/utf8.c lib/core/corrupt.c lib/core/fault.c
/* fuzz_tiers_open.c — libFuzzer harness for finding rollup sets at start
 * (obs_tiers_open): file names, duplicate and leftover sets, damaged files.
 *
 * Input: up to 8 entries, each
 *     1 byte  h      tier = h % 3; content = (h >> 2) % 4:
 *                    0 a valid rollup file of that tier's step (made at init),
 *                    1 the same cut to a length taken from the input,
 *                    2 the same with one byte changed,
 *                    3 raw bytes from the input
 *     1 byte  nlen, then nlen bytes of file name ('/' and NUL become '_')
 *     content parameters: 1: u16 length; 2: u16 offset + 1 byte xor;
 *                    3: 1 byte length + bytes
 * The files are written into DIR/1m, 5m, 1h on tmpfs; then obs_tiers_open
 * must succeed or fail with -errno (never crash or leak); every set must read
 * without crashing and give no empty bucket; a second open finds the same number of sets (open
 * removes what it rejects, so it is idempotent); retention then runs. */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tsdb/rollup.h"
#include "tsdb/tiers.h"

/* known: obs_tiers_read(from = INT64_MIN) overflowed from - step (tiers.c) */
#define FROM INT64_MIN

static char base[256];
static uint8_t *tmpl[OBS_NTIERS];
static size_t tmpl_len[OBS_NTIERS];

static int rm_one(const char *p, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb, (void)flag, (void)ftw;
	remove(p);
	return 0;
}

static void rm_tree(const char *p)
{
	nftw(p, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

static int put_file(const char *path, const void *p, size_t n)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (fd < 0)
		return -1;
	ssize_t k = n ? write(fd, p, n) : 0;
	close(fd);
	return k == (ssize_t)n ? 0 : -1;
}

/* A small valid rollup file of each tier's step: three series. */
static void make_templates(void)
{
	char path[400];
	snprintf(path, sizeof path, "%s/tmpl", base);
	for (int k = 0; k < OBS_NTIERS; k++) {
		struct obs_rollup_writer *w;
		if (obs_rollup_writer_new(path, obs_tier_steps[k], &w))
			abort();
		for (uint32_t id = 0; id < 3; id++) {
			int64_t ts[40];
			double vs[40];
			for (int i = 0; i < 40; i++) {
				ts[i] = (int64_t)i * 45000 * (id + 1);
				vs[i] = (double)(i % 7) - id;
			}
			struct obs_rollup_series s;
			obs_rollup_series_init(&s);
			if (obs_rollup_compute(ts, vs, 40, obs_tier_steps[k], &s) || obs_rollup_writer_add(w, id * 5, &s))
				abort();
			obs_rollup_series_release(&s);
		}
		if (obs_rollup_writer_commit(w))
			abort();
		FILE *f = fopen(path, "rb");
		if (!f)
			abort();
		fseek(f, 0, SEEK_END);
		long n = ftell(f);
		fseek(f, 0, SEEK_SET);
		tmpl[k] = malloc((size_t)n);
		if (!tmpl[k] || fread(tmpl[k], 1, (size_t)n, f) != (size_t)n)
			abort();
		tmpl_len[k] = (size_t)n;
		fclose(f);
		unlink(path);
	}
}

static void cleanup(void)
{
	rm_tree(base);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc, (void)argv;
	const char *root = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
	snprintf(base, sizeof base, "%s/obs-fuzz-tiers.%ld", root, (long)getpid());
	rm_tree(base);
	if (mkdir(base, 0755))
		abort();
	atexit(cleanup);
	make_templates();
	return 0;
}

static size_t check_open(const char *dir)
{
	struct obs_tiers *t = NULL;
	int rc = obs_tiers_open(dir, &t);
	if (rc > 0)
		abort();
	if (rc)
		return (size_t)-1;
	size_t n = obs_tiers_count(t);
	for (int k = 0; k < OBS_NTIERS; k++)
		for (uint32_t id = 0; id < 12; id++) {
			struct obs_rollup_series acc;
			obs_rollup_series_init(&acc);
			rc = obs_tiers_read(t, k, id, FROM, INT64_MAX, &acc);
			if (rc > 0)
				abort();
			for (size_t i = 0; i < acc.n; i++)
				if (acc.b[i].count + acc.b[i].nan_count == 0)
					abort();   /* no empty bucket reaches a reader */
			obs_rollup_series_release(&acc);
		}
	obs_tiers_close(t);
	return n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size > 2048)
		return 0;
	char dir[300];
	snprintf(dir, sizeof dir, "%s/r", base);
	rm_tree(dir);
	if (mkdir(dir, 0755))
		abort();
	for (int k = 0; k < OBS_NTIERS; k++) {
		char sub[400];
		snprintf(sub, sizeof sub, "%s/%s", dir, obs_tier_names[k]);
		if (mkdir(sub, 0755))
			abort();
	}
	size_t pos = 0;
	uint8_t *buf = NULL;
	for (int e = 0; e < 8 && pos + 2 <= size; e++) {
		uint8_t h = data[pos++];
		int k = h % 3, mode = (h >> 2) % 4;
		size_t nlen = data[pos++];
		if (nlen > size - pos)
			nlen = size - pos;
		if (nlen > 120)
			nlen = 120;
		char name[128];
		for (size_t i = 0; i < nlen; i++)
			name[i] = data[pos + i] == '/' || data[pos + i] == 0 ? '_' : (char)data[pos + i];
		name[nlen] = 0;
		pos += nlen;
		if (!nlen || !strcmp(name, ".") || !strcmp(name, ".."))
			continue;
		const uint8_t *p = tmpl[k];
		size_t n = tmpl_len[k];
		free(buf);
		buf = NULL;
		if (mode == 1 && pos + 2 <= size) {
			size_t cut = (size_t)data[pos] | (size_t)data[pos + 1] << 8;
			pos += 2;
			if (cut < n)
				n = cut;
		} else if (mode == 2 && pos + 3 <= size) {
			size_t off = ((size_t)data[pos] | (size_t)data[pos + 1] << 8) % n;
			if (!(buf = malloc(n)))
				abort();
			memcpy(buf, p, n);
			buf[off] ^= data[pos + 2] ? data[pos + 2] : 1;
			p = buf;
			pos += 3;
		} else if (mode == 3) {
			n = pos < size ? data[pos++] : 0;
			if (n > size - pos)
				n = size - pos;
			p = data + pos;
			pos += n;
		}
		char path[600];
		snprintf(path, sizeof path, "%s/%s/%s", dir, obs_tier_names[k], name);
		if (put_file(path, p, n))
			abort();
	}
	free(buf);

	size_t n1 = check_open(dir);
	size_t n2 = check_open(dir);
	if (n1 != (size_t)-1 && n2 != n1)
		abort();   /* open is idempotent */
	struct obs_tiers *t = NULL;
	if (!obs_tiers_open(dir, &t)) {
		const int64_t ret[OBS_NTIERS] = { 60000, 300000, 3600000 };
		int rc = obs_tiers_retain(t, 10 * 86400000LL, ret);
		if (rc < 0 && rc != -ENOENT && rc != -EIO)
			abort();
		obs_tiers_close(t);
	}
	return 0;
}
