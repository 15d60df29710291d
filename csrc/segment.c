#define _GNU_SOURCE   /* pwritev, O_CLOEXEC, sync_file_range */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include "segment.h"

#define LOAD(p) __atomic_load_n((p), __ATOMIC_ACQUIRE)
#define STORE(p, v) __atomic_store_n((p), (v), __ATOMIC_RELEASE)

/* Header layout (little-endian hosts only, as every target of the engine). The CRC covers
 * bytes [H_LEN, 40) and the payload. */
enum { H_MAGIC = 0, H_CRC = 4, H_LEN = 8, H_FLAGS = 12, H_FIRST = 16, H_LAST = 24, H_TS = 32 };
#define FRAME_ALIGN 8
#define MAX_PAYLOAD (INT64_C(0xFFFFFFFF) - FRAME_ALIGN)
#define INDEX_HEADER 80   /* magic, crc, then eight int64 fields */
#define ZERO_BLOCK (64 << 10)
#define ZERO_IOVS 64      /* pre-allocation writes up to 4 MiB of zeros per call */

typedef struct {
    uint32_t magic, crc, length, flags;
    int64_t first_seq, last_seq, ts;
} frame_header;

static int64_t frame_bytes(int64_t payload) {
    return EN_SEG_FRAME_HEADER + (payload + FRAME_ALIGN - 1) / FRAME_ALIGN * FRAME_ALIGN;
}

static void header_decode(const uint8_t *b, frame_header *h) {
    memcpy(&h->magic, b + H_MAGIC, 4);
    memcpy(&h->crc, b + H_CRC, 4);
    memcpy(&h->length, b + H_LEN, 4);
    memcpy(&h->flags, b + H_FLAGS, 4);
    memcpy(&h->first_seq, b + H_FIRST, 8);
    memcpy(&h->last_seq, b + H_LAST, 8);
    memcpy(&h->ts, b + H_TS, 8);
}

static uint32_t frame_crc(const uint8_t *header, const void *payload, int64_t length) {
    return en_crc32c(en_crc32c(0, header + H_LEN, EN_SEG_FRAME_HEADER - H_LEN), payload, (size_t)length);
}

static void set_error(en_seg_error *err, const char *path, int64_t offset, int e) {
    if (err == NULL) return;
    snprintf(err->path, sizeof err->path, "%s", path);
    err->offset = offset;
    err->err = e;
}

static void seg_path(const char *dir, int64_t base, const char *ext, char *out, size_t cap) {
    /* open() bounds the directory's length, so the name always fits */
    if (snprintf(out, cap, "%s/%020lld.%s", dir, (long long)base, ext) < 0) out[0] = '\0';
}

void en_seglog_segment_path(const en_seglog *log, int64_t base_seq, char *out, size_t cap) {
    seg_path(log->dir, base_seq, "log", out, cap);
}

/* --- segments in memory -------------------------------------------------------------------- */

static int entry_push(en_seg_entry **arr, int64_t *n, int64_t *cap, int64_t key, int64_t offset) {
    if (*n == *cap) {
        int64_t c = *cap ? *cap * 2 : 16;
        en_seg_entry *a = realloc(*arr, (size_t)c * sizeof **arr);
        if (a == NULL) return 0;
        *arr = a;
        *cap = c;
    }
    (*arr)[*n].key = key;
    (*arr)[*n].offset = offset;
    (*n)++;
    return 1;
}

static void segment_free(en_segment *s) {
    free(s->seq_index);
    free(s->time_index);
    memset(s, 0, sizeof *s);
}

/* Account a whole frame at `offset` in the segment's totals and sparse indexes. */
static int segment_note(en_segment *s, const frame_header *h, int64_t offset, int64_t interval) {
    int64_t bytes = frame_bytes(h->length);
    if (s->frames == 0) {
        s->base_seq = h->first_seq;
        s->first_ts = s->max_ts = h->ts;
        if (!entry_push(&s->seq_index, &s->n_seq, &s->cap_seq, h->first_seq, offset)) return 0;
        if (!entry_push(&s->time_index, &s->n_time, &s->cap_time, h->ts, offset)) return 0;
        s->last_seq_entry_offset = s->last_time_entry_offset = offset;
    } else {
        if (offset - s->last_seq_entry_offset >= interval) {
            if (!entry_push(&s->seq_index, &s->n_seq, &s->cap_seq, h->first_seq, offset)) return 0;
            s->last_seq_entry_offset = offset;
        }
        /* a time entry says: no frame before `offset` is later than `key` */
        if (h->ts > s->max_ts) {
            if (offset - s->last_time_entry_offset >= interval) {
                if (!entry_push(&s->time_index, &s->n_time, &s->cap_time, h->ts, offset)) return 0;
                s->last_time_entry_offset = offset;
            }
            s->max_ts = h->ts;
        }
    }
    s->last_seq = h->last_seq;
    s->size = offset + bytes;
    s->frames++;
    return 1;
}

static int segs_reserve(en_seglog *log) {
    if (log->n_segs < log->cap_segs) return 1;
    int64_t c = log->cap_segs ? log->cap_segs * 2 : 8;
    en_segment *a = realloc(log->segs, (size_t)c * sizeof *a);
    if (a == NULL) return 0;
    log->segs = a;
    log->cap_segs = c;
    return 1;
}

static en_segment *active_segment(en_seglog *log) {
    if (log->n_segs == 0 || log->segs[log->n_segs - 1].sealed) return NULL;
    return &log->segs[log->n_segs - 1];
}

/* Index of the first segment with base_seq > base (n_segs if none). */
static int64_t segs_after(const en_seglog *log, int64_t base) {
    int64_t lo = 0, hi = log->n_segs;
    while (lo < hi) {
        int64_t mid = lo + (hi - lo) / 2;
        if (log->segs[mid].base_seq <= base) lo = mid + 1;
        else hi = mid;
    }
    return lo;
}

/* --- files ---------------------------------------------------------------------------------- */

static int sync_dir(const char *dir) {
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) return errno;
    int rc = fsync(fd) ? errno : 0;
    close(fd);
    return rc;
}

static int write_all(int fd, const void *buf, size_t n) {
    const uint8_t *p = buf;
    while (n) {
        ssize_t w = write(fd, p, n);
        if (w < 0) {
            if (errno == EINTR) continue;
            return errno;
        }
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

/* Write zeros over [from, to) of the active file; with `writeback`, start their writeback, so
 * that the next fdatasync finds the blocks allocated and written (see preallocate_bytes in
 * segment.h). */
static int zero_fill(int fd, int64_t from, int64_t to, int writeback) {
    static const uint8_t zeros[ZERO_BLOCK];
    int64_t start = from;
    while (from < to) {
        struct iovec iov[ZERO_IOVS];
        int k = 0;
        for (int64_t at = from; at < to && k < ZERO_IOVS; at += ZERO_BLOCK, k++) {
            iov[k].iov_base = (void *)zeros;
            iov[k].iov_len = (size_t)(to - at < ZERO_BLOCK ? to - at : ZERO_BLOCK);
        }
        ssize_t w = pwritev(fd, iov, k, from);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) return w < 0 ? errno : EIO;
        from += w;
    }
    /* a hint: writeback now, off the commit path (a failure shows at the next fdatasync) */
    if (writeback && sync_file_range(fd, start, to - start, SYNC_FILE_RANGE_WRITE)) { /* nothing to undo */ }
    return 0;
}

/* Map a file's first `length` bytes read-only. */
static en_seg_status map_file(const char *path, int64_t length, en_seg_map *out, en_seg_error *err) {
    out->addr = NULL;
    out->length = 0;
    if (length <= 0) return EN_SEG_OK;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        set_error(err, path, -1, errno);
        return EN_SEG_EIO;
    }
    void *a = mmap(NULL, (size_t)length, PROT_READ, MAP_SHARED, fd, 0);
    int e = errno;
    close(fd);
    if (a == MAP_FAILED) {
        set_error(err, path, -1, e);
        return EN_SEG_EIO;
    }
    out->addr = a;
    out->length = length;
    return EN_SEG_OK;
}

void en_seg_unmap(en_seg_map *m) {
    if (m->addr != NULL) munmap(m->addr, (size_t)m->length);
    m->addr = NULL;
    m->length = 0;
}

en_seg_status en_seg_frame_read(const en_seg_map *m, int64_t offset, const char *path,
                                en_seg_frame *out, en_seg_error *err) {
    const uint8_t *base = m->addr;
    if (offset < 0 || offset + EN_SEG_FRAME_HEADER > m->length) {
        set_error(err, path, offset, 0);
        return EN_SEG_ECORRUPT;
    }
    frame_header h;
    header_decode(base + offset, &h);
    if (h.magic != EN_SEG_FRAME_MAGIC || offset + frame_bytes(h.length) > m->length ||
        frame_crc(base + offset, base + offset + EN_SEG_FRAME_HEADER, h.length) != h.crc) {
        set_error(err, path, offset, 0);
        return EN_SEG_ECORRUPT;
    }
    out->first_seq = h.first_seq;
    out->last_seq = h.last_seq;
    out->ts_ms = h.ts;
    out->flags = h.flags;
    out->payload = base + offset + EN_SEG_FRAME_HEADER;
    out->length = h.length;
    out->next_offset = offset + frame_bytes(h.length);
    return EN_SEG_OK;
}

static int all_zero(const uint8_t *p, int64_t n) {
    for (; n >= 8; p += 8, n -= 8) {
        uint64_t w;
        memcpy(&w, p, 8);
        if (w) return 0;
    }
    for (; n > 0; p++, n--)
        if (*p) return 0;
    return 1;
}

/* Walk the frames of a mapped segment into `s` (whose base_seq is the file's name). With
 * check_crc, stop at the first frame that is torn or does not check (*stop = its offset);
 * without, a frame that does not parse is corruption. Where only zeros follow the last whole
 * frame (a pre-allocated tail), the frames simply end (*stop stays -1). */
static en_seg_status segment_scan(en_segment *s, const en_seg_map *m, int64_t prev_last, int check_crc,
                                  int64_t interval, int64_t *stop) {
    const uint8_t *base = m->addr;
    int64_t off = 0, name = s->base_seq;
    *stop = -1;
    while (off < m->length) {
        frame_header h;
        int ok = off + EN_SEG_FRAME_HEADER <= m->length;
        if (ok) {
            header_decode(base + off, &h);
            ok = h.magic == EN_SEG_FRAME_MAGIC && off + frame_bytes(h.length) <= m->length &&
                 h.first_seq <= h.last_seq && h.first_seq > prev_last && (off > 0 || h.first_seq == name);
        }
        if (ok && check_crc)
            ok = frame_crc(base + off, base + off + EN_SEG_FRAME_HEADER, h.length) == h.crc;
        if (!ok) {
            if (all_zero(base + off, m->length - off)) return EN_SEG_OK;   /* pre-allocated: the end */
            *stop = off;
            return check_crc ? EN_SEG_OK : EN_SEG_ECORRUPT;
        }
        if (!segment_note(s, &h, off, interval)) return EN_SEG_ENOMEM;
        prev_last = h.last_seq;
        off += frame_bytes(h.length);
    }
    return EN_SEG_OK;
}

static en_seg_status write_index(en_seglog *log, const en_segment *s, en_seg_error *err) {
    char path[EN_SEG_PATH_MAX], tmp[EN_SEG_PATH_MAX];
    seg_path(log->dir, s->base_seq, "index", path, sizeof path);
    seg_path(log->dir, s->base_seq, "index.tmp", tmp, sizeof tmp);
    size_t entries = (size_t)(s->n_seq + s->n_time) * sizeof(en_seg_entry);
    size_t total = INDEX_HEADER + entries;
    uint8_t *buf = malloc(total);
    if (buf == NULL) return EN_SEG_ENOMEM;
    uint32_t magic = EN_SEG_INDEX_MAGIC;
    int64_t fields[9] = {s->base_seq, s->last_seq, s->first_ts, s->max_ts, s->size, s->frames,
                         s->n_seq, s->n_time, 0};
    memcpy(buf, &magic, 4);
    memcpy(buf + 8, fields, 72);
    memcpy(buf + INDEX_HEADER, s->seq_index, (size_t)s->n_seq * sizeof(en_seg_entry));
    memcpy(buf + INDEX_HEADER + s->n_seq * sizeof(en_seg_entry), s->time_index,
           (size_t)s->n_time * sizeof(en_seg_entry));
    uint32_t crc = en_crc32c(0, buf + 8, total - 8);
    memcpy(buf + 4, &crc, 4);
    int e = 0;
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) e = errno;
    else {
        e = write_all(fd, buf, total);
        if (!e && log->cfg.sync == EN_SEG_FSYNC && fdatasync(fd)) e = errno;
        if (close(fd) && !e) e = errno;
        if (!e && rename(tmp, path)) e = errno;
        if (!e && log->cfg.sync == EN_SEG_FSYNC) e = sync_dir(log->dir);
    }
    free(buf);
    if (e) {
        unlink(tmp);
        set_error(err, path, -1, e);
        return EN_SEG_EIO;
    }
    return EN_SEG_OK;
}

/* Load a sealed segment's index; 0 when it is missing or does not check (rebuild it). */
static int read_index(const en_seglog *log, en_segment *s) {
    char path[EN_SEG_PATH_MAX];
    seg_path(log->dir, s->base_seq, "index", path, sizeof path);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return 0;
    struct stat st;
    uint8_t *buf = NULL;
    int ok = fstat(fd, &st) == 0 && st.st_size >= INDEX_HEADER && (buf = malloc((size_t)st.st_size)) != NULL;
    ok = ok && pread(fd, buf, (size_t)st.st_size, 0) == st.st_size;
    close(fd);
    int64_t f[9];
    uint32_t magic, crc;
    if (ok) {
        memcpy(&magic, buf, 4);
        memcpy(&crc, buf + 4, 4);
        memcpy(f, buf + 8, 72);
        ok = magic == EN_SEG_INDEX_MAGIC && crc == en_crc32c(0, buf + 8, (size_t)st.st_size - 8) &&
             f[0] == s->base_seq && f[6] > 0 && f[7] > 0 &&
             st.st_size == INDEX_HEADER + (f[6] + f[7]) * (int64_t)sizeof(en_seg_entry);
    }
    if (ok) {
        s->seq_index = malloc((size_t)f[6] * sizeof(en_seg_entry));
        s->time_index = malloc((size_t)f[7] * sizeof(en_seg_entry));
        ok = s->seq_index != NULL && s->time_index != NULL;
    }
    if (ok) {
        memcpy(s->seq_index, buf + INDEX_HEADER, (size_t)f[6] * sizeof(en_seg_entry));
        memcpy(s->time_index, buf + INDEX_HEADER + f[6] * sizeof(en_seg_entry), (size_t)f[7] * sizeof(en_seg_entry));
        s->last_seq = f[1];
        s->first_ts = f[2];
        s->max_ts = f[3];
        s->size = f[4];
        s->frames = f[5];
        s->n_seq = s->cap_seq = f[6];
        s->n_time = s->cap_time = f[7];
        s->last_seq_entry_offset = s->seq_index[f[6] - 1].offset;
        s->last_time_entry_offset = s->time_index[f[7] - 1].offset;
    } else {
        free(s->seq_index);
        free(s->time_index);
        s->seq_index = s->time_index = NULL;
    }
    free(buf);
    return ok;
}

/* --- open and recovery ---------------------------------------------------------------------- */

static int cmp_i64(const void *a, const void *b) {
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

/* Base sequence numbers of the directory's *.log files, ascending; stale *.index.tmp removed. */
static en_seg_status list_bases(const char *dir, int64_t **out, int64_t *n, en_seg_error *err) {
    DIR *d = opendir(dir);
    if (d == NULL) {
        set_error(err, dir, -1, errno);
        return EN_SEG_EIO;
    }
    int64_t *bases = NULL, cap = 0;
    *n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        char *end;
        long long base = strtoll(e->d_name, &end, 10);
        if (end == e->d_name || base < 0) continue;
        if (strcmp(end, ".index.tmp") == 0) {
            char p[EN_SEG_PATH_MAX];
            snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
            unlink(p);
            continue;
        }
        if (strcmp(end, ".log") != 0) continue;
        if (*n == cap) {
            cap = cap ? cap * 2 : 16;
            int64_t *b = realloc(bases, (size_t)cap * sizeof *b);
            if (b == NULL) {
                free(bases);
                closedir(d);
                return EN_SEG_ENOMEM;
            }
            bases = b;
        }
        bases[(*n)++] = base;
    }
    closedir(d);
    if (*n > 1) qsort(bases, (size_t)*n, sizeof *bases, cmp_i64);
    *out = bases;
    return EN_SEG_OK;
}

static en_seg_status file_size(const char *path, int64_t *size, en_seg_error *err) {
    struct stat st;
    if (stat(path, &st)) {
        set_error(err, path, -1, errno);
        return EN_SEG_EIO;
    }
    *size = st.st_size;
    return EN_SEG_OK;
}

/* Load segment `s` (base set) from its files: the index when it checks, else a scan of the
 * frame headers; the active one (`active`) is scanned frame by frame and cut after the last
 * whole frame. */
static en_seg_status segment_load(en_seglog *log, en_segment *s, int64_t prev_last, int active,
                                  en_seg_recovery *rep, en_seg_error *err) {
    char path[EN_SEG_PATH_MAX];
    seg_path(log->dir, s->base_seq, "log", path, sizeof path);
    int64_t size;
    en_seg_status rc = file_size(path, &size, err);
    if (rc != EN_SEG_OK) return rc;
    if (read_index(log, s)) {
        s->sealed = 1;
        if (size < s->size) {   /* the log lost bytes its index accounts for */
            set_error(err, path, size, 0);
            return EN_SEG_ECORRUPT;
        }
        return EN_SEG_OK;
    }
    en_seg_map m;
    rc = map_file(path, size, &m, err);
    if (rc != EN_SEG_OK) return rc;
    int64_t stop;
    rc = segment_scan(s, &m, prev_last, active, log->cfg.index_interval_bytes, &stop);
    en_seg_unmap(&m);
    if (rc == EN_SEG_ECORRUPT) set_error(err, path, stop, 0);
    if (rc != EN_SEG_OK) return rc;
    s->sealed = !active;
    if (active) {
        rep->frames = s->frames;
        rep->kept_bytes = s->size;
        if (stop >= 0) {
            rep->cut_offset = stop;
            rep->cut_bytes = size - stop;
            if (truncate(path, stop)) {
                set_error(err, path, stop, errno);
                return EN_SEG_EIO;
            }
        }
    }
    return EN_SEG_OK;
}

/* Flush mode with pre-allocation: the active file mapped writable, segment_bytes long (address
 * space only; what lies past the file's end is never touched). Without a mapping (mmap
 * refused) every frame is written with write(2). */
static void map_active(en_seglog *log) {
    log->map = NULL;
    log->map_len = 0;
    if (log->cfg.sync != EN_SEG_FLUSH || log->cfg.preallocate_bytes <= 0) return;
    void *a = mmap(NULL, (size_t)log->cfg.segment_bytes, PROT_READ | PROT_WRITE, MAP_SHARED, log->fd, 0);
    if (a == MAP_FAILED) return;
    log->map = a;
    log->map_len = log->cfg.segment_bytes;
}

static void unmap_active(en_seglog *log) {
    if (log->map != NULL) munmap(log->map, (size_t)log->map_len);
    log->map = NULL;
    log->map_len = 0;
}

static en_seg_status open_active(en_seglog *log, int64_t base, int create, en_seg_error *err) {
    char path[EN_SEG_PATH_MAX];
    seg_path(log->dir, base, "log", path, sizeof path);
    int fd = open(path, O_RDWR | O_CLOEXEC | (create ? O_CREAT | O_EXCL : 0), 0644);
    if (fd < 0) {
        set_error(err, path, -1, errno);
        return EN_SEG_EIO;
    }
    if (create && log->cfg.sync == EN_SEG_FSYNC) {
        int e = sync_dir(log->dir);
        if (e) {
            close(fd);
            unlink(path);
            set_error(err, log->dir, -1, e);
            return EN_SEG_EIO;
        }
    }
    log->fd = fd;
    map_active(log);
    return EN_SEG_OK;
}

/* The index goes first: a crash in between leaves a log that open() rescans, never an orphan index. */
static void unlink_segment(const en_seglog *log, int64_t base) {
    char path[EN_SEG_PATH_MAX];
    seg_path(log->dir, base, "index", path, sizeof path);
    unlink(path);
    seg_path(log->dir, base, "log", path, sizeof path);
    unlink(path);
}

static void leave_waves(en_seglog *log);

void en_seglog_close(en_seglog *log) {
    if (log == NULL) return;
    leave_waves(log);
    unmap_active(log);
    if (log->fd >= 0) close(log->fd);
    for (int64_t i = 0; i < log->n_segs; i++) segment_free(&log->segs[i]);
    free(log->segs);
    pthread_mutex_destroy(&log->lock);
    pthread_mutex_destroy(&log->sync_lock);
    pthread_cond_destroy(&log->sync_cond);
    free(log);
}

en_seg_status en_seglog_open(const char *dir, const en_seglog_config *cfg, en_seglog **out,
                             en_seg_recovery *rep, en_seg_error *err) {
    *out = NULL;
    memset(rep, 0, sizeof *rep);
    rep->cut_offset = -1;
    if (strlen(dir) + 32 >= EN_SEG_PATH_MAX || cfg->segment_bytes <= 0 || cfg->segment_ms <= 0 ||
        cfg->index_interval_bytes <= 0 || cfg->preallocate_bytes < 0 ||
        (cfg->sync != EN_SEG_FLUSH && cfg->sync != EN_SEG_FSYNC))
        return EN_SEG_EINVAL;
    en_seglog *log = calloc(1, sizeof *log);
    if (log == NULL) return EN_SEG_ENOMEM;
    pthread_mutex_init(&log->lock, NULL);
    pthread_mutex_init(&log->sync_lock, NULL);
    pthread_cond_init(&log->sync_cond, NULL);
    log->cfg = *cfg;
    log->fd = -1;
    log->last_seq = -1;
    snprintf(log->dir, sizeof log->dir, "%s", dir);

    int64_t *bases = NULL, n = 0;
    en_seg_status rc = list_bases(dir, &bases, &n, err);
    rep->segments = n;
    for (int64_t i = 0; rc == EN_SEG_OK && i < n; i++) {
        if (!segs_reserve(log)) {
            rc = EN_SEG_ENOMEM;
            break;
        }
        en_segment *s = &log->segs[log->n_segs];
        memset(s, 0, sizeof *s);
        s->base_seq = bases[i];
        rc = segment_load(log, s, log->last_seq, i == n - 1, rep, err);
        if (rc != EN_SEG_OK) {
            segment_free(s);
            break;
        }
        if (s->frames == 0) {   /* created by an append that never completed */
            segment_free(s);
            unlink_segment(log, bases[i]);
            continue;
        }
        log->n_segs++;
        log->last_seq = s->last_seq;
    }
    free(bases);
    en_segment *a = active_segment(log);
    if (rc == EN_SEG_OK && a != NULL) {
        rc = open_active(log, a->base_seq, 0, err);
        /* what recovery kept counts as written, and in fsync mode as synced from here on */
        log->written_pos = log->synced_pos = a->size;
        struct stat st;
        log->filled_end = rc == EN_SEG_OK && fstat(log->fd, &st) == 0 ? st.st_size : a->size;
        if (rc == EN_SEG_OK && cfg->sync == EN_SEG_FSYNC && fdatasync(log->fd)) {
            int e = errno;
            char path[EN_SEG_PATH_MAX];
            seg_path(log->dir, a->base_seq, "log", path, sizeof path);
            set_error(err, path, -1, e);
            rc = EN_SEG_EIO;
        }
    }
    if (rc != EN_SEG_OK) {
        en_seglog_close(log);
        return rc;
    }
    *out = log;
    return EN_SEG_OK;
}

/* --- appends and group commit --------------------------------------------------------------- */

/* Close the active file (after syncing it in fsync mode) with no fdatasync in flight on it. */
static en_seg_status close_active(en_seglog *log, int sync, en_seg_error *err) {
    en_seg_status rc = EN_SEG_OK;
    pthread_mutex_lock(&log->sync_lock);
    while (log->syncing) pthread_cond_wait(&log->sync_cond, &log->sync_lock);
    if (sync && log->cfg.sync == EN_SEG_FSYNC && fdatasync(log->fd)) {
        log->sync_err = errno;
        set_error(err, log->dir, -1, errno);
        rc = EN_SEG_EIO;
    } else {
        STORE(&log->synced_pos, LOAD(&log->written_pos));
    }
    unmap_active(log);
    close(log->fd);
    log->fd = -1;
    pthread_cond_broadcast(&log->sync_cond);
    pthread_mutex_unlock(&log->sync_lock);
    return rc;
}

static en_seg_status seal_active(en_seglog *log, en_seg_error *err) {
    en_segment *s = active_segment(log);
    if (log->filled_end > s->size) {   /* a sealed segment ends with its last frame */
        if (ftruncate(log->fd, s->size)) {
            char path[EN_SEG_PATH_MAX];
            seg_path(log->dir, s->base_seq, "log", path, sizeof path);
            set_error(err, path, s->size, errno);
            return EN_SEG_EIO;
        }
        log->filled_end = s->size;
    }
    en_seg_status rc = close_active(log, 1, err);
    s->sealed = 1;   /* without its index (a failed write) it is rebuilt by a scan on open */
    if (rc == EN_SEG_OK) rc = write_index(log, s, err);
    return rc;
}

/* Group commit across every log of the process (fsync mode). A write puts its log on the dirty
 * list; a committer whose bytes are not yet synced starts a wave when logs are dirty and fewer
 * than MAX_WAVES run, else waits for one to end: a wave takes every dirty log, fdatasyncs them
 * all at once (a thread per log but the first) and wakes every committer. So concurrent writers
 * to any shards of any streams share one round of disk flushes, and a wave in flight never holds
 * a lock that a writer needs. Two waves may overlap (a log written after a wave took it may be
 * in both): the writers a wave releases write their next batches while the other wave runs, and
 * their own wave starts at once instead of after it, so each write waits for one flush, not 1.5. */
#define MAX_WAVES 2
static struct {
    pthread_mutex_t lock;
    pthread_cond_t done;        /* a wave ended */
    int running;                /* waves in flight */
    en_seglog *dirty;           /* logs with bytes no wave has taken yet (linked by dirty_next) */
    int64_t count;              /* waves run so far */
} waves = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, NULL, 0};

int64_t en_seg_sync_waves(void) {
    pthread_mutex_lock(&waves.lock);
    int64_t n = waves.count;
    pthread_mutex_unlock(&waves.lock);
    return n;
}

static void push_dirty(en_seglog *log) {   /* under waves.lock */
    if (!log->dirty) {
        log->dirty = 1;
        log->dirty_next = waves.dirty;
        waves.dirty = log;
    }
}

static void mark_dirty(en_seglog *log) {
    pthread_mutex_lock(&waves.lock);
    push_dirty(log);
    pthread_mutex_unlock(&waves.lock);
}

typedef struct {
    en_seglog *log;
    int fd;                     /* -1: the file was closed, and synced, since it was written */
    int64_t target;             /* written_pos before the fdatasync began */
    int err;
} sync_job;

static void *sync_thread(void *arg) {
    sync_job *j = arg;
    j->err = j->fd >= 0 && fdatasync(j->fd) ? errno : 0;
    return NULL;
}

/* Run one wave over the dirty logs; called and returns with waves.lock held, waves.running set. */
static en_seg_status run_wave(void) {
    int64_t n = 0;
    for (en_seglog *l = waves.dirty; l != NULL; l = l->dirty_next) n++;
    sync_job *jobs = calloc((size_t)(n ? n : 1), sizeof *jobs);
    pthread_t *threads = calloc((size_t)(n ? n : 1), sizeof *threads);
    char *started = calloc((size_t)(n ? n : 1), 1);
    if (jobs == NULL || threads == NULL || started == NULL) {
        free(jobs);
        free(threads);
        free(started);
        return EN_SEG_ENOMEM;
    }
    int64_t k = 0;
    for (en_seglog *l = waves.dirty; l != NULL; l = l->dirty_next) {
        l->dirty = 0;
        l->in_wave++;
        jobs[k++].log = l;
    }
    waves.dirty = NULL;
    pthread_mutex_unlock(&waves.lock);
    for (int64_t i = 0; i < n; i++) {
        en_seglog *l = jobs[i].log;
        pthread_mutex_lock(&l->sync_lock);
        l->syncing++;   /* close_active waits: the fd stays this file's */
        /* target first: bytes written before it are in the file read next, or in one closed
         * (and synced) before it */
        jobs[i].target = LOAD(&l->written_pos);
        jobs[i].fd = LOAD(&l->fd);
        pthread_mutex_unlock(&l->sync_lock);
        started[i] = i > 0 && pthread_create(&threads[i], NULL, sync_thread, &jobs[i]) == 0;
    }
    for (int64_t i = 0; i < n; i++)
        if (!started[i]) sync_thread(&jobs[i]);
    for (int64_t i = 0; i < n; i++) {
        if (started[i]) pthread_join(threads[i], NULL);
        en_seglog *l = jobs[i].log;
        pthread_mutex_lock(&l->sync_lock);
        l->syncing--;
        if (jobs[i].fd >= 0) l->syncs++;
        if (jobs[i].err) l->sync_err = jobs[i].err;
        else if (jobs[i].target > l->synced_pos) STORE(&l->synced_pos, jobs[i].target);
        pthread_cond_broadcast(&l->sync_cond);
        pthread_mutex_unlock(&l->sync_lock);
    }
    pthread_mutex_lock(&waves.lock);
    for (int64_t i = 0; i < n; i++) jobs[i].log->in_wave--;
    free(jobs);
    free(threads);
    free(started);
    return EN_SEG_OK;
}

static void leave_waves(en_seglog *log) {
    pthread_mutex_lock(&waves.lock);
    while (log->in_wave) pthread_cond_wait(&waves.done, &waves.lock);
    for (en_seglog **p = &waves.dirty; *p != NULL; p = &(*p)->dirty_next)
        if (*p == log) {
            *p = log->dirty_next;
            break;
        }
    log->dirty = 0;
    pthread_mutex_unlock(&waves.lock);
}

en_seg_status en_seglog_append(en_seglog *log, int64_t first_seq, int64_t last_seq, int64_t ts_ms,
                               uint32_t flags, const void *payload, int64_t length, en_seg_error *err) {
    int64_t ticket;
    en_seg_status rc = en_seglog_write(log, first_seq, last_seq, ts_ms, flags, payload, length, &ticket, err);
    return rc == EN_SEG_OK ? en_seglog_commit(log, ticket, err) : rc;
}

en_seg_status en_seglog_commit(en_seglog *log, int64_t ticket, en_seg_error *err) {
    return en_seglog_commit_many(&log, &ticket, 1, err);
}

en_seg_status en_seglog_commit_many(en_seglog **logs, const int64_t *tickets, int64_t n, en_seg_error *err) {
    if (n <= 0 || logs[0]->cfg.sync != EN_SEG_FSYNC) return EN_SEG_OK;
    en_seg_status rc = EN_SEG_OK;
    pthread_mutex_lock(&waves.lock);
    for (;;) {
        int pending = 0;
        for (int64_t i = 0; i < n && rc == EN_SEG_OK; i++) {
            int e = LOAD(&logs[i]->sync_err);
            if (e) {
                set_error(err, logs[i]->dir, -1, e);
                rc = EN_SEG_EIO;
            } else if (LOAD(&logs[i]->synced_pos) < tickets[i]) {
                pending = 1;
                /* normally its write put it there; this way the next wave syncs it whatever
                 * happened in between, and a commit can never wait on an empty wave */
                if (!logs[i]->in_wave) push_dirty(logs[i]);
            }
        }
        if (rc != EN_SEG_OK || !pending) break;
        /* a pending log is dirty or in a running wave: some wave ends, or starts here */
        if (waves.dirty == NULL || waves.running >= MAX_WAVES) {
            pthread_cond_wait(&waves.done, &waves.lock);
            continue;
        }
        waves.running++;
        rc = run_wave();
        waves.running--;
        waves.count++;
        pthread_cond_broadcast(&waves.done);
    }
    pthread_mutex_unlock(&waves.lock);
    return rc;
}

/* Undo what a failed write left in the active segment `s` (under the log's lock). */
static void write_failed(en_seglog *log, en_segment *s, int e, en_seg_error *err) {
    char path[EN_SEG_PATH_MAX];
    seg_path(log->dir, s->base_seq, "log", path, sizeof path);
    set_error(err, path, s->size, e);
    if (ftruncate(log->fd, s->size) == 0) log->filled_end = s->size;   /* else the open-time recovery cuts it */
    if (s->frames == 0) {   /* a file named for a frame it does not hold */
        unmap_active(log);
        close(log->fd);
        log->fd = -1;
        unlink(path);
        log->n_segs--;
        segment_free(s);
    }
}

en_seg_status en_seglog_write(en_seglog *log, int64_t first_seq, int64_t last_seq, int64_t ts_ms,
                              uint32_t flags, const void *payload, int64_t length, int64_t *ticket,
                              en_seg_error *err) {
    *ticket = 0;
    if (first_seq < 0 || last_seq < first_seq || length < 0 || length > MAX_PAYLOAD) return EN_SEG_EINVAL;
    int64_t bytes = frame_bytes(length);
    uint8_t header[EN_SEG_FRAME_HEADER];
    static const uint8_t zeros[FRAME_ALIGN];
    uint32_t magic = EN_SEG_FRAME_MAGIC, len32 = (uint32_t)length;
    memcpy(header + H_MAGIC, &magic, 4);
    memcpy(header + H_LEN, &len32, 4);
    memcpy(header + H_FLAGS, &flags, 4);
    memcpy(header + H_FIRST, &first_seq, 8);
    memcpy(header + H_LAST, &last_seq, 8);
    memcpy(header + H_TS, &ts_ms, 8);
    uint32_t crc = frame_crc(header, payload, length);   /* outside the lock */
    memcpy(header + H_CRC, &crc, 4);

    pthread_mutex_lock(&log->lock);
    en_seg_status rc = EN_SEG_OK;
    if (log->sync_err) {
        set_error(err, log->dir, -1, log->sync_err);
        rc = EN_SEG_EIO;
        goto out;
    }
    if (first_seq <= log->last_seq) {
        rc = EN_SEG_EINVAL;
        goto out;
    }
    en_segment *s = active_segment(log);
    if (s != NULL && (s->size + bytes > log->cfg.segment_bytes || ts_ms - s->first_ts >= log->cfg.segment_ms)) {
        rc = seal_active(log, err);
        if (rc != EN_SEG_OK) goto out;
        s = NULL;
    }
    if (s == NULL) {
        if (!segs_reserve(log)) {
            rc = EN_SEG_ENOMEM;
            goto out;
        }
        rc = open_active(log, first_seq, 1, err);
        if (rc != EN_SEG_OK) goto out;
        log->active_start = LOAD(&log->written_pos);
        log->filled_end = 0;
        s = &log->segs[log->n_segs++];
        memset(s, 0, sizeof *s);
        s->base_seq = first_seq;
    }
    struct iovec iov[3] = {{header, EN_SEG_FRAME_HEADER}, {(void *)payload, (size_t)length},
                           {(void *)zeros, (size_t)(bytes - EN_SEG_FRAME_HEADER - length)}};
    int fsync_mode = log->cfg.sync == EN_SEG_FSYNC;
    int mapped = log->map != NULL && length <= EN_SEG_MAP_FRAME_MAX && s->size + bytes <= log->map_len;
    int64_t done = 0, ahead = fsync_mode || mapped ? log->cfg.preallocate_bytes : 0;
    if (ahead > 0 && s->size + bytes + ahead / 2 > log->filled_end) {
        /* no zeros past where the segment seals (unless one frame alone is larger) */
        int64_t end = s->size + bytes, cap = end > log->cfg.segment_bytes ? end : log->cfg.segment_bytes;
        end = end + ahead < cap ? end + ahead : cap;
        if (end > log->filled_end) {
            int e = zero_fill(log->fd, log->filled_end > s->size ? log->filled_end : s->size, end, fsync_mode);
            if (e) {
                write_failed(log, s, e, err);
                rc = EN_SEG_EIO;
                goto out;
            }
            log->filled_end = end;
        }
    }
    if (mapped) {   /* into the page cache without a system call (the zeros above made room) */
        uint8_t *at = log->map + s->size;
        memcpy(at, header, EN_SEG_FRAME_HEADER);
        memcpy(at + EN_SEG_FRAME_HEADER, payload, (size_t)length);
        memset(at + EN_SEG_FRAME_HEADER + length, 0, (size_t)(bytes - EN_SEG_FRAME_HEADER - length));
        done = bytes;
    }
    while (done < bytes) {
        /* skip what a short write already wrote */
        struct iovec part[3];
        int k = 0;
        int64_t skip = done;
        for (int i = 0; i < 3; i++) {
            if (skip >= (int64_t)iov[i].iov_len) {
                skip -= (int64_t)iov[i].iov_len;
                continue;
            }
            part[k].iov_base = (uint8_t *)iov[i].iov_base + skip;
            part[k].iov_len = iov[i].iov_len - (size_t)skip;
            skip = 0;
            k++;
        }
        ssize_t w = pwritev(log->fd, part, k, s->size + done);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) {
            write_failed(log, s, w < 0 ? errno : EIO, err);
            rc = EN_SEG_EIO;
            goto out;
        }
        done += w;
    }
    if (s->size + bytes > log->filled_end) log->filled_end = s->size + bytes;
    frame_header h = {magic, crc, len32, flags, first_seq, last_seq, ts_ms};
    if (!segment_note(s, &h, s->size, log->cfg.index_interval_bytes)) {
        /* the frame is on file; only the in-memory index could not grow */
        rc = EN_SEG_ENOMEM;
    }
    log->last_seq = last_seq;
    int64_t end = LOAD(&log->written_pos) + bytes;
    STORE(&log->written_pos, end);
    *ticket = end;
    pthread_mutex_unlock(&log->lock);
    if (log->cfg.sync == EN_SEG_FSYNC) mark_dirty(log);
    return rc;
out:
    pthread_mutex_unlock(&log->lock);
    return rc;
}

/* --- retention, lookups, reads ------------------------------------------------------------- */

en_seg_status en_seglog_retain(en_seglog *log, int64_t min_ts, int64_t min_seq, int64_t *deleted,
                               en_seg_error *err) {
    en_seg_status rc = EN_SEG_OK;
    *deleted = 0;
    pthread_mutex_lock(&log->lock);
    int64_t k = 0;
    while (k < log->n_segs && (log->segs[k].max_ts < min_ts || log->segs[k].last_seq < min_seq)) k++;
    if (k > 0 && k == log->n_segs && active_segment(log) != NULL) rc = close_active(log, 0, err);
    for (int64_t i = 0; i < k; i++) {
        unlink_segment(log, log->segs[i].base_seq);
        segment_free(&log->segs[i]);
    }
    if (k > 0) memmove(log->segs, log->segs + k, (size_t)(log->n_segs - k) * sizeof *log->segs);
    log->n_segs -= k;
    *deleted = k;
    pthread_mutex_unlock(&log->lock);
    return rc;
}

/* Walk frame headers of segment `s` from `offset` to the first for which `hit` holds. */
static en_seg_status scan_headers(en_seglog *log, const en_segment *s, int64_t offset, int by_time, int64_t key,
                                  en_seg_pos *out, en_seg_error *err) {
    char path[EN_SEG_PATH_MAX];
    seg_path(log->dir, s->base_seq, "log", path, sizeof path);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        set_error(err, path, -1, errno);
        return EN_SEG_EIO;
    }
    en_seg_status rc = EN_SEG_ECORRUPT;
    while (offset < s->size) {
        uint8_t b[EN_SEG_FRAME_HEADER];
        frame_header h;
        if (pread(fd, b, sizeof b, offset) != (ssize_t)sizeof b) break;
        header_decode(b, &h);
        if (h.magic != EN_SEG_FRAME_MAGIC) break;
        if (by_time ? h.ts >= key : h.last_seq >= key) {
            out->base_seq = s->base_seq;
            out->offset = offset;
            rc = EN_SEG_OK;
            break;
        }
        offset += frame_bytes(h.length);
    }
    close(fd);
    if (rc != EN_SEG_OK) set_error(err, path, offset, 0);
    return rc;
}

en_seg_status en_seglog_find_seq(en_seglog *log, int64_t seq, en_seg_pos *out, en_seg_error *err) {
    en_seg_status rc = EN_SEG_OK;
    out->base_seq = -1;
    out->offset = 0;
    pthread_mutex_lock(&log->lock);
    int64_t lo = 0, hi = log->n_segs;   /* first segment with last_seq >= seq */
    while (lo < hi) {
        int64_t mid = lo + (hi - lo) / 2;
        if (log->segs[mid].last_seq < seq) lo = mid + 1;
        else hi = mid;
    }
    if (lo < log->n_segs) {
        const en_segment *s = &log->segs[lo];
        int64_t a = 0, b = s->n_seq;   /* last entry with key <= seq */
        while (a < b) {
            int64_t mid = a + (b - a) / 2;
            if (s->seq_index[mid].key <= seq) a = mid + 1;
            else b = mid;
        }
        rc = scan_headers(log, s, a ? s->seq_index[a - 1].offset : 0, 0, seq, out, err);
    }
    pthread_mutex_unlock(&log->lock);
    return rc;
}

en_seg_status en_seglog_find_time(en_seglog *log, int64_t ts_ms, en_seg_pos *out, en_seg_error *err) {
    en_seg_status rc = EN_SEG_OK;
    out->base_seq = -1;
    out->offset = 0;
    pthread_mutex_lock(&log->lock);
    int64_t i = 0;   /* max_ts is not monotonic across segments in general: first that reaches */
    while (i < log->n_segs && log->segs[i].max_ts < ts_ms) i++;
    if (i < log->n_segs) {
        const en_segment *s = &log->segs[i];
        int64_t a = 0, b = s->n_time;   /* last entry with key < ts_ms */
        while (a < b) {
            int64_t mid = a + (b - a) / 2;
            if (s->time_index[mid].key < ts_ms) a = mid + 1;
            else b = mid;
        }
        rc = scan_headers(log, s, a ? s->time_index[a - 1].offset : 0, 1, ts_ms, out, err);
    }
    pthread_mutex_unlock(&log->lock);
    return rc;
}

void en_seglog_next(en_seglog *log, const en_seg_pos *pos, int64_t next_offset, en_seg_pos *out) {
    pthread_mutex_lock(&log->lock);
    int64_t i = segs_after(log, pos->base_seq);
    if (i > 0 && log->segs[i - 1].base_seq == pos->base_seq && next_offset < log->segs[i - 1].size) {
        out->base_seq = pos->base_seq;
        out->offset = next_offset;
    } else if (i < log->n_segs) {
        out->base_seq = log->segs[i].base_seq;
        out->offset = 0;
    } else {
        out->base_seq = -1;
        out->offset = 0;
    }
    pthread_mutex_unlock(&log->lock);
}

en_seg_status en_seglog_map(en_seglog *log, int64_t base_seq, en_seg_map *out, en_seg_error *err) {
    char path[EN_SEG_PATH_MAX];
    pthread_mutex_lock(&log->lock);
    int64_t i = segs_after(log, base_seq);
    int found = i > 0 && log->segs[i - 1].base_seq == base_seq;
    int64_t size = found ? log->segs[i - 1].size : 0;
    pthread_mutex_unlock(&log->lock);
    if (!found) return EN_SEG_EINVAL;
    seg_path(log->dir, base_seq, "log", path, sizeof path);
    return map_file(path, size, out, err);
}

int64_t en_seglog_segments(en_seglog *log, en_seg_info *out, int64_t cap) {
    pthread_mutex_lock(&log->lock);
    pthread_mutex_lock(&log->sync_lock);
    int64_t n = log->n_segs, active_synced = log->synced_pos - log->active_start;
    pthread_mutex_unlock(&log->sync_lock);
    for (int64_t i = 0; i < n && i < cap; i++) {
        const en_segment *s = &log->segs[i];
        en_seg_info *o = &out[i];
        o->base_seq = s->base_seq;
        o->last_seq = s->last_seq;
        o->first_ts = s->first_ts;
        o->max_ts = s->max_ts;
        o->size = s->size;
        o->frames = s->frames;
        o->index_entries = s->n_seq;
        o->synced = log->cfg.sync != EN_SEG_FSYNC ? -1 : s->sealed ? s->size : active_synced;
        o->sealed = s->sealed;
    }
    pthread_mutex_unlock(&log->lock);
    return n;
}

