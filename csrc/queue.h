/* A message queue with visibility timeouts, delays, retention and receive counts.
 *
 * Messages are fixed-size structs (en_qmsg) in pages of EN_QPAGE slots (a page table, so a
 * slot never moves and growth costs no copy); their bodies live in a chunked byte arena (a
 * chunk is freed, or reused, once every body in it is gone). Each live message is in exactly
 * one state:
 *   VISIBLE   in the visible list (intrusive, doubly linked: receive pops the head, a message
 *             back from flight goes to the head, a new one to the tail);
 *   INFLIGHT  received, hidden until due_ms;
 *   DELAYED   sent with a delay, hidden until due_ms.
 * Every live message also sits in one binary min-heap keyed by its next timed transition:
 * min(due_ms, sent_ms + retention_ms) while INFLIGHT or DELAYED, sent_ms + retention_ms while
 * VISIBLE. Timed transitions therefore cost O(log n) per message and a receive never scans
 * the queue. They run lazily at the start of every call, with the caller's clock (`now_ms`).
 *
 * A receive bumps the slot's generation; (slot, generation) is the receipt handle. A handle
 * is current while the slot holds the message it was issued for and no later receive
 * happened. A message's death bumps the generation too, so the handles of a slot's earlier
 * messages never match a later one; a handle with gen <= the slot's generation was (at
 * most: or is one step past one that was) issued, and counts as stale, a later one as invalid.
 *
 * Each message may carry a caller's opaque int32 tag (-1: none); tags of messages that die
 * (deleted, expired, cleared) are collected in `dead_tags` so the caller can release what it
 * keeps for them (en_queue_drain_tags).
 *
 * Concurrency: every function takes the queue's mutex; none calls back.
 */
#ifndef EN_QUEUE_H
#define EN_QUEUE_H

#include <pthread.h>

#include "common.h"

#define EN_QPAGE_SHIFT 12
#define EN_QPAGE (1 << EN_QPAGE_SHIFT)

enum { EN_QM_FREE = 0, EN_QM_VISIBLE = 1, EN_QM_INFLIGHT = 2, EN_QM_DELAYED = 3 };

/* per-row results of delete / change visibility */
enum {
    EN_QR_OK = 0,
    EN_QR_STALE = 1,       /* a handle issued once, no longer current */
    EN_QR_INVALID = 2,     /* never issued by this queue */
    EN_QR_NOT_INFLIGHT = 3,/* current handle, message not in flight (change visibility) */
    EN_QR_TOO_LONG = 4     /* change visibility beyond max_hold_ms since the receive */
};

#define EN_Q_NEVER INT32_MIN

typedef struct {
    int64_t num;            /* message number (caller-visible id), unique per queue */
    int64_t sent_ms;
    int64_t due_ms;         /* DELAYED: delivery time; INFLIGHT: visibility deadline */
    uint8_t md5[16];
    uint32_t chunk, off, len;   /* body bytes in the arena */
    int32_t rc;             /* receive count */
    int32_t first_rel;      /* first receive - sent_ms (ms), EN_Q_NEVER if never received */
    int32_t rt_rel;         /* current receive - sent_ms (ms) */
    uint32_t gen;           /* receipt generation */
    int32_t heap_pos;       /* -1 when not in the heap */
    int32_t next, prev;     /* visible list (next also links free slots) */
    int32_t tag;
    uint8_t state;
    uint8_t issued;         /* a handle was issued for the current generation */
} en_qmsg;

typedef struct {
    uint8_t *data;
    uint32_t used, cap;
    int64_t live;           /* bodies stored here and not dead */
    int32_t next_free;      /* free chunk-table entries */
} en_qchunk;

typedef struct {
    pthread_mutex_t lock;
    en_qmsg **pages;
    int64_t n_pages, cap_pages;
    int64_t n_slots;        /* high-water mark */
    int32_t free_head;
    int32_t vis_head, vis_tail;
    int32_t *heap;
    int64_t heap_n, heap_cap;
    en_qchunk *chunks;
    int64_t n_chunks, cap_chunks;
    int32_t chunk_free_head;
    int32_t cur_chunk;      /* -1: none */
    uint32_t chunk_bytes;   /* default chunk size */
    int64_t retention_ms;
    int64_t last_sent_ms;   /* sends never go back in time */
    int64_t next_num;
    int64_t n_visible, n_inflight, n_delayed;
    int64_t bytes_allocated;    /* slot pages + heap + arena chunks */
    int64_t body_bytes;         /* live body bytes */
    int32_t *dead_tags;
    int64_t n_dead_tags, cap_dead_tags;
} en_queue;

/* One message to store (en_queue_push). Fields marked "in" are read; num is written back. */
typedef struct {
    const uint8_t *body;    /* in */
    int64_t len;            /* in */
    uint8_t md5[16];        /* in */
    int64_t delay_ms;       /* in: > 0 DELAYED until now + delay */
    int64_t num;            /* in: -1 assigns the next number; out: the number */
    int64_t sent_ms;        /* in: -1 now (never earlier than the last send) */
    int32_t rc;             /* in: receive count carried over (0 for a new message) */
    int64_t first_ms;       /* in: first receive carried over, -1 never */
    int32_t tag;            /* in */
} en_qnew;

/* One message handed out by en_queue_receive. Body bytes are copied into the caller's buffer. */
typedef struct {
    int64_t num;
    int64_t sent_ms;
    int64_t first_ms;       /* -1 never (only for removed messages) */
    int64_t body_off, body_len;     /* into the caller's buffer */
    int32_t slot;
    uint32_t gen;
    int32_t rc;
    int32_t tag;
    uint8_t md5[16];
} en_qout;

typedef struct {
    int64_t n_visible, n_inflight, n_delayed;
    int64_t next_due_ms;    /* earliest timed transition (INT64_MAX: none) */
    int64_t slots;          /* allocated slot capacity */
    int64_t heap_n;
    int64_t bytes_allocated, body_bytes;
    int64_t chunks;
} en_queue_stats;

en_status en_queue_init(en_queue *q, int64_t retention_ms, int64_t first_num, uint32_t chunk_bytes);
void en_queue_destroy(en_queue *q);

/* Store items[0..n) (all or nothing), in order: not delayed ones at the tail of the visible
 * list (or at its head when `front`). */
en_status en_queue_push(en_queue *q, int64_t now_ms, en_qnew *items, int64_t n, int front);

/* Receive up to max_n visible messages (head first): each becomes INFLIGHT until now + vis_ms
 * (vis_ms 0: received and visible again at the tail), its receive count goes up and a new
 * generation is issued. A message whose receive count would exceed max_rc is removed instead
 * and returned in `moved` (up to max_n). No message is taken while n_inflight >= inflight_max
 * (*over_limit = 1). When `remove` is set the messages are removed (not received) and
 * returned in `out`. Bodies are copied into buf (cap bytes); when the next body does not fit
 * the call stops early and sets *need to its size (0 otherwise). */
en_status en_queue_receive(en_queue *q, int64_t now_ms, int64_t max_n, int64_t vis_ms, int64_t max_rc,
                           int64_t inflight_max, int remove, en_qout *out, int64_t *n_out,
                           en_qout *moved, int64_t *n_moved, uint8_t *buf, int64_t cap, int64_t *need,
                           int *over_limit);

/* Delete by handles (slot, gen): results[i] is EN_QR_OK, _STALE or _INVALID. A current handle
 * deletes the message in any state. */
en_status en_queue_delete(en_queue *q, int64_t now_ms, const int64_t *slots, const uint32_t *gens,
                          int64_t n, uint8_t *results);

/* Change visibility by handles: vis_ms[i] from now (0: visible again at once, at the head).
 * Refused (EN_QR_TOO_LONG) when now + vis_ms exceeds the receive time + max_hold_ms. */
en_status en_queue_change(en_queue *q, int64_t now_ms, const int64_t *slots, const uint32_t *gens,
                          const int64_t *vis_ms, int64_t n, int64_t max_hold_ms, uint8_t *results);

/* Remove every message. */
void en_queue_clear(en_queue *q);

/* New retention period: every timed key is recomputed (O(n)). */
void en_queue_set_retention(en_queue *q, int64_t now_ms, int64_t retention_ms);

/* Run due transitions, then fill *out. */
void en_queue_stats_get(en_queue *q, int64_t now_ms, en_queue_stats *out);

/* Move up to cap collected dead tags to out; returns how many. */
int64_t en_queue_drain_tags(en_queue *q, int32_t *out, int64_t cap);

#endif
