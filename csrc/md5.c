/* MD5 after RFC 1321, written for short messages: partition keys are usually one block. */
#include <string.h>

#include "md5.h"

#define F(x, y, z) ((z) ^ ((x) & ((y) ^ (z))))
#define G(x, y, z) ((y) ^ ((z) & ((x) ^ (y))))
#define H(x, y, z) ((x) ^ (y) ^ (z))
#define I(x, y, z) ((y) ^ ((x) | ~(z)))
#define STEP(f, a, b, c, d, x, t, s) \
    (a) += f((b), (c), (d)) + (x) + (t); \
    (a) = (((a) << (s)) | (((a) & 0xffffffffu) >> (32 - (s)))); \
    (a) += (b);

EN_INLINE uint32_t load_le32(const uint8_t *p) {
    return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24);
}

/* The 64 steps of RFC 1321, shared by the scalar and the 8-lane SIMD transforms. */
#define MD5_STEPS(STEP, F, G, H, I, a, b, c, d, x) \
    STEP(F, a, b, c, d, x[0], 0xd76aa478, 7)  STEP(F, d, a, b, c, x[1], 0xe8c7b756, 12) \
    STEP(F, c, d, a, b, x[2], 0x242070db, 17) STEP(F, b, c, d, a, x[3], 0xc1bdceee, 22) \
    STEP(F, a, b, c, d, x[4], 0xf57c0faf, 7)  STEP(F, d, a, b, c, x[5], 0x4787c62a, 12) \
    STEP(F, c, d, a, b, x[6], 0xa8304613, 17) STEP(F, b, c, d, a, x[7], 0xfd469501, 22) \
    STEP(F, a, b, c, d, x[8], 0x698098d8, 7)  STEP(F, d, a, b, c, x[9], 0x8b44f7af, 12) \
    STEP(F, c, d, a, b, x[10], 0xffff5bb1, 17) STEP(F, b, c, d, a, x[11], 0x895cd7be, 22) \
    STEP(F, a, b, c, d, x[12], 0x6b901122, 7) STEP(F, d, a, b, c, x[13], 0xfd987193, 12) \
    STEP(F, c, d, a, b, x[14], 0xa679438e, 17) STEP(F, b, c, d, a, x[15], 0x49b40821, 22) \
    STEP(G, a, b, c, d, x[1], 0xf61e2562, 5)  STEP(G, d, a, b, c, x[6], 0xc040b340, 9) \
    STEP(G, c, d, a, b, x[11], 0x265e5a51, 14) STEP(G, b, c, d, a, x[0], 0xe9b6c7aa, 20) \
    STEP(G, a, b, c, d, x[5], 0xd62f105d, 5)  STEP(G, d, a, b, c, x[10], 0x02441453, 9) \
    STEP(G, c, d, a, b, x[15], 0xd8a1e681, 14) STEP(G, b, c, d, a, x[4], 0xe7d3fbc8, 20) \
    STEP(G, a, b, c, d, x[9], 0x21e1cde6, 5)  STEP(G, d, a, b, c, x[14], 0xc33707d6, 9) \
    STEP(G, c, d, a, b, x[3], 0xf4d50d87, 14) STEP(G, b, c, d, a, x[8], 0x455a14ed, 20) \
    STEP(G, a, b, c, d, x[13], 0xa9e3e905, 5) STEP(G, d, a, b, c, x[2], 0xfcefa3f8, 9) \
    STEP(G, c, d, a, b, x[7], 0x676f02d9, 14) STEP(G, b, c, d, a, x[12], 0x8d2a4c8a, 20) \
    STEP(H, a, b, c, d, x[5], 0xfffa3942, 4)  STEP(H, d, a, b, c, x[8], 0x8771f681, 11) \
    STEP(H, c, d, a, b, x[11], 0x6d9d6122, 16) STEP(H, b, c, d, a, x[14], 0xfde5380c, 23) \
    STEP(H, a, b, c, d, x[1], 0xa4beea44, 4)  STEP(H, d, a, b, c, x[4], 0x4bdecfa9, 11) \
    STEP(H, c, d, a, b, x[7], 0xf6bb4b60, 16) STEP(H, b, c, d, a, x[10], 0xbebfbc70, 23) \
    STEP(H, a, b, c, d, x[13], 0x289b7ec6, 4) STEP(H, d, a, b, c, x[0], 0xeaa127fa, 11) \
    STEP(H, c, d, a, b, x[3], 0xd4ef3085, 16) STEP(H, b, c, d, a, x[6], 0x04881d05, 23) \
    STEP(H, a, b, c, d, x[9], 0xd9d4d039, 4)  STEP(H, d, a, b, c, x[12], 0xe6db99e5, 11) \
    STEP(H, c, d, a, b, x[15], 0x1fa27cf8, 16) STEP(H, b, c, d, a, x[2], 0xc4ac5665, 23) \
    STEP(I, a, b, c, d, x[0], 0xf4292244, 6)  STEP(I, d, a, b, c, x[7], 0x432aff97, 10) \
    STEP(I, c, d, a, b, x[14], 0xab9423a7, 15) STEP(I, b, c, d, a, x[5], 0xfc93a039, 21) \
    STEP(I, a, b, c, d, x[12], 0x655b59c3, 6) STEP(I, d, a, b, c, x[3], 0x8f0ccc92, 10) \
    STEP(I, c, d, a, b, x[10], 0xffeff47d, 15) STEP(I, b, c, d, a, x[1], 0x85845dd1, 21) \
    STEP(I, a, b, c, d, x[8], 0x6fa87e4f, 6)  STEP(I, d, a, b, c, x[15], 0xfe2ce6e0, 10) \
    STEP(I, c, d, a, b, x[6], 0xa3014314, 15) STEP(I, b, c, d, a, x[13], 0x4e0811a1, 21) \
    STEP(I, a, b, c, d, x[4], 0xf7537e82, 6)  STEP(I, d, a, b, c, x[11], 0xbd3af235, 10) \
    STEP(I, c, d, a, b, x[2], 0x2ad7d2bb, 15) STEP(I, b, c, d, a, x[9], 0xeb86d391, 21)

static void md5_block(uint32_t st[4], const uint8_t *block) {
    uint32_t x[16];
    for (int i = 0; i < 16; i++) x[i] = load_le32(block + 4 * i);
    uint32_t a = st[0], b = st[1], c = st[2], d = st[3];
    MD5_STEPS(STEP, F, G, H, I, a, b, c, d, x)
    st[0] += a; st[1] += b; st[2] += c; st[3] += d;
}

static void md5_state(const uint8_t *msg, size_t len, uint32_t st[4]) {
    st[0] = 0x67452301; st[1] = 0xefcdab89; st[2] = 0x98badcfe; st[3] = 0x10325476;
    size_t full = len & ~(size_t)63;
    for (size_t off = 0; off < full; off += 64) md5_block(st, msg + off);
    /* Tail plus padding: one block if the tail is < 56 bytes, otherwise two. */
    uint8_t tail[128];
    size_t rest = len - full;
    memcpy(tail, msg + full, rest);
    tail[rest] = 0x80;
    size_t tail_len = rest < 56 ? 64 : 128;
    memset(tail + rest + 1, 0, tail_len - rest - 1);
    uint64_t bits = (uint64_t)len << 3;
    for (int i = 0; i < 8; i++) tail[tail_len - 8 + i] = (uint8_t)(bits >> (8 * i));
    md5_block(st, tail);
    if (tail_len == 128) md5_block(st, tail + 64);
}

void en_md5(const uint8_t *msg, size_t len, uint8_t digest[16]) {
    uint32_t st[4];
    md5_state(msg, len, st);
    for (int i = 0; i < 4; i++) {
        digest[4 * i] = (uint8_t)st[i];
        digest[4 * i + 1] = (uint8_t)(st[i] >> 8);
        digest[4 * i + 2] = (uint8_t)(st[i] >> 16);
        digest[4 * i + 3] = (uint8_t)(st[i] >> 24);
    }
}

/* The digest bytes read as a big-endian integer: byte 0 is the most significant. */
EN_INLINE uint64_t be_word(const uint32_t a, const uint32_t b) {
    uint64_t v = 0;
    for (int i = 0; i < 4; i++) v = (v << 8) | ((a >> (8 * i)) & 0xff);
    for (int i = 0; i < 4; i++) v = (v << 8) | ((b >> (8 * i)) & 0xff);
    return v;
}

/* Pad a message of < 56 bytes into one block. */
EN_INLINE void pad_one_block(const uint8_t *msg, size_t len, uint8_t block[64]) {
    memset(block, 0, 64);
    memcpy(block, msg, len);
    block[len] = 0x80;
    uint64_t bits = (uint64_t)len << 3;
    for (int i = 0; i < 8; i++) block[56 + i] = (uint8_t)(bits >> (8 * i));
}

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>
#define EN_HAVE_X8 1

#define VROTL(v, s) _mm256_or_si256(_mm256_slli_epi32((v), (s)), _mm256_srli_epi32((v), 32 - (s)))
#define VF(x, y, z) _mm256_xor_si256((z), _mm256_and_si256((x), _mm256_xor_si256((y), (z))))
#define VG(x, y, z) _mm256_xor_si256((y), _mm256_and_si256((z), _mm256_xor_si256((x), (y))))
#define VH(x, y, z) _mm256_xor_si256(_mm256_xor_si256((x), (y)), (z))
#define VI(x, y, z) _mm256_xor_si256((y), _mm256_or_si256((x), _mm256_xor_si256((z), ones)))
#define VSTEP(f, a, b, c, d, xi, t, s) \
    (a) = _mm256_add_epi32((a), _mm256_add_epi32(f((b), (c), (d)), _mm256_add_epi32((xi), _mm256_set1_epi32((int)(t))))); \
    (a) = VROTL((a), (s)); \
    (a) = _mm256_add_epi32((a), (b));

/* Eight one-block messages at once (multi-buffer MD5): words[i*8 + lane] holds word i of
 * lane's padded block; st[j*8 + lane] receives state word j of each lane. */
__attribute__((target("avx2"))) static void md5_x8(const uint32_t *words, uint32_t *st) {
    const __m256i ones = _mm256_set1_epi32(-1);
    __m256i x[16];
    for (int i = 0; i < 16; i++) x[i] = _mm256_loadu_si256((const __m256i *)(words + 8 * i));
    __m256i a = _mm256_set1_epi32(0x67452301), b = _mm256_set1_epi32((int)0xefcdab89);
    __m256i c = _mm256_set1_epi32((int)0x98badcfe), d = _mm256_set1_epi32(0x10325476);
    __m256i a0 = a, b0 = b, c0 = c, d0 = d;
    MD5_STEPS(VSTEP, VF, VG, VH, VI, a, b, c, d, x)
    _mm256_storeu_si256((__m256i *)(st + 0), _mm256_add_epi32(a, a0));
    _mm256_storeu_si256((__m256i *)(st + 8), _mm256_add_epi32(b, b0));
    _mm256_storeu_si256((__m256i *)(st + 16), _mm256_add_epi32(c, c0));
    _mm256_storeu_si256((__m256i *)(st + 24), _mm256_add_epi32(d, d0));
}

static int have_avx2(void) {
    static int cached = -1;
    if (cached < 0) {
        __builtin_cpu_init();
        cached = __builtin_cpu_supports("avx2") ? 1 : 0;
    }
    return cached;
}
#endif

en_status en_md5_batch(const en_binary_view *keys, int64_t n, uint64_t *hi, uint64_t *lo) {
    uint32_t st[4];
    int64_t i = 0;
#ifdef EN_HAVE_X8
    if (have_avx2()) {
        /* Gather short keys eight at a time; long ones take the scalar path in place. */
        uint32_t words[16 * 8], lanes_st[4 * 8];
        int64_t rows[8];
        int lanes = 0;
        uint8_t block[64];
        for (; i < n; i++) {
            int64_t start = en_view_start(keys, i), len = en_view_start(keys, i + 1) - start;
            if (len >= 56) {
                md5_state(keys->data + start, (size_t)len, st);
                hi[i] = be_word(st[0], st[1]);
                lo[i] = be_word(st[2], st[3]);
                continue;
            }
            pad_one_block(keys->data + start, (size_t)len, block);
            for (int w = 0; w < 16; w++) words[w * 8 + lanes] = load_le32(block + 4 * w);
            rows[lanes++] = i;
            if (lanes == 8) {
                md5_x8(words, lanes_st);
                for (int l = 0; l < 8; l++) {
                    hi[rows[l]] = be_word(lanes_st[l], lanes_st[8 + l]);
                    lo[rows[l]] = be_word(lanes_st[16 + l], lanes_st[24 + l]);
                }
                lanes = 0;
            }
        }
        for (int l = 0; l < lanes; l++) {   /* the last partial group: scalar */
            int64_t row = rows[l];
            int64_t start = en_view_start(keys, row), len = en_view_start(keys, row + 1) - start;
            md5_state(keys->data + start, (size_t)len, st);
            hi[row] = be_word(st[0], st[1]);
            lo[row] = be_word(st[2], st[3]);
        }
        return EN_OK;
    }
#endif
    for (; i < n; i++) {
        int64_t start = en_view_start(keys, i), end = en_view_start(keys, i + 1);
        md5_state(keys->data + start, (size_t)(end - start), st);
        hi[i] = be_word(st[0], st[1]);
        lo[i] = be_word(st[2], st[3]);
    }
    return EN_OK;
}
