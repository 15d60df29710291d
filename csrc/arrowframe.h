/* Arrow IPC record batches built in one pass from a routed batch: for each shard, the rows
 * routed to it (in input order) as one encapsulated IPC message of the schema
 * (partition_key: binary, data: binary), the same bytes pyarrow's RecordBatch.serialize()
 * gives (continuation marker, metadata length, flatbuffer Message, body of 8-byte aligned
 * buffers), so pyarrow.ipc.read_record_batch reads them unchanged.
 *
 * A shard's rows are split over several frames when one would exceed max_frame_bytes (binary
 * offsets are int32, and a frame payload has a 32-bit length). Each frame's rows are
 * consecutive among its shard's rows. The frames of one shard appear in row order; frames of
 * different shards interleave.
 */
#ifndef EN_ARROWFRAME_H
#define EN_ARROWFRAME_H

#include "common.h"

#define EN_IPC_METADATA_BYTES 224          /* the fixed flatbuffer Message of two binary columns */
#define EN_IPC_PREFIX_BYTES 8              /* continuation marker + metadata length */
#define EN_IPC_FRAME_MAX (INT64_C(1) << 30) /* default split point of a shard's rows */

typedef struct {
    int32_t shard;           /* the position value of its rows */
    int64_t first_row;       /* input rows of its first and last record */
    int64_t last_row;
    int64_t records;
    int64_t key_bytes, data_bytes;
    int64_t offset, length;  /* its payload in the put's buffer (offset 8-byte aligned) */
    int64_t next;            /* the shard's next frame (-1: none); used while encoding */
} en_ipc_frame;

typedef struct {
    uint8_t *buf;            /* every frame's payload */
    int64_t size;
    en_ipc_frame *frames;
    int64_t n_frames;
} en_ipc_put;

/* Encode the rows r with stored[r] != 0 (every row when stored is NULL) into frames of the
 * shard position[r] (0 <= position < n_shards). EN_EINVAL for a position out of range,
 * EN_ETOOBIG for one record larger than max_frame_bytes. On failure *out is empty. */
en_status en_ipc_encode_routed(const int32_t *position, const uint8_t *stored, int64_t n, int32_t n_shards,
                               const en_binary_view *keys, const en_binary_view *data, int64_t max_frame_bytes,
                               en_ipc_put *out);
void en_ipc_put_free(en_ipc_put *p);

#endif
