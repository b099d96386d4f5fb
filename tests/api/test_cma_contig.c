/* SPDX-License-Identifier: MIT */
/*
 * tests/api/test_cma_contig.c - contiguous ranges outside CMA areas (cma_alloc_contig_range,
 * cma_free_contig_range, cma_alloc_contig_pages) and where unmovable allocations may land.
 * Through <cma/cma.h> only.
 *
 *   unaligned_range          [start, end) with unaligned ends inside large free buddies: exactly
 *                            those pages are taken (the free count drops by end - start, the pages
 *                            just before start and at end can still be taken), partial frees of
 *                            sub-ranges, -EFAULT / -EINVAL frees that change nothing, full merge back
 *   contig_errors            -EINVAL bad ranges (empty, past the end, in a hole, across spans),
 *                            -EPERM before online, -EBUSY for an unmovable, pinned, reserved or
 *                            contiguously allocated page inside and for ranges touching a CMA area,
 *                            labels and counters unchanged afterwards
 *   contig_migrates          owners inside the range move out (contents intact, targets outside the
 *                            range and CMA), clean discardable ones are dropped; a referenced block
 *                            gives -EBUSY until it is put
 *   contig_pages_outside_cma cma_alloc_contig_pages never returns CMA memory (even when CMA is all
 *                            free and nothing else is left: -ENOMEM), skips unmovable pages,
 *                            migrates movable ones, results aligned and disjoint; -EINVAL arguments
 *   unmovable_never_in_cma   seeded random mixes of UNMOVABLE / RECLAIMABLE / MOVABLE blocks of orders
 *                            0..5 until memory is full: no UNMOVABLE or RECLAIMABLE block in a CMA
 *                            pageblock (they fail while CMA still has free pages), MOVABLE blocks use
 *                            every CMA page once the rest is gone
 */
#include "cma_world.h"



/* ---- helpers --------------------------------------------------------------------------------------- */

/* Every managed page is free again and fully merged: the machine yields exactly its max-order blocks
 * outside CMA to UNMOVABLE requests (the layouts here are max-order aligned). */
static void expect_all_free_merged_(struct mach *m, const char *file, int line)
{
    struct cma_mm *mm = m->mm;
    EXPECT_OK(cma_drain_cpu_caches(mm));
    struct cma_mm_stats st = mstats(mm);
    if (st.nr_free_total != st.nr_managed)
        test_fail_(file, line, "free %" PRIu64 " of %" PRIu64 " managed pages", st.nr_free_total,
                   st.nr_managed);
    unsigned mo = cma_mm_max_order(mm);
    uint64_t want = (st.nr_managed - m->acount) >> mo, got = 0;
    cma_pfn_t *v = calloc(want + 1, sizeof *v);
    while (got <= want && cma_alloc_pages(mm, mo, CMA_GFP_UNMOVABLE, &v[got]) == 0)
        got++;
    if (got != want)
        test_fail_(file, line, "%" PRIu64 " free max-order blocks outside CMA, expected %" PRIu64, got, want);
    for (uint64_t i = 0; i < got; i++)
        EXPECT_OK(cma_free_pages(mm, v[i], mo));
    free(v);
    char why[256];
    if (cma_mm_check(mm, why, sizeof why))
        test_fail_(file, line, "invariant checker: %s", why);
}
#define expect_all_free_merged(m) expect_all_free_merged_((m), __FILE__, __LINE__)

/* ---- tests --------------------------------------------------------------------------------------- */

static void unaligned_range(void)
{
    struct mach m;
    ASSERT_TRUE(mach_make(&m, 64 * MiB, 16 * MiB, 48 * MiB, CMA_BACKING_NONE, 50));
    struct cma_mm *mm = m.mm;
    const cma_pfn_t start = 3 * 1024 + 3, end = 5 * 1024 + 7, n = end - start;
    struct cma_mm_stats s0 = mstats(mm);
    ASSERT_OK(cma_alloc_contig_range(mm, start, end));
    struct cma_mm_stats s1 = mstats(mm);
    EXPECT_UEQ(s1.nr_free_total, s0.nr_free_total - n);
    EXPECT_UEQ(s1.nr_allocated, s0.nr_allocated + n);
    EXPECT_CHECK(mm);
    /* the neighbours were split off and are free */
    EXPECT_OK(cma_alloc_contig_range(mm, start - 1, start));
    EXPECT_OK(cma_alloc_contig_range(mm, end, end + 1));
    EXPECT_OK(cma_free_contig_range(mm, start - 1, 1));
    EXPECT_OK(cma_free_contig_range(mm, end, 1));
    EXPECT_OK(cma_alloc_contig_range(mm, start - 3, start)); /* the whole head piece */
    EXPECT_OK(cma_free_contig_range(mm, start - 3, 3));
    /* the range is taken: not again, not partly, not as a buddy block */
    EXPECT_ERR(cma_alloc_contig_range(mm, start - 1, start + 1), -CMA_EBUSY);
    EXPECT_ERR(cma_alloc_contig_range(mm, end - 1, end + 1), -CMA_EBUSY);
    EXPECT_ERR(cma_alloc_contig_range(mm, start + 10, start + 20), -CMA_EBUSY);
    EXPECT_ERR(cma_free_pages(mm, start, 0), -CMA_EFAULT);
    EXPECT_ERR(cma_free_pages(mm, start + 1, 0), -CMA_EFAULT);
    EXPECT_ERR(cma_page_get(mm, start), -CMA_EFAULT);
    EXPECT_ERR(cma_page_set_movable(mm, start, NULL, NULL), -CMA_EFAULT);
    s1 = mstats(mm);
    EXPECT_UEQ(s1.nr_allocated, s0.nr_allocated + n);
    EXPECT_CHECK(mm);

    /* partial frees */
    EXPECT_OK(cma_free_contig_range(mm, start + 100, 200));
    struct cma_mm_stats s2 = mstats(mm);
    EXPECT_UEQ(s2.nr_allocated, s0.nr_allocated + n - 200);
    EXPECT_ERR(cma_free_contig_range(mm, start + 100, 200), -CMA_EFAULT); /* again */
    EXPECT_ERR(cma_free_contig_range(mm, start + 50, 100), -CMA_EFAULT);  /* half free */
    EXPECT_ERR(cma_free_contig_range(mm, start + 299, 2), -CMA_EFAULT);
    EXPECT_ERR(cma_free_contig_range(mm, end - 1, 2), -CMA_EFAULT);      /* runs past the end */
    EXPECT_ERR(cma_free_contig_range(mm, start - 1, 2), -CMA_EFAULT);    /* starts before */
    EXPECT_ERR(cma_free_contig_range(mm, start, 0), -CMA_EINVAL);
    EXPECT_ERR(cma_free_contig_range(mm, 64 * MiB / 4096, 1), -CMA_EINVAL); /* no memory */
    EXPECT_ERR(cma_free_contig_range(mm, 64 * MiB / 4096 - 1, 2), -CMA_EINVAL);
    EXPECT_ERR(cma_free_contig_range(NULL, start, 1), -CMA_EINVAL);
    cma_pfn_t b;
    ASSERT_OK(cma_alloc_pages(mm, 0, CMA_GFP_UNMOVABLE, &b));
    EXPECT_ERR(cma_free_contig_range(mm, b, 1), -CMA_EFAULT); /* a buddy block */
    struct cma_mm_stats s3 = mstats(mm);
    EXPECT_UEQ(s3.nr_allocated, s2.nr_allocated + 1);
    EXPECT_OK(cma_free_pages(mm, b, 0));
    EXPECT_CHECK(mm);
    /* the rest, piece by piece, odd sizes */
    EXPECT_OK(cma_free_contig_range(mm, start + 1, 99));
    EXPECT_OK(cma_free_contig_range(mm, start, 1));
    EXPECT_OK(cma_free_contig_range(mm, start + 300, 1001));
    EXPECT_OK(cma_free_contig_range(mm, start + 1301, end - start - 1301));
    EXPECT_UEQ(mstats(mm).nr_allocated, 0);
    expect_all_free_merged(&m);

    /* ranges that are exactly one page, one pageblock, one max-order block */
    const cma_pfn_t one[][2] = {{7, 8}, {512, 1024}, {1024, 2048}, {511, 1025}};
    for (size_t i = 0; i < sizeof one / sizeof one[0]; i++) {
        EXPECT_OK(cma_alloc_contig_range(mm, one[i][0], one[i][1]));
        EXPECT_UEQ(mstats(mm).nr_allocated, one[i][1] - one[i][0]);
        EXPECT_OK(cma_free_contig_range(mm, one[i][0], one[i][1] - one[i][0]));
    }
    expect_all_free_merged(&m);
    test_mm_finish(mm);
}

static void contig_errors(void)
{
    struct cma_mm_config cfg;
    struct cma_mm *mm;
    struct cma_area *area;
    cma_mm_config_default(&cfg);
    ASSERT_OK(cma_mm_create(&cfg, &mm));
    /* two spans: [0, 32 MiB) and [64 MiB, 96 MiB); area at [72, 80) MiB; 64 KiB reserved at 8 MiB */
    ASSERT_OK(cma_memblock_add(mm, 0, 32 * MiB));
    ASSERT_OK(cma_memblock_add(mm, 64 * MiB, 32 * MiB));
    ASSERT_OK(cma_memblock_reserve(mm, 8 * MiB, 64 * KiB));
    ASSERT_OK(cma_declare_contiguous(mm, "test", 8 * MiB, 72 * MiB, 0, 0, 0, &area));
    EXPECT_ERR(cma_alloc_contig_range(mm, 0, 16), -CMA_EPERM);
    cma_pfn_t p = 1;
    EXPECT_ERR(cma_alloc_contig_pages(mm, 16, 0, &p), -CMA_EPERM);
    EXPECT_ERR(cma_free_contig_range(mm, 0, 1), -CMA_EPERM);
    ASSERT_OK(cma_mm_online(mm));
    const cma_pfn_t span1_end = 32 * MiB / 4096, span2 = 64 * MiB / 4096, span2_end = 96 * MiB / 4096;
    const cma_pfn_t abase = 72 * MiB / 4096, aend = 80 * MiB / 4096, res = 8 * MiB / 4096;

    struct cma_mm_stats s0 = mstats(mm);
    EXPECT_ERR(cma_alloc_contig_range(NULL, 0, 1), -CMA_EINVAL);
    EXPECT_ERR(cma_alloc_contig_range(mm, 10, 10), -CMA_EINVAL);
    EXPECT_ERR(cma_alloc_contig_range(mm, 11, 10), -CMA_EINVAL);
    EXPECT_ERR(cma_alloc_contig_range(mm, span1_end - 4, span1_end + 4), -CMA_EINVAL); /* into the hole */
    EXPECT_ERR(cma_alloc_contig_range(mm, span1_end, span1_end + 4), -CMA_EINVAL);     /* in the hole */
    EXPECT_ERR(cma_alloc_contig_range(mm, span1_end - 4, span2 + 4), -CMA_EINVAL);     /* across spans */
    EXPECT_ERR(cma_alloc_contig_range(mm, span2_end - 1, span2_end + 1), -CMA_EINVAL); /* past the end */
    EXPECT_ERR(cma_alloc_contig_range(mm, span2_end, span2_end + 1), -CMA_EINVAL);
    /* CMA: inside, overlapping either edge */
    EXPECT_ERR(cma_alloc_contig_range(mm, abase + 10, abase + 20), -CMA_EBUSY);
    EXPECT_ERR(cma_alloc_contig_range(mm, abase - 5, abase + 5), -CMA_EBUSY);
    EXPECT_ERR(cma_alloc_contig_range(mm, aend - 5, aend + 5), -CMA_EBUSY);
    EXPECT_ERR(cma_alloc_contig_range(mm, span2, span2_end), -CMA_EBUSY);
    /* a reserved page */
    EXPECT_ERR(cma_alloc_contig_range(mm, res - 3, res + 3), -CMA_EBUSY);
    EXPECT_ERR(cma_alloc_contig_range(mm, res + 15, res + 17), -CMA_EBUSY);
    struct cma_mm_stats s1 = mstats(mm);
    expect_same_counts(&s0, &s1);
    EXPECT_CHECK(mm);

    /* an unmovable page, a pinned movable page, another contiguous allocation */
    cma_pfn_t u, pin, np;
    ASSERT_OK(cma_alloc_pages(mm, 0, CMA_GFP_UNMOVABLE, &u));
    ASSERT_OK(cma_alloc_pages(mm, 2, CMA_GFP_MOVABLE, &pin));
    ASSERT_TRUE(pin < abase || pin >= aend);
    static const struct cma_movable_ops nop = {NULL, cb_migrate, NULL, NULL};
    (void)nop;
    ASSERT_OK(cma_page_pin_longterm(mm, pin, &np));
    EXPECT_UEQ(np, pin);
    const cma_pfn_t cs = 20 * MiB / 4096 + 5;
    ASSERT_OK(cma_alloc_contig_range(mm, cs, cs + 100));
    s0 = mstats(mm);
    int pbt_u = cma_pageblock_type(mm, u), pbt_p = cma_pageblock_type(mm, pin);
    EXPECT_ERR(cma_alloc_contig_range(mm, u > 3 ? u - 3 : 0, u + 3), -CMA_EBUSY);
    EXPECT_ERR(cma_alloc_contig_range(mm, u, u + 1), -CMA_EBUSY);
    EXPECT_ERR(cma_alloc_contig_range(mm, pin + 3, pin + 600), -CMA_EBUSY);
    EXPECT_ERR(cma_alloc_contig_range(mm, cs + 99, cs + 200), -CMA_EBUSY);
    EXPECT_ERR(cma_alloc_contig_range(mm, cs - 100, cs + 1), -CMA_EBUSY);
    s1 = mstats(mm);
    expect_same_counts(&s0, &s1);
    EXPECT_EQ(cma_pageblock_type(mm, u), pbt_u);
    EXPECT_EQ(cma_pageblock_type(mm, pin), pbt_p);
    EXPECT_EQ(cma_pageblock_type(mm, cs), CMA_MIGRATE_MOVABLE);
    for (cma_pfn_t pb = abase; pb < aend; pb += 512)
        EXPECT_EQ(cma_pageblock_type(mm, pb), CMA_MIGRATE_CMA);
    EXPECT_CHECK(mm);
    /* right next to them is fine (sub-pageblock precision) */
    if (u + 2 < span1_end && (u + 1) % 512) {
        EXPECT_OK(cma_alloc_contig_range(mm, u + 1, u + 2));
        EXPECT_OK(cma_free_contig_range(mm, u + 1, 1));
    }
    EXPECT_OK(cma_alloc_contig_range(mm, cs + 100, cs + 101));
    EXPECT_OK(cma_free_contig_range(mm, cs, 101)); /* frees across both allocations */
    EXPECT_OK(cma_page_unpin(mm, pin));
    EXPECT_OK(cma_free_pages(mm, pin, 2));
    EXPECT_OK(cma_free_pages(mm, u, 0));
    s1 = mstats(mm);
    EXPECT_UEQ(s1.nr_allocated, 0);
    test_mm_finish(mm);
}

static void contig_migrates(void)
{
    struct mach m;
    ASSERT_TRUE(mach_make(&m, 64 * MiB, 16 * MiB, 48 * MiB, CMA_BACKING_HOST, 100));
    world_init(&m, 0xb00);
    struct cma_mm *mm = m.mm;
    /* owners outside CMA (cma_first_percent 100: the normal lists first) */
    for (int i = 0; i < 3000; i++) {
        struct owner *o;
        ASSERT_OK(owner_alloc((unsigned)test_rng_below(&W.rng, 3), i % 4 ? &ops_full : &ops_plain,
                              i % 4 == 1, &o));
        ASSERT_FALSE(in_area(&m, o->pfn));
    }
    free_some(30);
    cma_pfn_t lo = CMA_PFN_NONE, hi = 0;
    for (size_t i = 0; i < W.n; i++)
        if (W.o[i].pfn != CMA_PFN_NONE) {
            lo = W.o[i].pfn < lo ? W.o[i].pfn : lo;
            hi = W.o[i].pfn > hi ? W.o[i].pfn : hi;
        }
    const cma_pfn_t start = lo + (hi - lo) / 4 + 1, end = lo + (hi - lo) / 2 + 3;
    uint64_t inside = 0, clean_inside = 0;
    for (size_t i = 0; i < W.n; i++) {
        struct owner *o = &W.o[i];
        if (o->pfn != CMA_PFN_NONE && o->pfn < end && o->pfn + (1ull << o->order) > start) {
            inside++;
            clean_inside += (i % 4 == 1);
        }
    }
    ASSERT_TRUE(inside > 10 && clean_inside > 0);
    world_verify(0, 0, 0);

    /* a referenced owner inside: -EBUSY (after the other owners moved), nothing lost */
    struct owner *R = NULL;
    for (size_t i = 0; i < W.n && !R; i++)
        if (W.o[i].pfn != CMA_PFN_NONE && W.o[i].pfn >= start + 20 && W.o[i].pfn + 4 < end &&
            i % 4 != 1)
            R = &W.o[i];
    ASSERT_TRUE(R != NULL);
    ASSERT_OK(cma_page_get(mm, R->pfn));
    struct cma_mm_stats s0 = mstats(mm);
    EXPECT_ERR(cma_alloc_contig_range(mm, start, end), -CMA_EBUSY);
    EXPECT_EQ(R->migrations, 0);
    world_verify(0, 0, 0);
    EXPECT_OK(cma_page_put(mm, R->pfn));

    ASSERT_OK(cma_alloc_contig_range(mm, start, end));
    struct cma_mm_stats s1 = mstats(mm);
    EXPECT_EQ(R->migrations, 1);
    EXPECT_EQ(R->migrations, 1);
    world_verify(start, end, end - start);
    EXPECT_GT(s1.pgdiscard - s0.pgdiscard, 0);
    EXPECT_GT(W.n_discard, 0);
    for (size_t i = 0; i < W.n; i++) /* dropped, never copied */
        if (W.o[i].discards)
            EXPECT_EQ(W.o[i].migrations, 0);
    EXPECT_OK(cma_free_contig_range(mm, start, end - start));
    world_free_all();
    world_fini();
    expect_all_free_merged(&m);
    test_mm_finish(mm);
}

static void contig_pages_outside_cma(void)
{
    struct mach m;
    ASSERT_TRUE(mach_make(&m, 64 * MiB, 16 * MiB, 16 * MiB, CMA_BACKING_NONE, 50));
    world_init(&m, 0xc00);
    struct cma_mm *mm = m.mm;
    cma_pfn_t p = 0, got[64];
    size_t n = 0;
    EXPECT_ERR(cma_alloc_contig_pages(mm, 0, 0, &p), -CMA_EINVAL);
    EXPECT_UEQ(p, CMA_PFN_NONE);
    EXPECT_ERR(cma_alloc_contig_pages(mm, 1, 31, &p), -CMA_EINVAL);
    EXPECT_ERR(cma_alloc_contig_pages(mm, 1, 0, NULL), -CMA_EINVAL);
    EXPECT_ERR(cma_alloc_contig_pages(NULL, 1, 0, &p), -CMA_EINVAL);

    /* everything outside CMA, pageblock by pageblock, then nothing: CMA is never used */
    int r;
    while (n < 64 && (r = cma_alloc_contig_pages(mm, 512, 9, &got[n])) == 0) {
        EXPECT_UEQ(got[n] & 511, 0);
        EXPECT_FALSE(got[n] + 512 > m.abase && got[n] < m.aend);
        EXPECT_NE(cma_pageblock_type(mm, got[n]), CMA_MIGRATE_CMA);
        for (size_t k = 0; k < n; k++)
            EXPECT_NE(got[k], got[n]);
        n++;
    }
    EXPECT_ERR(r, -CMA_ENOMEM);
    EXPECT_UEQ(n, (64 - 16) * MiB / (2 * MiB));
    struct cma_mm_stats st = mstats(mm);
    EXPECT_UEQ(st.nr_free_cma, m.acount); /* the area is all free and was not touched */
    EXPECT_UEQ(st.nr_free_total, m.acount);
    EXPECT_ERR(cma_alloc_contig_pages(mm, 1, 0, &p), -CMA_ENOMEM);
    EXPECT_CHECK(mm);
    for (size_t k = 0; k < n; k++)
        EXPECT_OK(cma_free_contig_range(mm, got[k], 512));

    /* unmovable pages in the way are skipped; movable owners are moved */
    cma_pfn_t un[5] = {100, 2048 + 700, 8192 + 3, 10000, 16383};
    grab(mm, CMA_GFP_UNMOVABLE, un, 5);
    for (int i = 0; i < 2000; i++) {
        struct owner *o;
        ASSERT_OK(owner_alloc(0, &ops_full, false, &o));
    }
    free_some(50);
    uint64_t clean = 0;
    for (cma_pfn_t w = 0; w < 16384; w += 1024) {
        bool ok = !(w + 1024 > m.abase && w < m.aend);
        for (int k = 0; k < 5; k++)
            ok &= !(un[k] >= w && un[k] < w + 1024);
        clean += ok;
    }
    n = 0;
    while (n < 64 && (r = cma_alloc_contig_pages(mm, 1024, 10, &got[n])) == 0) {
        EXPECT_UEQ(got[n] & 1023, 0);
        EXPECT_FALSE(got[n] + 1024 > m.abase && got[n] < m.aend);
        for (int k = 0; k < 5; k++)
            EXPECT_FALSE(un[k] >= got[n] && un[k] < got[n] + 1024);
        n++;
        uint64_t extra = 5;
        for (size_t k = 0; k < n; k++)
            extra += 1024;
        world_verify(got[n - 1], got[n - 1] + 1024, extra);
    }
    /* the owners moved out of the way need room: all clean windows but the room they take */
    EXPECT_TRUE(r == -CMA_ENOMEM);
    EXPECT_GE(n, 1);
    EXPECT_LE(n, clean);
    for (size_t i = 0; i < W.n; i++) /* targets are never in CMA either */
        if (W.o[i].pfn != CMA_PFN_NONE && W.o[i].migrations)
            EXPECT_FALSE(in_area(&m, W.o[i].pfn));
    for (size_t k = 0; k < n; k++)
        EXPECT_OK(cma_free_contig_range(mm, got[k], 1024));
    /* an odd size, no alignment */
    ASSERT_OK(cma_alloc_contig_pages(mm, 300, 0, &p));
    EXPECT_FALSE(p + 300 > m.abase && p < m.aend);
    world_verify(p, p + 300, 5 + 300);
    EXPECT_OK(cma_free_contig_range(mm, p, 300));
    for (int k = 0; k < 5; k++)
        EXPECT_OK(cma_free_pages(mm, un[k], 0));
    world_free_all();
    world_fini();
    test_mm_finish(mm);
}

struct blk {
    cma_pfn_t pfn;
    unsigned order, gfp;
};

static void unmovable_never_in_cma(void)
{
    for (int round = 0; round < 3; round++) {
        struct mach m;
        ASSERT_TRUE(mach_make(&m, 64 * MiB, 16 * MiB, round == 1 ? 0 : (16 + 8 * (uint64_t)round) * MiB,
                              CMA_BACKING_NONE, round == 2 ? 0 : 50));
        struct cma_mm *mm = m.mm;
        struct test_rng rng;
        test_rng_init(&rng, test_seed_value ^ (0xd00 + (uint64_t)round));
        size_t cap = (size_t)mstats(mm).nr_managed, n = 0;
        struct blk *v = malloc(cap * sizeof *v);
        bool first_fail_seen[3] = {false, false, false};
        uint64_t cma_free_at_fail[3] = {0, 0, 0};
        static const unsigned gfps[3] = {CMA_GFP_UNMOVABLE, CMA_GFP_RECLAIMABLE, CMA_GFP_MOVABLE};
        for (;;) {
            unsigned g = (unsigned)test_rng_below(&rng, 3), order = (unsigned)test_rng_below(&rng, 6);
            cma_pfn_t pfn;
            int r = cma_alloc_pages(mm, order, gfps[g], &pfn);
            if (r == -CMA_ENOMEM && gfps[g] != CMA_GFP_MOVABLE && !first_fail_seen[g] &&
                order > 0 && (r = cma_alloc_pages(mm, 0, gfps[g], &pfn)) == 0)
                order = 0; /* not out of memory for this type yet: keep the page */
            if (r == -CMA_ENOMEM) {
                if (!first_fail_seen[g]) {
                    first_fail_seen[g] = true;
                    cma_free_at_fail[g] = mstats(mm).nr_free_cma;
                }
                if (gfps[g] == CMA_GFP_MOVABLE && order == 0)
                    break; /* nothing left anywhere */
                continue;
            }
            ASSERT_OK(r);
            ASSERT_TRUE(n < cap);
            v[n++] = (struct blk){pfn, order, gfps[g]};
            if (gfps[g] != CMA_GFP_MOVABLE && cma_pageblock_type(mm, pfn) == CMA_MIGRATE_CMA)
                test_fail_(__FILE__, __LINE__, "round %d: %s block of order %u at pfn %#" PRIx64
                           " in a CMA pageblock", round, g ? "RECLAIMABLE" : "UNMOVABLE", order, pfn);
        }
        struct cma_mm_stats st = mstats(mm);
        EXPECT_UEQ(st.nr_free_total, 0);
        for (int g = 0; g < 3; g++) {
            cma_pfn_t pfn;
            EXPECT_ERR(cma_alloc_pages(mm, 0, gfps[g], &pfn), -CMA_ENOMEM);
        }
        uint64_t movable_in_cma = 0;
        for (size_t i = 0; i < n; i++) {
            bool in = in_area(&m, v[i].pfn);
            EXPECT_EQ(in, cma_pageblock_type(mm, v[i].pfn) == CMA_MIGRATE_CMA);
            if (v[i].gfp == CMA_GFP_MOVABLE && in)
                movable_in_cma += 1ull << v[i].order;
            EXPECT_FALSE(in && v[i].gfp != CMA_GFP_MOVABLE);
        }
        EXPECT_UEQ(movable_in_cma, m.acount); /* every CMA page went to a movable request */
        /* UNMOVABLE and RECLAIMABLE ran out while CMA still had free pages (unless movable
         * requests take CMA first: cma_first_percent 0) */
        if (round != 2)
            EXPECT_GT(cma_free_at_fail[0] + cma_free_at_fail[1], 0);
        expect_area_cma(&m);
        EXPECT_CHECK(mm);
        if (test_verbose)
            printf("  round %d: %zu blocks; CMA free when UNMOVABLE/RECLAIMABLE first failed: %" PRIu64
                   "/%" PRIu64 "\n", round, n, cma_free_at_fail[0], cma_free_at_fail[1]);
        for (size_t i = n; i > 0; i--)
            EXPECT_OK(cma_free_pages(mm, v[i - 1].pfn, v[i - 1].order));
        free(v);
        expect_area_cma(&m);
        st = mstats(mm);
        EXPECT_UEQ(st.nr_free_total, st.nr_managed);
        test_mm_finish(mm);
    }
}

int main(int argc, char **argv)
{
    return test_main(argc, argv, TEST(unaligned_range), TEST(contig_errors), TEST(contig_migrates),
                     TEST(contig_pages_outside_cma), TEST(unmovable_never_in_cma));
}
