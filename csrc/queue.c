/* The message queue's API (queue.h): state transitions (a message's life from push to death),
 * push, receive, delete and visibility changes, run under the queue's mutex. Storage, the timer
 * heap, FIFO groups and deduplication are in queue_store.c, queue_heap.c, queue_groups.c and
 * queue_dedup.c.
 */
#include <stdlib.h>
#include <string.h>

#include "queue_internal.h"

/* what a carried-over message may bring: -1 (none) or a time */
EN_INLINE int opt_time_ok(int64_t t) { return t == -1 || time_ok(t); }

/* a time relative to a message's send, as stored (ms, clamped to int32) */
EN_INLINE int32_t rel_ms(int64_t d) {
    return (int32_t)(d < INT32_MIN + 1 ? INT32_MIN + 1 : (d > INT32_MAX ? INT32_MAX : d));
}

EN_INLINE void lock(en_queue *q) { pthread_mutex_lock(&q->lock); }
EN_INLINE void unlock(en_queue *q) { pthread_mutex_unlock(&q->lock); }

/* --- a message's life ------------------------------------------------------------------------- */
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

/* A new message's fields from what the caller gave (body and state are set by the caller). */
static void fill_new(en_qmsg *m, const en_qnew *it, int64_t now) {
    m->sent_ms = it->sent_ms >= 0 ? it->sent_ms : now;
    memcpy(m->md5, it->md5, 16);
    m->rc = it->rc;
    m->first_rel = it->first_ms >= 0 ? rel_ms(it->first_ms - m->sent_ms) : EN_Q_NEVER;
    m->rt_rel = 0;
    m->tag = it->tag;
    m->issued = 0;
    m->heap_pos = NIL;
    m->next = m->prev = NIL;
}

/* A received message: a new receipt generation, the receive counted and timed. */
static void mark_received(en_qmsg *m, int64_t now) {
    if (m->rc < INT32_MAX) m->rc++;
    m->gen++;
    m->issued = 1;
    int32_t rel = rel_ms(now - m->sent_ms);
    if (m->first_rel == EN_Q_NEVER) m->first_rel = rel;
    m->rt_rel = rel;
}

/* An in-flight FIFO message becomes visible again, in sequence order in its group (the caller
 * fixes its heap position). */
static void fifo_return(en_queue *q, int32_t s, en_qmsg *m) {
    int32_t gi = fslot_at(q, s)->group;
    m->state = EN_QM_VISIBLE;
    q->n_inflight--;
    q->n_visible++;
    qgroup_land(q, group_at(q, gi), s);
    qgroup_wait(q, gi, s);
    qgroup_check(q, gi);
}

/* An in-flight standard message becomes visible again (at the head: best-effort order puts a
 * retry first). */
static void standard_return(en_queue *q, int32_t s, en_qmsg *m, int front) {
    m->state = EN_QM_VISIBLE;
    q->n_inflight--;
    q->n_visible++;
    vis_insert_after(q, &q->vis_head, &q->vis_tail, front ? NIL : q->vis_tail, s);
}

/* Remove a live message; its tag goes to dead_tags when `report`. */
static void kill(en_queue *q, int32_t s, en_qmsg *m, int report) {
    switch (m->state) {
    case EN_QM_VISIBLE:
        q->n_visible--;
        if (!q->fifo) vis_unlink(q, &q->vis_head, &q->vis_tail, s);
        break;
    case EN_QM_INFLIGHT: q->n_inflight--; break;
    case EN_QM_DELAYED: q->n_delayed--; break;
    default: return;
    }
    if (q->fifo) {
        int32_t gi = fslot_at(q, s)->group;
        if (m->state == EN_QM_INFLIGHT) qgroup_land(q, group_at(q, gi), s);
        else qgroup_unwait(q, gi, s);
        m->state = EN_QM_FREE;  /* (for qgroup_check) */
        qgroup_check(q, gi);
    }
    qheap_remove(q, m);
    if (report && m->tag >= 0) (void)push_tag(q, m->tag); /* (on ENOMEM the tag leaks: harmless) */
    qstore_drop_body(q, m);
    m->gen++;  /* handles issued for this message are stale from now on */
    qstore_free_slot(q, s, m);
}

/* Run the timed transitions that are due. */
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
            q->n_visible++;
            m->state = EN_QM_VISIBLE;
            if (q->fifo) qgroup_check(q, fslot_at(q, s)->group);
            else vis_insert_after(q, &q->vis_head, &q->vis_tail, q->vis_tail, s);
        } else if (q->fifo) {
            fifo_return(q, s, m);
        } else {
            standard_return(q, s, m, 1);  /* visibility ran out */
        }
        qheap_pop_fix(q);
    }
    if (q->fifo) qdedup_expire(q, now);
}

/* Undo the first n stored (not duplicate) items of a push (not linked into any list yet). */
static void unpush(en_queue *q, en_qnew *items, int64_t n) {
    for (int64_t j = 0; j < n; j++) {
        if (items[j].dup) continue;
        int32_t s = items[j].slot;
        en_qmsg *m = slot_at(q, s);
        if (m->state == EN_QM_VISIBLE) q->n_visible--;
        else q->n_delayed--;
        qheap_remove(q, m);
        qstore_drop_body(q, m);
        qstore_free_slot(q, s, m);
        if (q->fifo) {
            int32_t gi = fslot_at(q, s)->group;
            if (q->groups[gi].used) qgroup_check(q, gi);  /* releases groups left empty */
        }
    }
}

/* --- lifecycle -------------------------------------------------------------------------------- */
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
    qstore_destroy(q);
    free(q->groups);
    free(q->gbuckets);
    qdedup_destroy(q);
    free(q->heap);
    free(q->dead_tags);
    pthread_mutex_destroy(&q->lock);
    memset(q, 0, sizeof(*q));
}

/* --- push ------------------------------------------------------------------------------------- */
/* what every pushed item must satisfy (sizes are checked by each push) */
static en_status items_ok(en_qnew *items, int64_t n) {
    for (int64_t i = 0; i < n; i++) {
        en_qnew *it = &items[i];
        if (!time_ok(it->delay_ms) || !opt_time_ok(it->sent_ms) || !opt_time_ok(it->first_ms) || it->rc < 0
            || it->num < -1)
            return EN_ERANGE;
        it->dup = 0;
    }
    return EN_OK;
}

/* A send time that never steps back (a clock stepping back must not reorder), after the due
 * transitions. */
static int64_t send_time(en_queue *q, int64_t now) {
    if (now < q->last_sent_ms) now = q->last_sent_ms;
    q->last_sent_ms = now;
    tick(q, now);
    return now;
}

static en_status push_standard(en_queue *q, int64_t now, en_qnew *items, int64_t n, int front) {
    now = send_time(q, now);
    for (int64_t i = 0; i < n; i++)
        if (items[i].len < 0 || items[i].len > (int64_t)UINT32_MAX / 2) return EN_ETOOBIG;
    en_status rc = qstore_reserve_slots(q, n);
    if (rc == EN_OK) rc = qheap_reserve(q, n);
    if (rc != EN_OK) return rc;
    for (int64_t i = 0; i < n; i++) {
        en_qnew *it = &items[i];
        rc = qstore_room(q, it->len);
        if (rc != EN_OK) {  /* nothing of this call becomes visible */
            unpush(q, items, i);
            return rc;
        }
        int32_t s = qstore_take_slot(q);
        en_qmsg *m = slot_at(q, s);
        m->num = it->num;  /* (resolved below) */
        qstore_write(q, m, it->body, it->len, it->len);
        fill_new(m, it, now);
        if (it->delay_ms > 0) {
            m->state = EN_QM_DELAYED;
            m->due_ms = now + it->delay_ms;
            q->n_delayed++;
        } else {
            m->state = EN_QM_VISIBLE;
            m->due_ms = 0;
            q->n_visible++;
        }
        qheap_push(q, s);
        it->slot = s;
    }
    /* the visible ones into the visible list, in order (at its head when `front`) */
    int32_t after = front ? NIL : q->vis_tail;
    for (int64_t i = 0; i < n; i++) {
        en_qmsg *m = slot_at(q, items[i].slot);
        if (m->state != EN_QM_VISIBLE) continue;
        vis_insert_after(q, &q->vis_head, &q->vis_tail, after, items[i].slot);
        after = items[i].slot;
    }
    for (int64_t i = 0; i < n; i++) {
        en_qmsg *m = slot_at(q, items[i].slot);
        if (m->num < 0) m->num = q->next_num++;
        items[i].num = m->num;
    }
    /* messages already past their retention (carried-over sent_ms) go at the next tick */
    return EN_OK;
}

#define PREFETCH 16

static en_status push_fifo(en_queue *q, int64_t now, en_qnew *items, int64_t n) {
    now = send_time(q, now);
    for (int64_t i = 0; i < n; i++) {
        en_qnew *it = &items[i];
        if (it->len < 0 || it->len > (int64_t)UINT32_MAX / 4) return EN_ETOOBIG;
        if (it->glen < 1 || it->glen > 255 || it->dlen < 0 || it->dlen > 255) return EN_EINVAL;
    }
    en_status rc = qstore_reserve_slots(q, n);
    if (rc == EN_OK) rc = qheap_reserve(q, n);
    if (rc == EN_OK) rc = qgroup_reserve(q, n);
    if (rc == EN_OK) rc = qdedup_reserve(q, n);
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
                qdedup_digest(jt->group, (size_t)jt->glen, gk);
                if (jt->seq != 0 || jt->dedup == NULL) continue;
                if (q->group_scope) {
                    memcpy(kbuf, gk, 16);
                    memcpy(kbuf + 16, jt->dedup, (size_t)jt->dlen);
                    qdedup_digest(kbuf, 16 + (size_t)jt->dlen, dk);
                } else {
                    qdedup_digest(jt->dedup, (size_t)jt->dlen, dk);
                }
                EN_PREFETCH(qdedup_slot_hint(q, dk));
            }
        }
        const uint8_t *gkey = gkeys[i % PREFETCH], *dkey = dkeys[i % PREFETCH];
        if (dedup) {
            int32_t d = qdedup_find(q, dkey);
            if (d != NIL) {  /* accepted, not stored: the original's number and sequence */
                it->dup = 1;
                it->num = q->dedups[d].num;
                it->seq = q->dedups[d].seq;
                continue;
            }
        }
        int64_t dlen = it->dedup ? it->dlen : 0;
        int64_t total = it->len + it->glen + dlen;
        rc = qstore_room(q, total);
        if (rc != EN_OK) {
            unpush(q, items, i);
            qdedup_rollback(q, mark);
            return rc;
        }
        int32_t s = qstore_take_slot(q);
        en_qmsg *m = slot_at(q, s);
        en_qfmsg *f = fslot_at(q, s);
        uint8_t *aux = qstore_write(q, m, it->body, it->len, total);  /* then the group and dedup ids */
        memcpy(aux, it->group, (size_t)it->glen);
        if (dlen) memcpy(aux + it->glen, it->dedup, (size_t)dlen);
        fill_new(m, it, now);
        m->num = it->num >= 0 ? it->num : q->next_num++;
        f->seq = it->seq ? it->seq : q->next_seq++;
        f->glen = (uint8_t)it->glen;
        f->dlen = (uint8_t)dlen;
        f->gnext = f->gprev = NIL;
        f->group = qgroup_get(q, gkey);
        if (q->fifo_delay_ms > 0 && m->sent_ms + q->fifo_delay_ms > now) {
            m->state = EN_QM_DELAYED;
            m->due_ms = m->sent_ms + q->fifo_delay_ms;
            q->n_delayed++;
        } else {
            m->state = EN_QM_VISIBLE;
            m->due_ms = 0;
            q->n_visible++;
        }
        qheap_push(q, s);
        if (dedup) qdedup_add(q, dkey, now + q->window_ms, m->num, f->seq);
        it->num = m->num;
        it->seq = f->seq;
        it->slot = s;
    }
    /* into the groups, in order (a kept sequence number: in order among the group's) */
    for (int64_t i = 0; i < n; i++) {
        en_qnew *it = &items[i];
        if (it->dup) continue;
        int32_t gi = fslot_at(q, it->slot)->group;
        qgroup_wait(q, gi, it->slot);
        qgroup_check(q, gi);
    }
    return EN_OK;
}

en_status en_queue_push(en_queue *q, int64_t now_ms, en_qnew *items, int64_t n, int front) {
    if (n <= 0) return EN_OK;
    if (!time_ok(now_ms)) return EN_ERANGE;
    en_status bad = items_ok(items, n);
    if (bad != EN_OK) return bad;
    lock(q);
    en_status rc = q->fifo ? push_fifo(q, now_ms, items, n) : push_standard(q, now_ms, items, n, front);
    unlock(q);
    return rc;
}

/* --- receive ---------------------------------------------------------------------------------- */
/* bytes fill_out copies */
EN_INLINE int64_t out_bytes(const en_queue *q, const en_qmsg *m, int32_t s) {
    if (!q->fifo) return m->len;
    const en_qfmsg *f = fslot_at(q, s);
    return (int64_t)m->len + f->glen + f->dlen;
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
    if (q->fifo) {
        const en_qfmsg *f = fslot_at(q, s);
        o->seq = f->seq;
        o->glen = f->glen;
        o->dlen = f->dlen;
    } else {
        o->seq = 0;
        o->glen = o->dlen = 0;
    }
    int64_t total = out_bytes(q, m, s);
    if (total) memcpy(buf + at, q->chunks[m->chunk].data + m->off, (size_t)total);
}

/* One message of a receive: removed (r->remove, or moved when its receive count would pass
 * max_rc) or received. Returns 0 when the row arrays are full. */
static int take_one(en_queue *q, en_qrecv *r, int32_t s, en_qmsg *m, int64_t *used) {
    int64_t sz = out_bytes(q, m, s);
    if (r->remove || (int64_t)m->rc + 1 > r->max_rc) {
        if (!r->remove && r->n_moved >= r->max_n) return 0;
        fill_out(q, m, s, r->remove ? &r->out[r->n_out++] : &r->moved[r->n_moved++], r->buf, *used);
        *used += sz;
        kill(q, s, m, 0);  /* the caller takes over the tag (FIFO: may release the group) */
        return 1;
    }
    mark_received(m, r->now_ms);
    fill_out(q, m, s, &r->out[r->n_out++], r->buf, *used);
    *used += sz;
    return 1;
}

/* receive (or take) for a standard queue: the visible list from its head */
static void receive_standard(en_queue *q, en_qrecv *r, int64_t max_n) {
    int64_t used = 0;
    int32_t again_head = NIL, again_tail = NIL;  /* vis_ms 0: visible again after this call */
    while (r->n_out < max_n && q->vis_head != NIL) {
        int32_t s = q->vis_head;
        en_qmsg *m = slot_at(q, s);
        if (used + (int64_t)m->len > r->cap) {
            r->need = m->len;  /* the caller may call again, with room for at least this body */
            break;
        }
        int taken_out = r->remove || (int64_t)m->rc + 1 > r->max_rc;
        if (!taken_out) vis_unlink(q, &q->vis_head, &q->vis_tail, s);
        if (!take_one(q, r, s, m, &used)) break;
        if (taken_out) continue;
        if (r->vis_ms > 0) {
            m->state = EN_QM_INFLIGHT;
            m->due_ms = r->now_ms + r->vis_ms;
            q->n_visible--;
            q->n_inflight++;
            qheap_fix(q, m);
        } else {
            vis_insert_after(q, &again_head, &again_tail, again_tail, s);
        }
    }
    while (again_head != NIL) {  /* at the tail, in the order received */
        int32_t s = again_head;
        vis_unlink(q, &again_head, &again_tail, s);
        vis_insert_after(q, &q->vis_head, &q->vis_tail, q->vis_tail, s);
    }
}

/* receive (or take) for a FIFO queue: ready groups in order, each as far as it goes */
static void receive_fifo(en_queue *q, en_qrecv *r, int64_t max_n) {
    int64_t used = 0;
    int32_t again_head = NIL, again_tail = NIL;  /* vis_ms 0: visible again after this call */
    int32_t gi = q->ready_head;
    int stop = 0;
    /* a group the previous call stopped in (the buffer was full), if it is still that group */
    int32_t first = r->cont < 0 ? NIL : (int32_t)(r->cont & 0x7fffffff);
    if (first != NIL && (first >= q->hw_groups || !q->groups[first].used
                         || q->groups[first].gen != (uint32_t)((uint64_t)r->cont >> 32)))
        first = NIL;
    r->cont = -1;
    if (first != NIL) gi = first;
    while (!stop && r->n_out < max_n && gi != NIL) {
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
        while (r->n_out < max_n && g->used && g->head != NIL) {
            int32_t s = g->head;
            en_qmsg *m = slot_at(q, s);
            if (m->state != EN_QM_VISIBLE || fslot_at(q, s)->seq > limit) break;
            if (used + out_bytes(q, m, s) > r->cap) {
                r->need = out_bytes(q, m, s);
                r->cont = (int64_t)(((uint64_t)g->gen << 32) | (uint32_t)gi);
                stop = 1;
                break;
            }
            if (r->remove || (int64_t)m->rc + 1 > r->max_rc) {
                if (!take_one(q, r, s, m, &used)) {
                    stop = 1;
                    break;
                }
                continue;
            }
            qgroup_unwait(q, gi, s);
            qgroup_fly(q, g, after, s);
            after = s;
            m->state = EN_QM_INFLIGHT;
            q->n_visible--;
            q->n_inflight++;
            take_one(q, r, s, m, &used);
            m->due_ms = r->now_ms + r->vis_ms;
            qheap_fix(q, m);
            if (r->vis_ms <= 0) {
                m->next = NIL;
                if (again_tail != NIL) slot_at(q, again_tail)->next = s;
                else again_head = s;
                again_tail = s;
            }
        }
        if (g->used) qgroup_check(q, gi);
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
        qheap_fix(q, m);
    }
}

en_status en_queue_receive(en_queue *q, en_qrecv *r) {
    r->n_out = r->n_moved = r->need = 0;
    r->over_limit = 0;
    if (!time_ok(r->now_ms) || !time_ok(r->vis_ms) || r->inflight_max < 0 || r->cap < 0 || r->max_n < 0)
        return EN_ERANGE;
    lock(q);
    tick(q, r->now_ms);
    int64_t max_n = r->max_n;
    if (!r->remove) {
        int64_t room = r->inflight_max - q->n_inflight;
        if (room <= 0) {
            r->over_limit = 1;
            max_n = 0;
        } else if (room < max_n) {
            max_n = room;
        }
    }
    if (q->fifo) receive_fifo(q, r, max_n);
    else receive_standard(q, r, max_n);
    unlock(q);
    return EN_OK;
}

/* --- by receipt handle ------------------------------------------------------------------------ */
/* 0 current, EN_QR_STALE, EN_QR_INVALID */
EN_INLINE int handle_state(const en_queue *q, int64_t s, uint32_t gen, en_qmsg **out) {
    if (s < 0 || s >= q->n_slots || gen == 0) return EN_QR_INVALID;
    en_qmsg *m = slot_at(q, s);
    if (gen > m->gen) return EN_QR_INVALID;
    if (gen != m->gen || m->state == EN_QM_FREE || !m->issued) return EN_QR_STALE;
    *out = m;
    return EN_QR_OK;
}

en_status en_queue_delete(en_queue *q, int64_t now, en_qhandles *h) {
    if (!time_ok(now)) return EN_ERANGE;
    lock(q);
    tick(q, now);
    for (int64_t i = 0; i < h->n; i++) {
        en_qmsg *m = NULL;
        int r = handle_state(q, h->slots[i], h->gens[i], &m);
        if (r == EN_QR_OK) {
            if (q->fifo && m->state != EN_QM_INFLIGHT) r = EN_QR_NOT_INFLIGHT;
            else kill(q, (int32_t)h->slots[i], m, 1);
        }
        h->results[i] = (uint8_t)r;
    }
    unlock(q);
    return EN_OK;
}

en_status en_queue_change(en_queue *q, int64_t now, en_qhandles *h, const int64_t *vis_ms, int64_t max_hold_ms) {
    if (!time_ok(now) || !time_ok(max_hold_ms)) return EN_ERANGE;
    for (int64_t i = 0; i < h->n; i++)
        if (!time_ok(vis_ms[i])) return EN_ERANGE;
    lock(q);
    tick(q, now);
    for (int64_t i = 0; i < h->n; i++) {
        en_qmsg *m = NULL;
        int32_t s = (int32_t)h->slots[i];
        int r = handle_state(q, h->slots[i], h->gens[i], &m);
        if (r == EN_QR_OK) {
            if (m->state != EN_QM_INFLIGHT) {
                r = EN_QR_NOT_INFLIGHT;
            } else if (now + vis_ms[i] - (m->sent_ms + m->rt_rel) > max_hold_ms) {
                r = EN_QR_TOO_LONG;
            } else {
                if (vis_ms[i] > 0) m->due_ms = now + vis_ms[i];
                else if (q->fifo) fifo_return(q, s, m);
                else standard_return(q, s, m, 1);
                qheap_fix(q, m);
            }
        }
        h->results[i] = (uint8_t)r;
    }
    unlock(q);
    return EN_OK;
}

en_status en_queue_retry(en_queue *q, int64_t now, const en_qhandles *h, int64_t due_ms, int64_t vis_ms, int *ok) {
    *ok = 0;
    if (!time_ok(now) || !time_ok(vis_ms)) return EN_ERANGE;
    lock(q);
    tick(q, now);
    *ok = 1;
    for (int64_t i = 0; i < h->n; i++) {
        en_qmsg *m = NULL;
        if (handle_state(q, h->slots[i], h->gens[i], &m) != EN_QR_OK || m->state != EN_QM_INFLIGHT
            || m->due_ms != due_ms) {
            *ok = 0;
            break;
        }
    }
    for (int64_t i = 0; *ok && i < h->n; i++) {
        int32_t s = (int32_t)h->slots[i];
        en_qmsg *m = slot_at(q, s);
        if (vis_ms > 0) m->due_ms = now + vis_ms;
        else if (q->fifo) fifo_return(q, s, m);
        else standard_return(q, s, m, 0);
        qheap_fix(q, m);
    }
    unlock(q);
    return EN_OK;
}

/* --- housekeeping ----------------------------------------------------------------------------- */
void en_queue_clear(en_queue *q) {
    lock(q);
    for (int64_t s = 0; s < q->n_slots; s++) {
        en_qmsg *m = slot_at(q, s);
        if (m->state != EN_QM_FREE && m->tag >= 0) (void)push_tag(q, m->tag);
    }
    qstore_clear(q);
    q->vis_head = q->vis_tail = NIL;
    if (q->fifo) qgroup_clear(q);  /* deduplication records stay */
    q->heap_n = 0;
    q->n_visible = q->n_inflight = q->n_delayed = 0;
    unlock(q);
}

en_status en_queue_set_retention(en_queue *q, int64_t now, int64_t retention_ms) {
    if (!time_ok(now) || !time_ok(retention_ms)) return EN_ERANGE;
    lock(q);
    q->retention_ms = retention_ms;
    qheap_rebuild(q);
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
        qheap_rebuild(q);
    }
    tick(q, now);
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
    out->chunks = qstore_chunks(q);
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
