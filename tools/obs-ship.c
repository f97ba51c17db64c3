/* obs-ship — host agent: follows log files (and a command's output) and
 * appends their lines to log streams, MOUNT/logs/STREAM.
 *
 * Files are named by paths or glob patterns, re-expanded whenever inotify
 * reports a change in their directories (and every second), so files that
 * appear later are picked up. A file is tracked by (device, inode): rotation
 * by rename keeps the old inode open until it has been drained; rotation by
 * copytruncate shows as a size below the read position and restarts at 0.
 * Only whole lines are shipped, one write(2) per batch of whole lines (a
 * batch never splits a line). After each batch the position of every file
 * (device, inode, offset, fingerprint of its first bytes) is saved to the
 * position file (temp + rename), so a restart resumes exactly there: with a
 * clean stop (SIGTERM/SIGINT) nothing is lost or duplicated. */
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
#include <sys/wait.h>
#include <unistd.h>

#include "core/buf.h"
#include "core/crc32c.h"
#include "core/fileio.h"

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
	int seen, rotated, idle;
};

struct pos {
	dev_t dev;
	ino_t ino;
	off_t off;
	uint32_t fplen, fp;
	char *path;
	int used;
};

struct dest {
	char *stream;
	int fd;
};

static struct tfile **tf;
static size_t ntf;
static struct pos *saved;
static size_t nsaved;
static struct dest *dests;
static size_t ndests;
static char **patterns;
static int npatterns;
static const char *outdir, *posfile, *fixed_stream;
static int from_end;
static volatile sig_atomic_t stopping;
static int dirty;
static int failed;

static void usage(FILE *f)
{
	fprintf(f, "usage: obs-ship [-eh] [-d dir | -m mount] [-s stream] [-p posfile] [-c command]\n"
		   "                [file | pattern ...]\n");
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

static int dest_fd(const char *stream)
{
	for (size_t i = 0; i < ndests; i++)
		if (!strcmp(dests[i].stream, stream))
			return dests[i].fd;
	char p[4096];
	snprintf(p, sizeof(p), "%s/%s", outdir, stream);
	int fd = open(p, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
	if (fd < 0) {
		warn("cannot open '%s'", p);
		return -1;
	}
	dests = realloc(dests, (ndests + 1) * sizeof(*dests));
	if (!dests)
		err(2, "out of memory");
	dests[ndests].stream = strdup(stream);
	dests[ndests].fd = fd;
	ndests++;
	return fd;
}

/* write whole lines data[0..n) (n ends at a '\n') in batches; 0 or -1 */
static int ship(const char *stream, const char *data, size_t n)
{
	int fd = dest_fd(stream);
	if (fd < 0)
		return -1;
	while (n > 0) {
		size_t k = n;
		if (k > BATCH_MAX) {
			const char *nl = memrchr(data, '\n', BATCH_MAX);
			k = nl ? (size_t)(nl - data) + 1 : (size_t)((const char *)memchr(data, '\n', n) - data) + 1;
		}
		size_t done = 0;
		while (done < k) {
			ssize_t w = write(fd, data + done, k - done);
			if (w < 0) {
				if (errno == EINTR)
					continue;
				if (errno == EINVAL) {  /* the store rejected some lines and kept the rest */
					warnx("'%s': some lines were rejected (see MOUNT/errors)", stream);
					done = k;
					break;
				}
				warn("write to stream '%s'", stream);
				return -1;
			}
			done += (size_t)w;
		}
		data += k;
		n -= k;
	}
	return 0;
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
		unsigned long long dev, ino, off;
		unsigned fplen, fp;
		int n = 0;
		if (sscanf(line, "%llu %llu %llu %u %u %n", &dev, &ino, &off, &fplen, &fp, &n) < 5 || !n)
			continue;
		line[strcspn(line, "\n")] = 0;
		saved = realloc(saved, (nsaved + 1) * sizeof(*saved));
		if (!saved)
			err(2, "out of memory");
		saved[nsaved] = (struct pos){ (dev_t)dev, (ino_t)ino, (off_t)off, fplen, fp, strdup(line + n), 0 };
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
		rc = obs_buf_printf(&b, "%llu %llu %llu %u %u %s\n", (unsigned long long)tf[i]->dev,
				    (unsigned long long)tf[i]->ino, (unsigned long long)tf[i]->off, tf[i]->fplen,
				    tf[i]->fp, tf[i]->path);
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
	for (size_t i = 0; i < nsaved; i++) {
		struct pos *p = &saved[i];
		if (p->used || p->dev != st->st_dev || p->ino != st->st_ino)
			continue;
		p->used = 1;
		/* same file if its first bytes are unchanged and it did not shrink */
		uint32_t fl = p->fplen < t->fplen ? p->fplen : t->fplen;
		char b[FP_BYTES];
		ssize_t r = pread(fd, b, fl, 0);
		if (r == (ssize_t)fl && fl == p->fplen && obs_crc32c(0, b, fl) == p->fp && st->st_size >= p->off)
			t->off = p->off;
		else
			t->off = 0;
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
	if (st.st_size < t->off) {  /* copytruncate */
		t->off = 0;
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
			if (ship(t->stream, buf, (size_t)r + 1) == 0) {
				t->off += r;
				total += (size_t)r;
				dirty = 1;
			} else
				failed = 1;
			break;
		} else
			break;
		if (ship(t->stream, buf, k) < 0) {
			failed = 1;
			break;
		}
		t->off += (off_t)k;
		total += k;
		dirty = 1;
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
		if (ship(stream, cmd_buf.data, k) < 0)
			failed = 1;
		memmove(cmd_buf.data, cmd_buf.data + k, cmd_buf.len - k);
		cmd_buf.len -= k;
	}
	return r > 0;
}

int main(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "dir", required_argument, 0, 'd' }, { "mount", required_argument, 0, 'm' },
		{ "stream", required_argument, 0, 's' }, { "positions", required_argument, 0, 'p' },
		{ "cmd", required_argument, 0, 'c' }, { "from-end", no_argument, 0, 'e' },
		{ "help", no_argument, 0, 'h' }, { 0, 0, 0, 0 },
	};
	const char *mount = NULL, *cmd = NULL;
	char mbuf[4096], pbuf[4096];
	int c;
	while ((c = getopt_long(argc, argv, "d:m:s:p:c:eh", lo, NULL)) != -1) {
		switch (c) {
		case 'd': outdir = optarg; break;
		case 'm': mount = optarg; break;
		case 's': fixed_stream = optarg; break;
		case 'p': posfile = optarg; break;
		case 'c': cmd = optarg; break;
		case 'e': from_end = 1; break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (!outdir) {
		if (!mount)
			mount = getenv("OBS_MOUNT");
		if (!mount || !*mount)
			errx(2, "no destination: give -d DIR, -m MOUNT or set OBS_MOUNT");
		snprintf(mbuf, sizeof(mbuf), "%s/logs", mount);
		outdir = mbuf;
	}
	struct stat st;
	if (stat(outdir, &st) < 0 || !S_ISDIR(st.st_mode))
		errx(2, "'%s' is not a directory", outdir);
	patterns = argv + optind;
	npatterns = argc - optind;
	if (!npatterns && !cmd)
		errx(2, "nothing to follow: give files or --cmd");
	if (cmd && !fixed_stream)
		fixed_stream = npatterns ? NULL : "cmd";
	if (cmd && npatterns && !fixed_stream)
		errx(2, "--cmd with files needs -s STREAM");
	if (!posfile && npatterns) {
		const char *h = getenv("HOME");
		snprintf(pbuf, sizeof(pbuf), "%s/.obs-ship.pos", h && *h ? h : ".");
		posfile = pbuf;
	}
	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);

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
	}
	if (cmd)
		cmd_start(cmd);
	const char *cmd_stream = fixed_stream ? fixed_stream : "cmd";
	while (!stopping) {
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
				if (!npatterns)
					break;
			}
		}
		if (npatterns)
			scan(0);
	}
	/* clean stop: ship what is complete, remember where we are */
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
	for (size_t i = 0; i < ndests; i++)
		if (close(dests[i].fd) < 0) {
			warn("close stream '%s'", dests[i].stream);
			failed = 1;
		}
	return failed ? 1 : 0;
}
