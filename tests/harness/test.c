/* SPDX-License-Identifier: MIT */
/*
 * tests/harness/test.c - runner, failure reporting, seeded randomness and machine helpers.
 */
#include "test.h"

#include <time.h>

int test_failures;
uint64_t test_seed_value;
int test_verbose;
static int total_failures;
static const char *current_test = "?";

void test_fail_(const char *file, int line, const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "FAIL %s (%s:%d): ", current_test, file, line);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    test_failures++;
}

_Noreturn void test_skip(const char *why)
{
    printf("SKIP: %s\n", why);
    exit(77);
}

static uint64_t splitmix64(uint64_t *x)
{
    uint64_t z = (*x += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

void test_rng_init(struct test_rng *r, uint64_t seed)
{
    uint64_t x = seed;
    for (int i = 0; i < 4; i++)
        r->s[i] = splitmix64(&x);
}

static uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

uint64_t test_rng_next(struct test_rng *r)
{
    uint64_t *s = r->s;
    uint64_t res = rotl(s[1] * 5, 7) * 9, t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return res;
}

uint64_t test_rng_below(struct test_rng *r, uint64_t n)
{
    /* Lemire's multiply-shift; the tiny bias is irrelevant for tests. */
    return (uint64_t)(((unsigned __int128)test_rng_next(r) * n) >> 64);
}

uint64_t test_env_u64(const char *name, uint64_t def)
{
    const char *v = getenv(name);
    return v && *v ? strtoull(v, NULL, 0) : def;
}

int test_main_(int argc, char **argv, const struct test_case *cases, size_t n)
{
    const char *only = NULL;
    test_seed_value = test_env_u64("CMA_TEST_SEED", 0x5eed);
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "-v"))
            test_verbose = 1;
        else if (!strcmp(argv[i], "--seed") && i + 1 < argc)
            test_seed_value = strtoull(argv[++i], NULL, 0);
        else
            only = argv[i];
    }
    for (size_t i = 0; i < n; i++) {
        if (only && strcmp(only, cases[i].name))
            continue;
        current_test = cases[i].name;
        test_failures = 0;
        if (test_verbose)
            printf("RUN  %s\n", cases[i].name);
        cases[i].fn();
        if (test_failures) {
            fprintf(stderr, "FAIL %s: %d failure(s); seed %" PRIu64 " (replay: CMA_TEST_SEED=%" PRIu64
                    " %s %s)\n", cases[i].name, test_failures, test_seed_value, test_seed_value,
                    argv[0], cases[i].name);
            total_failures += test_failures;
        } else if (test_verbose) {
            printf("OK   %s\n", cases[i].name);
        }
    }
    return total_failures ? 1 : 0;
}

struct cma_mm *test_mm_boot(void (*tweak)(struct cma_mm_config *),
                            int (*boot)(struct cma_mm *, const void *), const void *arg)
{
    struct cma_mm_config cfg;
    struct cma_mm *mm = NULL;
    cma_mm_config_default(&cfg);
    if (tweak)
        tweak(&cfg);
    int r = cma_mm_create(&cfg, &mm);
    if (r) {
        test_fail_(__FILE__, __LINE__, "cma_mm_create: %s", cma_err_name(r));
        return NULL;
    }
    if ((r = boot(mm, arg)) || (r = cma_mm_online(mm))) {
        test_fail_(__FILE__, __LINE__, "machine setup: %s", cma_err_name(r));
        (void)cma_mm_destroy(mm);
        return NULL;
    }
    return mm;
}

struct simple_layout {
    uint64_t base, bytes;
};

static int boot_simple(struct cma_mm *mm, const void *arg)
{
    const struct simple_layout *l = arg;
    return cma_memblock_add(mm, l->base, l->bytes);
}

struct cma_mm *test_mm_simple(uint64_t base, uint64_t bytes, void (*tweak)(struct cma_mm_config *))
{
    const struct simple_layout l = {base, bytes};
    return test_mm_boot(tweak, boot_simple, &l);
}

char *test_read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    char *buf = NULL;
    size_t cap = 0, n = 0, got;
    do {
        if (n + 65536 + 1 > cap) {
            cap = cap * 2 + 65536 + 1;
            char *nb = realloc(buf, cap);
            if (!nb) {
                free(buf);
                fclose(f);
                return NULL;
            }
            buf = nb;
        }
        got = fread(buf + n, 1, 65536, f);
        n += got;
    } while (got > 0);
    fclose(f);
    buf[n] = '\0';
    *len = n;
    return buf;
}

void test_mm_finish(struct cma_mm *mm)
{
    if (!mm)
        return;
    EXPECT_CHECK(mm);
    int r = cma_mm_destroy(mm);
    if (r)
        test_fail_(__FILE__, __LINE__, "cma_mm_destroy: %s (pages leaked?)", cma_err_name(r));
}
