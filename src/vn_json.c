/*
 * The strict JSON scanner (vn_json.h). Every byte is looked at once or a
 * bounded number of times; recursion is bounded by the depth limit.
 */
#include "vn_json.h"

#include <string.h>

#if defined(__GNUC__)
#define VN_JSON_INLINE inline __attribute__((always_inline))
#else
#define VN_JSON_INLINE inline
#endif

/* What a byte is inside a string: 0 (a quote, a backslash, a control
 * character: the run of plain bytes stops), 1 (plain ASCII) or 2 (>= 0x80:
 * plain unless the scan checks UTF-8). */
static const unsigned char STRING_BYTE[256] = {
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    1, 1, 0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 1, 1, 1,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2,
    2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2,
    2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2,
    2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2,
};

size_t vn_json_utf8_len(const unsigned char *s, size_t n)
{
    unsigned c = s[0], min, v;
    size_t len, i;
    if (c < 0x80)
        return 1;
    if (c >= 0xc2 && c <= 0xdf)
        len = 2, min = 0x80, v = c & 0x1f;
    else if (c >= 0xe0 && c <= 0xef)
        len = 3, min = 0x800, v = c & 0x0f;
    else if (c >= 0xf0 && c <= 0xf4)
        len = 4, min = 0x10000, v = c & 0x07;
    else
        return 0;
    if (n < len)
        return 0;
    for (i = 1; i < len; i++) {
        if ((s[i] & 0xc0) != 0x80)
            return 0;
        v = (v << 6) | (s[i] & 0x3f);
    }
    if (v < min || v > 0x10ffff || (v >= 0xd800 && v <= 0xdfff))
        return 0;
    return len;
}

static int hex4(const unsigned char *p, unsigned *v)
{
    *v = 0;
    for (int i = 0; i < 4; i++) {
        unsigned char ch = p[i];
        unsigned d;
        if (ch >= '0' && ch <= '9') d = ch - '0';
        else if (ch >= 'a' && ch <= 'f') d = ch - 'a' + 10;
        else if (ch >= 'A' && ch <= 'F') d = ch - 'A' + 10;
        else return -1;
        *v = *v << 4 | d;
    }
    return 0;
}

static void put(char *out, size_t cap, size_t *len, unsigned char ch)
{
    if (out != NULL && *len < cap)
        out[*len] = (char)ch;
    (*len)++;
}

static void put_utf8(char *out, size_t cap, size_t *len, unsigned cp)
{
    if (cp < 0x80) {
        put(out, cap, len, (unsigned char)cp);
    } else if (cp < 0x800) {
        put(out, cap, len, (unsigned char)(0xc0 | cp >> 6));
        put(out, cap, len, (unsigned char)(0x80 | (cp & 0x3f)));
    } else if (cp < 0x10000) {
        put(out, cap, len, (unsigned char)(0xe0 | cp >> 12));
        put(out, cap, len, (unsigned char)(0x80 | (cp >> 6 & 0x3f)));
        put(out, cap, len, (unsigned char)(0x80 | (cp & 0x3f)));
    } else {
        put(out, cap, len, (unsigned char)(0xf0 | cp >> 18));
        put(out, cap, len, (unsigned char)(0x80 | (cp >> 12 & 0x3f)));
        put(out, cap, len, (unsigned char)(0x80 | (cp >> 6 & 0x3f)));
        put(out, cap, len, (unsigned char)(0x80 | (cp & 0x3f)));
    }
}

/* vn_json_string for one value of VN_JSON_UTF8, a constant: each caller
 * below gets its own copy, so the webhook's raw scan pays nothing for the
 * UTF-8 checks. */
static VN_JSON_INLINE int scan_string(vn_json *j, char *out, size_t cap, size_t *len, const int utf8)
{
    const unsigned char *p = j->p, *end = j->end;
    size_t n = 0;
    if (p >= end || *p != '"')
        return -1;
    p++;
    for (;;) {
        /* a run of plain bytes, copied at once */
        const unsigned char *run = p;
        unsigned char ch;
        while (p < end && (utf8 ? STRING_BYTE[*p] == 1 : STRING_BYTE[*p] != 0))
            p++;
        if (out != NULL && n < cap)
            memcpy(out + n, run, (size_t)(p - run) < cap - n ? (size_t)(p - run) : cap - n);
        n += (size_t)(p - run);
        if (p >= end || *p < 0x20)
            return -1;
        if (utf8 && *p >= 0x80) { /* one whole UTF-8 sequence */
            size_t u = vn_json_utf8_len(p, (size_t)(end - p));
            if (u == 0)
                return -1;
            while (u-- > 0)
                put(out, cap, &n, *p++);
            continue;
        }
        if (*p++ == '"')
            break;
        if (p >= end)
            return -1;
        ch = *p++;
        switch (ch) {
        case '"': case '\\': case '/': put(out, cap, &n, ch); break;
        case 'b': put(out, cap, &n, '\b'); break;
        case 'f': put(out, cap, &n, '\f'); break;
        case 'n': put(out, cap, &n, '\n'); break;
        case 'r': put(out, cap, &n, '\r'); break;
        case 't': put(out, cap, &n, '\t'); break;
        case 'u': {
            /* a surrogate only as a high-low pair: what lua-cjson decodes */
            unsigned cp, low;
            if (end - p < 4 || hex4(p, &cp) != 0)
                return -1;
            p += 4;
            if (cp >= 0xd800 && cp <= 0xdbff) {
                if (end - p < 6 || p[0] != '\\' || p[1] != 'u' || hex4(p + 2, &low) != 0 ||
                    low < 0xdc00 || low > 0xdfff)
                    return -1;
                p += 6;
                cp = 0x10000 + ((cp - 0xd800) << 10) + (low - 0xdc00);
            } else if (cp >= 0xdc00 && cp <= 0xdfff) {
                return -1;
            }
            put_utf8(out, cap, &n, cp);
            break;
        }
        default:
            return -1;
        }
    }
    j->p = p;
    *len = n;
    return 0;
}

int vn_json_string(vn_json *j, char *out, size_t cap, size_t *len)
{
    return (j->flags & VN_JSON_UTF8) ? scan_string(j, out, cap, len, 1) : scan_string(j, out, cap, len, 0);
}

static int at_digit(const vn_json *j)
{
    return j->p < j->end && *j->p >= '0' && *j->p <= '9';
}

int vn_json_number(vn_json *j, int *integer)
{
    *integer = 1;
    if (j->p < j->end && *j->p == '-')
        j->p++;
    if (!at_digit(j))
        return -1;
    if (*j->p == '0')
        j->p++;
    else
        while (at_digit(j))
            j->p++;
    if (j->p < j->end && *j->p == '.') {
        *integer = 0;
        j->p++;
        if (!at_digit(j))
            return -1;
        while (at_digit(j))
            j->p++;
    }
    if (j->p < j->end && (*j->p == 'e' || *j->p == 'E')) {
        *integer = 0;
        j->p++;
        if (j->p < j->end && (*j->p == '+' || *j->p == '-'))
            j->p++;
        if (!at_digit(j))
            return -1;
        while (at_digit(j))
            j->p++;
    }
    return 0;
}

int vn_json_literal(vn_json *j, const char *word)
{
    size_t n = strlen(word);
    if ((size_t)(j->end - j->p) < n || memcmp(j->p, word, n) != 0)
        return -1;
    j->p += n;
    return 0;
}

int vn_json_object(vn_json *j, int depth, vn_json_member_fn member, void *ctx)
{
    char key[32];
    if (depth > j->max_depth || j->p >= j->end || *j->p != '{')
        return -1;
    j->p++;
    vn_json_ws(j);
    if (j->p < j->end && *j->p == '}') {
        j->p++;
        return 0;
    }
    for (;;) {
        size_t key_len;
        if (vn_json_string(j, key, sizeof key, &key_len) != 0)
            return -1;
        vn_json_ws(j);
        if (j->p >= j->end || *j->p != ':')
            return -1;
        j->p++;
        vn_json_ws(j);
        if (member(ctx, key, key_len, j) != 0)
            return -1;
        vn_json_ws(j);
        if (j->p >= j->end)
            return -1;
        if (*j->p == '}') {
            j->p++;
            return 0;
        }
        if (*j->p++ != ',')
            return -1;
        vn_json_ws(j);
    }
}

static int skip_member(void *ctx, const char *key, size_t key_len, vn_json *j)
{
    (void)key;
    (void)key_len;
    return vn_json_skip(j, *(int *)ctx);
}

int vn_json_skip(vn_json *j, int depth)
{
    size_t len;
    int integer;
    if (j->p >= j->end)
        return -1;
    if (depth > j->max_depth && ((j->flags & VN_JSON_SCALAR_DEPTH) || *j->p == '{' || *j->p == '['))
        return -1;
    switch (*j->p) {
    case '{': {
        int inner = depth + 1;
        return vn_json_object(j, depth, skip_member, &inner);
    }
    case '[':
        j->p++;
        vn_json_ws(j);
        if (j->p < j->end && *j->p == ']') {
            j->p++;
            return 0;
        }
        for (;;) {
            vn_json_ws(j);
            if (vn_json_skip(j, depth + 1) != 0)
                return -1;
            vn_json_ws(j);
            if (j->p >= j->end)
                return -1;
            if (*j->p == ']') {
                j->p++;
                return 0;
            }
            if (*j->p++ != ',')
                return -1;
        }
    case '"':
        return vn_json_string(j, NULL, 0, &len);
    case 't':
        return vn_json_literal(j, "true");
    case 'f':
        return vn_json_literal(j, "false");
    case 'n':
        return vn_json_literal(j, "null");
    default:
        return vn_json_number(j, &integer);
    }
}
