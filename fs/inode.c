/* inode.c — the inode table of the low-level FUSE dispatch.
 *
 * The kernel names files by inode number; the tree names them by path
 * (tree.h). Every successful lookup or create hands the kernel an inode for
 * a path and counts it (nlookup); forget takes counts back and the inode
 * goes when its count reaches 0. Numbers are never reused within a mount
 * (a 64-bit counter), so the generation is the same for every inode: the
 * pair (ino, generation) is unique for the mount's life. The root is
 * FUSE_ROOT_ID, path "/", never forgotten.
 *
 * Two chained hash tables (by number and by path) over the same entries,
 * one mutex; they double when the entries outnumber the buckets twice. */
#include "obsfs.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <xxhash.h>

struct inode {
	fuse_ino_t ino;
	uint64_t nlookup;
	char *path;
	uint64_t phash;
	struct inode *next_ino, *next_path;
};

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static struct inode **by_ino, **by_path;
static size_t nbuckets, count;
static fuse_ino_t next_ino = FUSE_ROOT_ID + 1;

#define INODE_GENERATION 1

static size_t slot_ino(fuse_ino_t ino, size_t nb)
{
	return (size_t)(XXH3_64bits(&ino, sizeof ino) & (nb - 1));
}

static int grow(void)
{
	size_t nb = nbuckets ? nbuckets * 2 : 1024;
	struct inode **bi = calloc(nb, sizeof *bi), **bp = calloc(nb, sizeof *bp);
	if (!bi || !bp) {
		free(bi);
		free(bp);
		return -ENOMEM;
	}
	for (size_t i = 0; i < nbuckets; i++) {
		for (struct inode *n = by_ino[i], *nx; n; n = nx) {
			nx = n->next_ino;
			size_t s = slot_ino(n->ino, nb);
			n->next_ino = bi[s];
			bi[s] = n;
		}
		for (struct inode *n = by_path[i], *nx; n; n = nx) {
			nx = n->next_path;
			size_t s = (size_t)(n->phash & (nb - 1));
			n->next_path = bp[s];
			bp[s] = n;
		}
	}
	free(by_ino);
	free(by_path);
	by_ino = bi;
	by_path = bp;
	nbuckets = nb;
	return 0;
}

static struct inode *find_ino(fuse_ino_t ino)
{
	if (!nbuckets)
		return NULL;
	for (struct inode *n = by_ino[slot_ino(ino, nbuckets)]; n; n = n->next_ino)
		if (n->ino == ino)
			return n;
	return NULL;
}

char *fs_ino_path(fuse_ino_t ino)
{
	if (ino == FUSE_ROOT_ID)
		return strdup("/");
	pthread_mutex_lock(&mu);
	struct inode *n = find_ino(ino);
	char *p = n ? strdup(n->path) : NULL;
	pthread_mutex_unlock(&mu);
	return p;
}

int fs_ino_get(const char *path, fuse_ino_t *ino, uint64_t *gen)
{
	*gen = INODE_GENERATION;
	if (!strcmp(path, "/")) {
		*ino = FUSE_ROOT_ID;
		return 0;
	}
	uint64_t h = XXH3_64bits(path, strlen(path));
	pthread_mutex_lock(&mu);
	struct inode *n = NULL;
	if (nbuckets)
		for (n = by_path[h & (nbuckets - 1)]; n; n = n->next_path)
			if (n->phash == h && !strcmp(n->path, path))
				break;
	if (!n) {
		if ((count + 1 > nbuckets * 2 && grow()) || !(n = calloc(1, sizeof *n)) ||
		    !(n->path = strdup(path))) {
			free(n);
			pthread_mutex_unlock(&mu);
			return -ENOMEM;
		}
		n->ino = next_ino++;
		n->phash = h;
		size_t s = slot_ino(n->ino, nbuckets);
		n->next_ino = by_ino[s];
		by_ino[s] = n;
		n->next_path = by_path[h & (nbuckets - 1)];
		by_path[h & (nbuckets - 1)] = n;
		count++;
	}
	n->nlookup++;
	*ino = n->ino;
	pthread_mutex_unlock(&mu);
	return 0;
}

void fs_ino_forget(fuse_ino_t ino, uint64_t nlookup)
{
	if (ino == FUSE_ROOT_ID)
		return;
	pthread_mutex_lock(&mu);
	struct inode *n = find_ino(ino);
	if (n && (n->nlookup -= nlookup < n->nlookup ? nlookup : n->nlookup) == 0) {
		struct inode **pp = &by_ino[slot_ino(ino, nbuckets)];
		while (*pp != n)
			pp = &(*pp)->next_ino;
		*pp = n->next_ino;
		pp = &by_path[n->phash & (nbuckets - 1)];
		while (*pp != n)
			pp = &(*pp)->next_path;
		*pp = n->next_path;
		free(n->path);
		free(n);
		count--;
	}
	pthread_mutex_unlock(&mu);
}

size_t fs_ino_count(void)
{
	pthread_mutex_lock(&mu);
	size_t c = count;
	pthread_mutex_unlock(&mu);
	return c;
}
