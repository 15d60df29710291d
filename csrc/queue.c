#include <stdlib.h>
#include <string.h>

#include "queue.h"

#define NIL (-1)

EN_INLINE en_qmsg *slot_at(const en_queue *q, int64_t i) {
    return &q->pages[i >> EN_QPAGE_SHIFT][i & (EN_QPAGE - 1)];
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
            q->cap_pages = cap;
        }
        en_qmsg *page = malloc(sizeof(en_qmsg) * EN_QPAGE);
        if (!page) return EN_ENOMEM;
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
    case EN_QM_VISIBLE: q->n_visible--; vis_unlink(q, m); break;
    case EN_QM_INFLIGHT: q->n_inflight--; break;
    case EN_QM_DELAYED: q->n_delayed--; break;
    default: return;
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
}

EN_INLINE void lock(en_queue *q) { pthread_mutex_lock(&q->lock); }
EN_INLINE void unlock(en_queue *q) { pthread_mutex_unlock(&q->lock); }

/* --- API ---------------------------------------------------------------------------------- */
en_status en_queue_init(en_queue *q, int64_t retention_ms, int64_t first_num, uint32_t chunk_bytes) {
    memset(q, 0, sizeof(*q));
    if (pthread_mutex_init(&q->lock, NULL) != 0) return EN_ENOMEM;
    q->free_head = q->vis_head = q->vis_tail = NIL;
    q->chunk_free_head = q->cur_chunk = NIL;
    q->chunk_bytes = chunk_bytes ? chunk_bytes : (1u << 20);
    q->retention_ms = retention_ms;
    q->next_num = first_num;
    q->last_sent_ms = INT64_MIN;
    return EN_OK;
}

void en_queue_destroy(en_queue *q) {
    for (int64_t i = 0; i < q->n_pages; i++) free(q->pages[i]);
    free(q->pages);
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

en_status en_queue_push(en_queue *q, int64_t now_ms, en_qnew *items, int64_t n, int front) {
    if (n <= 0) return EN_OK;
    lock(q);
    en_status rc = push_locked(q, now_ms, items, n, front);
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
    if (m->len) memcpy(buf + at, q->chunks[m->chunk].data + m->off, m->len);
}

en_status en_queue_receive(en_queue *q, int64_t now, int64_t max_n, int64_t vis_ms, int64_t max_rc,
                           int64_t inflight_max, int remove, en_qout *out, int64_t *n_out,
                           en_qout *moved, int64_t *n_moved, uint8_t *buf, int64_t cap, int64_t *need,
                           int *over_limit) {
    int64_t k = 0, km = 0, used = 0;
    *need = 0;
    *over_limit = 0;
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
        m->rc++;
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
    lock(q);
    tick(q, now);
    for (int64_t i = 0; i < n; i++) {
        en_qmsg *m = NULL;
        int r = handle_state(q, slots[i], gens[i], &m);
        if (r == EN_QR_OK) kill(q, (int32_t)slots[i], m, 1);
        results[i] = (uint8_t)r;
    }
    unlock(q);
    return EN_OK;
}

en_status en_queue_change(en_queue *q, int64_t now, const int64_t *slots, const uint32_t *gens,
                          const int64_t *vis_ms, int64_t n, int64_t max_hold_ms, uint8_t *results) {
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

void en_queue_set_retention(en_queue *q, int64_t now, int64_t retention_ms) {
    lock(q);
    q->retention_ms = retention_ms;
    for (int64_t i = q->heap_n / 2 - 1; i >= 0; i--) sift_down(q, i);
    tick(q, now);
    unlock(q);
}

void en_queue_stats_get(en_queue *q, int64_t now, en_queue_stats *out) {
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
    unlock(q);
}

int64_t en_queue_drain_tags(en_queue *q, int32_t *out, int64_t cap) {
    lock(q);
    int64_t n = q->n_dead_tags < cap ? q->n_dead_tags : cap;
    memcpy(out, q->dead_tags + (q->n_dead_tags - n), sizeof(int32_t) * (size_t)n);
    q->n_dead_tags -= n;
    unlock(q);
    return n;
}
