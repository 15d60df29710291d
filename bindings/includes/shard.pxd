from libc.stdint cimport int32_t, int64_t, uint8_t
from includes.common cimport en_status, en_binary_view

cdef extern from "shard.h" nogil:
    enum:
        EN_SPARE_CHUNKS_MIN
        EN_SPARE_CHUNKS_MAX

    ctypedef struct en_chunk:
        int64_t first_seq
        int64_t count
        int32_t *data_offsets
        int32_t *key_offsets
        int64_t *seqs
        int64_t *timestamps
        uint8_t *data
        uint8_t *keys

    ctypedef struct en_shard_config:
        int64_t min_chunk_records
        int64_t max_chunk_records
        int64_t min_chunk_bytes
        int64_t max_chunk_bytes

    ctypedef struct en_shard:
        pass

    ctypedef struct en_span:
        en_chunk *chunk
        int64_t begin
        int64_t end

    ctypedef struct en_shard_stats:
        int64_t first_seq
        int64_t last_seq
        int64_t records
        int64_t bytes_allocated
        int64_t spare_bytes
        int64_t n_spares
        int64_t n_chunks
        int64_t last_ts
        int64_t chunks_mapped

    en_status en_shard_init(en_shard *s, const en_shard_config *cfg)
    void en_shard_destroy(en_shard *s)
    en_status en_shard_append(en_shard *s, int64_t *seq_counter, int64_t ts_ms,
                              const int64_t *order, int64_t n,
                              const en_binary_view *keys, const en_binary_view *data,
                              int64_t *out_seqs)
    ctypedef struct en_routed_batch:
        en_shard **shards
        int64_t m
        int64_t *seq_counter
        int64_t ts_ms
        const int32_t *shard_of
        int64_t n
        const en_binary_view *keys
        const en_binary_view *data
        int64_t *out_seqs

    en_status en_append_routed(const en_routed_batch *batch, int threads)
    en_status en_shard_read(en_shard *s, int64_t start_seq, int64_t max_records, int64_t max_bytes, en_span *out)
    int64_t en_shard_seq_at_time(en_shard *s, int64_t ts_ms)
    int64_t en_shard_seq_at_or_after(en_shard *s, int64_t seq)
    int en_shard_has_from(en_shard *s, int64_t seq)
    int64_t en_shard_last_seq(en_shard *s)
    void en_shard_trim(en_shard *s, int64_t min_ts_ms, int64_t max_bytes)
    void en_shard_release(en_shard *s)
    void en_shard_stats_get(en_shard *s, en_shard_stats *out)
    void en_prefault_wait_idle()
    void en_chunk_unpin(en_chunk *c)
    en_status en_seq_reserve(int64_t *seq_counter, int64_t n, int64_t *first)
    en_status en_view_check(const en_binary_view *v, int64_t n, int64_t data_len, int64_t *bad_row)

    ctypedef enum en_batch_fault:
        EN_BATCH_OK
        EN_BATCH_KEY_TEXT
        EN_BATCH_KEY_LENGTH
        EN_BATCH_RECORD_SIZE

    ctypedef struct en_batch_rules:
        int64_t key_min_chars
        int64_t key_max_chars
        int64_t max_record_bytes
        const uint8_t *mark
        int64_t mark_len

    ctypedef struct en_batch_report:
        en_batch_fault fault
        int64_t row
        int64_t bytes
        int64_t marked

    void en_batch_check(const en_binary_view *keys, const en_binary_view *data, int64_t n,
                        const en_batch_rules *rules, en_batch_report *out)
    void en_batch_check_threads(const en_binary_view *keys, const en_binary_view *data, int64_t n,
                                const en_batch_rules *rules, en_batch_report *out, int threads)
