/* JSON objects -> Arrow columns (see jsoncols.h for the subset taken and what is doubtful). */
#include "jsoncols.h"

#include <stdlib.h>
#include <string.h>
#ifdef __SSE2__
#include <emmintrin.h>
#endif

#define BUCKETS 256
#define ROW_DOUBT 0
#define ROW_OK 1
#define ROW_FAIL (-1)          /* out of memory or a column too big: stop */

struct en_jc_plan {
    en_jc_field *fields;       /* names copied: the plan owns them */
    uint8_t **lower;           /* ASCII-lowercased names */
    int nfields;
    int nkeys;
    int64_t max_name;
    int16_t head[BUCKETS], lower_head[BUCKETS];
    int16_t *next, *lower_next;
    int *valued;               /* the fields with a column (kind not EN_JC_NONE) */
    int nvalued;
    int *offsets;              /* the columns (2f, 2f + 1) whose offsets each row closes */
    int noffsets;
};

EN_INLINE unsigned bucket_of(const uint8_t *s, int64_t n) {
    return n ? (unsigned)(n * 131 + s[0] * 31 + s[n - 1]) & (BUCKETS - 1) : 0;
}

EN_INLINE uint8_t ascii_lower(uint8_t c) { return (c >= 'A' && c <= 'Z') ? (uint8_t)(c + 32) : c; }

en_jc_plan *en_jc_plan_new(const en_jc_field *fields, int nfields) {
    if (nfields < 0 || nfields > INT16_MAX) return NULL;
    en_jc_plan *plan = calloc(1, sizeof(*plan));
    if (!plan) return NULL;
    plan->nfields = nfields;
    plan->fields = calloc((size_t)nfields + 1, sizeof(en_jc_field));
    plan->lower = calloc((size_t)nfields + 1, sizeof(uint8_t *));
    plan->next = malloc(((size_t)nfields + 1) * sizeof(int16_t));
    plan->lower_next = malloc(((size_t)nfields + 1) * sizeof(int16_t));
    plan->valued = malloc(((size_t)nfields + 1) * sizeof(int));
    plan->offsets = malloc((2 * (size_t)nfields + 1) * sizeof(int));
    if (!plan->fields || !plan->lower || !plan->next || !plan->lower_next || !plan->valued || !plan->offsets) goto fail;
    for (int b = 0; b < BUCKETS; b++) plan->head[b] = plan->lower_head[b] = -1;
    for (int f = 0; f < nfields; f++) {
        en_jc_field *fd = &plan->fields[f];
        *fd = fields[f];
        int64_t n = fields[f].name_len;
        uint8_t *name = malloc((size_t)n + 1), *low = malloc((size_t)n + 1);
        plan->lower[f] = low;
        fd->name = name;
        if (!name || !low) {
            free(name);
            goto fail;
        }
        memcpy(name, fields[f].name, (size_t)n);
        for (int64_t i = 0; i < n; i++) low[i] = ascii_lower(name[i]);
        if (n > plan->max_name) plan->max_name = n;
        if (fd->key) plan->nkeys++;
        if (fd->kind != EN_JC_NONE) plan->valued[plan->nvalued++] = f;
        if (fd->kind == EN_JC_STRING) plan->offsets[plan->noffsets++] = 2 * f;
        if (fd->key) plan->offsets[plan->noffsets++] = 2 * f + 1;
        unsigned b = bucket_of(name, n);
        plan->next[f] = plan->head[b];
        plan->head[b] = (int16_t)f;
        b = bucket_of(low, n);
        plan->lower_next[f] = plan->lower_head[b];
        plan->lower_head[b] = (int16_t)f;
    }
    return plan;
fail:
    en_jc_plan_free(plan);
    return NULL;
}

void en_jc_plan_free(en_jc_plan *plan) {
    if (!plan) return;
    for (int f = 0; f < plan->nfields; f++) {
        if (plan->fields) free((void *)plan->fields[f].name);
        if (plan->lower) free(plan->lower[f]);
    }
    free(plan->fields);
    free(plan->lower);
    free(plan->next);
    free(plan->lower_next);
    free(plan->valued);
    free(plan->offsets);
    free(plan);
}

static int64_t value_width(int kind) {
    switch (kind) {
    case EN_JC_INT8: return 1;
    case EN_JC_INT16: return 2;
    case EN_JC_INT32: case EN_JC_FLOAT32: case EN_JC_DATE32: case EN_JC_STRING: return 4;
    default: return 8;
    }
}

static int64_t values_bytes(int kind, int64_t capacity) {
    if (kind == EN_JC_BOOL) return (capacity + 7) / 8;
    if (kind == EN_JC_STRING) return (capacity + 1) * 4;
    return capacity * value_width(kind);
}

static en_status column_init(en_jc_column *c, int kind, int64_t capacity) {
    /* every row valid until a null clears its bit (commit_row) */
    c->validity = malloc((size_t)(capacity + 7) / 8 + 1);
    if (c->validity) memset(c->validity, 0xFF, (size_t)(capacity + 7) / 8 + 1);
    c->values = calloc((size_t)values_bytes(kind, capacity) + 1, 1);
    if (kind == EN_JC_STRING) {
        c->data_cap = 1 << 16;
        c->data = malloc((size_t)c->data_cap);
    }
    return (!c->validity || !c->values || (kind == EN_JC_STRING && !c->data)) ? EN_ENOMEM : EN_OK;
}

en_status en_jc_columns_init(const en_jc_plan *plan, en_jc_column *cols, int64_t capacity) {
    for (int f = 0; f < plan->nfields; f++) {
        const en_jc_field *fd = &plan->fields[f];
        if (fd->kind != EN_JC_NONE && column_init(&cols[2 * f], fd->kind, capacity) != EN_OK) return EN_ENOMEM;
        if (fd->key && column_init(&cols[2 * f + 1], EN_JC_STRING, capacity) != EN_OK) return EN_ENOMEM;
    }
    return EN_OK;
}

void en_jc_columns_free(const en_jc_plan *plan, en_jc_column *cols) {
    for (int c = 0; c < 2 * plan->nfields; c++) {
        free(cols[c].validity);
        free(cols[c].values);
        free(cols[c].data);
        cols[c].validity = cols[c].values = cols[c].data = NULL;
    }
}

/* --- lexing ----------------------------------------------------------------------------- */
EN_INLINE const uint8_t *skip_ws(const uint8_t *p, const uint8_t *end) {
    while (p < end && (*p == ' ' || *p == '\n' || *p == '\r' || *p == '\t')) p++;
    return p;
}

/* Length of the well-formed UTF-8 sequence at p (first byte >= 0x80), or 0. */
static int utf8_seq(const uint8_t *p, const uint8_t *end) {
    uint8_t c = p[0];
    if (c >= 0xC2 && c <= 0xDF) {
        return (end - p >= 2 && (p[1] & 0xC0) == 0x80) ? 2 : 0;
    }
    if (c >= 0xE0 && c <= 0xEF) {
        if (end - p < 3 || (p[1] & 0xC0) != 0x80 || (p[2] & 0xC0) != 0x80) return 0;
        if (c == 0xE0 && p[1] < 0xA0) return 0;      /* overlong */
        if (c == 0xED && p[1] >= 0xA0) return 0;     /* surrogate */
        return 3;
    }
    if (c >= 0xF0 && c <= 0xF4) {
        if (end - p < 4 || (p[1] & 0xC0) != 0x80 || (p[2] & 0xC0) != 0x80 || (p[3] & 0xC0) != 0x80) return 0;
        if (c == 0xF0 && p[1] < 0x90) return 0;      /* overlong */
        if (c == 0xF4 && p[1] >= 0x90) return 0;     /* above U+10FFFF */
        return 4;
    }
    return 0;
}

EN_INLINE int hex4(const uint8_t *p, uint32_t *out) {
    uint32_t v = 0;
    for (int i = 0; i < 4; i++) {
        uint8_t c = p[i];
        v <<= 4;
        if (c >= '0' && c <= '9') v |= (uint32_t)(c - '0');
        else if (c >= 'a' && c <= 'f') v |= (uint32_t)(c - 'a' + 10);
        else if (c >= 'A' && c <= 'F') v |= (uint32_t)(c - 'A' + 10);
        else return 0;
    }
    *out = v;
    return 1;
}

/* Offset of the first byte in p[0..n) that is '"', '\\', a control character or >= 0x80. With
 * out, the bytes before it are also copied there, 16 at a time as they are scanned (a block's
 * bytes past the run are stored too: out has room for n bytes). Inlined, the copy is compiled
 * away where out is NULL. */
EN_INLINE int64_t scan_plain(const uint8_t *p, int64_t n, uint8_t *out) {
    int64_t i = 0;
#ifdef __SSE2__
    const __m128i quote = _mm_set1_epi8('"'), slash = _mm_set1_epi8('\\'), space = _mm_set1_epi8(0x20);
    for (; i + 16 <= n; i += 16) {
        __m128i x = _mm_loadu_si128((const __m128i *)(p + i));
        if (out) _mm_storeu_si128((__m128i *)(out + i), x);
        /* signed compare: bytes >= 0x80 are negative, so "< 0x20" also catches them */
        __m128i special = _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(x, quote), _mm_cmpeq_epi8(x, slash)),
                                       _mm_cmplt_epi8(x, space));
        int mask = _mm_movemask_epi8(special);
        if (mask) return i + __builtin_ctz((unsigned)mask);
    }
#endif
    for (; i < n; i++) {
        uint8_t c = p[i];
        if (c == '"' || c == '\\' || c < 0x20 || c >= 0x80) return i;
        if (out) out[i] = c;
    }
    return n;
}

EN_INLINE int64_t plain_run(const uint8_t *p, int64_t n) { return scan_plain(p, n, NULL); }

/* The string whose opening quote is just before p: decoded into out (when not NULL, room for
 * end - p bytes: what is decoded never outgrows what is read), its length in *len. Returns the
 * byte after the closing quote, NULL if doubtful. */
static const uint8_t *string_body(const uint8_t *p, const uint8_t *end, uint8_t *out, int64_t *len) {
    int64_t n = 0;
    for (;;) {
        int64_t run = out ? scan_plain(p, end - p, out + n) : plain_run(p, end - p);
        n += run;
        p += run;
        if (p >= end) return NULL;
        uint8_t c = *p;
        if (c == '"') {
            *len = n;
            return p + 1;
        }
        if (c >= 0x80) {
            int k = utf8_seq(p, end);
            if (!k) return NULL;
            if (out) memcpy(out + n, p, (size_t)k);
            n += k;
            p += k;
            continue;
        }
        if (c != '\\' || end - p < 2) return NULL;      /* a raw control character, or a cut escape */
        uint8_t e = p[1], ch;
        p += 2;
        switch (e) {
        case '"': ch = '"'; break;
        case '\\': ch = '\\'; break;
        case '/': ch = '/'; break;
        case 'b': ch = '\b'; break;
        case 'f': ch = '\f'; break;
        case 'n': ch = '\n'; break;
        case 'r': ch = '\r'; break;
        case 't': ch = '\t'; break;
        case 'u': {
            uint32_t cp;
            if (end - p < 4 || !hex4(p, &cp)) return NULL;
            p += 4;
            if (cp >= 0xDC00 && cp <= 0xDFFF) return NULL;  /* a lone low surrogate */
            if (cp >= 0xD800 && cp <= 0xDBFF) {
                uint32_t low;
                if (end - p < 6 || p[0] != '\\' || p[1] != 'u' || !hex4(p + 2, &low) || low < 0xDC00 ||
                    low > 0xDFFF)
                    return NULL;
                p += 6;
                cp = 0x10000 + ((cp - 0xD800) << 10) + (low - 0xDC00);
            }
            uint8_t buf[4];
            int k;
            if (cp < 0x80) { buf[0] = (uint8_t)cp; k = 1; }
            else if (cp < 0x800) { buf[0] = (uint8_t)(0xC0 | (cp >> 6)); buf[1] = (uint8_t)(0x80 | (cp & 0x3F)); k = 2; }
            else if (cp < 0x10000) {
                buf[0] = (uint8_t)(0xE0 | (cp >> 12)); buf[1] = (uint8_t)(0x80 | ((cp >> 6) & 0x3F));
                buf[2] = (uint8_t)(0x80 | (cp & 0x3F)); k = 3;
            } else {
                buf[0] = (uint8_t)(0xF0 | (cp >> 18)); buf[1] = (uint8_t)(0x80 | ((cp >> 12) & 0x3F));
                buf[2] = (uint8_t)(0x80 | ((cp >> 6) & 0x3F)); buf[3] = (uint8_t)(0x80 | (cp & 0x3F)); k = 4;
            }
            if (out) memcpy(out + n, buf, (size_t)k);
            n += k;
            continue;
        }
        default: return NULL;
        }
        if (out) out[n] = ch;
        n++;
    }
}

/* A JSON number token at p (grammar only): its end, or NULL. *integral: no fraction, no exponent. */
static const uint8_t *number_end(const uint8_t *p, const uint8_t *end, int *integral) {
    const uint8_t *start = p;
    *integral = 1;
    if (p < end && *p == '-') p++;
    if (p >= end) return NULL;
    if (*p == '0') p++;
    else if (*p >= '1' && *p <= '9') { while (p < end && *p >= '0' && *p <= '9') p++; }
    else return NULL;
    if (p < end && *p == '.') {
        *integral = 0;
        p++;
        if (p >= end || *p < '0' || *p > '9') return NULL;
        while (p < end && *p >= '0' && *p <= '9') p++;
    }
    if (p < end && (*p == 'e' || *p == 'E')) {
        *integral = 0;
        p++;
        if (p < end && (*p == '+' || *p == '-')) p++;
        const uint8_t *digits = p;
        while (p < end && *p >= '0' && *p <= '9') p++;
        if (p == digits || p - digits > 3) return NULL;  /* exponents past 999 are doubtful */
    }
    if (p - start > EN_JC_NUMBER_MAX) return NULL;
    return p;
}

EN_INLINE int literal(const uint8_t *p, const uint8_t *end, const char *word, int n) {
    return end - p >= n && memcmp(p, word, (size_t)n) == 0;
}

static const uint8_t *skip_value(const uint8_t *p, const uint8_t *end, int depth) {
    int64_t len;
    int integral;
    if (p >= end) return NULL;
    switch (*p) {
    case '"':
        return string_body(p + 1, end, NULL, &len);
    case 't': return literal(p, end, "true", 4) ? p + 4 : NULL;
    case 'f': return literal(p, end, "false", 5) ? p + 5 : NULL;
    case 'n': return literal(p, end, "null", 4) ? p + 4 : NULL;
    case '{':
    case '[': {
        uint8_t close = *p == '{' ? '}' : ']';
        int object = *p == '{';
        if (depth + 1 >= EN_JC_DEPTH_MAX) return NULL;
        p = skip_ws(p + 1, end);
        if (p < end && *p == close) return p + 1;
        for (;;) {
            if (object) {
                if (p >= end || *p != '"') return NULL;
                p = string_body(p + 1, end, NULL, &len);
                if (!p) return NULL;
                p = skip_ws(p, end);
                if (p >= end || *p != ':') return NULL;
                p = skip_ws(p + 1, end);
            }
            p = skip_value(p, end, depth + 1);
            if (!p) return NULL;
            p = skip_ws(p, end);
            if (p >= end) return NULL;
            if (*p == close) return p + 1;
            if (*p != ',') return NULL;
            p = skip_ws(p + 1, end);
        }
    }
    default:
        return number_end(p, end, &integral);
    }
}

/* --- values ----------------------------------------------------------------------------- */
static const double POW10[] = {1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11,
                               1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22};

/* A number token [p, q) as a double, correctly rounded (exact arithmetic when the digits fit in
 * 53 bits and the power of ten is exact, else strtod/strtof on a copy). */
static double to_double(const uint8_t *p, const uint8_t *q, int single) {
    if (!single) {
        const uint8_t *s = p;
        int neg = *s == '-';
        if (neg) s++;
        uint64_t m = 0;
        int digits = 0, scale = 0, exact = 1;
        for (; s < q && *s >= '0' && *s <= '9'; s++) {
            if (m || *s != '0') digits++;
            m = m * 10 + (uint64_t)(*s - '0');
            if (digits > 15) { exact = 0; break; }
        }
        if (exact && s < q && *s == '.') {
            for (s++; s < q && *s >= '0' && *s <= '9'; s++) {
                if (m || *s != '0') digits++;
                m = m * 10 + (uint64_t)(*s - '0');
                scale--;
                if (digits > 15) { exact = 0; break; }
            }
        }
        if (exact && s < q) {          /* exponent */
            s++;
            int eneg = 0, e = 0;
            if (*s == '+' || *s == '-') eneg = *s++ == '-';
            for (; s < q; s++) e = e * 10 + (*s - '0');
            scale += eneg ? -e : e;
        }
        if (exact && scale >= -22 && scale <= 22) {
            double v = (double)m;
            v = scale < 0 ? v / POW10[-scale] : v * POW10[scale];
            return neg ? -v : v;
        }
    }
    char buf[EN_JC_NUMBER_MAX + 1];
    size_t n = (size_t)(q - p);
    memcpy(buf, p, n);
    buf[n] = 0;
    return single ? (double)strtof(buf, NULL) : strtod(buf, NULL);
}

/* An integer token (no fraction, no exponent) within [lo, hi]. */
static int to_int(const uint8_t *p, const uint8_t *q, int64_t lo, int64_t hi, int64_t *out) {
    int neg = *p == '-';
    if (neg) p++;
    uint64_t v = 0, limit = neg ? (uint64_t)(-(lo + 1)) + 1 : (uint64_t)hi;
    if (q - p > 19) return 0;
    for (; p < q; p++) v = v * 10 + (uint64_t)(*p - '0');
    if (v > limit) return 0;
    *out = neg ? (int64_t)(0 - v) : (int64_t)v;
    return 1;
}

EN_INLINE int digits_at(const uint8_t *p, int n, int *out) {
    int v = 0;
    for (int i = 0; i < n; i++) {
        if (p[i] < '0' || p[i] > '9') return 0;
        v = v * 10 + (p[i] - '0');
    }
    *out = v;
    return 1;
}

static int64_t days_from_civil(int64_t y, int m, int d) {
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

/* YYYY-MM-DD at s[0..10): days since the epoch. */
static int parse_date(const uint8_t *s, int64_t *days) {
    static const int DIM[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    int y, m, d;
    if (!digits_at(s, 4, &y) || s[4] != '-' || !digits_at(s + 5, 2, &m) || s[7] != '-' || !digits_at(s + 8, 2, &d))
        return 0;
    if (y < 1 || m < 1 || m > 12 || d < 1) return 0;
    int leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    if (d > DIM[m - 1] + (m == 2 && leap)) return 0;
    *days = days_from_civil(y, m, d);
    return 1;
}

/* YYYY-MM-DD[T ]hh:mm:ss[.f{1,digits}][Z] in s[0..n): units of 10^-digits seconds. */
static int parse_timestamp(const uint8_t *s, int64_t n, int digits, int64_t *out) {
    static const int64_t SCALE[] = {1, 10, 100, 1000, 10000, 100000, 1000000, 10000000, 100000000, 1000000000};
    int64_t days;
    int h, mi, sec;
    if (n < 19 || !parse_date(s, &days) || (s[10] != 'T' && s[10] != ' ') || !digits_at(s + 11, 2, &h) ||
        s[13] != ':' || !digits_at(s + 14, 2, &mi) || s[16] != ':' || !digits_at(s + 17, 2, &sec))
        return 0;
    if (h > 23 || mi > 59 || sec > 59) return 0;
    int64_t i = 19, frac = 0;
    int fdigits = 0;
    if (i < n && s[i] == '.') {
        for (i++; i < n && s[i] >= '0' && s[i] <= '9'; i++) {
            if (++fdigits > digits) return 0;
            frac = frac * 10 + (s[i] - '0');
        }
        if (!fdigits) return 0;
    }
    if (i < n && s[i] == 'Z') i++;
    if (i != n) return 0;
    int64_t seconds = days * 86400 + h * 3600 + mi * 60 + sec;
    *out = seconds * SCALE[digits] + frac * SCALE[digits - fdigits];
    return 1;
}

/* --- records ---------------------------------------------------------------------------- */
#define NAME_CACHE 64          /* member positions remembered from the record before */

typedef struct {
    const uint8_t *name;       /* in the input, alive for the whole parse */
    int64_t len;
    int field;                 /* -1: no field */
} name_slot;

typedef struct {
    const en_jc_plan *plan;
    en_jc_column *cols;
    int64_t row;
    uint32_t gen;
    uint32_t *seen;          /* per field: gen of the record that set it */
    uint32_t *null_at;       /* per field: gen of the record where it was null */
    int keys_set;            /* key fields given a value in this record */
    int valued_set;          /* fields with a column given a value (not null) in this record */
    name_slot names[NAME_CACHE];
    en_status status;
} state;

static int find_field(const en_jc_plan *plan, const uint8_t *k, int64_t n) {
    for (int f = plan->head[bucket_of(k, n)]; f >= 0; f = plan->next[f]) {
        const en_jc_field *fd = &plan->fields[f];
        if (fd->name_len == n && en_same_bytes(fd->name, k, n)) return f;
    }
    return -1;
}

/* 1 when an unknown member name equals a field's name but for ASCII case. */
static int case_twin(const en_jc_plan *plan, const uint8_t *k, int64_t n) {
    uint8_t low[256];
    if (n > plan->max_name || n > (int64_t)sizeof(low)) return 0;
    for (int64_t i = 0; i < n; i++) low[i] = ascii_lower(k[i]);
    for (int f = plan->lower_head[bucket_of(low, n)]; f >= 0; f = plan->lower_next[f]) {
        if (plan->fields[f].name_len == n && en_same_bytes(plan->lower[f], low, n)) return 1;
    }
    return 0;
}

/* The field of the member name k[0..n) at position `at` of its record (-1: none; -2: a case
 * twin, doubtful), remembered for that position: records of one producer repeat their member
 * order, so parse_record tries the name of the record before first. */
EN_INLINE int member_field(state *st, int at, const uint8_t *k, int64_t n) {
    name_slot *slot = at < NAME_CACHE ? &st->names[at] : NULL;
    int f = find_field(st->plan, k, n);
    if (f < 0 && case_twin(st->plan, k, n)) f = -2;
    if (slot) {
        slot->name = k;
        slot->len = n;
        slot->field = f;
    }
    return f;
}

EN_INLINE int ensure_data(state *st, en_jc_column *c, int64_t more) {
    int64_t need = c->data_len + more;
    if (need <= c->data_cap) return 1;
    int64_t cap = c->data_cap * 2 > need ? c->data_cap * 2 : need;
    uint8_t *data = realloc(c->data, (size_t)cap);
    if (!data) {
        st->status = EN_ENOMEM;
        return 0;
    }
    c->data = data;
    c->data_cap = cap;
    return 1;
}

EN_INLINE int append(state *st, en_jc_column *c, const uint8_t *s, int64_t n) {
    if (!ensure_data(st, c, n)) return 0;
    memcpy(c->data + c->data_len, s, (size_t)n);
    c->data_len += n;
    return 1;
}

/* The value of field f at p: its end, NULL when doubtful (or failed: st->status). */
static const uint8_t *field_value(state *st, int f, const uint8_t *p, const uint8_t *end) {
    const en_jc_field *fd = &st->plan->fields[f];
    en_jc_column *c = &st->cols[2 * f], *k = &st->cols[2 * f + 1];
    int64_t row = st->row, len, iv;
    int integral;
    const uint8_t *q = NULL;
    if (*p == 'n') {
        if (fd->key || !literal(p, end, "null", 4)) return NULL;
        st->null_at[f] = st->gen;
        return p + 4;
    }
    st->keys_set += fd->key;      /* null and anything else a key can't take fail the record below */
    if (*p == '"' && (fd->kind == EN_JC_STRING || fd->kind == EN_JC_NONE)) {
        en_jc_column *out = fd->kind == EN_JC_STRING ? c : k;
        if (!ensure_data(st, out, end - p)) return NULL;
        q = string_body(p + 1, end, out->data + out->data_len, &len);
        if (!q) return NULL;
        if (fd->key && fd->kind == EN_JC_STRING && !append(st, k, out->data + out->data_len, len)) return NULL;
        out->data_len += len;
        return q;
    }
    if (fd->key && *p != '"') {          /* a key that is no string must be an integer */
        q = number_end(p, end, &integral);
        if (!q || !integral || (q - p == 2 && p[0] == '-' && p[1] == '0') ||
            !to_int(p, q, INT64_MIN, INT64_MAX, &iv) || !append(st, k, p, q - p))
            return NULL;
    } else if (fd->key) {
        /* a string for a column of another kind: parsed below; its text is the key */
        q = p + 1 + plain_run(p + 1, end - p - 1);
        if (q >= end || *q != '"' || !append(st, k, p + 1, q - p - 1)) return NULL;
    }
    switch (fd->kind) {
    case EN_JC_NONE:
        return q;
    case EN_JC_STRING:
        return NULL;                     /* not a string (strings were taken above) */
    case EN_JC_BOOL:
        if (literal(p, end, "true", 4)) {
            c->values[row >> 3] |= (uint8_t)(1u << (row & 7));
            return p + 4;
        }
        if (literal(p, end, "false", 5)) {
            c->values[row >> 3] &= (uint8_t)~(1u << (row & 7));
            return p + 5;
        }
        return NULL;
    case EN_JC_TIMESTAMP:
    case EN_JC_DATE32: {
        if (*p != '"') return NULL;
        const uint8_t *s = p + 1;
        q = s + plain_run(s, end - s);        /* dates and times are plain ASCII */
        if (q >= end || *q != '"') return NULL;
        if (fd->kind == EN_JC_DATE32) {
            if (q - s != 10 || !parse_date(s, &iv)) return NULL;
            ((int32_t *)c->values)[row] = (int32_t)iv;
        } else {
            if (!parse_timestamp(s, q - s, fd->digits, &iv)) return NULL;
            ((int64_t *)c->values)[row] = iv;
        }
        return q + 1;
    }
    default:
        break;
    }
    /* numbers */
    q = number_end(p, end, &integral);
    if (!q) return NULL;
    switch (fd->kind) {
    case EN_JC_FLOAT64: ((double *)c->values)[row] = to_double(p, q, 0); return q;
    case EN_JC_FLOAT32: ((float *)c->values)[row] = (float)to_double(p, q, 1); return q;
    case EN_JC_INT8:
        if (!integral || !to_int(p, q, INT8_MIN, INT8_MAX, &iv)) return NULL;
        ((int8_t *)c->values)[row] = (int8_t)iv;
        return q;
    case EN_JC_INT16:
        if (!integral || !to_int(p, q, INT16_MIN, INT16_MAX, &iv)) return NULL;
        ((int16_t *)c->values)[row] = (int16_t)iv;
        return q;
    case EN_JC_INT32:
        if (!integral || !to_int(p, q, INT32_MIN, INT32_MAX, &iv)) return NULL;
        ((int32_t *)c->values)[row] = (int32_t)iv;
        return q;
    case EN_JC_INT64:
        if (!integral || !to_int(p, q, INT64_MIN, INT64_MAX, &iv)) return NULL;
        ((int64_t *)c->values)[row] = iv;
        return q;
    default:
        return NULL;
    }
}

EN_INLINE int close_offsets(state *st, en_jc_column *c) {
    if (c->data_len > INT32_MAX) {
        st->status = EN_ETOOBIG;
        return 0;
    }
    ((int32_t *)c->values)[st->row + 1] = (int32_t)c->data_len;
    return 1;
}

/* Close the row: keys all there, string offsets, nulls for the fields not set (validity bits). */
static int commit_row(state *st) {
    const en_jc_plan *plan = st->plan;
    int64_t row = st->row;
    uint8_t bit = (uint8_t)(1u << (row & 7));
    if (st->keys_set != plan->nkeys) return ROW_DOUBT;
    for (int i = 0; i < plan->noffsets; i++)     /* (a key is never null) */
        if (!close_offsets(st, &st->cols[plan->offsets[i]])) return ROW_FAIL;
    if (st->valued_set == plan->nvalued) return ROW_OK;      /* every bit is set from the start */
    for (int i = 0; i < plan->nvalued; i++) {
        int f = plan->valued[i];
        const en_jc_field *fd = &plan->fields[f];
        en_jc_column *c = &st->cols[2 * f];
        if (st->seen[f] == st->gen && st->null_at[f] != st->gen) continue;
        c->validity[row >> 3] &= (uint8_t)~bit;
        c->null_count++;
        switch (fd->kind) {    /* nulls hold zeros */
        case EN_JC_STRING: break;
        case EN_JC_BOOL: c->values[row >> 3] &= (uint8_t)~bit; break;
        default: memset(c->values + row * value_width(fd->kind), 0, (size_t)value_width(fd->kind));
        }
    }
    return ROW_OK;
}

/* Forget what a doubtful record appended to the string columns. */
static void drop_row(state *st) {
    for (int f = 0; f < st->plan->nfields; f++) {
        const en_jc_field *fd = &st->plan->fields[f];
        if (fd->kind == EN_JC_STRING) st->cols[2 * f].data_len = ((int32_t *)st->cols[2 * f].values)[st->row];
        if (fd->key) st->cols[2 * f + 1].data_len = ((int32_t *)st->cols[2 * f + 1].values)[st->row];
    }
}

static int parse_record(state *st, const uint8_t *p, const uint8_t *end) {
    const en_jc_plan *plan = st->plan;
    if (++st->gen == 0) {             /* wrapped: forget every mark */
        memset(st->seen, 0, sizeof(uint32_t) * (size_t)plan->nfields);
        memset(st->null_at, 0, sizeof(uint32_t) * (size_t)plan->nfields);
        st->gen = 1;
    }
    st->keys_set = 0;
    st->valued_set = 0;
    p = skip_ws(p, end);
    if (p >= end || *p != '{') return ROW_DOUBT;
    p = skip_ws(p + 1, end);
    if (p < end && *p == '}') {
        p++;
    } else {
        for (int at = 0;; at++) {
            if (p >= end || *p != '"') return ROW_DOUBT;
            const uint8_t *key = ++p;
            int f;
            name_slot *slot = at < NAME_CACHE ? &st->names[at] : NULL;
            if (slot && slot->name && slot->len < end - p && p[slot->len] == '"' &&
                en_same_bytes(slot->name, p, slot->len)) {
                p += slot->len;   /* the name at this position in the record before, to the byte */
                f = slot->field;
            } else {
                int64_t klen = plain_run(p, end - p);
                p += klen;
                if (p >= end || *p != '"') {
                    /* non-ASCII (checked as UTF-8) or an escape: a name with an escape is never matched */
                    int64_t len;
                    p = string_body(key, end, NULL, &len);
                    if (!p || memchr(key, '\\', (size_t)(p - 1 - key))) return ROW_DOUBT;
                    klen = p - 1 - key;
                    p--;      /* at the closing quote, as on the plain path */
                }
                f = member_field(st, at, key, klen);
            }
            p = skip_ws(p + 1, end);
            if (p >= end || *p != ':') return ROW_DOUBT;
            p = skip_ws(p + 1, end);
            if (p >= end) return ROW_DOUBT;
            if (f >= 0) {
                if (st->seen[f] == st->gen) return ROW_DOUBT;     /* repeated */
                st->seen[f] = st->gen;
                p = field_value(st, f, p, end);
                if (!p) return st->status != EN_OK ? ROW_FAIL : ROW_DOUBT;
                st->valued_set += plan->fields[f].kind != EN_JC_NONE && st->null_at[f] != st->gen;
            } else {
                if (f == -2) return ROW_DOUBT;
                p = skip_value(p, end, 1);
                if (!p) return ROW_DOUBT;
            }
            p = skip_ws(p, end);
            if (p >= end) return ROW_DOUBT;
            if (*p == '}') {
                p++;
                break;
            }
            if (*p != ',') return ROW_DOUBT;
            p = skip_ws(p + 1, end);
        }
    }
    if (skip_ws(p, end) != end) return ROW_DOUBT;      /* something after the object */
    return commit_row(st);
}

en_status en_jc_parse(const en_jc_plan *plan, const en_jc_segment *segs, int nsegs, en_jc_column *cols,
                      int64_t *rows, uint8_t *doubt) {
    state st;
    memset(&st, 0, sizeof(st));
    st.plan = plan;
    st.cols = cols;
    st.row = *rows;
    st.status = EN_OK;
    st.seen = calloc((size_t)plan->nfields + 1, sizeof(uint32_t));
    st.null_at = calloc((size_t)plan->nfields + 1, sizeof(uint32_t));
    if (!st.seen || !st.null_at) {
        free(st.seen);
        free(st.null_at);
        return EN_ENOMEM;
    }
    int64_t k = 0;
    for (int s = 0; s < nsegs && st.status == EN_OK; s++) {
        const en_jc_segment *seg = &segs[s];
        int64_t start = en_view_start(&seg->view, seg->start);
        for (int64_t i = 0; i < seg->count; i++, k++) {
            int64_t stop = en_view_start(&seg->view, seg->start + i + 1);
            int outcome = parse_record(&st, seg->view.data + start, seg->view.data + stop);
            start = stop;
            if (outcome == ROW_OK) {
                st.row++;
                doubt[k] = 0;
                continue;
            }
            if (outcome == ROW_FAIL) break;
            doubt[k] = 1;
            drop_row(&st);
        }
    }
    free(st.seen);
    free(st.null_at);
    *rows = st.row;
    return st.status;
}
