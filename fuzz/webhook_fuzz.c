/*
 * libFuzzer target for the webhook token checks (src/vn_webhook.c).
 * Input layout: the Authorization header, then optionally a 0xff byte and the
 * body. The secret is fixed, so tokens in the seed corpus (signed with it)
 * reach the claim parser and the payload_hash comparison.
 */
#include "../src/vn_webhook.h"

#include <stdint.h>
#include <string.h>

#define FUZZ_SECRET "fuzz-signature-secret-0123456789"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static vn_webhook_result result;
    const uint8_t *split = memchr(data, 0xff, size);
    size_t auth_len = split ? (size_t)(split - data) : size;
    const uint8_t *body = split ? split + 1 : data + size;
    size_t body_len = split ? size - auth_len - 1 : 0;
    int rc = vn_webhook_check((const char *)data, auth_len, (const unsigned char *)FUZZ_SECRET,
                              sizeof FUZZ_SECRET - 1, body, body_len, &result);
    /* Every outcome is complete: a code on failure, claims within bounds on success. */
    if (rc != 0 && (result.code == NULL || result.message == NULL))
        __builtin_trap();
    if (rc == 0 && result.claims_len > sizeof result.claims_json)
        __builtin_trap();
    return 0;
}
