/* A segment log: one directory of segment files holding frames of opaque payloads, for
 * keeping a log of batches on disk (Kafka's LogSegment layout, with a frame per batch).
 *
 * Files: <base>.log, where <base> is the first frame's first sequence number (20 digits), and,
 * once the segment is sealed, <base>.index: its sparse sequence and time indexes plus its
 * last sequence number, greatest timestamp and length. The newest segment without an index is
 * the active one; every frame appends to it, and it is sealed (index written) when it reaches
 * segment_bytes or its first frame is segment_ms older than the frame being appended.
 *
 * Frame: a 40-byte header {magic, payload length, CRC32C, flags, first_seq, last_seq, ts_ms}
 * (flags: the caller's own bits, e.g. how its payload is encoded)
 * (little-endian) then the payload, padded to 8 bytes so payloads stay 8-byte aligned in a
 * mapping (Arrow IPC reads them in place). The CRC covers the header after the CRC field and
 * the payload. Sequence numbers grow from frame to frame (first_seq > the previous last_seq).
 *
 * Durability: EN_SEG_FLUSH puts each frame in the page cache before the append returns (it
 * survives the process, not the machine): with pre-allocation, a frame whose payload is up to
 * EN_SEG_MAP_FRAME_MAX bytes is copied into a writable shared mapping of the active file, within
 * its zeros (no system call per frame: a kill leaves the kernel the dirty pages; a kill in
 * mid-copy leaves a torn frame of a call that never returned); other frames are written with
 * one write(2). EN_SEG_FSYNC also returns only once an fdatasync covers the frame. Group commit
 * spans every log of the process: committers waiting together, on any logs, share one wave of
 * fdatasyncs (one per log written since the last wave, run in parallel); up to two waves
 * overlap.
 *
 * Pre-allocation (preallocate_bytes > 0): the active file is kept written with zeros ahead of
 * its frames. In fsync mode (as PostgreSQL recycles WAL files; fallocate alone would leave
 * unwritten extents, whose first write needs a journal commit) most fdatasyncs then only flush
 * data; in flush mode the mapping's small frames land in blocks the file system has already
 * allocated (a full disk fails the zero write with ENOSPC, never a copy with SIGBUS). A segment
 * is cut to its frames when sealed. A zero tail is not data: recovery ends the frames where only
 * zeros follow and does not count it as cut.
 *
 * Recovery (en_seglog_open) trusts sealed segments (their CRCs are checked when they are read)
 * and checks every frame of the active segment, truncating it after the last whole frame and
 * reporting what it cut (a zero-filled tail stays, and is not reported). Reading a frame
 * whose CRC does not match is EN_SEG_ECORRUPT, with the
 * file and offset in the caller's en_seg_error.
 *
 * Concurrency: appends, retention and lookups take the log's lock; any number of threads may
 * append at once. Frames are read from mappings (en_seg_map) that stay valid after the
 * segment is deleted, until unmapped.
 */
#ifndef EN_SEGMENT_H
#define EN_SEGMENT_H

#include <limits.h>
#include <pthread.h>

#include "common.h"
#include "crc32c.h"

#define EN_SEG_FRAME_HEADER 40
#define EN_SEG_FRAME_MAGIC UINT32_C(0x31474553)   /* "SEG1" */
#define EN_SEG_INDEX_MAGIC UINT32_C(0x31584449)   /* "IDX1" */
#define EN_SEG_PATH_MAX 4096
#define EN_SEG_MAP_FRAME_MAX (64 << 10)   /* flush mode: payloads up to this size go through the mapping */

typedef enum {
    EN_SEG_OK = 0,
    EN_SEG_ENOMEM = 1,
    EN_SEG_EINVAL = 2,     /* bad argument (e.g. a sequence number not above the last) */
    EN_SEG_EIO = 3,        /* a system call failed: errno, path in the log's error */
    EN_SEG_ECORRUPT = 4    /* a frame or index does not check: path, offset in the error */
} en_seg_status;

typedef enum { EN_SEG_FLUSH = 1, EN_SEG_FSYNC = 2 } en_seg_sync;

typedef struct {
    int64_t segment_bytes;         /* seal the active segment once it holds this much */
    int64_t segment_ms;            /* ... or once its first frame is this much older */
    int64_t index_interval_bytes;  /* an index entry at most every this many bytes */
    en_seg_sync sync;
    int64_t preallocate_bytes;     /* keep the active file zero-filled this far past its frames
                                      (0: never): fsync mode, so an fdatasync rewrites blocks in
                                      place and needs no journal commit of the file's size; flush
                                      mode, for the mapping's frames (0: every frame a write(2)) */
} en_seglog_config;

/* What went wrong (filled by a failing call): the file, the byte offset in it (-1: none) and
 * errno (0: none). */
typedef struct {
    char path[EN_SEG_PATH_MAX];
    int64_t offset;
    int err;
} en_seg_error;

/* What recovery found in the active segment. */
typedef struct {
    int64_t segments;       /* segment files found */
    int64_t frames;         /* whole frames kept in the active segment */
    int64_t kept_bytes;     /* its length after recovery */
    int64_t cut_bytes;      /* bytes cut from its tail (a torn or garbage frame) */
    int64_t cut_offset;     /* where the cut began; -1 when nothing was cut */
} en_seg_recovery;

typedef struct { int64_t key; int64_t offset; } en_seg_entry;

typedef struct {
    int64_t base_seq, last_seq;    /* first and last sequence numbers */
    int64_t first_ts, max_ts;
    int64_t size;                  /* bytes of whole frames */
    int64_t frames;
    en_seg_entry *seq_index;       /* (first_seq of a frame, its offset), ascending */
    en_seg_entry *time_index;      /* (greatest ts so far, offset of the frame that raised it) */
    int64_t n_seq, n_time, cap_seq, cap_time;
    int64_t last_seq_entry_offset, last_time_entry_offset;
    int sealed;
} en_segment;

typedef struct en_seglog {
    pthread_mutex_t lock;          /* appends, rolls, retention, lookups */
    pthread_mutex_t sync_lock;     /* group commit: synced_pos, syncing */
    pthread_cond_t sync_cond;
    en_seglog_config cfg;
    char dir[EN_SEG_PATH_MAX];
    en_segment *segs;              /* ascending by base_seq; the last may be active */
    int64_t n_segs, cap_segs;
    int fd;                        /* the active segment's file; -1 when none is open */
    int64_t written_pos;           /* bytes written over the log's life (atomic) */
    int64_t synced_pos;            /* bytes covered by an fdatasync (under sync_lock) */
    int syncing;                   /* fdatasyncs in flight on the fd (under sync_lock) */
    int sync_err;                  /* errno of a failed fdatasync: the log refuses appends */
    int64_t syncs;                 /* fdatasync calls made by group commits (under sync_lock) */
    int dirty, in_wave;            /* on the waves' dirty list / waves syncing it (waves' lock) */
    struct en_seglog *dirty_next;
    int64_t active_start;          /* written_pos where the active segment begins */
    int64_t filled_end;            /* the active file's length: frames, then zeros (pre-allocation) */
    uint8_t *map;                  /* flush mode: the active file mapped writable (segment_bytes long;
                                      written below filled_end only), NULL when not mapped */
    int64_t map_len;
    int64_t last_seq;              /* -1 when empty */
} en_seglog;

/* A frame as read: payload points into a mapping. */
typedef struct {
    int64_t first_seq, last_seq, ts_ms;
    uint32_t flags;
    const uint8_t *payload;
    int64_t length;
    int64_t next_offset;           /* where the next frame starts */
} en_seg_frame;

/* Where a lookup landed: the segment (by base) and the frame's offset in it; base_seq is -1
 * when no frame qualifies. */
typedef struct { int64_t base_seq; int64_t offset; } en_seg_pos;

/* A read-only mapping of a segment's first `length` bytes; unmap with en_seg_unmap. */
typedef struct { void *addr; int64_t length; } en_seg_map;

/* One segment as listed by en_seglog_segments. */
typedef struct {
    int64_t base_seq, last_seq, first_ts, max_ts, size, frames;
    int64_t index_entries;   /* sequence index entries (the time index has at most as many) */
    int64_t synced;          /* bytes an fdatasync covers (all of a sealed one); -1: flush mode */
    int sealed;
} en_seg_info;

/* Open (creating the directory's files as needed) and recover; *out is malloc'd. */
en_seg_status en_seglog_open(const char *dir, const en_seglog_config *cfg, en_seglog **out,
                             en_seg_recovery *rep, en_seg_error *err);
/* Close the active file and free the log (frames written stay; nothing is sealed). */
void en_seglog_close(en_seglog *log);

/* Append one frame with sequence numbers first_seq..last_seq (first_seq above every earlier
 * sequence number) and an arrival time; returns when the log's sync mode promises it. */
en_seg_status en_seglog_append(en_seglog *log, int64_t first_seq, int64_t last_seq, int64_t ts_ms,
                               uint32_t flags, const void *payload, int64_t length, en_seg_error *err);

/* en_seglog_append in two steps, so that a caller can order its writes under its own lock and
 * wait for the disk outside it: write the frame (write(2) done on return) and get a ticket;
 * commit returns once the ticket is as durable as the sync mode promises (fsync: an
 * fdatasync shared with every appender waiting at the time). */
en_seg_status en_seglog_write(en_seglog *log, int64_t first_seq, int64_t last_seq, int64_t ts_ms,
                              uint32_t flags, const void *payload, int64_t length, int64_t *ticket,
                              en_seg_error *err);
en_seg_status en_seglog_commit(en_seglog *log, int64_t ticket, en_seg_error *err);
/* Commit tickets of n logs (one sync mode) at once: in fsync mode, wait for a wave of
 * fdatasyncs covering all of them (one wave syncs every log written since the last, in
 * parallel), so a write to several logs waits for the slowest disk flush instead of their sum,
 * and concurrent writers share it. The first failure is returned. */
en_seg_status en_seglog_commit_many(en_seglog **logs, const int64_t *tickets, int64_t n, en_seg_error *err);

/* Waves of fdatasyncs run by group commits so far, over every log of the process. */
int64_t en_seg_sync_waves(void);

/* Delete whole segments every frame of which is older than min_ts (ts < min_ts) or below
 * min_seq (last_seq < min_seq); the active segment too when it qualifies. */
en_seg_status en_seglog_retain(en_seglog *log, int64_t min_ts, int64_t min_seq, int64_t *deleted,
                               en_seg_error *err);

/* The first frame holding a sequence number >= seq / with ts >= ts_ms (by the indexes). */
en_seg_status en_seglog_find_seq(en_seglog *log, int64_t seq, en_seg_pos *out, en_seg_error *err);
en_seg_status en_seglog_find_time(en_seglog *log, int64_t ts_ms, en_seg_pos *out, en_seg_error *err);
/* The frame after `pos` in log order (the next segment's first when pos was the last). */
void en_seglog_next(en_seglog *log, const en_seg_pos *pos, int64_t next_offset, en_seg_pos *out);

/* Map the whole frames of the segment with base base_seq (EN_SEG_EINVAL if none). */
en_seg_status en_seglog_map(en_seglog *log, int64_t base_seq, en_seg_map *out, en_seg_error *err);
void en_seg_unmap(en_seg_map *m);

/* Parse and check the frame at `offset` of a mapping; the error names `path`. */
en_seg_status en_seg_frame_read(const en_seg_map *m, int64_t offset, const char *path,
                                en_seg_frame *out, en_seg_error *err);

/* Up to cap segments, oldest first; returns how many the log holds. One snapshot: a test
 * simulates a power loss by cutting each file to its `synced` bytes. */
int64_t en_seglog_segments(en_seglog *log, en_seg_info *out, int64_t cap);

/* Path of a segment's log file (for errors and tests). */
void en_seglog_segment_path(const en_seglog *log, int64_t base_seq, char *out, size_t cap);

#endif
