/* test_query_saved.c — saved queries on disk (save, replace, reopen,
 * delete, interrupted saves, bad names and expressions) and answers of
 * requests (text, JSON, errors with positions). */
#include <criterion/criterion.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/fault.h"
#include "core/labels.h"
#include "query/saved.h"

static char dir[64], qdir[96];

static int rm_one(const char *p, const struct stat *sb, int flag, struct FTW *f)
{
	(void)sb; (void)flag; (void)f;
	return remove(p);
}

static void setup(void)
{
	strcpy(dir, "/tmp/test-query-saved.XXXXXX");
	cr_assert_not_null(mkdtemp(dir));
	snprintf(qdir, sizeof(qdir), "%s/queries", dir);
}

static void teardown(void)
{
	nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

TestSuite(query_saved, .init = setup, .fini = teardown);

static int collect(void *ctx, const char *name)
{
	struct obs_buf *b = ctx;
	obs_buf_printf(b, "%s,", name);
	return 0;
}

static char *names(struct obs_query_saved *s)
{
	struct obs_buf b;
	obs_buf_init(&b);
	cr_assert_eq(obs_query_saved_list(s, collect, &b), 0);
	char *r = strdup(b.data ? b.data : "");
	obs_buf_release(&b);
	return r;
}

static char *slurp(const char *path)
{
	FILE *f = fopen(path, "r");
	cr_assert_not_null(f, "%s", path);
	static char buf[4096];
	size_t n = fread(buf, 1, sizeof(buf) - 1, f);
	buf[n] = 0;
	fclose(f);
	return buf;
}

Test(query_saved, save_replace_reopen_delete)
{
	struct obs_query_saved *s;
	char err[256];
	cr_assert_eq(obs_query_saved_open(qdir, &s), 0);
	const char *e1 = "  sum by (job) (rate(http_requests_total{code=~\"5..\"}[5m]))\n";
	cr_assert_eq(obs_query_saved_put(s, "errors", e1, strlen(e1), err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(obs_query_saved_put(s, "job:up:sum", "sum(up)", 7, err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(obs_query_saved_put(s, "a", "up", 2, err, sizeof(err)), 0, "%s", err);
	char p[160];
	snprintf(p, sizeof(p), "%s/errors", qdir);
	cr_assert_str_eq(slurp(p), "sum by (job) (rate(http_requests_total{code=~\"5..\"}[5m]))\n");
	/* replace */
	cr_assert_eq(obs_query_saved_put(s, "a", "up == 0", 7, err, sizeof(err)), 0);
	char *l = names(s);
	cr_assert_str_eq(l, "a,errors,job:up:sum,");
	free(l);
	obs_query_saved_close(s);

	/* a restart reads them back; an interrupted save is cleaned up */
	snprintf(p, sizeof(p), "%s/b.tmp.Xy12Ab", qdir);
	int fd = open(p, O_WRONLY | O_CREAT, 0644);
	cr_assert_geq(fd, 0);
	cr_assert_eq(write(fd, "sum(", 4), 4);
	close(fd);
	cr_assert_eq(obs_query_saved_open(qdir, &s), 0);
	cr_assert_neq(access(p, F_OK), 0, "the interrupted save is still there");
	struct obs_buf b;
	obs_buf_init(&b);
	cr_assert_eq(obs_query_saved_get(s, "a", &b), 0);
	cr_assert_str_eq(b.data, "up == 0");
	obs_buf_reset(&b);
	cr_assert_eq(obs_query_saved_get(s, "b", &b), -ENOENT);
	cr_assert_eq(obs_query_saved_del(s, "errors"), 0);
	cr_assert_eq(obs_query_saved_del(s, "errors"), -ENOENT);
	snprintf(p, sizeof(p), "%s/errors", qdir);
	cr_assert_neq(access(p, F_OK), 0, "the deleted query's file is still there");
	obs_query_saved_close(s);
	cr_assert_eq(obs_query_saved_open(qdir, &s), 0);
	l = names(s);
	cr_assert_str_eq(l, "a,job:up:sum,");
	free(l);
	obs_buf_release(&b);
	obs_query_saved_close(s);
}

Test(query_saved, bad_names_and_expressions_change_nothing)
{
	struct obs_query_saved *s;
	char err[256];
	cr_assert_eq(obs_query_saved_open(qdir, &s), 0);
	cr_assert_eq(obs_query_saved_put(s, "x", "sum(rate(x[5m])", 15, err, sizeof(err)), -EINVAL);
	cr_assert(strncmp(err, "1:", 2) == 0, "no position in '%s'", err);
	cr_assert_eq(obs_query_saved_put(s, "x", "  \n", 3, err, sizeof(err)), -EINVAL);
	cr_assert_str_eq(err, "no expression");
	static const char *const bad[] = { "", ".hidden", "a/b", "a@b", "a#json", "a b", "x.tmp.y" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		cr_assert_eq(obs_query_saved_put(s, bad[i], "up", 2, err, sizeof(err)), -EINVAL, "'%s'", bad[i]);
		cr_assert(strstr(err, "invalid query name") != NULL, "%s", err);
	}
	char *l = names(s);
	cr_assert_str_eq(l, "");
	free(l);
	obs_query_saved_close(s);
	/* nothing on disk either */
	DIR *d = opendir(qdir);
	cr_assert_not_null(d);
	int n = 0;
	struct dirent *de;
	while ((de = readdir(d)))
		n += de->d_name[0] != '.';
	closedir(d);
	cr_assert_eq(n, 0);
}

Test(query_saved, answers)
{
	struct obs_query_mem *m = obs_query_mem_new();
	struct obs_labels l;
	const char *why;
	cr_assert_eq(obs_labels_parse("up{job=\"a\"}", 11, &l, &why), 0);
	for (int i = 0; i <= 10; i++)
		cr_assert_eq(obs_query_mem_add(m, &l, 1795255200000 + i * 60000, i), 0);
	obs_labels_release(&l);
	struct obs_query_store st = obs_query_mem_store(m);
	struct obs_buf out;
	obs_buf_init(&out);
	char err[256];
	const int64_t now = 1795255800000;   /* 10:10 */
	const char *q = "up\n";
	cr_assert_eq(obs_query_answer(NULL, &st, q, strlen(q), now, OBS_TIME_RFC3339, &out, err, sizeof(err)), 0);
	cr_assert_str_eq(out.data, "up{job=\"a\"} 2026-11-21T10:10:00.000Z 10\n");
	obs_buf_reset(&out);
	q = "up @-8m..-6m:1m #json\n";
	cr_assert_eq(obs_query_answer(NULL, &st, q, strlen(q), now, OBS_TIME_EPOCH, &out, err, sizeof(err)), 0);
	cr_assert_str_eq(out.data, "{\"resultType\":\"matrix\",\"result\":[{\"metric\":{\"__name__\":\"up\",\"job\":\"a\"},"
				   "\"values\":[[1795255320,\"2\"],[1795255380,\"3\"],[1795255440,\"4\"]]}]}\n");
	obs_buf_reset(&out);
	q = "sum(rate(up[5m])))\n";
	cr_assert_eq(obs_query_answer(NULL, &st, q, strlen(q), now, OBS_TIME_EPOCH, &out, err, sizeof(err)), -EINVAL);
	cr_assert_str_eq(out.data, "error: 1:18: parse error: unexpected \")\"\n");
	cr_assert_str_eq(err, "1:18: parse error: unexpected \")\"");
	obs_buf_reset(&out);
	struct obs_query_opts o;
	obs_query_opts_default(&o);
	o.max_samples = 3;
	q = "max_over_time(up[10m])";
	cr_assert_eq(obs_query_answer(&o, &st, q, strlen(q), now, OBS_TIME_EPOCH, &out, err, sizeof(err)), -E2BIG);
	cr_assert_str_eq(out.data, "error: query processing would load too many samples into memory in query execution\n");
	obs_buf_release(&out);
	obs_query_mem_free(m);
}

Test(query_saved, a_failed_save_keeps_the_old_expression)
{
	struct obs_query_saved *s;
	char err[256];
	cr_assert_eq(obs_query_saved_open(qdir, &s), 0);
	cr_assert_eq(obs_query_saved_put(s, "q", "up", 2, err, sizeof(err)), 0);
	static const char *const points[] = { "query.save.write", "query.save.fsync", "query.save.rename" };
	for (size_t i = 0; i < 3; i++) {
		obs_fault_reset();
		cr_assert_eq(obs_fault_arm(points[i], 0, 1, ENOSPC), 0);
		cr_assert_eq(obs_query_saved_put(s, "q", "down", 4, err, sizeof(err)), -ENOSPC, "%s", points[i]);
		cr_assert(strstr(err, "cannot save query 'q'") != NULL, "%s", err);
		struct obs_buf b;
		obs_buf_init(&b);
		cr_assert_eq(obs_query_saved_get(s, "q", &b), 0);
		cr_assert_str_eq(b.data, "up", "%s", points[i]);
		obs_buf_release(&b);
		char p[160];
		snprintf(p, sizeof(p), "%s/q", qdir);
		cr_assert_str_eq(slurp(p), "up\n", "%s", points[i]);
	}
	obs_fault_reset();
	/* nothing left behind but q */
	DIR *d = opendir(qdir);
	int n = 0;
	struct dirent *de;
	while ((de = readdir(d)))
		n += de->d_name[0] != '.';
	closedir(d);
	cr_assert_eq(n, 1);
	obs_query_saved_close(s);
}
