from libc.stdint cimport int32_t, int64_t, uint8_t, uint32_t, uint64_t
from includes.common cimport en_status

cdef extern from "queue.h" nogil:
    enum:
        EN_QR_OK
        EN_QR_STALE
        EN_QR_INVALID
        EN_QR_NOT_INFLIGHT
        EN_QR_TOO_LONG

    ctypedef struct en_queue:
        int64_t n_dead_tags

    ctypedef struct en_qnew:
        const uint8_t *body
        int64_t len
        uint8_t md5[16]
        int64_t delay_ms
        int64_t num
        int64_t sent_ms
        int32_t rc
        int64_t first_ms
        int32_t tag
        const uint8_t *group
        const uint8_t *dedup
        int32_t glen
        int32_t dlen
        uint64_t seq
        int32_t dup
        int32_t slot

    ctypedef struct en_qout:
        int64_t num
        int64_t sent_ms
        int64_t first_ms
        int64_t body_off
        int64_t body_len
        int32_t slot
        uint32_t gen
        int32_t rc
        int32_t tag
        uint8_t md5[16]
        uint64_t seq
        int32_t glen
        int32_t dlen

    ctypedef struct en_qhandles:
        const int64_t *slots
        const uint32_t *gens
        int64_t n
        uint8_t *results

    ctypedef struct en_qrecv:
        int64_t now_ms
        int64_t max_n
        int64_t vis_ms
        int64_t max_rc
        int64_t inflight_max
        int remove
        en_qout *out
        en_qout *moved
        uint8_t *buf
        int64_t cap
        int64_t cont
        int64_t n_out
        int64_t n_moved
        int64_t need
        int over_limit

    ctypedef struct en_queue_stats:
        int64_t n_visible
        int64_t n_inflight
        int64_t n_delayed
        int64_t next_due_ms
        int64_t slots
        int64_t heap_n
        int64_t bytes_allocated
        int64_t body_bytes
        int64_t chunks
        int64_t groups
        int64_t dedups

    en_status en_queue_init(en_queue *q, int64_t retention_ms, int64_t first_num, uint32_t chunk_bytes)
    void en_queue_destroy(en_queue *q)
    en_status en_queue_init_fifo(en_queue *q, uint64_t first_seq, int64_t window_ms, int64_t delay_ms, int group_scope)
    en_status en_queue_set_fifo(en_queue *q, int64_t now_ms, int64_t delay_ms, int group_scope)
    en_status en_queue_retry(en_queue *q, int64_t now_ms, const en_qhandles *h, int64_t due_ms, int64_t vis_ms,
                             int *ok)
    en_status en_queue_push(en_queue *q, int64_t now_ms, en_qnew *items, int64_t n, int front)
    en_status en_queue_receive(en_queue *q, en_qrecv *r)
    en_status en_queue_delete(en_queue *q, int64_t now_ms, en_qhandles *h)
    en_status en_queue_change(en_queue *q, int64_t now_ms, en_qhandles *h, const int64_t *vis_ms, int64_t max_hold_ms)
    void en_queue_clear(en_queue *q)
    en_status en_queue_set_retention(en_queue *q, int64_t now_ms, int64_t retention_ms)
    en_status en_queue_stats_get(en_queue *q, int64_t now_ms, en_queue_stats *out)
    int64_t en_queue_drain_tags(en_queue *q, int32_t *out, int64_t cap)
