/* alert_mount.c — `obs-alert rules|state -m MNT`: the rule manager of a
 * mount from the shell (promtool/amtool habits; MNT also from OBS_MOUNT).
 *
 *   obs-alert rules [-m MNT] [-q]
 *       the loaded groups and rules, from MNT/alerts/state's "rule" lines,
 *       one table row per rule: FILE GROUP NAME TYPE HEALTH LAST_EVAL
 *       DURATION FIRING PENDING [ERROR]; rule files in MNT/alerts/rules/
 *       without any rule get a row with "-" columns. -q: rule names only.
 *       Exit 0, 1 when a rule's last evaluation failed (health err), 2 on
 *       an error.
 *   obs-alert state [-m MNT] [-s firing|pending|inactive] [MATCHER ...]
 *       MNT/alerts/state as it is; with -s or matchers only the "alert"
 *       lines whose state is the one given and whose labels (alertname
 *       included) match every matcher (amtool's syntax: a bare first word
 *       is alertname=WORD). Exit 0 when an alert line was printed, 1 when
 *       none was, 2 on an error.
 *
 * The state file's lines (lib/alert/ruleeval.h):
 *   rule FILE GROUP NAME alerting|recording ok|err|unknown LAST_EVAL DURATION [ERR]
 *   alert NAME {labels} STATE VALUE since T [fired T] [resolved T] ... */
#include <dirent.h>
#include <err.h>
#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alert/amatch.h"
#include "alert_tool.h"
#include "core/labels.h"
#include "core/vec.h"

static void usage_mount(FILE *f)
{
	fprintf(f, "usage: obs-alert rules [-m mnt] [-q]\n"
		   "       obs-alert state [-m mnt] [-s firing|pending|inactive] [matcher ...]\n");
}

static char *read_state(const char *mnt)
{
	char path[4096];
	snprintf(path, sizeof path, "%s/alerts/state", mnt);
	char *data;
	size_t n;
	int rc = obs_read_file(path, 0, &data, &n);
	if (rc)
		errx(2, "cannot read '%s': %s", path, strerror(-rc));
	return data;
}

/* Split an "alert NAME {labels} STATE ..." line: the labels, the state
 * word. 0, or -EINVAL for a line that does not read so. */
static int alert_line(const char *s, struct obs_labels *l, char *state, size_t slen)
{
	const char *b = strchr(s, '{');
	if (!b)
		return -EINVAL;
	const char *p = b + 1;
	int q = 0;
	for (; *p && (q || *p != '}'); p++) {
		if (q && *p == '\\' && p[1])
			p++;
		else if (*p == '"')
			q = !q;
	}
	if (*p != '}')
		return -EINVAL;
	const char *why;
	if (obs_labels_parse(b, (size_t)(p - b + 1), l, &why))
		return -EINVAL;
	p++;
	while (*p == ' ')
		p++;
	size_t k = strcspn(p, " \n");
	if (!k || k >= slen) {
		obs_labels_release(l);
		return -EINVAL;
	}
	memcpy(state, p, k);
	state[k] = 0;
	return 0;
}

int alert_cmd_state(const char *mnt, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "mount", required_argument, NULL, 'm' }, { "state", required_argument, NULL, 's' },
		{ "help", no_argument, NULL, 'h' }, { NULL, 0, NULL, 0 },
	};
	const char *want = NULL;
	int c;
	optind = 1;
	while ((c = getopt_long(argc, argv, "+m:s:h", opts, NULL)) != -1) {
		switch (c) {
		case 'm': mnt = optarg; break;
		case 's': want = optarg; break;
		case 'h': usage_mount(stdout); return 0;
		default: usage_mount(stderr); return 2;
		}
	}
	if (!mnt) {
		warnx("no mount: give -m MNT or set OBS_MOUNT");
		return 2;
	}
	if (want && strcmp(want, "firing") && strcmp(want, "pending") && strcmp(want, "inactive"))
		errx(2, "invalid state '%s' (firing, pending, inactive)", want);
	struct obs_buf m;
	obs_buf_init(&m);
	struct am_matchers f;
	alert_matchers_args(argc, argv, optind, &m, &f);
	int filter = want || f.n;
	char *text = read_state(mnt);
	size_t shown = 0;
	for (char *s = text; *s;) {
		char *e = strchr(s, '\n');
		size_t n = e ? (size_t)(e - s) + 1 : strlen(s);
		int isalert = !strncmp(s, "alert ", 6);
		int show = !filter;
		if (isalert) {
			struct obs_labels l;
			char st[32];
			if (alert_line(s, &l, st, sizeof st) == 0) {
				if (filter)
					show = (!want || !strcmp(st, want)) && am_matchers_match(&f, &l);
				obs_labels_release(&l);
			} else {
				warnx("unreadable state line: %.*s", (int)(e ? e - s : (ptrdiff_t)n), s);
			}
		}
		if (show) {
			fwrite(s, 1, n, stdout);
			if (!e)
				putchar('\n');
			shown += isalert;
		}
		s += n;
	}
	free(text);
	obs_buf_release(&m);
	am_matchers_release(&f);
	if (fflush(stdout) || ferror(stdout))
		return 2;
	return shown ? 0 : 1;
}

/* ---- rules ------------------------------------------------------------------ */

struct row {
	char *file, *group, *name, *type, *health, *last, *dur, *err;
	size_t firing, pending;
};

static void row_free(struct row *r)
{
	free(r->file), free(r->group), free(r->name), free(r->type), free(r->health), free(r->last), free(r->dur),
		free(r->err);
}

/* "rule FILE GROUP NAME TYPE HEALTH LAST DUR [ERR]": GROUP may hold
 * spaces, so the fields after it are found from " alerting "/" recording ". */
static int rule_line(const char *s, size_t n, struct row *r)
{
	memset(r, 0, sizeof(*r));
	char *line = strndup(s + 5, n - 5);
	if (!line)
		err(2, "out of memory");
	line[strcspn(line, "\n")] = 0;
	char *sp = strchr(line, ' ');
	char *ta = strstr(line, " alerting "), *tr = strstr(line, " recording ");
	char *t = ta && (!tr || ta < tr) ? ta : tr;   /* the first: an error text may hold either */
	if (!sp || !t || t <= sp) {
		free(line);
		return -EINVAL;
	}
	*sp = 0;
	*t = 0;
	char *nm = strrchr(sp + 1, ' ');
	if (!nm) {
		free(line);
		return -EINVAL;
	}
	*nm = 0;
	r->file = strdup(line);
	r->group = strdup(sp + 1);
	r->name = strdup(nm + 1);
	char *rest = t + 1, *save = NULL;
	char *ty = strtok_r(rest, " ", &save), *he = strtok_r(NULL, " ", &save), *la = strtok_r(NULL, " ", &save),
	     *du = strtok_r(NULL, " ", &save), *er = strtok_r(NULL, "", &save);
	if (!ty || !he || !la || !du) {
		free(line);
		row_free(r);
		return -EINVAL;
	}
	r->type = strdup(ty);
	r->health = strdup(he);
	r->last = strdup(la);
	r->dur = strdup(du);
	r->err = er ? strdup(er) : NULL;
	free(line);
	return 0;
}

/* printf one table row without the padding at its end */
static void rprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void rprintf(const char *fmt, ...)
{
	char *b;
	va_list ap;
	va_start(ap, fmt);
	int n = vasprintf(&b, fmt, ap);
	va_end(ap);
	if (n < 0)
		err(2, "out of memory");
	while (n > 0 && (b[n - 1] == '\n' || b[n - 1] == ' '))
		b[--n] = 0;
	puts(b);
	free(b);
}

static int has_file(const struct row *v, size_t n, const char *file)
{
	for (size_t i = 0; i < n; i++)
		if (!strcmp(v[i].file, file))
			return 1;
	return 0;
}

int alert_cmd_rules(const char *mnt, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "mount", required_argument, NULL, 'm' }, { "quiet", no_argument, NULL, 'q' },
		{ "help", no_argument, NULL, 'h' }, { NULL, 0, NULL, 0 },
	};
	int quiet = 0, c;
	optind = 1;
	while ((c = getopt_long(argc, argv, "+m:qh", opts, NULL)) != -1) {
		switch (c) {
		case 'm': mnt = optarg; break;
		case 'q': quiet = 1; break;
		case 'h': usage_mount(stdout); return 0;
		default: usage_mount(stderr); return 2;
		}
	}
	if (!mnt) {
		warnx("no mount: give -m MNT or set OBS_MOUNT");
		return 2;
	}
	if (optind < argc) {
		usage_mount(stderr);
		return 2;
	}
	char *text = read_state(mnt);
	struct row *v = NULL;
	size_t n = 0, cap = 0;
	for (char *s = text; *s;) {
		char *e = strchr(s, '\n');
		size_t len = e ? (size_t)(e - s) + 1 : strlen(s);
		if (!strncmp(s, "rule ", 5)) {
			if (OBS_VEC_RESERVE_FROM(v, cap, n + 1, 16))
				err(2, "out of memory");
			if (rule_line(s, len, &v[n]) == 0)
				n++;
			else
				warnx("unreadable state line: %.*s", (int)(e ? e - s : (ptrdiff_t)len), s);
		} else if (!strncmp(s, "alert ", 6) && n) {
			struct obs_labels l;
			char st[32];
			if (alert_line(s, &l, st, sizeof st) == 0) {
				v[n - 1].firing += !strcmp(st, "firing");
				v[n - 1].pending += !strcmp(st, "pending");
				obs_labels_release(&l);
			}
		}
		s += len;
	}
	free(text);
	/* rule files that hold no rule (empty, or only empty groups) */
	char dir[4096];
	snprintf(dir, sizeof dir, "%s/alerts/rules", mnt);
	struct obs_buf empty;
	obs_buf_init(&empty);
	DIR *d = opendir(dir);
	if (!d)
		err(2, "cannot open '%s'", dir);
	struct dirent *de;
	while ((de = readdir(d)))
		if (de->d_name[0] != '.' && !has_file(v, n, de->d_name) &&
		    obs_buf_printf(&empty, "%s\n", de->d_name))
			err(2, "out of memory");
	closedir(d);
	int bad = 0;
	if (!quiet && (n || empty.len))
		rprintf("%-16s  %-16s  %-24s  %-9s  %-7s  %-24s  %-9s  %-6s  %-7s  %s\n", "FILE", "GROUP", "NAME", "TYPE",
		       "HEALTH", "LAST EVALUATION", "DURATION", "FIRING", "PENDING", "ERROR");
	for (size_t i = 0; i < n; i++) {
		struct row *r = &v[i];
		bad |= !strcmp(r->health, "err");
		if (quiet)
			printf("%s\n", r->name);
		else
			rprintf("%-16s  %-16s  %-24s  %-9s  %-7s  %-24s  %-9s  %-6zu  %-7zu  %s\n", r->file, r->group,
			       r->name, r->type, r->health, r->last, r->dur, r->firing, r->pending, r->err ? r->err : "");
		row_free(r);
	}
	for (char *s = empty.data; !quiet && s && *s; s = strchr(s, '\n') + 1)
		rprintf("%-16.*s  %-16s  %-24s  %-9s  %-7s  %-24s  %-9s  %-6s  %-7s\n", (int)strcspn(s, "\n"), s, "-",
		       "-", "-", "-", "-", "-", "-", "-");
	free(v);
	obs_buf_release(&empty);
	if (fflush(stdout) || ferror(stdout))
		return 2;
	return bad ? 1 : 0;
}
