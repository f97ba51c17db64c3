/* postings_int.h — the index's structures, shared by postings.c (the
 * hash tables, add/remove, listing) and postings_select.c (matchers over
 * the postings). The layout and locking are described in postings.c. */
#ifndef OBS_INDEX_POSTINGS_INT_H
#define OBS_INDEX_POSTINGS_INT_H

#include <pthread.h>
#include <stdint.h>

#include "index/postings.h"

struct hhead {                 /* first member of every table entry */
	const char *key;       /* NUL-terminated, stored with the entry */
	uint32_t klen;
	uint32_t di;           /* index in the table's dense array */
};

struct hslot {
	uint64_t h;
	void *e;               /* NULL: empty slot */
};

/* Entries are also kept in a dense array (insertion order, swap-removed):
 * scans follow it, touching memory roughly in allocation order instead of
 * hopping through the slots. */
struct htab {
	struct hslot *s;
	size_t cap, n;         /* cap: 0 or a power of two */
	void **dense;          /* n entries */
	size_t dcap;
};

/* A bitmap with its cardinality kept by hand: CRoaring recomputes it by
 * walking the containers (every run of a run container). */
struct cbm {
	roaring_bitmap_t *bm;
	uint32_t card;
	uint32_t next_opt;     /* run-optimise when card reaches this */
};

struct posting {
	struct hhead hd;
	struct cbm b;          /* b.bm NULL: exactly the series `one` */
	uint32_t one;
	char key[];
};

struct lname {
	struct hhead hd;
	struct htab vals;      /* of struct posting */
	struct cbm any;        /* series carrying this label */
	char key[];
};

struct obs_index {
	pthread_rwlock_t lock;
	struct htab names;     /* of struct lname; guarded by lock, as all below */
	struct cbm all;
	uint64_t npairs;
};

/* roaring_bitmap_free that accepts NULL (CRoaring 0.2.66 does not) */
void ix_bm_free(roaring_bitmap_t *b);
/* the entry of a label name / of one of its values, or NULL */
struct lname *ix_name_get(const struct obs_index *ix, const char *name);
struct posting *ix_val_get(const struct lname *ln, const char *v);

#endif
