/* alert_am.c — `obs-alert check-config FILE...` (amtool check-config's
 * verdicts and report) and `obs-alert silence add|query|expire -m MNT`
 * (amtool silence's words over MOUNT/alerts/silences/). */
#include "alert_am.h"
#include "alert_tool.h"

#include <dirent.h>
#include <err.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "alert/am.h"
#include "alert/amatch.h"
#include "alert/amconfig.h"
#include "core/buf.h"
#include "core/fileio.h"
#include "core/obstime.h"

static void usage_am(FILE *f)
{
	fprintf(f, "usage: obs-alert check-config file ...\n"
		   "       obs-alert silence add -m mnt [-n name] [-d duration | -u until] [-s start]\n"
		   "                 [-a author] [-c comment] matcher ...\n"
		   "       obs-alert silence query -m mnt [-q] [--expired] [matcher ...]\n"
		   "       obs-alert silence expire -m mnt name|id ...\n");
}

/* ---- check-config --------------------------------------------------------- */

static int check_config(int argc, char **argv)
{
	if (argc < 2) {
		usage_am(stderr);
		return 2;
	}
	int failed = 0;
	for (int i = 1; i < argc; i++) {
		struct obs_buf text, e;
		obs_buf_init(&text);
		obs_buf_init(&e);
		printf("Checking '%s'", argv[i]);
		int rc = obs_read_file_buf(argv[i], 0, &text);
		struct am_config *c = NULL;
		if (rc) {
			printf("  FAILED: open %s: %s\n\n", argv[i], strerror(-rc));
			failed++;
		} else if (am_config_parse(text.data ? text.data : "", text.len, &c, &e)) {
			printf("  FAILED: %s\n\n", e.data ? e.data : "invalid config");
			failed++;
		} else {
			printf("  SUCCESS\nFound:\n - global config\n - route\n - %zu inhibit rules\n"
			       " - %zu receivers\n - 0 templates\n", c->ninhibits, c->nreceivers);
			if (c->forward.n)
				printf(" - %zu alertmanagers to forward to\n", c->forward.n);
			if (c->has_exec)
				printf(" - exec receivers (run only when the mount owner wrote the config)\n");
			printf("\n");
		}
		am_config_free(c);
		obs_buf_release(&text);
		obs_buf_release(&e);
	}
	if (failed)
		fprintf(stderr, "obs-alert: error: failed to validate %d file(s)\n", failed);
	if (fflush(stdout) || ferror(stdout))
		return 2;
	return failed ? 1 : 0;
}

/* ---- silences ------------------------------------------------------------- */

static char *silence_dir(const char *mnt)
{
	char *d;
	if (asprintf(&d, "%s/alerts/silences", mnt) < 0)
		err(2, "out of memory");
	return d;
}

static int read_text(const char *path, struct obs_buf *out)
{
	obs_buf_reset(out);
	return obs_read_file_buf(path, 0, out);
}

/* the value of "key: " in a rendered silence, or NULL */
static char *field(const char *text, const char *key)
{
	size_t kn = strlen(key);
	for (const char *p = text; p && *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL) {
		if (!strncmp(p, key, kn) && p[kn] == ':' && p[kn + 1] == ' ') {
			const char *v = p + kn + 2, *e = strchr(v, '\n');
			return strndup(v, e ? (size_t)(e - v) : strlen(v));
		}
	}
	return NULL;
}

static int silence_add(const char *mnt, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "name", required_argument, NULL, 'n' }, { "duration", required_argument, NULL, 'd' },
		{ "until", required_argument, NULL, 'u' }, { "start", required_argument, NULL, 's' },
		{ "author", required_argument, NULL, 'a' }, { "comment", required_argument, NULL, 'c' },
		{ "mount", required_argument, NULL, 'm' }, { NULL, 0, NULL, 0 },
	};
	const char *name = NULL, *dur = NULL, *until = NULL, *start = NULL, *author = getenv("USER"),
		   *comment = NULL;
	int c;
	optind = 1;
	while ((c = getopt_long(argc, argv, "+n:d:u:s:a:c:m:", opts, NULL)) != -1) {
		switch (c) {
		case 'n': name = optarg; break;
		case 'd': dur = optarg; break;
		case 'u': until = optarg; break;
		case 's': start = optarg; break;
		case 'a': author = optarg; break;
		case 'c': comment = optarg; break;
		case 'm': mnt = optarg; break;
		default: usage_am(stderr); return 2;
		}
	}
	if (!mnt || optind >= argc) {
		usage_am(stderr);
		return 2;
	}
	if (dur && until)
		errx(2, "give either --duration or --until");
	struct obs_buf m, text;
	obs_buf_init(&m);
	obs_buf_init(&text);
	/* check the matchers here, to name the bad one */
	struct am_matchers ms;
	alert_matchers_args(argc, argv, optind, &m, &ms);
	am_matchers_release(&ms);
	obs_buf_printf(&text, "matchers: %s\n", m.data);
	if (dur)
		obs_buf_printf(&text, "for: %s\n", dur);
	if (until)
		obs_buf_printf(&text, "until: %s\n", until);
	if (start)
		obs_buf_printf(&text, "starts: %s\n", start);
	if (author)
		obs_buf_printf(&text, "author: %s\n", author);
	if (comment)
		obs_buf_printf(&text, "comment: %s\n", comment);
	char gen[64];
	if (!name) {
		snprintf(gen, sizeof(gen), "silence-%lld-%d", (long long)obs_time_now(), (int)getpid());
		name = gen;
	}
	char *dir = silence_dir(mnt), *path;
	if (asprintf(&path, "%s/%s", dir, name) < 0)
		err(2, "out of memory");
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (fd < 0)
		err(2, "cannot create '%s'", path);
	if (obs_write_all(fd, text.data, text.len) || close(fd)) {
		warn("cannot add silence '%s'", name);
		fprintf(stderr, "obs-alert: see %s/errors for the reason\n", mnt);
		return 2;
	}
	struct obs_buf got;
	obs_buf_init(&got);
	char *id = NULL;
	if (read_text(path, &got) == 0)
		id = field(got.data, "id");
	printf("%s\n", id ? id : name);
	free(id);
	free(path);
	free(dir);
	obs_buf_release(&got);
	obs_buf_release(&text);
	obs_buf_release(&m);
	return fflush(stdout) ? 2 : 0;
}

/* amtool's filter: every filter matcher names a label the silence matches
 * on with a value the filter matcher accepts */
static int filter_ok(const struct am_matchers *sm, const struct am_matchers *f)
{
	for (size_t i = 0; i < f->n; i++) {
		int ok = 0;
		for (size_t j = 0; j < sm->n && !ok; j++)
			ok = !strcmp(sm->v[j].name, f->v[i].name) && obs_matcher_match(&f->v[i], sm->v[j].value);
		if (!ok)
			return 0;
	}
	return 1;
}

static int show(const char *text, const struct am_matchers *f, int quiet, int *header)
{
	char *id = field(text, "id"), *mt = field(text, "matchers"), *en = field(text, "endsAt"),
	     *by = field(text, "createdBy"), *cm = field(text, "comment");
	int shown = 0;
	struct am_matchers sm;
	const char *why;
	if (id && mt && am_matchers_parse(mt, strlen(mt), 0, &sm, &why) == 0) {
		if (filter_ok(&sm, f)) {
			if (quiet) {
				printf("%s\n", id);
			} else {
				if (!*header) {
					printf("%-36s  %-40s  %-24s  %-10s  %s\n", "ID", "Matchers", "Ends At",
					       "Created By", "Comment");
					*header = 1;
				}
				printf("%-36s  %-40s  %-24s  %-10s  %s\n", id, mt, en ? en : "", by ? by : "",
				       cm ? cm : "");
			}
			shown = 1;
		}
		am_matchers_release(&sm);
	}
	free(id), free(mt), free(en), free(by), free(cm);
	return shown;
}

static int silence_query(const char *mnt, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "quiet", no_argument, NULL, 'q' }, { "expired", no_argument, NULL, 'e' },
		{ "mount", required_argument, NULL, 'm' }, { NULL, 0, NULL, 0 },
	};
	int quiet = 0, expired = 0, c;
	optind = 1;
	while ((c = getopt_long(argc, argv, "+qem:", opts, NULL)) != -1) {
		switch (c) {
		case 'q': quiet = 1; break;
		case 'e': expired = 1; break;
		case 'm': mnt = optarg; break;
		default: usage_am(stderr); return 2;
		}
	}
	if (!mnt) {
		usage_am(stderr);
		return 2;
	}
	struct obs_buf m;
	obs_buf_init(&m);
	struct am_matchers f;
	alert_matchers_args(argc, argv, optind, &m, &f);
	char *dir = silence_dir(mnt);
	int header = 0;   /* amtool: an empty answer is not an error */
	struct obs_buf text;
	obs_buf_init(&text);
	if (expired) {
		/* the whole history, silences separated by blank lines */
		char *p;
		if (asprintf(&p, "%s/.history", dir) < 0)
			err(2, "out of memory");
		int rc = read_text(p, &text);
		if (rc)
			errx(2, "cannot read '%s': %s", p, strerror(-rc));
		for (char *s = text.data; s && *s;) {
			char *e = strstr(s, "\n\n");
			if (e)
				e[1] = 0;
			show(s, &f, quiet, &header);
			s = e ? e + 2 : NULL;
		}
		free(p);
	} else {
		DIR *d = opendir(dir);
		if (!d)
			err(2, "cannot open '%s'", dir);
		struct dirent *de;
		while ((de = readdir(d))) {
			if (de->d_name[0] == '.')
				continue;
			char *p;
			if (asprintf(&p, "%s/%s", dir, de->d_name) < 0)
				err(2, "out of memory");
			if (read_text(p, &text) == 0)
				show(text.data ? text.data : "", &f, quiet, &header);
			free(p);
		}
		closedir(d);
	}
	obs_buf_release(&text);
	obs_buf_release(&m);
	am_matchers_release(&f);
	free(dir);
	if (fflush(stdout) || ferror(stdout))
		return 2;
	return 0;
}

static int silence_expire(const char *mnt, int argc, char **argv)
{
	int c, status = 0;
	optind = 1;
	while ((c = getopt(argc, argv, "+m:")) != -1) {
		if (c != 'm') {
			usage_am(stderr);
			return 2;
		}
		mnt = optarg;
	}
	if (!mnt || optind >= argc) {
		usage_am(stderr);
		return 2;
	}
	char *dir = silence_dir(mnt);
	for (int i = optind; i < argc; i++) {
		char *p;
		if (asprintf(&p, "%s/%s", dir, argv[i]) < 0)
			err(2, "out of memory");
		if (unlink(p) == 0) {
			free(p);
			continue;
		}
		/* not a name: look for the silence with that id */
		int done = 0;
		DIR *d = opendir(dir);
		struct dirent *de;
		struct obs_buf text;
		obs_buf_init(&text);
		while (d && !done && (de = readdir(d))) {
			if (de->d_name[0] == '.')
				continue;
			char *q;
			if (asprintf(&q, "%s/%s", dir, de->d_name) < 0)
				err(2, "out of memory");
			char *id = read_text(q, &text) == 0 ? field(text.data, "id") : NULL;
			if (id && !strcmp(id, argv[i])) {
				if (unlink(q))
					warn("cannot expire '%s'", argv[i]);
				done = 1;
			}
			free(id);
			free(q);
		}
		if (d)
			closedir(d);
		obs_buf_release(&text);
		if (!done) {
			warnx("no active or pending silence '%s'", argv[i]);
			status = 1;
		}
		free(p);
	}
	free(dir);
	return status;
}

int alert_am_main(int argc, char **argv)
{
	if (argc < 2)
		return -1;
	if (!strcmp(argv[1], "check-config"))
		return check_config(argc - 1, argv + 1);
	if (strcmp(argv[1], "silence"))
		return -1;
	if (argc < 3) {
		usage_am(stderr);
		return 2;
	}
	const char *mnt = getenv("OBS_MOUNT");
	if (!strcmp(argv[2], "add"))
		return silence_add(mnt, argc - 2, argv + 2);
	if (!strcmp(argv[2], "query"))
		return silence_query(mnt, argc - 2, argv + 2);
	if (!strcmp(argv[2], "expire"))
		return silence_expire(mnt, argc - 2, argv + 2);
	warnx("unknown silence command '%s' (add, query, expire)", argv[2]);
	return 2;
}
