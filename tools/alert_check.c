/* alert_check.c — `obs-alert check FILE...`, as `promtool check rules`:
 * "Checking FILE", then "  SUCCESS: N rules found" or "  FAILED:" and the
 * errors (FILE: REASON) on stderr; duplicate rules are reported as
 * promtool's lint (not fatal). Exit 0 when every file is valid, 1 when one
 * is not, 2 on usage errors. */
#include "alert_tool.h"
#include "alert/rules.h"
#include "alert/template.h"

#include <err.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

void alert_matchers_args(int argc, char **argv, int from, struct obs_buf *m, struct am_matchers *f)
{
	for (int i = from; i < argc; i++)
		if ((i > from && obs_buf_putc(m, ',')) || obs_buf_puts(m, argv[i]))
			errx(2, "out of memory");
	const char *why = NULL;
	if (am_matchers_parse(m->data ? m->data : "", m->len, 1, f, &why))
		errx(2, "invalid matchers '%s': %s", m->data ? m->data : "", why);
}

int alert_go_labels(const struct obs_labels *l, struct obs_buf *out)
{
	int r = obs_buf_putc(out, '{');
	for (size_t i = 0; l && i < l->n && !r; i++) {
		r = obs_buf_printf(out, "%s%s=", i ? ", " : "", l->v[i].name);
		if (!r)
			r = obs_tmpl_go_quote(out, l->v[i].value, strlen(l->v[i].value));
	}
	return r ? r : obs_buf_putc(out, '}');
}

int alert_cmd_check(int argc, char **argv)
{
	if (argc < 2) {
		fprintf(stderr, "usage: obs-alert check FILE...\n");
		return 2;
	}
	int failed = 0;
	for (int i = 1; i < argc; i++) {
		const char *path = argv[i];
		printf("Checking %s\n", path);
		fflush(stdout);
		char *text;
		size_t n;
		int r = obs_read_file(path, OBS_RULES_FILE_MAX, &text, &n);
		if (r < 0) {
			fprintf(stderr, "  FAILED:\n%s: %s\n", path, strerror(-r));
			printf("\n");
			failed = 1;
			continue;
		}
		struct obs_buf errs;
		obs_buf_init(&errs);
		struct obs_rule_file *f;
		r = obs_rules_parse(text, n, &f, &errs);
		free(text);
		if (r < 0) {
			fprintf(stderr, "  FAILED:\n");
			if (r == -ENOMEM)
				fprintf(stderr, "%s: out of memory\n", path);
			for (char *p = errs.data; p && *p;) {
				char *nl = strchr(p, '\n');
				fprintf(stderr, "%s: %.*s\n", path, (int)(nl ? nl - p : (long)strlen(p)), p);
				p = nl ? nl + 1 : p + strlen(p);
			}
			fflush(stderr);
			printf("\n");
			obs_buf_release(&errs);
			failed = 1;
			continue;
		}
		struct obs_buf d;
		obs_buf_init(&d);
		size_t nd = obs_rules_duplicates(f, &d);
		if (!nd)
			printf("  SUCCESS: %zu rules found\n", f->nrules);
		else {
			/* promtool 2.42: the lint replaces SUCCESS but does not fail */
			fflush(stdout);
			fprintf(stderr, "  FAILED:\nlint error %zu duplicate rule(s) found.\n%sMight cause inconsistency while recording expressions\n",
				nd, d.data ? d.data : "");
		}
		obs_buf_release(&d);
		printf("\n");
		obs_rules_free(f);
		obs_buf_release(&errs);
	}
	return failed;
}
