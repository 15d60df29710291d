/* MD5 of many messages: four at a time with SSE2 (x86-64) where four messages of the same
 * padded block count meet, one at a time (en_md5) otherwise. Same digests as en_md5. */
#include <string.h>

#include "md5.h"
#include "md5many.h"
#include "md5_steps.h"

#if defined(__SSE2__)
#include <emmintrin.h>

typedef __m128i v4;

#define F(x, y, z) _mm_or_si128(_mm_and_si128(x, y), _mm_andnot_si128(x, z))
#define G(x, y, z) _mm_or_si128(_mm_and_si128(x, z), _mm_andnot_si128(z, y))
#define H(x, y, z) _mm_xor_si128(_mm_xor_si128(x, y), z)
#define I(x, y, z) _mm_xor_si128(y, _mm_or_si128(x, _mm_xor_si128(z, ones)))
#define ROTL(x, s) _mm_or_si128(_mm_slli_epi32(x, s), _mm_srli_epi32(x, 32 - (s)))
#define STEP(f, a, b, c, d, xk, t, s) \
    a = _mm_add_epi32(b, ROTL(_mm_add_epi32(_mm_add_epi32(a, f(b, c, d)), _mm_add_epi32(xk, _mm_set1_epi32((int)(t)))), s));

static size_t padded_blocks(size_t len) { return (len + 8) / 64 + 1; }

/* the padded tail of a message: its last len % 64 bytes, 0x80, zeros, the bit length (1 or 2 blocks) */
static void make_tail(const uint8_t *msg, size_t len, uint8_t tail[128]) {
    size_t full = len / 64, rest = len - full * 64;
    memset(tail, 0, 128);
    if (rest) memcpy(tail, msg + full * 64, rest);
    tail[rest] = 0x80;
    size_t tail_len = padded_blocks(len) * 64 - full * 64;
    uint64_t bits = (uint64_t)len * 8;
    for (int i = 0; i < 8; i++) tail[tail_len - 8 + i] = (uint8_t)(bits >> (8 * i));
}

static void md5_x4(const uint8_t *const msg[4], const size_t len[4], uint8_t *const out[4]) {
    const v4 ones = _mm_set1_epi32(-1);
    uint8_t tails[4][128];
    size_t full[4];
    for (int l = 0; l < 4; l++) {
        make_tail(msg[l], len[l], tails[l]);
        full[l] = len[l] / 64;
    }
    size_t nblocks = padded_blocks(len[0]);
    v4 a = _mm_set1_epi32(0x67452301), b = _mm_set1_epi32((int)0xefcdab89u);
    v4 c = _mm_set1_epi32((int)0x98badcfeu), d = _mm_set1_epi32(0x10325476);
    for (size_t blk = 0; blk < nblocks; blk++) {
        const uint8_t *p[4];
        for (int l = 0; l < 4; l++)
            p[l] = blk < full[l] ? msg[l] + 64 * blk : tails[l] + 64 * (blk - full[l]);
        v4 x[16];
        for (int k = 0; k < 16; k += 4) {
            v4 r0 = _mm_loadu_si128((const v4 *)(p[0] + 4 * k));
            v4 r1 = _mm_loadu_si128((const v4 *)(p[1] + 4 * k));
            v4 r2 = _mm_loadu_si128((const v4 *)(p[2] + 4 * k));
            v4 r3 = _mm_loadu_si128((const v4 *)(p[3] + 4 * k));
            v4 t0 = _mm_unpacklo_epi32(r0, r1), t1 = _mm_unpacklo_epi32(r2, r3);
            v4 t2 = _mm_unpackhi_epi32(r0, r1), t3 = _mm_unpackhi_epi32(r2, r3);
            x[k] = _mm_unpacklo_epi64(t0, t1);
            x[k + 1] = _mm_unpackhi_epi64(t0, t1);
            x[k + 2] = _mm_unpacklo_epi64(t2, t3);
            x[k + 3] = _mm_unpackhi_epi64(t2, t3);
        }
        v4 aa = a, bb = b, cc = c, dd = d;
        MD5_STEPS(STEP, F, G, H, I, a, b, c, d, x)
        a = _mm_add_epi32(a, aa);
        b = _mm_add_epi32(b, bb);
        c = _mm_add_epi32(c, cc);
        d = _mm_add_epi32(d, dd);
    }
    uint32_t w[4][4];
    _mm_storeu_si128((v4 *)w[0], a);
    _mm_storeu_si128((v4 *)w[1], b);
    _mm_storeu_si128((v4 *)w[2], c);
    _mm_storeu_si128((v4 *)w[3], d);
    for (int l = 0; l < 4; l++)
        for (int r = 0; r < 4; r++) {
            uint32_t v = w[r][l];
            out[l][4 * r] = (uint8_t)v;
            out[l][4 * r + 1] = (uint8_t)(v >> 8);
            out[l][4 * r + 2] = (uint8_t)(v >> 16);
            out[l][4 * r + 3] = (uint8_t)(v >> 24);
        }
}

void en_md5_many(const uint8_t *const *msgs, const int64_t *lens, int64_t n, uint8_t *out) {
    /* group rows by padded block count, looking a little ahead; leftovers one at a time */
    enum { AHEAD = 32 };
    uint8_t done[AHEAD];
    int64_t base = 0;
    while (base < n) {
        int64_t span = n - base < AHEAD ? n - base : AHEAD;
        memset(done, 0, sizeof(done));
        for (int64_t i = 0; i < span; i++) {
            if (done[i]) continue;
            size_t nb = padded_blocks((size_t)lens[base + i]);
            int64_t pick[4];
            int k = 0;
            pick[k++] = i;
            for (int64_t j = i + 1; j < span && k < 4; j++)
                if (!done[j] && padded_blocks((size_t)lens[base + j]) == nb) pick[k++] = j;
            if (k >= 2) {  /* (two or three real lanes still beat one at a time: pad with copies) */
                const uint8_t *m[4];
                size_t l[4];
                uint8_t *o[4];
                uint8_t spare[16];
                for (int q = 0; q < 4; q++) {
                    int64_t r = pick[q < k ? q : 0];
                    m[q] = msgs[base + r];
                    l[q] = (size_t)lens[base + r];
                    o[q] = q < k ? out + 16 * (base + r) : spare;
                    done[r] = 1;
                }
                md5_x4(m, l, o);
            } else {
                en_md5(msgs[base + i], (size_t)lens[base + i], out + 16 * (base + i));
                done[i] = 1;
            }
        }
        base += span;
    }
}

#else

void en_md5_many(const uint8_t *const *msgs, const int64_t *lens, int64_t n, uint8_t *out) {
    for (int64_t i = 0; i < n; i++) en_md5(msgs[i], (size_t)lens[i], out + 16 * i);
}

#endif
