/* ship_files.c — obs-ship's log side: whole lines into log streams
 * (files_ship: batches through the policy, then the sink) and the files it
 * follows.
 *
 * Files are named by paths or glob patterns, re-expanded whenever inotify
 * reports a change in their directories (and every half second), so files
 * that appear later are picked up. A file is tracked by (device, inode):
 * rotation by rename keeps the old inode open until it has been drained;
 * rotation by copytruncate shows as a size below the read position and
 * restarts at 0. Only whole lines are shipped, one write(2) per batch of
 * whole lines (a batch never splits a line).
 *
 * Position file (-p), one line per tracked file, rewritten (temp, fsync,
 * rename) after the batches of each round were written:
 *   "@ NONCE SENT DEV INO OFF FPLEN FP PATH"
 * OFF is the input offset shipped (at a line end), FPLEN/FP the length and
 * CRC32C of the file's first bytes (at most 256; a file whose first bytes
 * changed is a new file), NONCE a random 64-bit hex name of this tracking of
 * the file and SENT the bytes written for it so far (after the policy).
 * Each batch for a mount is sent as "#obs-batch f:HOST:NONCE SENT SENT+LEN"
 * (lib/ingest/batch.h), so a batch sent again after a kill -9 (written but
 * not yet in the position file) is dropped by the daemon. Lines of the old
 * form "DEV INO OFF FPLEN FP PATH" are read too.
 *
 * Fault point (lib/core/fault.h): "ship.after_write" kills the agent
 * (SIGKILL) right after a batch was written, before its position is saved. */
#include <dirent.h>
#include <err.h>
#include <errno.h>
#include <fcntl.h>
#include <glob.h>
#include <libgen.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "core/buf.h"
#include "core/crc32c.h"
#include "core/fault.h"
#include "core/fileio.h"
#include "ship.h"

#define FP_BYTES 256
#define BATCH_MAX (64 * 1024)
#define READ_CHUNK (1 << 20)

struct tfile {
	char *path;
	char *stream;
	int fd;
	dev_t dev;
	ino_t ino;
	off_t off;          /* bytes shipped (always at a line end) */
	uint32_t fplen, fp; /* crc32c of the first fplen bytes */
	uint64_t nonce;     /* names this tracking in batch keys */
	uint64_t sent;      /* bytes written for it (the batch key's offset) */
	int seen, rotated, idle;
};

struct pos {
	dev_t dev;
	ino_t ino;
	off_t off;
	uint32_t fplen, fp;
	uint64_t nonce, sent;
	char *path;
	int used;
};

static struct tfile **tf;
static size_t ntf;
static struct pos *saved;
static size_t nsaved;
static struct files_opts opt;
static int dirty;
static int failed;
static struct obs_buf pol_out;     /* a batch after the policy */
static char *buf;                  /* READ_CHUNK bytes read from a file */

static char *stream_of(const char *path)
{
	if (opt.fixed_stream)
		return strdup(opt.fixed_stream);
	char *c = strdup(path), *b = strdup(basename(c));
	free(c);
	size_t l = strlen(b);
	if (l > 4 && !strcmp(b + l - 4, ".log"))
		b[l - 4] = 0;
	return b;
}

/* Ship whole lines data[0..n) (n ends at a '\n') of t (NULL: the command's
 * output, no key) in batches of at most BATCH_MAX input bytes, each through
 * the policy and then the sink. Returns the input bytes taken (a batch not
 * taken now is retried later; *fatal is set when retrying cannot help). */
static size_t ship(struct tfile *t, const char *stream, const char *data, size_t n, int *fatal)
{
	size_t taken = 0;
	char dest[4200], key[96];
	snprintf(dest, sizeof(dest), "logs/%s", stream);
	if (t)
		snprintf(key, sizeof(key), "f:%s:%016llx", opt.host, (unsigned long long)t->nonce);
	while (n > 0) {
		size_t k = n;
		if (k > BATCH_MAX) {
			const char *nl = memrchr(data, '\n', BATCH_MAX);
			k = nl ? (size_t)(nl - data) + 1 : (size_t)((const char *)memchr(data, '\n', n) - data) + 1;
		}
		const char *out = data;
		size_t outn = k;
		if (opt.policy) {
			obs_buf_reset(&pol_out);
			if (policy_apply(opt.policy, stream, data, k, &pol_out))
				errx(2, "out of memory");
			out = pol_out.data;
			outn = pol_out.len;
		}
		int rc = sink_send(dest, out, outn, t ? key : NULL, t ? t->sent : 0);
		if (rc) {
			if (rc != -ENOSPC) {
				warnx("write to stream '%s': %s", stream, strerror(-rc));
				*fatal = 1;
			}
			break;
		}
		if (obs_fault("ship.after_write"))   /* tests: a kill -9 before the position file */
			raise(SIGKILL);
		if (t)
			t->sent += outn;
		taken += k;
		data += k;
		n -= k;
	}
	return taken;
}

static uint32_t fingerprint(int fd, uint32_t *len)
{
	char b[FP_BYTES];
	ssize_t r = pread(fd, b, sizeof(b), 0);
	if (r < 0)
		r = 0;
	*len = (uint32_t)r;
	return obs_crc32c(0, b, (size_t)r);
}

/* ---- position file --------------------------------------------------------- */

static void load_positions(void)
{
	FILE *f = fopen(opt.posfile, "r");
	if (!f) {
		if (errno != ENOENT)
			warn("cannot read position file '%s'", opt.posfile);
		return;
	}
	char *line = NULL;
	size_t cap = 0;
	while (getline(&line, &cap, f) > 0) {
		unsigned long long dev, ino, off, nonce = 0, sent = 0;
		unsigned fplen, fp;
		int n = 0;
		if (line[0] == '@') {
			if (sscanf(line, "@ %llx %llu %llu %llu %llu %u %u %n", &nonce, &sent, &dev, &ino, &off, &fplen,
				   &fp, &n) < 7 || !n)
				continue;
		} else if (sscanf(line, "%llu %llu %llu %u %u %n", &dev, &ino, &off, &fplen, &fp, &n) < 5 || !n) {
			continue;
		}
		line[strcspn(line, "\n")] = 0;
		saved = realloc(saved, (nsaved + 1) * sizeof(*saved));
		if (!saved)
			err(2, "out of memory");
		saved[nsaved] = (struct pos){ (dev_t)dev, (ino_t)ino, (off_t)off, fplen, fp, nonce, sent, strdup(line + n), 0 };
		nsaved++;
	}
	free(line);
	fclose(f);
}

static void save_positions(void)
{
	if (!dirty || !opt.posfile)
		return;
	struct obs_buf b;
	obs_buf_init(&b);
	int rc = 0;
	for (size_t i = 0; i < ntf && !rc; i++)
		rc = obs_buf_printf(&b, "@ %016llx %llu %llu %llu %llu %u %u %s\n", (unsigned long long)tf[i]->nonce,
				    (unsigned long long)tf[i]->sent, (unsigned long long)tf[i]->dev,
				    (unsigned long long)tf[i]->ino, (unsigned long long)tf[i]->off, tf[i]->fplen, tf[i]->fp,
				    tf[i]->path);
	if (!rc)
		rc = obs_write_file_atomic(opt.posfile, b.data, b.len, NULL);
	obs_buf_release(&b);
	if (rc) {
		errno = -rc;
		warn("cannot write position file '%s'", opt.posfile);
		return;
	}
	dirty = 0;
}

/* ---- tracked files -------------------------------------------------------------- */

static uint64_t new_nonce(void)
{
	uint64_t v = 0;
	if (getrandom(&v, sizeof(v), 0) != sizeof(v)) {
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		v = ((uint64_t)ts.tv_sec * 1000000007u) ^ (uint64_t)ts.tv_nsec ^ ((uint64_t)getpid() << 32);
	}
	return v ? v : 1;
}

/* The nonce of a file's next byte stream (after a copytruncate, or a new
 * file at a saved inode): derived from the last one, so that an agent killed
 * before saving it derives the same one again (splitmix64). */
static uint64_t next_nonce(uint64_t v)
{
	v += 0x9e3779b97f4a7c15ull;
	v = (v ^ (v >> 30)) * 0xbf58476d1ce4e5b9ull;
	v = (v ^ (v >> 27)) * 0x94d049bb133111ebull;
	v ^= v >> 31;
	return v ? v : 1;
}

static struct tfile *track(const char *path, int fd, const struct stat *st, int initial)
{
	struct tfile *t = calloc(1, sizeof(*t));
	if (!t)
		err(2, "out of memory");
	t->path = strdup(path);
	t->stream = stream_of(path);
	t->fd = fd;
	t->dev = st->st_dev;
	t->ino = st->st_ino;
	t->fp = fingerprint(fd, &t->fplen);
	t->off = initial && opt.from_end ? st->st_size : 0;
	t->nonce = new_nonce();
	for (size_t i = 0; i < nsaved; i++) {
		struct pos *p = &saved[i];
		if (p->used || p->dev != st->st_dev || p->ino != st->st_ino)
			continue;
		p->used = 1;
		/* same file if its first bytes are unchanged and it did not shrink */
		uint32_t fl = p->fplen < t->fplen ? p->fplen : t->fplen;
		char b[FP_BYTES];
		ssize_t r = pread(fd, b, fl, 0);
		if (r == (ssize_t)fl && fl == p->fplen && obs_crc32c(0, b, fl) == p->fp && st->st_size >= p->off) {
			t->off = p->off;
			if (p->nonce) {   /* the same tracking goes on: the same batch key */
				t->nonce = p->nonce;
				t->sent = p->sent;
			}
		} else {   /* another byte stream at this inode */
			t->off = 0;
			if (p->nonce)
				t->nonce = next_nonce(p->nonce);
		}
		break;
	}
	tf = realloc(tf, (ntf + 1) * sizeof(*tf));
	if (!tf)
		err(2, "out of memory");
	tf[ntf++] = t;
	dirty = 1;
	return t;
}

static void untrack(size_t i)
{
	struct tfile *t = tf[i];
	close(t->fd);
	free(t->path);
	free(t->stream);
	free(t);
	tf[i] = tf[--ntf];
	dirty = 1;
}

/* read everything new in t and ship its whole lines; at_end: ship a last
 * partial line too (the file was rotated away and is idle). Returns bytes shipped. */
static size_t pump(struct tfile *t, int at_end)
{
	struct stat st;
	if (fstat(t->fd, &st) < 0)
		return 0;
	if (st.st_size < t->off) {  /* copytruncate: a new byte stream */
		t->off = 0;
		t->nonce = next_nonce(t->nonce);
		t->sent = 0;
		dirty = 1;
	}
	if (t->fplen < FP_BYTES && st.st_size > (off_t)t->fplen) {
		t->fp = fingerprint(t->fd, &t->fplen);
		dirty = 1;
	} else if (t->off == 0 && st.st_size > 0) {
		t->fp = fingerprint(t->fd, &t->fplen);
	}
	if (!buf && !(buf = malloc(READ_CHUNK)))
		err(2, "out of memory");
	size_t total = 0;
	for (;;) {
		ssize_t r = pread(t->fd, buf, READ_CHUNK, t->off);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			warn("read '%s'", t->path);
			break;
		}
		if (r == 0)
			break;
		const char *nl = memrchr(buf, '\n', (size_t)r);
		size_t k;
		if (nl)
			k = (size_t)(nl - buf) + 1;
		else if (r == READ_CHUNK)
			k = (size_t)r;   /* an enormous line: ship it cut (the store rejects it) */
		else if (at_end) {
			buf[r] = '\n';   /* READ_CHUNK > r, there is room */
			int fatal = 0;
			if (ship(t, t->stream, buf, (size_t)r + 1, &fatal) == (size_t)r + 1) {
				t->off += r;
				total += (size_t)r;
				dirty = 1;
			}
			failed |= fatal;
			break;
		} else
			break;
		int fatal = 0;
		size_t got = ship(t, t->stream, buf, k, &fatal);
		failed |= fatal;
		t->off += (off_t)got;
		total += got;
		if (got)
			dirty = 1;
		if (got < k)
			break;
		if ((size_t)r < READ_CHUNK && k == (size_t)r)
			break;
	}
	return total;
}

static void scan(int initial)
{
	for (size_t i = 0; i < ntf; i++)
		tf[i]->seen = 0;
	for (int p = 0; p < opt.npatterns; p++) {
		glob_t g;
		if (glob(opt.patterns[p], GLOB_NOSORT, NULL, &g) != 0)
			continue;
		for (size_t k = 0; k < g.gl_pathc; k++) {
			struct stat st;
			if (stat(g.gl_pathv[k], &st) < 0 || !S_ISREG(st.st_mode))
				continue;
			size_t i;
			for (i = 0; i < ntf; i++)
				if (tf[i]->dev == st.st_dev && tf[i]->ino == st.st_ino)
					break;
			if (i < ntf) {
				tf[i]->seen = 1;
				if (strcmp(tf[i]->path, g.gl_pathv[k]) && !strcmp(opt.patterns[p], g.gl_pathv[k])) {
					free(tf[i]->path);
					tf[i]->path = strdup(g.gl_pathv[k]);
				}
				continue;
			}
			int fd = open(g.gl_pathv[k], O_RDONLY | O_CLOEXEC);
			if (fd < 0) {
				warn("cannot open '%s'", g.gl_pathv[k]);
				continue;
			}
			track(g.gl_pathv[k], fd, &st, initial)->seen = 1;
		}
		globfree(&g);
	}
	/* files no longer under a watched name: rotated away, drain then drop */
	for (size_t i = 0; i < ntf; i++)
		if (!tf[i]->seen)
			tf[i]->rotated = 1;
}

/* at start: saved files that were rotated away while we were down */
static void resume_rotated(void)
{
	for (size_t i = 0; i < nsaved; i++) {
		struct pos *p = &saved[i];
		if (p->used)
			continue;
		char *c = strdup(p->path), *d = dirname(c);
		DIR *dir = opendir(d);
		struct dirent *de;
		while (dir && (de = readdir(dir))) {
			if (de->d_ino != p->ino)
				continue;
			char path[4096];
			snprintf(path, sizeof(path), "%s/%s", d, de->d_name);
			struct stat st;
			int fd = open(path, O_RDONLY | O_CLOEXEC);
			if (fd < 0)
				break;
			if (fstat(fd, &st) < 0 || st.st_dev != p->dev || st.st_ino != p->ino) {
				close(fd);
				break;
			}
			struct tfile *t = track(p->path, fd, &st, 0);
			t->rotated = 1;
			break;
		}
		if (dir)
			closedir(dir);
		free(c);
	}
}


/* ---- the module's face (ship.h) ------------------------------------------------------ */

size_t files_ship(const char *stream, const char *data, size_t n, int *fatal)
{
	return ship(NULL, stream, data, n, fatal);
}

void files_start(const struct files_opts *o)
{
	opt = *o;
	if (!opt.npatterns)
		return;
	load_positions();
	scan(1);
	resume_rotated();
	save_positions();   /* new files' nonces are saved before anything is sent */
}

void files_round(void)
{
	for (size_t i = 0; i < ntf; i++)
		pump(tf[i], 0);
	/* rotated files: drop after 3 idle rounds, shipping a last partial line */
	for (size_t i = 0; i < ntf;) {
		if (tf[i]->rotated) {
			if (pump(tf[i], tf[i]->idle >= 2) == 0 && ++tf[i]->idle > 3) {
				untrack(i);
				continue;
			}
		}
		i++;
	}
	save_positions();
}

void files_rescan(void)
{
	if (!opt.npatterns)
		return;
	scan(0);
	save_positions();
}

void files_stop(void)
{
	for (size_t i = 0; i < ntf; i++)
		pump(tf[i], 0);
	dirty = 1;
	save_positions();
}

void files_status(struct obs_buf *out)
{
	for (size_t i = 0; i < ntf; i++)
		obs_buf_printf(out, "file path=%s stream=%s offset=%llu sent=%llu%s\n", tf[i]->path, tf[i]->stream,
			       (unsigned long long)tf[i]->off, (unsigned long long)tf[i]->sent,
			       tf[i]->rotated ? " rotated" : "");
}

int files_failed(void)
{
	return failed;
}

void files_free(void)
{
	while (ntf)
		untrack(ntf - 1);
	free(tf);
	tf = NULL;
	for (size_t i = 0; i < nsaved; i++)
		free(saved[i].path);
	free(saved);
	saved = NULL;
	nsaved = 0;
	obs_buf_release(&pol_out);
	free(buf);
	buf = NULL;
}
