/* FIFO message groups. A group is found by the 16-byte digest of its id (a hash table of chains
 * over a growable array; entries are reused through a free list, and `gen` tells a reused entry
 * from the group that had it). Its VISIBLE and DELAYED messages wait in sequence order; its
 * INFLIGHT messages are kept in sequence order too (same links: a message is in one list at a
 * time). A message can be received while no message of its group before it is in flight; a
 * group whose head can be received is in the ready list, in the order groups became ready.
 */
#include <stdlib.h>
#include <string.h>

#include "queue_internal.h"

en_status qgroup_reserve(en_queue *q, int64_t extra) {
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
        int32_t *b = malloc(sizeof(int32_t) * (size_t)nb);
        if (!b) return EN_ENOMEM;
        memset(b, 0xff, sizeof(int32_t) * (size_t)nb);  /* NIL */
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

int32_t qgroup_get(en_queue *q, const uint8_t key[16]) {
    uint64_t h = key_hash(key) & (uint64_t)(q->n_gbuckets - 1);
    int32_t gi = q->gbuckets[h];
    while (gi != NIL && memcmp(q->groups[gi].key, key, 16) != 0) gi = q->groups[gi].hnext;
    if (gi != NIL) return gi;
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
    g->hnext = q->gbuckets[h];
    q->gbuckets[h] = gi;
    q->n_groups++;
    return gi;
}

static void ready_leave(en_queue *q, int32_t gi) {
    en_qgroup *g = &q->groups[gi];
    if (!g->ready) return;
    ready_unlink(q, &q->ready_head, &q->ready_tail, gi);
    g->ready = 0;
}

static void group_release(en_queue *q, int32_t gi) {
    en_qgroup *g = &q->groups[gi];
    ready_leave(q, gi);
    int32_t *pp = &q->gbuckets[key_hash(g->key) & (uint64_t)(q->n_gbuckets - 1)];
    while (*pp != gi) pp = &q->groups[*pp].hnext;
    *pp = g->hnext;
    g->used = 0;
    g->hnext = q->group_free;
    q->group_free = gi;
    q->n_groups--;
}

int qgroup_can_deliver(const en_queue *q, const en_qgroup *g) {
    if (g->head == NIL || slot_at(q, g->head)->state != EN_QM_VISIBLE) return 0;
    return g->flight == NIL || fslot_at(q, g->head)->seq < fslot_at(q, g->flight)->seq;
}

void qgroup_check(en_queue *q, int32_t gi) {
    en_qgroup *g = &q->groups[gi];
    if (g->n_inflight == 0 && g->n_waiting == 0) {
        group_release(q, gi);
        return;
    }
    if (qgroup_can_deliver(q, g)) {
        if (!g->ready) {
            ready_insert_after(q, &q->ready_head, &q->ready_tail, q->ready_tail, gi);
            g->ready = 1;
        }
    } else {
        ready_leave(q, gi);
    }
}

void qgroup_wait(en_queue *q, int32_t gi, int32_t s) {
    en_qgroup *g = &q->groups[gi];
    uint64_t seq = fslot_at(q, s)->seq;
    int32_t after = g->tail;  /* a new message: at the tail */
    if (after != NIL && fslot_at(q, after)->seq > seq) {  /* back from flight: near the head */
        after = NIL;
        for (int32_t x = g->head; x != NIL && fslot_at(q, x)->seq < seq; x = fslot_at(q, x)->gnext) after = x;
    }
    glist_insert_after(q, &g->head, &g->tail, after, s);
    g->n_waiting++;
}

void qgroup_unwait(en_queue *q, int32_t gi, int32_t s) {
    en_qgroup *g = &q->groups[gi];
    glist_unlink(q, &g->head, &g->tail, s);
    g->n_waiting--;
}

void qgroup_fly(en_queue *q, en_qgroup *g, int32_t after, int32_t s) {
    glist_insert_after(q, &g->flight, NULL, after, s);
    g->n_inflight++;
}

void qgroup_land(en_queue *q, en_qgroup *g, int32_t s) {
    glist_unlink(q, &g->flight, NULL, s);
    g->n_inflight--;
}

void qgroup_clear(en_queue *q) {
    q->n_groups = q->hw_groups = 0;
    q->group_free = NIL;
    q->ready_head = q->ready_tail = NIL;
    if (q->n_gbuckets) memset(q->gbuckets, 0xff, sizeof(int32_t) * (size_t)q->n_gbuckets);
}
