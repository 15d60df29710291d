/* MD5 of a batch of messages given by pointers and lengths (SIMD lanes where they fit). */
#ifndef EN_MD5MANY_H
#define EN_MD5MANY_H

#include "common.h"

/* out[16 * i .. 16 * i + 16) gets the digest of msgs[i][0 .. lens[i]). */
void en_md5_many(const uint8_t *const *msgs, const int64_t *lens, int64_t n, uint8_t *out);

#endif
