/* am_drive.c — test helper (as git's test-tool): drives lib/alert's notifier
 * from shell tests with the wall clock, so bats can check deliveries to a
 * real Alertmanager, a webhook server and exec hooks.
 *
 *   am-drive [-u] CONFIG STATEDIR < commands
 *
 * -u: the config is untrusted (exec hooks refused). Commands, one a line:
 *   firing {labels} [{annotations}]   an alert firing since now (valid 1h)
 *   resolved {labels}                 the alert resolved now
 *   sync                              wait until the notifier caught up
 *   sleep MS
 *   stats | alerts | groups           print the notifier's renderings
 * Errors logged by the notifier are printed to stderr at exit. */
#include <err.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "alert/notify.h"
#include "core/errlog.h"
#include "core/fileio.h"
#include "core/obstime.h"

static int parse_alert(char *s, struct am_alert *a)
{
	am_alert_init(a);
	char *ann = strstr(s, "} {");
	if (ann) {
		ann[1] = 0;
		ann += 2;
	}
	const char *why = NULL;
	if (obs_labels_parse(s, strlen(s), &a->labels, &why))
		return -1;
	if (ann && obs_labels_parse(ann, strlen(ann), &a->annotations, &why)) {
		am_alert_release(a);
		return -1;
	}
	a->generator_url = strdup("http://obsfs.test/alerts");
	return 0;
}

int main(int argc, char **argv)
{
	int trusted = 1, c;
	while ((c = getopt(argc, argv, "u")) != -1)
		if (c == 'u')
			trusted = 0;
	if (argc - optind != 2)
		errx(2, "usage: am-drive [-u] config statedir < commands");
	struct obs_buf text, e;
	obs_buf_init(&text);
	obs_buf_init(&e);
	int rc = obs_read_file_buf(argv[optind], 0, &text);
	if (rc)
		errx(2, "cannot read '%s': %s", argv[optind], strerror(-rc));
	struct obs_errlog *el = obs_errlog_new(256);
	struct am_notifier_opts o = { .state_dir = argv[optind + 1], .errlog = el,
				      .external_url = "http://obsfs.test/" };
	struct am_notifier *n;
	if (am_notifier_new(&o, &n))
		errx(2, "cannot start the notifier");
	if (am_notifier_set_config(n, text.data, text.len, trusted, &e))
		errx(2, "bad config: %s", e.data);
	char line[8192];
	while (fgets(line, sizeof(line), stdin)) {
		line[strcspn(line, "\n")] = 0;
		struct am_alert a;
		int64_t now = obs_time_now();
		if (!strncmp(line, "firing ", 7) || !strncmp(line, "resolved ", 9)) {
			int firing = line[0] == 'f';
			if (parse_alert(line + (firing ? 7 : 9), &a))
				errx(2, "bad alert line '%s'", line);
			a.starts_at = now;
			a.ends_at = firing ? now + 3600000 : now;
			if (am_notifier_put(n, &a, 1, 1))
				errx(2, "put failed");
			am_alert_release(&a);
		} else if (!strcmp(line, "sync")) {
			if (am_notifier_sync(n, 30000))
				errx(2, "sync timed out");
		} else if (!strncmp(line, "sleep ", 6)) {
			usleep((useconds_t)atoi(line + 6) * 1000);
		} else if (!strcmp(line, "stats") || !strcmp(line, "alerts") || !strcmp(line, "groups")) {
			struct obs_buf b;
			obs_buf_init(&b);
			if (line[0] == 's')
				am_notifier_render_stats(n, &b);
			else if (line[0] == 'a')
				am_notifier_render_alerts(n, &b);
			else
				am_notifier_render_groups(n, &b);
			fputs(b.data ? b.data : "", stdout);
			fflush(stdout);
			obs_buf_release(&b);
		} else if (*line && *line != '#') {
			errx(2, "unknown command '%s'", line);
		}
	}
	am_notifier_free(n);
	struct obs_buf b;
	obs_buf_init(&b);
	obs_errlog_render(el, &b);
	fputs(b.data ? b.data : "", stderr);
	obs_buf_release(&b);
	obs_errlog_free(el);
	obs_buf_release(&text);
	obs_buf_release(&e);
	return 0;
}
