/* rollup_file_int.h — what the rollup file writer (rollup_file.c, which
 * documents the format) and its reader (rollup_read.c) share: sizes, the
 * magic, the decimal scales and the per-frame coding state. */
#ifndef OBS_TSDB_ROLLUP_FILE_INT_H
#define OBS_TSDB_ROLLUP_FILE_INT_H

#include <stdint.h>

#define HDR_SIZE 32
#define DIR_ENT 40
#define IDX_ENT 48
#define FOOT_SIZE 24
#define FRAME_BUCKETS 256
#define MAX_RAW_FRAME (64u << 20)
static const char magic[8] = { 'O', 'B', 'S', 'R', 'L', 'U', 'P', 1 };

static const double p10[16] = { 1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7,
				  1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15 };
#define DEC_MAX_M (1LL << 53)

/* Per-frame coding state of the four float fields. */
struct fcol {
	uint64_t bits;   /* previous bits, XOR form */
	int64_t m;       /* previous integer, decimal form */
};
struct fctx {
	int e;           /* decimal scale, -1: not decimal */
	struct fcol c[4];
};

#endif
