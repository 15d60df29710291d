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
 * FIFO mode (en_queue_init_fifo): every message also belongs to a message group (a digest of
 * its group id) and carries a sequence number. VISIBLE and DELAYED messages wait in their
 * group's list in sequence order (the visible list is unused), INFLIGHT ones in the group's
 * in-flight list, in sequence order too. A message can be received while no message of its
 * group before it is in flight (as AWS does: a message back from flight is receivable at once,
 * its later siblings still in flight hold the rest of the group); a group is "ready" (in the
 * ready list, in the order groups became ready) while its head is VISIBLE and so receivable.
 * A receive takes groups from the ready list, as many messages of one group as fit before
 * the next. Deduplication records (16-byte digests of the deduplication
 * id, or of group + id) live window_ms after their send, whatever becomes of the message;
 * they expire in send order (a FIFO list: send times never go back). The group id and
 * deduplication id bytes are stored in the arena after the body ("aux" bytes).
 *
 * Times and durations (ms) are checked at every entry point: a time or duration outside
 * [0, EN_Q_TIME_MAX], a negative count or receive count is refused with EN_ERANGE before anything
 * changes, so no sum of two of them overflows.
 *
 * Concurrency: every function takes the queue's mutex; none calls back.
 *
 * Sources: queue.c (this API), queue_store.c (slots, arena), queue_heap.c (timer heap),
 * queue_groups.c (FIFO groups), queue_dedup.c (deduplication); queue_internal.h joins them.
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
#define EN_Q_TIME_MAX ((int64_t)1 << 61)   /* ms: 73 million years */

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

/* FIFO fields of a message (a page table parallel to the slots, FIFO queues only) */
typedef struct {
    uint64_t seq;
    int32_t group;          /* group index */
    int32_t gnext, gprev;   /* group list while VISIBLE / DELAYED, in-flight list while INFLIGHT */
    uint8_t glen, dlen;     /* aux bytes after the body: group id, then deduplication id */
} en_qfmsg;

typedef struct {
    uint8_t key[16];
    int32_t head, tail;     /* waiting (VISIBLE / DELAYED) messages, in sequence order */
    int32_t flight;         /* first in-flight message (the list is in sequence order) */
    int32_t n_inflight, n_waiting;
    int32_t rnext, rprev;   /* ready list */
    int32_t hnext;          /* hash chain (free list when unused) */
    uint32_t gen;           /* a new one per group (tells a reused entry from the old group) */
    uint8_t ready, used;
} en_qgroup;

typedef struct {
    uint8_t key[16];
    int64_t expires_ms;
    int64_t num;            /* the message stored under this id */
    uint64_t seq;
    int32_t hnext;          /* free list when unused */
    int32_t onext;          /* expiry order */
} en_qdedup;

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
    /* FIFO mode */
    int fifo;
    int group_scope;        /* deduplication per group (else per queue) */
    int64_t fifo_delay_ms;  /* queue delay: a message is due at sent_ms + delay */
    int64_t window_ms;      /* deduplication window */
    uint64_t next_seq;
    en_qfmsg **fpages;
    en_qgroup *groups;
    int64_t n_groups, hw_groups, cap_groups;
    int32_t group_free;
    uint32_t group_gen;
    int32_t *gbuckets;
    int64_t n_gbuckets;     /* a power of two (0: none yet) */
    int32_t ready_head, ready_tail;
    en_qdedup *dedups;
    int64_t n_dedups, hw_dedups, cap_dedups;
    int32_t dedup_free;
    uint64_t *dindex;       /* deduplication index (open addressing, see queue.c) */
    int64_t n_dindex;
    int32_t dold, dnew;     /* expiry order: oldest, newest */
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
    /* FIFO queues */
    const uint8_t *group;   /* in: group id bytes (1..255) */
    const uint8_t *dedup;   /* in: deduplication id bytes (1..255); NULL: no deduplication */
    int32_t glen, dlen;     /* in */
    uint64_t seq;           /* in: 0 assigns the next one (and deduplicates), else kept (a message
                             *     put back: in sequence order in its group); out: the number */
    int32_t dup;            /* out: 1 when a duplicate (num / seq: the original's, not stored) */
    int32_t slot;           /* (internal: where it was stored) */
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
    uint64_t seq;           /* FIFO: sequence number; group id and deduplication id bytes follow
                             * the body in the buffer (glen, then dlen bytes) */
    int32_t glen, dlen;
} en_qout;

typedef struct {
    int64_t n_visible, n_inflight, n_delayed;
    int64_t next_due_ms;    /* earliest timed transition (INT64_MAX: none) */
    int64_t slots;          /* allocated slot capacity */
    int64_t heap_n;
    int64_t bytes_allocated, body_bytes;
    int64_t chunks;
    int64_t groups, dedups; /* FIFO: live groups, deduplication records */
} en_queue_stats;

en_status en_queue_init(en_queue *q, int64_t retention_ms, int64_t first_num, uint32_t chunk_bytes);
void en_queue_destroy(en_queue *q);

/* Make an empty queue a FIFO queue (see above). */
en_status en_queue_init_fifo(en_queue *q, uint64_t first_seq, int64_t window_ms, int64_t delay_ms, int group_scope);

/* FIFO: new delay (retroactive: every DELAYED message is due at sent + delay; O(n)) and
 * deduplication scope. */
en_status en_queue_set_fifo(en_queue *q, int64_t now_ms, int64_t delay_ms, int group_scope);

/* Receipt handles: (slot, generation) pairs, and a result per handle (EN_QR_*) where a call
 * reports one. */
typedef struct {
    const int64_t *slots;
    const uint32_t *gens;
    int64_t n;
    uint8_t *results;       /* out */
} en_qhandles;

/* FIFO retry of a receive (ReceiveRequestAttemptId): when every handle is current, its message
 * in flight and due at due_ms, each becomes due at now + vis_ms (0: visible again), *ok = 1;
 * otherwise nothing changes, *ok = 0. */
en_status en_queue_retry(en_queue *q, int64_t now_ms, const en_qhandles *h, int64_t due_ms, int64_t vis_ms,
                         int *ok);

/* Store items[0..n) (all or nothing), in order: not delayed ones at the tail of the visible
 * list (or at its head when `front`). FIFO: items carry group and deduplication ids (see
 * en_qnew); duplicates are reported, not stored; delay_ms is ignored (the queue's applies). */
en_status en_queue_push(en_queue *q, int64_t now_ms, en_qnew *items, int64_t n, int front);

/* One receive (en_queue_receive). Fields marked "in" are read, "out" written. */
typedef struct {
    int64_t now_ms;         /* in */
    int64_t max_n;          /* in: at most this many messages in `out`, and in `moved` */
    int64_t vis_ms;         /* in: in flight until now + vis_ms (0: received, visible again at once) */
    int64_t max_rc;         /* in: a message whose receive count would exceed this is moved out */
    int64_t inflight_max;   /* in: no message is received while this many are in flight */
    int remove;             /* in: take the messages out (not received), into `out` */
    en_qout *out, *moved;   /* in: max_n rows each */
    uint8_t *buf;           /* in: bodies (FIFO: then group and deduplication ids) are copied here */
    int64_t cap;            /* in: bytes at buf */
    int64_t cont;           /* in/out: FIFO group to go on with (see below), -1: none */
    int64_t n_out, n_moved; /* out */
    int64_t need;           /* out: size of the next body when it did not fit in buf (else 0) */
    int over_limit;         /* out: inflight_max was reached */
} en_qrecv;

/* Receive up to max_n visible messages (head first): each becomes INFLIGHT until now + vis_ms
 * (vis_ms 0: received and visible again at the tail), its receive count goes up and a new
 * generation is issued. A message whose receive count would exceed max_rc is removed instead
 * and returned in `moved`. No message is received while n_inflight >= inflight_max
 * (over_limit). With `remove` the messages are removed (not received) and returned in `out`.
 * When the next body does not fit in buf the call stops early and sets `need`. FIFO: `cont`
 * (in) is a group to go on with first although it is held, `cont` (out) the group the call
 * stopped in when the buffer was full (an opaque group id and generation): pass it to the next
 * call of the same receive. */
en_status en_queue_receive(en_queue *q, en_qrecv *r);

/* Delete by handles: results[i] is EN_QR_OK, _STALE or _INVALID. A current handle deletes the
 * message in any state (FIFO: only in flight, else EN_QR_NOT_INFLIGHT). */
en_status en_queue_delete(en_queue *q, int64_t now_ms, en_qhandles *h);

/* Change visibility by handles: vis_ms[i] from now (0: visible again at once, at the head).
 * Refused (EN_QR_TOO_LONG) when now + vis_ms exceeds the receive time + max_hold_ms. */
en_status en_queue_change(en_queue *q, int64_t now_ms, en_qhandles *h, const int64_t *vis_ms, int64_t max_hold_ms);

/* Remove every message. */
void en_queue_clear(en_queue *q);

/* New retention period: every timed key is recomputed (O(n)). */
en_status en_queue_set_retention(en_queue *q, int64_t now_ms, int64_t retention_ms);

/* Run due transitions, then fill *out. */
en_status en_queue_stats_get(en_queue *q, int64_t now_ms, en_queue_stats *out);

/* Move up to cap collected dead tags to out; returns how many. */
int64_t en_queue_drain_tags(en_queue *q, int32_t *out, int64_t cap);

#endif
