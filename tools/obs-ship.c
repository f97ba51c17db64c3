/* obs-ship — the host agent next to the mount: follows log files (and a
 * command's output) into log streams, MOUNT/logs/STREAM, applying the log
 * policy (ship_policy.c); scrapes /metrics targets (ship_scrape.c); listens
 * for StatsD (ship_statsd.c); everything goes through the sink
 * (ship_spool.c), which spools while the mount is gone. This file holds
 * the options, the --cmd reader, the status file and the main loop; the
 * followed files and their position file are ship_files.c.
 *
 * Tests arm fault points from OBS_FAULT (lib/core/fault.h):
 * "ship.after_write" and "ship.after_replay" kill the agent (SIGKILL) right
 * after a batch was written, before its position (file or spool) is saved. */
#include <err.h>
#include <errno.h>
#include <getopt.h>
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
#include "core/fault.h"
#include "core/fileio.h"
#include "core/obstime.h"
#include "ingest/statsagg.h"
#include "ship.h"

static volatile sig_atomic_t stopping;
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
		if (files_ship(stream, cmd_buf.data, k, &fatal) < k)
			failed = 1;   /* the command's output cannot wait */
		memmove(cmd_buf.data, cmd_buf.data + k, cmd_buf.len - k);
		cmd_buf.len -= k;
	}
	return r > 0;
}

/* ---- status ------------------------------------------------------------------------ */

static const char *status_file;
static int64_t started_ms;

static void write_status(const struct policy *policy)
{
	struct obs_buf b;
	char t0[40], tn[40];
	obs_buf_init(&b);
	obs_time_format(started_ms, OBS_TIME_RFC3339, t0);
	obs_time_format(obs_time_now(), OBS_TIME_RFC3339, tn);
	obs_buf_printf(&b, "agent pid=%d started=%s updated=%s\n", (int)getpid(), t0, tn);
	sink_status(&b);
	scrape_status(&b);
	statsd_status(&b);
	files_status(&b);
	policy_status(policy, &b);
	int rc = b.data ? obs_write_file_replace(status_file, b.data, b.len) : -ENOMEM;
	if (rc) {
		static int warned;
		errno = -rc;
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
	char mbuf[4096], pbuf[4096], sbuf[4096], qbuf[4096], host[64] = "host";
	struct files_opts fo = { .host = host };
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
		case 's': fo.fixed_stream = optarg; break;
		case 'p': fo.posfile = optarg; break;
		case 'c': cmd = optarg; break;
		case 'e': fo.from_end = 1; break;
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
	fo.patterns = argv + optind;
	fo.npatterns = argc - optind;
	int npatterns = fo.npatterns;
	int metrics = ndefs || so.targets_file || uo.listen;
	if (!npatterns && !cmd && !metrics)
		errx(2, "nothing to do: give files, --cmd, --scrape, --targets or --statsd");
	if (cmd && !fo.fixed_stream)
		fo.fixed_stream = npatterns ? NULL : "cmd";
	if (cmd && npatterns && !fo.fixed_stream)
		errx(2, "--cmd with files needs -s STREAM");
	if (!fo.posfile && npatterns) {
		snprintf(pbuf, sizeof(pbuf), "%s/.obs-ship.pos", h);
		fo.posfile = pbuf;
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
		fo.policy = policy_parse(text, len, &ln, why, sizeof(why));
		free(text);
		if (!fo.policy)
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
		char *d = strdup(fo.patterns[p]), *dn = dirname(d);
		if (inotify_add_watch(in, dn, IN_MODIFY | IN_CREATE | IN_MOVED_TO | IN_MOVED_FROM | IN_DELETE |
						   IN_CLOSE_WRITE | IN_ATTRIB) < 0)
			warn("cannot watch '%s'", dn);
		free(d);
	}
	files_start(&fo);
	if (cmd)
		cmd_start(cmd);
	const char *cmd_stream = fo.fixed_stream ? fo.fixed_stream : "cmd";
	int64_t last_status = 0;
	while (!stopping) {
		sink_tick();
		files_round();
		if (obs_time_now() - last_status >= 1000) {
			write_status(fo.policy);
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
		files_rescan();
	}
	/* clean stop: ship what is complete, flush StatsD, remember where we are */
	scrape_stop();
	statsd_stop();
	sink_tick();
	files_stop();
	if (cmd_pid > 0) {
		kill(cmd_pid, SIGTERM);
		while (cmd_fd >= 0 && cmd_pump(cmd_stream, 1))
			;
		waitpid(cmd_pid, NULL, 0);
	}
	obs_buf_release(&cmd_buf);
	write_status(fo.policy);
	scrape_free();
	sink_close();
	files_free();
	policy_free(fo.policy);
	return failed || files_failed() ? 1 : 0;
}

