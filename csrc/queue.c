#include <stdlib.h>
#include <string.h>

#include "queue.h"

#define NIL (-1)

/* a time or duration the queue accepts (see queue.h) */
EN_INLINE int time_ok(int64_t t) { return t >= 0 && t <= EN_Q_TIME_MAX; }

/* what a carried-over message may bring: -1 (none) or a time */
EN_INLINE int opt_time_ok(int64_t t) { return t == -1 || time_ok(t); }

/* a receive count goes up, never past INT32_MAX */
EN_INLINE void count_receive(en_qmsg *m) {
    if (m->rc < INT32_MAX) m->rc++;
}

EN_INLINE en_qmsg *slot_at(const en_queue *q, int64_t i) {
    return &q->pages[i >> EN_QPAGE_SHIFT][i & (EN_QPAGE - 1)];
}

EN_INLINE en_qfmsg *fslot_at(const en_queue *q, int64_t i) {
    return &q->fpages[i >> EN_QPAGE_SHIFT][i & (EN_QPAGE - 1)];
}

EN_INLINE int64_t expiry_of(const en_queue *q, const en_qmsg *m) { return m->sent_ms + q->retention_ms; }

EN_INLINE int64_t key_of(const en_queue *q, const en_qmsg *m) {
    int64_t e = expiry_of(q, m);
    if (m->state == EN_QM_VISIBLE) return e;
    return m->due_ms < e ? m->due_ms : e;
}

/* --- heap of slot numbers, keyed by key_of ------------------------------------------------ */
static void heap_set(en_queue *q, int64_t pos, int32_t s) {
    q->heap[pos] = s;
    slot_at(q, s)->heap_pos = (int32_t)pos;
}

static void sift_up(en_queue *q, int64_t pos) {
    int32_t s = q->heap[pos];
    int64_t k = key_of(q, slot_at(q, s));
    while (pos > 0) {
        int64_t parent = (pos - 1) >> 1;
        int32_t ps = q->heap[parent];
        if (key_of(q, slot_at(q, ps)) <= k) break;
        heap_set(q, pos, ps);
        pos = parent;
    }
    heap_set(q, pos, s);
}

static void sift_down(en_queue *q, int64_t pos) {
    int64_t n = q->heap_n;
    int32_t s = q->heap[pos];
    int64_t k = key_of(q, slot_at(q, s));
    for (;;) {
        int64_t c = 2 * pos + 1;
        if (c >= n) break;
        int64_t ck = key_of(q, slot_at(q, q->heap[c]));
        if (c + 1 < n) {
            int64_t rk = key_of(q, slot_at(q, q->heap[c + 1]));
            if (rk < ck) {
                c++;
                ck = rk;
            }
        }
        if (k <= ck) break;
        heap_set(q, pos, q->heap[c]);
        pos = c;
    }
    heap_set(q, pos, s);
}

static en_status heap_reserve(en_queue *q, int64_t extra) {
    if (q->heap_n + extra <= q->heap_cap) return EN_OK;
    int64_t cap = q->heap_cap ? q->heap_cap : 1024;
    while (cap < q->heap_n + extra) cap += cap / 2 + 1024;
    int32_t *h = realloc(q->heap, sizeof(int32_t) * (size_t)cap);
    if (!h) return EN_ENOMEM;
    q->bytes_allocated += (cap - q->heap_cap) * (int64_t)sizeof(int32_t);
    q->heap = h;
    q->heap_cap = cap;
    return EN_OK;
}

static void heap_push(en_queue *q, int32_t s) {  /* capacity reserved beforehand */
    int64_t pos = q->heap_n++;
    heap_set(q, pos, s);
    sift_up(q, pos);
}

static void heap_remove(en_queue *q, en_qmsg *m) {
    int64_t pos = m->heap_pos;
    if (pos < 0) return;
    m->heap_pos = NIL;
    int64_t last = --q->heap_n;
    if (pos == last) return;
    int32_t s = q->heap[last];
    heap_set(q, pos, s);
    sift_up(q, pos);
    sift_down(q, slot_at(q, s)->heap_pos);
}

/* the key of m changed */
static void heap_fix(en_queue *q, en_qmsg *m) {
    int64_t pos = m->heap_pos;
    sift_up(q, pos);
    sift_down(q, m->heap_pos);
}

/* --- visible list ------------------------------------------------------------------------- */
static void vis_push_back(en_queue *q, int32_t s, en_qmsg *m) {
    m->next = NIL;
    m->prev = q->vis_tail;
    if (q->vis_tail != NIL) slot_at(q, q->vis_tail)->next = s;
    else q->vis_head = s;
    q->vis_tail = s;
}

static void vis_push_front(en_queue *q, int32_t s, en_qmsg *m) {
    m->prev = NIL;
    m->next = q->vis_head;
    if (q->vis_head != NIL) slot_at(q, q->vis_head)->prev = s;
    else q->vis_tail = s;
    q->vis_head = s;
}

static void vis_unlink(en_queue *q, en_qmsg *m) {
    if (m->prev != NIL) slot_at(q, m->prev)->next = m->next;
    else q->vis_head = m->next;
    if (m->next != NIL) slot_at(q, m->next)->prev = m->prev;
    else q->vis_tail = m->prev;
    m->next = m->prev = NIL;
}

/* --- slots -------------------------------------------------------------------------------- */
static en_status slots_reserve(en_queue *q, int64_t n) {
    /* free slots available + room in the allocated pages */
    int64_t have = q->n_pages * EN_QPAGE - q->n_slots;
    int64_t f = 0;
    for (int32_t s = q->free_head; s != NIL && f + have < n; s = slot_at(q, s)->next) f++;
    while (f + have < n) {
        if (q->n_pages * (int64_t)EN_QPAGE + EN_QPAGE > INT32_MAX) return EN_ENOMEM;
        if (q->n_pages == q->cap_pages) {
            int64_t cap = q->cap_pages ? q->cap_pages * 2 : 16;
            en_qmsg **p = realloc(q->pages, sizeof(en_qmsg *) * (size_t)cap);
            if (!p) return EN_ENOMEM;
            q->pages = p;
            if (q->fifo) {
                en_qfmsg **fp = realloc(q->fpages, sizeof(en_qfmsg *) * (size_t)cap);
                if (!fp) return EN_ENOMEM;  /* (pages keeps its larger capacity: harmless) */
                q->fpages = fp;
            }
            q->cap_pages = cap;
        }
        en_qmsg *page = malloc(sizeof(en_qmsg) * EN_QPAGE);
        if (!page) return EN_ENOMEM;
        if (q->fifo) {
            en_qfmsg *fpage = malloc(sizeof(en_qfmsg) * EN_QPAGE);
            if (!fpage) {
                free(page);
                return EN_ENOMEM;
            }
            q->fpages[q->n_pages] = fpage;
            q->bytes_allocated += (int64_t)sizeof(en_qfmsg) * EN_QPAGE;
        }
        q->pages[q->n_pages++] = page;
        q->bytes_allocated += (int64_t)sizeof(en_qmsg) * EN_QPAGE;
        have += EN_QPAGE;
    }
    return EN_OK;
}

static int32_t slot_take(en_queue *q) {  /* reserved beforehand */
    int32_t s = q->free_head;
    if (s != NIL) {
        q->free_head = slot_at(q, s)->next;
        return s;
    }
    s = (int32_t)q->n_slots++;
    slot_at(q, s)->gen = 0;
    return s;
}

/* --- arena -------------------------------------------------------------------------------- */
static void chunk_release(en_queue *q, uint32_t ci) {
    en_qchunk *c = &q->chunks[ci];
    if ((int32_t)ci == q->cur_chunk) {  /* the write chunk: rewind, keep the memory */
        c->used = 0;
        return;
    }
    q->bytes_allocated -= c->cap;
    free(c->data);
    c->data = NULL;
    c->used = c->cap = 0;
    c->next_free = q->chunk_free_head;
    q->chunk_free_head = (int32_t)ci;
}

static en_status chunk_table_entry(en_queue *q, int32_t *out) {
    if (q->chunk_free_head != NIL) {
        *out = q->chunk_free_head;
        q->chunk_free_head = q->chunks[*out].next_free;
        return EN_OK;
    }
    if (q->n_chunks == q->cap_chunks) {
        int64_t cap = q->cap_chunks ? q->cap_chunks * 2 : 16;
        en_qchunk *c = realloc(q->chunks, sizeof(en_qchunk) * (size_t)cap);
        if (!c) return EN_ENOMEM;
        q->chunks = c;
        q->cap_chunks = cap;
    }
    *out = (int32_t)q->n_chunks++;
    return EN_OK;
}

/* Room for `len` bytes in the write chunk (a new chunk when it is full). */
static en_status arena_room(en_queue *q, int64_t len) {
    if (q->cur_chunk != NIL) {
        en_qchunk *c = &q->chunks[q->cur_chunk];
        if ((int64_t)c->cap - c->used >= len) return EN_OK;
    }
    if (len > (int64_t)UINT32_MAX / 2) return EN_ETOOBIG;
    int64_t cap = q->chunk_bytes;
    if (cap < len) cap = len;
    int32_t ci;
    en_status rc = chunk_table_entry(q, &ci);
    if (rc != EN_OK) return rc;
    en_qchunk *c = &q->chunks[ci];
    c->data = malloc((size_t)(cap ? cap : 1));
    if (!c->data) {
        c->next_free = q->chunk_free_head;
        q->chunk_free_head = ci;
        return EN_ENOMEM;
    }
    c->used = 0;
    c->cap = (uint32_t)cap;
    c->live = 0;
    c->next_free = NIL;
    q->bytes_allocated += cap;
    int32_t old = q->cur_chunk;
    q->cur_chunk = ci;
    if (old != NIL && q->chunks[old].live == 0) chunk_release(q, (uint32_t)old);
    return EN_OK;
}


/* --- FIFO: groups, ready list, deduplication records -------------------------------------- */
/* Keys are 16-byte digests: MurmurHash3 x64_128 (little-endian reading), far cheaper than MD5
 * on short ids; 128 bits make an accidental collision of two ids practically impossible. */
EN_INLINE uint64_t rotl64(uint64_t x, int r) { return (x << r) | (x >> (64 - r)); }

EN_INLINE uint64_t fmix64(uint64_t k) {
    k ^= k >> 33;
    k *= 0xff51afd7ed558ccdULL;
    k ^= k >> 33;
    k *= 0xc4ceb9fe1a85ec53ULL;
    k ^= k >> 33;
    return k;
}

static void digest128(const uint8_t *data, size_t len, uint8_t out[16]) {
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

EN_INLINE uint64_t key_hash(const uint8_t *k) {
    uint64_t h;
    memcpy(&h, k, 8);
    return h;
}

/* A bucket array of n (a power of two) chain heads, all NIL. */
static int32_t *buckets_new(int64_t n) {
    int32_t *b = malloc(sizeof(int32_t) * (size_t)n);
    if (b) memset(b, 0xff, sizeof(int32_t) * (size_t)n);  /* NIL */
    return b;
}

static int64_t pow2_at_least(int64_t n) {
    int64_t b = 64;
    while (b < n) b <<= 1;
    return b;
}

static int32_t group_find(const en_queue *q, const uint8_t *key) {
    if (!q->n_gbuckets) return NIL;
    int32_t g = q->gbuckets[key_hash(key) & (uint64_t)(q->n_gbuckets - 1)];
    while (g != NIL && memcmp(q->groups[g].key, key, 16) != 0) g = q->groups[g].hnext;
    return g;
}

/* room for `extra` more groups, without allocating later */
static en_status groups_reserve(en_queue *q, int64_t extra) {
    int64_t need = q->n_groups + extra;
    if (need > INT32_MAX) return EN_ENOMEM;
    if (need > q->cap_groups) {
        int64_t cap = q->cap_groups ? q->cap_groups * 2 : 64;
        if (cap < need) cap = need;
        en_qgroup *g = realloc(q->groups, sizeof(en_qgroup) * (size_t)cap);
        if (!g) return EN_ENOMEM;
        q->bytes_allocated += (cap - q->cap_groups) * (int64_t)sizeof(en_qgroup);
        q->groups = g;
        q->cap_groups = cap;
    }
    if (need > q->n_gbuckets) {
        int64_t nb = pow2_at_least(need);
        int32_t *b = buckets_new(nb);
        if (!b) return EN_ENOMEM;
        for (int64_t i = 0; i < q->hw_groups; i++) {
            en_qgroup *g = &q->groups[i];
            if (!g->used) continue;
            uint64_t h = key_hash(g->key) & (uint64_t)(nb - 1);
            g->hnext = b[h];
            b[h] = (int32_t)i;
        }
        q->bytes_allocated += (nb - q->n_gbuckets) * (int64_t)sizeof(int32_t);
        free(q->gbuckets);
        q->gbuckets = b;
        q->n_gbuckets = nb;
    }
    return EN_OK;
}

static int32_t group_new(en_queue *q, const uint8_t *key) {  /* reserved beforehand */
    int32_t gi;
    if (q->group_free != NIL) {
        gi = q->group_free;
        q->group_free = q->groups[gi].hnext;
    } else {
        gi = (int32_t)q->hw_groups++;
    }
    en_qgroup *g = &q->groups[gi];
    memcpy(g->key, key, 16);
    g->head = g->tail = g->flight = NIL;
    g->n_inflight = g->n_waiting = 0;
    g->rnext = g->rprev = NIL;
    g->ready = 0;
    g->used = 1;
    g->gen = q->group_gen++;
    uint64_t h = key_hash(key) & (uint64_t)(q->n_gbuckets - 1);
    g->hnext = q->gbuckets[h];
    q->gbuckets[h] = gi;
    q->n_groups++;
    return gi;
}

static void ready_push(en_queue *q, int32_t gi) {
    en_qgroup *g = &q->groups[gi];
    g->ready = 1;
    g->rnext = NIL;
    g->rprev = q->ready_tail;
    if (q->ready_tail != NIL) q->groups[q->ready_tail].rnext = gi;
    else q->ready_head = gi;
    q->ready_tail = gi;
}

static void ready_unlink(en_queue *q, int32_t gi) {
    en_qgroup *g = &q->groups[gi];
    if (!g->ready) return;
    if (g->rprev != NIL) q->groups[g->rprev].rnext = g->rnext;
    else q->ready_head = g->rnext;
    if (g->rnext != NIL) q->groups[g->rnext].rprev = g->rprev;
    else q->ready_tail = g->rprev;
    g->rnext = g->rprev = NIL;
    g->ready = 0;
}

static void group_release(en_queue *q, int32_t gi) {
    en_qgroup *g = &q->groups[gi];
    ready_unlink(q, gi);
    int32_t *pp = &q->gbuckets[key_hash(g->key) & (uint64_t)(q->n_gbuckets - 1)];
    while (*pp != gi) pp = &q->groups[*pp].hnext;
    *pp = g->hnext;
    g->used = 0;
    g->hnext = q->group_free;
    q->group_free = gi;
    q->n_groups--;
}

/* Whether the group's head can be received: VISIBLE, and no message before it in flight. */
static int group_can_deliver(const en_queue *q, const en_qgroup *g) {
    if (g->head == NIL || slot_at(q, g->head)->state != EN_QM_VISIBLE) return 0;
    return g->flight == NIL || fslot_at(q, g->head)->seq < fslot_at(q, g->flight)->seq;
}

/* After any change to a group: release it when empty, put it in the ready list when it can
 * deliver. */
static void group_check(en_queue *q, int32_t gi) {
    en_qgroup *g = &q->groups[gi];
    if (g->n_inflight == 0 && g->n_waiting == 0) {
        group_release(q, gi);
        return;
    }
    if (!g->ready && group_can_deliver(q, g)) ready_push(q, gi);
}

/* Put message s in the group's in-flight list after `after` (NIL: first); the caller keeps
 * the list in sequence order. */
static void flight_link_after(en_queue *q, en_qgroup *g, int32_t after, int32_t s) {
    en_qfmsg *f = fslot_at(q, s);
    f->gprev = after;
    f->gnext = after == NIL ? g->flight : fslot_at(q, after)->gnext;
    if (f->gnext != NIL) fslot_at(q, f->gnext)->gprev = s;
    if (after == NIL) g->flight = s;
    else fslot_at(q, after)->gnext = s;
}

static void flight_unlink(en_queue *q, en_qgroup *g, int32_t s) {
    en_qfmsg *f = fslot_at(q, s);
    if (f->gprev != NIL) fslot_at(q, f->gprev)->gnext = f->gnext;
    else g->flight = f->gnext;
    if (f->gnext != NIL) fslot_at(q, f->gnext)->gprev = f->gprev;
    f->gnext = f->gprev = NIL;
}

static void group_link_tail(en_queue *q, int32_t gi, int32_t s) {
    en_qgroup *g = &q->groups[gi];
    en_qfmsg *f = fslot_at(q, s);
    f->gnext = NIL;
    f->gprev = g->tail;
    if (g->tail != NIL) fslot_at(q, g->tail)->gnext = s;
    else g->head = s;
    g->tail = s;
    g->n_waiting++;
}

/* in sequence order (a message back from flight: near the head) */
static void group_link_sorted(en_queue *q, int32_t gi, int32_t s) {
    en_qgroup *g = &q->groups[gi];
    en_qfmsg *f = fslot_at(q, s);
    int32_t at = g->head;
    while (at != NIL && fslot_at(q, at)->seq < f->seq) at = fslot_at(q, at)->gnext;
    if (at == NIL) {
        group_link_tail(q, gi, s);
        return;
    }
    en_qfmsg *a = fslot_at(q, at);
    f->gnext = at;
    f->gprev = a->gprev;
    if (a->gprev != NIL) fslot_at(q, a->gprev)->gnext = s;
    else g->head = s;
    a->gprev = s;
    g->n_waiting++;
}

static void group_unlink(en_queue *q, int32_t gi, int32_t s) {
    en_qgroup *g = &q->groups[gi];
    en_qfmsg *f = fslot_at(q, s);
    if (f->gprev != NIL) fslot_at(q, f->gprev)->gnext = f->gnext;
    else g->head = f->gnext;
    if (f->gnext != NIL) fslot_at(q, f->gnext)->gprev = f->gprev;
    else g->tail = f->gprev;
    f->gnext = f->gprev = NIL;
    g->n_waiting--;
}

/* The deduplication index: open addressing (linear probing, at most half full) over 64-bit
 * entries (high 32 bits of the key's hash << 32 | record + 1; 0: empty), so a lookup of a new
 * id touches one cache line of the index and no record. Deletion shifts back (no tombstones). */
EN_INLINE uint32_t dedup_fp(const uint8_t *key) { return (uint32_t)(key_hash(key) >> 32); }

static int32_t dedup_find(const en_queue *q, const uint8_t *key) {
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

static en_status dedups_reserve(en_queue *q, int64_t extra) {
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

static void dedup_add(en_queue *q, const uint8_t *key, int64_t expires, int64_t num, uint64_t seq) {
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

static void dedup_expire(en_queue *q, int64_t now) {
    while (q->dold != NIL && q->dedups[q->dold].expires_ms <= now) {
        int32_t di = q->dold;
        q->dold = q->dedups[di].onext;
        if (q->dold == NIL) q->dnew = NIL;
        dedup_forget(q, di);
    }
}

/* An in-flight message becomes visible again, in sequence order in its group (the caller
 * fixes its heap position). */
static void fifo_return(en_queue *q, int32_t s, en_qmsg *m) {
    en_qfmsg *f = fslot_at(q, s);
    m->state = EN_QM_VISIBLE;
    q->n_inflight--;
    q->n_visible++;
    q->groups[f->group].n_inflight--;
    flight_unlink(q, &q->groups[f->group], s);
    group_link_sorted(q, f->group, s);
    group_check(q, f->group);
}

/* --- life and death ----------------------------------------------------------------------- */
static en_status push_tag(en_queue *q, int32_t tag) {
    if (q->n_dead_tags == q->cap_dead_tags) {
        int64_t cap = q->cap_dead_tags ? q->cap_dead_tags * 2 : 64;
        int32_t *t = realloc(q->dead_tags, sizeof(int32_t) * (size_t)cap);
        if (!t) return EN_ENOMEM;
        q->dead_tags = t;
        q->cap_dead_tags = cap;
    }
    q->dead_tags[q->n_dead_tags++] = tag;
    return EN_OK;
}

/* Remove a live message; its tag goes to dead_tags when `report`. */
static void kill(en_queue *q, int32_t s, en_qmsg *m, int report) {
    switch (m->state) {
    case EN_QM_VISIBLE:
        q->n_visible--;
        if (!q->fifo) vis_unlink(q, m);
        break;
    case EN_QM_INFLIGHT: q->n_inflight--; break;
    case EN_QM_DELAYED: q->n_delayed--; break;
    default: return;
    }
    if (q->fifo) {
        en_qfmsg *f = fslot_at(q, s);
        if (m->state == EN_QM_INFLIGHT) {
            q->groups[f->group].n_inflight--;
            flight_unlink(q, &q->groups[f->group], s);
        } else {
            group_unlink(q, f->group, s);
        }
        m->state = EN_QM_FREE;  /* (for group_check) */
        group_check(q, f->group);
    }
    heap_remove(q, m);
    if (report && m->tag >= 0) (void)push_tag(q, m->tag); /* (on ENOMEM the tag leaks: harmless) */
    en_qchunk *c = &q->chunks[m->chunk];
    q->body_bytes -= m->len;
    if (--c->live == 0) chunk_release(q, m->chunk);
    m->state = EN_QM_FREE;
    m->gen++;  /* handles issued for this message are stale from now on */
    m->tag = NIL;
    m->next = q->free_head;
    q->free_head = s;
}

static void tick(en_queue *q, int64_t now) {
    while (q->heap_n) {
        int32_t s = q->heap[0];
        en_qmsg *m = slot_at(q, s);
        if (key_of(q, m) > now) break;
        if (expiry_of(q, m) <= now) {
            kill(q, s, m, 1);
            continue;
        }
        if (q->fifo) {
            if (m->state == EN_QM_DELAYED) {
                q->n_delayed--;
                q->n_visible++;
                m->state = EN_QM_VISIBLE;
                group_check(q, fslot_at(q, s)->group);
            } else {
                fifo_return(q, s, m);
            }
            sift_down(q, 0);
            continue;
        }
        if (m->state == EN_QM_DELAYED) {
            q->n_delayed--;
            vis_push_back(q, s, m);
        } else {  /* INFLIGHT: visibility ran out; back first (best-effort order) */
            q->n_inflight--;
            vis_push_front(q, s, m);
        }
        m->state = EN_QM_VISIBLE;
        q->n_visible++;
        sift_down(q, 0);
    }
    if (q->fifo) dedup_expire(q, now);
}

EN_INLINE void lock(en_queue *q) { pthread_mutex_lock(&q->lock); }
EN_INLINE void unlock(en_queue *q) { pthread_mutex_unlock(&q->lock); }

/* --- API ---------------------------------------------------------------------------------- */
en_status en_queue_init(en_queue *q, int64_t retention_ms, int64_t first_num, uint32_t chunk_bytes) {
    memset(q, 0, sizeof(*q));
    if (!time_ok(retention_ms) || first_num < 0) return EN_ERANGE;
    if (pthread_mutex_init(&q->lock, NULL) != 0) return EN_ENOMEM;
    q->free_head = q->vis_head = q->vis_tail = NIL;
    q->chunk_free_head = q->cur_chunk = NIL;
    q->chunk_bytes = chunk_bytes ? chunk_bytes : (1u << 20);
    q->retention_ms = retention_ms;
    q->next_num = first_num;
    q->last_sent_ms = INT64_MIN;
    return EN_OK;
}

en_status en_queue_init_fifo(en_queue *q, uint64_t first_seq, int64_t window_ms, int64_t delay_ms, int group_scope) {
    if (q->n_pages || q->fifo) return EN_EINVAL;
    if (!time_ok(window_ms) || !time_ok(delay_ms)) return EN_ERANGE;
    q->fifo = 1;
    q->next_seq = first_seq ? first_seq : 1;
    q->window_ms = window_ms;
    q->fifo_delay_ms = delay_ms;
    q->group_scope = group_scope;
    q->group_free = q->dedup_free = NIL;
    q->ready_head = q->ready_tail = NIL;
    q->dold = q->dnew = NIL;
    return EN_OK;
}

void en_queue_destroy(en_queue *q) {
    for (int64_t i = 0; i < q->n_pages; i++) {
        free(q->pages[i]);
        if (q->fifo) free(q->fpages[i]);
    }
    free(q->pages);
    free(q->fpages);
    free(q->groups);
    free(q->gbuckets);
    free(q->dedups);
    free(q->dindex);
    for (int64_t i = 0; i < q->n_chunks; i++) free(q->chunks[i].data);
    free(q->chunks);
    free(q->heap);
    free(q->dead_tags);
    pthread_mutex_destroy(&q->lock);
    memset(q, 0, sizeof(*q));
}

static en_status push_locked(en_queue *q, int64_t now, en_qnew *items, int64_t n, int front) {
    if (now < q->last_sent_ms) now = q->last_sent_ms;  /* a clock stepping back must not reorder */
    q->last_sent_ms = now;
    tick(q, now);
    en_status rc = slots_reserve(q, n);
    if (rc == EN_OK) rc = heap_reserve(q, n);
    if (rc != EN_OK) return rc;
    /* bodies: make sure every chunk switch can happen before anything becomes visible; a
     * failure below leaves the already-copied bodies as unreferenced bytes (freed with the
     * chunk), never as messages. */
    for (int64_t i = 0; i < n; i++)
        if (items[i].len < 0 || items[i].len > (int64_t)UINT32_MAX / 2) return EN_ETOOBIG;
    for (int64_t i = 0; i < n; i++) {
        en_qnew *it = &items[i];
        rc = arena_room(q, it->len);
        if (rc != EN_OK) {
            /* roll back the messages of this call */
            for (int64_t j = 0; j < i; j++) {
                int32_t s = (int32_t)items[j].num; /* slot kept in num until the end */
                en_qmsg *m = slot_at(q, s);
                if (m->state == EN_QM_VISIBLE) q->n_visible--;  /* (not linked yet) */
                else q->n_delayed--;
                heap_remove(q, m);
                q->body_bytes -= m->len;
                if (--q->chunks[m->chunk].live == 0) chunk_release(q, m->chunk);
                m->state = EN_QM_FREE;
                m->tag = NIL;
                m->next = q->free_head;
                q->free_head = s;
            }
            return rc;
        }
        en_qchunk *c = &q->chunks[q->cur_chunk];
        int32_t s = slot_take(q);
        en_qmsg *m = slot_at(q, s);
        m->num = it->num;   /* resolved below */
        m->sent_ms = it->sent_ms >= 0 ? it->sent_ms : now;
        memcpy(m->md5, it->md5, 16);
        m->chunk = (uint32_t)q->cur_chunk;
        m->off = c->used;
        m->len = (uint32_t)it->len;
        if (it->len) memcpy(c->data + c->used, it->body, (size_t)it->len);
        c->used += (uint32_t)it->len;
        c->live++;
        q->body_bytes += it->len;
        m->rc = it->rc;
        if (it->first_ms >= 0) {
            int64_t d = it->first_ms - m->sent_ms;
            m->first_rel = (int32_t)(d < INT32_MIN + 1 ? INT32_MIN + 1 : (d > INT32_MAX ? INT32_MAX : d));
        } else {
            m->first_rel = EN_Q_NEVER;
        }
        m->rt_rel = 0;
        m->tag = it->tag;
        m->issued = 0;
        m->heap_pos = NIL;
        if (it->delay_ms > 0) {
            m->state = EN_QM_DELAYED;
            m->due_ms = now + it->delay_ms;
            m->next = m->prev = NIL;
            q->n_delayed++;
        } else {
            m->state = EN_QM_VISIBLE;
            m->due_ms = 0;
            m->next = m->prev = NIL;
            q->n_visible++;
        }
        heap_push(q, s);
        it->num = s;  /* (temporarily: the slot, for a rollback) */
    }
    /* link the visible ones, in order (at the head when `front`: keep their order there) */
    if (front) {
        for (int64_t i = n - 1; i >= 0; i--) {
            en_qmsg *m = slot_at(q, items[i].num);
            if (m->state == EN_QM_VISIBLE) vis_push_front(q, (int32_t)items[i].num, m);
        }
    } else {
        for (int64_t i = 0; i < n; i++) {
            en_qmsg *m = slot_at(q, items[i].num);
            if (m->state == EN_QM_VISIBLE) vis_push_back(q, (int32_t)items[i].num, m);
        }
    }
    for (int64_t i = 0; i < n; i++) {
        en_qmsg *m = slot_at(q, items[i].num);
        if (m->num < 0) m->num = q->next_num++;
        items[i].num = m->num;
    }
    /* messages already past their retention (carried-over sent_ms) go at the next tick */
    return EN_OK;
}


/* Undo the first n stored (not duplicate) items of a FIFO push, and the deduplication records
 * added after `mark`. */
static void fifo_rollback(en_queue *q, en_qnew *items, int64_t n, int32_t mark) {
    for (int64_t j = 0; j < n; j++) {
        if (items[j].dup) continue;
        int32_t s = items[j].slot;
        en_qmsg *m = slot_at(q, s);
        en_qfmsg *f = fslot_at(q, s);
        if (m->state == EN_QM_VISIBLE) q->n_visible--;
        else q->n_delayed--;
        heap_remove(q, m);
        q->body_bytes -= m->len;
        if (--q->chunks[m->chunk].live == 0) chunk_release(q, m->chunk);
        m->state = EN_QM_FREE;
        m->tag = NIL;
        m->next = q->free_head;
        q->free_head = s;
        if (q->groups[f->group].used) group_check(q, f->group);  /* releases groups left empty */
    }
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

#define PREFETCH 16
#if defined(__GNUC__) || defined(__clang__)
#define EN_PREFETCH(p) __builtin_prefetch(p)
#else
#define EN_PREFETCH(p) ((void)(p))
#endif

static en_status push_fifo_locked(en_queue *q, int64_t now, en_qnew *items, int64_t n) {
    if (now < q->last_sent_ms) now = q->last_sent_ms;
    q->last_sent_ms = now;
    tick(q, now);
    for (int64_t i = 0; i < n; i++) {
        en_qnew *it = &items[i];
        if (it->len < 0 || it->len > (int64_t)UINT32_MAX / 4) return EN_ETOOBIG;
        if (it->glen < 1 || it->glen > 255 || it->dlen < 0 || it->dlen > 255) return EN_EINVAL;
        it->dup = 0;
    }
    en_status rc = slots_reserve(q, n);
    if (rc == EN_OK) rc = heap_reserve(q, n);
    if (rc == EN_OK) rc = groups_reserve(q, n);
    if (rc == EN_OK) rc = dedups_reserve(q, n);
    if (rc != EN_OK) return rc;
    int32_t mark = q->dnew;
    uint8_t kbuf[16 + 255];
    uint8_t gkeys[PREFETCH][16], dkeys[PREFETCH][16];
    for (int64_t i = 0; i < n; i++) {
        en_qnew *it = &items[i];
        int dedup = it->seq == 0 && it->dedup != NULL;
        if (i % PREFETCH == 0) {  /* the keys of the next rows, and their index entries on the way */
            for (int64_t j = i; j < n && j < i + PREFETCH; j++) {
                en_qnew *jt = &items[j];
                uint8_t *gk = gkeys[j - i], *dk = dkeys[j - i];
                digest128(jt->group, (size_t)jt->glen, gk);
                if (jt->seq != 0 || jt->dedup == NULL) continue;
                if (q->group_scope) {
                    memcpy(kbuf, gk, 16);
                    memcpy(kbuf + 16, jt->dedup, (size_t)jt->dlen);
                    digest128(kbuf, 16 + (size_t)jt->dlen, dk);
                } else {
                    digest128(jt->dedup, (size_t)jt->dlen, dk);
                }
                EN_PREFETCH(&q->dindex[dedup_fp(dk) & (uint64_t)(q->n_dindex - 1)]);
            }
        }
        const uint8_t *gkey = gkeys[i % PREFETCH], *dkey = dkeys[i % PREFETCH];
        if (dedup) {
            int32_t d = dedup_find(q, dkey);
            if (d != NIL) {  /* accepted, not stored: the original's number and sequence */
                it->dup = 1;
                it->num = q->dedups[d].num;
                it->seq = q->dedups[d].seq;
                continue;
            }
        }
        int64_t total = it->len + it->glen + (it->dedup ? it->dlen : 0);
        rc = arena_room(q, total);
        if (rc != EN_OK) {
            fifo_rollback(q, items, i, mark);
            return rc;
        }
        en_qchunk *c = &q->chunks[q->cur_chunk];
        int32_t s = slot_take(q);
        en_qmsg *m = slot_at(q, s);
        en_qfmsg *f = fslot_at(q, s);
        m->sent_ms = it->sent_ms >= 0 ? it->sent_ms : now;
        memcpy(m->md5, it->md5, 16);
        m->chunk = (uint32_t)q->cur_chunk;
        m->off = c->used;
        m->len = (uint32_t)it->len;
        uint8_t *w = c->data + c->used;
        if (it->len) memcpy(w, it->body, (size_t)it->len);
        memcpy(w + it->len, it->group, (size_t)it->glen);
        if (it->dedup && it->dlen) memcpy(w + it->len + it->glen, it->dedup, (size_t)it->dlen);
        c->used += (uint32_t)total;
        c->live++;
        q->body_bytes += it->len;
        m->rc = it->rc;
        if (it->first_ms >= 0) {
            int64_t d = it->first_ms - m->sent_ms;
            m->first_rel = (int32_t)(d < INT32_MIN + 1 ? INT32_MIN + 1 : (d > INT32_MAX ? INT32_MAX : d));
        } else {
            m->first_rel = EN_Q_NEVER;
        }
        m->rt_rel = 0;
        m->tag = it->tag;
        m->issued = 0;
        m->heap_pos = NIL;
        m->next = m->prev = NIL;
        m->num = it->num >= 0 ? it->num : q->next_num++;
        f->seq = it->seq ? it->seq : q->next_seq++;
        f->glen = (uint8_t)it->glen;
        f->dlen = (uint8_t)(it->dedup ? it->dlen : 0);
        f->gnext = f->gprev = NIL;
        int32_t gi = group_find(q, gkey);
        if (gi == NIL) gi = group_new(q, gkey);
        f->group = gi;
        if (q->fifo_delay_ms > 0 && m->sent_ms + q->fifo_delay_ms > now) {
            m->state = EN_QM_DELAYED;
            m->due_ms = m->sent_ms + q->fifo_delay_ms;
            q->n_delayed++;
        } else {
            m->state = EN_QM_VISIBLE;
            m->due_ms = 0;
            q->n_visible++;
        }
        heap_push(q, s);
        if (dedup) dedup_add(q, dkey, now + q->window_ms, m->num, f->seq);
        it->num = m->num;
        it->seq = f->seq;
        it->slot = s;
    }
    /* into the groups, in order (a kept sequence number: in order among the group's) */
    for (int64_t i = 0; i < n; i++) {
        en_qnew *it = &items[i];
        if (it->dup) continue;
        en_qfmsg *f = fslot_at(q, it->slot);
        if (q->groups[f->group].tail != NIL && fslot_at(q, q->groups[f->group].tail)->seq > f->seq)
            group_link_sorted(q, f->group, it->slot);
        else
            group_link_tail(q, f->group, it->slot);
        group_check(q, f->group);
    }
    return EN_OK;
}

/* what every pushed item must satisfy (sizes are checked by each push) */
static en_status items_ok(const en_qnew *items, int64_t n) {
    for (int64_t i = 0; i < n; i++) {
        const en_qnew *it = &items[i];
        if (!time_ok(it->delay_ms) || !opt_time_ok(it->sent_ms) || !opt_time_ok(it->first_ms) || it->rc < 0
            || it->num < -1)
            return EN_ERANGE;
    }
    return EN_OK;
}

en_status en_queue_push(en_queue *q, int64_t now_ms, en_qnew *items, int64_t n, int front) {
    if (n <= 0) return EN_OK;
    if (!time_ok(now_ms)) return EN_ERANGE;
    en_status bad = items_ok(items, n);
    if (bad != EN_OK) return bad;
    lock(q);
    en_status rc = q->fifo ? push_fifo_locked(q, now_ms, items, n) : push_locked(q, now_ms, items, n, front);
    unlock(q);
    return rc;
}

static void fill_out(const en_queue *q, const en_qmsg *m, int32_t s, en_qout *o, uint8_t *buf, int64_t at) {
    o->num = m->num;
    o->sent_ms = m->sent_ms;
    o->first_ms = m->first_rel == EN_Q_NEVER ? -1 : m->sent_ms + m->first_rel;
    o->body_off = at;
    o->body_len = m->len;
    o->slot = s;
    o->gen = m->gen;
    o->rc = m->rc;
    o->tag = m->tag;
    memcpy(o->md5, m->md5, 16);
    uint32_t total = m->len;
    if (q->fifo) {
        const en_qfmsg *f = fslot_at(q, s);
        o->seq = f->seq;
        o->glen = f->glen;
        o->dlen = f->dlen;
        total += (uint32_t)f->glen + f->dlen;
    } else {
        o->seq = 0;
        o->glen = o->dlen = 0;
    }
    if (total) memcpy(buf + at, q->chunks[m->chunk].data + m->off, total);
}

/* bytes fill_out copies */
EN_INLINE int64_t out_bytes(const en_queue *q, const en_qmsg *m, int32_t s) {
    if (!q->fifo) return m->len;
    const en_qfmsg *f = fslot_at(q, s);
    return (int64_t)m->len + f->glen + f->dlen;
}

/* receive (or take) for a FIFO queue: ready groups in order, each as far as it goes */
static void receive_fifo(en_queue *q, int64_t now, int64_t max_n, int64_t vis_ms, int64_t max_rc, int remove,
                         en_qout *out, int64_t *n_out, en_qout *moved, int64_t *n_moved, uint8_t *buf,
                         int64_t cap, int64_t *need, int64_t *cont) {
    int64_t k = 0, km = 0, used = 0;
    int32_t again_head = NIL, again_tail = NIL;  /* vis_ms 0: visible again after this call */
    int32_t gi = q->ready_head;
    int stop = 0;
    /* a group the previous call stopped in (the buffer was full), if it is still that group */
    int32_t first = *cont < 0 ? NIL : (int32_t)(*cont & 0x7fffffff);
    if (first != NIL && (first >= q->hw_groups || !q->groups[first].used
                         || q->groups[first].gen != (uint32_t)((uint64_t)*cont >> 32)))
        first = NIL;
    *cont = -1;
    if (first != NIL) gi = first;
    while (!stop && k < max_n && gi != NIL) {
        en_qgroup *g = &q->groups[gi];
        int32_t gnext = g->rnext;
        /* Messages this visit receives go in flight after `after`, in order; the first message
         * in flight from before (sequence number `limit`) holds the rest of the group. Going on
         * with a group after a full buffer, the ones received before in this call come first. */
        int32_t after = NIL, x = g->flight;
        if (gi == first && g->head != NIL) {
            uint64_t head_seq = fslot_at(q, g->head)->seq;
            while (x != NIL && fslot_at(q, x)->seq < head_seq) {
                after = x;
                x = fslot_at(q, x)->gnext;
            }
        }
        uint64_t limit = x == NIL ? UINT64_MAX : fslot_at(q, x)->seq;
        while (k < max_n && g->used && g->head != NIL) {
            int32_t s = g->head;
            en_qmsg *m = slot_at(q, s);
            if (m->state != EN_QM_VISIBLE || fslot_at(q, s)->seq > limit) break;
            int64_t sz = out_bytes(q, m, s);
            if (used + sz > cap) {
                *need = sz;
                *cont = (int64_t)(((uint64_t)g->gen << 32) | (uint32_t)gi);
                stop = 1;
                break;
            }
            if (remove || (int64_t)m->rc + 1 > max_rc) {
                if (!remove && km >= max_n) {
                    stop = 1;
                    break;
                }
                en_qout *o = remove ? &out[k++] : &moved[km++];
                fill_out(q, m, s, o, buf, used);
                used += sz;
                kill(q, s, m, 0);  /* the caller takes over the tag (may release the group) */
                continue;
            }
            group_unlink(q, gi, s);
            flight_link_after(q, g, after, s);
            after = s;
            g->n_inflight++;
            m->state = EN_QM_INFLIGHT;
            q->n_visible--;
            q->n_inflight++;
            count_receive(m);
            m->gen++;
            m->issued = 1;
            int64_t rel = now - m->sent_ms;
            rel = rel < INT32_MIN + 1 ? INT32_MIN + 1 : (rel > INT32_MAX ? INT32_MAX : rel);
            if (m->first_rel == EN_Q_NEVER) m->first_rel = (int32_t)rel;
            m->rt_rel = (int32_t)rel;
            fill_out(q, m, s, &out[k++], buf, used);
            used += sz;
            m->due_ms = now + vis_ms;
            heap_fix(q, m);
            if (vis_ms <= 0) {
                m->next = NIL;
                if (again_tail != NIL) slot_at(q, again_tail)->next = s;
                else again_head = s;
                again_tail = s;
            }
        }
        if (g->used && !group_can_deliver(q, g)) ready_unlink(q, gi);
        if (gi == first) {  /* then the ready list from its head */
            first = NIL;
            gnext = q->ready_head;
            if (gnext == gi) gnext = g->rnext;
        }
        gi = gnext;
    }
    while (again_head != NIL) {  /* in the order received */
        int32_t s = again_head;
        en_qmsg *m = slot_at(q, s);
        again_head = m->next;
        m->next = NIL;
        fifo_return(q, s, m);
        heap_fix(q, m);
    }
    *n_out = k;
    *n_moved = km;
}

en_status en_queue_receive(en_queue *q, int64_t now, int64_t max_n, int64_t vis_ms, int64_t max_rc,
                           int64_t inflight_max, int remove, en_qout *out, int64_t *n_out,
                           en_qout *moved, int64_t *n_moved, uint8_t *buf, int64_t cap, int64_t *need,
                           int *over_limit, int64_t *cont) {
    int64_t k = 0, km = 0, used = 0;
    *need = 0;
    *over_limit = 0;
    *n_out = *n_moved = 0;
    if (!time_ok(now) || !time_ok(vis_ms) || inflight_max < 0 || cap < 0) return EN_ERANGE;
    lock(q);
    tick(q, now);
    if (!remove) {
        int64_t room = inflight_max - q->n_inflight;
        if (room <= 0) {
            *over_limit = 1;
            max_n = 0;
        } else if (room < max_n) {
            max_n = room;
        }
    }
    if (q->fifo) {
        receive_fifo(q, now, max_n, vis_ms, max_rc, remove, out, n_out, moved, n_moved, buf, cap, need, cont);
        unlock(q);
        return EN_OK;
    }
    int32_t again_head = NIL, again_tail = NIL;  /* vis_ms 0: visible again after this call */
    while (k < max_n && q->vis_head != NIL) {
        int32_t s = q->vis_head;
        en_qmsg *m = slot_at(q, s);
        if (used + (int64_t)m->len > cap) {
            *need = m->len;  /* the caller may call again, with room for at least this body */
            break;
        }
        if (remove || (int64_t)m->rc + 1 > max_rc) {
            if (!remove && km >= max_n) break;
            en_qout *o = remove ? &out[k++] : &moved[km++];
            fill_out(q, m, s, o, buf, used);
            used += m->len;
            kill(q, s, m, 0);  /* the caller takes over the tag */
            continue;
        }
        vis_unlink(q, m);
        count_receive(m);
        m->gen++;
        m->issued = 1;
        int64_t rel = now - m->sent_ms;
        rel = rel < INT32_MIN + 1 ? INT32_MIN + 1 : (rel > INT32_MAX ? INT32_MAX : rel);
        if (m->first_rel == EN_Q_NEVER) m->first_rel = (int32_t)rel;
        m->rt_rel = (int32_t)rel;
        fill_out(q, m, s, &out[k++], buf, used);
        used += m->len;
        if (vis_ms > 0) {
            m->state = EN_QM_INFLIGHT;
            m->due_ms = now + vis_ms;
            q->n_visible--;
            q->n_inflight++;
            heap_fix(q, m);
        } else {
            m->next = NIL;
            m->prev = again_tail;
            if (again_tail != NIL) slot_at(q, again_tail)->next = s;
            else again_head = s;
            again_tail = s;
        }
    }
    if (again_head != NIL) {  /* splice at the tail */
        en_qmsg *h = slot_at(q, again_head);
        h->prev = q->vis_tail;
        if (q->vis_tail != NIL) slot_at(q, q->vis_tail)->next = again_head;
        else q->vis_head = again_head;
        q->vis_tail = again_tail;
    }
    unlock(q);
    *n_out = k;
    *n_moved = km;
    return EN_OK;
}

/* 0 current, EN_QR_STALE, EN_QR_INVALID */
EN_INLINE int handle_state(const en_queue *q, int64_t s, uint32_t gen, en_qmsg **out) {
    if (s < 0 || s >= q->n_slots || gen == 0) return EN_QR_INVALID;
    en_qmsg *m = slot_at(q, s);
    if (gen > m->gen) return EN_QR_INVALID;
    if (gen != m->gen || m->state == EN_QM_FREE || !m->issued) return EN_QR_STALE;
    *out = m;
    return EN_QR_OK;
}

en_status en_queue_delete(en_queue *q, int64_t now, const int64_t *slots, const uint32_t *gens,
                          int64_t n, uint8_t *results) {
    if (!time_ok(now)) return EN_ERANGE;
    lock(q);
    tick(q, now);
    for (int64_t i = 0; i < n; i++) {
        en_qmsg *m = NULL;
        int r = handle_state(q, slots[i], gens[i], &m);
        if (r == EN_QR_OK) {
            if (q->fifo && m->state != EN_QM_INFLIGHT) r = EN_QR_NOT_INFLIGHT;
            else kill(q, (int32_t)slots[i], m, 1);
        }
        results[i] = (uint8_t)r;
    }
    unlock(q);
    return EN_OK;
}

en_status en_queue_change(en_queue *q, int64_t now, const int64_t *slots, const uint32_t *gens,
                          const int64_t *vis_ms, int64_t n, int64_t max_hold_ms, uint8_t *results) {
    if (!time_ok(now) || !time_ok(max_hold_ms)) return EN_ERANGE;
    for (int64_t i = 0; i < n; i++)
        if (!time_ok(vis_ms[i])) return EN_ERANGE;
    lock(q);
    tick(q, now);
    for (int64_t i = 0; i < n; i++) {
        en_qmsg *m = NULL;
        int r = handle_state(q, slots[i], gens[i], &m);
        if (r == EN_QR_OK) {
            if (m->state != EN_QM_INFLIGHT) {
                r = EN_QR_NOT_INFLIGHT;
            } else if (now + vis_ms[i] - (m->sent_ms + m->rt_rel) > max_hold_ms) {
                r = EN_QR_TOO_LONG;
            } else if (vis_ms[i] <= 0 && q->fifo) {
                fifo_return(q, (int32_t)slots[i], m);
                heap_fix(q, m);
            } else if (vis_ms[i] <= 0) {
                m->state = EN_QM_VISIBLE;
                q->n_inflight--;
                q->n_visible++;
                vis_push_front(q, (int32_t)slots[i], m);
                heap_fix(q, m);
            } else {
                m->due_ms = now + vis_ms[i];
                heap_fix(q, m);
            }
        }
        results[i] = (uint8_t)r;
    }
    unlock(q);
    return EN_OK;
}

void en_queue_clear(en_queue *q) {
    lock(q);
    for (int64_t s = 0; s < q->n_slots; s++) {
        en_qmsg *m = slot_at(q, s);
        if (m->state != EN_QM_FREE) {
            if (m->tag >= 0) (void)push_tag(q, m->tag);
            m->state = EN_QM_FREE;
            m->gen++;
            m->tag = NIL;
            m->heap_pos = NIL;
        }
    }
    /* rebuild the free list in slot order; keep generations */
    q->free_head = NIL;
    for (int64_t s = q->n_slots - 1; s >= 0; s--) {
        slot_at(q, s)->next = q->free_head;
        q->free_head = (int32_t)s;
    }
    q->vis_head = q->vis_tail = NIL;
    if (q->fifo) {  /* groups go; deduplication records stay */
        q->n_groups = q->hw_groups = 0;
        q->group_free = NIL;
        q->ready_head = q->ready_tail = NIL;
        if (q->n_gbuckets) memset(q->gbuckets, 0xff, sizeof(int32_t) * (size_t)q->n_gbuckets);
    }
    q->heap_n = 0;
    q->n_visible = q->n_inflight = q->n_delayed = 0;
    q->body_bytes = 0;
    for (int64_t i = 0; i < q->n_chunks; i++) {
        en_qchunk *c = &q->chunks[i];
        if (c->data == NULL) continue;
        c->live = 0;
        chunk_release(q, (uint32_t)i);
    }
    unlock(q);
}

en_status en_queue_set_retention(en_queue *q, int64_t now, int64_t retention_ms) {
    if (!time_ok(now) || !time_ok(retention_ms)) return EN_ERANGE;
    lock(q);
    q->retention_ms = retention_ms;
    for (int64_t i = q->heap_n / 2 - 1; i >= 0; i--) sift_down(q, i);
    tick(q, now);
    unlock(q);
    return EN_OK;
}

en_status en_queue_set_fifo(en_queue *q, int64_t now, int64_t delay_ms, int group_scope) {
    if (!time_ok(now) || !time_ok(delay_ms)) return EN_ERANGE;
    lock(q);
    q->group_scope = group_scope;
    if (q->fifo && delay_ms != q->fifo_delay_ms) {
        q->fifo_delay_ms = delay_ms;
        for (int64_t i = 0; i < q->heap_n; i++) {
            en_qmsg *m = slot_at(q, q->heap[i]);
            if (m->state == EN_QM_DELAYED) m->due_ms = m->sent_ms + delay_ms;
        }
        for (int64_t i = q->heap_n / 2 - 1; i >= 0; i--) sift_down(q, i);
    }
    tick(q, now);
    unlock(q);
    return EN_OK;
}

en_status en_queue_retry(en_queue *q, int64_t now, const int64_t *slots, const uint32_t *gens, int64_t n,
                         int64_t due_ms, int64_t vis_ms, int *ok) {
    *ok = 0;
    if (!time_ok(now) || !time_ok(vis_ms)) return EN_ERANGE;
    lock(q);
    tick(q, now);
    *ok = 1;
    for (int64_t i = 0; i < n; i++) {
        en_qmsg *m = NULL;
        if (handle_state(q, slots[i], gens[i], &m) != EN_QR_OK || m->state != EN_QM_INFLIGHT || m->due_ms != due_ms) {
            *ok = 0;
            break;
        }
    }
    if (*ok) {
        for (int64_t i = 0; i < n; i++) {
            en_qmsg *m = slot_at(q, slots[i]);
            if (vis_ms <= 0 && q->fifo) {
                fifo_return(q, (int32_t)slots[i], m);
            } else if (vis_ms <= 0) {
                m->state = EN_QM_VISIBLE;
                q->n_inflight--;
                q->n_visible++;
                vis_push_back(q, (int32_t)slots[i], m);
            } else {
                m->due_ms = now + vis_ms;
            }
            heap_fix(q, m);
        }
    }
    unlock(q);
    return EN_OK;
}

en_status en_queue_stats_get(en_queue *q, int64_t now, en_queue_stats *out) {
    if (!time_ok(now)) return EN_ERANGE;
    lock(q);
    tick(q, now);
    out->n_visible = q->n_visible;
    out->n_inflight = q->n_inflight;
    out->n_delayed = q->n_delayed;
    out->next_due_ms = q->heap_n ? key_of(q, slot_at(q, q->heap[0])) : INT64_MAX;
    out->slots = q->n_pages * EN_QPAGE;
    out->heap_n = q->heap_n;
    out->bytes_allocated = q->bytes_allocated;
    out->body_bytes = q->body_bytes;
    int64_t c = 0;
    for (int64_t i = 0; i < q->n_chunks; i++) c += q->chunks[i].data != NULL;
    out->chunks = c;
    out->groups = q->n_groups;
    out->dedups = q->n_dedups;
    unlock(q);
    return EN_OK;
}

int64_t en_queue_drain_tags(en_queue *q, int32_t *out, int64_t cap) {
    if (cap <= 0) return 0;
    lock(q);
    int64_t n = q->n_dead_tags < cap ? q->n_dead_tags : cap;
    memcpy(out, q->dead_tags + (q->n_dead_tags - n), sizeof(int32_t) * (size_t)n);
    q->n_dead_tags -= n;
    unlock(q);
    return n;
}
