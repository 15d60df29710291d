#define _GNU_SOURCE   /* mmap flags, madvise advice */
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "shard.h"
#include "utf8.h"

#define LOAD(p) __atomic_load_n((p), __ATOMIC_ACQUIRE)
#define STORE(p, v) __atomic_store_n((p), (v), __ATOMIC_RELEASE)

/* Records per chunk at most: keeps every buffer size computed from it far from overflow. */
#define EN_CHUNK_RECORDS_LIMIT (INT64_C(1) << 24)
/* Index bytes per record: data and key offsets (int32 each), sequence number, timestamp. */
#define EN_INDEX_BYTES_PER_RECORD 24
/* Buffers inside a chunk start on this boundary (int64 arrays; Arrow asks for 8 at least). */
#define EN_BUFFER_ALIGN 8
/* What two threads must not both write to. */
#define EN_CACHE_LINE 64
/* Faulting in a spare chunk: one write per page of this size when MADV_POPULATE_WRITE is missing. */
#define EN_TOUCH_STRIDE 4096

static int64_t clamp64(int64_t v, int64_t lo, int64_t hi) { return v < lo ? lo : (v > hi ? hi : v); }
static int64_t max64(int64_t a, int64_t b) { return a > b ? a : b; }
static int64_t min64(int64_t a, int64_t b) { return a < b ? a : b; }
static int64_t align_up(int64_t v, int64_t a) { return (v + a - 1) / a * a; }

#define HEADER_BYTES align_up((int64_t)sizeof(en_chunk), EN_BUFFER_ALIGN)
/* Alignment padding of the six buffers at most. */
#define PADDING_BYTES (6 * EN_BUFFER_ALIGN)

/* --- chunk memory -------------------------------------------------------------------------- */

static void region_free(en_chunk *c) {
    if (c->mapped) munmap(c, (size_t)c->region_bytes);
    else free(c);
}

/* A chunk's memory of at least `bytes`, its header zeroed. Large ones are mapped on huge-page
 * boundaries with MADV_HUGEPAGE (refused advice changes nothing: the mapping still works) and
 * sized in whole huge pages; with `prefault` their pages are made resident before returning. */
static en_chunk *region_new(int64_t bytes, int prefault) {
    en_chunk *c;
    if (bytes < EN_HUGE_PAGE_BYTES) {
        c = malloc((size_t)bytes);
        if (!c) return NULL;
        memset(c, 0, sizeof(*c));
    } else {
        bytes = align_up(bytes, EN_HUGE_PAGE_BYTES);
        size_t span = (size_t)(bytes + EN_HUGE_PAGE_BYTES);   /* room to start on a boundary */
        uint8_t *raw = mmap(NULL, span, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (raw == MAP_FAILED) return NULL;
        uint8_t *base = (uint8_t *)(uintptr_t)align_up((int64_t)(uintptr_t)raw, EN_HUGE_PAGE_BYTES);
        if (base > raw) munmap(raw, (size_t)(base - raw));
        size_t tail = (size_t)((raw + span) - (base + bytes));
        if (tail) munmap(base + bytes, tail);
#ifdef MADV_HUGEPAGE
        madvise(base, (size_t)bytes, MADV_HUGEPAGE);
#endif
        if (prefault) {
            int populated = 0;
#ifdef MADV_POPULATE_WRITE
            populated = madvise(base, (size_t)bytes, MADV_POPULATE_WRITE) == 0;
#endif
            if (!populated)   /* older kernels: one write per page */
                for (int64_t off = 0; off < bytes; off += EN_TOUCH_STRIDE) ((volatile uint8_t *)base)[off] = 0;
        }
        c = (en_chunk *)base;   /* fresh anonymous memory reads as zero: the header is clean */
        c->mapped = 1;
    }
    c->region_bytes = bytes;
    return c;
}

/* Put a chunk's memory into service for records of about avg_data + avg_key bytes: the
 * buffers are carved so they fill together. 0 when the region cannot hold a record of
 * dlen + klen bytes. */
static int chunk_carve(en_chunk *c, int64_t first_seq, int64_t avg_data, int64_t avg_key,
                       int64_t dlen, int64_t klen, int64_t max_records) {
    int64_t usable = c->region_bytes - HEADER_BYTES - PADDING_BYTES - 2 * 4;   /* 2 * 4: offsets[0] */
    /* room for the next row whatever its size, then for rows of the average size */
    int64_t records = min64((usable - dlen - klen) / (EN_INDEX_BYTES_PER_RECORD + avg_data + avg_key), max_records);
    if (records < 1) records = 1;
    int64_t key_cap = records * avg_key + klen;
    int64_t data_cap = min64(usable - records * EN_INDEX_BYTES_PER_RECORD - key_cap, INT32_MAX);
    if (data_cap < dlen) return 0;
    uint8_t *base = (uint8_t *)c, *at = base + HEADER_BYTES;
#define CARVE(field, type, nbytes) do { c->field = (type)(void *)at; at += align_up((nbytes), EN_BUFFER_ALIGN); } while (0)
    CARVE(seqs, int64_t *, records * 8);
    CARVE(timestamps, int64_t *, records * 8);
    CARVE(data_offsets, int32_t *, (records + 1) * 4);
    CARVE(key_offsets, int32_t *, (records + 1) * 4);
    CARVE(keys, uint8_t *, key_cap);
    CARVE(data, uint8_t *, data_cap);
#undef CARVE
    EN_ASSERT(at <= base + c->region_bytes);
    c->next = NULL;
    c->refs = 1;
    c->first_seq = first_seq;
    c->count = 0;
    c->cap_records = records;
    c->data_cap = data_cap;
    c->key_cap = key_cap;
    c->data_offsets[0] = 0;
    c->key_offsets[0] = 0;
    return 1;
}

static void chunk_pin(en_chunk *c) { __atomic_add_fetch(&c->refs, 1, __ATOMIC_ACQ_REL); }

static int64_t chunk_bytes(const en_chunk *c) { return c->region_bytes; }

static int smallest_spare(const en_shard *s) {
    int smallest = 0;
    for (int i = 1; i < s->n_spares; i++)
        if (s->spares[i]->region_bytes < s->spares[smallest]->region_bytes) smallest = i;
    return smallest;
}

/* Called with list_lock held: keep a chunk nothing uses as a spare (the largest ones stay), or
 * give its memory back (always, once retention or a release emptied the shard). */
static void keep_spare(en_shard *s, en_chunk *c) {
    if (!s->head) {
        region_free(c);
        return;
    }
    if (s->n_spares < s->spare_want) {
        s->spares[s->n_spares++] = c;
        return;
    }
    if (s->n_spares > 0) {
        int smallest = smallest_spare(s);
        if (s->spares[smallest]->region_bytes < c->region_bytes) {
            en_chunk *out = s->spares[smallest];
            s->spares[smallest] = c;
            c = out;
        }
    }
    region_free(c);
}

/* Called with list_lock held: give back the smallest spares beyond what the writer wants now. */
static void shed_spares(en_shard *s) {
    while (s->n_spares > s->spare_want) {
        int smallest = smallest_spare(s);
        region_free(s->spares[smallest]);
        s->spares[smallest] = s->spares[--s->n_spares];
    }
}

static void free_spares(en_shard *s) {
    for (int i = 0; i < s->n_spares; i++) region_free(s->spares[i]);
    s->n_spares = 0;
}

/* --- chunks trimmed while pinned ------------------------------------------------------------
 * A chunk a reader still pins when the trim unlinks it waits on its shard's `retired` list; the
 * reader's last unpin hands it to the shard's spares (memory already faulted in) rather than to
 * the kernel, which would zero fresh memory again for the writer's next chunk. The shard may be
 * destroyed first: retired_lock keeps it alive while an unpin looks at c->owner, and
 * en_shard_destroy clears the owner of every chunk it leaves pinned (their last unpin frees
 * them). Lock order: retired_lock, then a shard's list_lock. */

static pthread_mutex_t retired_lock = PTHREAD_MUTEX_INITIALIZER;

static void retired_push(en_shard *s, en_chunk *c) {
    c->retired_prev = NULL;
    c->retired_next = s->retired;
    if (s->retired) s->retired->retired_prev = c;
    s->retired = c;
}

static void retired_remove(en_shard *s, en_chunk *c) {
    if (c->retired_prev) c->retired_prev->retired_next = c->retired_next;
    else s->retired = c->retired_next;
    if (c->retired_next) c->retired_next->retired_prev = c->retired_prev;
    c->retired_prev = c->retired_next = NULL;
}

/* Called with list_lock held, for a chunk out of the shard's list: drop the shard's reference;
 * a spare now if no reader pins it, else when the last one unpins it. On the retired list
 * before the reference goes, so that last unpin finds it there. */
static void retire_chunk(en_shard *s, en_chunk *c) {
    retired_push(s, c);
    if (__atomic_sub_fetch(&c->refs, 1, __ATOMIC_ACQ_REL) == 0) {
        retired_remove(s, c);
        keep_spare(s, c);
    }
}

void en_chunk_unpin(en_chunk *c) {
    if (!c || __atomic_sub_fetch(&c->refs, 1, __ATOMIC_ACQ_REL) != 0) return;
    /* the last reference was a reader's: the shard already let the chunk go */
    pthread_mutex_lock(&retired_lock);
    en_shard *s = c->owner;
    if (s) {
        pthread_mutex_lock(&s->list_lock);
        retired_remove(s, c);
        keep_spare(s, c);
        pthread_mutex_unlock(&s->list_lock);
    }
    pthread_mutex_unlock(&retired_lock);
    if (!s) region_free(c);
}

/* --- the prefault thread --------------------------------------------------------------------
 * A writer that fills its chunk takes a spare when one is there; if that leaves none, it asks
 * this thread to map and fault in the next one while the writer goes on, so fresh memory's
 * kernel work (zeroing, a fault per page) happens off the put's path, on an idle core when
 * there is one. Writers never wait for it: without a spare they map a chunk themselves. */

static pthread_mutex_t pf_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t pf_wake = PTHREAD_COND_INITIALIZER;   /* work queued */
static pthread_cond_t pf_idle = PTHREAD_COND_INITIALIZER;   /* a request finished */
static en_shard *pf_head, *pf_tail;   /* shards waiting for a spare, oldest first */
static en_shard *pf_busy;             /* the shard whose spare is being made */
static int pf_state;                  /* 0 not started, 1 running, -1 cannot start */

static void *prefault_run(void *arg) {
    (void)arg;
    pthread_mutex_lock(&pf_lock);
    for (;;) {
        while (!pf_head) pthread_cond_wait(&pf_wake, &pf_lock);
        en_shard *s = pf_head;
        pf_head = s->prefault_next;
        if (!pf_head) pf_tail = NULL;
        s->prefault_queued = 0;
        pf_busy = s;   /* en_shard_destroy waits while this is s */
        int64_t bytes = s->prefault_bytes;
        pthread_mutex_unlock(&pf_lock);
        pthread_mutex_lock(&s->list_lock);
        int wanted = s->n_spares == 0;   /* a trim may have given it one since */
        pthread_mutex_unlock(&s->list_lock);
        en_chunk *c = wanted ? region_new(bytes, 1) : NULL;
        pthread_mutex_lock(&pf_lock);
        if (c) {
            pthread_mutex_lock(&s->list_lock);
            /* kept even if a trim brought spares meanwhile (its zeroing is paid for), unless
             * the shard wants no more; an emptied shard holds no memory */
            if (s->head && s->n_spares < s->spare_want) {
                s->spares[s->n_spares++] = c;
                s->chunks_mapped++;
                c = NULL;
            }
            pthread_mutex_unlock(&s->list_lock);
            if (c) region_free(c);
        }
        pf_busy = NULL;
        pthread_cond_broadcast(&pf_idle);
    }
    return NULL;
}

/* A forked child has no prefault thread: forget the queue; the next request starts one. */
static void prefault_fork_prepare(void) { pthread_mutex_lock(&pf_lock); }
static void prefault_fork_parent(void) { pthread_mutex_unlock(&pf_lock); }
static void prefault_fork_child(void) {
    for (en_shard *s = pf_head; s; s = s->prefault_next) s->prefault_queued = 0;
    pf_head = pf_tail = pf_busy = NULL;
    if (pf_state == 1) pf_state = 0;
    pthread_cond_init(&pf_wake, NULL);
    pthread_cond_init(&pf_idle, NULL);
    pthread_mutex_unlock(&pf_lock);   /* held since prepare, by this (the forking) thread */
}

static void prefault_request(en_shard *s, int64_t bytes) {
    static int atfork_done;
    pthread_mutex_lock(&pf_lock);
    if (pf_state == 0) {
        if (!atfork_done)
            atfork_done = pthread_atfork(prefault_fork_prepare, prefault_fork_parent, prefault_fork_child) == 0;
        pthread_t tid;
        pthread_attr_t attr;
        pf_state = -1;
        if (atfork_done && pthread_attr_init(&attr) == 0) {
            pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
            if (pthread_create(&tid, &attr, prefault_run, NULL) == 0) pf_state = 1;
            pthread_attr_destroy(&attr);
        }
    }
    if (pf_state == 1 && !s->prefault_queued) {   /* the thread checks again whether it still needs one */
        s->prefault_bytes = bytes;
        s->prefault_next = NULL;
        s->prefault_queued = 1;
        if (pf_tail) pf_tail->prefault_next = s;
        else pf_head = s;
        pf_tail = s;
        pthread_cond_signal(&pf_wake);
    }
    pthread_mutex_unlock(&pf_lock);
}

/* Take s out of the queue and wait until the thread is not working for it. */
static void prefault_forget(en_shard *s) {
    pthread_mutex_lock(&pf_lock);
    if (s->prefault_queued) {
        en_shard **link = &pf_head, *prev = NULL;
        while (*link != s) {
            prev = *link;
            link = &(*link)->prefault_next;
        }
        *link = s->prefault_next;
        if (pf_tail == s) pf_tail = prev;
        s->prefault_queued = 0;
    }
    while (pf_busy == s) pthread_cond_wait(&pf_idle, &pf_lock);
    pthread_mutex_unlock(&pf_lock);
}

void en_prefault_wait_idle(void) {
    pthread_mutex_lock(&pf_lock);
    while (pf_head || pf_busy) pthread_cond_wait(&pf_idle, &pf_lock);
    pthread_mutex_unlock(&pf_lock);
}

/* The counter's numbers [*first, *first + n); 0 when n < 0 or they would pass INT64_MAX - 1
 * (a shard's visible_seq + 1 must stay representable). */
static int seq_take(int64_t *counter, int64_t n, int64_t *first) {
    int64_t cur = LOAD(counter);
    do {
        if (n < 0 || cur < 0 || cur > INT64_MAX - 1 - n) return 0;
    } while (!__atomic_compare_exchange_n(counter, &cur, cur + n, 0, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE));
    *first = cur;
    return 1;
}

en_status en_shard_init(en_shard *s, const en_shard_config *cfg) {
    memset(s, 0, sizeof(*s));
    s->cfg = *cfg;
    if (s->cfg.min_chunk_records < 1) s->cfg.min_chunk_records = 1;
    if (s->cfg.max_chunk_records < s->cfg.min_chunk_records) s->cfg.max_chunk_records = s->cfg.min_chunk_records;
    if (s->cfg.min_chunk_bytes < 64) s->cfg.min_chunk_bytes = 64;
    if (s->cfg.max_chunk_bytes < s->cfg.min_chunk_bytes) s->cfg.max_chunk_bytes = s->cfg.min_chunk_bytes;
    if (s->cfg.max_chunk_bytes > INT32_MAX) s->cfg.max_chunk_bytes = INT32_MAX;   /* int32 offsets */
    if (s->cfg.max_chunk_records > EN_CHUNK_RECORDS_LIMIT) s->cfg.max_chunk_records = EN_CHUNK_RECORDS_LIMIT;
    if (s->cfg.min_chunk_records > s->cfg.max_chunk_records) s->cfg.min_chunk_records = s->cfg.max_chunk_records;
    if (s->cfg.min_chunk_bytes > s->cfg.max_chunk_bytes) s->cfg.min_chunk_bytes = s->cfg.max_chunk_bytes;
    s->visible_seq = -1;
    s->trim_seq = -1;
    s->batch_first_seq = -1;
    s->last_ts = INT64_MIN;
    s->next_bytes = s->cfg.min_chunk_bytes;
    s->spare_want = EN_SPARE_CHUNKS_MIN;
    s->trim_visible = -1;
    if (pthread_mutex_init(&s->write_lock, NULL) != 0) return EN_ENOMEM;
    if (pthread_mutex_init(&s->list_lock, NULL) != 0) {
        pthread_mutex_destroy(&s->write_lock);
        return EN_ENOMEM;
    }
    return EN_OK;
}

void en_shard_destroy(en_shard *s) {
    prefault_forget(s);
    pthread_mutex_lock(&retired_lock);
    pthread_mutex_lock(&s->list_lock);
    free_spares(s);
    /* readers still holding a pin keep their chunk alive; its last unpin frees it */
    for (en_chunk *c = s->retired; c; c = c->retired_next) c->owner = NULL;
    s->retired = NULL;
    en_chunk *c = s->head;
    while (c) {
        en_chunk *next = c->next;
        c->owner = NULL;
        if (__atomic_sub_fetch(&c->refs, 1, __ATOMIC_ACQ_REL) == 0) region_free(c);
        c = next;
    }
    s->head = s->tail = NULL;
    pthread_mutex_unlock(&s->list_lock);
    pthread_mutex_unlock(&retired_lock);
    pthread_mutex_destroy(&s->write_lock);
    pthread_mutex_destroy(&s->list_lock);
}

static void link_chunk(en_shard *s, en_chunk *c) {
    pthread_mutex_lock(&s->list_lock);
    if (s->tail) s->tail->next = c;
    else s->head = c;
    s->tail = c;
    s->n_chunks++;
    s->bytes_allocated += chunk_bytes(c);
    pthread_mutex_unlock(&s->list_lock);
}

/* Called with list_lock held. A chunk no reader pins becomes a spare (or goes back to the
 * system), so steady-state ingestion with retention reuses memory already faulted in. */
static void unlink_head(en_shard *s) {
    en_chunk *c = s->head;
    s->head = c->next;
    if (!s->head) s->tail = NULL;
    s->n_chunks--;
    s->bytes_allocated -= chunk_bytes(c);
    retire_chunk(s, c);
}

/* The writer's next chunk, carved for the rows left in its batch (n_left rows of
 * data_left + key_left bytes; the next one dlen + klen): a spare that holds that row, else
 * a fresh chunk of the shard's next size. When that leaves no spare and the shard has grown
 * to huge-page chunks, the prefault thread is asked for one. */
static en_chunk *next_chunk(en_shard *s, int64_t first_seq, int64_t n_left, int64_t data_left,
                            int64_t key_left, int64_t dlen, int64_t klen) {
    const en_shard_config *cfg = &s->cfg;
    int64_t avg_data = (data_left + n_left - 1) / n_left, avg_key = (key_left + n_left - 1) / n_left;
    en_chunk *c = NULL;
    int spares_left;
    pthread_mutex_lock(&s->list_lock);
    for (int i = s->n_spares - 1; i >= 0 && !c; i--) {
        if (chunk_carve(s->spares[i], first_seq, avg_data, avg_key, dlen, klen, cfg->max_chunk_records)) {
            c = s->spares[i];
            s->spares[i] = s->spares[--s->n_spares];
        }
    }
    spares_left = s->n_spares;
    if (s->drained && s->bytes_allocated >= EN_PREFAULT_REGROW_BYTES) s->drained = 0;
    int drained = s->drained;
    pthread_mutex_unlock(&s->list_lock);
    s->batch_chunks++;
    if (!c) {
        int64_t cost = EN_INDEX_BYTES_PER_RECORD + avg_data + avg_key;
        int64_t overhead = HEADER_BYTES + PADDING_BYTES + 2 * 4 + dlen + klen;   /* see chunk_carve */
        /* the shard's growth, or the rest of the batch if more, within the configured bounds */
        int64_t rows = max64(cfg->min_chunk_records, n_left);
        int64_t want = clamp64(max64(s->next_bytes, overhead + rows * cost), cfg->min_chunk_bytes, cfg->max_chunk_bytes);
        want = max64(want, overhead + cost);   /* one row at least, however large */
        c = region_new(want, 0);
        if (EN_UNLIKELY(!c)) return NULL;
        if (EN_UNLIKELY(!chunk_carve(c, first_seq, avg_data, avg_key, dlen, klen, cfg->max_chunk_records))) {
            region_free(c);
            return NULL;
        }
        pthread_mutex_lock(&s->list_lock);
        s->chunks_mapped++;
        pthread_mutex_unlock(&s->list_lock);
    }
    c->owner = s;   /* the prefault thread's spares come without one */
    s->next_bytes = clamp64(max64(s->next_bytes, c->region_bytes) * 2, cfg->min_chunk_bytes, cfg->max_chunk_bytes);
    if (spares_left == 0 && !drained && s->next_bytes >= EN_HUGE_PAGE_BYTES) prefault_request(s, s->next_bytes);
    return c;
}

/* A batch's writer on one shard: begun under the shard's write lock (sequence numbers taken
 * for its n rows), fed rows one by one, then published at once or rolled back (either
 * releases the lock). Writers on different shards can be fed from one pass over a batch. */
typedef struct {
    en_shard *s;
    int64_t base, k, n;          /* sequence numbers base .. base + n - 1; k rows written */
    int64_t rem_data, rem_keys;  /* bytes of the rows still to come */
    int64_t ts_ms;
    en_chunk *old_tail, *c;
    int64_t old_count, cnt;
} EN_ALIGNED(EN_CACHE_LINE) shard_writer;   /* on lines of its own: its fields change with every
                                             * row, and one batch's writers are fed by different threads */

/* Called with s->write_lock held; on failure the caller still holds it. */
static en_status writer_begin(shard_writer *w, en_shard *s, int64_t *seq_counter, int64_t ts_ms, int64_t n,
                              int64_t data_bytes, int64_t key_bytes) {
    w->s = s;
    if (EN_UNLIKELY(!seq_take(seq_counter, n, &w->base))) return EN_ERANGE;
    w->k = 0;
    w->n = n;
    w->rem_data = data_bytes;
    w->rem_keys = key_bytes;
    w->ts_ms = ts_ms < s->last_ts ? s->last_ts : ts_ms;
    w->old_tail = w->c = s->tail;
    w->old_count = w->cnt = s->tail ? s->tail->count : 0;
    s->batch_chunks = 0;
    return EN_OK;
}

EN_INLINE int writer_push(shard_writer *w, int64_t row, const en_binary_view *keys,
                                 const en_binary_view *data, int64_t *out_seqs) {
    int64_t dstart = en_view_start(data, row), dlen = en_view_start(data, row + 1) - dstart;
    int64_t kstart = en_view_start(keys, row), klen = en_view_start(keys, row + 1) - kstart;
    en_chunk *c = w->c;
    int64_t cnt = w->cnt;
    if (EN_UNLIKELY(!c || cnt == c->cap_records || c->data_offsets[cnt] + dlen > c->data_cap ||
                    c->key_offsets[cnt] + klen > c->key_cap)) {
        en_chunk *fresh = next_chunk(w->s, w->base + w->k, w->n - w->k, w->rem_data, w->rem_keys, dlen, klen);
        if (EN_UNLIKELY(!fresh)) return 0;
        if (c) STORE(&c->count, cnt);
        link_chunk(w->s, fresh);
        w->c = c = fresh;
        cnt = 0;
    }
    int32_t doff = c->data_offsets[cnt], koff = c->key_offsets[cnt];
    memcpy(c->data + doff, data->data + dstart, (size_t)dlen);
    memcpy(c->keys + koff, keys->data + kstart, (size_t)klen);
    c->data_offsets[cnt + 1] = doff + (int32_t)dlen;
    c->key_offsets[cnt + 1] = koff + (int32_t)klen;
    c->seqs[cnt] = w->base + w->k;
    c->timestamps[cnt] = w->ts_ms;
    out_seqs[row] = w->base + w->k;
    w->cnt = cnt + 1;
    w->k++;
    w->rem_data -= dlen;
    w->rem_keys -= klen;
    return 1;
}

static void writer_publish(shard_writer *w) {
    en_shard *s = w->s;
    STORE(&w->c->count, w->cnt);
    s->last_ts = w->ts_ms;
    pthread_mutex_lock(&s->list_lock);   /* en_shard_trim reads them under list_lock */
    s->batch_first_seq = w->base;
    /* A batch like this one finds its chunks among the spares: it may take one more than this
     * one (it starts elsewhere in the tail chunk), and one left over keeps the writer from
     * asking the prefault thread for a fresh chunk that the next trim makes redundant. */
    s->spare_want = (int)clamp64(s->batch_chunks + 2, EN_SPARE_CHUNKS_MIN, EN_SPARE_CHUNKS_MAX);
    pthread_mutex_unlock(&s->list_lock);
    STORE(&s->visible_seq, w->base + w->n - 1);   /* publish the whole batch at once */
    pthread_mutex_unlock(&s->write_lock);
}

/* Nothing of the batch was published: drop the chunks it added, forget the rows it wrote. */
static void writer_rollback(shard_writer *w) {
    en_shard *s = w->s;
    pthread_mutex_lock(&s->list_lock);
    if (w->old_tail) {
        en_chunk *extra = w->old_tail->next;
        w->old_tail->next = NULL;
        s->tail = w->old_tail;
        while (extra) {
            en_chunk *next = extra->next;
            s->n_chunks--;
            s->bytes_allocated -= chunk_bytes(extra);
            retire_chunk(s, extra);   /* a reader may have pinned it for a moment */
            extra = next;
        }
        STORE(&w->old_tail->count, w->old_count);
    } else {
        while (s->head) unlink_head(s);
    }
    pthread_mutex_unlock(&s->list_lock);
    pthread_mutex_unlock(&s->write_lock);
}

en_status en_shard_append(en_shard *s, int64_t *seq_counter, int64_t ts_ms,
                          const int64_t *order, int64_t n,
                          const en_binary_view *keys, const en_binary_view *data,
                          int64_t *out_seqs) {
    if (n <= 0) return EN_OK;
    int64_t data_bytes = 0, key_bytes = 0;
    for (int64_t k = 0; k < n; k++) {
        int64_t row = order ? order[k] : k;
        int64_t dlen = en_view_start(data, row + 1) - en_view_start(data, row);
        int64_t klen = en_view_start(keys, row + 1) - en_view_start(keys, row);
        if (EN_UNLIKELY(dlen > s->cfg.max_chunk_bytes || klen > s->cfg.max_chunk_bytes)) return EN_ETOOBIG;
        data_bytes += dlen;
        key_bytes += klen;
    }
    shard_writer w;
    pthread_mutex_lock(&s->write_lock);
    en_status rc = writer_begin(&w, s, seq_counter, ts_ms, n, data_bytes, key_bytes);
    if (rc != EN_OK) {
        pthread_mutex_unlock(&s->write_lock);
        return rc;
    }
    for (int64_t k = 0; k < n; k++) {
        if (EN_UNLIKELY(!writer_push(&w, order ? order[k] : k, keys, data, out_seqs))) {
            writer_rollback(&w);
            return EN_ENOMEM;
        }
    }
    writer_publish(&w);
    return EN_OK;
}

/* First row in [0, cnt) whose seq >= seq. */
static int64_t lower_seq(const en_chunk *c, int64_t cnt, int64_t seq) {
    int64_t lo = 0, hi = cnt;
    while (lo < hi) {
        int64_t mid = (lo + hi) >> 1;
        if (c->seqs[mid] < seq) lo = mid + 1;
        else hi = mid;
    }
    return lo;
}

static int64_t lower_ts(const en_chunk *c, int64_t cnt, int64_t ts) {
    int64_t lo = 0, hi = cnt;
    while (lo < hi) {
        int64_t mid = (lo + hi) >> 1;
        if (c->timestamps[mid] < ts) lo = mid + 1;
        else hi = mid;
    }
    return lo;
}

en_status en_shard_read(en_shard *s, int64_t start_seq, int64_t max_records, int64_t max_bytes, en_span *out) {
    out->chunk = NULL;
    out->begin = out->end = 0;
    int64_t visible = LOAD(&s->visible_seq);
    pthread_mutex_lock(&s->list_lock);
    int64_t start = start_seq > s->trim_seq ? start_seq : s->trim_seq;
    en_chunk *c = NULL;
    int64_t cnt = 0;
    if (visible >= 0 && start <= visible) {
        for (en_chunk *it = s->head; it; it = it->next) {
            int64_t n = LOAD(&it->count);
            if (n > 0 && it->seqs[n - 1] >= start) {
                c = it;
                cnt = n;
                chunk_pin(c);
                break;
            }
        }
    }
    pthread_mutex_unlock(&s->list_lock);
    if (!c) return EN_OK;

    int64_t begin = lower_seq(c, cnt, start);
    int64_t end = lower_seq(c, cnt, visible + 1);
    if (max_records > 0 && end - begin > max_records) end = begin + max_records;
    if (max_bytes > 0 && end - begin > 1 && c->data_offsets[end] - c->data_offsets[begin] > max_bytes) {
        int64_t lo = begin + 1, hi = end;   /* largest end' with bytes(begin, end') <= max_bytes, at least one */
        while (lo < hi) {
            int64_t mid = (lo + hi + 1) >> 1;
            if (c->data_offsets[mid] - c->data_offsets[begin] <= max_bytes) lo = mid;
            else hi = mid - 1;
        }
        end = lo;
    }
    if (begin >= end) {
        en_chunk_unpin(c);
        return EN_OK;
    }
    out->chunk = c;
    out->begin = begin;
    out->end = end;
    return EN_OK;
}

int64_t en_shard_seq_at_time(en_shard *s, int64_t ts_ms) {
    int64_t visible = LOAD(&s->visible_seq);
    int64_t result = visible + 1;
    pthread_mutex_lock(&s->list_lock);
    for (en_chunk *it = s->head; it; it = it->next) {
        int64_t n = LOAD(&it->count);
        if (n > 0 && it->timestamps[n - 1] >= ts_ms) {
            int64_t row = lower_ts(it, n, ts_ms);
            if (it->seqs[row] <= visible) result = it->seqs[row];
            break;
        }
    }
    if (result < s->trim_seq) result = s->trim_seq;
    pthread_mutex_unlock(&s->list_lock);
    return result;
}

int64_t en_shard_last_seq(en_shard *s) { return LOAD(&s->visible_seq); }

int en_shard_has_from(en_shard *s, int64_t seq) {
    /* visible_seq is this shard's own newest record: one exists at or after seq iff it does */
    int64_t visible = LOAD(&s->visible_seq);
    pthread_mutex_lock(&s->list_lock);
    int64_t trim = s->trim_seq;
    pthread_mutex_unlock(&s->list_lock);
    return visible >= 0 && visible >= seq && visible >= trim;
}

int64_t en_shard_seq_at_or_after(en_shard *s, int64_t seq) {
    int64_t visible = LOAD(&s->visible_seq);
    int64_t result = visible + 1;
    pthread_mutex_lock(&s->list_lock);
    if (seq < s->trim_seq) seq = s->trim_seq;
    for (en_chunk *it = s->head; it; it = it->next) {
        int64_t n = LOAD(&it->count);
        if (n > 0 && it->seqs[n - 1] >= seq) {
            int64_t row = lower_seq(it, n, seq);
            if (it->seqs[row] <= visible) result = it->seqs[row];
            break;
        }
    }
    pthread_mutex_unlock(&s->list_lock);
    return result;
}

void en_shard_trim(en_shard *s, int64_t min_ts_ms, int64_t max_bytes) {
    int64_t visible = LOAD(&s->visible_seq);
    pthread_mutex_lock(&s->list_lock);
    /* By age: hide every record older than min_ts (binary search in the first chunk that has a newer one). */
    int64_t new_trim = visible + 1;
    for (en_chunk *it = s->head; it; it = it->next) {
        int64_t n = LOAD(&it->count);
        if (n > 0 && it->timestamps[n - 1] >= min_ts_ms) {
            int64_t row = lower_ts(it, n, min_ts_ms);
            if (it->seqs[row] <= visible) new_trim = it->seqs[row];
            break;
        }
    }
    if (new_trim > s->trim_seq) s->trim_seq = new_trim;
    /* By memory: drop whole published chunks from the front, up to the newest batch. */
    while (max_bytes >= 0 && s->bytes_allocated > max_bytes && s->head && s->head != s->tail) {
        int64_t n = LOAD(&s->head->count);
        if (n > 0 && (s->head->seqs[n - 1] > visible || s->head->seqs[n - 1] >= s->batch_first_seq)) break;
        if (n > 0 && s->head->seqs[n - 1] + 1 > s->trim_seq) s->trim_seq = s->head->seqs[n - 1] + 1;
        unlink_head(s);
    }
    /* Free chunks whose every record is hidden; the newest stays for the writer. */
    while (s->head && s->head != s->tail) {
        int64_t n = LOAD(&s->head->count);
        if (n > 0 && s->head->seqs[n - 1] >= s->trim_seq) break;
        unlink_head(s);
    }
    /* Every record hidden: the memory comes back, newest chunk and spare included. The writer
     * uses the tail without list_lock, so only when no append is under way (lock order is
     * write_lock then list_lock: try, never wait). */
    if (s->head && s->trim_seq > visible && pthread_mutex_trylock(&s->write_lock) == 0) {
        if (s->trim_seq > LOAD(&s->visible_seq)) {
            while (s->head) unlink_head(s);
            free_spares(s);
            s->next_bytes = s->cfg.min_chunk_bytes;   /* an idle shard starts small again */
            s->drained = 1;
        }
        pthread_mutex_unlock(&s->write_lock);
    }
    if (visible == s->trim_visible) s->spare_want = EN_SPARE_CHUNKS_MIN;   /* no batch since the last trim */
    s->trim_visible = visible;
    shed_spares(s);
    pthread_mutex_unlock(&s->list_lock);
}

void en_shard_release(en_shard *s) {
    prefault_forget(s);
    pthread_mutex_lock(&s->write_lock);
    pthread_mutex_lock(&s->list_lock);
    int64_t visible = LOAD(&s->visible_seq);
    if (s->trim_seq <= visible) s->trim_seq = visible + 1;
    while (s->head) unlink_head(s);   /* a chunk a reader pins goes when its last pin does */
    free_spares(s);
    s->next_bytes = s->cfg.min_chunk_bytes;
    pthread_mutex_unlock(&s->list_lock);
    pthread_mutex_unlock(&s->write_lock);
}

void en_shard_stats_get(en_shard *s, en_shard_stats *out) {
    int64_t visible = LOAD(&s->visible_seq);
    memset(out, 0, sizeof(*out));
    out->first_seq = -1;
    out->last_seq = visible;
    pthread_mutex_lock(&s->list_lock);
    for (en_chunk *it = s->head; it; it = it->next) {
        int64_t n = LOAD(&it->count);
        if (n == 0) continue;
        int64_t begin = lower_seq(it, n, s->trim_seq);
        int64_t end = lower_seq(it, n, visible + 1);
        if (end > begin) {
            if (out->first_seq < 0) out->first_seq = it->seqs[begin];
            out->records += end - begin;
        }
    }
    out->bytes_allocated = s->bytes_allocated;
    for (int i = 0; i < s->n_spares; i++) out->spare_bytes += chunk_bytes(s->spares[i]);
    out->n_spares = s->n_spares;
    out->n_chunks = s->n_chunks;
    out->last_ts = s->last_ts;
    out->chunks_mapped = s->chunks_mapped;
    pthread_mutex_unlock(&s->list_lock);
}

en_status en_seq_reserve(int64_t *seq_counter, int64_t n, int64_t *first) {
    return seq_take(seq_counter, n, first) ? EN_OK : EN_ERANGE;
}

en_status en_view_check(const en_binary_view *v, int64_t n, int64_t data_len, int64_t *bad_row) {
    int64_t prev = en_view_start(v, 0);
    if (prev < 0 || prev > data_len) {
        *bad_row = 0;
        return EN_EINVAL;
    }
    for (int64_t i = 0; i < n; i++) {
        int64_t next = en_view_start(v, i + 1);
        if (EN_UNLIKELY(next < prev || next > data_len)) {
            *bad_row = i;
            return EN_EINVAL;
        }
        prev = next;
    }
    return EN_OK;
}

#define CHECK_PREFETCH_AHEAD 16

void en_batch_check(const en_binary_view *keys, const en_binary_view *data, int64_t n,
                    const en_batch_rules *rules, en_batch_report *out) {
    out->fault = EN_BATCH_OK;
    out->row = -1;
    int64_t total = 0, marked = 0;
    const uint8_t *mark = rules->mark;
    int64_t mark_len = mark ? rules->mark_len : 0;
    for (int64_t i = 0; i < n; i++) {
        int64_t kstart = en_view_start(keys, i), klen = en_view_start(keys, i + 1) - kstart;
        int64_t dstart = en_view_start(data, i), dlen = en_view_start(data, i + 1) - dstart;
        /* the records' first bytes are a cache miss each (the data is read nowhere else here):
         * asked for a few records ahead, they arrive while these are checked */
        if (mark_len > 0 && i + CHECK_PREFETCH_AHEAD < n)
            EN_PREFETCH(data->data + en_view_start(data, i + CHECK_PREFETCH_AHEAD));
        if (mark_len > 0 && dlen >= mark_len && data->data[dstart] == mark[0] &&
            en_same_bytes(data->data + dstart, mark, mark_len))
            marked++;
        en_batch_fault fault = EN_BATCH_OK;
        int64_t chars = en_utf8_count(keys->data + kstart, (size_t)klen);
        if (chars < 0) fault = EN_BATCH_KEY_TEXT;
        else if (chars < rules->key_min_chars || chars > rules->key_max_chars) fault = EN_BATCH_KEY_LENGTH;
        else if (klen + dlen > rules->max_record_bytes) fault = EN_BATCH_RECORD_SIZE;
        if (EN_UNLIKELY(fault != EN_BATCH_OK)) {
            out->fault = fault;
            out->row = i;
            break;
        }
        total += klen + dlen;
    }
    out->bytes = total;
    out->marked = marked;
}

/* The batch split in `threads` row ranges checked at once: the first range with a fault holds
 * the batch's first faulty row, and the bytes are those of the ranges before it plus its own. */
#define EN_CHECK_MAX_THREADS 8

typedef struct {
    const en_binary_view *keys, *data;
    const en_batch_rules *rules;
    int64_t first, count;
    en_batch_report report;
} check_part;

static void *check_part_run(void *arg) {
    check_part *p = arg;
    size_t kwidth = p->keys->wide ? sizeof(int64_t) : sizeof(int32_t);
    size_t dwidth = p->data->wide ? sizeof(int64_t) : sizeof(int32_t);
    en_binary_view keys = *p->keys, data = *p->data;   /* offsets from row `first` on */
    keys.offsets = (const uint8_t *)keys.offsets + (size_t)p->first * kwidth;
    data.offsets = (const uint8_t *)data.offsets + (size_t)p->first * dwidth;
    en_batch_check(&keys, &data, p->count, p->rules, &p->report);
    if (p->report.row >= 0) p->report.row += p->first;
    return NULL;
}

void en_batch_check_threads(const en_binary_view *keys, const en_binary_view *data, int64_t n,
                            const en_batch_rules *rules, en_batch_report *out, int threads) {
    if (threads > EN_CHECK_MAX_THREADS) threads = EN_CHECK_MAX_THREADS;
    if (threads > n) threads = n > 0 ? (int)n : 1;
    if (threads <= 1) {
        en_batch_check(keys, data, n, rules, out);
        return;
    }
    check_part parts[EN_CHECK_MAX_THREADS];
    pthread_t tids[EN_CHECK_MAX_THREADS];
    int started[EN_CHECK_MAX_THREADS] = {0};
    for (int t = 0; t < threads; t++) {
        int64_t lo = n * t / threads, hi = n * (t + 1) / threads;
        parts[t] = (check_part){keys, data, rules, lo, hi - lo, {EN_BATCH_OK, -1, 0, 0}};
    }
    for (int t = 1; t < threads; t++) started[t] = pthread_create(&tids[t], NULL, check_part_run, &parts[t]) == 0;
    check_part_run(&parts[0]);
    for (int t = 1; t < threads; t++) {
        if (started[t]) pthread_join(tids[t], NULL);
        else check_part_run(&parts[t]);   /* a thread that could not start: its rows here */
    }
    out->fault = EN_BATCH_OK;
    out->row = -1;
    out->bytes = 0;
    out->marked = 0;
    for (int t = 0; t < threads; t++) {
        out->bytes += parts[t].report.bytes;
        out->marked += parts[t].report.marked;
        if (parts[t].report.fault != EN_BATCH_OK) {
            out->fault = parts[t].report.fault;
            out->row = parts[t].report.row;
            break;
        }
    }
}

/* A routed batch is appended in one pass over its rows in row order, each row going to its
 * shard's writer: the batch is read once, front to back, however many shards it spreads
 * over (a pass per shard would read it once per shard, the rows of the others skipped in
 * between). With several threads, each owns a set of shards (one writer per shard, sets
 * balanced by rows) and makes that pass for its own rows. */
#define EN_APPEND_MAX_THREADS 8

typedef struct {
    const en_routed_batch *batch;
    const int64_t *rows, *data_bytes, *key_bytes;   /* per shard */
    const int *owner;            /* per shard: the thread that writes it */
    shard_writer *writers;       /* per shard, used by its owner only */
    en_status rc;                /* first failure (atomic) */
} routed_work;

typedef struct {
    routed_work *work;
    int thread;
} routed_part;

static int by_address(const void *a, const void *b) {
    uintptr_t x = (uintptr_t)*(en_shard *const *)a, y = (uintptr_t)*(en_shard *const *)b;
    return (x > y) - (x < y);
}

static en_status routed_pass(routed_work *w, int t) {
    const en_routed_batch *b = w->batch;
    int64_t mine = 0;
    for (int64_t s = 0; s < b->m; s++) mine += w->owner[s] == t && w->rows[s] > 0;
    if (mine == 0) return EN_OK;
    /* Every thread of every batch takes write locks in address order: no two wait on each other. */
    en_shard **locks = malloc(sizeof(en_shard *) * (size_t)mine);
    if (!locks) return EN_ENOMEM;
    int64_t nl = 0;
    for (int64_t s = 0; s < b->m; s++)
        if (w->owner[s] == t && w->rows[s] > 0) locks[nl++] = b->shards[s];
    qsort(locks, (size_t)nl, sizeof(en_shard *), by_address);
    for (int64_t i = 0; i < nl; i++) pthread_mutex_lock(&locks[i]->write_lock);
    /* sequence numbers in shard order, as one thread appending shard after shard takes them */
    en_status rc = EN_OK;
    int64_t failed_at = b->m;    /* shards from here on have no writer (still locked) */
    for (int64_t s = 0; s < b->m; s++) {
        if (w->owner[s] != t || w->rows[s] == 0) continue;
        rc = writer_begin(&w->writers[s], b->shards[s], b->seq_counter, b->ts_ms, w->rows[s], w->data_bytes[s],
                          w->key_bytes[s]);
        if (rc != EN_OK) {
            failed_at = s;
            break;
        }
    }
    for (int64_t row = 0; row < b->n && rc == EN_OK; row++) {
        int32_t s = b->shard_of[row];
        if (w->owner[s] == t && EN_UNLIKELY(!writer_push(&w->writers[s], row, b->keys, b->data, b->out_seqs)))
            rc = EN_ENOMEM;
    }
    for (int64_t s = 0; s < b->m; s++) {
        if (w->owner[s] != t || w->rows[s] == 0) continue;
        if (s >= failed_at) pthread_mutex_unlock(&b->shards[s]->write_lock);
        else if (rc == EN_OK) writer_publish(&w->writers[s]);
        else writer_rollback(&w->writers[s]);
    }
    free(locks);
    return rc;
}

static void *routed_part_run(void *arg) {
    routed_part *p = arg;
    en_status rc = routed_pass(p->work, p->thread);
    if (rc != EN_OK) {
        en_status ok = EN_OK;
        __atomic_compare_exchange_n(&p->work->rc, &ok, rc, 0, __ATOMIC_RELAXED, __ATOMIC_RELAXED);
    }
    return NULL;
}

en_status en_append_routed(const en_routed_batch *batch, int threads) {
    int64_t m = batch->m;
    if (batch->n <= 0) return EN_OK;
    if (m <= 0) return EN_ERANGE;
    if (threads > EN_APPEND_MAX_THREADS) threads = EN_APPEND_MAX_THREADS;
    if (threads < 1) threads = 1;
    /* one allocation: rows, data and key bytes per shard, owners, writers */
    size_t sums = sizeof(int64_t) * 3 * (size_t)m;
    uint8_t *mem = calloc(1, sums + sizeof(int) * (size_t)m + EN_CACHE_LINE + sizeof(shard_writer) * (size_t)m);
    if (!mem) return EN_ENOMEM;
    int64_t *rows = (int64_t *)(void *)mem, *data_bytes = rows + m, *key_bytes = data_bytes + m;
    int *owner = (int *)(void *)(mem + sums);
    shard_writer *writers = (shard_writer *)(uintptr_t)align_up(
        (int64_t)(uintptr_t)(mem + sums + sizeof(int) * (size_t)m), EN_CACHE_LINE);
    en_status rc = EN_OK;
    /* a shard listed twice would get two writers (or wait on its own lock) */
    en_shard **sorted = (en_shard **)(void *)writers;   /* writers are not in use yet: room for m pointers */
    memcpy(sorted, batch->shards, sizeof(en_shard *) * (size_t)m);
    qsort(sorted, (size_t)m, sizeof(en_shard *), by_address);
    for (int64_t s = 1; s < m && rc == EN_OK; s++)
        if (sorted[s] == sorted[s - 1]) rc = EN_EINVAL;
    memset(writers, 0, sizeof(shard_writer) * (size_t)m);
    for (int64_t row = 0; row < batch->n && rc == EN_OK; row++) {
        int32_t s = batch->shard_of[row];
        if (EN_UNLIKELY(s < 0 || s >= m)) {
            rc = EN_ERANGE;
            break;
        }
        int64_t dlen = en_view_start(batch->data, row + 1) - en_view_start(batch->data, row);
        int64_t klen = en_view_start(batch->keys, row + 1) - en_view_start(batch->keys, row);
        int64_t most = batch->shards[s]->cfg.max_chunk_bytes;
        if (EN_UNLIKELY(dlen > most || klen > most)) {
            rc = EN_ETOOBIG;
            break;
        }
        rows[s]++;
        data_bytes[s] += dlen;
        key_bytes[s] += klen;
    }
    int64_t busy = 0;
    for (int64_t s = 0; s < m; s++) busy += rows[s] > 0;
    if (threads > busy) threads = (int)(busy > 0 ? busy : 1);
    if (rc == EN_OK && threads > 1) {   /* each shard, fullest first, to the thread with the fewest rows */
        int64_t load[EN_APPEND_MAX_THREADS] = {0};
        for (int64_t left = busy; left > 0; left--) {
            int64_t pick = -1;
            for (int64_t s = 0; s < m; s++)
                if (rows[s] > 0 && owner[s] == 0 && (pick < 0 || rows[s] > rows[pick])) pick = s;
            int lightest = 0;
            for (int t = 1; t < threads; t++)
                if (load[t] < load[lightest]) lightest = t;
            owner[pick] = lightest + 1;   /* 1-based while assigning: 0 marks "not yet" */
            load[lightest] += rows[pick];
        }
        for (int64_t s = 0; s < m; s++) owner[s] = owner[s] > 0 ? owner[s] - 1 : 0;
    }
    if (rc != EN_OK) {
        free(mem);
        return rc;
    }
    routed_work w = {batch, rows, data_bytes, key_bytes, owner, writers, EN_OK};
    routed_part parts[EN_APPEND_MAX_THREADS];
    pthread_t tids[EN_APPEND_MAX_THREADS];
    int started[EN_APPEND_MAX_THREADS] = {0};
    for (int t = 0; t < threads; t++) parts[t] = (routed_part){&w, t};
    for (int t = 1; t < threads; t++)
        started[t] = pthread_create(&tids[t], NULL, routed_part_run, &parts[t]) == 0;
    routed_part_run(&parts[0]);
    for (int t = 1; t < threads; t++) {
        if (started[t]) pthread_join(tids[t], NULL);
        else routed_part_run(&parts[t]);   /* a thread that could not start: its shards here */
    }
    rc = w.rc;
    free(mem);
    return rc;
}
