/* ship_util.c — obs-ship's small shared pieces: option values (durations,
 * sizes) and `obs-ship --status`, which prints the status file the running
 * agent rewrites every second. */
#include <err.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <inttypes.h>

#include "core/buf.h"
#include "core/num.h"
#include "core/obstime.h"
#include "ship.h"

int ship_put_value_ts(struct obs_buf *out, double v, int64_t ms)
{
	char num[40];
	obs_num_format(v, num);
	uint64_t mag = ms < 0 ? 0 - (uint64_t)ms : (uint64_t)ms;
	return obs_buf_printf(out, " %s %s%" PRIu64 ".%03" PRIu64, num, ms < 0 ? "-" : "", mag / 1000, mag % 1000);
}

int64_t ship_duration_arg(const char *s)
{
	int64_t ms;
	if (obs_duration_parse(s, strlen(s), &ms) || ms <= 0)
		errx(2, "invalid duration '%s'", s);
	return ms;
}

uint64_t ship_size_arg(const char *s)
{
	char *e;
	double v = strtod(s, &e);
	uint64_t m = 1;
	if (*e == 'k' || *e == 'K')
		m = 1024, e++;
	else if (*e == 'M')
		m = 1024 * 1024, e++;
	else if (*e == 'G')
		m = 1024ull * 1024 * 1024, e++;
	if (e == s || *e || !(v > 0))
		errx(2, "invalid size '%s'", s);
	return (uint64_t)(v * (double)m);
}

/* obs-ship --status: print the running agent's status file */
int ship_show_status(const char *status_file)
{
	char *text;
	size_t len;
	int rc = obs_read_file(status_file, 0, &text, &len);
	if (rc) {
		warnx("no status in '%s': %s (is obs-ship running?)", status_file, strerror(-rc));
		return 2;
	}
	int pid = 0;
	sscanf(text, "agent pid=%d", &pid);
	fwrite(text, 1, len, stdout);
	free(text);
	if (fclose(stdout) != 0)
		err(2, "stdout");
	if (pid <= 0 || (kill(pid, 0) < 0 && errno == ESRCH)) {
		warnx("the agent (pid %d) is not running: this status is old", pid);
		return 1;
	}
	return 0;
}

