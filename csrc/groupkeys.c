#include <stdlib.h>
#include <string.h>

#include "groupkeys.h"

/* Table slots per group at least (a power of two), so probes stay short. */
#define EN_GK_LOAD 2
#define EN_GK_SLOTS_MIN 64

EN_INLINE int is_null(const en_gk_column *c, int64_t row) {
    int64_t i = c->validity_offset + row;
    return c->validity && !((c->validity[i >> 3] >> (i & 7)) & 1);
}

EN_INLINE uint64_t mix(uint64_t h) {
    h ^= h >> 33;
    h *= UINT64_C(0xff51afd7ed558ccd);
    h ^= h >> 33;
    return h;
}

static uint64_t tuple_hash(const en_gk_column *cols, int ncols, int64_t row) {
    uint64_t h = UINT64_C(0x9e3779b97f4a7c15);
    for (int c = 0; c < ncols; c++) {
        const en_gk_column *col = &cols[c];
        if (is_null(col, row)) {
            h = mix(h ^ UINT64_C(0xa5a5a5a5a5a5a5a5));
            continue;
        }
        int64_t a = en_view_start(&col->view, row), b = en_view_start(&col->view, row + 1);
        const uint8_t *p = col->view.data + a;
        int64_t len = b - a, i = 0;
        h = mix(h ^ (uint64_t)len);
        for (; i + 8 <= len; i += 8) {
            uint64_t w;
            memcpy(&w, p + i, 8);
            h = mix(h ^ w) * UINT64_C(0xc4ceb9fe1a85ec53);
        }
        uint64_t tail = 0;
        for (int64_t k = 0; i + k < len; k++) tail |= (uint64_t)p[i + k] << (8 * k);
        h = mix(h ^ tail ^ ((uint64_t)(c + 1) << 56));
    }
    return h;
}

static int same_tuple(const en_gk_column *cols, int ncols, int64_t x, int64_t y) {
    for (int c = 0; c < ncols; c++) {
        const en_gk_column *col = &cols[c];
        int nx = is_null(col, x), ny = is_null(col, y);
        if (nx || ny) {
            if (nx != ny) return 0;
            continue;
        }
        int64_t ax = en_view_start(&col->view, x), bx = en_view_start(&col->view, x + 1);
        int64_t ay = en_view_start(&col->view, y), by = en_view_start(&col->view, y + 1);
        if (bx - ax != by - ay || !en_same_bytes(col->view.data + ax, col->view.data + ay, bx - ax)) return 0;
    }
    return 1;
}

typedef struct {
    uint64_t hash;
    int64_t group;      /* -1: empty */
} slot;

static int grow(slot **table, int64_t *mask, const uint64_t *hashes, int64_t groups) {
    int64_t size = (*mask + 1) * 2;
    slot *t = malloc(sizeof(slot) * (size_t)size);
    if (!t) return 0;
    for (int64_t i = 0; i < size; i++) t[i].group = -1;
    for (int64_t g = 0; g < groups; g++) {
        int64_t i = (int64_t)(hashes[g] & (uint64_t)(size - 1));
        while (t[i].group >= 0) i = (i + 1) & (size - 1);
        t[i].hash = hashes[g];
        t[i].group = g;
    }
    free(*table);
    *table = t;
    *mask = size - 1;
    return 1;
}

en_status en_group_keys(const en_gk_column *cols, int ncols, int64_t n, int64_t *order, int64_t *bounds,
                        int64_t *firsts, int64_t *groups) {
    int64_t mask = EN_GK_SLOTS_MIN - 1, count = 0;
    slot *table = malloc(sizeof(slot) * EN_GK_SLOTS_MIN);
    uint64_t *hashes = malloc(sizeof(uint64_t) * (size_t)(n + 1));
    int32_t *codes = malloc(sizeof(int32_t) * (size_t)(n + 1));
    int64_t *sizes = NULL;
    en_status status = EN_ENOMEM;
    if (!table || !hashes || !codes) goto done;
    for (int64_t i = 0; i <= mask; i++) table[i].group = -1;
    int64_t last = -1;        /* rows of one producer often repeat the row before's keys */
    for (int64_t row = 0; row < n; row++) {
        if (last >= 0 && same_tuple(cols, ncols, row, firsts[last])) {
            codes[row] = (int32_t)last;
            continue;
        }
        uint64_t h = tuple_hash(cols, ncols, row);
        int64_t i = (int64_t)(h & (uint64_t)mask), g;
        for (;; i = (i + 1) & mask) {
            g = table[i].group;
            if (g < 0 || (table[i].hash == h && same_tuple(cols, ncols, row, firsts[g]))) break;
        }
        if (g < 0) {
            g = count++;
            firsts[g] = row;
            hashes[g] = h;
            table[i].hash = h;
            table[i].group = g;
            if (count * EN_GK_LOAD > mask + 1 && !grow(&table, &mask, hashes, count)) goto done;
        }
        codes[row] = (int32_t)g;
        last = g;
    }
    sizes = calloc((size_t)count + 1, sizeof(int64_t));
    if (!sizes) goto done;
    for (int64_t row = 0; row < n; row++) sizes[codes[row]]++;
    bounds[0] = 0;
    for (int64_t g = 0; g < count; g++) {
        bounds[g + 1] = bounds[g] + sizes[g];
        sizes[g] = bounds[g];          /* now: the next place of group g */
    }
    for (int64_t row = 0; row < n; row++) order[sizes[codes[row]]++] = row;
    *groups = count;
    status = EN_OK;
done:
    free(table);
    free(hashes);
    free(codes);
    free(sizes);
    return status;
}
