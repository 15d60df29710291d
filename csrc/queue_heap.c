/* The timer heap: a binary min-heap of slot numbers keyed by each message's next timed
 * transition (key_of: delivery or visibility deadline, or the end of retention). Each message
 * knows its position (heap_pos), so a change of key or a removal costs O(log n).
 */
#include <stdlib.h>

#include "queue_internal.h"

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

en_status qheap_reserve(en_queue *q, int64_t extra) {
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

void qheap_push(en_queue *q, int32_t s) {
    int64_t pos = q->heap_n++;
    heap_set(q, pos, s);
    sift_up(q, pos);
}

void qheap_remove(en_queue *q, en_qmsg *m) {
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

void qheap_fix(en_queue *q, en_qmsg *m) {
    sift_up(q, m->heap_pos);
    sift_down(q, m->heap_pos);
}

void qheap_pop_fix(en_queue *q) { sift_down(q, 0); }

void qheap_rebuild(en_queue *q) {
    for (int64_t i = q->heap_n / 2 - 1; i >= 0; i--) sift_down(q, i);
}
