/* Intrusive doubly linked lists of int32 node indices (NIL ends a list), one definition for
 * every list of the queue: the visible list (message slots), a group's waiting and in-flight
 * lists (FIFO slots) and the ready list (groups).
 *
 * EN_QLIST(name, ctx_t, node_t, node_at, next, prev) defines, for nodes node_at(ctx, i) whose
 * link fields are `next` and `prev`:
 *   name_insert_after(ctx, &head, &tail, after, i)   i after node `after` (NIL: first)
 *   name_unlink(ctx, &head, &tail, i)                i out of the list, its links NIL
 * A list without a tail passes NULL for it.
 */
#ifndef EN_QLIST_H
#define EN_QLIST_H

#include "common.h"

#define EN_NIL (-1)

#define EN_QLIST(name, ctx_t, node_t, node_at, next, prev)                                            \
    EN_INLINE void name##_insert_after(ctx_t c, int32_t *head, int32_t *tail, int32_t after, int32_t i) { \
        node_t *n = node_at(c, i);                                                                      \
        n->prev = after;                                                                                \
        n->next = after == EN_NIL ? *head : node_at(c, after)->next;                                    \
        if (n->next != EN_NIL) node_at(c, n->next)->prev = i;                                           \
        else if (tail) *tail = i;                                                                       \
        if (after == EN_NIL) *head = i;                                                                 \
        else node_at(c, after)->next = i;                                                               \
    }                                                                                                   \
    EN_INLINE void name##_unlink(ctx_t c, int32_t *head, int32_t *tail, int32_t i) {                   \
        node_t *n = node_at(c, i);                                                                      \
        if (n->prev != EN_NIL) node_at(c, n->prev)->next = n->next;                                     \
        else *head = n->next;                                                                           \
        if (n->next != EN_NIL) node_at(c, n->next)->prev = n->prev;                                     \
        else if (tail) *tail = n->prev;                                                                 \
        n->next = n->prev = EN_NIL;                                                                     \
    }

#endif
