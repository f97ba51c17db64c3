/* main.c — obsfsd: option parsing, opening the data directory, the FUSE loop.
 *
 *   obsfsd [-f] [-d] [-o opt,...] DATADIR MOUNTPOINT
 *
 * The data directory is opened (locked, WAL replayed) before mounting, so a
 * second daemon on the same directory fails with a clear message and a
 * mount is never left half-ready. SIGTERM/SIGINT/SIGHUP unmount cleanly
 * (libfuse's handlers end the loop; reads parked by wait.c are answered
 * with what is there), then the WAL is synced and closed. The session is
 * libfuse's low-level one (ops.c): a read that waits holds no thread. */
#include "obsfs.h"
#include "core/corrupt.h"
#include "core/errlog.h"
#include "core/fault.h"

#include <fuse_lowlevel.h>

#include "logs/logstore.h"
#include "traces/traces.h"
#include "query/query.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <malloc.h>
#include <poll.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct obsfs *obsfs;
int ready_pipe[2] = { -1, -1 };   /* to the waiting parent when daemonized */

struct cli {
	char *datadir, *mountpoint;
	char *ooo_window, *sync_interval, *time_fmt, *sync, *log_retention, *block_span, *retention;
	char *traces_retention, *log_compact_level;
	unsigned long traces_max_line;
	char *alert_interval;
	char *retention_tier[3];
	char *query_max_samples, *query_timeout;
	unsigned long max_series, max_series_per_metric, max_line, log_max_line, log_retention_bytes;
	unsigned long max_exemplars, max_exemplars_per_series;
	char *exemplar_retention;
	int show_help, show_version, wal_recover;
	int allow_other;                 /* -o allow_other was given (passed on to libfuse) */
	unsigned max_read;               /* -o max_read=N (passed on; init must repeat it) */
};

#define OPT(t, p) { t, offsetof(struct cli, p), 1 }
#define KEY_ALLOW_OTHER 1
#define KEY_MAX_READ 2
static const struct fuse_opt cli_opts[] = {
	OPT("ooo_window=%s", ooo_window),
	OPT("sync_interval=%s", sync_interval),
	OPT("time=%s", time_fmt),
	OPT("sync=%s", sync),
	OPT("max_series=%lu", max_series),
	OPT("max_series_per_metric=%lu", max_series_per_metric),
	OPT("max_exemplars=%lu", max_exemplars),
	OPT("max_exemplars_per_series=%lu", max_exemplars_per_series),
	OPT("exemplar_retention=%s", exemplar_retention),
	OPT("max_line=%lu", max_line),
	OPT("log_max_line=%lu", log_max_line),
	OPT("block_span=%s", block_span),
	OPT("retention=%s", retention),
	OPT("retention_1m=%s", retention_tier[0]),
	OPT("retention_5m=%s", retention_tier[1]),
	OPT("retention_1h=%s", retention_tier[2]),
	OPT("log_retention=%s", log_retention),
	OPT("log_retention_bytes=%lu", log_retention_bytes),
	OPT("log_compact_level=%s", log_compact_level),
	OPT("alert_interval=%s", alert_interval),
	OPT("wal_recover", wal_recover),
	OPT("traces_retention=%s", traces_retention),
	OPT("traces_max_line=%lu", traces_max_line),
	OPT("query_max_samples=%s", query_max_samples),
	OPT("query_timeout=%s", query_timeout),
	OPT("-h", show_help),
	OPT("--help", show_help),
	OPT("-V", show_version),
	OPT("--version", show_version),
	FUSE_OPT_KEY("allow_other", KEY_ALLOW_OTHER),
	FUSE_OPT_KEY("max_read=", KEY_MAX_READ),
	FUSE_OPT_END
};

static int positional(void *data, const char *arg, int key, struct fuse_args *outargs)
{
	struct cli *c = data;
	if (key == KEY_ALLOW_OTHER) {
		c->allow_other = 1;
		return 1;   /* libfuse needs it too */
	}
	if (key == KEY_MAX_READ) {
		/* libfuse checks the value itself; its init refuses a session
		 * whose init() does not say the same (ll_init) */
		if (sscanf(arg, "max_read=%u", &c->max_read) != 1)
			c->max_read = 0;
		return 1;
	}
	if (key != FUSE_OPT_KEY_NONOPT)
		return 1;
	if (!c->datadir) {
		c->datadir = strdup(arg);
		return 0;
	}
	if (!c->mountpoint) {
		c->mountpoint = strdup(arg);
		return 1;   /* libfuse needs the mountpoint too */
	}
	fprintf(stderr, "obsfsd: unexpected argument '%s'\n", arg);
	return -1;
}

static void usage(void)
{
	fprintf(stderr,
		"usage: obsfsd [-dfs] [-o option[,option...]] datadir mountpoint\n"
		"       obsfsd -h | -V\n"
		"obsfs options (see obsfsd(8)):\n"
		"  -o ooo_window=DUR            accept samples this far behind a series' head (5m)\n"
		"  -o max_series=N              total series limit (1000000)\n"
		"  -o max_series_per_metric=N   series limit per metric name (100000)\n"
		"  -o max_exemplars=N           exemplars kept in memory, the oldest go first (100000)\n"
		"  -o max_exemplars_per_series=N  ... of one series (1024)\n"
		"  -o exemplar_retention=DUR    drop exemplars older than this (as retention); 0 = keep\n"
		"  -o sync_interval=DUR         WAL group-commit interval, 0 = off (1s)\n"
		"  -o sync=close|fsync          fsync the WAL on close of a written file, or only on fsync() (close)\n"
		"  -o time=rfc3339|epoch        time format of reads (rfc3339)\n"
		"  -o max_line=BYTES            longest accepted metric input line (1048576)\n"
		"  -o block_span=DUR            cut the head into a block once it spans this (2h); 0 = only on ctl compact\n"
		"  -o retention=DUR             drop raw metric blocks older than this (15d); 0 = keep forever\n"
		"  -o retention_1m=DUR, retention_5m=DUR, retention_1h=DUR\n"
		"                               keep rollup tiers this long (90d, 1y, 3y); 0 = forever\n"
		"  -o log_max_line=BYTES        longest accepted log line (65536)\n"
		"  -o log_retention=DUR         drop log segments older than this (15d)\n"
		"  -o log_retention_bytes=N     keep at most N bytes of log segments (no limit)\n"
		"  -o log_compact_level=N       zstd level idle log segments are recompressed at (15); 0 = never\n"
		"  -o traces_retention=DUR      drop kept traces older than this (7d); 0 = keep\n"
		"  -o traces_max_line=BYTES     longest accepted traces/ingest document (16777216)\n"
		"  -o alert_interval=DUR        evaluate rule groups without an interval this often (1m)\n"
		"  -o wal_recover               start on a damaged write-ahead log: keep every valid record, skip the rest\n"
		"  -o query_max_samples=N       fail a query that would hold more samples (50000000); 0 = no limit\n"
		"  -o query_timeout=DUR         fail a query that runs longer (2m); 0 = no limit\n"
		"FUSE options: -f (foreground), -d (debug), -s (single thread), -o allow_other, ...\n");
}

/* Tell why we cannot serve: to the waiting parent when daemonized (it
 * prints it), else on stderr. */
static void report_failure(const char *msg)
{
	if (ready_pipe[1] >= 0) {
		if (write(ready_pipe[1], msg, strlen(msg)) >= 0)
			return;
	}
	fputs(msg, stderr);
}

/* Corruption detected anywhere in lib/ (a segment at load, a frame at
 * read, background re-encoding) becomes a line of MOUNT/errors. */
static void corrupt_to_errors(void *ctx, const char *file, uint64_t off, const char *check, const char *line)
{
	obs_errlog_add(ctx, obs_time_now(), "integrity", 0, line, strlen(line), "failed check");
}

/* After the loop: the parked reads have been answered, and their readers
 * close their files next. Serve what arrives for a moment (until 200 ms
 * pass without a request, 1 s at most), so those closes are answered
 * instead of being aborted (ECONNABORTED) when /dev/fuse is let go. */
static void serve_closes(struct fuse_session *se)
{
	struct fuse_buf buf = { 0 };
	int64_t end = obs_time_now() + 1000;
	fuse_session_reset(se);
	while (obs_time_now() < end) {
		struct pollfd p = { .fd = fuse_session_fd(se), .events = POLLIN };
		if (poll(&p, 1, 200) <= 0 || !(p.revents & POLLIN))
			break;
		if (fuse_session_receive_buf(se, &buf) <= 0)
			break;
		fuse_session_process_buf(se, &buf);
	}
	free(buf.mem);
}

/* Mount se and run the multi-threaded loop until unmounted or signalled;
 * then answer every parked read (wait.c) and unmount. */
static int serve(struct fuse_session *se, const struct fuse_cmdline_opts *fo)
{
	int rc = 1;
	if (obs_fault("fs.mount") || fuse_session_mount(se, fo->mountpoint))   /* tests: a mount that fails */
		return rc;
	if (fuse_set_signal_handlers(se))
		goto unmount;
	if (fo->singlethread) {
		rc = fuse_session_loop(se) < 0 ? 1 : 0;
	} else {
		struct fuse_loop_config *cfg = fuse_loop_cfg_create();
		fuse_loop_cfg_set_clone_fd(cfg, fo->clone_fd);
		fuse_loop_cfg_set_idle_threads(cfg, fo->max_idle_threads > 0 && fo->max_idle_threads < 1000 ? fo->max_idle_threads : 10);
		fuse_loop_cfg_set_max_threads(cfg, fo->max_threads > 0 && fo->max_threads < 1000 ? fo->max_threads : 16);
		rc = fuse_session_loop_mt(se, cfg) < 0 ? 1 : 0;   /* > 0: stopped by a signal, a clean exit */
		fuse_loop_cfg_destroy(cfg);
	}
	if (fs_wait_stop() > 0)
		serve_closes(se);
	fs_wait_release();
	fuse_remove_signal_handlers(se);
unmount:
	fuse_session_unmount(se);
	return rc;
}

static int parse_dur(const char *what, const char *s, int64_t *out)
{
	if (!s)
		return 0;
	if (!strcmp(s, "0")) {
		*out = 0;
		return 0;
	}
	if (obs_duration_parse(s, strlen(s), out)) {
		fprintf(stderr, "obsfsd: invalid duration '%s' for %s\n", s, what);
		return -1;
	}
	return 0;
}

/* every exit of main goes through its cleanup */
#define EXIT(code) do { rc = (code); goto out; } while (0)

int main(int argc, char *argv[])
{
	struct fuse_args args = FUSE_ARGS_INIT(argc, argv);
	struct cli c = { 0 };
	static struct obsfs fs;
	struct fuse_cmdline_opts fo = { 0 };
	struct fuse_session *se = NULL;
	int rc = 0;
	/* glibc gives every FUSE worker thread its own malloc arena; with many
	 * short-lived threads that multiplies resident memory for nothing */
	mallopt(M_ARENA_MAX, 2);
	if (fuse_opt_parse(&args, &c, cli_opts, positional))
		EXIT(2);
	if (c.show_version) {
		printf("obsfsd 0.1 (libfuse %s)\n", fuse_pkgversion());
		EXIT(0);
	}
	if (c.show_help || !c.datadir || !c.mountpoint) {
		usage();
		EXIT(c.show_help ? 0 : 2);
	}

	obsfs = &fs;
	char *abs = realpath(c.datadir, NULL);   /* NULL until the directory exists */
	fs.datadir = abs ? abs : c.datadir;
	fs.mountpoint = c.mountpoint;
	fs.timefmt = OBS_TIME_RFC3339;
	fs.max_line = c.max_line ? c.max_line : 1u << 20;
	fs.sync_on_close = 1;
	fs.mounted_ms = obs_time_now();
	fs.owner = getuid();
	fs.max_write = 1u << 20;
	fs.max_read = c.max_read;
	if (c.time_fmt) {
		if (!strcmp(c.time_fmt, "epoch"))
			fs.timefmt = OBS_TIME_EPOCH;
		else if (strcmp(c.time_fmt, "rfc3339")) {
			fprintf(stderr, "obsfsd: invalid time format '%s' (rfc3339 or epoch)\n", c.time_fmt);
			EXIT(2);
		}
	}
	if (c.sync) {
		if (!strcmp(c.sync, "fsync"))
			fs.sync_on_close = 0;
		else if (strcmp(c.sync, "close")) {
			fprintf(stderr, "obsfsd: invalid sync policy '%s' (close or fsync)\n", c.sync);
			EXIT(2);
		}
	}

	/* tests fail chosen steps of a live mount (core/fault.h) */
	const char *faults = getenv("OBS_FAULT");
	if (faults && *faults && obs_fault_parse(faults)) {
		fprintf(stderr, "obsfsd: invalid OBS_FAULT '%s' (point:skip:errno[:count],...)\n", faults);
		EXIT(2);
	}

	struct obs_db_opts o;
	obs_db_opts_default(&o);
	int64_t sync_ms = o.sync_interval_ms;
	if (parse_dur("ooo_window", c.ooo_window, &o.ooo_window_ms) ||
	    parse_dur("sync_interval", c.sync_interval, &sync_ms) ||
	    parse_dur("block_span", c.block_span, &o.block_span_ms) ||
	    parse_dur("retention", c.retention, &o.retention_ms) ||
	    parse_dur("exemplar_retention", c.exemplar_retention, &o.exemplar_retention_ms) ||
	    parse_dur("retention_1m", c.retention_tier[0], &o.tier_retention_ms[0]) ||
	    parse_dur("retention_5m", c.retention_tier[1], &o.tier_retention_ms[1]) ||
	    parse_dur("retention_1h", c.retention_tier[2], &o.tier_retention_ms[2]))
		EXIT(2);
	if (sync_ms < 0 || sync_ms > INT_MAX) {
		fprintf(stderr, "obsfsd: invalid duration '%s' for sync_interval (at most %d ms)\n",
			c.sync_interval, INT_MAX);
		EXIT(2);
	}
	o.sync_interval_ms = (int)sync_ms;
	if (c.max_series)
		o.max_series = c.max_series;
	if (c.max_series_per_metric)
		o.max_series_per_metric = c.max_series_per_metric;
	if (c.max_exemplars)
		o.max_exemplars = c.max_exemplars;
	if (c.max_exemplars_per_series)
		o.max_exemplars_per_series = c.max_exemplars_per_series;
	o.wal_recover = c.wal_recover;
	struct obs_logstore_opts lo = { 0 };
	lo.max_line = c.log_max_line ? c.log_max_line : 64 * 1024;
	lo.retention_bytes = c.log_retention_bytes;
	lo.wal_sync_ms = o.sync_interval_ms;
	if (parse_dur("log_retention", c.log_retention, &lo.retention_ms))
		EXIT(2);
	if (c.log_compact_level) {
		char *end;
		long lv = strtol(c.log_compact_level, &end, 10);
		if (end == c.log_compact_level || *end || lv < 0 || lv > 22) {
			fprintf(stderr, "obsfsd: invalid zstd level '%s' for log_compact_level (0 to 22)\n",
				c.log_compact_level);
			EXIT(2);
		}
		lo.compact_level = lv ? (int)lv : -1;
	}
	struct obs_traces_opts to;
	obs_traces_opts_default(&to);
	to.sync_interval_ms = o.sync_interval_ms;
	if (c.traces_retention && parse_dur("traces_retention", c.traces_retention, &to.store.retention_ms))
		EXIT(2);
	fs.traces_max_line = c.traces_max_line ? c.traces_max_line : 16u << 20;
	struct obs_query_opts qo;
	obs_query_opts_default(&qo);
	if (parse_dur("query_timeout", c.query_timeout, &qo.timeout_ms))
		EXIT(2);
	if (c.query_max_samples) {
		char *end;
		errno = 0;
		unsigned long long v = strtoull(c.query_max_samples, &end, 10);
		if (errno || end == c.query_max_samples || *end || c.query_max_samples[0] == '-') {
			fprintf(stderr, "obsfsd: invalid number '%s' for query_max_samples\n", c.query_max_samples);
			EXIT(2);
		}
		qo.max_samples = v;
	}
	int64_t alert_interval_ms = 0;
	if (parse_dur("alert_interval", c.alert_interval, &alert_interval_ms))
		EXIT(2);

	/* With allow_other the kernel checks the modes (0644 series, 0200
	 * ingest and ctl, 0755 directories, all owned by the daemon's user):
	 * other users may read, only the owner may write (obsfsd(8),
	 * PERMISSIONS). The operations check the caller too (ops.c). */
	if (c.allow_other)
		fuse_opt_add_arg(&args, "-odefault_permissions");

	/* Every option is checked before the data directory is touched: the
	 * FUSE ones by building the file system object (nothing is mounted
	 * yet), so an unknown option exits 2 without opening the store. */
	if (fuse_parse_cmdline(&args, &fo))
		EXIT(2);
	se = fuse_session_new(&args, &obsfs_ll_ops, sizeof obsfs_ll_ops, NULL);
	if (!se) {
		fprintf(stderr, "obsfsd: invalid FUSE option (see above)\n");
		EXIT(2);
	}

	/* Daemonize ourselves (not in libfuse) so that the engine's threads are
	 * started in the process that serves, and the parent still reports a
	 * failure to open the data directory or to mount. */
	if (!fo.foreground) {
		/* close-on-exec: the fusermount3 that auto_unmount leaves running
		 * must not hold the write end, or the parent never sees its end */
		if (pipe2(ready_pipe, O_CLOEXEC)) {
			perror("obsfsd: pipe");
			EXIT(1);
		}
		pid_t pid = fork();
		if (pid < 0) {
			perror("obsfsd: fork");
			EXIT(1);
		}
		if (pid > 0) {
			close(ready_pipe[1]);
			char msg[600];
			ssize_t k, got = 0;
			while ((k = read(ready_pipe[0], msg + got, sizeof msg - 1 - (size_t)got)) > 0)
				got += k;
			msg[got > 0 ? got : 0] = 0;
			if (!strcmp(msg, "ok"))
				EXIT(0);
			fprintf(stderr, "%s", got > 0 ? msg : "obsfsd: mount failed\n");
			EXIT(1);
		}
		close(ready_pipe[0]);
		setsid();
	}

	char err[512];
	int64_t t0 = obs_time_now();
	rc = obs_db_open(c.datadir, &o, &fs.db, err, sizeof err);
	if (rc) {
		char msg[600];
		snprintf(msg, sizeof msg, "obsfsd: %s\n", err[0] ? err : strerror(-rc));
		report_failure(msg);
		EXIT(1);
	}
	obs_corrupt_set_sink(corrupt_to_errors, obs_db_errlog(fs.db));
	char ldir[4096];
	snprintf(ldir, sizeof ldir, "%s/logs", c.datadir);
	obs_corrupt_clear();
	rc = obs_logstore_open(ldir, &lo, &fs.logs);
	if (rc) {
		char msg[4800];
		obs_corrupt_set_sink(NULL, NULL);
		snprintf(msg, sizeof msg, "obsfsd: cannot open the log store '%s': %s%s%s\n", ldir, strerror(-rc),
			 rc == -EBADMSG && obs_corrupt_last()[0] ? ": " : "", rc == -EBADMSG ? obs_corrupt_last() : "");
		report_failure(msg);
		obs_db_close(fs.db);
		EXIT(1);
	}
	rc = fs_query_setup(c.datadir, qo.max_samples, qo.timeout_ms, err, sizeof err);
	if (rc) {
		char msg[600];
		snprintf(msg, sizeof msg, "obsfsd: %s\n", err);
		report_failure(msg);
		obs_logstore_close(fs.logs);
		obs_db_close(fs.db);
		EXIT(1);
	}
	rc = traces_start(c.datadir, &to, err, sizeof err);
	if (rc) {
		char msg[600];
		snprintf(msg, sizeof msg, "obsfsd: %s\n", err[0] ? err : strerror(-rc));
		report_failure(msg);
		obs_logstore_close(fs.logs);
		obs_db_close(fs.db);
		EXIT(1);
	}
	struct obs_db_stats st;
	obs_db_get_stats(fs.db, &st);
	fprintf(stderr, "obsfsd: %s: %llu series, %llu samples recovered in %lld ms\n", c.datadir,
		(unsigned long long)st.series, (unsigned long long)st.samples_replayed,
		(long long)(obs_time_now() - t0));
	if (st.wal_skipped_bytes || st.wal_skipped_segments || st.wal_skipped_records || st.wal_skipped_samples)
		fprintf(stderr, "obsfsd: %s: write-ahead log recovery skipped %llu damaged bytes, %llu missing segments, "
			"%llu records that could not be applied, %llu samples of unknown series (also in errors)\n",
			c.datadir, (unsigned long long)st.wal_skipped_bytes, (unsigned long long)st.wal_skipped_segments,
			(unsigned long long)st.wal_skipped_records, (unsigned long long)st.wal_skipped_samples);

	traces_run();
	rc = alerts_start(alert_interval_ms, err, sizeof err);
	if (rc) {
		char msg[600];
		snprintf(msg, sizeof msg, "obsfsd: %s\n", err);
		report_failure(msg);
		traces_stop();
		fs_query_teardown();
		obs_logstore_close(fs.logs);
		obs_db_close(fs.db);
		EXIT(1);
	}
	rc = serve(se, &fo);
	fs_ofiles_release();   /* before the engines and stores their kinds use stop */
	alerts_stop();
	if (ready_pipe[1] >= 0) {   /* the mount failed before init ran */
		if (write(ready_pipe[1], "obsfsd: mount failed\n", 21) < 0)
			rc = 1;
		close(ready_pipe[1]);
	}
	traces_stop();
	fs_query_teardown();
	obs_logstore_close(fs.logs);
	obs_corrupt_set_sink(NULL, NULL);
	obs_db_close(fs.db);
out:
	if (se)
		fuse_session_destroy(se);
	free(fo.mountpoint);
	fuse_opt_free_args(&args);
	free(c.alert_interval);
	char *strs[] = { c.ooo_window, c.sync_interval, c.time_fmt, c.sync, c.log_retention,
			 c.block_span, c.retention, c.retention_tier[0], c.retention_tier[1],
			 c.retention_tier[2], c.traces_retention, c.query_max_samples, c.query_timeout,
			 c.log_compact_level, c.exemplar_retention };
	for (size_t i = 0; i < sizeof strs / sizeof strs[0]; i++)
		free(strs[i]);
	if (fs.datadir && fs.datadir != c.datadir)
		free(fs.datadir);
	free(c.datadir);
	free(c.mountpoint);
	return rc;
}
