/* MD5 of many messages. With AVX2: eight lanes, each taking the next message as soon as its
 * own is done (messages of any lengths share the lanes; a lane with nothing left to take hashes
 * a dummy block). Otherwise one at a time (en_md5). Same digests as en_md5. */
#include <string.h>

#include "md5.h"
#include "md5many.h"
#include "md5_steps.h"

#ifdef EN_MD5_HAVE_X8
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

static void put_digest(uint8_t *out, uint32_t a, uint32_t b, uint32_t c, uint32_t d) {
    const uint32_t w[4] = {a, b, c, d};
    for (int r = 0; r < 4; r++) {
        out[4 * r] = (uint8_t)w[r];
        out[4 * r + 1] = (uint8_t)(w[r] >> 8);
        out[4 * r + 2] = (uint8_t)(w[r] >> 16);
        out[4 * r + 3] = (uint8_t)(w[r] >> 24);
    }
}

enum { IV_A = 0x67452301, IV_B = (int)0xefcdab89u, IV_C = (int)0x98badcfeu, IV_D = 0x10325476 };

typedef struct {
    const uint8_t *msg;
    int64_t row;           /* -1: idle */
    size_t full;           /* the message's whole 64-byte blocks, read in place */
    size_t nblocks, blk;   /* padded blocks, and the next one */
    uint8_t tail[128];
} md5_lane;

/* Give `lane` row `row`'s message (or nothing: idle); its state words go back to the IV. */
static void lane_take(md5_lane *lane, int64_t row, const uint8_t *const *msgs, const int64_t *lens) {
    lane->row = row;
    if (row < 0) return;
    size_t len = (size_t)lens[row];
    lane->msg = msgs[row];
    lane->full = len / 64;
    lane->nblocks = padded_blocks(len);
    lane->blk = 0;
    make_tail(lane->msg, len, lane->tail);
}

/* Words k..k+7 of eight 32-byte rows, one row per lane: x[k + w] holds word w of every lane. */
__attribute__((target("avx2"))) static inline void transpose8(const uint8_t *const p[8], int half, __m256i *x) {
    __m256i r[8], t[8], u[8];
    for (int l = 0; l < 8; l++) r[l] = _mm256_loadu_si256((const __m256i *)(p[l] + 32 * half));
    for (int l = 0; l < 8; l += 2) {
        t[l] = _mm256_unpacklo_epi32(r[l], r[l + 1]);       /* words 0 1 | 4 5 of lanes l, l+1 */
        t[l + 1] = _mm256_unpackhi_epi32(r[l], r[l + 1]);   /* words 2 3 | 6 7 */
    }
    for (int g = 0; g < 8; g += 4) {
        u[g] = _mm256_unpacklo_epi64(t[g], t[g + 2]);        /* word 0 | 4 of four lanes */
        u[g + 1] = _mm256_unpackhi_epi64(t[g], t[g + 2]);    /* word 1 | 5 */
        u[g + 2] = _mm256_unpacklo_epi64(t[g + 1], t[g + 3]);  /* word 2 | 6 */
        u[g + 3] = _mm256_unpackhi_epi64(t[g + 1], t[g + 3]);  /* word 3 | 7 */
    }
    for (int w = 0; w < 4; w++) {
        x[8 * half + w] = _mm256_permute2x128_si256(u[w], u[w + 4], 0x20);
        x[8 * half + w + 4] = _mm256_permute2x128_si256(u[w], u[w + 4], 0x31);
    }
}

__attribute__((target("avx2"))) static void md5_many_x8(const uint8_t *const *msgs, const int64_t *lens, int64_t n,
                                                        uint8_t *out) {
    static const uint8_t idle_block[64];
    const __m256i ones = _mm256_set1_epi32(-1);
    md5_lane lanes[8];
    int64_t next = 0;
    int busy = 0;
    for (int l = 0; l < 8; l++) {
        lane_take(&lanes[l], next < n ? next : -1, msgs, lens);
        if (next < n) next++, busy++;
    }
    __m256i a = _mm256_set1_epi32(IV_A), b = _mm256_set1_epi32(IV_B);
    __m256i c = _mm256_set1_epi32(IV_C), d = _mm256_set1_epi32(IV_D);
    while (busy) {
        const uint8_t *p[8];
        for (int l = 0; l < 8; l++) {
            const md5_lane *ln = &lanes[l];
            p[l] = ln->row < 0 ? idle_block
                 : ln->blk < ln->full ? ln->msg + 64 * ln->blk : ln->tail + 64 * (ln->blk - ln->full);
        }
        __m256i x[16];
        transpose8(p, 0, x);
        transpose8(p, 1, x);
        __m256i aa = a, bb = b, cc = c, dd = d;
        MD5_STEPS(VSTEP, VF, VG, VH, VI, a, b, c, d, x)
        a = _mm256_add_epi32(a, aa);
        b = _mm256_add_epi32(b, bb);
        c = _mm256_add_epi32(c, cc);
        d = _mm256_add_epi32(d, dd);
        unsigned finished = 0;
        for (int l = 0; l < 8; l++)
            if (lanes[l].row >= 0 && ++lanes[l].blk == lanes[l].nblocks) finished |= 1u << l;
        if (!finished) continue;
        /* finished lanes give their digest and take the next message, from the IV */
        uint32_t w[4][8];
        _mm256_storeu_si256((__m256i *)w[0], a);
        _mm256_storeu_si256((__m256i *)w[1], b);
        _mm256_storeu_si256((__m256i *)w[2], c);
        _mm256_storeu_si256((__m256i *)w[3], d);
        for (int l = 0; l < 8; l++) {
            if (!(finished & (1u << l))) continue;
            put_digest(out + 16 * lanes[l].row, w[0][l], w[1][l], w[2][l], w[3][l]);
            if (next < n) {
                lane_take(&lanes[l], next++, msgs, lens);
            } else {
                lane_take(&lanes[l], -1, msgs, lens);
                busy--;
            }
            w[0][l] = (uint32_t)IV_A, w[1][l] = (uint32_t)IV_B, w[2][l] = (uint32_t)IV_C, w[3][l] = (uint32_t)IV_D;
        }
        a = _mm256_loadu_si256((const __m256i *)w[0]);
        b = _mm256_loadu_si256((const __m256i *)w[1]);
        c = _mm256_loadu_si256((const __m256i *)w[2]);
        d = _mm256_loadu_si256((const __m256i *)w[3]);
    }
}
#endif

void en_md5_many(const uint8_t *const *msgs, const int64_t *lens, int64_t n, uint8_t *out) {
    if (n == 1) {   /* (one message: the scalar transform, no idle lanes) */
        en_md5(msgs[0], (size_t)lens[0], out);
        return;
    }
#ifdef EN_MD5_HAVE_X8
    if (en_md5_have_avx2()) {
        md5_many_x8(msgs, lens, n, out);
        return;
    }
#endif
    for (int64_t i = 0; i < n; i++) en_md5(msgs[i], (size_t)lens[i], out + 16 * i);
}
