/* The one strict JSON scanner of the C layer, over a byte range: RFC 8259's
 * grammar, with raw bytes above 0x7F held to UTF-8 only on request
 * (VN_JSON_UTF8; the webhook takes them as lua-cjson does): whitespace,
 * strings (escapes checked and decoded, surrogates paired),
 * numbers, literals, and values skipped with a depth limit, in linear time.
 * The webhook checks walk the JOSE header, the claims and the event body
 * with it; the JWT signer checks the caller's {"acl": ...} with it. */
#ifndef VN_JSON_H
#define VN_JSON_H

#include <stddef.h>

/* Options of a scan. */
enum {
    /* Raw bytes >= 0x80 in strings must be UTF-8 (no overlong form, no
     * surrogate, nothing past U+10FFFF); without it they are taken as they
     * are, as lua-cjson takes them. */
    VN_JSON_UTF8 = 1,
    /* The depth limit holds for every value, not only for arrays and
     * objects: a scalar deeper than it is refused too. */
    VN_JSON_SCALAR_DEPTH = 2
};

typedef struct vn_json {
    const unsigned char *p, *end; /* the next byte, and the end of the text */
    int max_depth;                /* the top value is at depth 1 */
    int flags;
} vn_json;

static inline void vn_json_init(vn_json *j, const void *text, size_t n, int max_depth, int flags)
{
    j->p = text;
    j->end = j->p + n;
    j->max_depth = max_depth;
    j->flags = flags;
}

static inline void vn_json_ws(vn_json *j)
{
    while (j->p < j->end && (*j->p == ' ' || *j->p == '\t' || *j->p == '\n' || *j->p == '\r'))
        j->p++;
}

/* Each returns 0 with j->p past what it read, or -1 (j->p then undefined). */

/* The string at j->p, its escapes decoded into out: at most cap bytes kept,
 * *len the whole decoded length (so *len > cap: it did not fit). out may be
 * NULL to only check it. */
int vn_json_string(vn_json *j, char *out, size_t cap, size_t *len);

/* A number; *integer says whether it had neither fraction nor exponent. */
int vn_json_number(vn_json *j, int *integer);

/* The literal word (true, false, null). */
int vn_json_literal(vn_json *j, const char *word);

/* Any value at j->p, at the given depth, skipped. */
int vn_json_skip(vn_json *j, int depth);

/* Calls member(ctx, key, key_len, j) for each member of the object at j->p
 * (at depth), j->p at the member's value, which the callback consumes. Keys
 * longer than 32 bytes are passed truncated with their true length, so they
 * match no name. */
typedef int (*vn_json_member_fn)(void *ctx, const char *key, size_t key_len, vn_json *j);
int vn_json_object(vn_json *j, int depth, vn_json_member_fn member, void *ctx);

/* A whole text that must be one object (at depth 1) and nothing after it. */
static inline int vn_json_document(const void *text, size_t n, int max_depth, int flags,
                                   vn_json_member_fn member, void *ctx)
{
    vn_json j;
    vn_json_init(&j, text, n, max_depth, flags);
    vn_json_ws(&j);
    if (vn_json_object(&j, 1, member, ctx) != 0)
        return -1;
    vn_json_ws(&j);
    return j.p == j.end ? 0 : -1;
}

/* The length of the UTF-8 sequence at s (at most n bytes), or 0 when it is
 * not one (overlong forms, surrogates and values past U+10FFFF included). */
size_t vn_json_utf8_len(const unsigned char *s, size_t n);

#endif
