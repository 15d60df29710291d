#include <stdlib.h>
#include <string.h>

#include "shard.h"
#include "utf8.h"

#define LOAD(p) __atomic_load_n((p), __ATOMIC_ACQUIRE)
#define STORE(p, v) __atomic_store_n((p), (v), __ATOMIC_RELEASE)

/* Records per chunk at most: keeps every buffer size computed from it far from overflow. */
#define EN_CHUNK_RECORDS_LIMIT (INT64_C(1) << 24)

static int64_t clamp64(int64_t v, int64_t lo, int64_t hi) { return v < lo ? lo : (v > hi ? hi : v); }
static int64_t max64(int64_t a, int64_t b) { return a > b ? a : b; }

static void chunk_free(en_chunk *c) {
    free(c->data_offsets);
    free(c->key_offsets);
    free(c->seqs);
    free(c->timestamps);
    free(c->data);
    free(c->keys);
    free(c);
}

static int64_t chunk_bytes(const en_chunk *c) {
    return (c->cap_records + 1) * 8 + c->cap_records * 16 + c->data_cap + c->key_cap;
}

static en_chunk *chunk_new(int64_t first_seq, int64_t cap_records, int64_t data_cap, int64_t key_cap) {
    en_chunk *c = calloc(1, sizeof(en_chunk));
    if (!c) return NULL;
    c->refs = 1;
    c->first_seq = first_seq;
    c->cap_records = cap_records;
    c->data_cap = data_cap;
    c->key_cap = key_cap;
    c->data_offsets = malloc(sizeof(int32_t) * (size_t)(cap_records + 1));
    c->key_offsets = malloc(sizeof(int32_t) * (size_t)(cap_records + 1));
    c->seqs = malloc(sizeof(int64_t) * (size_t)cap_records);
    c->timestamps = malloc(sizeof(int64_t) * (size_t)cap_records);
    c->data = malloc((size_t)max64(data_cap, 1));
    c->keys = malloc((size_t)max64(key_cap, 1));
    if (!c->data_offsets || !c->key_offsets || !c->seqs || !c->timestamps || !c->data || !c->keys) {
        chunk_free(c);
        return NULL;
    }
    c->data_offsets[0] = 0;
    c->key_offsets[0] = 0;
    return c;
}

void en_chunk_unpin(en_chunk *c) {
    if (c && __atomic_sub_fetch(&c->refs, 1, __ATOMIC_ACQ_REL) == 0) chunk_free(c);
}

static void chunk_pin(en_chunk *c) { __atomic_add_fetch(&c->refs, 1, __ATOMIC_ACQ_REL); }

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
    s->last_ts = INT64_MIN;
    s->next_records = s->cfg.min_chunk_records;
    s->next_bytes = s->cfg.min_chunk_bytes;
    if (pthread_mutex_init(&s->write_lock, NULL) != 0) return EN_ENOMEM;
    if (pthread_mutex_init(&s->list_lock, NULL) != 0) {
        pthread_mutex_destroy(&s->write_lock);
        return EN_ENOMEM;
    }
    return EN_OK;
}

void en_shard_destroy(en_shard *s) {
    if (s->spare) chunk_free(s->spare);
    s->spare = NULL;
    en_chunk *c = s->head;
    while (c) {
        en_chunk *next = c->next;
        en_chunk_unpin(c);   /* readers still holding a pin keep their chunk alive */
        c = next;
    }
    s->head = s->tail = NULL;
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

/* Called with list_lock held. A chunk no reader pins becomes the spare (the larger of it and
 * the current spare stays), so steady-state ingestion with retention reuses memory already
 * faulted in without holding more than one chunk in reserve. */
static void unlink_head(en_shard *s) {
    en_chunk *c = s->head;
    s->head = c->next;
    if (!s->head) s->tail = NULL;
    s->n_chunks--;
    s->bytes_allocated -= chunk_bytes(c);
    if (__atomic_sub_fetch(&c->refs, 1, __ATOMIC_ACQ_REL) == 0) {
        if (s->spare && chunk_bytes(s->spare) >= chunk_bytes(c)) {
            chunk_free(c);
        } else {
            if (s->spare) chunk_free(s->spare);
            c->next = NULL;
            s->spare = c;
        }
    }
}

/* The spare chunk if it is big enough for the next record, reset for reuse; NULL if not. */
static en_chunk *take_spare(en_shard *s, int64_t first_seq, int64_t dlen, int64_t klen) {
    en_chunk *found = NULL;
    pthread_mutex_lock(&s->list_lock);
    if (s->spare && s->spare->data_cap >= dlen && s->spare->key_cap >= klen) {
        found = s->spare;
        s->spare = NULL;
    }
    pthread_mutex_unlock(&s->list_lock);
    if (found) {
        found->next = NULL;
        found->refs = 1;
        found->first_seq = first_seq;
        found->count = 0;
    }
    return found;
}

en_status en_shard_append(en_shard *s, int64_t *seq_counter, int64_t ts_ms,
                          const int64_t *order, int64_t n,
                          const en_binary_view *keys, const en_binary_view *data,
                          int64_t *out_seqs) {
    if (n <= 0) return EN_OK;
    int64_t rem_data = 0, rem_keys = 0;
    for (int64_t k = 0; k < n; k++) {
        int64_t row = order ? order[k] : k;
        int64_t dlen = en_view_start(data, row + 1) - en_view_start(data, row);
        int64_t klen = en_view_start(keys, row + 1) - en_view_start(keys, row);
        if (EN_UNLIKELY(dlen > s->cfg.max_chunk_bytes || klen > s->cfg.max_chunk_bytes)) return EN_ETOOBIG;
        rem_data += dlen;
        rem_keys += klen;
    }

    pthread_mutex_lock(&s->write_lock);
    int64_t base;
    if (EN_UNLIKELY(!seq_take(seq_counter, n, &base))) {
        pthread_mutex_unlock(&s->write_lock);
        return EN_ERANGE;
    }
    if (ts_ms < s->last_ts) ts_ms = s->last_ts;
    en_chunk *old_tail = s->tail;
    int64_t old_count = old_tail ? old_tail->count : 0;
    en_chunk *c = old_tail;
    int64_t cnt = old_count;

    for (int64_t k = 0; k < n; k++) {
        int64_t row = order ? order[k] : k;
        int64_t dstart = en_view_start(data, row), dlen = en_view_start(data, row + 1) - dstart;
        int64_t kstart = en_view_start(keys, row), klen = en_view_start(keys, row + 1) - kstart;
        if (EN_UNLIKELY(!c || cnt == c->cap_records || c->data_offsets[cnt] + dlen > c->data_cap ||
                        c->key_offsets[cnt] + klen > c->key_cap)) {
            const en_shard_config *cfg = &s->cfg;
            int64_t records = clamp64(max64(s->next_records, n - k), cfg->min_chunk_records, cfg->max_chunk_records);
            int64_t dcap = max64(clamp64(max64(s->next_bytes, rem_data), cfg->min_chunk_bytes, cfg->max_chunk_bytes), dlen);
            int64_t kcap = max64(clamp64(max64(s->next_bytes / 4, rem_keys), cfg->min_chunk_bytes / 4, cfg->max_chunk_bytes), klen);
            en_chunk *fresh = take_spare(s, base + k, dlen, klen);
            if (!fresh) fresh = chunk_new(base + k, records, dcap, kcap);
            if (EN_UNLIKELY(!fresh)) goto rollback;
            if (c) STORE(&c->count, cnt);
            link_chunk(s, fresh);
            s->next_records = clamp64(s->next_records * 2, cfg->min_chunk_records, cfg->max_chunk_records);
            s->next_bytes = clamp64(s->next_bytes * 2, cfg->min_chunk_bytes, cfg->max_chunk_bytes);
            c = fresh;
            cnt = 0;
        }
        int32_t doff = c->data_offsets[cnt], koff = c->key_offsets[cnt];
        memcpy(c->data + doff, data->data + dstart, (size_t)dlen);
        memcpy(c->keys + koff, keys->data + kstart, (size_t)klen);
        c->data_offsets[cnt + 1] = doff + (int32_t)dlen;
        c->key_offsets[cnt + 1] = koff + (int32_t)klen;
        c->seqs[cnt] = base + k;
        c->timestamps[cnt] = ts_ms;
        out_seqs[row] = base + k;
        cnt++;
        rem_data -= dlen;
        rem_keys -= klen;
    }
    STORE(&c->count, cnt);
    s->last_ts = ts_ms;
    STORE(&s->visible_seq, base + n - 1);   /* publish the whole batch at once */
    pthread_mutex_unlock(&s->write_lock);
    return EN_OK;

rollback:
    /* Nothing of this batch was published: drop chunks it added, forget rows it wrote. */
    pthread_mutex_lock(&s->list_lock);
    if (old_tail) {
        en_chunk *extra = old_tail->next;
        old_tail->next = NULL;
        s->tail = old_tail;
        while (extra) {
            en_chunk *next = extra->next;
            s->n_chunks--;
            s->bytes_allocated -= chunk_bytes(extra);
            en_chunk_unpin(extra);
            extra = next;
        }
        STORE(&old_tail->count, old_count);
    } else {
        while (s->head) unlink_head(s);
    }
    pthread_mutex_unlock(&s->list_lock);
    pthread_mutex_unlock(&s->write_lock);
    return EN_ENOMEM;
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
    /* By memory: drop whole published chunks from the front. */
    while (max_bytes >= 0 && s->bytes_allocated > max_bytes && s->head && s->head != s->tail) {
        int64_t n = LOAD(&s->head->count);
        if (n > 0 && s->head->seqs[n - 1] > visible) break;
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
            if (s->spare) chunk_free(s->spare);
            s->spare = NULL;
            s->next_records = s->cfg.min_chunk_records;   /* an idle shard starts small again */
            s->next_bytes = s->cfg.min_chunk_bytes;
        }
        pthread_mutex_unlock(&s->write_lock);
    }
    pthread_mutex_unlock(&s->list_lock);
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
    out->spare_bytes = s->spare ? chunk_bytes(s->spare) : 0;
    out->n_chunks = s->n_chunks;
    out->last_ts = s->last_ts;
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

void en_batch_check(const en_binary_view *keys, const en_binary_view *data, int64_t n,
                    const en_batch_rules *rules, en_batch_report *out) {
    out->fault = EN_BATCH_OK;
    out->row = -1;
    int64_t total = 0;
    for (int64_t i = 0; i < n; i++) {
        int64_t kstart = en_view_start(keys, i), klen = en_view_start(keys, i + 1) - kstart;
        int64_t dlen = en_view_start(data, i + 1) - en_view_start(data, i);
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
}

/* The threads take shards in turn, the fullest first, from a shared counter: every shard is
 * appended by one thread only, and a thread the scheduler parks holds up only its shard. */
#define EN_APPEND_MAX_THREADS 8

typedef struct {
    int64_t rows, shard;
} shard_rows;

typedef struct {
    const en_routed_batch *batch;
    const shard_rows *by_size;   /* most rows first */
    int64_t next;                /* atomic: position in by_size */
    en_status rc;                /* first failure (atomic) */
} routed_work;

static void *routed_work_run(void *arg) {
    routed_work *w = arg;
    const en_routed_batch *b = w->batch;
    for (;;) {
        int64_t k = __atomic_fetch_add(&w->next, 1, __ATOMIC_RELAXED);
        if (k >= b->m || __atomic_load_n(&w->rc, __ATOMIC_RELAXED) != EN_OK) break;
        int64_t s = w->by_size[k].shard, begin = b->starts[s], end = b->starts[s + 1];
        if (end == begin) break;   /* sorted by size: the rest are empty too */
        en_status rc = en_shard_append(b->shards[s], b->seq_counter, b->ts_ms, b->order + begin, end - begin,
                                       b->keys, b->data, b->out_seqs);
        if (rc != EN_OK) {
            en_status ok = EN_OK;
            __atomic_compare_exchange_n(&w->rc, &ok, rc, 0, __ATOMIC_RELAXED, __ATOMIC_RELAXED);
        }
    }
    return NULL;
}

static int more_rows_first(const void *a, const void *b) {
    const shard_rows *x = a, *y = b;
    return x->rows != y->rows ? (x->rows < y->rows ? 1 : -1) : (x->shard > y->shard) - (x->shard < y->shard);
}

en_status en_append_routed(const en_routed_batch *batch, int threads) {
    if (threads > EN_APPEND_MAX_THREADS) threads = EN_APPEND_MAX_THREADS;
    if (threads > batch->m) threads = (int)batch->m;
    routed_work w = {batch, NULL, 0, EN_OK};
    if (threads <= 1) {   /* one thread: every shard in index order, empty ones skipped */
        for (int64_t s = 0; s < batch->m && w.rc == EN_OK; s++) {
            int64_t begin = batch->starts[s], end = batch->starts[s + 1];
            if (end > begin)
                w.rc = en_shard_append(batch->shards[s], batch->seq_counter, batch->ts_ms, batch->order + begin,
                                       end - begin, batch->keys, batch->data, batch->out_seqs);
        }
        return w.rc;
    }
    shard_rows *by_size = malloc(sizeof(shard_rows) * (size_t)batch->m);
    if (!by_size) return EN_ENOMEM;
    for (int64_t s = 0; s < batch->m; s++) {
        by_size[s].rows = batch->starts[s + 1] - batch->starts[s];
        by_size[s].shard = s;
    }
    qsort(by_size, (size_t)batch->m, sizeof(shard_rows), more_rows_first);
    w.by_size = by_size;
    pthread_t tids[EN_APPEND_MAX_THREADS];
    int started[EN_APPEND_MAX_THREADS] = {0};
    for (int t = 1; t < threads; t++)   /* if a thread cannot start, the others take its shards */
        started[t] = pthread_create(&tids[t], NULL, routed_work_run, &w) == 0;
    routed_work_run(&w);
    for (int t = 1; t < threads; t++)
        if (started[t]) pthread_join(tids[t], NULL);
    free(by_size);
    return w.rc;
}
