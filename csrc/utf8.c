#include <string.h>

#include "utf8.h"

/* ASCII bytes allowed: TAB LF CR and 0x20-0x7F. */
static const uint8_t ascii_ok[128] = {
    0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 0, 0, 1, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
};

int en_xml_text_ok(const uint8_t *s, size_t n) {
    size_t i = 0;
    while (i < n) {
        /* fast path: 8 bytes at a time while they are all printable ASCII (0x20-0x7F) */
        while (i + 8 <= n) {
            uint64_t w;
            memcpy(&w, s + i, 8);
            /* any byte >= 0x80, or any byte < 0x20? */
            if ((w & 0x8080808080808080ULL) ||
                ((w - 0x2020202020202020ULL) & ~w & 0x8080808080808080ULL))
                break;
            i += 8;
        }
        if (i >= n) break;
        uint8_t c = s[i];
        if (c < 0x80) {
            if (!ascii_ok[c]) return 0;
            i++;
            continue;
        }
        uint32_t cp;
        size_t k;
        if ((c & 0xE0) == 0xC0) {
            cp = c & 0x1F;
            k = 1;
            if (cp < 2) return 0;  /* overlong */
        } else if ((c & 0xF0) == 0xE0) {
            cp = c & 0x0F;
            k = 2;
        } else if ((c & 0xF8) == 0xF0) {
            cp = c & 0x07;
            k = 3;
        } else {
            return 0;
        }
        if (i + k >= n) return 0;  /* truncated */
        for (size_t j = 1; j <= k; j++) {
            uint8_t d = s[i + j];
            if ((d & 0xC0) != 0x80) return 0;
            cp = (cp << 6) | (d & 0x3F);
        }
        if (k == 2 && cp < 0x800) return 0;
        if (k == 3 && (cp < 0x10000 || cp > 0x10FFFF)) return 0;
        if (cp >= 0xD800 && cp <= 0xDFFF) return 0;
        if (cp == 0xFFFE || cp == 0xFFFF) return 0;
        i += k + 1;
    }
    return 1;
}

int64_t en_utf8_count(const uint8_t *s, size_t n) {
    int64_t chars = 0;
    size_t i = 0;
    while (i < n) {
        /* fast path: 8 ASCII bytes at a time */
        while (i + 8 <= n) {
            uint64_t w;
            memcpy(&w, s + i, 8);
            if (w & 0x8080808080808080ULL) break;
            i += 8;
            chars += 8;
        }
        if (i >= n) break;
        uint8_t c = s[i];
        if (c < 0x80) {
            i++;
            chars++;
            continue;
        }
        uint32_t cp;
        size_t k;
        if (c >= 0xC2 && c <= 0xDF) {
            cp = c & 0x1F;
            k = 1;
        } else if ((c & 0xF0) == 0xE0) {
            cp = c & 0x0F;
            k = 2;
        } else if (c >= 0xF0 && c <= 0xF4) {
            cp = c & 0x07;
            k = 3;
        } else {
            return -1;   /* continuation byte first, overlong 2-byte lead, or above U+10FFFF */
        }
        if (k >= n - i) return -1;   /* truncated */
        for (size_t j = 1; j <= k; j++) {
            uint8_t d = s[i + j];
            if ((d & 0xC0) != 0x80) return -1;
            cp = (cp << 6) | (d & 0x3F);
        }
        if ((k == 2 && (cp < 0x800 || (cp >= 0xD800 && cp <= 0xDFFF))) || (k == 3 && (cp < 0x10000 || cp > 0x10FFFF)))
            return -1;
        i += k + 1;
        chars++;
    }
    return chars;
}
