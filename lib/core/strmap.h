/* strmap.h — open-addressing hash map from byte strings to pointers.
 * Not thread-safe: the owner locks. Keys are copied; values are not owned. */
#ifndef OBS_CORE_STRMAP_H
#define OBS_CORE_STRMAP_H

#include <stddef.h>
#include <stdint.h>

struct obs_strmap;

struct obs_strmap *obs_strmap_new(void);
void obs_strmap_free(struct obs_strmap *m);   /* accepts NULL; frees keys, not values */
uint64_t obs_strmap_hash(const void *key, size_t n);
/* Value for key, or NULL. hash must be obs_strmap_hash(key, n). */
void *obs_strmap_get(const struct obs_strmap *m, uint64_t hash, const void *key, size_t n);
/* Insert or replace. 0 or -ENOMEM (map unchanged). */
int obs_strmap_put(struct obs_strmap *m, uint64_t hash, const void *key, size_t n, void *val);
/* Remove key; returns its value or NULL. */
void *obs_strmap_del(struct obs_strmap *m, uint64_t hash, const void *key, size_t n);
size_t obs_strmap_count(const struct obs_strmap *m);
/* Visit every entry (unordered); fn returning non-zero stops and is returned. */
int obs_strmap_each(const struct obs_strmap *m, int (*fn)(void *ctx, const char *key, size_t n, void *val), void *ctx);
size_t obs_strmap_bytes(const struct obs_strmap *m);   /* memory held, approximately */

#endif
