/* bench_ship_stale.c — what obs-ship's staleness bookkeeping (ship_stale.c)
 * costs per scrape: N series added, sorted and compared with the previous
 * scrape's set (no series went away, the common case).
 *
 * Build and run (from the repository root, after `make`):
 *   cc -O2 -D_GNU_SOURCE -Ilib -Itools tests/bench/bench_ship_stale.c \
 *      tools/ship_stale.c tools/ship_util.c build/libobs.a -lxxhash -o build/bench_ship_stale
 *   build/bench_ship_stale [series]      (default 1000)
 *
 * Prints the best of 50 scrapes in ms. */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "ship.h"

static double now_ms(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec * 1e3 + (double)t.tv_nsec / 1e6;
}

int main(int argc, char **argv)
{
	int n = argc > 1 ? atoi(argv[1]) : 1000;
	struct stale_set prev, cur;
	struct obs_buf out;
	stale_set_init(&prev);
	stale_set_init(&cur);
	obs_buf_init(&out);
	double best = 1e9;
	for (int r = 0; r < 50; r++) {
		double t0 = now_ms();
		for (int i = 0; i < n; i++) {
			char l[200];
			int len = snprintf(l, sizeof l,
					   "bench_value{instance=\"127.0.0.1:4000\",job=\"scrape\",kind=\"k%d\",shard=\"%d\"}",
					   i % 7, i);
			if (stale_set_add(&cur, l, (size_t)len))
				return 1;
		}
		stale_set_sort(&cur);
		if (stale_set_markers(&prev, &cur, 1, &out))
			return 1;
		stale_set_swap(&prev, &cur);
		stale_set_reset(&cur);
		double d = now_ms() - t0;
		best = d < best ? d : best;
	}
	printf("stale bookkeeping, %d series: best %.3f ms per scrape (%zu bytes of markers)\n", n, best, out.len);
	stale_set_release(&prev);
	stale_set_release(&cur);
	obs_buf_release(&out);
	return 0;
}
