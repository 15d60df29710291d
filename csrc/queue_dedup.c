/* FIFO deduplication: records of (16-byte key digest, expiry, message number, sequence number),
 * kept window_ms after each send whatever becomes of the message, expiring in send order (a
 * FIFO list: send times never go back). Keys are MurmurHash3 x64_128 digests of the
 * deduplication id (or of group digest + id), far cheaper than MD5 on short ids; 128 bits make
 * an accidental collision of two ids practically impossible.
 */
#include <stdlib.h>
#include <string.h>

#include "queue_internal.h"

EN_INLINE uint64_t rotl64(uint64_t x, int r) { return (x << r) | (x >> (64 - r)); }

EN_INLINE uint64_t fmix64(uint64_t k) {
    k ^= k >> 33;
    k *= 0xff51afd7ed558ccdULL;
    k ^= k >> 33;
    k *= 0xc4ceb9fe1a85ec53ULL;
    k ^= k >> 33;
    return k;
}

void qdedup_digest(const uint8_t *data, size_t len, uint8_t out[16]) {
    const uint64_t c1 = 0x87c37b91114253d5ULL, c2 = 0x4cf5ad432745937fULL;
    uint64_t h1 = 0x9e3779b97f4a7c15ULL, h2 = 0x9e3779b97f4a7c15ULL, k1, k2;
    size_t nblocks = len / 16;
    for (size_t i = 0; i < nblocks; i++) {
        memcpy(&k1, data + 16 * i, 8);
        memcpy(&k2, data + 16 * i + 8, 8);
        k1 *= c1; k1 = rotl64(k1, 31); k1 *= c2; h1 ^= k1;
        h1 = rotl64(h1, 27); h1 += h2; h1 = h1 * 5 + 0x52dce729;
        k2 *= c2; k2 = rotl64(k2, 33); k2 *= c1; h2 ^= k2;
        h2 = rotl64(h2, 31); h2 += h1; h2 = h2 * 5 + 0x38495ab5;
    }
    size_t rest = len & 15;
    uint8_t t[16] = {0};
    memcpy(t, data + 16 * nblocks, rest);
    memcpy(&k1, t, 8);
    memcpy(&k2, t + 8, 8);
    if (rest > 8) { k2 *= c2; k2 = rotl64(k2, 33); k2 *= c1; h2 ^= k2; }
    if (rest > 0) { k1 *= c1; k1 = rotl64(k1, 31); k1 *= c2; h1 ^= k1; }
    h1 ^= (uint64_t)len;
    h2 ^= (uint64_t)len;
    h1 += h2;
    h2 += h1;
    h1 = fmix64(h1);
    h2 = fmix64(h2);
    h1 += h2;
    h2 += h1;
    memcpy(out, &h1, 8);
    memcpy(out + 8, &h2, 8);
}

/* The deduplication index: open addressing (linear probing, at most half full) over 64-bit
 * entries (high 32 bits of the key's hash << 32 | record + 1; 0: empty), so a lookup of a new
 * id touches one cache line of the index and no record. Deletion shifts back (no tombstones). */
EN_INLINE uint32_t dedup_fp(const uint8_t *key) { return (uint32_t)(key_hash(key) >> 32); }

int32_t qdedup_find(const en_queue *q, const uint8_t key[16]) {
    if (!q->n_dindex) return NIL;
    uint32_t fp = dedup_fp(key);
    uint64_t mask = (uint64_t)q->n_dindex - 1, i = fp & mask;
    const uint64_t *t = q->dindex;
    for (;;) {
        uint64_t v = t[i];
        if (!v) return NIL;
        if ((uint32_t)(v >> 32) == fp) {
            int32_t di = (int32_t)((uint32_t)v - 1);
            if (memcmp(q->dedups[di].key, key, 16) == 0) return di;
        }
        i = (i + 1) & mask;
    }
}

static void dindex_put(uint64_t *t, uint64_t mask, uint64_t v) {
    uint64_t i = (v >> 32) & mask;
    while (t[i]) i = (i + 1) & mask;
    t[i] = v;
}

en_status qdedup_reserve(en_queue *q, int64_t extra) {
    int64_t need = q->n_dedups + extra;
    if (need > INT32_MAX - 1) return EN_ENOMEM;
    if (need > q->cap_dedups) {
        int64_t cap = q->cap_dedups ? q->cap_dedups * 2 : 256;
        if (cap < need) cap = need;
        en_qdedup *d = realloc(q->dedups, sizeof(en_qdedup) * (size_t)cap);
        if (!d) return EN_ENOMEM;
        q->bytes_allocated += (cap - q->cap_dedups) * (int64_t)sizeof(en_qdedup);
        q->dedups = d;
        q->cap_dedups = cap;
    }
    if (2 * need > q->n_dindex) {
        int64_t nb = pow2_at_least(2 * need);
        uint64_t *t = calloc((size_t)nb, sizeof(uint64_t));
        if (!t) return EN_ENOMEM;
        const uint64_t *old = q->dindex;
        for (int64_t i = 0; i < q->n_dindex; i++)
            if (old[i]) dindex_put(t, (uint64_t)nb - 1, old[i]);
        q->bytes_allocated += (nb - q->n_dindex) * (int64_t)sizeof(uint64_t);
        free(q->dindex);
        q->dindex = t;
        q->n_dindex = nb;
    }
    return EN_OK;
}

void qdedup_add(en_queue *q, const uint8_t key[16], int64_t expires, int64_t num, uint64_t seq) {
    int32_t di;
    if (q->dedup_free != NIL) {
        di = q->dedup_free;
        q->dedup_free = q->dedups[di].hnext;
    } else {
        di = (int32_t)q->hw_dedups++;
    }
    en_qdedup *d = &q->dedups[di];
    memcpy(d->key, key, 16);
    d->expires_ms = expires;
    d->num = num;
    d->seq = seq;
    d->hnext = NIL;
    dindex_put(q->dindex, (uint64_t)q->n_dindex - 1,
               ((uint64_t)dedup_fp(key) << 32) | (uint32_t)(di + 1));
    d->onext = NIL;
    if (q->dnew != NIL) q->dedups[q->dnew].onext = di;
    else q->dold = di;
    q->dnew = di;
    q->n_dedups++;
}

/* forget record di (out of the index; the caller fixes the expiry order) */
static void dedup_forget(en_queue *q, int32_t di) {
    en_qdedup *d = &q->dedups[di];
    uint64_t *t = q->dindex;
    uint64_t mask = (uint64_t)q->n_dindex - 1, i = dedup_fp(d->key) & mask;
    while ((uint32_t)t[i] != (uint32_t)(di + 1)) i = (i + 1) & mask;
    uint64_t j = i;
    for (;;) {  /* shift back the entries that probed past i */
        j = (j + 1) & mask;
        uint64_t v = t[j];
        if (!v) break;
        uint64_t home = (v >> 32) & mask;
        int stays = i <= j ? (home > i && home <= j) : (home > i || home <= j);
        if (!stays) {
            t[i] = v;
            i = j;
        }
    }
    t[i] = 0;
    d->hnext = q->dedup_free;
    q->dedup_free = di;
    q->n_dedups--;
}

void qdedup_expire(en_queue *q, int64_t now) {
    while (q->dold != NIL && q->dedups[q->dold].expires_ms <= now) {
        int32_t di = q->dold;
        q->dold = q->dedups[di].onext;
        if (q->dold == NIL) q->dnew = NIL;
        dedup_forget(q, di);
    }
}

const void *qdedup_slot_hint(const en_queue *q, const uint8_t key[16]) {
    return &q->dindex[dedup_fp(key) & (uint64_t)(q->n_dindex - 1)];
}

void qdedup_rollback(en_queue *q, int32_t mark) {
    int32_t d = mark == NIL ? q->dold : q->dedups[mark].onext;
    while (d != NIL) {
        int32_t next = q->dedups[d].onext;
        dedup_forget(q, d);
        d = next;
    }
    q->dnew = mark;
    if (mark == NIL) q->dold = NIL;
    else q->dedups[mark].onext = NIL;
}

void qdedup_destroy(en_queue *q) {
    free(q->dedups);
    free(q->dindex);
}
