/* Rows of text from one template: the same document for many values (e.g. a JSON notification
 * per message). Row i is
 *     text[0] field[0](i) text[1] field[1](i) ... field[k-1](i) text[k]
 * where a field writes, for row i:
 *   EN_ROW_JSON     a UTF-8 value as a JSON string literal: quotes added, '"' '\' and control
 *                   characters escaped (\b \f \n \r \t, else \u00xx), everything else as is
 *                   (Python's json.encoder.encode_basestring, byte for byte)
 *   EN_ROW_RAW      a value as it is
 *   EN_ROW_HEX12    a number as 12 lowercase hexadecimal digits (its low 48 bits)
 *   EN_ROW_NOISE64  64 base64 characters of 48 pseudo-random bytes, a function of (seed, number)
 * The caller measures each row (en_row_length), allocates, then writes it (en_row_write); nothing
 * is allocated here. */
#ifndef EN_ROWS_H
#define EN_ROWS_H

#include "common.h"

typedef enum { EN_ROW_JSON = 0, EN_ROW_RAW = 1, EN_ROW_HEX12 = 2, EN_ROW_NOISE64 = 3 } en_row_kind;

typedef struct {
    en_row_kind kind;
    const uint8_t *const *data;  /* JSON, RAW: per-row value pointers */
    const int64_t *lens;         /* JSON, RAW: per-row value lengths */
    const uint64_t *numbers;     /* HEX12, NOISE64: per-row numbers */
    uint64_t seed;               /* NOISE64 */
} en_row_field;

typedef struct {
    const uint8_t *const *texts; /* nfields + 1 constant segments */
    const int64_t *text_lens;
    const en_row_field *fields;
    int nfields;
} en_row_template;

/* Bytes row i takes. */
int64_t en_row_length(const en_row_template *t, int64_t i);

/* Write row i (exactly en_row_length(t, i) bytes) at out. */
void en_row_write(const en_row_template *t, int64_t i, uint8_t *out);

/* The 64 characters of EN_ROW_NOISE64 for (seed, number), at out. */
void en_noise64(uint64_t seed, uint64_t number, uint8_t *out);

#endif
