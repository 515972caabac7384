/* The baselines of make bench: plain libcurl and OpenSSL doing what the module
 * does, with the same requests and the same headers.
 *   curl_loop easy  BASE N KEY APP_ID      N flows (start + check) one at a time -> seconds
 *   curl_loop multi BASE N KEY APP_ID W    N flows, W in flight on one multi -> seconds p99_ms
 *   curl_loop get   URL N [KEY APP_ID]     N keep-alive GETs (with the JWT) -> seconds peak_rss_kib
 *   curl_loop tokens N SECRET BODY         N distinct Vonage-style HS256 tokens for BODY, one a line
 *   curl_loop verify N SECRET BODY < tokens  HS256 + SHA-256 payload_hash of each -> seconds
 * A flow: POST /v2/verify {brand, code, workflow: [sms]} then POST /v2/verify/ID {code}.
 * The JWT is signed once (RS256), as the module's cache does. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/resource.h>
#include <curl/curl.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/pem.h>
#include <openssl/crypto.h>
#include <openssl/sha.h>

#define UA "User-Agent: lua-vonage/bench"

static double now_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static void b64url(const unsigned char *in, size_t n, char *out)
{
    static const char a[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    size_t i, o = 0;
    for (i = 0; i + 2 < n; i += 3) {
        unsigned v = (unsigned)in[i] << 16 | (unsigned)in[i + 1] << 8 | in[i + 2];
        out[o++] = a[v >> 18 & 63]; out[o++] = a[v >> 12 & 63];
        out[o++] = a[v >> 6 & 63]; out[o++] = a[v & 63];
    }
    if (n - i == 1) {
        unsigned v = (unsigned)in[i] << 16;
        out[o++] = a[v >> 18 & 63]; out[o++] = a[v >> 12 & 63];
    } else if (n - i == 2) {
        unsigned v = (unsigned)in[i] << 16 | (unsigned)in[i + 1] << 8;
        out[o++] = a[v >> 18 & 63]; out[o++] = a[v >> 12 & 63]; out[o++] = a[v >> 6 & 63];
    }
    out[o] = 0;
}

static size_t b64url_dec(const char *in, size_t n, unsigned char *out)
{
    size_t o = 0;
    unsigned v = 0;
    int bits = 0;
    for (size_t i = 0; i < n; i++) {
        int c = in[i], d;
        if (c >= 'A' && c <= 'Z') d = c - 'A';
        else if (c >= 'a' && c <= 'z') d = c - 'a' + 26;
        else if (c >= '0' && c <= '9') d = c - '0' + 52;
        else if (c == '-') d = 62;
        else if (c == '_') d = 63;
        else return 0;
        v = v << 6 | (unsigned)d;
        bits += 6;
        if (bits >= 8) { bits -= 8; out[o++] = (unsigned char)(v >> bits); }
    }
    return o;
}

static void hex(const unsigned char *d, size_t n, char *out)
{
    for (size_t i = 0; i < n; i++) sprintf(out + 2 * i, "%02x", d[i]);
}

/* "Authorization: Bearer <RS256 JWT>" for app_id, signed with the key at path. */
static char *bearer(const char *path, const char *app_id)
{
    static char out[4096];
    char claims[512], seg[2048], sig64[1024];
    unsigned char sig[512];
    size_t siglen = sizeof sig;
    long t = (long)time(NULL);
    FILE *f = fopen(path, "r");
    EVP_PKEY *key = f ? PEM_read_PrivateKey(f, NULL, NULL, NULL) : NULL;
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    if (f) fclose(f);
    if (!key) exit(3);
    snprintf(claims, sizeof claims, "{\"application_id\":\"%s\",\"iat\":%ld,\"exp\":%ld,\"jti\":\"bench-%ld-%d\"}",
             app_id, t, t + 900, t, rand());
    strcpy(seg, "eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCJ9."); /* {"alg":"RS256","typ":"JWT"} */
    b64url((const unsigned char *)claims, strlen(claims), seg + strlen(seg));
    if (EVP_DigestSignInit(md, NULL, EVP_sha256(), NULL, key) != 1 ||
        EVP_DigestSign(md, sig, &siglen, (const unsigned char *)seg, strlen(seg)) != 1)
        exit(3);
    b64url(sig, siglen, sig64);
    snprintf(out, sizeof out, "Authorization: Bearer %s.%s", seg, sig64);
    EVP_MD_CTX_free(md);
    EVP_PKEY_free(key);
    return out;
}

struct slot {
    CURL *easy;
    struct curl_slist *headers;
    char url[512], body[256], resp[4096];
    size_t resp_len;
    int step; /* 0 start, 1 check */
    long flow;
    double t0;
};

static size_t collect(char *p, size_t size, size_t nmemb, void *ud)
{
    struct slot *s = ud;
    size_t n = size * nmemb;
    if (s->resp_len + n < sizeof s->resp) {
        memcpy(s->resp + s->resp_len, p, n);
        s->resp_len += n;
        s->resp[s->resp_len] = 0;
    }
    return n;
}

static const char *base_url;
static long run_tag;

/* Sets the slot's easy handle up for its next request. */
static void prepare(struct slot *s)
{
    if (s->step == 0) {
        snprintf(s->url, sizeof s->url, "%s/v2/verify", base_url);
        snprintf(s->body, sizeof s->body,
                 "{\"brand\":\"ACME\",\"code\":\"1234\",\"workflow\":[{\"channel\":\"sms\",\"to\":\"44%03ld%07ld\"}]}",
                 run_tag % 1000, s->flow);
    } else {
        char *id = strstr(s->resp, "\"request_id\":\"");
        char *end = id ? strchr(id + 14, '"') : NULL;
        if (!end) { fprintf(stderr, "no request_id: %s\n", s->resp); exit(4); }
        *end = 0;
        snprintf(s->url, sizeof s->url, "%s/v2/verify/%s", base_url, id + 14);
        strcpy(s->body, "{\"code\":\"1234\"}");
    }
    s->resp_len = 0;
    s->resp[0] = 0;
    curl_easy_setopt(s->easy, CURLOPT_URL, s->url);
    curl_easy_setopt(s->easy, CURLOPT_POSTFIELDS, s->body);
    s->t0 = now_s();
}

static void slot_init(struct slot *s, const char *auth)
{
    memset(s, 0, sizeof *s);
    s->easy = curl_easy_init();
    s->headers = curl_slist_append(NULL, "Accept: application/json");
    s->headers = curl_slist_append(s->headers, UA);
    s->headers = curl_slist_append(s->headers, "Content-Type: application/json");
    s->headers = curl_slist_append(s->headers, auth);
    curl_easy_setopt(s->easy, CURLOPT_HTTPHEADER, s->headers);
    curl_easy_setopt(s->easy, CURLOPT_WRITEFUNCTION, collect);
    curl_easy_setopt(s->easy, CURLOPT_WRITEDATA, s);
    curl_easy_setopt(s->easy, CURLOPT_NOSIGNAL, 1L);
}

static int cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static int easy_flows(long n, const char *auth)
{
    struct slot s;
    double t0 = 0;
    slot_init(&s, auth);
    for (long i = -1; i < n; i++) { /* flow -1 opens the connection, as bench.lua's first */
        long code;
        if (i == 0) t0 = now_s();
        s.flow = i + 1;
        for (s.step = 0; s.step < 2; s.step++) {
            prepare(&s);
            if (curl_easy_perform(s.easy) != CURLE_OK) return 1;
            curl_easy_getinfo(s.easy, CURLINFO_RESPONSE_CODE, &code);
            if (code != (s.step == 0 ? 202 : 200)) { fprintf(stderr, "HTTP %ld: %s\n", code, s.resp); return 1; }
        }
    }
    printf("%.6f\n", now_s() - t0);
    return 0;
}

static int multi_flows(long n, const char *auth, int window)
{
    CURLM *m = curl_multi_init();
    struct slot *slots = calloc((size_t)window, sizeof *slots);
    double *lat = calloc((size_t)(2 * n), sizeof *lat);
    long next = 0, done = 0, nlat = 0;
    int running = 0;
    double t0 = now_s();
    for (int i = 0; i < window && next < n; i++) {
        slot_init(&slots[i], auth);
        curl_easy_setopt(slots[i].easy, CURLOPT_PRIVATE, &slots[i]);
        slots[i].flow = next++;
        prepare(&slots[i]);
        curl_multi_add_handle(m, slots[i].easy);
    }
    while (done < n) {
        CURLMsg *msg;
        int left;
        curl_multi_perform(m, &running);
        while ((msg = curl_multi_info_read(m, &left))) {
            struct slot *s;
            long code;
            if (msg->msg != CURLMSG_DONE) continue;
            curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&s);
            curl_easy_getinfo(s->easy, CURLINFO_RESPONSE_CODE, &code);
            if (msg->data.result != CURLE_OK || code != (s->step == 0 ? 202 : 200)) {
                fprintf(stderr, "HTTP %ld: %s\n", code, s->resp);
                return 1;
            }
            lat[nlat++] = now_s() - s->t0;
            curl_multi_remove_handle(m, s->easy);
            if (s->step == 0) {
                s->step = 1;
            } else {
                done++;
                if (next >= n) continue;
                s->step = 0;
                s->flow = next++;
            }
            prepare(s);
            curl_multi_add_handle(m, s->easy);
        }
        if (done < n) curl_multi_poll(m, NULL, 0, 100, NULL);
    }
    qsort(lat, (size_t)nlat, sizeof *lat, cmp);
    printf("%.6f %.3f\n", now_s() - t0, lat[(size_t)((double)nlat * 0.99)] * 1000);
    return 0;
}

static int get_loop(const char *url, long n, const char *auth)
{
    struct slot s;
    struct rusage ru;
    double t0 = now_s();
    slot_init(&s, auth);
    curl_easy_setopt(s.easy, CURLOPT_URL, url);
    for (long i = 0; i < n; i++) {
        s.resp_len = 0;
        if (curl_easy_perform(s.easy) != CURLE_OK) return 1;
    }
    getrusage(RUSAGE_SELF, &ru);
    printf("%.6f %ld\n", now_s() - t0, ru.ru_maxrss);
    return 0;
}

static const char HEAD64[] = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9"; /* {"alg":"HS256","typ":"JWT"} */

static int tokens(long n, const char *secret, const char *body)
{
    unsigned char d[32];
    char h[65], claims[512], seg[1024], sig[64];
    unsigned len;
    long t = (long)time(NULL);
    SHA256((const unsigned char *)body, strlen(body), d);
    hex(d, 32, h);
    for (long i = 0; i < n; i++) {
        snprintf(claims, sizeof claims,
                 "{\"iss\":\"Vonage\",\"iat\":%ld,\"jti\":\"bench-%ld-%ld\",\"payload_hash\":\"%s\",\"api_key\":\"devkey01\"}",
                 t, t, i, h);
        snprintf(seg, sizeof seg, "%s.", HEAD64);
        b64url((const unsigned char *)claims, strlen(claims), seg + strlen(seg));
        HMAC(EVP_sha256(), secret, (int)strlen(secret), (const unsigned char *)seg, strlen(seg), d, &len);
        b64url(d, len, sig);
        printf("Bearer %s.%s\n", seg, sig);
    }
    return 0;
}

/* Each token: the HS256 signature, then the body's SHA-256 against payload_hash. */
static int verify(long n, const char *secret, const char *body)
{
    char **tok = calloc((size_t)n, sizeof *tok);
    char line[2048];
    long ok = 0;
    for (long i = 0; i < n && fgets(line, sizeof line, stdin); i++) {
        line[strcspn(line, "\n")] = 0;
        tok[i] = strdup(line + 7); /* after "Bearer " */
    }
    double t0 = now_s();
    for (long i = 0; i < n; i++) {
        unsigned char d[32], claims[1024];
        char sig[64], h[65];
        unsigned len;
        char *dot2 = strrchr(tok[i], '.'), *dot1 = strchr(tok[i], '.'), *p;
        size_t cl;
        HMAC(EVP_sha256(), secret, (int)strlen(secret), (unsigned char *)tok[i], (size_t)(dot2 - tok[i]), d, &len);
        b64url(d, len, sig);
        if (strlen(sig) != strlen(dot2 + 1) || CRYPTO_memcmp(sig, dot2 + 1, strlen(sig)) != 0) continue;
        cl = b64url_dec(dot1 + 1, (size_t)(dot2 - dot1 - 1), claims);
        claims[cl] = 0;
        p = strstr((char *)claims, "\"payload_hash\":\"");
        SHA256((const unsigned char *)body, strlen(body), d);
        hex(d, 32, h);
        if (p && CRYPTO_memcmp(p + 16, h, 64) == 0) ok++;
    }
    printf("%.6f\n", now_s() - t0);
    return ok == n ? 0 : 5;
}

int main(int argc, char **argv)
{
    int rc = 2;
    if (argc < 3) return 2;
    curl_global_init(CURL_GLOBAL_DEFAULT);
    srand((unsigned)time(NULL) ^ (unsigned)clock());
    run_tag = rand();
    base_url = argv[2];
    if (!strcmp(argv[1], "easy") && argc == 6)
        rc = easy_flows(atol(argv[3]), bearer(argv[4], argv[5]));
    else if (!strcmp(argv[1], "multi") && argc == 7)
        rc = multi_flows(atol(argv[3]), bearer(argv[4], argv[5]), atoi(argv[6]));
    else if (!strcmp(argv[1], "get") && argc == 4)
        rc = get_loop(argv[2], atol(argv[3]), "Accept: application/json");
    else if (!strcmp(argv[1], "get") && argc == 6) /* with the module's Authorization, signed once */
        rc = get_loop(argv[2], atol(argv[3]), bearer(argv[4], argv[5]));
    else if (!strcmp(argv[1], "tokens") && argc == 5)
        rc = tokens(atol(argv[2]), argv[3], argv[4]);
    else if (!strcmp(argv[1], "verify") && argc == 5)
        rc = verify(atol(argv[2]), argv[3], argv[4]);
    curl_global_cleanup();
    return rc;
}
