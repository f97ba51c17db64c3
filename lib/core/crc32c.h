/* crc32c.h — CRC-32C (Castagnoli), the checksum of every on-disk record. */
#ifndef OBS_CORE_CRC32C_H
#define OBS_CORE_CRC32C_H

#include <stddef.h>
#include <stdint.h>

/* crc32c(0, p, n) for a fresh checksum; pass a previous result to extend. */
uint32_t obs_crc32c(uint32_t crc, const void *p, size_t n);

#endif
