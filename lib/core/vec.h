/* vec.h — growing arrays: a pointer and a capacity (in elements), grown by
 * doubling; and the regrowth of a ring (OBS_RING_REGROW, below). OBS_VEC_RESERVE(arr, cap, need) makes room for need elements:
 * 0, or -ENOMEM (also when need * element size overflows) with arr and cap
 * unchanged. cap must be a size_t lvalue. */
#ifndef OBS_CORE_VEC_H
#define OBS_CORE_VEC_H

#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* pp is the address of any object pointer (read and written through
 * memcpy, so the pointer's own type does not matter). */
static inline int obs_vec_reserve(void *pp, size_t *cap, size_t need, size_t elem, size_t first)
{
	if (need <= *cap)
		return 0;
	size_t nc = *cap ? *cap : (first ? first : 8);
	while (nc < need) {
		if (nc > SIZE_MAX / 2)
			return -ENOMEM;
		nc *= 2;
	}
	if (elem && nc > SIZE_MAX / elem)
		return -ENOMEM;
	void *p;
	memcpy(&p, pp, sizeof p);
	void *q = realloc(p, nc * elem);
	if (!q)
		return -ENOMEM;
	memcpy(pp, &q, sizeof q);
	*cap = nc;
	return 0;
}

#define OBS_VEC_RESERVE(arr, cap, need) obs_vec_reserve(&(arr), &(cap), (need), sizeof *(arr), 0)
/* The same with the first capacity given (when it is not 0 already). */
#define OBS_VEC_RESERVE_FROM(arr, cap, need, first) \
	obs_vec_reserve(&(arr), &(cap), (need), sizeof *(arr), (first))

/* Two parallel arrays sharing one capacity (times and values): both are
 * grown, or -ENOMEM with cap unchanged (the first may have grown, which
 * the next call reuses). */
static inline int obs_vec_reserve2(void *pa, void *pb, size_t *cap, size_t need, size_t ea, size_t eb,
				   size_t first)
{
	size_t ca = *cap, cb = *cap;
	if (obs_vec_reserve(pa, &ca, need, ea, first) || obs_vec_reserve(pb, &cb, need, eb, first))
		return -ENOMEM;
	*cap = ca;
	return 0;
}

#define OBS_VEC_RESERVE2(a, b, cap, need, first) \
	obs_vec_reserve2(&(a), &(b), &(cap), (need), sizeof *(a), sizeof *(b), (first))

/* Rings (an array of cap elements, the oldest at head, n of them, wrapping
 * past the end): OBS_RING_REGROW(arr, cap, head, n, nc) moves the n
 * elements in order to the start of a new array of nc >= n elements that
 * replaces arr. 0 (the caller then sets cap = nc and head = 0), or -ENOMEM
 * with the ring unchanged. head < cap, or both 0. */
static inline int obs_ring_regrow(void *pp, size_t cap, size_t head, size_t n, size_t nc, size_t elem)
{
	if (nc < n || n > cap || (elem && nc > SIZE_MAX / elem))
		return -ENOMEM;
	size_t bytes = nc * elem;
	char *p, *q = malloc(bytes ? bytes : 1);
	if (!q)
		return -ENOMEM;
	memcpy(&p, pp, sizeof p);
	size_t first = n < cap - head ? n : cap - head;
	if (first)
		memcpy(q, p + head * elem, first * elem);
	if (n > first)
		memcpy(q + first * elem, p, (n - first) * elem);
	free(p);
	memcpy(pp, &q, sizeof q);
	return 0;
}

#define OBS_RING_REGROW(arr, cap, head, n, nc) obs_ring_regrow(&(arr), (cap), (head), (n), (nc), sizeof *(arr))

#endif
