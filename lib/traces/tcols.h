/* tcols.h — the columnar encoding of a trace segment's records (libobs
 * traces): what a version 2 segment file (tstore.c) holds, compressed.
 * Pure functions: no I/O, no state. Layout at the top of tcols.c.
 *
 * A record is what the store appends per obs_tstore_add: a 16-byte trace
 * id, a uvarint span count, then per span (uvarint length, span encoding
 * as in span.c). The row form of a segment is its records back to back;
 * the columnar form holds the same spans column by column (ids, times as
 * deltas, every string field through one dictionary), which zstd packs
 * far tighter than the rows. */
#ifndef OBS_TRACES_TCOLS_H
#define OBS_TRACES_TCOLS_H

#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"

/* Append the columnar form of the nrec row records rows[0..n) to out.
 * Every span must be a canonical encoding (as obs_span_encode writes it),
 * so decoding gives the rows back byte for byte. 0, -EBADMSG (a record or
 * span that does not parse; out unchanged) or -ENOMEM. */
int obs_tcols_encode(const uint8_t *rows, size_t n, uint32_t nrec, struct obs_buf *out);

/* Append the row records that the columnar form p[0..n) of nrec records
 * holds to rows. Bytes from disk: every length and index is checked.
 * 0, -EBADMSG (rows unchanged) or -ENOMEM. */
int obs_tcols_decode(const uint8_t *p, size_t n, uint32_t nrec, struct obs_buf *rows);

#endif
