/* SPDX-License-Identifier: MIT */
/*
 * tests/api/test_cma_policy.c - CMA_POLICY_LINUX vs CMA_POLICY_DEFAULT on the same layouts, the
 * error contract of cma_alloc / cma_release, and cma_alloc_bulk. Through <cma/cma.h> only.
 *
 *   linux_steps_default_skips  one unmovable page near the start of the area: LINUX retries one
 *                              alignment step at a time (retries == aligned windows holding the
 *                              page), DEFAULT prices the windows first (retries 0); both return the
 *                              lowest clean aligned window, computed independently here
 *   random_1pct_unmovable      1 % of the area's pages unmovable at seeded random places: for many
 *                              (count, align) shapes both policies allocate exactly the lowest clean
 *                              window when one exists (LINUX with retries == windows before it,
 *                              DEFAULT with none), and both fail -EBUSY with the area clean otherwise
 *   random_mixed_layout        0.5 % unmovable + 0.5 % referenced movable pages + 30 % movable owners:
 *                              per shape, on identical fresh layouts, DEFAULT retries <= LINUX
 *                              retries, and both succeed exactly when a window without unmovable or
 *                              referenced pages exists
 *   alloc_errors               -EINVAL (count 0, count > area, align_order 31, NULL), -EPERM before
 *                              online, -ENOSPC with no free window in the bitmap and the fast failure
 *                              when available < count (no owner callback runs), counters
 *   release_errors             -EFAULT double release / never allocated / partly allocated, -EINVAL
 *                              outside the area / count 0 / too large; nothing changes; sub-range
 *                              releases
 *   order_per_bit              an area with order_per_bit 2: bit rounding, pages beyond count stay
 *                              in the buddy, unaligned release -EINVAL
 *   bulk_default / bulk_linux  cma_alloc_bulk with unmovable pages in some chunks: busy chunks
 *                              skipped, 0 with nr_done < nr when the area runs out, nr_done == nr
 *                              when possible, chunks aligned / disjoint / inside / clean, each released
 *   bulk_errors                every chunk busy -> -EBUSY, area full -> -ENOSPC (nr_done 0, nothing
 *                              allocated), -EINVAL arguments
 */
#include "cma_world.h"



/* ---- the layout model ----------------------------------------------------------------------------- */

struct layout {
    struct mach m;
    cma_pfn_t obst[256]; /* unmovable pages and referenced blocks' pages, sorted */
    size_t nobst;
    cma_pfn_t unmov[128];
    size_t nunmov;
    struct owner *refd[128];
    size_t nrefd;
};

static int cmp_pfn(const void *a, const void *b)
{
    cma_pfn_t x = *(const cma_pfn_t *)a, y = *(const cma_pfn_t *)b;
    return x < y ? -1 : x > y;
}

/* Lowest window offset (multiple of 2^align) of count pages holding no obstacle, or CMA_PFN_NONE. */
static cma_pfn_t model_lowest_clean(const struct layout *L, uint64_t count, unsigned align)
{
    const struct mach *m = &L->m;
    for (cma_pfn_t w = m->abase; w + count <= m->aend; w += 1ull << align) {
        bool clean = true;
        for (size_t i = 0; i < L->nobst && clean; i++)
            clean = !(L->obst[i] >= w && L->obst[i] < w + count);
        if (clean)
            return w;
    }
    return CMA_PFN_NONE;
}

/* A fresh 64 MiB machine with a 16 MiB area whose pages are: nunmov unmovable pages and nrefd
 * referenced movable pages at random places, movable owners on movable_pct % of the rest. The same
 * seed builds the same layout. */
static bool layout_build_(struct layout *L, uint64_t seed, size_t nunmov, size_t nrefd,
                          unsigned movable_pct, const char *file, int line)
{
    memset(L, 0, sizeof *L);
    if (!mach_make_(&L->m, 64 * MiB, 16 * MiB, 32 * MiB, CMA_BACKING_NONE, 0, file, line))
        return false;
    struct mach *m = &L->m;
    world_init(m, seed);
    while (L->nunmov < nunmov) {
        cma_pfn_t p = m->abase + test_rng_below(&W.rng, m->acount);
        bool dup = false;
        for (size_t i = 0; i < L->nunmov; i++)
            dup |= L->unmov[i] == p;
        if (!dup)
            L->unmov[L->nunmov++] = p;
    }
    grab_(m->mm, CMA_GFP_MOVABLE, L->unmov, L->nunmov, file, line);
    memcpy(L->obst, L->unmov, L->nunmov * sizeof *L->obst);
    L->nobst = L->nunmov;
    if (movable_pct || nrefd) {
        fill_area(0, &ops_full);
        /* references on random owners in the area */
        while (L->nrefd < nrefd) {
            struct owner *o = &W.o[test_rng_below(&W.rng, W.n)];
            bool dup = false;
            for (size_t i = 0; i < L->nrefd; i++)
                dup |= L->refd[i] == o;
            if (dup || !in_area(m, o->pfn))
                continue;
            if (cma_page_get(m->mm, o->pfn)) {
                test_fail_(file, line, "cma_page_get failed");
                return false;
            }
            L->refd[L->nrefd++] = o;
            L->obst[L->nobst++] = o->pfn;
        }
        for (size_t i = 0; i < W.n; i++) {
            bool keep = test_rng_below(&W.rng, 100) < movable_pct;
            for (size_t k = 0; k < L->nrefd; k++)
                keep |= L->refd[k] == &W.o[i];
            if (!keep)
                owner_free(&W.o[i]);
        }
    }
    qsort(L->obst, L->nobst, sizeof *L->obst, cmp_pfn);
    return true;
}
#define layout_build(L, seed, nu, nr, pct) layout_build_((L), (seed), (nu), (nr), (pct), __FILE__, __LINE__)

static void layout_destroy(struct layout *L)
{
    for (size_t i = 0; i < L->nrefd; i++)
        EXPECT_OK(cma_page_put(L->m.mm, L->refd[i]->pfn));
    for (size_t i = 0; i < L->nunmov; i++)
        EXPECT_OK(cma_free_pages(L->m.mm, L->unmov[i], 0));
    world_free_all();
    world_fini();
    test_mm_finish(L->m.mm);
}

struct outcome {
    int r;
    cma_pfn_t pfn;
    uint64_t retries;
};

/* One allocation on the layout; checks the result and the machine, releases it. */
static struct outcome layout_try(struct layout *L, enum cma_policy pol, uint64_t count, unsigned align)
{
    struct mach *m = &L->m;
    struct outcome out;
    EXPECT_OK(cma_area_set_policy(m->area, pol));
    struct cma_mm_stats st0 = mstats(m->mm);
    struct cma_area_stats a0 = astats(m->area);
    out.r = cma_alloc(m->area, count, align, &out.pfn);
    struct cma_area_stats a1 = astats(m->area);
    out.retries = a1.retries - a0.retries;
    uint64_t extra = L->nunmov;
    if (out.r == 0) {
        EXPECT_UEQ(out.pfn & ((1ull << align) - 1), 0);
        EXPECT_TRUE(out.pfn >= m->abase && out.pfn + count <= m->aend);
        for (size_t i = 0; i < L->nobst; i++)
            EXPECT_TRUE(L->obst[i] < out.pfn || L->obst[i] >= out.pfn + count);
        world_verify(out.pfn, out.pfn + count, extra + count);
        EXPECT_OK(cma_release(m->area, out.pfn, count));
    } else {
        EXPECT_UEQ(out.pfn, CMA_PFN_NONE);
        EXPECT_UEQ(a1.available, m->acount);
        world_verify(0, 0, extra);
        if (L->nrefd == 0 && W.n == 0) {
            struct cma_mm_stats st1 = mstats(m->mm);
            expect_same_counts(&st0, &st1);
        }
    }
    expect_area_cma(m);
    return out;
}

static const struct {
    uint64_t count;
    unsigned align;
} shapes[] = {{1, 0}, {16, 0}, {64, 0}, {64, 4}, {100, 3}, {128, 7}, {256, 0}, {300, 2},
              {512, 9}, {1024, 10}, {2048, 0}, {4096, 0}};

/* ---- policy comparison ------------------------------------------------------------------------- */

static void linux_steps_default_skips(void)
{
    struct layout L;
    memset(&L, 0, sizeof L);
    ASSERT_TRUE(mach_make(&L.m, 64 * MiB, 16 * MiB, 32 * MiB, CMA_BACKING_NONE, 0));
    world_init(&L.m, 0x500);
    const uint64_t u = 37;
    L.unmov[0] = L.obst[0] = L.m.abase + u;
    L.nunmov = L.nobst = 1;
    grab(L.m.mm, CMA_GFP_MOVABLE, L.unmov, 1);
    static const struct {
        uint64_t count;
        unsigned align;
        uint64_t want_off, linux_retries;
    } cases[] = {
        {64, 0, 38, 38},  /* every window at 0..37 holds the page */
        {64, 2, 40, 10},  /* windows 0, 4, ..., 36 */
        {100, 4, 48, 3},  /* windows 0, 16, 32 */
        {38, 0, 38, 38},  /* 38 pages starting at 0 still reach pfn 37 */
        {37, 0, 0, 0},    /* [0, 37) does not: no retry at all */
        {512, 9, 512, 1}, /* one pageblock-sized step */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        cma_pfn_t model = model_lowest_clean(&L, cases[i].count, cases[i].align);
        EXPECT_UEQ(model, L.m.abase + cases[i].want_off); /* the model agrees with the table */
        struct outcome lx = layout_try(&L, CMA_POLICY_LINUX, cases[i].count, cases[i].align);
        struct outcome df = layout_try(&L, CMA_POLICY_DEFAULT, cases[i].count, cases[i].align);
        EXPECT_OK(lx.r);
        EXPECT_OK(df.r);
        EXPECT_UEQ(lx.pfn, L.m.abase + cases[i].want_off);
        EXPECT_UEQ(df.pfn, L.m.abase + cases[i].want_off);
        EXPECT_UEQ(lx.retries, cases[i].linux_retries);
        EXPECT_UEQ(df.retries, 0);
        if (test_failures)
            fprintf(stderr, "  case count %" PRIu64 " align %u: linux %d at +%" PRId64 " (%" PRIu64
                    " retries), default %d at +%" PRId64 " (%" PRIu64 " retries)\n", cases[i].count,
                    cases[i].align, lx.r, (int64_t)(lx.pfn - L.m.abase), lx.retries, df.r,
                    (int64_t)(df.pfn - L.m.abase), df.retries);
    }
    layout_destroy(&L);
}

static void random_1pct_unmovable(void)
{
    struct layout L;
    ASSERT_TRUE(layout_build(&L, 0x600, 41, 0, 0)); /* 1 % of 4096 pages */
    uint64_t lx_total = 0, df_total = 0;
    unsigned both_ok = 0;
    for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++) {
        uint64_t count = shapes[i].count;
        unsigned align = shapes[i].align;
        cma_pfn_t want = model_lowest_clean(&L, count, align);
        struct outcome lx = layout_try(&L, CMA_POLICY_LINUX, count, align);
        struct outcome df = layout_try(&L, CMA_POLICY_DEFAULT, count, align);
        if (want != CMA_PFN_NONE) {
            both_ok++;
            EXPECT_OK(lx.r);
            EXPECT_OK(df.r);
            EXPECT_UEQ(lx.pfn, want);
            EXPECT_UEQ(df.pfn, want);
            EXPECT_UEQ(lx.retries, (want - L.m.abase) >> align); /* every aligned window before */
            EXPECT_UEQ(df.retries, 0);
        } else {
            EXPECT_ERR(lx.r, -CMA_EBUSY);
            EXPECT_ERR(df.r, -CMA_EBUSY);
            EXPECT_UEQ(df.retries, 0);
        }
        EXPECT_LE(df.retries, lx.retries);
        lx_total += lx.retries;
        df_total += df.retries;
        if (test_verbose)
            printf("  count %4" PRIu64 " align %2u: lowest clean %+6" PRId64 "; linux %s %" PRIu64
                   " retries, default %s %" PRIu64 " retries\n", count, align,
                   want == CMA_PFN_NONE ? -1 : (int64_t)(want - L.m.abase), cma_err_name(lx.r),
                   lx.retries, cma_err_name(df.r), df.retries);
    }
    EXPECT_GE(both_ok, 6);
    EXPECT_GT(lx_total, df_total);
    layout_destroy(&L);
}

static void random_mixed_layout(void)
{
    uint64_t lx_total = 0, df_total = 0;
    for (size_t i = 0; i < sizeof shapes / sizeof shapes[0] && !test_failures; i++) {
        uint64_t count = shapes[i].count;
        unsigned align = shapes[i].align;
        struct outcome res[2];
        bool exists = false;
        for (int p = 0; p < 2; p++) {
            struct layout L;
            ASSERT_TRUE(layout_build(&L, 0x700 + i, 20, 20, 30)); /* same seed: same layout */
            exists = model_lowest_clean(&L, count, align) != CMA_PFN_NONE;
            res[p] = layout_try(&L, p ? CMA_POLICY_DEFAULT : CMA_POLICY_LINUX, count, align);
            layout_destroy(&L);
        }
        if (exists) {
            EXPECT_OK(res[0].r);
            EXPECT_OK(res[1].r);
        } else {
            EXPECT_ERR(res[0].r, -CMA_EBUSY);
            EXPECT_ERR(res[1].r, -CMA_EBUSY);
        }
        EXPECT_LE(res[1].retries, res[0].retries);
        lx_total += res[0].retries;
        df_total += res[1].retries;
        if (test_verbose)
            printf("  count %4" PRIu64 " align %2u: clean window %s; linux %s %" PRIu64
                   " retries, default %s %" PRIu64 " retries\n", count, align, exists ? "yes" : "no ",
                   cma_err_name(res[0].r), res[0].retries, cma_err_name(res[1].r), res[1].retries);
    }
    EXPECT_GT(lx_total, df_total);
}

/* ---- error contract ------------------------------------------------------------------------------ */

static void expect_same_area_(const struct cma_area_stats *a, const struct cma_area_stats *b,
                              const char *file, int line)
{
    if (a->available != b->available || a->alloc_calls_success != b->alloc_calls_success ||
        a->alloc_calls_fail != b->alloc_calls_fail || a->release_pages_success != b->release_pages_success ||
        a->alloc_pages_fail != b->alloc_pages_fail || a->largest_free_chunk != b->largest_free_chunk)
        test_fail_(file, line, "area counters changed: available %" PRIu64 "->%" PRIu64
                   " calls ok %" PRIu64 "->%" PRIu64 " fail %" PRIu64 "->%" PRIu64
                   " released %" PRIu64 "->%" PRIu64, a->available, b->available,
                   a->alloc_calls_success, b->alloc_calls_success, a->alloc_calls_fail,
                   b->alloc_calls_fail, a->release_pages_success, b->release_pages_success);
}
#define expect_same_area(a, b) expect_same_area_((a), (b), __FILE__, __LINE__)

static void alloc_errors(void)
{
    /* before online */
    struct cma_mm_config cfg;
    struct cma_mm *mm0;
    struct cma_area *a;
    cma_mm_config_default(&cfg);
    ASSERT_OK(cma_mm_create(&cfg, &mm0));
    ASSERT_OK(cma_memblock_add(mm0, 0, 64 * MiB));
    ASSERT_OK(cma_declare_contiguous(mm0, "early", 8 * MiB, 0, 0, 0, 0, &a));
    cma_pfn_t pfn = 0;
    EXPECT_ERR(cma_alloc(a, 16, 0, &pfn), -CMA_EPERM);
    EXPECT_UEQ(pfn, CMA_PFN_NONE);
    size_t done = 7;
    EXPECT_ERR(cma_alloc_bulk(a, 0, 4, &pfn, &done), -CMA_EPERM);
    EXPECT_UEQ(done, 0);
    EXPECT_OK(cma_mm_destroy(mm0));

    struct mach m;
    ASSERT_TRUE(mach_make(&m, 64 * MiB, 16 * MiB, 32 * MiB, CMA_BACKING_NONE, 0));
    world_init(&m, 0x800);
    struct cma_area_stats a0 = astats(m.area);
    pfn = 0;
    EXPECT_ERR(cma_alloc(m.area, 0, 0, &pfn), -CMA_EINVAL);
    EXPECT_UEQ(pfn, CMA_PFN_NONE);
    EXPECT_ERR(cma_alloc(m.area, m.acount + 1, 0, &pfn), -CMA_EINVAL);
    EXPECT_ERR(cma_alloc(m.area, 1, 31, &pfn), -CMA_EINVAL);
    EXPECT_ERR(cma_alloc(m.area, 1, 0, NULL), -CMA_EINVAL);
    EXPECT_ERR(cma_alloc(NULL, 1, 0, &pfn), -CMA_EINVAL);
    EXPECT_ERR(cma_area_set_policy(m.area, (enum cma_policy)7), -CMA_EINVAL);
    EXPECT_ERR(cma_area_set_policy(NULL, CMA_POLICY_LINUX), -CMA_EINVAL);
    EXPECT_ERR(cma_area_set_discard(NULL, true), -CMA_EINVAL);
    EXPECT_ERR(cma_area_get_stats(m.area, NULL), -CMA_EINVAL);
    struct cma_area_stats a1 = astats(m.area);
    expect_same_area(&a0, &a1);
    /* align_order 30 is accepted (larger than the area: nothing aligned fits except its base if
     * aligned, which it is not) */
    int r = cma_alloc(m.area, 1, 30, &pfn);
    EXPECT_TRUE(r == -CMA_ENOSPC || (r == 0 && (pfn & ((1ull << 30) - 1)) == 0));

    /* fragment the bitmap: 16 chunks of 256, the odd ones released */
    cma_pfn_t chunk[16];
    for (int i = 0; i < 16; i++) {
        ASSERT_OK(cma_alloc(m.area, 256, 8, &chunk[i]));
        EXPECT_UEQ(chunk[i], m.abase + 256ull * (uint64_t)i);
    }
    EXPECT_ERR(cma_alloc(m.area, 1, 0, &pfn), -CMA_ENOSPC); /* full: fast failure */
    for (int i = 1; i < 16; i += 2)
        EXPECT_OK(cma_release(m.area, chunk[i], 256));
    a0 = astats(m.area);
    EXPECT_UEQ(a0.available, 2048);
    EXPECT_UEQ(a0.largest_free_chunk, 256);
    /* owners in the free chunks: a failing request must not touch them */
    fill_area(0, &ops_full);
    uint64_t iso0 = W.n_isolate;
    EXPECT_ERR(cma_alloc(m.area, 257, 0, &pfn), -CMA_ENOSPC); /* enough pages, no window */
    EXPECT_UEQ(pfn, CMA_PFN_NONE);
    EXPECT_ERR(cma_alloc(m.area, 2049, 0, &pfn), -CMA_ENOSPC); /* available < count */
    EXPECT_ERR(cma_alloc(m.area, 256, 9, &pfn), -CMA_ENOSPC);  /* free chunks at odd 256s only */
    EXPECT_ERR(cma_alloc(m.area, 2, 9, &pfn), -CMA_ENOSPC);
    a1 = astats(m.area);
    EXPECT_UEQ(W.n_isolate, iso0);
    EXPECT_UEQ(a1.alloc_calls_fail, a0.alloc_calls_fail + 4);
    EXPECT_UEQ(a1.alloc_pages_fail, a0.alloc_pages_fail + 257 + 2049 + 256 + 2);
    EXPECT_UEQ(a1.retries, a0.retries);
    EXPECT_UEQ(a1.available, a0.available);
    EXPECT_UEQ(a1.pages_migrated, a0.pages_migrated);
    world_verify(0, 0, 2048);
    /* a window that fits: taken, owners moved */
    ASSERT_OK(cma_alloc(m.area, 256, 8, &pfn));
    EXPECT_UEQ(pfn, m.abase + 256);
    world_verify(0, 0, 2048 + 256);
    EXPECT_OK(cma_release(m.area, pfn, 256));
    for (int i = 0; i < 16; i += 2)
        EXPECT_OK(cma_release(m.area, chunk[i], 256));
    EXPECT_UEQ(astats(m.area).available, m.acount);
    world_free_all();
    world_fini();
    test_mm_finish(m.mm);
}

static void release_errors(void)
{
    struct mach m;
    ASSERT_TRUE(mach_make(&m, 64 * MiB, 16 * MiB, 32 * MiB, CMA_BACKING_NONE, 0));
    struct cma_mm *mm = m.mm;
    cma_pfn_t p;
    ASSERT_OK(cma_alloc(m.area, 100, 4, &p));
    EXPECT_UEQ(p, m.abase);
    struct cma_mm_stats s0 = mstats(mm);
    struct cma_area_stats a0 = astats(m.area);
    EXPECT_ERR(cma_release(m.area, p + 100, 1), -CMA_EFAULT);        /* never allocated */
    EXPECT_ERR(cma_release(m.area, m.aend - 5, 5), -CMA_EFAULT);     /* never allocated */
    EXPECT_ERR(cma_release(m.area, p + 50, 51), -CMA_EFAULT);        /* runs past the allocation */
    EXPECT_ERR(cma_release(m.area, p, 0), -CMA_EINVAL);
    EXPECT_ERR(cma_release(m.area, m.abase - 1, 1), -CMA_EINVAL);   /* below the area */
    EXPECT_ERR(cma_release(m.area, m.abase - 1, 2), -CMA_EINVAL);
    EXPECT_ERR(cma_release(m.area, m.aend, 1), -CMA_EINVAL);        /* past the end */
    EXPECT_ERR(cma_release(m.area, m.aend - 1, 2), -CMA_EINVAL);
    EXPECT_ERR(cma_release(m.area, p, m.acount + 1), -CMA_EINVAL);
    EXPECT_ERR(cma_release(m.area, CMA_PFN_NONE - 2, 5), -CMA_EINVAL); /* wraps */
    EXPECT_ERR(cma_release(NULL, p, 1), -CMA_EINVAL);
    /* the range is not a buddy allocation nor free memory for other frees */
    EXPECT_ERR(cma_free_pages(mm, p, 0), -CMA_EFAULT);
    EXPECT_ERR(cma_page_get(mm, p), -CMA_EFAULT);
    struct cma_mm_stats s1 = mstats(mm);
    struct cma_area_stats a1 = astats(m.area);
    expect_same_counts(&s0, &s1);
    expect_same_area(&a0, &a1);
    EXPECT_CHECK(mm);

    /* sub-ranges: middle, then the pieces around it */
    EXPECT_OK(cma_release(m.area, p + 40, 20));
    EXPECT_UEQ(astats(m.area).available, m.acount - 80);
    EXPECT_ERR(cma_release(m.area, p + 40, 20), -CMA_EFAULT); /* double release */
    EXPECT_ERR(cma_release(m.area, p + 30, 20), -CMA_EFAULT); /* half released already */
    EXPECT_CHECK(mm);
    a0 = astats(m.area);
    s0 = mstats(mm);
    EXPECT_ERR(cma_release(m.area, p, 100), -CMA_EFAULT);
    a1 = astats(m.area);
    expect_same_area(&a0, &a1);
    s1 = mstats(mm);
    expect_same_counts(&s0, &s1);
    EXPECT_OK(cma_release(m.area, p, 40));
    EXPECT_OK(cma_release(m.area, p + 60, 40));
    EXPECT_ERR(cma_release(m.area, p, 100), -CMA_EFAULT);
    struct cma_area_stats a2 = astats(m.area);
    EXPECT_UEQ(a2.available, m.acount);
    EXPECT_UEQ(a2.release_pages_success, 100);
    EXPECT_UEQ(a2.largest_free_chunk, m.acount);
    test_mm_finish(mm);
}

static void order_per_bit(void)
{
    struct cma_mm_config cfg;
    struct cma_mm *mm;
    struct cma_area *area;
    cma_mm_config_default(&cfg);
    cfg.cma_first_percent = 0;
    ASSERT_OK(cma_mm_create(&cfg, &mm));
    ASSERT_OK(cma_memblock_add(mm, 0, 64 * MiB));
    ASSERT_OK(cma_declare_contiguous(mm, "opb", 8 * MiB, 16 * MiB, 0, 0, 2, &area));
    ASSERT_OK(cma_mm_online(mm));
    struct cma_area_stats a = astats(area);
    EXPECT_UEQ(a.order_per_bit, 2);
    const cma_pfn_t base = a.base_pfn;
    uint64_t free0 = mstats(mm).nr_free_cma;
    cma_pfn_t p1, p2, p3;
    ASSERT_OK(cma_alloc(area, 5, 0, &p1)); /* two bits, 5 pages taken */
    EXPECT_UEQ(p1, base);
    EXPECT_UEQ(astats(area).available, a.count - 5);
    EXPECT_UEQ(mstats(mm).nr_free_cma, free0 - 5); /* pages 5..7 stay in the buddy */
    ASSERT_OK(cma_alloc(area, 1, 0, &p2));
    EXPECT_UEQ(p2, base + 8); /* the next bit, not pfn 5 */
    ASSERT_OK(cma_alloc(area, 4, 3, &p3));
    EXPECT_UEQ(p3, base + 16); /* 8-page alignment in bits of 4 */
    EXPECT_ERR(cma_release(area, p1 + 1, 1), -CMA_EINVAL); /* not on a bit boundary */
    EXPECT_ERR(cma_release(area, p1, 8), -CMA_EFAULT);     /* pages 5..7 were never taken */
    EXPECT_ERR(cma_release(area, p1 + 4, 4), -CMA_EFAULT);
    EXPECT_UEQ(astats(area).available, a.count - 5 - 1 - 4);
    EXPECT_CHECK(mm);
    /* sub-ranges on bit boundaries: page 4 (the second bit) first, then the first bit */
    EXPECT_OK(cma_release(area, p1 + 4, 1));
    EXPECT_ERR(cma_release(area, p1 + 4, 1), -CMA_EFAULT);
    EXPECT_OK(cma_release(area, p1, 4));
    EXPECT_OK(cma_release(area, p2, 1));
    EXPECT_CHECK(mm);
    /* a sub-range that ends inside a bit: the rest of that bit's allocation must stay releasable
     * (and covered by a set bit) */
    ASSERT_OK(cma_alloc(area, 8, 0, &p1));
    EXPECT_UEQ(p1, base);
    int r = cma_release(area, p1, 3);
    EXPECT_TRUE(r == 0 || r == -CMA_EINVAL);
    EXPECT_CHECK(mm);
    if (r == 0) {
        r = cma_release(area, p1 + 3, 5);
        if (r)
            test_fail_(__FILE__, __LINE__, "order_per_bit 2: after releasing pages 0..2 of an 8-page "
                       "allocation, releasing pages 3..7 returns %s (page 3 is stranded)", cma_err_name(r));
    } else {
        EXPECT_OK(cma_release(area, p1, 8));
    }
    EXPECT_OK(cma_release(area, p3, 4));
    EXPECT_UEQ(astats(area).available, a.count);
    EXPECT_UEQ(mstats(mm).nr_free_cma, free0);
    test_mm_finish(mm);
}

/* ---- bulk ---------------------------------------------------------------------------------------- */

static void bulk_case(enum cma_policy pol)
{
    struct layout L;
    ASSERT_TRUE(layout_build(&L, 0x900 + pol, 20, 0, 40));
    struct mach *m = &L.m;
    ASSERT_OK(cma_area_set_policy(m->area, pol));
    const unsigned order = 4;
    const uint64_t csz = 1ull << order, nchunks = m->acount / csz;
    uint64_t clean = 0;
    for (cma_pfn_t c = m->abase; c < m->aend; c += csz) {
        bool busy = false;
        for (size_t i = 0; i < L.nobst; i++)
            busy |= L.obst[i] >= c && L.obst[i] < c + csz;
        clean += !busy;
    }
    ASSERT_TRUE(clean < nchunks);

    cma_pfn_t *pfns = calloc(nchunks, sizeof *pfns);
    size_t done = 0;
    /* a few: exactly as many as asked */
    ASSERT_OK(cma_alloc_bulk(m->area, order, 10, pfns, &done));
    EXPECT_UEQ(done, 10);
    for (size_t i = 0; i < done; i++)
        EXPECT_OK(cma_release(m->area, pfns[i], csz));
    world_verify(0, 0, L.nunmov);

    /* all of them: the busy chunks are skipped, the area runs out, still 0 */
    ASSERT_OK(cma_alloc_bulk(m->area, order, nchunks, pfns, &done));
    EXPECT_UEQ(done, clean);
    for (size_t i = 0; i < done; i++) {
        EXPECT_UEQ(pfns[i] & (csz - 1), 0);
        EXPECT_TRUE(pfns[i] >= m->abase && pfns[i] + csz <= m->aend);
        for (size_t k = 0; k < i; k++) /* disjoint */
            EXPECT_TRUE(pfns[i] >= pfns[k] + csz || pfns[i] + csz <= pfns[k]);
        for (size_t k = 0; k < L.nobst; k++)
            EXPECT_TRUE(L.obst[k] < pfns[i] || L.obst[k] >= pfns[i] + csz);
    }
    EXPECT_UEQ(astats(m->area).available, m->acount - done * csz);
    /* owners: none inside a chunk, none lost */
    for (size_t i = 0; i < W.n; i++) {
        struct owner *o = &W.o[i];
        if (o->pfn == CMA_PFN_NONE)
            continue;
        for (size_t k = 0; k < done; k++)
            EXPECT_FALSE(o->pfn >= pfns[k] && o->pfn < pfns[k] + csz);
    }
    world_verify(0, 0, L.nunmov + done * csz);
    size_t done2 = 99;
    EXPECT_ERR(cma_alloc_bulk(m->area, order, 4, pfns + done, &done2), -CMA_EBUSY); /* only busy left */
    EXPECT_UEQ(done2, 0);
    if (done2 <= 4)
        done += done2; /* (on failure: release what it took) */
    for (size_t i = 0; i < done; i++)
        EXPECT_OK(cma_release(m->area, pfns[i], csz));
    EXPECT_UEQ(astats(m->area).available, m->acount);
    expect_area_cma(m);
    free(pfns);
    layout_destroy(&L);
}

static void bulk_default(void) { bulk_case(CMA_POLICY_DEFAULT); }
static void bulk_linux(void) { bulk_case(CMA_POLICY_LINUX); }

static void bulk_errors(void)
{
    struct mach m;
    ASSERT_TRUE(mach_make(&m, 64 * MiB, 16 * MiB, 32 * MiB, CMA_BACKING_NONE, 0));
    world_init(&m, 0xa00);
    struct cma_mm *mm = m.mm;
    cma_pfn_t pfns[32];
    size_t done = 5;
    EXPECT_ERR(cma_alloc_bulk(m.area, 0, 0, pfns, &done), -CMA_EINVAL);
    EXPECT_UEQ(done, 0);
    EXPECT_ERR(cma_alloc_bulk(m.area, 0, 1, NULL, &done), -CMA_EINVAL);
    EXPECT_ERR(cma_alloc_bulk(m.area, 0, 1, pfns, NULL), -CMA_EINVAL);
    EXPECT_ERR(cma_alloc_bulk(NULL, 0, 1, pfns, &done), -CMA_EINVAL);
    EXPECT_ERR(cma_alloc_bulk(m.area, 13, 1, pfns, &done), -CMA_EINVAL); /* 8192 > 4096 pages */
    EXPECT_ERR(cma_alloc_bulk(m.area, 31, 1, pfns, &done), -CMA_EINVAL);

    /* one unmovable page in every 256-page chunk: nothing at all, -EBUSY, area clean */
    cma_pfn_t un[16];
    for (int i = 0; i < 16; i++)
        un[i] = m.abase + 256ull * (uint64_t)i + 17ull * (uint64_t)i;
    grab(mm, CMA_GFP_MOVABLE, un, 16);
    for (int pol = 0; pol < 2; pol++) {
        ASSERT_OK(cma_area_set_policy(m.area, (enum cma_policy)pol));
        struct cma_mm_stats s0 = mstats(mm);
        done = 9;
        EXPECT_ERR(cma_alloc_bulk(m.area, 8, 16, pfns, &done), -CMA_EBUSY);
        EXPECT_UEQ(done, 0);
        struct cma_mm_stats s1 = mstats(mm);
        expect_same_counts(&s0, &s1);
        EXPECT_UEQ(astats(m.area).available, m.acount);
        expect_area_cma(&m);
        /* smaller chunks fit between them */
        ASSERT_OK(cma_alloc_bulk(m.area, 3, 32, pfns, &done));
        EXPECT_UEQ(done, 32);
        for (size_t i = 0; i < done; i++)
            EXPECT_OK(cma_release(m.area, pfns[i], 8));
    }
    for (int i = 0; i < 16; i++)
        EXPECT_OK(cma_free_pages(mm, un[i], 0));

    /* area full: -ENOSPC, nothing */
    cma_pfn_t all;
    ASSERT_OK(cma_alloc(m.area, m.acount, 0, &all));
    done = 3;
    EXPECT_ERR(cma_alloc_bulk(m.area, 0, 4, pfns, &done), -CMA_ENOSPC);
    EXPECT_UEQ(done, 0);
    EXPECT_OK(cma_release(m.area, all, m.acount));
    world_fini();
    test_mm_finish(mm);
}

/* The owner whose block starts at pfn, or NULL. */
static struct owner *owner_at(cma_pfn_t pfn)
{
    for (size_t i = 0; i < W.n; i++)
        if (W.o[i].pfn == pfn)
            return &W.o[i];
    return NULL;
}

/* CMA_POLICY_DEFAULT finds the one clear window even when its obstacles can only be seen by trying:
 * windows holding short-term references are avoided before anything moves, and owners that refuse
 * isolation are remembered so the search restarts below the failed window instead of only moving
 * forward (the benchmark once saw -EBUSY here although a clear window existed). */
static void default_finds_window_behind_obstacles(void)
{
    struct mach m;
    ASSERT_TRUE(mach_make(&m, 64 * MiB, 16 * MiB, 0, CMA_BACKING_NONE, 0));
    world_init(&m, 0x7a1);
    fill_area(0, &ops_full);
    const uint64_t q = m.acount / 4;
    struct owner *obst[3];
    unsigned nobst = 0;
    for (uint64_t k = 0; k < 4; k++) {
        if (k == 2) /* the third quarter stays clear */
            continue;
        struct owner *o = owner_at(m.abase + k * q + 100);
        ASSERT_TRUE(o != NULL);
        obst[nobst++] = o;
    }

    /* 1: references */
    for (unsigned i = 0; i < nobst; i++)
        ASSERT_OK(cma_page_get(m.mm, obst[i]->pfn));
    struct cma_area_stats a0 = astats(m.area);
    cma_pfn_t pfn;
    ASSERT_OK(cma_alloc(m.area, q, 0, &pfn));
    EXPECT_UEQ(astats(m.area).retries, a0.retries); /* priced out, never tried */
    for (unsigned i = 0; i < nobst; i++)
        EXPECT_TRUE(obst[i]->pfn < pfn || obst[i]->pfn >= pfn + q);
    EXPECT_OK(cma_release(m.area, pfn, q));
    for (unsigned i = 0; i < nobst; i++)
        ASSERT_OK(cma_page_put(m.mm, obst[i]->pfn));
    EXPECT_CHECK(m.mm);

    /* 2: an owner refusing isolation every time, in the cheapest window (the last quarter, mostly
     * freed): invisible until tried; once it fails, the search must come back to the lower, dearer
     * but clear windows rather than only look past the obstacle (where nothing is left). */
    struct owner *refuser = obst[nobst - 1];
    ASSERT_TRUE(refuser->pfn >= m.abase + 3 * q);
    fill_area(0, &ops_full); /* part 1 left its window empty: fill it again */
    for (size_t i = 0; i < W.n; i++) {
        struct owner *o = &W.o[i];
        if (o != refuser && o->pfn != CMA_PFN_NONE && o->pfn >= m.abase + 3 * q && o->pfn < m.aend &&
            test_rng_below(&W.rng, 10) != 0)
            owner_free(o);
    }
    W.isolate_refuse_pct = 100;
    refuser->refuse_isolate = ~0u;
    a0 = astats(m.area);
    ASSERT_OK(cma_alloc(m.area, q, 0, &pfn));
    EXPECT_UEQ(astats(m.area).retries - a0.retries, 1); /* tried the cheap window once */
    EXPECT_TRUE(pfn + q <= m.abase + 3 * q);
    EXPECT_UEQ(refuser->pfn, refuser->pfn0);
    EXPECT_OK(cma_release(m.area, pfn, q));
    refuser->refuse_isolate = 0;
    world_free_all();
    world_fini();
    test_mm_finish(m.mm);
}

int main(int argc, char **argv)
{
    return test_main(argc, argv, TEST(linux_steps_default_skips), TEST(random_1pct_unmovable),
                     TEST(random_mixed_layout), TEST(alloc_errors), TEST(release_errors),
                     TEST(order_per_bit), TEST(bulk_default), TEST(bulk_linux), TEST(bulk_errors),
                     TEST(default_finds_window_behind_obstacles));
}
