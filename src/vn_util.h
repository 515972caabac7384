/* Small pure helpers shared by the C core: encodings, CSPRNG, constant time. */
#ifndef VN_UTIL_H
#define VN_UTIL_H

#include <stddef.h>

/* Standard base64 with padding; out must hold vn_base64_len(n) + 1 bytes. */
size_t vn_base64_len(size_t n);
void vn_base64_encode(const unsigned char *in, size_t n, char *out);

/* The 6-bit value of each base64url character, -1 for any other byte (a
 * table: decoders read it per character), and the same as a function. */
extern const signed char vn_b64url_digits[256];
int vn_b64url_value(unsigned char c);

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
