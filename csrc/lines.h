/* Text lines -> record boundaries, without copying: each record is a line with its line end, so
 * the records end to end are the text itself. A blank (whitespace-only) line is either a record
 * of its own (`blank_records`: what the Kinesis Agent sends, one record per '\n') or part of the
 * record before it (or of the first one), for readers that ignore blank lines (JSON Lines). */
#ifndef EN_LINES_H
#define EN_LINES_H

#include "common.h"

/* Record starts in data[0..n): offsets[0..*count] (offsets[*count] is where the last record
 * ends). Without `final`, only records ending in '\n' are taken; returns the bytes taken (the
 * caller keeps the rest for the next block). offsets needs room for one more entry than there
 * are '\n' in data, plus two. */
int64_t en_split_lines(const uint8_t *data, int64_t n, int final, int blank_records, int64_t *offsets,
                       int64_t *count);

#endif
