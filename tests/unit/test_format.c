/* SPDX-License-Identifier: MIT */
/*
 * test_format.c - the library's own formatter (format.c) against the C library's snprintf: every
 * conversion, flag, width, precision and length libcma uses, edge values, the snprintf contract of
 * the appender (truncation, sizing with len 0), and the dumps that go through it (an area's text is
 * not cut short however long its bitmap runs are).
 */
#include "test.h"

#include "internal/internal.h"

#include <limits.h>

#define MiB (1024ull * 1024ull)

/* cma__format and snprintf give the same text and the same length, into a buffer of every size
 * from 0 to past the end. */
#define SAME(...)                                                                                  \
    do {                                                                                           \
        char want_[256], got_[256];                                                                \
        int wn_ = snprintf(want_, sizeof want_, __VA_ARGS__);                                      \
        int gn_ = cma__format(got_, sizeof got_, __VA_ARGS__);                                     \
        EXPECT_EQ(gn_, wn_);                                                                       \
        EXPECT_STREQ(got_, want_);                                                                 \
        for (size_t len_ = 0; len_ <= (size_t)wn_ + 1 && len_ < sizeof got_; len_++) {             \
            char w2_[256], g2_[256];                                                               \
            memset(w2_, '#', sizeof w2_);                                                          \
            memset(g2_, '#', sizeof g2_);                                                          \
            EXPECT_EQ(cma__format(g2_, len_, __VA_ARGS__), snprintf(w2_, len_, __VA_ARGS__));      \
            EXPECT_TRUE(memcmp(g2_, w2_, sizeof g2_) == 0);                                        \
        }                                                                                          \
    } while (0)

static void test_integers(void)
{
    static const long long sv[] = {0, 1, -1, 7, -42, 1000, 99999, INT_MAX, INT_MIN, LLONG_MAX, LLONG_MIN};
    static const unsigned long long uv[] = {0, 1, 9, 10, 11, 99, 100, 0xff, 0x1000, 4294967295ull,
                                            4294967296ull, 10000000000000000000ull, ULLONG_MAX};
    for (size_t i = 0; i < sizeof sv / sizeof sv[0]; i++) {
        long long v = sv[i];
        if (v >= INT_MIN && v <= INT_MAX) {
            SAME("%d|%i|%5d|%-5d|%05d|%+d|% d|%.3d|%8.3d|%-8.3d|%.0d|", (int)v, (int)v, (int)v, (int)v,
                 (int)v, (int)v, (int)v, (int)v, (int)v, (int)v, (int)v);
            SAME("%hhd %hd", (signed char)v, (short)v);
        }
        SAME("%lld|%ld|%20lld|%-20lld|%020lld|%+lld|%jd|%td|", v, (long)v, v, v, v, v, (intmax_t)v,
             (ptrdiff_t)v);
    }
    for (size_t i = 0; i < sizeof uv / sizeof uv[0]; i++) {
        unsigned long long v = uv[i];
        unsigned u = (unsigned)v;
        SAME("%u|%x|%X|%o|%#x|%#X|%#o|%08x|%-8x|%.4x|%#.4x|%#10x|%#010x|%.0x|%#.0o|", u, u, u, u, u, u,
             u, u, u, u, u, u, u, u, u);
        SAME("%llu|%llx|%llX|%llo|%#llx|%20llu|%-20llx|%020llx|%.20llu|", v, v, v, v, v, v, v, v, v);
        SAME("%lu|%zu|%zx|%ju|%hhu|%hu|%hhx", (unsigned long)v, (size_t)v, (size_t)v, (uintmax_t)v,
             (unsigned char)v, (unsigned short)v, (unsigned char)v);
        SAME("%02x %6llu %10llx %12llu ", u & 0xff, v, v, v); /* the dumps' own */
    }
}

static void test_strings_and_chars(void)
{
    SAME("%s|%10s|%-10s|%.2s|%10.2s|%-10.2s|%.0s|", "abc", "abc", "abc", "abc", "abc", "abc", "abc");
    SAME("%s%s%s", "", "x", "");
    SAME("%c|%3c|%-3c|", 'q', 'q', 'q');
    SAME("%8s|%-43s|%12s", "Normal", "Free pages count per migrate type at order", "HighAtomic");
    SAME("%*s|%-*s|%*d|%.*s|%*.*s|", 6, "ab", 6, "ab", -6, 12, 2, "abcdef", 8, 3, "abcdef");
    SAME("%.*s", -1, "negative precision is none");
    SAME("100%% %%d");
    SAME("%p %p", (void *)0x1234, (void *)&test_strings_and_chars);
    /* %.*s must not read past the precision: a string without a NUL */
    char raw[3] = {'x', 'y', 'z'};
    SAME("%.3s|", raw);
    /* the cma= log's window and caret */
    SAME("cma=: %s at offset %zu\n  %s%.*s%s\n  %*s^", "bad size", (size_t)12, "...", 5,
         "cma=64Q@0x1000", "...", 8, "");
}

/* The appender counts the full text, writes what fits and always terminates. */
static void test_appender(void)
{
    char buf[8];
    struct cma__buf b;
    memset(buf, '#', sizeof buf);
    cma__buf_init(&b, buf, sizeof buf);
    cma__buf_printf(&b, "%s", "hello");
    cma__buf_putc(&b, ',');
    cma__buf_write(&b, " world", 6);
    EXPECT_EQ(cma__buf_finish(&b), 12);
    EXPECT_STREQ(buf, "hello, ");
    cma__buf_init(&b, NULL, 0);
    cma__buf_printf(&b, "%llu", 123456789012ull);
    EXPECT_EQ(cma__buf_finish(&b), 12);
    /* an unknown conversion is kept as written */
    char out[32];
    const char *unknown = "a%yb%";
    EXPECT_EQ(cma__format(out, sizeof out, unknown, 0), 5);
    EXPECT_STREQ(out, "a%yb%");
}

/* An area with the longest name dumps more than 1 KiB of counters, all of them: CMA_DUMP_AREAS and
 * cma_area_dump agree, and nothing is cut short. */
#define LONG_NAME "a-camera-area-whose-name-is-exactly-sixty-three-characters-long"

static int one_area(struct cma_mm *mm, const void *arg)
{
    struct cma_area **ap = (struct cma_area **)arg;
    int r = cma_memblock_add(mm, 0, 256 * MiB);
    return r ? r : cma_declare_contiguous(mm, LONG_NAME, 64 * MiB, 64 * MiB, 0, 0, 0, ap);
}

static void test_long_area_text(void)
{
    _Static_assert(sizeof LONG_NAME - 1 == CMA_AREA_NAME_MAX, "the longest name");
    struct cma_area *area = NULL;
    struct cma_mm *mm = test_mm_boot(NULL, one_area, &area);
    ASSERT_TRUE(mm != NULL);
    static cma_pfn_t got[256];
    for (size_t i = 0; i < 256; i++)
        ASSERT_OK(cma_alloc(area, 1, 0, &got[i]));
    for (size_t i = 0; i < 256; i += 2) /* striped: the bitmap runs alternate */
        EXPECT_OK(cma_release(area, got[i], 1));
    int len = cma_mm_dump(mm, CMA_DUMP_AREAS, NULL, 0);
    ASSERT_GE(len, 1025);
    char *all = malloc((size_t)len + 1), *one = malloc(65536);
    ASSERT_TRUE(all && one);
    EXPECT_EQ(cma_mm_dump(mm, CMA_DUMP_AREAS, all, (size_t)len + 1), len);
    EXPECT_EQ(all[len - 1], '\n');
    EXPECT_TRUE(strstr(all, LONG_NAME "/alloc_calls 256 ok 0 failed\n") != NULL);
    int olen = cma_area_dump(area, one, 65536);
    EXPECT_GT(olen, len); /* the area dump adds the bitmap runs */
    EXPECT_TRUE(strncmp(all, one, (size_t)len) == 0);
    EXPECT_TRUE(strstr(one, " used:1 free:1 used:1") != NULL);
    free(all);
    free(one);
    for (size_t i = 1; i < 256; i += 2)
        EXPECT_OK(cma_release(area, got[i], 1));
    test_mm_finish(mm);
}

int main(int argc, char **argv)
{
    return test_main(argc, argv, TEST(test_integers), TEST(test_strings_and_chars), TEST(test_appender),
                     TEST(test_long_area_text));
}
