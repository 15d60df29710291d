from libc.stdint cimport int32_t, int64_t, uint8_t, uint32_t
from includes.common cimport en_binary_view, en_status

cdef extern from "segment.h" nogil:
    int EN_SEG_PATH_MAX
    int EN_SEG_MAP_FRAME_MAX

    ctypedef enum en_seg_status:
        EN_SEG_OK
        EN_SEG_ENOMEM
        EN_SEG_EINVAL
        EN_SEG_EIO
        EN_SEG_ECORRUPT

    ctypedef enum en_seg_sync:
        EN_SEG_FLUSH
        EN_SEG_FSYNC

    ctypedef struct en_seglog_config:
        int64_t segment_bytes
        int64_t segment_ms
        int64_t index_interval_bytes
        en_seg_sync sync
        int64_t preallocate_bytes

    ctypedef struct en_seg_error:
        char path[4096]
        int64_t offset
        int err

    ctypedef struct en_seg_recovery:
        int64_t segments
        int64_t frames
        int64_t kept_bytes
        int64_t cut_bytes
        int64_t cut_offset

    ctypedef struct en_seglog:
        int64_t syncs
        uint8_t *map

    ctypedef struct en_seg_frame:
        int64_t first_seq
        int64_t last_seq
        int64_t ts_ms
        uint32_t flags
        const uint8_t *payload
        int64_t length
        int64_t next_offset

    ctypedef struct en_seg_pos:
        int64_t base_seq
        int64_t offset

    ctypedef struct en_seg_map:
        void *addr
        int64_t length

    ctypedef struct en_seg_info:
        int64_t base_seq
        int64_t last_seq
        int64_t first_ts
        int64_t max_ts
        int64_t size
        int64_t frames
        int64_t index_entries
        int64_t synced
        int sealed

    uint32_t en_crc32c(uint32_t crc, const void *data, size_t n)
    en_seg_status en_seglog_open(const char *dir, const en_seglog_config *cfg, en_seglog **out,
                                 en_seg_recovery *rep, en_seg_error *err)
    void en_seglog_close(en_seglog *log)
    en_seg_status en_seglog_append(en_seglog *log, int64_t first_seq, int64_t last_seq, int64_t ts_ms,
                                   uint32_t flags, const void *payload, int64_t length, en_seg_error *err)
    en_seg_status en_seglog_write(en_seglog *log, int64_t first_seq, int64_t last_seq, int64_t ts_ms,
                                  uint32_t flags, const void *payload, int64_t length, int64_t *ticket,
                                  en_seg_error *err)
    en_seg_status en_seglog_commit(en_seglog *log, int64_t ticket, en_seg_error *err)
    int64_t en_seg_sync_waves()
    en_seg_status en_seglog_commit_many(en_seglog **logs, const int64_t *tickets, int64_t n, en_seg_error *err)
    en_seg_status en_seglog_retain(en_seglog *log, int64_t min_ts, int64_t min_seq, int64_t *deleted,
                                   en_seg_error *err)
    en_seg_status en_seglog_find_seq(en_seglog *log, int64_t seq, en_seg_pos *out, en_seg_error *err)
    en_seg_status en_seglog_find_time(en_seglog *log, int64_t ts_ms, en_seg_pos *out, en_seg_error *err)
    void en_seglog_next(en_seglog *log, const en_seg_pos *pos, int64_t next_offset, en_seg_pos *out)
    en_seg_status en_seglog_map(en_seglog *log, int64_t base_seq, en_seg_map *out, en_seg_error *err)
    void en_seg_unmap(en_seg_map *m)
    en_seg_status en_seg_frame_read(const en_seg_map *m, int64_t offset, const char *path,
                                    en_seg_frame *out, en_seg_error *err)
    int64_t en_seglog_segments(en_seglog *log, en_seg_info *out, int64_t cap)
    void en_seglog_segment_path(const en_seglog *log, int64_t base_seq, char *out, size_t cap)


cdef extern from "arrowframe.h" nogil:
    int64_t EN_IPC_FRAME_MAX

    ctypedef struct en_ipc_frame:
        int32_t shard
        int64_t first_row
        int64_t last_row
        int64_t records
        int64_t offset
        int64_t length

    ctypedef struct en_ipc_put:
        uint8_t *buf
        int64_t size
        en_ipc_frame *frames
        int64_t n_frames

    en_status en_ipc_encode_routed(const int32_t *position, const uint8_t *stored, int64_t n, int32_t n_shards,
                                   const en_binary_view *keys, const en_binary_view *data,
                                   int64_t max_frame_bytes, en_ipc_put *out)
    void en_ipc_put_free(en_ipc_put *p)
