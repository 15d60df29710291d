/* Message slots and the body arena.
 *
 * Slots are en_qmsg structs in pages of EN_QPAGE (a page table: a slot never moves, growth
 * copies no message); FIFO queues keep a parallel page table of en_qfmsg. Free slots form a
 * list through `next`. Bodies (and, in FIFO queues, the group and deduplication ids after them)
 * are copied into chunks of the arena; a chunk counts its live bodies and is freed when the
 * last one dies (the write chunk is rewound instead, keeping its memory).
 */
#include <stdlib.h>
#include <string.h>

#include "queue_internal.h"

en_status qstore_reserve_slots(en_queue *q, int64_t n) {
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

int32_t qstore_take_slot(en_queue *q) {
    int32_t s = q->free_head;
    if (s != NIL) {
        q->free_head = slot_at(q, s)->next;
        return s;
    }
    s = (int32_t)q->n_slots++;
    slot_at(q, s)->gen = 0;
    return s;
}

void qstore_free_slot(en_queue *q, int32_t s, en_qmsg *m) {
    m->state = EN_QM_FREE;
    m->tag = NIL;
    m->next = q->free_head;
    q->free_head = s;
}

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

en_status qstore_room(en_queue *q, int64_t len) {
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

/* Copy a body into the write chunk (room made by qstore_room for `total` bytes: the body and
 * what follows it); returns where the bytes after the body go. */
uint8_t *qstore_write(en_queue *q, en_qmsg *m, const uint8_t *body, int64_t len, int64_t total) {
    en_qchunk *c = &q->chunks[q->cur_chunk];
    uint8_t *w = c->data + c->used;
    m->chunk = (uint32_t)q->cur_chunk;
    m->off = c->used;
    m->len = (uint32_t)len;
    if (len) memcpy(w, body, (size_t)len);
    c->used += (uint32_t)total;
    c->live++;
    q->body_bytes += len;
    return w + len;
}

void qstore_drop_body(en_queue *q, en_qmsg *m) {
    q->body_bytes -= m->len;
    if (--q->chunks[m->chunk].live == 0) chunk_release(q, m->chunk);
}

/* Every slot free (generations kept, so no old handle matches again), every chunk released. */
void qstore_clear(en_queue *q) {
    q->free_head = NIL;
    for (int64_t s = q->n_slots - 1; s >= 0; s--) {
        en_qmsg *m = slot_at(q, s);
        if (m->state != EN_QM_FREE) m->gen++;
        m->state = EN_QM_FREE;
        m->tag = NIL;
        m->heap_pos = NIL;
        m->next = q->free_head;
        q->free_head = (int32_t)s;
    }
    q->body_bytes = 0;
    for (int64_t i = 0; i < q->n_chunks; i++) {
        en_qchunk *c = &q->chunks[i];
        if (c->data == NULL) continue;
        c->live = 0;
        chunk_release(q, (uint32_t)i);
    }
}

int64_t qstore_chunks(const en_queue *q) {
    int64_t n = 0;
    for (int64_t i = 0; i < q->n_chunks; i++) n += q->chunks[i].data != NULL;
    return n;
}

void qstore_destroy(en_queue *q) {
    for (int64_t i = 0; i < q->n_pages; i++) {
        free(q->pages[i]);
        if (q->fifo) free(q->fpages[i]);
    }
    free(q->pages);
    free(q->fpages);
    for (int64_t i = 0; i < q->n_chunks; i++) free(q->chunks[i].data);
    free(q->chunks);
}
