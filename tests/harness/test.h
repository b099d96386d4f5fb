/* SPDX-License-Identifier: MIT */
/*
 * tests/harness/test.h - the one small test harness.
 *
 * Quiet when green (-v prints each test), prints both operands of a failed expectation, seeded
 * randomness that prints its seed on failure (CMA_TEST_SEED=N or --seed N to replay).
 * Exit codes: 0 pass, 77 skip (ctest SKIP_RETURN_CODE), 1 fail.
 *
 *   static void test_foo(void) { EXPECT_EQ(1 + 1, 2); ASSERT_OK(cma_mm_create(...)); }
 *   int main(int argc, char **argv) { return test_main(argc, argv, TEST(test_foo), TEST(test_bar)); }
 *
 * EXPECT_* record a failure and go on; ASSERT_* record it and return from the test function.
 * API tests define CMA_TEST_API_ONLY before including this file, which makes internal headers fail.
 */
#ifndef CMA_TEST_H
#define CMA_TEST_H

#include <cma/cma.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct test_case {
    const char *name;
    void (*fn)(void);
};
#define TEST(f) ((struct test_case){#f, f})

extern int test_failures;          /* failures in the current test */
extern uint64_t test_seed_value;   /* seed of the current run */
extern int test_verbose;

void test_fail_(const char *file, int line, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
int test_main_(int argc, char **argv, const struct test_case *cases, size_t n);
#define test_main(argc, argv, ...)                                                                 \
    test_main_(argc, argv, (const struct test_case[]){__VA_ARGS__},                                \
               sizeof((const struct test_case[]){__VA_ARGS__}) / sizeof(struct test_case))

/* Skip the current test binary (exit 77) with a reason. */
_Noreturn void test_skip(const char *why);

#define EXPECT_TRUE(c)                                                                             \
    ((c) ? (void)0 : test_fail_(__FILE__, __LINE__, "expected true: %s", #c))
#define EXPECT_FALSE(c)                                                                            \
    (!(c) ? (void)0 : test_fail_(__FILE__, __LINE__, "expected false: %s", #c))
#define EXPECT_CMP_(a, b, op, fmt, T)                                                              \
    do {                                                                                           \
        T a_ = (T)(a), b_ = (T)(b);                                                                \
        if (!(a_ op b_))                                                                           \
            test_fail_(__FILE__, __LINE__, "expected %s %s %s: " fmt " vs " fmt, #a, #op, #b, a_, b_); \
    } while (0)
#define EXPECT_EQ(a, b) EXPECT_CMP_(a, b, ==, "%" PRIdMAX, intmax_t)
#define EXPECT_NE(a, b) EXPECT_CMP_(a, b, !=, "%" PRIdMAX, intmax_t)
#define EXPECT_LT(a, b) EXPECT_CMP_(a, b, <, "%" PRIdMAX, intmax_t)
#define EXPECT_LE(a, b) EXPECT_CMP_(a, b, <=, "%" PRIdMAX, intmax_t)
#define EXPECT_GT(a, b) EXPECT_CMP_(a, b, >, "%" PRIdMAX, intmax_t)
#define EXPECT_GE(a, b) EXPECT_CMP_(a, b, >=, "%" PRIdMAX, intmax_t)
#define EXPECT_UEQ(a, b) EXPECT_CMP_(a, b, ==, "%" PRIuMAX, uintmax_t)
#define EXPECT_STREQ(a, b)                                                                         \
    do {                                                                                           \
        const char *a_ = (a), *b_ = (b);                                                           \
        if (strcmp(a_, b_) != 0)                                                                   \
            test_fail_(__FILE__, __LINE__, "expected %s == %s:\n  \"%s\"\nvs\n  \"%s\"", #a, #b, a_, b_); \
    } while (0)
/* A libcma call that must return 0; prints the error name on failure. */
#define EXPECT_OK(call)                                                                            \
    do {                                                                                           \
        int r_ = (call);                                                                           \
        if (r_ != 0)                                                                               \
            test_fail_(__FILE__, __LINE__, "%s returned %d (%s)", #call, r_, cma_err_name(r_));    \
    } while (0)
/* A libcma call that must return exactly err (e.g. -CMA_EINVAL). */
#define EXPECT_ERR(call, err)                                                                      \
    do {                                                                                           \
        int r_ = (call), e_ = (err);                                                               \
        if (r_ != e_)                                                                              \
            test_fail_(__FILE__, __LINE__, "%s returned %d (%s), expected %d (%s)", #call, r_,     \
                       cma_err_name(r_), e_, cma_err_name(e_));                                    \
    } while (0)

#define ASSERT_(expect)                                                                            \
    do {                                                                                           \
        int before_ = test_failures;                                                               \
        expect;                                                                                    \
        if (test_failures != before_)                                                              \
            return;                                                                                \
    } while (0)
#define ASSERT_TRUE(c) ASSERT_(EXPECT_TRUE(c))
#define ASSERT_FALSE(c) ASSERT_(EXPECT_FALSE(c))
#define ASSERT_EQ(a, b) ASSERT_(EXPECT_EQ(a, b))
#define ASSERT_NE(a, b) ASSERT_(EXPECT_NE(a, b))
#define ASSERT_LE(a, b) ASSERT_(EXPECT_LE(a, b))
#define ASSERT_GE(a, b) ASSERT_(EXPECT_GE(a, b))
#define ASSERT_UEQ(a, b) ASSERT_(EXPECT_UEQ(a, b))
#define ASSERT_OK(call) ASSERT_(EXPECT_OK(call))
#define ASSERT_ERR(call, err) ASSERT_(EXPECT_ERR(call, err))

/* Runs the invariant checker; a violation is a failure that names the invariant. */
#define EXPECT_CHECK(mm)                                                                           \
    do {                                                                                           \
        char why_[256];                                                                            \
        if (cma_mm_check((mm), why_, sizeof why_) != 0)                                            \
            test_fail_(__FILE__, __LINE__, "invariant checker: %s", why_);                         \
    } while (0)
#define ASSERT_CHECK(mm) ASSERT_(EXPECT_CHECK(mm))

/* ---- seeded randomness (xoshiro256**, seeded by splitmix64 from test_seed_value) ---------------- */
struct test_rng {
    uint64_t s[4];
};
void test_rng_init(struct test_rng *r, uint64_t seed);
uint64_t test_rng_next(struct test_rng *r);
/* Uniform in [0, n); n > 0. */
uint64_t test_rng_below(struct test_rng *r, uint64_t n);

/* Number from the environment (e.g. CMA_TEST_OPS), or def. */
uint64_t test_env_u64(const char *name, uint64_t def);

/* ---- machine helpers ---------------------------------------------------------------------------- */
/* Creates a machine with the default config changed by `tweak` (may be NULL), lets `boot(mm, arg)`
 * lay out its memory (memblock, reservations, CMA areas), and onlines it. Returns NULL (and records a
 * failure) on error. */
struct cma_mm *test_mm_boot(void (*tweak)(struct cma_mm_config *),
                            int (*boot)(struct cma_mm *, const void *), const void *arg);
/* test_mm_boot with `bytes` of memory at base `base`. */
struct cma_mm *test_mm_simple(uint64_t base, uint64_t bytes, void (*tweak)(struct cma_mm_config *));
/* The whole file at path, NUL-terminated (*len excludes the NUL); NULL if it cannot be read. The
 * caller frees it. */
char *test_read_file(const char *path, size_t *len);
/* Frees nothing: checks the invariants, drains caches and destroys; records failures. */
void test_mm_finish(struct cma_mm *mm);

#endif /* CMA_TEST_H */
