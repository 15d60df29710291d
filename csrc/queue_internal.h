/* What the parts of the message queue share (not part of the API in queue.h):
 *   queue_store.c   message slots (stable pages) and the chunked body arena
 *   queue_heap.c    the timer heap (one entry per live message, keyed by its next transition)
 *   queue_groups.c  FIFO message groups: waiting and in-flight lists, the ready list
 *   queue_dedup.c   FIFO deduplication records and their index, the 128-bit key digest
 *   queue.c         the API: state transitions, push, receive, delete, change visibility
 * Every function here runs with the queue's mutex held.
 */
#ifndef EN_QUEUE_INTERNAL_H
#define EN_QUEUE_INTERNAL_H

#include <string.h>

#include "qlist.h"
#include "queue.h"

#define NIL EN_NIL

/* a time or duration the queue accepts (see queue.h) */
/* The first 8 bytes of a 16-byte digest key: already uniformly mixed, so a hash as it is. */
EN_INLINE uint64_t key_hash(const uint8_t *k) {
    uint64_t h;
    memcpy(&h, k, 8);
    return h;
}

/* Table sizes: powers of two from 64, so a hash is masked, not divided. */
EN_INLINE int64_t pow2_at_least(int64_t n) {
    int64_t b = 64;
    while (b < n) b <<= 1;
    return b;
}

EN_INLINE int time_ok(int64_t t) { return t >= 0 && t <= EN_Q_TIME_MAX; }

EN_INLINE en_qmsg *slot_at(const en_queue *q, int64_t i) {
    return &q->pages[i >> EN_QPAGE_SHIFT][i & (EN_QPAGE - 1)];
}

EN_INLINE en_qfmsg *fslot_at(const en_queue *q, int64_t i) {
    return &q->fpages[i >> EN_QPAGE_SHIFT][i & (EN_QPAGE - 1)];
}

EN_INLINE en_qgroup *group_at(const en_queue *q, int64_t i) { return &q->groups[i]; }

EN_INLINE int64_t expiry_of(const en_queue *q, const en_qmsg *m) { return m->sent_ms + q->retention_ms; }

/* the heap key: the message's next timed transition */
EN_INLINE int64_t key_of(const en_queue *q, const en_qmsg *m) {
    int64_t e = expiry_of(q, m);
    if (m->state == EN_QM_VISIBLE) return e;
    return m->due_ms < e ? m->due_ms : e;
}

/* the visible list (standard queues), the ready list, a group's waiting and in-flight lists */
EN_QLIST(vis, const en_queue *, en_qmsg, slot_at, next, prev)
EN_QLIST(glist, const en_queue *, en_qfmsg, fslot_at, gnext, gprev)
EN_QLIST(ready, const en_queue *, en_qgroup, group_at, rnext, rprev)

/* --- queue_store.c ---------------------------------------------------------------------------- */
en_status qstore_reserve_slots(en_queue *q, int64_t n);
int32_t qstore_take_slot(en_queue *q);                 /* reserved beforehand */
void qstore_free_slot(en_queue *q, int32_t s, en_qmsg *m);
en_status qstore_room(en_queue *q, int64_t len);       /* room for len bytes in the write chunk */
uint8_t *qstore_write(en_queue *q, en_qmsg *m, const uint8_t *body, int64_t len, int64_t total);
void qstore_drop_body(en_queue *q, en_qmsg *m);
void qstore_clear(en_queue *q);
int64_t qstore_chunks(const en_queue *q);
void qstore_destroy(en_queue *q);

/* --- queue_heap.c ----------------------------------------------------------------------------- */
en_status qheap_reserve(en_queue *q, int64_t extra);
void qheap_push(en_queue *q, int32_t s);               /* capacity reserved beforehand */
void qheap_remove(en_queue *q, en_qmsg *m);
void qheap_fix(en_queue *q, en_qmsg *m);               /* the key of m changed */
void qheap_pop_fix(en_queue *q);                       /* the key of the top changed */
void qheap_rebuild(en_queue *q);                       /* every key may have changed */

/* --- queue_groups.c --------------------------------------------------------------------------- */
en_status qgroup_reserve(en_queue *q, int64_t extra);  /* room for extra more groups */
int32_t qgroup_get(en_queue *q, const uint8_t key[16]); /* find or create (reserved beforehand) */
void qgroup_check(en_queue *q, int32_t gi);            /* after any change: release, or ready */
int qgroup_can_deliver(const en_queue *q, const en_qgroup *g);
void qgroup_wait(en_queue *q, int32_t gi, int32_t s);  /* into the waiting list, in sequence order */
void qgroup_unwait(en_queue *q, int32_t gi, int32_t s);
void qgroup_fly(en_queue *q, en_qgroup *g, int32_t after, int32_t s);  /* into flight, after `after` */
void qgroup_land(en_queue *q, en_qgroup *g, int32_t s); /* out of flight */
void qgroup_clear(en_queue *q);

/* --- queue_dedup.c ---------------------------------------------------------------------------- */
void qdedup_digest(const uint8_t *data, size_t len, uint8_t out[16]);
const void *qdedup_slot_hint(const en_queue *q, const uint8_t key[16]);  /* for a prefetch */
en_status qdedup_reserve(en_queue *q, int64_t extra);
int32_t qdedup_find(const en_queue *q, const uint8_t key[16]);
void qdedup_add(en_queue *q, const uint8_t key[16], int64_t expires, int64_t num, uint64_t seq);
void qdedup_expire(en_queue *q, int64_t now);
void qdedup_rollback(en_queue *q, int32_t mark);       /* forget the records added after mark */
void qdedup_destroy(en_queue *q);

#endif
