/* obs-ship — the host agent next to the mount: follows log files (and a
 * command's output) into log streams, MOUNT/logs/STREAM, applying the log
 * policy (ship_policy.c); scrapes /metrics targets (ship_scrape.c); listens
 * for StatsD (ship_statsd.c); everything goes through the sink
 * (ship_spool.c), which spools while the mount is gone.
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
 * Tests arm fault points from OBS_FAULT (lib/core/fault.h):
 * "ship.after_write" and "ship.after_replay" kill the agent (SIGKILL) right
 * after a batch was written, before its position (file or spool) is saved. */
#include <dirent.h>
#include <err.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <glob.h>
#include <libgen.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <sys/random.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "core/buf.h"
#include "core/crc32c.h"
#include "core/fault.h"
#include "core/fileio.h"
#include "core/obstime.h"
#include "ingest/statsagg.h"
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
static struct policy *policy;
static char host[64] = "host";
static char **patterns;
static int npatterns;
static const char *posfile, *fixed_stream;
static int from_end;
static volatile sig_atomic_t stopping;
static int dirty;
static int failed;

static void usage(FILE *f)
{
	fprintf(f, "usage: obs-ship [-eh] [-d dir | -m mount] [-s stream] [-p posfile] [-c command]\n"
		   "                [--policy file] [--spool dir] [--spool-max size] [--status-file file]\n"
		   "                [--scrape url [--job name] [--interval dur] [--timeout dur]] ...\n"
		   "                [--targets file] [--honor-labels] [--no-honor-timestamps]\n"
		   "                [--statsd host:port] [--flush dur] [--percentiles list]\n"
		   "                [--statsd-max-packet bytes] [file | pattern ...]\n"
		   "       obs-ship --status [--status-file file]\n");
}

static void on_signal(int sig)
{
	stopping = 1;
}

static char *stream_of(const char *path)
{
	if (fixed_stream)
		return strdup(fixed_stream);
	char *c = strdup(path), *b = strdup(basename(c));
	free(c);
	size_t l = strlen(b);
	if (l > 4 && !strcmp(b + l - 4, ".log"))
		b[l - 4] = 0;
	return b;
}

static struct obs_buf pol_out;

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
		snprintf(key, sizeof(key), "f:%s:%016llx", host, (unsigned long long)t->nonce);
	while (n > 0) {
		size_t k = n;
		if (k > BATCH_MAX) {
			const char *nl = memrchr(data, '\n', BATCH_MAX);
			k = nl ? (size_t)(nl - data) + 1 : (size_t)((const char *)memchr(data, '\n', n) - data) + 1;
		}
		const char *out = data;
		size_t outn = k;
		if (policy) {
			obs_buf_reset(&pol_out);
			if (policy_apply(policy, stream, data, k, &pol_out))
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
	FILE *f = fopen(posfile, "r");
	if (!f) {
		if (errno != ENOENT)
			warn("cannot read position file '%s'", posfile);
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
	if (!dirty || !posfile)
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
		rc = obs_write_file_atomic(posfile, b.data, b.len, NULL);
	obs_buf_release(&b);
	if (rc) {
		errno = -rc;
		warn("cannot write position file '%s'", posfile);
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
	t->off = initial && from_end ? st->st_size : 0;
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
	static char *buf;
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
	for (int p = 0; p < npatterns; p++) {
		glob_t g;
		if (glob(patterns[p], GLOB_NOSORT, NULL, &g) != 0)
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
				if (strcmp(tf[i]->path, g.gl_pathv[k]) && !strcmp(patterns[p], g.gl_pathv[k])) {
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

/* ---- --cmd ------------------------------------------------------------------------ */

static pid_t cmd_pid = -1;
static int cmd_fd = -1;
static struct obs_buf cmd_buf;

static void cmd_start(const char *cmd)
{
	int p[2];
	if (pipe(p) < 0)
		err(2, "pipe");
	cmd_pid = fork();
	if (cmd_pid < 0)
		err(2, "fork");
	if (cmd_pid == 0) {
		dup2(p[1], 1);
		close(p[0]);
		close(p[1]);
		execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
		_exit(127);
	}
	close(p[1]);
	cmd_fd = p[0];
	obs_buf_init(&cmd_buf);
}

/* read what the command wrote; 1 while it is open, 0 at EOF */
static int cmd_pump(const char *stream, int eof_flush)
{
	char b[65536];
	ssize_t r = read(cmd_fd, b, sizeof(b));
	if (r < 0 && errno == EINTR)
		return 1;
	if (r > 0 && obs_buf_append(&cmd_buf, b, (size_t)r) < 0)
		err(2, "out of memory");
	if (r <= 0 && cmd_buf.len && cmd_buf.data[cmd_buf.len - 1] != '\n')
		obs_buf_putc(&cmd_buf, '\n');
	char *nl = cmd_buf.len ? memrchr(cmd_buf.data, '\n', cmd_buf.len) : NULL;
	if (nl) {
		size_t k = (size_t)(nl - cmd_buf.data) + 1;
		int fatal = 0;
		if (ship(NULL, stream, cmd_buf.data, k, &fatal) < k)
			failed = 1;   /* the command's output cannot wait */
		memmove(cmd_buf.data, cmd_buf.data + k, cmd_buf.len - k);
		cmd_buf.len -= k;
	}
	return r > 0;
}

/* ---- status ------------------------------------------------------------------------ */

static const char *status_file;
static int64_t started_ms;

static void write_status(void)
{
	struct obs_buf b;
	char t0[40], tn[40], tmp[4200];
	obs_buf_init(&b);
	obs_time_format(started_ms, OBS_TIME_RFC3339, t0);
	obs_time_format(obs_time_now(), OBS_TIME_RFC3339, tn);
	obs_buf_printf(&b, "agent pid=%d started=%s updated=%s\n", (int)getpid(), t0, tn);
	sink_status(&b);
	scrape_status(&b);
	statsd_status(&b);
	for (size_t i = 0; i < ntf; i++)
		obs_buf_printf(&b, "file path=%s stream=%s offset=%llu sent=%llu%s\n", tf[i]->path, tf[i]->stream,
			       (unsigned long long)tf[i]->off, (unsigned long long)tf[i]->sent,
			       tf[i]->rotated ? " rotated" : "");
	policy_status(policy, &b);
	snprintf(tmp, sizeof(tmp), "%s.tmp", status_file);
	FILE *f = fopen(tmp, "w");
	if (!f || fwrite(b.data, 1, b.len, f) != b.len || fclose(f) != 0 || rename(tmp, status_file) < 0) {
		static int warned;
		if (!warned++)
			warn("cannot write status file '%s'", status_file);
	}
	obs_buf_release(&b);
}

/* ---- options ------------------------------------------------------------------------ */

enum {
	O_SCRAPE = 256, O_JOB, O_INTERVAL, O_TIMEOUT, O_TARGETS, O_HONOR_LABELS, O_NO_HONOR_TS, O_STATSD, O_FLUSH,
	O_PCTS, O_MAXPKT, O_POLICY, O_SPOOL, O_SPOOL_MAX, O_STATUS, O_STATUS_FILE,
};

int main(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "dir", required_argument, 0, 'd' }, { "mount", required_argument, 0, 'm' },
		{ "stream", required_argument, 0, 's' }, { "positions", required_argument, 0, 'p' },
		{ "cmd", required_argument, 0, 'c' }, { "from-end", no_argument, 0, 'e' },
		{ "help", no_argument, 0, 'h' }, { "scrape", required_argument, 0, O_SCRAPE },
		{ "job", required_argument, 0, O_JOB }, { "interval", required_argument, 0, O_INTERVAL },
		{ "timeout", required_argument, 0, O_TIMEOUT }, { "targets", required_argument, 0, O_TARGETS },
		{ "honor-labels", no_argument, 0, O_HONOR_LABELS },
		{ "no-honor-timestamps", no_argument, 0, O_NO_HONOR_TS },
		{ "statsd", required_argument, 0, O_STATSD }, { "flush", required_argument, 0, O_FLUSH },
		{ "percentiles", required_argument, 0, O_PCTS }, { "statsd-max-packet", required_argument, 0, O_MAXPKT },
		{ "policy", required_argument, 0, O_POLICY }, { "spool", required_argument, 0, O_SPOOL },
		{ "spool-max", required_argument, 0, O_SPOOL_MAX }, { "status", no_argument, 0, O_STATUS },
		{ "status-file", required_argument, 0, O_STATUS_FILE }, { 0, 0, 0, 0 },
	};
	const char *mount = NULL, *cmd = NULL, *outdir = NULL, *policy_file = NULL, *spooldir = NULL;
	const char *job = NULL;
	char mbuf[4096], pbuf[4096], sbuf[4096], qbuf[4096];
	struct target_def *defs = NULL;
	size_t ndefs = 0;
	struct scrape_opts so = { .interval_ms = 15000, .timeout_ms = 10000, .honor_labels = 0, .honor_timestamps = 1 };
	struct statsd_opts uo = { .flush_ms = 10000, .max_packet = 8192 };
	double pcts[OBS_STATSAGG_MAX_PCTS] = { 90 };
	uo.pcts = pcts;
	uo.npcts = 1;
	uint64_t spool_max = 256ull << 20;
	int want_status = 0;
	int c;
	const char *faults = getenv("OBS_FAULT");
	if (faults && *faults && obs_fault_parse(faults))
		errx(2, "invalid OBS_FAULT '%s' (point:skip:errno[:count],...)", faults);
	/* first: a SIGTERM that comes early still means a clean stop */
	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	while ((c = getopt_long(argc, argv, "d:m:s:p:c:eh", lo, NULL)) != -1) {
		struct target_def *last = ndefs ? &defs[ndefs - 1] : NULL;
		switch (c) {
		case 'd': outdir = optarg; break;
		case 'm': mount = optarg; break;
		case 's': fixed_stream = optarg; break;
		case 'p': posfile = optarg; break;
		case 'c': cmd = optarg; break;
		case 'e': from_end = 1; break;
		case 'h': usage(stdout); return 0;
		case O_SCRAPE: {
			const char *why;
			size_t ln;
			if (targets_parse(optarg, strlen(optarg), job, &defs, &ndefs, &ln, &why) || !ndefs ||
			    strchr(optarg, ' '))
				errx(2, "invalid target '%s': %s", optarg, why ? why : "expected one URL");
			break;
		}
		case O_JOB:   /* after --scrape: that target's; before: the default */
			if (last) {
				free(last->job);
				last->job = strdup(optarg);
			} else {
				job = optarg;
			}
			break;
		case O_INTERVAL:
			if (last)
				last->interval_ms = ship_duration_arg(optarg);
			else
				so.interval_ms = ship_duration_arg(optarg);
			break;
		case O_TIMEOUT:
			if (last)
				last->timeout_ms = ship_duration_arg(optarg);
			else
				so.timeout_ms = ship_duration_arg(optarg);
			break;
		case O_TARGETS: so.targets_file = optarg; break;
		case O_HONOR_LABELS: so.honor_labels = 1; break;
		case O_NO_HONOR_TS: so.honor_timestamps = 0; break;
		case O_STATSD: uo.listen = optarg; break;
		case O_FLUSH: uo.flush_ms = ship_duration_arg(optarg); break;
		case O_PCTS: {
			uo.npcts = 0;
			for (char *t = strtok(optarg, ","); t; t = strtok(NULL, ",")) {
				char *e;
				double v = strtod(t, &e);
				if (e == t || *e || !(v > 0 && v <= 100) || uo.npcts == OBS_STATSAGG_MAX_PCTS)
					errx(2, "invalid percentile '%s'", t);
				pcts[uo.npcts++] = v;
			}
			break;
		}
		case O_MAXPKT:
			uo.max_packet = (size_t)ship_size_arg(optarg);
			if (uo.max_packet > 65535)
				errx(2, "invalid packet size '%s' (at most 65535)", optarg);
			break;
		case O_POLICY: policy_file = optarg; break;
		case O_SPOOL: spooldir = optarg; break;
		case O_SPOOL_MAX: spool_max = ship_size_arg(optarg); break;
		case O_STATUS: want_status = 1; break;
		case O_STATUS_FILE: status_file = optarg; break;
		default: usage(stderr); return 2;
		}
	}
	const char *h = getenv("HOME");
	h = h && *h ? h : ".";
	if (!status_file) {
		snprintf(sbuf, sizeof(sbuf), "%s/.obs-ship.status", h);
		status_file = sbuf;
	}
	if (want_status)
		return ship_show_status(status_file);
	if (!outdir && !mount) {
		mount = getenv("OBS_MOUNT");
		if (!mount || !*mount)
			errx(2, "no destination: give -d DIR, -m MOUNT or set OBS_MOUNT");
	}
	if (outdir && mount)
		errx(2, "give -d or -m, not both");
	if (outdir) {
		struct stat st;
		if (stat(outdir, &st) < 0 || !S_ISDIR(st.st_mode))
			errx(2, "'%s' is not a directory", outdir);
		if (ndefs || so.targets_file || uo.listen)
			errx(2, "--scrape, --targets and --statsd write metrics: they need -m MOUNT");
	} else {
		snprintf(mbuf, sizeof(mbuf), "%s/logs", mount);
		struct stat st;
		if (stat(mbuf, &st) < 0 || !S_ISDIR(st.st_mode))
			warnx("'%s' is not a mounted obsfs now: spooling until it is", mount);
	}
	patterns = argv + optind;
	npatterns = argc - optind;
	int metrics = ndefs || so.targets_file || uo.listen;
	if (!npatterns && !cmd && !metrics)
		errx(2, "nothing to do: give files, --cmd, --scrape, --targets or --statsd");
	if (cmd && !fixed_stream)
		fixed_stream = npatterns ? NULL : "cmd";
	if (cmd && npatterns && !fixed_stream)
		errx(2, "--cmd with files needs -s STREAM");
	if (!posfile && npatterns) {
		snprintf(pbuf, sizeof(pbuf), "%s/.obs-ship.pos", h);
		posfile = pbuf;
	}
	if (!spooldir && mount) {
		snprintf(qbuf, sizeof(qbuf), "%s/.obs-ship.spool", h);
		spooldir = qbuf;
	}
	if (policy_file) {
		char *text, why[256] = "";
		size_t len, ln = 0;
		int rc = obs_read_file(policy_file, 0, &text, &len);
		if (rc)
			errx(2, "cannot read policy '%s': %s", policy_file, strerror(-rc));
		policy = policy_parse(text, len, &ln, why, sizeof(why));
		free(text);
		if (!policy)
			errx(2, "policy '%s' line %zu: %s", policy_file, ln, why[0] ? why : "out of memory");
	}
	gethostname(host, sizeof(host) - 1);
	for (char *p = host; *p; p++)
		if (*p <= ' ' || *p > '~' || *p == ':')
			*p = '_';
	started_ms = obs_time_now();

	struct sink_opts sk = { .mount = mount, .logdir = outdir, .spooldir = outdir ? NULL : spooldir,
				.spool_max = spool_max };
	if (sink_init(&sk))
		return 2;
	if (metrics && scrape_start(&so, defs, ndefs))
		errx(2, "cannot start scraping");
	for (size_t i = 0; i < ndefs; i++)
		target_def_release(&defs[i]);
	free(defs);
	if (uo.listen && statsd_start(&uo))
		return 2;

	int in = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	if (in < 0)
		err(2, "inotify");
	for (int p = 0; p < npatterns; p++) {
		char *d = strdup(patterns[p]), *dn = dirname(d);
		if (inotify_add_watch(in, dn, IN_MODIFY | IN_CREATE | IN_MOVED_TO | IN_MOVED_FROM | IN_DELETE |
						   IN_CLOSE_WRITE | IN_ATTRIB) < 0)
			warn("cannot watch '%s'", dn);
		free(d);
	}
	if (npatterns) {
		load_positions();
		scan(1);
		resume_rotated();
		save_positions();   /* new files' nonces are saved before anything is sent */
	}
	if (cmd)
		cmd_start(cmd);
	const char *cmd_stream = fixed_stream ? fixed_stream : "cmd";
	int64_t last_status = 0;
	while (!stopping) {
		sink_tick();
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
		if (obs_time_now() - last_status >= 1000) {
			write_status();
			last_status = obs_time_now();
		}
		struct pollfd pf[2] = { { in, POLLIN, 0 }, { cmd_fd, POLLIN, 0 } };
		int np = cmd_fd >= 0 ? 2 : 1;
		int r = poll(pf, (nfds_t)np, 500);
		if (r < 0 && errno != EINTR)
			err(2, "poll");
		if (r > 0 && (pf[0].revents & POLLIN)) {
			char eb[8192];
			while (read(in, eb, sizeof(eb)) > 0)
				;
		}
		if (cmd_fd >= 0 && r > 0 && (pf[1].revents & (POLLIN | POLLHUP))) {
			if (!cmd_pump(cmd_stream, 0)) {
				close(cmd_fd);
				cmd_fd = -1;
				int ws;
				waitpid(cmd_pid, &ws, 0);
				cmd_pid = -1;
				if (!npatterns && !metrics)
					break;
			}
		}
		if (npatterns) {
			scan(0);
			save_positions();
		}
	}
	/* clean stop: ship what is complete, flush StatsD, remember where we are */
	scrape_stop();
	statsd_stop();
	sink_tick();
	for (size_t i = 0; i < ntf; i++)
		pump(tf[i], 0);
	dirty = 1;
	save_positions();
	if (cmd_pid > 0) {
		kill(cmd_pid, SIGTERM);
		while (cmd_fd >= 0 && cmd_pump(cmd_stream, 1))
			;
		waitpid(cmd_pid, NULL, 0);
	}
	write_status();
	scrape_free();
	sink_close();
	policy_free(policy);
	obs_buf_release(&pol_out);
	return failed ? 1 : 0;
}
