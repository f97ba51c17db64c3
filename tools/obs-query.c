/* obs-query — PromQL from the shell.
 *
 * `obs-query [-m MOUNT] [--time T | --start A --end B --step S] [-o
 * text|json] EXPR` evaluates EXPR through MOUNT/query (query_mount.c),
 * with promtool query's habits: times as epoch seconds, RFC3339 or
 * relative (-1h, now); an instant query at now by default; a range query
 * when --start or --end is given, from end - 5m to now and a step of
 * (end - start) / 250 (at least 1 s) unless told.
 *
 * `obs-query test FILE...` runs files in Prometheus' promqltest format
 * against a fresh in-memory engine and prints, per file, each failing eval
 * and "FILE: P passed, F failed, S skipped". */
#include <err.h>
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/obstime.h"
#include "query_mount.h"
#include "query_promqltest.h"

static void usage(FILE *f)
{
	fprintf(f, "usage: obs-query [-m mount] [--time T | --start A --end B --step S] [-o text|json] expr\n"
		   "       obs-query test [-v] file ...\n");
}

static int cmd_test(int argc, char **argv)
{
	int verbose = 0, c;
	optind = 1;
	while ((c = getopt(argc, argv, "vh")) != -1) {
		switch (c) {
		case 'v': verbose = 1; break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (optind >= argc) {
		usage(stderr);
		return 2;
	}
	int status = 0;
	struct pt_stats total = { 0 };
	int nfiles = 0;
	for (int i = optind; i < argc; i++) {
		struct pt_stats st;
		int rc = pt_run_file(argv[i], stdout, verbose, &st);
		if (rc) {
			warnx("cannot read '%s': %s", argv[i], strerror(-rc));
			status = 2;
			continue;
		}
		nfiles++;
		total.passed += st.passed;
		total.failed += st.failed;
		total.skipped += st.skipped;
		if (st.failed && status == 0)
			status = 1;
	}
	if (nfiles > 1) {
		unsigned run = total.passed + total.failed;
		printf("total: %u passed, %u failed, %u skipped (%.1f%% of %u evals that ran)\n", total.passed,
		       total.failed, total.skipped, run ? 100.0 * total.passed / run : 0.0, run);
	}
	if (fclose(stdout) != 0)
		err(2, "stdout");
	return status;
}

static int parse_time(const char *what, const char *s, int64_t now, int64_t *out)
{
	if (obs_time_parse_rel(s, strlen(s), now, out) != 0) {
		warnx("invalid %s '%s': want epoch seconds, RFC3339, 'now' or a relative time like -1h", what, s);
		return -1;
	}
	return 0;
}

static int cmd_query(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "mount", required_argument, NULL, 'm' }, { "time", required_argument, NULL, 't' },
		{ "start", required_argument, NULL, 's' }, { "end", required_argument, NULL, 'e' },
		{ "step", required_argument, NULL, 'S' }, { "output", required_argument, NULL, 'o' },
		{ "help", no_argument, NULL, 'h' }, { NULL, 0, NULL, 0 },
	};
	const char *mount = getenv("OBS_MOUNT"), *tm = NULL, *st = NULL, *en = NULL, *sp = NULL, *of = "text";
	int c;
	optind = 1;
	while ((c = getopt_long(argc, argv, "+m:o:h", lo, NULL)) != -1) {
		switch (c) {
		case 'm': mount = optarg; break;
		case 't': tm = optarg; break;
		case 's': st = optarg; break;
		case 'e': en = optarg; break;
		case 'S': sp = optarg; break;
		case 'o': of = optarg; break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (optind != argc - 1) {
		usage(stderr);
		return 2;
	}
	struct qm_request r = { .expr = argv[optind] };
	if (strcmp(of, "json") == 0)
		r.json = 1;
	else if (strcmp(of, "text") != 0) {
		warnx("invalid output format '%s': want text or json", of);
		return 2;
	}
	if (!mount || !*mount) {
		warnx("no mount: give -m MOUNT or set OBS_MOUNT");
		return 2;
	}
	int64_t now = obs_time_now();
	r.range = st || en || sp;
	if (tm && r.range) {
		warnx("--time is for instant queries; --start, --end and --step for range queries");
		return 2;
	}
	if (!r.range) {
		r.time = now;
		if (tm && parse_time("time", tm, now, &r.time))
			return 2;
	} else {
		r.end = now;
		if (en && parse_time("end", en, now, &r.end))
			return 2;
		r.start = r.end - 5 * 60 * 1000;
		if (st && parse_time("start", st, now, &r.start))
			return 2;
		if (r.end < r.start) {
			warnx("end time '%s' is before start time '%s'", en ? en : "now", st ? st : "end-5m");
			return 2;
		}
		if (sp) {
			if (obs_duration_parse(sp, strlen(sp), &r.step) != 0 || r.step <= 0) {
				warnx("invalid step '%s': want a duration like 15s or seconds", sp);
				return 2;
			}
		} else {
			r.step = (r.end - r.start) / 250 / 1000 * 1000;
			if (r.step < 1000)
				r.step = 1000;
		}
	}
	int status = qm_run(mount, &r, stdout, stderr);
	if (fclose(stdout) != 0 && status == 0) {
		warn("stdout");
		status = 2;
	}
	return status;
}

int main(int argc, char **argv)
{
	if (argc >= 2 && strcmp(argv[1], "test") == 0)
		return cmd_test(argc - 1, argv + 1);
	return cmd_query(argc, argv);
}
