#include <stdlib.h>
#include <string.h>

#include "arrowframe.h"

#define PAD8(x) (((x) + 7) & ~(int64_t)7)
#define HEAD_BYTES (EN_IPC_PREFIX_BYTES + EN_IPC_METADATA_BYTES)

/* The flatbuffer Message (little-endian; offsets from its start):
 *   0 root offset -> 16 | 4 Message vtable | 16 Message table {version V5, header_type
 *   RecordBatch, bodyLength @24, header @32 -> 56} | 44 RecordBatch vtable | 56 RecordBatch
 *   table {nodes @60 -> 84, length @64, buffers @72 -> 124} | 84 two FieldNodes @88 |
 *   124 six Buffers @128 (validity, offsets, values per column). Every int64 is 8-aligned
 *   from the start, as the flatbuffers verifier requires. */
enum { M_BODY_LENGTH = 24, RB_LENGTH = 64, NODES = 88, BUFFERS = 128 };

static const uint8_t METADATA_TEMPLATE[88] = {
    16, 0, 0, 0,                                            /* root: Message table at 16 */
    12, 0, 24, 0, 4, 0, 6, 0, 16, 0, 8, 0,                  /* Message vtable */
    12, 0, 0, 0,                                            /* Message table: vtable 12 back */
    4, 0,                                                   /* version: V5 */
    3, 0,                                                   /* header_type: RecordBatch; pad */
    0, 0, 0, 0, 0, 0, 0, 0,                                 /* bodyLength (set per frame) */
    24, 0, 0, 0,                                            /* header: RecordBatch table at 56 */
    0, 0, 0, 0, 0, 0, 0, 0,                                 /* pad */
    10, 0, 24, 0, 8, 0, 4, 0, 16, 0,                        /* RecordBatch vtable */
    0, 0,                                                   /* pad */
    12, 0, 0, 0,                                            /* RecordBatch table: vtable 12 back */
    24, 0, 0, 0,                                            /* nodes at 84 */
    0, 0, 0, 0, 0, 0, 0, 0,                                 /* length (set per frame) */
    52, 0, 0, 0,                                            /* buffers at 124 */
    0, 0, 0, 0, 0, 0, 0, 0,                                 /* pad */
    2, 0, 0, 0,                                             /* two FieldNodes */
};

static void put_i64(uint8_t *p, int64_t v) { memcpy(p, &v, 8); }

static int64_t offsets_bytes(int64_t records) { return PAD8(4 * (records + 1)); }

static int64_t payload_bytes(int64_t records, int64_t key_bytes, int64_t data_bytes) {
    return HEAD_BYTES + 2 * offsets_bytes(records) + PAD8(key_bytes) + PAD8(data_bytes);
}

/* Write the frame's prefix and metadata; the body is filled row by row. */
static void write_head(uint8_t *p, const en_ipc_frame *f) {
    int64_t off = offsets_bytes(f->records), keys = PAD8(f->key_bytes), body = 2 * off + keys + PAD8(f->data_bytes);
    uint32_t marker = UINT32_C(0xFFFFFFFF), meta = EN_IPC_METADATA_BYTES;
    memcpy(p, &marker, 4);
    memcpy(p + 4, &meta, 4);
    uint8_t *m = p + EN_IPC_PREFIX_BYTES;
    memset(m, 0, EN_IPC_METADATA_BYTES);
    memcpy(m, METADATA_TEMPLATE, sizeof METADATA_TEMPLATE);
    put_i64(m + M_BODY_LENGTH, body);
    put_i64(m + RB_LENGTH, f->records);
    uint32_t n_buffers = 6;
    memcpy(m + BUFFERS - 4, &n_buffers, 4);
    for (int c = 0; c < 2; c++) put_i64(m + NODES + 16 * c, f->records);   /* null_count stays 0 */
    /* (offset, length) of validity (none), offsets and values of each column */
    int64_t bufs[6][2] = {{0, 0}, {0, 4 * (f->records + 1)}, {off, f->key_bytes},
                          {off + keys, 0}, {off + keys, 4 * (f->records + 1)}, {2 * off + keys, f->data_bytes}};
    for (int b = 0; b < 6; b++) {
        put_i64(m + BUFFERS + 16 * b, bufs[b][0]);
        put_i64(m + BUFFERS + 16 * b + 8, bufs[b][1]);
    }
    /* zero the body's padding up front: rows fill everything else */
    uint8_t *body_start = p + HEAD_BYTES;
    memset(body_start + 4 * (f->records + 1), 0, (size_t)(off - 4 * (f->records + 1)));
    memset(body_start + off + f->key_bytes, 0, (size_t)(keys - f->key_bytes));
    memset(body_start + off + keys + 4 * (f->records + 1), 0, (size_t)(off - 4 * (f->records + 1)));
    memset(body_start + 2 * off + keys + f->data_bytes, 0, (size_t)(PAD8(f->data_bytes) - f->data_bytes));
}

typedef struct {   /* where a frame's next row goes */
    int32_t *key_offsets, *data_offsets;
    uint8_t *key_values, *data_values;
    int64_t filled, key_pos, data_pos;
} cursor;

void en_ipc_put_free(en_ipc_put *p) {
    free(p->buf);
    free(p->frames);
    memset(p, 0, sizeof *p);
}

en_status en_ipc_encode_routed(const int32_t *position, const uint8_t *stored, int64_t n, int32_t n_shards,
                               const en_binary_view *keys, const en_binary_view *data, int64_t max_frame_bytes,
                               en_ipc_put *out) {
    memset(out, 0, sizeof *out);
    if (n_shards <= 0) return EN_EINVAL;
    int64_t *current = malloc((size_t)n_shards * sizeof *current);   /* per shard: frame being filled */
    int64_t cap = n_shards;
    en_ipc_frame *frames = malloc((size_t)cap * sizeof *frames);
    cursor *cursors = NULL;
    en_status rc = EN_OK;
    if (current == NULL || frames == NULL) {
        rc = EN_ENOMEM;
        goto fail;
    }
    for (int32_t s = 0; s < n_shards; s++) current[s] = -1;
    int64_t n_frames = 0;
    /* pass 1: each shard's frames and their sizes */
    for (int64_t r = 0; r < n; r++) {
        if (stored != NULL && !stored[r]) continue;
        int32_t s = position[r];
        if (s < 0 || s >= n_shards) {
            rc = EN_EINVAL;
            goto fail;
        }
        int64_t klen = en_view_start(keys, r + 1) - en_view_start(keys, r);
        int64_t dlen = en_view_start(data, r + 1) - en_view_start(data, r);
        if (payload_bytes(1, klen, dlen) > max_frame_bytes) {
            rc = EN_ETOOBIG;
            goto fail;
        }
        int64_t f = current[s];
        if (f < 0 || payload_bytes(frames[f].records + 1, frames[f].key_bytes + klen,
                                   frames[f].data_bytes + dlen) > max_frame_bytes) {
            if (n_frames == cap) {
                cap *= 2;
                en_ipc_frame *grown = realloc(frames, (size_t)cap * sizeof *frames);
                if (grown == NULL) {
                    rc = EN_ENOMEM;
                    goto fail;
                }
                frames = grown;
            }
            if (f >= 0) frames[f].next = n_frames;
            f = current[s] = n_frames++;
            memset(&frames[f], 0, sizeof frames[f]);
            frames[f].shard = s;
            frames[f].first_row = r;
            frames[f].next = -1;
        }
        frames[f].last_row = r;
        frames[f].records++;
        frames[f].key_bytes += klen;
        frames[f].data_bytes += dlen;
    }
    int64_t size = 0;
    for (int64_t f = 0; f < n_frames; f++) {
        frames[f].offset = size;
        frames[f].length = payload_bytes(frames[f].records, frames[f].key_bytes, frames[f].data_bytes);
        size += frames[f].length;   /* a multiple of 8 */
    }
    out->buf = malloc((size_t)(size ? size : 1));
    cursors = malloc((size_t)(n_frames ? n_frames : 1) * sizeof *cursors);
    if (out->buf == NULL || cursors == NULL) {
        rc = EN_ENOMEM;
        goto fail;
    }
    for (int64_t f = 0; f < n_frames; f++) {
        uint8_t *p = out->buf + frames[f].offset;
        write_head(p, &frames[f]);
        uint8_t *body = p + HEAD_BYTES;
        int64_t off = offsets_bytes(frames[f].records), keys_padded = PAD8(frames[f].key_bytes);
        cursor *c = &cursors[f];
        c->key_offsets = (int32_t *)body;
        c->key_values = body + off;
        c->data_offsets = (int32_t *)(body + off + keys_padded);
        c->data_values = body + 2 * off + keys_padded;
        c->filled = c->key_pos = c->data_pos = 0;
        c->key_offsets[0] = c->data_offsets[0] = 0;
    }
    /* pass 2: each row into its shard's current frame */
    for (int32_t s = 0; s < n_shards; s++) current[s] = -1;
    for (int64_t f = n_frames - 1; f >= 0; f--) current[frames[f].shard] = f;   /* each shard's first */
    for (int64_t r = 0; r < n; r++) {
        if (stored != NULL && !stored[r]) continue;
        int32_t s = position[r];
        int64_t f = current[s];
        cursor *c = &cursors[f];
        if (c->filled == frames[f].records) {
            f = current[s] = frames[f].next;
            c = &cursors[f];
        }
        int64_t k0 = en_view_start(keys, r), klen = en_view_start(keys, r + 1) - k0;
        int64_t d0 = en_view_start(data, r), dlen = en_view_start(data, r + 1) - d0;
        memcpy(c->key_values + c->key_pos, keys->data + k0, (size_t)klen);
        memcpy(c->data_values + c->data_pos, data->data + d0, (size_t)dlen);
        c->key_pos += klen;
        c->data_pos += dlen;
        c->filled++;
        c->key_offsets[c->filled] = (int32_t)c->key_pos;
        c->data_offsets[c->filled] = (int32_t)c->data_pos;
    }
    free(cursors);
    free(current);
    out->frames = frames;
    out->n_frames = n_frames;
    out->size = size;
    return EN_OK;
fail:
    free(cursors);
    free(current);
    free(frames);
    free(out->buf);
    memset(out, 0, sizeof *out);
    return rc;
}
