/* tree.h — the tree of obsfsd as tables: node kinds and subtrees.
 *
 * Like Plan 9's devtab, the namespace is a table. A path is walked one
 * component at a time from the root (tree.c, fs_resolve): the root looks the
 * first component up in the subtree table, every later component is looked
 * up by the kind of the node reached so far (its `lookup`). A node is a kind
 * plus what its path said (a series id, a range, a label, a parsed query in
 * priv); it is built ONCE per FUSE request, so an open parses its path once
 * and its parsed form (node.priv) travels with the open file.
 *
 * The generic FUSE dispatch (ops.c over libfuse's low-level API, inode.c
 * for inode numbers, wait.c for reads that wait and poll(2), writes.c for
 * cutting writes into lines) knows nothing of any subtree: getattr, readdir, open, read, write,
 * flush, release, create, unlink, truncate, xattrs and the refused
 * operations all go through the kind of the node.
 *
 * Path grammar (each subtree's file documents its own part):
 *
 *   /                      root: the rows of the subtree table
 *   /README /ingest /ctl /status /errors          rootfiles.c
 *   /export[.jsonl][@RANGE]                       export.c
 *   /metrics/SERIES[@RANGE[:STEP[:FN]]]           metrics.c
 *   /metrics/SERIES[@RANGE]#exemplars             metrics.c
 *   /select/M1/.../Mk[/SERIES[@...]]              select.c (Mi = k=v k!=v k=~re k!~re)
 *   /labels/K[/V[/SERIES[@...]]]                  labels.c
 *   /errors#follow                                rootfiles.c
 *   /logs/STREAM[@RANGE][?QUERY][#count|#by=F]    logs.c
 *   /logs/STREAM#follow                           logs.c
 *   /traces/...                                   traces.c
 *   /query /queries/NAME[@SPEC][#json]            query.c
 *
 * SERIES is the canonical series text with '%' -> %25 and '/' -> %2F, or,
 * when that is longer than NAME_MAX, its alias (metrics.c, series_fname).
 *
 * How to add a subtree (say alerts/):
 *
 *   1. Write fs/alerts.c. Include "tree.h". Define the kinds of its nodes as
 *      `static const struct fs_kind` (a directory kind with list and lookup,
 *      file kinds with render or read, consume, ...), and one row:
 *
 *        const struct fs_subtree fs_subtree_alerts = {
 *                .name = "alerts", .kind = &alerts_dir,
 *                .readme = "  alerts/             rules, firing, silences ...\n",
 *        };
 *
 *      Keep the subtree's parsed state in node.priv (set by lookup, freed by
 *      node_release through priv_free) and its per-open state in ofile.priv
 *      (set by open, freed by ofile_free through priv_free).
 *      A transaction file (`query`) is FS_TXN with consume (collect the
 *      request's lines into o->priv) and end_write (evaluate, put the answer
 *      in o->content): the dispatch calls end_write at close and before
 *      the first read after a write, and serves o->content from the same
 *      descriptor. A file whose reads wait for events (alerts/events)
 *      sets poll: return 1 when a read at off has something, else 0 with
 *      *wake = fs_event("alerts/events"); where the source changes (a
 *      transition recorded), call obsfs_wake("alerts/events"). The
 *      dispatch parks the read (no thread held), answers it from its
 *      notifier once poll says 1, and serves poll(2) from the same hook
 *      (logs.c STREAM#follow and rootfiles.c errors#follow are the model).
 *   2. Add one line `X(alerts)` to FS_SUBTREES below, where it should appear
 *      in the root listing and the README.
 *   3. Nothing else: the Makefile compiles every fs/ file, the root listing, the
 *      README, lookup, getattr and every operation come from the tables. Add
 *      the subtree to obsfs(7) and its tests to tests/fs/.
 */
#ifndef OBSFS_TREE_H
#define OBSFS_TREE_H

#define FUSE_USE_VERSION 314
#include <fuse.h>
#include <pthread.h>
#include <stdint.h>
#include <sys/types.h>

#include "core/buf.h"

struct fs_kind;
struct ofile;

/* The subtrees, in the order of the root listing and the README. Each X(n)
 * names a `const struct fs_subtree fs_subtree_n` defined in its own file. */
#define FS_SUBTREES \
	X(readme)       \
	X(ingest)       \
	X(metrics)      \
	X(select)       \
	X(labels)       \
	X(export)       \
	X(export_jsonl) \
	X(logs)         \
	X(traces)       \
	X(query)        \
	X(queries)      \
	X(alerts)       \
	X(ctl)          \
	X(status)       \
	X(errors)

/* A node: a kind and what the path said. Fields a kind does not use stay 0. */
struct node {
	const struct fs_kind *kind;      /* NULL until resolved */
	uint32_t id;                     /* a series */
	int64_t from, to, step;          /* a range (views, export) */
	int json;                        /* export.jsonl */
	struct obs_buf arg;              /* label name, select matchers, stream name ... */
	struct obs_buf arg2;             /* label value */
	void *priv;                      /* the kind's parsed form of the path */
	void (*priv_free)(void *);       /* frees priv (node_release) */
};

void node_init(struct node *n);
void node_release(struct node *n);   /* frees priv; n can be initialised again */
/* Move src into dst (dst released first); src is left initialised and empty. */
void node_move(struct node *dst, struct node *src);

/* One open file (fi->fh). mu protects every field but nd, which is fixed
 * after open. */
struct ofile {
	struct node nd;
	pthread_mutex_t mu;
	struct obs_buf content;    /* text served by read (render kinds) */
	int rendered;              /* content holds the render */
	void *priv;                /* the kind's per-open state (open, render) */
	void (*priv_free)(void *); /* frees priv (ofile_free) */
	/* writes (ops.c): */
	struct obs_buf carry;      /* written bytes after the last newline */
	int skipping;              /* dropping the rest of an over-long line */
	size_t lines;              /* lines consumed so far (numbers in errors) */
	size_t first_line;         /* lines before the buffer given to consume */
	uint64_t handle;           /* names this open file in a carry journal */
	int journaled;             /* a carry of this file is in the journal */
	size_t carry_kept;         /* bytes at the head of carry unchanged since the kind's
				    * last journal call succeeded (writes.c) */
	int wrote;                 /* written since the last flush */
	int pending_err;           /* input error of a cut-up write, reported at close */
	int split;                 /* the last request was full: the next may continue it */
	uint64_t next_off;         /* where that continuation would start */
	char source[160];          /* "ingest", "metrics/NAME": where errors came from */
	/* reads that wait (wait.c): */
	uint64_t read_end;         /* where the last read ended (poll asks there) */
	void *pollreg;             /* the poll(2) registration, under wait.c's lock */
	struct ofile *open_prev, *open_next;   /* every open file (ops.c), freed at unmount */
};

/* readdir's filler with a scratch buffer for names. */
struct fs_fill {
	void *buf;
	fuse_fill_dir_t filler;
	struct obs_buf name;
};

void fs_fill_name(struct fs_fill *f, const char *name);
/* A name from the index: %-escaped, aliased when longer than NAME_MAX. */
int fs_fill_encoded(struct fs_fill *f, const char *s);

/* What a file is: its type decides the mode and which operations apply. */
enum fs_type {
	FS_DIR,     /* 0755, list and lookup */
	FS_RO,      /* 0444, read */
	FS_WO,      /* 0200, write (consume) */
	FS_RW,      /* 0644, read and write: a series, a log stream */
	FS_TXN,     /* 0600, a transaction file: write a request, read the answer
	             * from the same descriptor (end_write computes it) */
};

/* A wait key: a source of wake-ups that a producer signals (a new log
 * line, a rejection, an alert transition), named by a string ("logs/app",
 * "errors", "alerts/events"). A kind whose read can have nothing yet says
 * which event will change that (poll below); whoever changes the source
 * calls obsfs_wake with its name. Events are interned and live as long as
 * the mount (wait.c). */
struct fs_event;
/* The event named key (created on first use; NULL only out of memory). */
struct fs_event *fs_event(const char *key);
/* The source named key changed: parked reads and polls on it are asked
 * again (from the notifier thread, not the caller's). Cheap, takes no lock
 * a kind holds; a key nobody waits on costs a hash lookup. */
void obsfs_wake(const char *key);
void fs_event_wake(struct fs_event *e);

struct fs_kind {
	const char *name;            /* for messages and debugging */
	enum fs_type type;
	int live;                    /* mtime is now (content changes), else the mount time */
	int agent;                   /* a write may start with an agent directive
	                              * (#obs-batch, #obs-error: ingest/batch.h, writes.c) */

	/* getattr: st_size. NULL: 0. */
	int (*size)(struct node *n, uint64_t *size);
	/* FS_DIR: fill the entries (the dispatch adds . and ..). */
	int (*list)(struct node *n, struct fs_fill *f);
	/* FS_DIR: the child called name (n bytes, not NUL-terminated), hidden
	 * names (views) included. 0 or -ENOENT (-EINVAL, -ENAMETOOLONG). */
	int (*lookup)(struct node *parent, const char *name, size_t n, struct node *child);
	/* FS_DIR: create a file name in it (open(O_CREAT)); the child is then
	 * opened. NULL: EACCES. */
	int (*create)(struct node *parent, const char *name, struct node *child, const char *source);

	/* open: set up o->priv. acc is O_RDONLY/O_WRONLY/O_RDWR. NULL: nothing. */
	int (*open)(struct ofile *o, int acc);
	/* Reads, either way (o->mu held):
	 *  render: the whole content into o->content, once per open (at the
	 *          first read, or at end_write for FS_TXN);
	 *  refresh: optional, on a later read that wants bytes up to want_end
	 *          beyond o->content: append what arrived since (a growing
	 *          series, errors), so `tail -f` sees it;
	 *  read:   streaming, returns bytes copied or -errno (log streams;
	 *          fs_stream_read for text made in pieces: export, series
	 *          and log search views); the dispatch does not lock, the
	 *          kind does. */
	int (*render)(struct ofile *o);
	int (*refresh)(struct ofile *o, uint64_t want_end);
	int (*read)(struct ofile *o, char *buf, size_t size, off_t off);

	/* Writes (o->mu held): complete lines [p, p + n) ending in '\n' except
	 * perhaps at close; o->first_line lines came before them. 0 or -errno:
	 * EINVAL/EDQUOT refuse lines and keep the others, any other error
	 * means nothing of this call was stored. */
	int (*consume)(struct ofile *o, const char *p, size_t n);
	/* Journal o->carry (the written bytes after the last newline) so a
	 * crash keeps them; o->journaled tells whether one is journaled, and
	 * its first o->carry_kept bytes are the ones the last successful call
	 * saw (writes.c lowers it when the carry is cut), so a kind may journal
	 * just the bytes after them. NULL: carries are not journaled. */
	int (*journal)(struct ofile *o);
	/* End of a write: at flush (close) after the last line was consumed,
	 * and for FS_TXN before the first read after a write: evaluate what was
	 * written, render the answer into o->content. */
	int (*end_write)(struct ofile *o);
	/* Hand a line carried from the last write to consume together with
	 * the complete lines after it, as one buffer (writes.c join_feed), not
	 * alone: for a consume that parses big lines in parallel. */
	int join_carry;
	/* The longest line consume takes. NULL: -o max_line. */
	size_t (*line_max)(void);
	/* st_blksize: the write size writers should use (cat and dd read it);
	 * a whole FUSE request (max_write) when set. 0: the FUSE default. */
	int big_writes;
	/* Make what was written durable (close with sync=close, fsync). */
	int (*sync)(struct ofile *o);

	/* rm. NULL: EPERM. */
	int (*unlink)(struct node *n);
	/* Extended attributes: the value of name (-ENODATA when it has none) and
	 * the list of names, each NUL-terminated, appended to out. */
	int (*getxattr)(struct node *n, const char *name, struct obs_buf *out);
	int (*listxattr)(struct node *n, struct obs_buf *out);

	/* Reads that wait and poll(2) (wait.c; o->mu held). 1 when a read at
	 * off has data (or end of file, or an error) now; 0 when not yet, with
	 * *wake = fs_event(KEY) the event after which to ask again (NULL:
	 * asked again every 200 ms). A read that is not ready is parked
	 * without holding a FUSE thread and answered when poll says 1; Ctrl-C
	 * ends it with EINTR, unmount with what is there. For render kinds
	 * the dispatch renders/refreshes first and asks poll only when
	 * o->content has nothing at off. NULL: always readable (a read at
	 * the end returns end of file at once). */
	int (*poll)(struct ofile *o, uint64_t off, struct fs_event **wake);
};

/* A row of the root: a name, the kind it is, and its README lines. */
struct fs_subtree {
	const char *name;            /* as listed in the root */
	const struct fs_kind *kind;
	/* Lines of the README (each "  NAME   what it is\n", may be several). */
	const char *readme;
	/* Optional: resolve a root name this row owns, the listed one and
	 * hidden ones (export@RANGE); 0 or -ENOENT when the name is not its.
	 * NULL: the listed name only, as a node of kind with the whole range. */
	int (*lookup)(const char *name, size_t n, struct node *out);
};

#define X(n) extern const struct fs_subtree fs_subtree_##n;
FS_SUBTREES
#undef X

/* Resolve a path to a node (n initialised): 0 or -ENOENT / -ENOTDIR /
 * -EINVAL / -ENAMETOOLONG. On failure n is released. */
int fs_resolve(const char *path, struct node *n);
/* The README: header, the rows' lines in table order, examples. */
int fs_readme_render(struct obs_buf *out);
/* The kind of the root directory. */
extern const struct fs_kind fs_root_kind;

/* Helpers for kinds. */
/* Streamed reads (stream.c): a kind whose text is long (export, series
 * views, log search views) makes it piece after piece as its reader gets
 * there, keeping only a window of it in o->content. Its per-open state
 * (o->priv) starts with a struct fs_stream; its read hook is
 * fs_stream_read. more
 * appends the next piece(s) to o->content (want: the length o->content
 * should reach; a piece may stop short of it or pass it) and returns 0
 * when more may follow, 1 after the last, or -errno; rewind starts again
 * from the first piece (a read before the window: a seek backwards), with
 * o->content already emptied. Both are called with o->mu held. */
struct fs_stream {
	int (*more)(struct ofile *o, size_t want);
	void (*rewind)(struct ofile *o);
	uint64_t base;             /* file offset of o->content.data[0] */
	int done;                  /* more gave the last piece */
};
/* Make st (the first member of the per-open state it belongs to) o's
 * stream: its more and rewind, o->priv, and priv_free to free that state. */
void fs_stream_attach(struct ofile *o, struct fs_stream *st, int (*more)(struct ofile *, size_t),
		      void (*rewind)(struct ofile *), void (*priv_free)(void *));

/* The read hook of such a kind: o->priv starts with its struct fs_stream.
 * Bytes copied (0 at the end) or -errno. Takes o->mu. Text the reader
 * skipped (a seek forward) is made and dropped piece by piece; the
 * consumed front past FS_STREAM_KEEP bytes is dropped. */
int fs_stream_read(struct ofile *o, char *buf, size_t size, off_t off);
#define FS_STREAM_KEEP (1u << 20)
int fs_name_eq(const char *p, size_t n, const char *lit);
/* The NAME_MAX rule for any name: enc (already %-escaped, n bytes) cut to
 * a prefix plus "~" and 16 hex digits of the hash h of the real text;
 * fs_is_alias tells such a name. */
int fs_is_alias(const char *name, size_t n);
void fs_alias_of(const char *enc, size_t n, uint64_t h, struct obs_buf *out);

#endif
