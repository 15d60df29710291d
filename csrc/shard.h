/* A shard's log: records in chunks of Arrow-layout buffers, appended a batch at a time.
 *
 * Each chunk holds, for its records: int32 offsets + bytes for keys and for data (Arrow
 * `binary` layout), int64 sequence numbers and int64 arrival timestamps (ms). A chunk's
 * buffers never move once allocated, so readers use them in place (zero-copy) while a
 * writer appends after them. Chunks are the unit of retention: trimming frees whole chunks
 * from the front, and the same unit can later be persisted as a segment file
 * (<first_seq>.log) without changing the layout.
 *
 * Chunk memory: one allocation per chunk holds its header and every buffer, carved when the
 * chunk goes into service so that its buffers fill together at the batch's average record
 * size. Chunks of EN_HUGE_PAGE_BYTES or more are mapped on huge-page boundaries with
 * MADV_HUGEPAGE (where the kernel offers transparent huge pages, a fault then brings in 2 MiB
 * at once) and unmapped when freed, so expired memory goes back to the system. A shard keeps
 * a few spare chunks, resident, for the writer's next chunks: as many as its latest batch took
 * plus two (EN_SPARE_CHUNKS_MIN..EN_SPARE_CHUNKS_MAX), so a stream under retention or a memory
 * cap reuses memory already faulted in, and the rest of what it frees goes back to the system.
 * Spares are chunks trimmed while nothing pins them, chunks whose last reader unpins them after
 * the trim (they point back at their shard, which forgets them when it is destroyed), or one
 * that a background thread maps and faults in ahead of need.
 *
 * Concurrency contract: writers are serialized by `write_lock` (one writer at a time per
 * shard); the chunk list is guarded by `list_lock`; readers pin the chunk they read, and see
 * only records up to `visible_seq`, which a writer publishes once per batch (release
 * store) after every record of the batch is in place: a reader never sees half a batch.
 */
#ifndef EN_SHARD_H
#define EN_SHARD_H

#include <pthread.h>

#include "common.h"

/* Chunks this large or larger are huge-page mapped (and sized in whole huge pages). */
#define EN_HUGE_PAGE_BYTES (INT64_C(2) << 20)
/* Spare chunks a shard keeps resident for its writer (its latest batch's chunks + 2, within
 * these bounds); the rest of what it frees is unmapped. */
#define EN_SPARE_CHUNKS_MIN 2
#define EN_SPARE_CHUNKS_MAX 4
/* A shard that retention emptied asks for no prefaulted chunk until it holds this much again: a
 * consumer that drains it between puts (`engine ingest`) would have the spare freed unused at
 * the next trim, its zeroing wasted. */
#define EN_PREFAULT_REGROW_BYTES (INT64_C(8) << 20)

struct en_shard;

typedef struct en_chunk {
    struct en_chunk *next;
    int64_t refs;            /* the shard's own reference + one per reader pin (atomic) */
    int64_t first_seq;       /* sequence number of record 0 (segment base) */
    int64_t count;           /* records written; readers bound themselves by visible_seq */
    int64_t cap_records;
    int64_t data_cap, key_cap;
    int32_t *data_offsets;   /* cap_records + 1 */
    int32_t *key_offsets;    /* cap_records + 1 */
    int64_t *seqs;           /* cap_records, strictly increasing */
    int64_t *timestamps;     /* cap_records, non-decreasing (ms) */
    uint8_t *data;
    uint8_t *keys;
    int64_t region_bytes;    /* the one allocation: this header and every buffer above */
    int mapped;              /* 1: mmap'd on huge-page boundaries; 0: malloc'd (small chunks) */
    /* The shard that takes the chunk back as a spare when its last pin goes after a trim; NULL
     * once that shard is destroyed (then the last pin frees it). Guarded by shard.c's
     * retired_lock; `retired_*` link the trimmed-but-pinned chunks of a shard (list_lock). */
    struct en_shard *owner;
    struct en_chunk *retired_prev, *retired_next;
} en_chunk;

typedef struct {
    int64_t min_chunk_records, max_chunk_records;
    int64_t min_chunk_bytes, max_chunk_bytes;
} en_shard_config;

typedef struct en_shard {
    pthread_mutex_t write_lock;
    pthread_mutex_t list_lock;
    en_shard_config cfg;
    en_chunk *head, *tail;
    int64_t n_chunks;
    int64_t visible_seq;     /* last published sequence number; -1 when empty (atomic) */
    int64_t trim_seq;        /* records below this are trimmed (logically, then whole chunks freed) */
    int64_t last_ts;         /* arrival timestamps never go backwards within a shard */
    int64_t batch_first_seq; /* first sequence number of the newest published batch; a memory
                                cap never drops it before the next batch (its put reads it) */
    int64_t next_bytes;      /* geometric growth of chunk sizes */
    int64_t bytes_allocated; /* the chunks in the list (spares not counted) */
    en_chunk *spares[EN_SPARE_CHUNKS_MAX];  /* resident chunks for reuse (guarded by list_lock);
                                               freed with the last chunk once retention empties
                                               the shard */
    int n_spares;
    int spare_want;          /* spares kept: the latest batch's new chunks + 2, within bounds */
    int64_t batch_chunks;    /* new chunks the batch being written took (its writer's) */
    int64_t trim_visible;    /* visible_seq at the last trim: unchanged at the next, the shard is
                                idle and its spares shrink to EN_SPARE_CHUNKS_MIN */
    int drained;             /* a trim emptied the shard, and it has not grown to EN_PREFAULT_REGROW_BYTES
                                since: no prefault (list_lock) */
    en_chunk *retired;       /* trimmed chunks a reader still pins (guarded by list_lock) */
    int64_t chunks_mapped;   /* fresh chunks made for this shard, ever (list_lock) */
    /* the background prefault queue (guarded by its own lock in shard.c) */
    struct en_shard *prefault_next;
    int prefault_queued;
    int64_t prefault_bytes;
} en_shard;

typedef struct {
    en_chunk *chunk;         /* pinned: release with en_chunk_unpin; NULL if nothing to read */
    int64_t begin, end;      /* record rows [begin, end) of chunk */
} en_span;

typedef struct {
    int64_t first_seq;       /* oldest readable (TRIM_HORIZON); -1 when empty */
    int64_t last_seq;        /* newest readable (visible_seq) */
    int64_t records;         /* readable records */
    int64_t bytes_allocated;
    int64_t spare_bytes;     /* the spare chunks kept resident */
    int64_t n_spares;
    int64_t n_chunks;
    int64_t last_ts;
    int64_t chunks_mapped;   /* fresh chunks made for the shard so far (not reused ones) */
} en_shard_stats;

en_status en_shard_init(en_shard *s, const en_shard_config *cfg);
void en_shard_destroy(en_shard *s);

/* Append rows order[0..n) (or 0..n when order is NULL) of a batch. Sequence numbers come
 * from *seq_counter (shared by the shards of a stream, advanced atomically), so they also
 * order records across shards by arrival. out_seqs[row] gets each row's sequence number.
 * On failure nothing becomes visible. */
en_status en_shard_append(en_shard *s, int64_t *seq_counter, int64_t ts_ms,
                          const int64_t *order, int64_t n,
                          const en_binary_view *keys, const en_binary_view *data,
                          int64_t *out_seqs);

/* A batch whose row i goes to shards[shard_of[i]] (shard_of in [0, m)). */
typedef struct {
    en_shard **shards;
    int64_t m;
    int64_t *seq_counter;
    int64_t ts_ms;
    const int32_t *shard_of;
    int64_t n;
    const en_binary_view *keys, *data;
    int64_t *out_seqs;
} en_routed_batch;

/* Append each shard's rows, in row order, as en_shard_append would, shard after shard
 * taking its sequence numbers, in one pass over the batch per thread: `threads` threads (the
 * caller is one of them) each write a set of shards (every shard has one writer). */
en_status en_append_routed(const en_routed_batch *batch, int threads);

/* Pin the chunk holding the first readable record with seq >= start_seq and return up to
 * max_records / max_bytes (data bytes; at least one record) from that chunk. */
en_status en_shard_read(en_shard *s, int64_t start_seq, int64_t max_records, int64_t max_bytes, en_span *out);

/* Sequence number of the first readable record with timestamp >= ts_ms, or visible_seq + 1. */
int64_t en_shard_seq_at_time(en_shard *s, int64_t ts_ms);

/* The newest record's sequence number (-1 before the first). */
int64_t en_shard_last_seq(en_shard *s);

/* Whether a readable record with sequence number >= seq exists (O(1)). */
int en_shard_has_from(en_shard *s, int64_t seq);

/* Sequence number of the first readable record with seq >= seq, or visible_seq + 1. */
int64_t en_shard_seq_at_or_after(en_shard *s, int64_t seq);

/* Hide records older than min_ts_ms; then, while more than max_bytes are allocated, drop the
 * oldest chunks, never one holding a record of the newest batch (the put that appended it
 * reads it back before the next put). Frees every chunk whose records are all hidden; once
 * every record is hidden, the newest chunk and the spares go too (unless a writer is appending
 * right then: the next trim frees them), so an expired shard holds no memory. */
void en_shard_trim(en_shard *s, int64_t min_ts_ms, int64_t max_bytes);

/* Hide every record and give the shard's memory back now (chunks, spares): what a closing
 * owner calls rather than waiting for the shard to be destroyed. Appends may follow. */
void en_shard_release(en_shard *s);

void en_shard_stats_get(en_shard *s, en_shard_stats *out);

/* Wait until the background thread has no spare chunk to make (tests, benchmarks). */
void en_prefault_wait_idle(void);

/* Take n >= 0 sequence numbers from a shared counter without appending (atomic); *first gets
 * the first. EN_ERANGE (counter unchanged) when n < 0 or the counter would pass INT64_MAX. */
en_status en_seq_reserve(int64_t *seq_counter, int64_t n, int64_t *first);
void en_chunk_unpin(en_chunk *c);

/* Rows [0, n) of a view have offsets that never decrease and stay inside [0, data_len];
 * EN_EINVAL with *bad_row otherwise. Every view a caller built is checked so before use. */
en_status en_view_check(const en_binary_view *v, int64_t n, int64_t data_len, int64_t *bad_row);

/* The checks a batch passes before it is appended: keys are well-formed UTF-8 of
 * key_min_chars..key_max_chars code points; a record (key bytes + data bytes) is at most
 * max_record_bytes. The report names the first row at fault (row order) and sums the bytes;
 * with a `mark` (mark_len > 0) it also counts the records whose data begins with it (the
 * caller's own kind of record, noticed while the data is at hand). */
typedef enum { EN_BATCH_OK = 0, EN_BATCH_KEY_TEXT, EN_BATCH_KEY_LENGTH, EN_BATCH_RECORD_SIZE } en_batch_fault;

typedef struct {
    int64_t key_min_chars, key_max_chars;
    int64_t max_record_bytes;
    const uint8_t *mark;
    int64_t mark_len;
} en_batch_rules;

typedef struct {
    en_batch_fault fault;
    int64_t row;             /* first row at fault; -1 when none */
    int64_t bytes;           /* key + data bytes of the rows checked */
    int64_t marked;          /* rows checked whose data begins with the rules' mark */
} en_batch_report;

void en_batch_check(const en_binary_view *keys, const en_binary_view *data, int64_t n,
                    const en_batch_rules *rules, en_batch_report *out);

/* The same, the rows split between `threads` threads (the caller is one of them). */
void en_batch_check_threads(const en_binary_view *keys, const en_binary_view *data, int64_t n,
                            const en_batch_rules *rules, en_batch_report *out, int threads);

#endif
