/* The baseline: a plain libcurl loop of N keep-alive GETs to one URL.
 * usage: curl_loop URL N  -> prints the seconds taken */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <curl/curl.h>

static size_t discard(char *p, size_t size, size_t nmemb, void *ud)
{
    (void)p;
    (void)ud;
    return size * nmemb;
}

int main(int argc, char **argv)
{
    struct timespec t0, t1;
    CURL *easy;
    long n;
    if (argc != 3)
        return 2;
    n = atol(argv[2]);
    curl_global_init(CURL_GLOBAL_DEFAULT);
    easy = curl_easy_init();
    curl_easy_setopt(easy, CURLOPT_URL, argv[1]);
    curl_easy_setopt(easy, CURLOPT_WRITEFUNCTION, discard);
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (long i = 0; i < n; i++) {
        if (curl_easy_perform(easy) != CURLE_OK)
            return 1;
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    printf("%.6f\n", (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9);
    curl_easy_cleanup(easy);
    curl_global_cleanup();
    return 0;
}
