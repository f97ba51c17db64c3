/* fuzz_tmp.h — a private scratch directory for harnesses whose parser reads
 * files (tests/fuzz/fuzz_batch_journal.c, fuzz_nflog.c, fuzz_logs_replay.c):
 * one per fuzzing process under TMPDIR (default /dev/shm, a tmpfs where the
 * files' fsyncs cost nothing, else /tmp), removed at exit with what is in it
 * (not after a crash: the input that crashed is what matters then). */
#ifndef OBS_TESTS_FUZZ_TMP_H
#define OBS_TESTS_FUZZ_TMP_H

#include <errno.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

static char fuzz_tmp_dir[3000], fuzz_tmp_path[4096];

static int fuzz_tmp_rm_one(const char *p, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb, (void)flag, (void)ftw;
	return remove(p) && errno != ENOENT;
}

/* Remove the tree at path (what is missing is no error). */
static void fuzz_tmp_rm(const char *path)
{
	nftw(path, fuzz_tmp_rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

static void fuzz_tmp_cleanup(void)
{
	fuzz_tmp_rm(fuzz_tmp_dir);
}

/* The path of the scratch file NAME in fuzz_tmp_dir (made once; abort()s
 * on failure). */
static const char *fuzz_tmp_file(const char *name)
{
	if (fuzz_tmp_path[0])
		return fuzz_tmp_path;
	const char *tmp = getenv("TMPDIR");
	if (!tmp || !*tmp)
		tmp = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
	snprintf(fuzz_tmp_dir, sizeof fuzz_tmp_dir, "%s/fuzz_%s.XXXXXX", tmp, name);
	if (!mkdtemp(fuzz_tmp_dir))
		abort();
	snprintf(fuzz_tmp_path, sizeof fuzz_tmp_path, "%s/%s", fuzz_tmp_dir, name);
	atexit(fuzz_tmp_cleanup);
	return fuzz_tmp_path;
}

/* An empty directory fuzz_tmp_dir/store for a harness called name (the
 * previous input's removed); its path, valid until the next call. */
static const char *fuzz_tmp_store(const char *name)
{
	static char dir[3100];
	fuzz_tmp_file(name);
	snprintf(dir, sizeof dir, "%s/store", fuzz_tmp_dir);
	fuzz_tmp_rm(dir);
	if (mkdir(dir, 0755))
		abort();
	return dir;
}

#endif
