/* test_fileio.c — the shared helpers of lib/core: byte order (bytes.h),
 * growing arrays (vec.h), atomic file replacement and recursive removal
 * (fileio.h). */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/buf.h"
#include "core/bytes.h"
#include "core/fault.h"
#include "core/fileio.h"
#include "core/vec.h"

static char *mkdtemp_dir(void)
{
	char *d = strdup("/tmp/obs-fileio-XXXXXX");
	cr_assert(mkdtemp(d));
	return d;
}

static char *slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		return NULL;
	char *buf = malloc(4096);
	*len = fread(buf, 1, 4096, f);
	fclose(f);
	return buf;
}

static int count_entries(const char *dir)
{
	char cmd[256];
	snprintf(cmd, sizeof(cmd), "ls -A %s | wc -l", dir);
	FILE *p = popen(cmd, "r");
	int n = -1;
	cr_assert(p);
	cr_assert_eq(fscanf(p, "%d", &n), 1);
	pclose(p);
	return n;
}

Test(bytes, little_and_big_endian_layout)
{
	uint8_t b[8];
	obs_put_le16(b, 0x1234);
	cr_assert(b[0] == 0x34 && b[1] == 0x12);
	cr_assert_eq(obs_get_le16(b), 0x1234);
	obs_put_le32(b, 0xdeadbeef);
	cr_assert(b[0] == 0xef && b[3] == 0xde);
	cr_assert_eq(obs_get_le32(b), 0xdeadbeefu);
	obs_put_le64(b, 0x0102030405060708ull);
	cr_assert(b[0] == 0x08 && b[7] == 0x01);
	cr_assert_eq(obs_get_le64(b), 0x0102030405060708ull);
	obs_put_be64(b, 0x0102030405060708ull);
	cr_assert(b[0] == 0x01 && b[7] == 0x08);
	cr_assert_eq(obs_get_be64(b), 0x0102030405060708ull);
	cr_assert_eq(obs_f64_bits(1.0), 0x3ff0000000000000ull);
	cr_assert(obs_bits_f64(0x3ff0000000000000ull) == 1.0);
	cr_assert(isnan(obs_bits_f64(obs_f64_bits(NAN))));
}

Test(vec, grows_by_doubling_and_keeps_contents)
{
	int *a = NULL;
	size_t cap = 0;
	cr_assert_eq(OBS_VEC_RESERVE(a, cap, 1), 0);
	cr_assert_eq(cap, 8);
	for (int i = 0; i < 1000; i++) {
		cr_assert_eq(OBS_VEC_RESERVE(a, cap, (size_t)i + 1), 0);
		a[i] = i;
	}
	cr_assert_eq(cap, 1024);
	for (int i = 0; i < 1000; i++)
		cr_assert_eq(a[i], i);
	cr_assert_eq(OBS_VEC_RESERVE_FROM(a, cap, 10, 4), 0);   /* room already */
	cr_assert_eq(cap, 1024);
	free(a);
	double *d = NULL;
	size_t dc = 0;
	cr_assert_eq(OBS_VEC_RESERVE_FROM(d, dc, 5, 64), 0);
	cr_assert_eq(dc, 64);
	int *keep = (int *)d;
	cr_assert_eq(OBS_VEC_RESERVE(d, dc, SIZE_MAX / 4), -ENOMEM);   /* overflow: unchanged */
	cr_assert_eq(dc, 64);
	cr_assert_eq((int *)d, keep);
	free(d);
}

Test(vec, two_arrays_share_one_capacity)
{
	int64_t *t = NULL;
	double *v = NULL;
	size_t cap = 0;
	for (size_t i = 0; i < 100; i++) {
		cr_assert_eq(OBS_VEC_RESERVE2(t, v, cap, i + 1, 16), 0);
		t[i] = (int64_t)i;
		v[i] = (double)i / 2;
	}
	cr_assert_eq(cap, 128);
	for (size_t i = 0; i < 100; i++)
		cr_assert(t[i] == (int64_t)i && v[i] == (double)i / 2);
	cr_assert_eq(OBS_VEC_RESERVE2(t, v, cap, SIZE_MAX / 4, 16), -ENOMEM);   /* overflow: unchanged */
	cr_assert_eq(cap, 128);
	free(t);
	free(v);
}

/* A ring regrown keeps its elements in order from index 0: wrapped past the
 * end, not wrapped, empty; a too-small new size is refused, ring unchanged. */
Test(vec, ring_regrow_unwraps_in_order)
{
	int *r = malloc(4 * sizeof *r);
	r[0] = 4, r[1] = 5, r[2] = 2, r[3] = 3;   /* oldest at head 2: 2 3 4 5 */
	cr_assert_eq(OBS_RING_REGROW(r, 4, 2, 4, 2), -ENOMEM);
	cr_assert_eq(r[2], 2);
	cr_assert_eq(OBS_RING_REGROW(r, 4, 2, 4, 8), 0);
	for (int i = 0; i < 4; i++)
		cr_assert_eq(r[i], i + 2, "at %d: %d", i, r[i]);
	r[4] = 6;
	cr_assert_eq(OBS_RING_REGROW(r, 8, 1, 3, 16), 0);   /* not wrapped: 3 4 5 */
	for (int i = 0; i < 3; i++)
		cr_assert_eq(r[i], i + 3);
	free(r);
	int *e = NULL;
	cr_assert_eq(OBS_RING_REGROW(e, 0, 0, 0, 4), 0);
	cr_assert_not_null(e);
	free(e);
}

Test(fileio, atomic_replace_leaves_new_content_and_no_temp)
{
	char *dir = mkdtemp_dir();
	char path[256];
	snprintf(path, sizeof(path), "%s/state", dir);
	cr_assert_eq(obs_write_file_atomic(path, "one\n", 4, NULL), 0);
	cr_assert_eq(obs_write_file_atomic(path, "second\n", 7, "t"), 0);
	size_t n;
	char *got = slurp(path, &n);
	cr_assert(got);
	cr_assert_eq(n, 7);
	cr_assert(!memcmp(got, "second\n", 7));
	free(got);
	struct stat st;
	cr_assert_eq(stat(path, &st), 0);
	cr_assert_eq(st.st_mode & 0777, 0644);
	cr_assert_eq(count_entries(dir), 1);   /* no PATH.tmp.* left */
	cr_assert_eq(obs_rm_tree(dir), 0);
	free(dir);
}

Test(fileio, failed_rename_keeps_old_file_and_removes_temp)
{
	char *dir = mkdtemp_dir();
	char path[256];
	snprintf(path, sizeof(path), "%s/state", dir);
	cr_assert_eq(obs_write_file_atomic(path, "old", 3, NULL), 0);
	cr_assert_eq(obs_fault_arm("t.rename", 0, 1, EIO), 0);
	cr_assert_eq(obs_write_file_atomic(path, "new", 3, "t"), -EIO);
	cr_assert_eq(obs_fault_arm("t.fsync", 0, 1, ENOSPC), 0);
	cr_assert_eq(obs_write_file_atomic(path, "new", 3, "t"), -ENOSPC);
	cr_assert_eq(obs_fault_arm("t.write", 0, 1, ENOSPC), 0);
	cr_assert_eq(obs_write_file_atomic(path, "new", 3, "t"), -ENOSPC);
	obs_fault_reset();
	size_t n;
	char *got = slurp(path, &n);
	cr_assert(got && n == 3 && !memcmp(got, "old", 3));
	free(got);
	cr_assert_eq(count_entries(dir), 1);
	/* dirsync fails after the rename: the new content is there */
	cr_assert_eq(obs_fault_arm("t.dirsync", 0, 1, EIO), 0);
	cr_assert_eq(obs_write_file_atomic(path, "new", 3, "t"), -EIO);
	obs_fault_reset();
	got = slurp(path, &n);
	cr_assert(got && n == 3 && !memcmp(got, "new", 3));
	free(got);
	cr_assert_eq(count_entries(dir), 1);
	cr_assert_eq(obs_rm_tree(dir), 0);
	free(dir);
}

Test(fileio, replace_without_fsync_leaves_new_content_and_no_temp)
{
	char *dir = mkdtemp_dir();
	char path[256];
	snprintf(path, sizeof(path), "%s/status", dir);
	cr_assert_eq(obs_write_file_replace(path, "one\n", 4), 0);
	cr_assert_eq(obs_write_file_replace(path, "second\n", 7), 0);
	size_t n;
	char *got = slurp(path, &n);
	cr_assert(got && n == 7 && !memcmp(got, "second\n", 7));
	free(got);
	cr_assert_eq(count_entries(dir), 1);   /* no PATH.tmp.* left */
	char missing[300];
	snprintf(missing, sizeof(missing), "%s/no/status", dir);
	cr_assert_eq(obs_write_file_replace(missing, "x", 1), -ENOENT);
	cr_assert_eq(obs_rm_tree(dir), 0);
	free(dir);
}

Test(fileio, atomic_open_in_missing_dir_is_enoent)
{
	struct obs_atomic_file a;
	cr_assert_eq(obs_atomic_open(&a, "/nonexistent-obs-dir/x"), -ENOENT);
	obs_atomic_abort(&a);   /* released: a no-op */
}

Test(fileio, rm_tree_removes_nested_dirs_not_link_targets)
{
	char *dir = mkdtemp_dir();
	char *outside = mkdtemp_dir();
	char p[512];
	snprintf(p, sizeof(p), "%s/keep", outside);
	cr_assert_eq(obs_write_file_atomic(p, "x", 1, NULL), 0);
	snprintf(p, sizeof(p), "%s/a", dir);
	cr_assert_eq(mkdir(p, 0755), 0);
	snprintf(p, sizeof(p), "%s/a/b", dir);
	cr_assert_eq(mkdir(p, 0755), 0);
	snprintf(p, sizeof(p), "%s/a/b/f", dir);
	cr_assert_eq(obs_write_file_atomic(p, "x", 1, NULL), 0);
	snprintf(p, sizeof(p), "%s/a/link", dir);
	cr_assert_eq(symlink(outside, p), 0);
	cr_assert_eq(obs_rm_tree(dir), 0);
	cr_assert_eq(access(dir, F_OK), -1);
	cr_assert_eq(errno, ENOENT);
	snprintf(p, sizeof(p), "%s/keep", outside);
	cr_assert_eq(access(p, F_OK), 0);   /* the link was removed, not followed */
	cr_assert_eq(obs_rm_tree(dir), 0);  /* missing: not an error */
	cr_assert_eq(obs_rm_tree(outside), 0);
	free(dir);
	free(outside);
}

Test(fileio, read_file_whole_bounded_and_missing)
{
	char *dir = mkdtemp_dir();
	char p[512];
	snprintf(p, sizeof(p), "%s/f", dir);
	/* larger than one read step, so the loop and the size hint both matter */
	size_t big = 200000;
	char *src = malloc(big);
	for (size_t i = 0; i < big; i++)
		src[i] = (char)('a' + i % 26);
	cr_assert_eq(obs_write_file_atomic(p, src, big, NULL), 0);
	char *data = NULL;
	size_t len = 0;
	cr_assert_eq(obs_read_file(p, 0, &data, &len), 0);
	cr_assert_eq(len, big);
	cr_assert(!memcmp(data, src, big));
	cr_assert_eq(data[len], 0);   /* NUL-terminated */
	free(data);
	/* exactly at the bound is fine, one byte over is EFBIG and leaves the outputs */
	data = NULL;
	cr_assert_eq(obs_read_file(p, big, &data, &len), 0);
	cr_assert_eq(len, big);
	free(data);
	data = (char *)"untouched";
	len = 7;
	cr_assert_eq(obs_read_file(p, big - 1, &data, &len), -EFBIG);
	cr_assert_str_eq(data, "untouched");
	cr_assert_eq(len, 7);
	/* an empty file is an empty string, a missing one ENOENT */
	cr_assert_eq(obs_write_file_atomic(p, "", 0, NULL), 0);
	cr_assert_eq(obs_read_file(p, 16, &data, &len), 0);
	cr_assert(data && len == 0 && data[0] == 0);
	free(data);
	snprintf(p, sizeof(p), "%s/missing", dir);
	cr_assert_eq(obs_read_file(p, 0, &data, &len), -ENOENT);
	free(src);
	cr_assert_eq(obs_rm_tree(dir), 0);
	free(dir);
}

Test(fileio, read_fd_reads_a_pipe_to_its_end)
{
	int pfd[2];
	cr_assert_eq(pipe(pfd), 0);
	cr_assert_eq(write(pfd[1], "one\ntwo\n", 8), 8);
	close(pfd[1]);
	char *data = NULL;
	size_t len = 0;
	cr_assert_eq(obs_read_fd(pfd[0], 0, &data, &len), 0);
	cr_assert_eq(len, 8);
	cr_assert_str_eq(data, "one\ntwo\n");
	free(data);
	close(pfd[0]);
}

Test(fileio, read_file_buf_appends_and_keeps_old_content_on_failure)
{
	char *dir = mkdtemp_dir();
	char p[512];
	snprintf(p, sizeof(p), "%s/f", dir);
	cr_assert_eq(obs_write_file_atomic(p, "abcdef", 6, NULL), 0);
	struct obs_buf b;
	obs_buf_init(&b);
	cr_assert_eq(obs_buf_puts(&b, "head:"), 0);
	cr_assert_eq(obs_read_file_buf(p, 6, &b), 0);
	cr_assert_str_eq(b.data, "head:abcdef");
	cr_assert_eq(obs_read_file_buf(p, 5, &b), -EFBIG);   /* max counts appended bytes */
	cr_assert_eq(b.len, 11);
	cr_assert_str_eq(b.data, "head:abcdef");
	snprintf(p, sizeof(p), "%s/missing", dir);
	cr_assert_eq(obs_read_file_buf(p, 0, &b), -ENOENT);
	cr_assert_str_eq(b.data, "head:abcdef");
	obs_buf_release(&b);
	cr_assert_eq(obs_rm_tree(dir), 0);
	free(dir);
}
