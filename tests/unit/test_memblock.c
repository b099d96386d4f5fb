/* SPDX-License-Identifier: MIT */
/*
 * tests/unit/test_memblock.c - the boot-time region allocator (src/memblock.c) in isolation:
 * merging, error codes, splitting, placement (top-down / bottom-up, alignment, windows), array growth
 * and its failure, and a seeded random walk checked against a byte-map shadow model.
 */
#include "test.h"
#include "internal/internal.h"

#define KiB 1024ull
#define MiB (1024ull * KiB)

/* ---- helpers ------------------------------------------------------------------------------------ */

/* Structural invariants of one array; reports at the caller's line. */
static void check_type(const struct cma_mb_type *t, const char *name, const char *file, int line)
{
    uint64_t sum = 0;
    if (t->cnt > t->max)
        test_fail_(file, line, "%s: cnt %zu > max %zu", name, t->cnt, t->max);
    for (size_t i = 0; i < t->cnt; i++) {
        const struct cma_mb_region *r = &t->regions[i];
        if (r->size == 0 || r->size > UINT64_MAX - r->base)
            test_fail_(file, line, "%s[%zu]: bad range base %#" PRIx64 " size %#" PRIx64, name, i,
                       r->base, r->size);
        if (i > 0 && t->regions[i - 1].base + t->regions[i - 1].size >= r->base)
            test_fail_(file, line, "%s[%zu]: not sorted / overlapping / adjacent to the previous",
                       name, i);
        sum += r->size;
    }
    if (sum != t->total)
        test_fail_(file, line, "%s: total %" PRIu64 " != sum %" PRIu64, name, t->total, sum);
}

static void check_mb(const struct cma_memblock *mb, const char *file, int line)
{
    check_type(&mb->memory, "memory", file, line);
    check_type(&mb->reserved, "reserved", file, line);
    for (size_t i = 0; i < mb->reserved.cnt; i++) {
        const struct cma_mb_region *r = &mb->reserved.regions[i];
        if (!cma__memblock_is_memory(mb, r->base, r->size))
            test_fail_(file, line, "reserved[%zu] %#" PRIx64 "+%#" PRIx64 " is not inside memory", i,
                       r->base, r->size);
    }
}
#define EXPECT_MB_VALID(mb) check_mb((mb), __FILE__, __LINE__)

/* Exact contents of an array. */
static void expect_regions(const struct cma_mb_type *t, const struct cma_mb_region *want, size_t n,
                           const char *file, int line)
{
    if (t->cnt != n) {
        test_fail_(file, line, "expected %zu regions, have %zu", n, t->cnt);
        return;
    }
    for (size_t i = 0; i < n; i++)
        if (t->regions[i].base != want[i].base || t->regions[i].size != want[i].size)
            test_fail_(file, line, "region %zu: have %#" PRIx64 "+%#" PRIx64 ", want %#" PRIx64
                       "+%#" PRIx64, i, t->regions[i].base, t->regions[i].size, want[i].base,
                       want[i].size);
}
#define EXPECT_REGIONS(t, ...)                                                                     \
    expect_regions((t), (const struct cma_mb_region[]){__VA_ARGS__},                               \
                   sizeof((const struct cma_mb_region[]){__VA_ARGS__}) / sizeof(struct cma_mb_region), \
                   __FILE__, __LINE__)
#define EXPECT_EMPTY(t) EXPECT_EQ((t)->cnt, 0)
#define R(b, s) {(b), (s)}

static struct cma_hostx host;

static int mb_setup(struct cma_memblock *mb)
{
    int r = cma__host_resolve(NULL, &host);
    return r ? r : cma__memblock_init(mb, &host);
}

/* ---- init ------------------------------------------------------------------------------------- */

static void test_init_fini(void)
{
    struct cma_memblock mb;
    ASSERT_OK(mb_setup(&mb));
    EXPECT_TRUE(mb.host == &host);
    EXPECT_FALSE(mb.bottom_up);
    EXPECT_EQ(mb.memory.cnt, 0);
    EXPECT_EQ(mb.reserved.cnt, 0);
    EXPECT_EQ(mb.memory.max, 128);
    EXPECT_EQ(mb.reserved.max, 128);
    EXPECT_UEQ(mb.memory.total, 0);
    EXPECT_UEQ(cma__memblock_metadata_bytes(&mb), 256 * sizeof(struct cma_mb_region));
    EXPECT_FALSE(cma__memblock_is_memory(&mb, 0, 1));
    EXPECT_FALSE(cma__memblock_is_reserved(&mb, 0, UINT64_MAX));
    cma_phys_t base = 0;
    EXPECT_ERR(cma__memblock_alloc_range(&mb, 4096, 4096, 0, 0, &base), -CMA_ENOMEM);
    cma__memblock_fini(&mb);
}

/* ---- add ---------------------------------------------------------------------------------------- */

static void test_add_merge_adjacent(void)
{
    struct cma_memblock mb;
    ASSERT_OK(mb_setup(&mb));
    EXPECT_OK(cma__memblock_add(&mb, 0x1000, 0x1000));
    EXPECT_OK(cma__memblock_add(&mb, 0x3000, 0x1000));
    EXPECT_REGIONS(&mb.memory, R(0x1000, 0x1000), R(0x3000, 0x1000));
    EXPECT_OK(cma__memblock_add(&mb, 0x2000, 0x1000)); /* fills the hole: three become one */
    EXPECT_REGIONS(&mb.memory, R(0x1000, 0x3000));
    EXPECT_OK(cma__memblock_add(&mb, 0x800, 0x800)); /* touches the left edge */
    EXPECT_OK(cma__memblock_add(&mb, 0x4000, 1));    /* touches the right edge, odd size */
    EXPECT_REGIONS(&mb.memory, R(0x800, 0x3801));
    EXPECT_OK(cma__memblock_add(&mb, 0x4002, 1)); /* one byte gap stays a gap */
    EXPECT_REGIONS(&mb.memory, R(0x800, 0x3801), R(0x4002, 1));
    EXPECT_UEQ(mb.memory.total, 0x3802);
    EXPECT_OK(cma__memblock_add(&mb, 0, 0x10)); /* address 0 is ordinary */
    EXPECT_REGIONS(&mb.memory, R(0, 0x10), R(0x800, 0x3801), R(0x4002, 1));
    EXPECT_MB_VALID(&mb);
    cma__memblock_fini(&mb);
}

/* Six adjacent pieces added in every one of the 720 orders always end as one region. */
static void test_add_merge_any_order(void)
{
    enum { N = 6 };
    int perm[N];
    for (int i = 0; i < N; i++)
        perm[i] = i;
    for (;;) {
        struct cma_memblock mb;
        ASSERT_OK(mb_setup(&mb));
        for (int i = 0; i < N; i++) {
            EXPECT_OK(cma__memblock_add(&mb, 0x10000 + (uint64_t)perm[i] * 0x1000, 0x1000));
            EXPECT_MB_VALID(&mb);
        }
        EXPECT_REGIONS(&mb.memory, R(0x10000, N * 0x1000));
        cma__memblock_fini(&mb);
        if (test_failures)
            return;
        /* next permutation in lexicographic order */
        int k = N - 2;
        while (k >= 0 && perm[k] > perm[k + 1])
            k--;
        if (k < 0)
            break;
        int l = N - 1;
        while (perm[l] < perm[k])
            l--;
        int t = perm[k];
        perm[k] = perm[l];
        perm[l] = t;
        for (int a = k + 1, b = N - 1; a < b; a++, b--) {
            t = perm[a];
            perm[a] = perm[b];
            perm[b] = t;
        }
    }
}

static void test_add_errors(void)
{
    struct cma_memblock mb;
    ASSERT_OK(mb_setup(&mb));
    EXPECT_ERR(cma__memblock_add(&mb, 0x1000, 0), -CMA_EINVAL);
    EXPECT_ERR(cma__memblock_add(&mb, UINT64_MAX - 0xf, 0x10), -CMA_EINVAL); /* end 2^64 */
    EXPECT_ERR(cma__memblock_add(&mb, 1, UINT64_MAX), -CMA_EINVAL);
    EXPECT_OK(cma__memblock_add(&mb, UINT64_MAX - 0x10, 0x10)); /* end == UINT64_MAX is fine */
    EXPECT_OK(cma__memblock_add(&mb, 0x10000, 0x1000));
    EXPECT_OK(cma__memblock_add(&mb, 0x12000, 0x1000));
    EXPECT_ERR(cma__memblock_add(&mb, 0x10000, 0x1000), -CMA_EEXIST);  /* same */
    EXPECT_ERR(cma__memblock_add(&mb, 0xf000, 0x1001), -CMA_EEXIST);   /* first byte */
    EXPECT_ERR(cma__memblock_add(&mb, 0x10fff, 0x1000), -CMA_EEXIST);  /* last byte */
    EXPECT_ERR(cma__memblock_add(&mb, 0x10800, 0x100), -CMA_EEXIST);   /* inside */
    EXPECT_ERR(cma__memblock_add(&mb, 0xf000, 0x3000), -CMA_EEXIST);   /* around */
    EXPECT_ERR(cma__memblock_add(&mb, 0x10800, 0x2000), -CMA_EEXIST);  /* across a hole */
    EXPECT_ERR(cma__memblock_add(&mb, 0x11000, 0x1001), -CMA_EEXIST);  /* hole + next's first byte */
    EXPECT_ERR(cma__memblock_add(&mb, UINT64_MAX - 1, 1), -CMA_EEXIST);
    EXPECT_REGIONS(&mb.memory, R(0x10000, 0x1000), R(0x12000, 0x1000), R(UINT64_MAX - 0x10, 0x10));
    EXPECT_UEQ(mb.memory.total, 0x2010);
    EXPECT_OK(cma__memblock_add(&mb, 0x11000, 0x1000)); /* exactly the hole */
    EXPECT_REGIONS(&mb.memory, R(0x10000, 0x3000), R(UINT64_MAX - 0x10, 0x10));
    EXPECT_MB_VALID(&mb);
    cma__memblock_fini(&mb);
}

/* ---- remove ------------------------------------------------------------------------------------- */

static void test_remove(void)
{
    struct cma_memblock mb;
    ASSERT_OK(mb_setup(&mb));
    EXPECT_OK(cma__memblock_add(&mb, 0x10000, 0x10000));
    EXPECT_OK(cma__memblock_add(&mb, 0x30000, 0x1000));
    EXPECT_ERR(cma__memblock_remove(&mb, 0x10000, 0), -CMA_EINVAL);
    EXPECT_ERR(cma__memblock_remove(&mb, UINT64_MAX, 2), -CMA_EINVAL);
    EXPECT_ERR(cma__memblock_remove(&mb, 0x0, 0x1000), -CMA_ENOENT);      /* nowhere */
    EXPECT_ERR(cma__memblock_remove(&mb, 0xf000, 0x2000), -CMA_ENOENT);   /* sticks out left */
    EXPECT_ERR(cma__memblock_remove(&mb, 0x1f000, 0x2000), -CMA_ENOENT);  /* sticks out right */
    EXPECT_ERR(cma__memblock_remove(&mb, 0x10000, 0x21000), -CMA_ENOENT); /* spans a hole */

    EXPECT_OK(cma__memblock_remove(&mb, 0x14000, 0x1000)); /* split */
    EXPECT_REGIONS(&mb.memory, R(0x10000, 0x4000), R(0x15000, 0xb000), R(0x30000, 0x1000));
    EXPECT_OK(cma__memblock_remove(&mb, 0x10000, 0x1000)); /* prefix */
    EXPECT_OK(cma__memblock_remove(&mb, 0x1f000, 0x1000)); /* suffix */
    EXPECT_REGIONS(&mb.memory, R(0x11000, 0x3000), R(0x15000, 0xa000), R(0x30000, 0x1000));
    EXPECT_OK(cma__memblock_remove(&mb, 0x30000, 0x1000)); /* whole */
    EXPECT_REGIONS(&mb.memory, R(0x11000, 0x3000), R(0x15000, 0xa000));
    EXPECT_UEQ(mb.memory.total, 0xd000);
    EXPECT_OK(cma__memblock_remove(&mb, 0x12345, 1)); /* a single byte */
    EXPECT_REGIONS(&mb.memory, R(0x11000, 0x1345), R(0x12346, 0x1cba), R(0x15000, 0xa000));

    /* reserved bytes pin memory */
    EXPECT_OK(cma__memblock_reserve(&mb, 0x18000, 0x1000));
    EXPECT_ERR(cma__memblock_remove(&mb, 0x18fff, 0x10), -CMA_EBUSY);
    EXPECT_ERR(cma__memblock_remove(&mb, 0x15000, 0xa000), -CMA_EBUSY);
    EXPECT_OK(cma__memblock_remove(&mb, 0x19000, 0x1000)); /* right next to it is fine */
    EXPECT_REGIONS(&mb.memory, R(0x11000, 0x1345), R(0x12346, 0x1cba), R(0x15000, 0x4000),
                   R(0x1a000, 0x5000));
    EXPECT_MB_VALID(&mb);

    /* everything back in: merges to the original span */
    EXPECT_OK(cma__memblock_add(&mb, 0x12345, 1));
    EXPECT_OK(cma__memblock_add(&mb, 0x19000, 0x1000));
    EXPECT_OK(cma__memblock_add(&mb, 0x14000, 0x1000));
    EXPECT_REGIONS(&mb.memory, R(0x11000, 0xe000));
    EXPECT_MB_VALID(&mb);
    cma__memblock_fini(&mb);
}

/* ---- reserve / free ----------------------------------------------------------------------------- */

static void test_reserve(void)
{
    struct cma_memblock mb;
    ASSERT_OK(mb_setup(&mb));
    EXPECT_OK(cma__memblock_add(&mb, 0x10000, 0x10000));
    EXPECT_OK(cma__memblock_add(&mb, 0x30000, 0x10000));
    EXPECT_ERR(cma__memblock_reserve(&mb, 0x10000, 0), -CMA_EINVAL);
    EXPECT_ERR(cma__memblock_reserve(&mb, UINT64_MAX, 1), -CMA_EINVAL);
    EXPECT_ERR(cma__memblock_reserve(&mb, 0x0, 0x1000), -CMA_EINVAL);     /* no memory */
    EXPECT_ERR(cma__memblock_reserve(&mb, 0xffff, 2), -CMA_EINVAL);       /* half outside */
    EXPECT_ERR(cma__memblock_reserve(&mb, 0x1f000, 0x2000), -CMA_EINVAL); /* into the hole */
    EXPECT_ERR(cma__memblock_reserve(&mb, 0x1f000, 0x12000), -CMA_EINVAL); /* across the hole */
    EXPECT_EMPTY(&mb.reserved);

    EXPECT_OK(cma__memblock_reserve(&mb, 0x10000, 0x1000)); /* first byte of memory */
    EXPECT_OK(cma__memblock_reserve(&mb, 0x3f000, 0x1000)); /* last byte of memory */
    EXPECT_OK(cma__memblock_reserve(&mb, 0x14000, 0x1000));
    EXPECT_REGIONS(&mb.reserved, R(0x10000, 0x1000), R(0x14000, 0x1000), R(0x3f000, 0x1000));
    EXPECT_ERR(cma__memblock_reserve(&mb, 0x14000, 0x1000), -CMA_EBUSY);
    EXPECT_ERR(cma__memblock_reserve(&mb, 0x13000, 0x1001), -CMA_EBUSY);
    EXPECT_ERR(cma__memblock_reserve(&mb, 0x14fff, 0x1000), -CMA_EBUSY);
    EXPECT_ERR(cma__memblock_reserve(&mb, 0x11000, 0x8000), -CMA_EBUSY);
    EXPECT_ERR(cma__memblock_reserve(&mb, 0x14800, 0x10), -CMA_EBUSY);

    /* adjacent reservations merge, in both directions and when bridging two */
    EXPECT_OK(cma__memblock_reserve(&mb, 0x15000, 0x1000));
    EXPECT_OK(cma__memblock_reserve(&mb, 0x13000, 0x1000));
    EXPECT_REGIONS(&mb.reserved, R(0x10000, 0x1000), R(0x13000, 0x3000), R(0x3f000, 0x1000));
    EXPECT_OK(cma__memblock_reserve(&mb, 0x11000, 0x2000));
    EXPECT_REGIONS(&mb.reserved, R(0x10000, 0x6000), R(0x3f000, 0x1000));
    EXPECT_UEQ(mb.reserved.total, 0x7000);
    EXPECT_UEQ(mb.memory.total, 0x20000); /* memory untouched */

    EXPECT_TRUE(cma__memblock_is_reserved(&mb, 0x15fff, 1));
    EXPECT_FALSE(cma__memblock_is_reserved(&mb, 0x16000, 0x29000));
    EXPECT_TRUE(cma__memblock_is_reserved(&mb, 0x16000, 0x29001));
    EXPECT_TRUE(cma__memblock_is_reserved(&mb, 0, UINT64_MAX));
    EXPECT_TRUE(cma__memblock_is_reserved(&mb, 0x3f000, UINT64_MAX)); /* saturates, no wrap */
    EXPECT_FALSE(cma__memblock_is_reserved(&mb, 0x40000, UINT64_MAX));
    EXPECT_FALSE(cma__memblock_is_reserved(&mb, 0x10000, 0));
    EXPECT_TRUE(cma__memblock_is_memory(&mb, 0x10000, 0x10000));
    EXPECT_FALSE(cma__memblock_is_memory(&mb, 0x10000, 0x10001));
    EXPECT_FALSE(cma__memblock_is_memory(&mb, 0x10000, 0));
    EXPECT_FALSE(cma__memblock_is_memory(&mb, 0x1ffff, 0x10002));
    EXPECT_MB_VALID(&mb);
    cma__memblock_fini(&mb);
}

static void test_free(void)
{
    struct cma_memblock mb;
    ASSERT_OK(mb_setup(&mb));
    EXPECT_OK(cma__memblock_add(&mb, 0x10000, 0x10000));
    EXPECT_OK(cma__memblock_reserve(&mb, 0x12000, 0x8000));
    EXPECT_OK(cma__memblock_reserve(&mb, 0x1c000, 0x1000));
    EXPECT_ERR(cma__memblock_free(&mb, 0x12000, 0), -CMA_EINVAL);
    EXPECT_ERR(cma__memblock_free(&mb, UINT64_MAX - 1, 2), -CMA_EINVAL);
    EXPECT_ERR(cma__memblock_free(&mb, 0x11000, 0x1000), -CMA_ENOENT); /* memory, not reserved */
    EXPECT_ERR(cma__memblock_free(&mb, 0x11fff, 0x2), -CMA_ENOENT);    /* half reserved */
    EXPECT_ERR(cma__memblock_free(&mb, 0x19fff, 0x2), -CMA_ENOENT);
    EXPECT_ERR(cma__memblock_free(&mb, 0x12000, 0xb000), -CMA_ENOENT); /* across a free gap */
    EXPECT_ERR(cma__memblock_free(&mb, 0x40000, 0x1000), -CMA_ENOENT); /* not even memory */

    EXPECT_OK(cma__memblock_free(&mb, 0x14000, 0x1000)); /* split */
    EXPECT_REGIONS(&mb.reserved, R(0x12000, 0x2000), R(0x15000, 0x5000), R(0x1c000, 0x1000));
    EXPECT_OK(cma__memblock_free(&mb, 0x12000, 0x800)); /* prefix */
    EXPECT_OK(cma__memblock_free(&mb, 0x19800, 0x800)); /* suffix */
    EXPECT_OK(cma__memblock_free(&mb, 0x1c000, 0x1000)); /* whole */
    EXPECT_REGIONS(&mb.reserved, R(0x12800, 0x1800), R(0x15000, 0x4800));
    EXPECT_UEQ(mb.reserved.total, 0x6000);
    EXPECT_FALSE(cma__memblock_is_reserved(&mb, 0x14000, 0x1000));
    EXPECT_OK(cma__memblock_reserve(&mb, 0x14000, 0x1000)); /* re-reserve bridges the split */
    EXPECT_REGIONS(&mb.reserved, R(0x12800, 0x7000));
    EXPECT_OK(cma__memblock_free(&mb, 0x12800, 0x7000));
    EXPECT_EMPTY(&mb.reserved);
    EXPECT_UEQ(mb.reserved.total, 0);
    EXPECT_REGIONS(&mb.memory, R(0x10000, 0x10000));
    EXPECT_MB_VALID(&mb);
    cma__memblock_fini(&mb);
}

/* ---- alloc_range -------------------------------------------------------------------------------- */

static void test_alloc_top_down(void)
{
    struct cma_memblock mb;
    cma_phys_t b = 0;
    ASSERT_OK(mb_setup(&mb));
    EXPECT_OK(cma__memblock_add(&mb, 0x10000, 0x10000));

    EXPECT_OK(cma__memblock_alloc_range(&mb, 0x1000, 0x1000, 0, 0, &b));
    EXPECT_UEQ(b, 0x1f000); /* the top */
    EXPECT_OK(cma__memblock_alloc_range(&mb, 0x100, 0x1000, 0, 0, &b));
    EXPECT_UEQ(b, 0x1e000); /* highest 4 KiB-aligned base that fits below the first */
    EXPECT_OK(cma__memblock_alloc_range(&mb, 0x800, 0x10, 0, 0, &b));
    EXPECT_UEQ(b, 0x1e800); /* the alignment leftover above 0x1e100 is reused */
    EXPECT_OK(cma__memblock_alloc_range(&mb, 0x1000, 0x1000, 0x12345, 0x15000, &b));
    EXPECT_UEQ(b, 0x14000); /* end limits from above */
    EXPECT_OK(cma__memblock_alloc_range(&mb, 0x1000, 0x1000, 0x12345, 0x15000, &b));
    EXPECT_UEQ(b, 0x13000);
    /* only [0x12345, 0x13000) left in the window: too small once aligned */
    EXPECT_ERR(cma__memblock_alloc_range(&mb, 0x1000, 0x1000, 0x12345, 0x15000, &b), -CMA_ENOMEM);
    EXPECT_OK(cma__memblock_alloc_range(&mb, 0xcbb, 1, 0x12345, 0x15000, &b));
    EXPECT_UEQ(b, 0x12345); /* unaligned: exactly fills the window's rest */
    EXPECT_ERR(cma__memblock_alloc_range(&mb, 0x10, 1, 0x12345, 0x15000, &b), -CMA_ENOMEM);
    EXPECT_REGIONS(&mb.reserved, R(0x12345, 0x2cbb), R(0x1e000, 0x100), R(0x1e800, 0x1800));
    /* windows starting at or beyond the top of memory */
    EXPECT_ERR(cma__memblock_alloc_range(&mb, 0x10, 1, 0x20000, 0, &b), -CMA_ENOMEM);
    EXPECT_ERR(cma__memblock_alloc_range(&mb, 0x10, 1, 0x1fff0, 0, &b), -CMA_ENOMEM);
    EXPECT_MB_VALID(&mb);
    cma__memblock_fini(&mb);
}

static void test_alloc_bottom_up(void)
{
    struct cma_memblock mb;
    cma_phys_t b = 0;
    ASSERT_OK(mb_setup(&mb));
    mb.bottom_up = true;
    EXPECT_OK(cma__memblock_add(&mb, 0x10000, 0x10000));

    EXPECT_OK(cma__memblock_alloc_range(&mb, 0x1000, 0x1000, 0, 0, &b));
    EXPECT_UEQ(b, 0x10000); /* the bottom */
    EXPECT_OK(cma__memblock_alloc_range(&mb, 0x100, 0x10, 0, 0, &b));
    EXPECT_UEQ(b, 0x11000);
    EXPECT_OK(cma__memblock_alloc_range(&mb, 0x100, 0x1000, 0, 0, &b));
    EXPECT_UEQ(b, 0x12000); /* aligned up past the 0x100 piece */
    EXPECT_OK(cma__memblock_alloc_range(&mb, 0x10, 0x10, 0, 0, &b));
    EXPECT_UEQ(b, 0x11100); /* the alignment gap is used by a smaller request */
    EXPECT_OK(cma__memblock_alloc_range(&mb, 0x1000, 0x4000, 0x12345, 0x1a000, &b));
    EXPECT_UEQ(b, 0x14000); /* start limits from below, aligned up */
    EXPECT_OK(cma__memblock_alloc_range(&mb, 0x1000, 0x4000, 0x12345, 0x1a000, &b));
    EXPECT_UEQ(b, 0x18000);
    EXPECT_ERR(cma__memblock_alloc_range(&mb, 0x1000, 0x4000, 0x12345, 0x1a000, &b), -CMA_ENOMEM);
    EXPECT_ERR(cma__memblock_alloc_range(&mb, 0x1000, 0x4000, 0x19000, 0x1c000, &b), -CMA_ENOMEM);
    EXPECT_OK(cma__memblock_alloc_range(&mb, 0x1000, 0x4000, 0x19000, 0x1d000, &b));
    EXPECT_UEQ(b, 0x1c000);
    EXPECT_REGIONS(&mb.reserved, R(0x10000, 0x1110), R(0x12000, 0x100),
                   R(0x14000, 0x1000), R(0x18000, 0x1000), R(0x1c000, 0x1000));

    /* the same memory top-down picks the other end of the same window */
    mb.bottom_up = false;
    EXPECT_OK(cma__memblock_alloc_range(&mb, 0x1000, 0x1000, 0x12345, 0x1a000, &b));
    EXPECT_UEQ(b, 0x19000);
    EXPECT_MB_VALID(&mb);
    cma__memblock_fini(&mb);
}

static void test_alloc_skips_holes_and_reserved(void)
{
    struct cma_memblock mb;
    cma_phys_t b = 0;
    ASSERT_OK(mb_setup(&mb));
    EXPECT_OK(cma__memblock_add(&mb, 0x0, 0x4000));
    EXPECT_OK(cma__memblock_add(&mb, 0x8000, 0x2000));
    EXPECT_OK(cma__memblock_add(&mb, 0x10000, 0x1000));
    EXPECT_OK(cma__memblock_reserve(&mb, 0x10000, 0x1000)); /* the top region is all reserved */
    EXPECT_OK(cma__memblock_reserve(&mb, 0x1800, 0x800));

    EXPECT_OK(cma__memblock_alloc_range(&mb, 0x1000, 0x1000, 0, 0, &b));
    EXPECT_UEQ(b, 0x9000);
    /* 0x2000 fits neither [0x8000,0x9000) nor across the hole to 0x4000 */
    EXPECT_OK(cma__memblock_alloc_range(&mb, 0x2000, 0x1000, 0, 0, &b));
    EXPECT_UEQ(b, 0x2000);
    /* left: [0, 0x1800) and [0x8000, 0x9000); the hole between 0x1800 and 0x2000 is reserved */
    EXPECT_ERR(cma__memblock_alloc_range(&mb, 0x1801, 1, 0, 0, &b), -CMA_ENOMEM);
    EXPECT_OK(cma__memblock_alloc_range(&mb, 0x1800, 1, 0, 0, &b));
    EXPECT_UEQ(b, 0);
    EXPECT_OK(cma__memblock_alloc_range(&mb, 0x800, 0x800, 0, 0, &b));
    EXPECT_UEQ(b, 0x8800);
    EXPECT_OK(cma__memblock_alloc_range(&mb, 0x800, 0x800, 0, 0, &b));
    EXPECT_UEQ(b, 0x8000);
    b = 0xdead;
    EXPECT_ERR(cma__memblock_alloc_range(&mb, 1, 1, 0, 0, &b), -CMA_ENOMEM);
    EXPECT_UEQ(b, 0xdead); /* untouched on failure */
    EXPECT_UEQ(mb.reserved.total, mb.memory.total);
    EXPECT_REGIONS(&mb.reserved, R(0, 0x4000), R(0x8000, 0x2000), R(0x10000, 0x1000));

    /* bottom-up skips the same way */
    EXPECT_OK(cma__memblock_free(&mb, 0x1000, 0x800));
    EXPECT_OK(cma__memblock_free(&mb, 0x3000, 0x1000));
    EXPECT_OK(cma__memblock_free(&mb, 0x9000, 0x1000));
    mb.bottom_up = true;
    EXPECT_OK(cma__memblock_alloc_range(&mb, 0x1000, 0x1000, 0, 0, &b));
    EXPECT_UEQ(b, 0x3000);
    EXPECT_OK(cma__memblock_alloc_range(&mb, 0x400, 0x400, 0, 0, &b));
    EXPECT_UEQ(b, 0x1000);
    EXPECT_OK(cma__memblock_alloc_range(&mb, 0x800, 1, 0, 0, &b));
    EXPECT_UEQ(b, 0x9000);
    EXPECT_MB_VALID(&mb);
    cma__memblock_fini(&mb);
}

static void test_alloc_errors_and_extremes(void)
{
    struct cma_memblock mb;
    cma_phys_t b = 0x1234;
    ASSERT_OK(mb_setup(&mb));
    EXPECT_OK(cma__memblock_add(&mb, 0x10000, 0x10000));
    EXPECT_ERR(cma__memblock_alloc_range(&mb, 0, 0x1000, 0, 0, &b), -CMA_EINVAL);
    EXPECT_ERR(cma__memblock_alloc_range(&mb, 0x1000, 0, 0, 0, &b), -CMA_EINVAL);
    EXPECT_ERR(cma__memblock_alloc_range(&mb, 0x1000, 0x3000, 0, 0, &b), -CMA_EINVAL);
    EXPECT_ERR(cma__memblock_alloc_range(&mb, 0x1000, 0x1000, 0x18000, 0x18000, &b), -CMA_ENOMEM);
    EXPECT_ERR(cma__memblock_alloc_range(&mb, 0x1000, 0x1000, 0x18000, 0x10000, &b), -CMA_ENOMEM);
    EXPECT_ERR(cma__memblock_alloc_range(&mb, 0x10001, 1, 0, 0, &b), -CMA_ENOMEM);
    EXPECT_ERR(cma__memblock_alloc_range(&mb, 0x1000, 1ull << 17, 0, 0, &b), -CMA_ENOMEM);
    EXPECT_ERR(cma__memblock_alloc_range(&mb, UINT64_MAX, 1, 0, 0, &b), -CMA_ENOMEM);
    EXPECT_UEQ(b, 0x1234);
    EXPECT_EMPTY(&mb.reserved);
    EXPECT_OK(cma__memblock_alloc_range(&mb, 0x1000, 1ull << 16, 0, 0, &b));
    EXPECT_UEQ(b, 0x10000); /* the only 64 KiB-aligned base */
    EXPECT_ERR(cma__memblock_alloc_range(&mb, 0xf000, 1ull << 63, 0, 0, &b), -CMA_ENOMEM);

    /* memory ending at UINT64_MAX: no wrap-around in either direction */
    EXPECT_OK(cma__memblock_add(&mb, UINT64_MAX - 0xffff, 0xffff)); /* [..fff0000, ..fffffff) */
    EXPECT_OK(cma__memblock_alloc_range(&mb, 0x100, 1, 0, 0, &b));
    EXPECT_UEQ(b, UINT64_MAX - 0x100);
    EXPECT_OK(cma__memblock_alloc_range(&mb, 0x100, 0x10000, 0, 0, &b));
    EXPECT_UEQ(b, UINT64_MAX - 0xffff);
    mb.bottom_up = true;
    EXPECT_OK(cma__memblock_alloc_range(&mb, 0x100, 0x100, UINT64_MAX - 0xffff, 0, &b));
    EXPECT_UEQ(b, UINT64_MAX - 0xfeff);
    /* aligning the remaining free start up would pass 2^64 */
    EXPECT_ERR(cma__memblock_alloc_range(&mb, 0x10, 1ull << 20, UINT64_MAX - 0xffff, 0, &b),
               -CMA_ENOMEM);
    EXPECT_OK(cma__memblock_alloc_range(&mb, 0xfcff, 1, UINT64_MAX - 0xffff, 0, &b));
    EXPECT_UEQ(b, UINT64_MAX - 0xfdff); /* exactly the rest below the first allocation */
    EXPECT_REGIONS(&mb.reserved, R(0x10000, 0x1000), R(UINT64_MAX - 0xffff, 0xffff));
    EXPECT_MB_VALID(&mb);
    cma__memblock_fini(&mb);
}

/* ---- growth ------------------------------------------------------------------------------------- */

static void test_growth(void)
{
    enum { N = 300 };
    struct cma_memblock mb;
    struct test_rng rng;
    unsigned order[N];
    cma_phys_t b = 0;
    ASSERT_OK(mb_setup(&mb));
    test_rng_init(&rng, test_seed_value);
    for (unsigned i = 0; i < N; i++)
        order[i] = i;
    for (unsigned i = N - 1; i > 0; i--) { /* shuffle so inserts land everywhere */
        unsigned j = (unsigned)test_rng_below(&rng, i + 1), t = order[i];
        order[i] = order[j];
        order[j] = t;
    }
    for (unsigned i = 0; i < N; i++)
        ASSERT_OK(cma__memblock_add(&mb, 0x100000 + (uint64_t)order[i] * 0x2000, 0x1000));
    EXPECT_EQ(mb.memory.cnt, N);
    EXPECT_EQ(mb.memory.max, 512); /* 128 -> 256 -> 512 */
    EXPECT_UEQ(mb.memory.total, N * 0x1000ull);
    EXPECT_UEQ(cma__memblock_metadata_bytes(&mb), (512 + 128) * sizeof(struct cma_mb_region));
    for (unsigned i = 0; i < N; i++) {
        EXPECT_UEQ(mb.memory.regions[i].base, 0x100000 + (uint64_t)i * 0x2000);
        EXPECT_UEQ(mb.memory.regions[i].size, 0x1000);
    }
    /* reserved grows too, here through splits: every region's middle 2 KiB freed */
    for (unsigned i = 0; i < N; i++)
        ASSERT_OK(cma__memblock_reserve(&mb, 0x100000 + (uint64_t)i * 0x2000, 0x1000));
    EXPECT_EQ(mb.reserved.max, 512);
    for (unsigned i = 0; i < N; i++)
        ASSERT_OK(cma__memblock_free(&mb, 0x100400 + (uint64_t)i * 0x2000, 0x800));
    EXPECT_EQ(mb.reserved.cnt, 2 * N);
    EXPECT_EQ(mb.reserved.max, 1024);
    EXPECT_MB_VALID(&mb);
    /* allocations find those middles; bottom-up takes the lowest */
    mb.bottom_up = true;
    EXPECT_OK(cma__memblock_alloc_range(&mb, 0x800, 0x400, 0, 0, &b));
    EXPECT_UEQ(b, 0x100400);
    mb.bottom_up = false;
    EXPECT_OK(cma__memblock_alloc_range(&mb, 0x800, 0x400, 0, 0, &b));
    EXPECT_UEQ(b, 0x100400 + (N - 1) * 0x2000ull);
    EXPECT_EQ(mb.reserved.cnt, 2 * N - 2);
    /* filling the gaps between memory regions merges everything back into one */
    for (unsigned i = 0; i + 1 < N; i++)
        ASSERT_OK(cma__memblock_add(&mb, 0x101000 + (uint64_t)i * 0x2000, 0x1000));
    EXPECT_EQ(mb.memory.cnt, 1);
    EXPECT_EQ(mb.memory.max, 512); /* arrays never shrink */
    EXPECT_MB_VALID(&mb);
    cma__memblock_fini(&mb);
}

/* A host whose allocator can be told to fail, and which checks sizes match on free. */
struct counting_host {
    int allow;        /* allocations left before failing (-1: unlimited) */
    int64_t live;     /* bytes outstanding */
    unsigned nallocs;
};

static void *counting_alloc(void *ctx, size_t size)
{
    struct counting_host *c = ctx;
    if (c->allow == 0)
        return NULL;
    if (c->allow > 0)
        c->allow--;
    void *p = calloc(1, size);
    if (p) {
        c->live += (int64_t)size;
        c->nallocs++;
    }
    return p;
}

static void counting_free(void *ctx, void *p, size_t size)
{
    struct counting_host *c = ctx;
    c->live -= (int64_t)size;
    free(p);
}

static void test_growth_failure(void)
{
    struct counting_host c = {.allow = -1};
    struct cma_host user = {.ctx = &c, .alloc = counting_alloc, .free = counting_free};
    struct cma_hostx hx;
    struct cma_memblock mb;
    cma_phys_t b = 0x77;
    ASSERT_OK(cma__host_resolve(&user, &hx));

    /* init failing on either array leaks nothing */
    c.allow = 0;
    EXPECT_ERR(cma__memblock_init(&mb, &hx), -CMA_ENOMEM);
    c.allow = 1;
    EXPECT_ERR(cma__memblock_init(&mb, &hx), -CMA_ENOMEM);
    EXPECT_EQ(c.live, 0);

    c.allow = -1;
    ASSERT_OK(cma__memblock_init(&mb, &hx));
    EXPECT_EQ(c.live, (int64_t)(256 * sizeof(struct cma_mb_region)));
    for (unsigned i = 0; i < 128; i++) {
        ASSERT_OK(cma__memblock_add(&mb, (uint64_t)i * 0x2000, 0x1000));
        ASSERT_OK(cma__memblock_reserve(&mb, (uint64_t)i * 0x2000, 0x1000));
    }
    EXPECT_EQ(mb.memory.max, 128);
    EXPECT_EQ(mb.reserved.max, 128);
    const struct cma_mb_region *mem_before = mb.memory.regions;
    uint64_t mem_total = mb.memory.total, res_total = mb.reserved.total;

    c.allow = 0; /* every growth fails from here */
    EXPECT_ERR(cma__memblock_add(&mb, 0x100000, 0x1000), -CMA_ENOMEM);
    EXPECT_ERR(cma__memblock_add(&mb, 0x101000, 0x1000), -CMA_ENOMEM);
    EXPECT_ERR(cma__memblock_free(&mb, 0x400, 0x100), -CMA_ENOMEM); /* split needs a slot */
    EXPECT_OK(cma__memblock_free(&mb, 0x2000, 0x1000)); /* deleting needs none */
    EXPECT_ERR(cma__memblock_remove(&mb, 0x2400, 0x100), -CMA_ENOMEM);
    EXPECT_OK(cma__memblock_remove(&mb, 0x2000, 0x800)); /* shrinking needs none */
    EXPECT_OK(cma__memblock_reserve(&mb, 0x2800, 0x800)); /* takes the freed slot: full again */
    EXPECT_OK(cma__memblock_free(&mb, 0x0, 0x800));        /* shrinking needs none */
    /* [0, 0x800) is free, but a 1 KiB-aligned piece of it cannot touch the reservation at 0x800, so
     * it needs a new entry: fails with nothing changed */
    EXPECT_ERR(cma__memblock_alloc_range(&mb, 0x100, 0x400, 0, 0, &b), -CMA_ENOMEM);
    EXPECT_UEQ(b, 0x77);
    EXPECT_TRUE(mb.memory.regions == mem_before);
    EXPECT_EQ(mb.memory.cnt, 128);
    EXPECT_EQ(mb.reserved.cnt, 128);
    EXPECT_UEQ(mb.memory.total, mem_total - 0x800);
    EXPECT_UEQ(mb.reserved.total, res_total - 0x1000);
    EXPECT_OK(cma__memblock_alloc_range(&mb, 0x100, 1, 0, 0x800, &b)); /* merges: no slot */
    EXPECT_UEQ(b, 0x700);
    EXPECT_OK(cma__memblock_add(&mb, 0x1000, 0x1800)); /* bridging two regions needs no slot */
    EXPECT_EQ(mb.memory.cnt, 127);
    EXPECT_FALSE(cma__memblock_is_reserved(&mb, 0x100000, 0x2000));
    EXPECT_FALSE(cma__memblock_is_memory(&mb, 0x100000, 1));
    EXPECT_MB_VALID(&mb);

    c.allow = -1; /* with memory available the same calls succeed */
    EXPECT_OK(cma__memblock_alloc_range(&mb, 0x100, 0x400, 0, 0x800, &b));
    EXPECT_UEQ(b, 0x400);
    EXPECT_EQ(mb.reserved.max, 256);
    EXPECT_OK(cma__memblock_add(&mb, 0x100000, 0x1000)); /* the slot the bridge freed */
    EXPECT_EQ(mb.memory.max, 128);
    EXPECT_OK(cma__memblock_add(&mb, 0x102000, 0x1000));
    EXPECT_EQ(mb.memory.max, 256);
    EXPECT_UEQ(cma__memblock_metadata_bytes(&mb), (256 + 256) * sizeof(struct cma_mb_region));
    EXPECT_EQ(c.live, (int64_t)cma__memblock_metadata_bytes(&mb));
    EXPECT_MB_VALID(&mb);
    cma__memblock_fini(&mb);
    EXPECT_EQ(c.live, 0);
}

/* ---- randomized against a shadow model ---------------------------------------------------------
 * The address space BASE + [0, UNITS * G) in units of G bytes; each unit is a hole, memory or reserved.
 * Every operation uses unit-aligned ranges, so the regions must be unit-aligned too and can be
 * compared with the shadow exactly. Alignments are powers of two up to far beyond the space.
 */
enum { G = 64, UNITS = 1024 }; /* 64 KiB */
#define SH_BASE (16 * MiB)
enum { SH_HOLE, SH_MEM, SH_RES };

static uint8_t shadow[UNITS];

static uint64_t u2a(uint64_t u) { return SH_BASE + u * G; }

/* Counts units of [u, u + n) in state s. */
static uint64_t sh_count(uint64_t u, uint64_t n, int s)
{
    uint64_t k = 0;
    for (uint64_t i = u; i < u + n; i++)
        k += shadow[i] == s;
    return k;
}

static void sh_set(uint64_t u, uint64_t n, int s)
{
    for (uint64_t i = u; i < u + n; i++)
        shadow[i] = (uint8_t)s;
}

/* Expected alloc result: brute force over unit bases. */
static bool sh_alloc(uint64_t n, uint64_t align, uint64_t su, uint64_t eu, bool up, uint64_t *u_out)
{
    bool found = false;
    if (eu > UNITS)
        eu = UNITS;
    for (uint64_t u = su; u + n <= eu; u++) {
        if (u2a(u) % align || sh_count(u, n, SH_MEM) != n)
            continue;
        *u_out = u;
        found = true;
        if (up)
            break;
    }
    return found;
}

/* Compares memblock with the shadow; returns false (after reporting) on the first mismatch. */
static bool sh_compare(const struct cma_memblock *mb, uint64_t op)
{
    static uint8_t got[UNITS];
    int before = test_failures;
    memset(got, SH_HOLE, sizeof got);
    for (int pass = 0; pass < 2; pass++) {
        const struct cma_mb_type *t = pass ? &mb->reserved : &mb->memory;
        for (size_t i = 0; i < t->cnt; i++) {
            const struct cma_mb_region *r = &t->regions[i];
            if (r->base < SH_BASE || (r->base - SH_BASE) % G || r->size % G ||
                r->base + r->size > u2a(UNITS)) {
                test_fail_(__FILE__, __LINE__, "op %" PRIu64 ": region %#" PRIx64 "+%#" PRIx64
                           " off the unit grid", op, r->base, r->size);
                return false;
            }
            for (uint64_t u = (r->base - SH_BASE) / G; u < (r->base + r->size - SH_BASE) / G; u++)
                got[u] = pass ? SH_RES : SH_MEM;
        }
    }
    for (unsigned u = 0; u < UNITS; u++)
        if (got[u] != shadow[u]) {
            test_fail_(__FILE__, __LINE__, "op %" PRIu64 ": unit %u (%#" PRIx64 ") is %d, shadow %d",
                       op, u, u2a(u), got[u], shadow[u]);
            break;
        }
    check_mb(mb, __FILE__, __LINE__);
    return test_failures == before;
}

/* A random unit range: half the time inside an existing region of t (to make success likely). */
static void pick_range(struct test_rng *rng, const struct cma_mb_type *t, uint64_t *u, uint64_t *n)
{
    if (t->cnt && test_rng_below(rng, 2)) {
        const struct cma_mb_region *r = &t->regions[test_rng_below(rng, t->cnt)];
        uint64_t ru = (r->base - SH_BASE) / G, rn = r->size / G;
        *u = ru + test_rng_below(rng, rn);
        *n = 1 + test_rng_below(rng, ru + rn - *u);
        return;
    }
    *u = test_rng_below(rng, UNITS);
    *n = 1 + test_rng_below(rng, test_rng_below(rng, 4) ? 16 : 256);
    if (*u + *n > UNITS)
        *n = UNITS - *u;
}

static void test_random_vs_shadow(void)
{
    struct cma_memblock mb;
    struct test_rng rng;
    uint64_t ops = test_env_u64("CMA_TEST_OPS", 5000);
    uint64_t nok[6] = {0};
    ASSERT_OK(mb_setup(&mb));
    test_rng_init(&rng, test_seed_value);
    memset(shadow, SH_HOLE, sizeof shadow);

    for (uint64_t op = 0; op < ops; op++) {
        uint64_t u, n, kind = test_rng_below(&rng, 16);
        int r, want;
        if (kind < 3) { /* add */
            pick_range(&rng, &mb.memory, &u, &n);
            if (test_rng_below(&rng, 2)) { /* small ones, more likely to land in a hole */
                u = test_rng_below(&rng, UNITS);
                n = 1 + test_rng_below(&rng, u + 24 > UNITS ? UNITS - u : 24);
            }
            want = sh_count(u, n, SH_HOLE) == n ? 0 : -CMA_EEXIST;
            r = cma__memblock_add(&mb, u2a(u), n * G);
            if (!r)
                sh_set(u, n, SH_MEM), nok[0]++;
        } else if (kind < 5) { /* remove */
            pick_range(&rng, &mb.memory, &u, &n);
            want = sh_count(u, n, SH_HOLE) ? -CMA_ENOENT : sh_count(u, n, SH_RES) ? -CMA_EBUSY : 0;
            r = cma__memblock_remove(&mb, u2a(u), n * G);
            if (!r)
                sh_set(u, n, SH_HOLE), nok[1]++;
        } else if (kind < 8) { /* reserve */
            pick_range(&rng, &mb.memory, &u, &n);
            want = sh_count(u, n, SH_HOLE) ? -CMA_EINVAL : sh_count(u, n, SH_RES) ? -CMA_EBUSY : 0;
            r = cma__memblock_reserve(&mb, u2a(u), n * G);
            if (!r)
                sh_set(u, n, SH_RES), nok[2]++;
        } else if (kind < 11) { /* free */
            pick_range(&rng, &mb.reserved, &u, &n);
            want = sh_count(u, n, SH_RES) == n ? 0 : -CMA_ENOENT;
            r = cma__memblock_free(&mb, u2a(u), n * G);
            if (!r)
                sh_set(u, n, SH_MEM), nok[3]++;
        } else if (kind < 15) { /* alloc */
            uint64_t shift = test_rng_below(&rng, 8) ? test_rng_below(&rng, 13) : test_rng_below(&rng, 30);
            uint64_t align = 1ull << shift;
            uint64_t su = test_rng_below(&rng, 3) ? 0 : test_rng_below(&rng, UNITS);
            uint64_t eu = test_rng_below(&rng, 3) ? 0 : su + test_rng_below(&rng, UNITS - su + 1);
            cma_phys_t start = su ? u2a(su) : 0, end = eu ? u2a(eu) : 0, got = UINT64_MAX;
            uint64_t wu = 0;
            bool up = test_rng_below(&rng, 2);
            n = 1 + test_rng_below(&rng, test_rng_below(&rng, 4) ? 8 : 128);
            mb.bottom_up = up;
            want = sh_alloc(n, align, su, eu ? eu : UNITS, up, &wu) ? 0 : -CMA_ENOMEM;
            r = cma__memblock_alloc_range(&mb, n * G, align, start, end, &got);
            if (!r && !want) {
                if (got != u2a(wu))
                    test_fail_(__FILE__, __LINE__, "op %" PRIu64 ": alloc(%" PRIu64 " units, align %#"
                               PRIx64 ", [%#" PRIx64 ", %#" PRIx64 "), %s) at %#" PRIx64
                               ", expected %#" PRIx64, op, n, align, start, end,
                               up ? "bottom-up" : "top-down", got, u2a(wu));
                sh_set(wu, n, SH_RES);
                nok[4]++;
            }
        } else { /* queries and malformed calls change nothing */
            pick_range(&rng, &mb.memory, &u, &n);
            EXPECT_TRUE(cma__memblock_is_reserved(&mb, u2a(u), n * G) == (sh_count(u, n, SH_RES) != 0));
            EXPECT_TRUE(cma__memblock_is_memory(&mb, u2a(u), n * G) == (sh_count(u, n, SH_HOLE) == 0));
            switch (test_rng_below(&rng, 4)) {
            case 0: r = cma__memblock_add(&mb, u2a(u), 0); break;
            case 1: r = cma__memblock_remove(&mb, UINT64_MAX - G * u, G * u + 1); break;
            case 2: r = cma__memblock_reserve(&mb, u2a(u), 0); break;
            default: r = cma__memblock_free(&mb, u2a(u), 0); break;
            }
            want = -CMA_EINVAL;
            nok[5]++;
        }
        if (r != want)
            test_fail_(__FILE__, __LINE__, "op %" PRIu64 " (kind %" PRIu64 ", units %" PRIu64 "+%" PRIu64
                       "): returned %s, expected %s", op, kind, u, n, cma_err_name(r),
                       cma_err_name(want));
        if (test_failures || !sh_compare(&mb, op))
            break;
    }
    if (test_verbose)
        printf("  ok: add %" PRIu64 " remove %" PRIu64 " reserve %" PRIu64 " free %" PRIu64
               " alloc %" PRIu64 " query %" PRIu64 "; final %zu memory / %zu reserved regions\n",
               nok[0], nok[1], nok[2], nok[3], nok[4], nok[5], mb.memory.cnt, mb.reserved.cnt);
    /* a run that never succeeds at something is not testing it */
    if (ops >= 1000)
        for (int i = 0; i < 6; i++)
            EXPECT_GT(nok[i], 0);
    cma__memblock_fini(&mb);
}

int main(int argc, char **argv)
{
    return test_main(argc, argv, TEST(test_init_fini), TEST(test_add_merge_adjacent),
                     TEST(test_add_merge_any_order), TEST(test_add_errors), TEST(test_remove),
                     TEST(test_reserve), TEST(test_free), TEST(test_alloc_top_down),
                     TEST(test_alloc_bottom_up), TEST(test_alloc_skips_holes_and_reserved),
                     TEST(test_alloc_errors_and_extremes), TEST(test_growth),
                     TEST(test_growth_failure), TEST(test_random_vs_shadow));
}
