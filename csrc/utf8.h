/* Text checks over UTF-8 bytes: well-formedness with a character count, and the XML 1.0
 * character ranges
 *   #x9 | #xA | #xD | [#x20-#xD7FF] | [#xE000-#xFFFD] | [#x10000-#x10FFFF]
 * (what XML-based message protocols accept in a text body). */
#ifndef EN_UTF8_H
#define EN_UTF8_H

#include "common.h"

/* 1 when s[0..n) is well-formed UTF-8 whose every character is in the XML ranges, else 0. */
int en_xml_text_ok(const uint8_t *s, size_t n);

/* Code points in s[0..n) when it is well-formed UTF-8 (no overlong forms, no surrogates,
 * nothing above U+10FFFF), else -1. */
int64_t en_utf8_count(const uint8_t *s, size_t n);

#endif
