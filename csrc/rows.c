/* Rows of text from one template (see rows.h). */
#include <string.h>

#include "rows.h"

/* Bytes a JSON string literal adds per input byte: 1 for the short escapes, 5 for \u00xx. */
static const uint8_t ESCAPE_EXTRA[256] = {
    5, 5, 5, 5, 5, 5, 5, 5, 1, 1, 1, 5, 1, 1, 5, 5,
    5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5,
    0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0,
    /* 0x60 .. 0xff: never escaped */
};

static const char HEX[] = "0123456789abcdef";
static const char B64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/* 1 when one of the 8 bytes of x needs escaping (< 0x20, '"' or '\\'): the word-at-a-time tests
 * "has a byte less than n" and "has a zero byte" (after xor with the byte to find). A match can
 * also flag a byte above it (a borrow), never miss one: flagged words are rechecked byte by byte. */
EN_INLINE int word_needs_escape(uint64_t x) {
    const uint64_t ones = 0x0101010101010101ULL, highs = 0x8080808080808080ULL;
    uint64_t q = x ^ (ones * '"'), b = x ^ (ones * '\\');
    return (((x - ones * 0x20) & ~x) | ((q - ones) & ~q) | ((b - ones) & ~b)) & highs ? 1 : 0;
}

EN_INLINE uint64_t load8(const uint8_t *p) {
    uint64_t v;
    memcpy(&v, p, 8);
    return v;
}

/* Index of the first byte at or after i that needs escaping, or n. */
EN_INLINE int64_t next_escape(const uint8_t *s, int64_t i, int64_t n) {
    while (i + 8 <= n && !word_needs_escape(load8(s + i)))
        i += 8;
    while (i < n && !ESCAPE_EXTRA[s[i]])
        i++;
    return i;
}

EN_INLINE int64_t json_length(const uint8_t *s, int64_t n) {
    int64_t extra = 0;
    for (int64_t i = next_escape(s, 0, n); i < n; i = next_escape(s, i + 1, n))
        extra += ESCAPE_EXTRA[s[i]];
    return n + extra + 2;
}

static uint8_t *json_write(const uint8_t *s, int64_t n, uint8_t *out) {
    *out++ = '"';
    int64_t start = 0;
    for (int64_t i = next_escape(s, 0, n); i < n; i = next_escape(s, i + 1, n)) {
        uint8_t c = s[i];
        memcpy(out, s + start, (size_t)(i - start));
        out += i - start;
        start = i + 1;
        *out++ = '\\';
        switch (c) {
        case '"': *out++ = '"'; break;
        case '\\': *out++ = '\\'; break;
        case '\b': *out++ = 'b'; break;
        case '\f': *out++ = 'f'; break;
        case '\n': *out++ = 'n'; break;
        case '\r': *out++ = 'r'; break;
        case '\t': *out++ = 't'; break;
        default:
            *out++ = 'u';
            *out++ = '0';
            *out++ = '0';
            *out++ = (uint8_t)HEX[c >> 4];
            *out++ = (uint8_t)HEX[c & 15];
        }
    }
    memcpy(out, s + start, (size_t)(n - start));
    out += n - start;
    *out++ = '"';
    return out;
}

/* splitmix64's output function: a bijective mix of 64 bits. */
EN_INLINE uint64_t mix64(uint64_t z) {
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

void en_noise64(uint64_t seed, uint64_t number, uint8_t *out) {
    uint8_t raw[48];
    uint64_t base = mix64(seed ^ mix64(number + 0x9e3779b97f4a7c15ULL));
    for (int w = 0; w < 6; w++) {
        uint64_t v = mix64(base + (uint64_t)w * 0x9e3779b97f4a7c15ULL);
        for (int b = 0; b < 8; b++)
            raw[w * 8 + b] = (uint8_t)(v >> (8 * b));
    }
    for (int i = 0; i < 16; i++) {   /* 48 bytes -> 64 characters, no padding */
        uint32_t v = ((uint32_t)raw[3 * i] << 16) | ((uint32_t)raw[3 * i + 1] << 8) | raw[3 * i + 2];
        out[4 * i] = (uint8_t)B64[(v >> 18) & 63];
        out[4 * i + 1] = (uint8_t)B64[(v >> 12) & 63];
        out[4 * i + 2] = (uint8_t)B64[(v >> 6) & 63];
        out[4 * i + 3] = (uint8_t)B64[v & 63];
    }
}

int64_t en_row_length(const en_row_template *t, int64_t i) {
    int64_t n = 0;
    for (int f = 0; f <= t->nfields; f++)
        n += t->text_lens[f];
    for (int f = 0; f < t->nfields; f++) {
        const en_row_field *field = &t->fields[f];
        switch (field->kind) {
        case EN_ROW_JSON: n += json_length(field->data[i], field->lens[i]); break;
        case EN_ROW_RAW: n += field->lens[i]; break;
        case EN_ROW_HEX12: n += 12; break;
        case EN_ROW_NOISE64: n += 64; break;
        }
    }
    return n;
}

void en_row_write(const en_row_template *t, int64_t i, uint8_t *out) {
    for (int f = 0; f <= t->nfields; f++) {
        memcpy(out, t->texts[f], (size_t)t->text_lens[f]);
        out += t->text_lens[f];
        if (f == t->nfields)
            break;
        const en_row_field *field = &t->fields[f];
        switch (field->kind) {
        case EN_ROW_JSON:
            out = json_write(field->data[i], field->lens[i], out);
            break;
        case EN_ROW_RAW:
            memcpy(out, field->data[i], (size_t)field->lens[i]);
            out += field->lens[i];
            break;
        case EN_ROW_HEX12: {
            uint64_t v = field->numbers[i];
            for (int d = 11; d >= 0; d--) {
                out[d] = (uint8_t)HEX[v & 15];
                v >>= 4;
            }
            out += 12;
            break;
        }
        case EN_ROW_NOISE64:
            en_noise64(field->seed, field->numbers[i], out);
            out += 64;
            break;
        }
    }
}
