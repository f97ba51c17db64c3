/* query_mount.c — obs-query against a mount: the transaction on
 * MOUNT/query (obsfs(7)).
 *
 * One descriptor, opened O_RDWR: write the request line, read the answer
 * until end of file. A query that fails makes the write (or, when the
 * daemon evaluates on the first read, nothing) fail with EINVAL, and the
 * read then returns "error: MESSAGE\n" (for a parse error MESSAGE starts
 * with LINE:COL), so the shell idiom `exec 3<>MOUNT/query` shows it too. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/buf.h"
#include "core/fileio.h"
#include "query_mount.h"

static void put_time(struct obs_buf *b, int64_t ms)
{
	uint64_t u = ms < 0 ? (uint64_t)0 - (uint64_t)ms : (uint64_t)ms;
	obs_buf_printf(b, "%s%" PRIu64, ms < 0 ? "-" : "", u / 1000);
	if (u % 1000)
		obs_buf_printf(b, ".%03u", (unsigned)(u % 1000));
}

char *qm_request_line(const struct qm_request *r)
{
	struct obs_buf b;
	obs_buf_init(&b);
	obs_buf_puts(&b, r->expr);
	obs_buf_puts(&b, " @");
	if (r->range) {
		put_time(&b, r->start);
		obs_buf_puts(&b, "..");
		put_time(&b, r->end);
		obs_buf_putc(&b, ':');
		put_time(&b, r->step);
	} else {
		put_time(&b, r->time);
	}
	if (r->json)
		obs_buf_puts(&b, " #json");
	if (obs_buf_putc(&b, '\n') != 0) {
		obs_buf_release(&b);
		return NULL;
	}
	return obs_buf_detach(&b, NULL);
}

static int write_all(int fd, const char *p, size_t n)
{
	while (n) {
		ssize_t k = write(fd, p, n);
		if (k < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		p += k;
		n -= (size_t)k;
	}
	return 0;
}

int qm_run(const char *mount, const struct qm_request *r, FILE *out, FILE *err)
{
	struct obs_buf path, ans;
	obs_buf_init(&path);
	obs_buf_init(&ans);
	obs_buf_printf(&path, "%s/query", mount);
	int status = 2;
	char *line = qm_request_line(r);
	int fd = open(path.data, O_RDWR | O_CLOEXEC);
	if (!line) {
		fprintf(err, "obs-query: out of memory\n");
		goto out;
	}
	if (fd < 0) {
		fprintf(err, "obs-query: cannot open '%s': %s\n", path.data, strerror(errno));
		goto out;
	}
	int wrc = write_all(fd, line, strlen(line));
	if (wrc && wrc != -EINVAL) {
		fprintf(err, "obs-query: cannot write '%s': %s\n", path.data, strerror(-wrc));
		goto out;
	}
	int rrc = obs_read_fd_buf(fd, 0, &ans);
	if (rrc == -ENOMEM) {
		fprintf(err, "obs-query: out of memory\n");
		goto out;
	}
	if (rrc) {
		fprintf(err, "obs-query: cannot read '%s': %s\n", path.data, strerror(-rrc));
		goto out;
	}
	const char *a = ans.data ? ans.data : "";
	if (strncmp(a, "error: ", 7) == 0) {
		fprintf(err, "obs-query: %s", a + 7);
		if (ans.len && a[ans.len - 1] != '\n')
			fputc('\n', err);
		status = 1;
		goto out;
	}
	if (wrc) {
		fprintf(err, "obs-query: query failed: %s\n", strerror(-wrc));
		status = 1;
		goto out;
	}
	if (ans.len && fwrite(a, 1, ans.len, out) != ans.len) {
		fprintf(err, "obs-query: write error: %s\n", strerror(errno));
		goto out;
	}
	status = 0;
out:
	if (fd >= 0)
		close(fd);
	free(line);
	obs_buf_release(&path);
	obs_buf_release(&ans);
	return status;
}
