/* MD5 after RFC 1321, written for short messages: partition keys are usually one block. */
#include <stdlib.h>
#include <string.h>

#include <pthread.h>

#include "hashkey.h"
#include "md5.h"
#include "md5_steps.h"

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

#ifdef EN_MD5_HAVE_X8
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

#endif

en_status en_md5_batch(const en_binary_view *keys, int64_t n, uint64_t *hi, uint64_t *lo) {
    uint32_t st[4];
    int64_t i = 0;
#ifdef EN_MD5_HAVE_X8
    if (en_md5_have_avx2()) {
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

/* Rows are hashed in blocks that the threads take in turn from a shared counter: a thread the
 * scheduler parks holds up at most the block it is on, never a fixed half of the batch. */
#define EN_MD5_BLOCK_ROWS 16384
#define EN_MD5_MAX_THREADS 8

typedef struct {
    const en_binary_view *keys;
    int64_t n;
    uint64_t *hi, *lo;     /* the digests; NULL when routing (each thread's block scratch instead) */
    const uint64_t *start_hi, *start_lo;   /* routing: range starts, m of them, and out */
    int64_t m;
    int32_t *out;
    int64_t next_block;    /* atomic */
    en_status rc;          /* first failure (atomic) */
} md5_work;

static void md5_work_fail(md5_work *w, en_status rc) {
    en_status ok = EN_OK;
    __atomic_compare_exchange_n(&w->rc, &ok, rc, 0, __ATOMIC_RELAXED, __ATOMIC_RELAXED);
}

static void *md5_work_run(void *arg) {
    md5_work *w = arg;
    size_t width = w->keys->wide ? sizeof(int64_t) : sizeof(int32_t);
    uint64_t *scratch = NULL;   /* routing: a block's digests, routed while still in cache */
    if (w->out && !(scratch = malloc(sizeof(uint64_t) * 2 * EN_MD5_BLOCK_ROWS))) {
        md5_work_fail(w, EN_ENOMEM);
        return NULL;
    }
    for (;;) {
        int64_t first = __atomic_fetch_add(&w->next_block, 1, __ATOMIC_RELAXED) * EN_MD5_BLOCK_ROWS;
        if (first >= w->n) break;
        int64_t count = w->n - first < EN_MD5_BLOCK_ROWS ? w->n - first : EN_MD5_BLOCK_ROWS;
        en_binary_view part = *w->keys;
        part.offsets = (const uint8_t *)w->keys->offsets + (size_t)first * width;
        uint64_t *hi = scratch ? scratch : w->hi + first, *lo = scratch ? scratch + EN_MD5_BLOCK_ROWS : w->lo + first;
        en_status rc = en_md5_batch(&part, count, hi, lo);
        if (rc == EN_OK && scratch) rc = en_route(hi, lo, count, w->start_hi, w->start_lo, w->m, w->out + first);
        if (rc != EN_OK) md5_work_fail(w, rc);
    }
    free(scratch);
    return NULL;
}

/* Blocks of w on `threads` threads, the caller one of them; if a thread cannot start, the
 * others take its blocks. */
static en_status md5_work_threads(md5_work *w, int threads) {
    if (threads > EN_MD5_MAX_THREADS) threads = EN_MD5_MAX_THREADS;
    pthread_t tids[EN_MD5_MAX_THREADS];
    int started[EN_MD5_MAX_THREADS] = {0};
    for (int t = 1; t < threads; t++) started[t] = pthread_create(&tids[t], NULL, md5_work_run, w) == 0;
    md5_work_run(w);
    for (int t = 1; t < threads; t++)
        if (started[t]) pthread_join(tids[t], NULL);
    return w->rc;
}

en_status en_md5_route_threads(const en_binary_view *keys, int64_t n, const uint64_t *start_hi,
                               const uint64_t *start_lo, int64_t m, int32_t *out, int threads) {
    if (m <= 0) return EN_EINVAL;
    if (n <= EN_MD5_BLOCK_ROWS) threads = 1;
    md5_work w = {keys, n, NULL, NULL, start_hi, start_lo, m, out, 0, EN_OK};
    return md5_work_threads(&w, threads);
}

en_status en_md5_batch_threads(const en_binary_view *keys, int64_t n, uint64_t *hi, uint64_t *lo, int threads) {
    if (threads > EN_MD5_MAX_THREADS) threads = EN_MD5_MAX_THREADS;
    if (threads <= 1 || n <= EN_MD5_BLOCK_ROWS) return en_md5_batch(keys, n, hi, lo);
    md5_work w = {keys, n, hi, lo, NULL, NULL, 0, NULL, 0, EN_OK};
    return md5_work_threads(&w, threads);
}

