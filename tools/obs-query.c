/* obs-query — PromQL from the shell.
 *
 * `obs-query test FILE...` runs files in Prometheus' promqltest format
 * against a fresh in-memory engine and prints, per file, each failing eval
 * and "FILE: P passed, F failed, S skipped". Querying a mount comes with
 * the mount's query file. */
#include <err.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "query_promqltest.h"

static void usage(FILE *f)
{
	fprintf(f, "usage: obs-query test [-v] file ...\n"
		   "       obs-query [-m mount] [--time T | --start A --end B --step S] [-o text|json] expr\n");
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

int main(int argc, char **argv)
{
	if (argc >= 2 && strcmp(argv[1], "test") == 0)
		return cmd_test(argc - 1, argv + 1);
	if (argc >= 2 && (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0)) {
		usage(stdout);
		return 0;
	}
	if (argc < 2) {
		usage(stderr);
		return 2;
	}
	warnx("querying a mount needs the mount's query file, which is not there yet; use 'obs-query test FILE...' for now");
	return 2;
}
