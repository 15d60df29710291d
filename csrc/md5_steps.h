/* The 64 steps of MD5 (RFC 1321) as one macro, so the scalar, SSE2 and AVX2 transforms share
 * one table: MD5_STEPS(STEP, F, G, H, I, a, b, c, d, x) expands to STEP(f, a, b, c, d, x[k], t, s)
 * 64 times; each STEP must be a complete statement. Internal to csrc/. */
#ifndef EN_MD5_STEPS_H
#define EN_MD5_STEPS_H

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

/* The AVX2 transform's operations (eight lanes of 32-bit words), for MD5_STEPS(VSTEP, VF, VG, VH,
 * VI, ...) inside a target("avx2") function that defines `ones` (all bits set). */
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>
#define EN_MD5_HAVE_X8 1

#define VROTL(v, s) _mm256_or_si256(_mm256_slli_epi32((v), (s)), _mm256_srli_epi32((v), 32 - (s)))
#define VF(x, y, z) _mm256_xor_si256((z), _mm256_and_si256((x), _mm256_xor_si256((y), (z))))
#define VG(x, y, z) _mm256_xor_si256((y), _mm256_and_si256((z), _mm256_xor_si256((x), (y))))
#define VH(x, y, z) _mm256_xor_si256(_mm256_xor_si256((x), (y)), (z))
#define VI(x, y, z) _mm256_xor_si256((y), _mm256_or_si256((x), _mm256_xor_si256((z), ones)))
#define VSTEP(f, a, b, c, d, xi, t, s) \
    (a) = _mm256_add_epi32((a), _mm256_add_epi32(f((b), (c), (d)), _mm256_add_epi32((xi), _mm256_set1_epi32((int)(t))))); \
    (a) = VROTL((a), (s)); \
    (a) = _mm256_add_epi32((a), (b));

/* Whether this CPU runs AVX2 (asked once per file that includes this). */
static inline int en_md5_have_avx2(void) {
    static int cached = -1;
    if (cached < 0) {
        __builtin_cpu_init();
        cached = __builtin_cpu_supports("avx2") ? 1 : 0;
    }
    return cached;
}
#endif

#endif
