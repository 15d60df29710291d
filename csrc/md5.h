/* MD5 (RFC 1321), one message or a whole batch of Arrow-layout keys. */
#ifndef EN_MD5_H
#define EN_MD5_H

#include "common.h"

void en_md5(const uint8_t *msg, size_t len, uint8_t digest[16]);

/* Digest of each key, as a big-endian 128-bit integer split into hi/lo 64-bit halves. */
en_status en_md5_batch(const en_binary_view *keys, int64_t n, uint64_t *hi, uint64_t *lo);

/* The same, the rows split between `threads` threads (the caller is one of them). */
en_status en_md5_batch_threads(const en_binary_view *keys, int64_t n, uint64_t *hi, uint64_t *lo, int threads);

/* The range index of each key's digest (as en_route over start_hi/start_lo, m ranges) into
 * out, hashed and routed block by block on `threads` threads: the digests never leave a
 * thread's cache-sized scratch. */
en_status en_md5_route_threads(const en_binary_view *keys, int64_t n, const uint64_t *start_hi,
                               const uint64_t *start_lo, int64_t m, int32_t *out, int threads);

#endif
