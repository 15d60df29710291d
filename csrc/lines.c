#include "lines.h"

#include <string.h>

EN_INLINE int has_content(const uint8_t *p, const uint8_t *end) {
    for (; p < end; p++)
        if (*p != ' ' && *p != '\t' && *p != '\r' && *p != '\n') return 1;
    return 0;
}

int64_t en_split_lines(const uint8_t *data, int64_t n, int final, int blank_records, int64_t *offsets,
                       int64_t *count) {
    int64_t records = 0, pos = 0, taken = 0;
    offsets[0] = 0;
    while (pos < n) {
        const uint8_t *nl = memchr(data + pos, '\n', (size_t)(n - pos));
        if (!nl && !final) break;
        int64_t end = nl ? (int64_t)(nl - data) + 1 : n;
        if (blank_records || has_content(data + pos, data + end)) {
            if (records) offsets[records] = pos;   /* the record before ends here */
            records++;
        }
        pos = end;
        if (records) taken = end;
    }
    *count = records;
    if (!records) return final ? n : 0;      /* blank lines alone wait for a record (or end) */
    offsets[records] = taken;
    return taken;
}
