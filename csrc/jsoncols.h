/* JSON objects -> Arrow columns, one pass, no per-record allocation.
 *
 * Each record of an Arrow binary array holds one JSON object. The fields a caller names are
 * parsed into Arrow-layout columns (validity bitmap + fixed-width values, bit-packed booleans,
 * or int32 offsets + UTF-8 data); every other member is checked as JSON and skipped.
 *
 * The parser takes only a plain subset, exactly as a strict reader (Arrow's JSON reader with an
 * explicit schema) would: a record holding anything else is marked doubtful and left out of the
 * columns, so a complete reader can decide it. Doubtful: not one object; a member name with an
 * escape, repeated, or equal to a field's name but for ASCII case; NaN/Infinity; a lone
 * surrogate or invalid UTF-8; nesting deeper than EN_JC_DEPTH_MAX; a field value of another JSON
 * type than its kind takes (null is always taken, except by a key field); an integer with a
 * fraction or exponent or out of range; a timestamp not written as
 * YYYY-MM-DD[T ]hh:mm:ss[.fraction][Z] with at most the unit's digits; a date not YYYY-MM-DD.
 *
 * A key field also gives its value as text (a second string column, never null): a JSON string
 * decoded, or an integer as its digits (int64 range, not "-0"); anything else, or no value at
 * all, makes the record doubtful.
 */
#ifndef EN_JSONCOLS_H
#define EN_JSONCOLS_H

#include "common.h"

#define EN_JC_DEPTH_MAX 64
#define EN_JC_NUMBER_MAX 400        /* longer number tokens are doubtful */

typedef enum {
    EN_JC_STRING = 0,     /* int32 offsets (rows + 1) + data */
    EN_JC_INT8 = 1,
    EN_JC_INT16 = 2,
    EN_JC_INT32 = 3,
    EN_JC_INT64 = 4,
    EN_JC_FLOAT32 = 5,
    EN_JC_FLOAT64 = 6,
    EN_JC_BOOL = 7,       /* bit-packed */
    EN_JC_TIMESTAMP = 8,  /* int64, units of 10^-digits s */
    EN_JC_DATE32 = 9,     /* int32 days since 1970-01-01 */
    EN_JC_NONE = 10       /* no column (a key field only) */
} en_jc_kind;

typedef struct {
    const uint8_t *name;  /* the member name, UTF-8 */
    int64_t name_len;
    int kind;             /* en_jc_kind */
    int digits;           /* EN_JC_TIMESTAMP: fraction digits of the unit: 0, 3, 6 or 9 */
    int key;              /* also its text in the key column */
} en_jc_field;

typedef struct {
    uint8_t *validity;    /* (capacity + 7) / 8 bytes */
    uint8_t *values;      /* fixed width, bit-packed, or offsets */
    uint8_t *data;        /* EN_JC_STRING */
    int64_t data_len, data_cap;
    int64_t null_count;
} en_jc_column;

/* A run of records: rows [start, start + count) of one binary array. */
typedef struct {
    en_binary_view view;
    int64_t start, count;
} en_jc_segment;

typedef struct en_jc_plan en_jc_plan;

/* The lookup tables for a set of fields (names must be distinct); NULL when out of memory. */
en_jc_plan *en_jc_plan_new(const en_jc_field *fields, int nfields);
void en_jc_plan_free(en_jc_plan *plan);

/* Allocate the columns for up to `capacity` rows: cols[2 * f] is field f's column, cols[2 * f + 1]
 * its key column (cols[2 * nfields], zeroed by the caller). */
en_status en_jc_columns_init(const en_jc_plan *plan, en_jc_column *cols, int64_t capacity);
void en_jc_columns_free(const en_jc_plan *plan, en_jc_column *cols);

/* Parse the records of `segs` in order. Each record that parses becomes the next row (*rows
 * counts them); doubt[i] is set to 1 for the i-th record of the run that did not (0 otherwise).
 * EN_ETOOBIG when a string column would pass 2^31-1 bytes, EN_ENOMEM: the columns are then
 * unusable. Runs without the GIL; columns are the caller's, one set per thread. */
en_status en_jc_parse(const en_jc_plan *plan, const en_jc_segment *segs, int nsegs, en_jc_column *cols,
                      int64_t *rows, uint8_t *doubt);

#endif
