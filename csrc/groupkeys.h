/* Rows grouped by a tuple of text columns (partition keys): one pass over the values with a
 * small hash table of the distinct tuples, then a counting placement, so the rows of each
 * group come out together, in their order, and the groups in the order they first appear. */
#ifndef EN_GROUPKEYS_H
#define EN_GROUPKEYS_H

#include "common.h"

/* One column: an Arrow string/binary array's offsets and data (row i at offsets[i]), and its
 * validity bitmap with row i at bit validity_offset + i (NULL: no nulls; a null is a value of
 * its own, apart from ""). */
typedef struct {
    en_binary_view view;
    const uint8_t *validity;
    int64_t validity_offset;
} en_gk_column;

/* order[0..n): the rows, group after group; bounds[0..*groups]: where each group starts in
 * order (bounds[*groups] = n), so bounds needs room for n + 1 entries; firsts[g]: the first row
 * of group g (room for n). EN_ENOMEM when the table can't be allocated. */
en_status en_group_keys(const en_gk_column *cols, int ncols, int64_t n, int64_t *order, int64_t *bounds,
                        int64_t *firsts, int64_t *groups);

#endif
