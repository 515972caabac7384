/* Small pure helpers shared by the C core: encodings, CSPRNG, constant time. */
#ifndef VN_UTIL_H
#define VN_UTIL_H

#include <stddef.h>

/* Standard base64 with padding; out must hold vn_base64_len(n) + 1 bytes. */
size_t vn_base64_len(size_t n);
void vn_base64_encode(const unsigned char *in, size_t n, char *out);

/* Strict unpadded base64url of s (n bytes) into out (cap bytes): the
 * length decoded, or -1 unless s is the one canonical encoding of a byte
 * string that fits (a length of 1 mod 4, or low bits left set, is refused).
 * n / 4 * 3 + 2 bytes always suffice. */
long vn_b64url_decode(const char *s, size_t n, unsigned char *out, size_t cap);

/* Unpadded base64url of in into out (room for 4 * ceil(n / 3) bytes, no NUL
 * added); returns the length written. */
size_t vn_b64url_encode(const unsigned char *in, size_t n, char *out);

/* Fills buf from the OpenSSL CSPRNG; returns 0 on success, -1 on failure. */
int vn_random_bytes(unsigned char *buf, size_t n);

/* A random (version 4) UUID in canonical form; out holds 37 bytes. */
int vn_uuid4(char out[37]);

/* Compares two byte strings without an early exit on the first difference. */
int vn_const_equal(const void *a, size_t alen, const void *b, size_t blen);

/* Overwrites memory in a way the compiler may not remove, then frees it. */
void vn_free_secret(void *p, size_t n);
char *vn_strdup_len(const char *s, size_t n);

#endif
