/* SPDX-License-Identifier: MIT */
/*
 * tests/stress/test_stress.c - seeded randomized stress of the buddy allocator against a shadow model,
 * through the public API only.
 *
 * Machine: 4 KiB pages, max_order 10, pageblock order 9, 4 CPUs; two memory ranges (~128 MiB, the
 * first starting at an unaligned address) with a hole between them and two reservations, one with
 * unaligned edges. A host cpu_id hook lets the test move "between CPUs", so frees land in every
 * per-CPU cache and the random drains have something to do.
 *
 *   stress          CMA_TEST_OPS (default 1,000,000) operations: allocations of mixed orders (mostly
 *                   0..3, some up to max_order) and the three mobility types (some with
 *                   CMA_GFP_ZERO); frees of random live blocks; deliberate bad frees (double free,
 *                   wrong order, tail pfn, hole, reserved, free page) that must be refused with their
 *                   exact code; drains of one random CPU or all; CPU switches. The shadow is one bit
 *                   per pfn (set = hole, reserved or owned): every returned block must be aligned
 *                   and entirely clear, and -ENOMEM is accepted only when the shadow holds no free
 *                   aligned block of that order. The invariant checker and the counters run every
 *                   CMA_TEST_CHECK_EVERY ops (default 50,000) and at the end; at the end everything is
 *                   freed, the caches drained, and the buddyinfo must equal the fully merged layout.
 *   fill_then_drain allocate order 0 until -ENOMEM (count == nr_managed), free in random order from
 *                   random CPUs, full merge.
 *
 * Knobs: CMA_TEST_SEED, CMA_TEST_OPS, CMA_TEST_CHECK_EVERY (0: only at the end), CMA_TEST_FILL_ROUNDS,
 * CMA_TEST_SCALE (divides the default counts; TSan builds halve them, see knob()). Quiet when green; -v
 * prints a summary.
 */
#include "test.h"

#include "../api/buddy_util.h"

#include <time.h>

#define KiB BU_KiB
#define MiB BU_MiB

/* TSan makes this single-threaded test ~5x slower without adding anything: half the ops there. */
#if defined(__SANITIZE_THREAD__)
#define STRESS_BUILD_DIVISOR 2
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define STRESS_BUILD_DIVISOR 2
#endif
#endif
#ifndef STRESS_BUILD_DIVISOR
#define STRESS_BUILD_DIVISOR 1
#endif

/* An explicit count from `name`, else def / CMA_TEST_SCALE (a divisor: 1 = the default, which is
 * what .ci/run exports; 10 = a tenth) / the build divisor; at least 1. */
static uint64_t knob(const char *name, uint64_t def)
{
    uint64_t v = test_env_u64(name, 0), scale = test_env_u64("CMA_TEST_SCALE", 1);
    if (v)
        return v;
    v = def / (scale ? scale : 1) / STRESS_BUILD_DIVISOR;
    return v ? v : 1;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* ---- the machine and the shadow ----------------------------------------------------------------- */

#define NR_CPUS 4

struct blk {
    cma_pfn_t pfn;
    unsigned order;
};

struct stress {
    struct cma_mm *mm;
    struct cma_host host;
    unsigned cpu; /* what the cpu_id hook returns */
    unsigned max_order;
    struct bu_layout l;
    struct bu_bitmap bm;
    struct blk *live;
    size_t nlive, cap;
    uint64_t owned;      /* pages owned by the test */
    uint64_t nr_managed;
    /* what the counters must say */
    uint64_t bad_frees, pgalloc, pgfree, pgalloc_pages, pgfree_pages;
    /* pfn pools for bad frees */
    cma_pfn_t *holes, *reserved;
    size_t nholes, nreserved;
    /* summary */
    uint64_t op, nalloc, nfree, nenomem, nbad, ndrain, nswitch;
    struct test_rng rng;
};

static unsigned hook_cpu_id(void *ctx) { return ((struct stress *)ctx)->cpu; }

/* Failure with the op number; the harness adds the seed. */
#define SFAIL(s, ...)                                                                              \
    do {                                                                                           \
        fprintf(stderr, "  at op %" PRIu64 ":\n", (s)->op);                                        \
        test_fail_(__FILE__, __LINE__, __VA_ARGS__);                                               \
    } while (0)

/* Two ranges, ~128 MiB, with a hole and two reservations. */
static int stress_setup(struct stress *s, uint64_t seed)
{
    struct cma_mm_config cfg;
    memset(s, 0, sizeof *s);
    test_rng_init(&s->rng, seed);
    s->host.ctx = s;
    s->host.cpu_id = hook_cpu_id;
    cma_mm_config_default(&cfg);
    cfg.nr_cpus = NR_CPUS;
    cfg.host = &s->host;
    int r = cma_mm_create(&cfg, &s->mm);
    if (r) {
        test_fail_(__FILE__, __LINE__, "cma_mm_create: %s", cma_err_name(r));
        return -1;
    }
    if ((r = cma_memblock_add(s->mm, 16 * MiB + 12 * KiB, 60 * MiB)) ||
        (r = cma_memblock_add(s->mm, 96 * MiB, 68 * MiB)) ||
        (r = cma_memblock_reserve(s->mm, 20 * MiB, 1 * MiB)) ||
        (r = cma_memblock_reserve(s->mm, 100 * MiB + 0x1234, 300 * KiB)) ||
        (r = cma_mm_online(s->mm))) {
        test_fail_(__FILE__, __LINE__, "machine setup: %s", cma_err_name(r));
        return -1;
    }
    s->max_order = cma_mm_max_order(s->mm);
    if (bu_layout_read(s->mm, &s->l) || bu_bitmap_init(&s->bm, &s->l))
        return -1;
    uint64_t want[CMA_MAX_ORDER_LIMIT + 1];
    s->nr_managed = bu_expected_free(&s->l, want);
    struct cma_mm_stats st;
    if (bu_stats(s->mm, &st))
        return -1;
    if (st.nr_managed != s->nr_managed) {
        test_fail_(__FILE__, __LINE__, "nr_managed %" PRIu64 ", layout says %" PRIu64, st.nr_managed,
                   s->nr_managed);
        return -1;
    }
    s->cap = s->nr_managed;
    s->live = calloc(s->cap, sizeof *s->live);
    /* pfn pools: a sample of holes (below, between, just past the ranges) and every reserved page */
    s->holes = calloc(s->bm.nbits + 4096, sizeof *s->holes);
    s->reserved = calloc(s->bm.nbits, sizeof *s->reserved);
    if (!s->live || !s->holes || !s->reserved)
        return -1;
    for (cma_pfn_t pfn = 0; pfn < s->bm.nbits + 4096; pfn++) {
        enum bu_kind k = bu_pfn_kind(&s->l, pfn);
        if (k == BU_HOLE)
            s->holes[s->nholes++] = pfn;
        else if (k == BU_RESERVED)
            s->reserved[s->nreserved++] = pfn;
    }
    return 0;
}

static void stress_teardown(struct stress *s)
{
    free(s->live);
    free(s->holes);
    free(s->reserved);
    bu_bitmap_fini(&s->bm);
    if (s->mm) {
        int r = cma_mm_destroy(s->mm);
        if (r)
            test_fail_(__FILE__, __LINE__, "cma_mm_destroy: %s", cma_err_name(r));
    }
    s->mm = NULL;
}

/* Mostly 0..3, one in ten 4..max_order. */
static unsigned pick_order(struct stress *s)
{
    uint64_t r = test_rng_below(&s->rng, 100);
    if (r < 40)
        return 0;
    if (r < 60)
        return 1;
    if (r < 75)
        return 2;
    if (r < 90)
        return 3;
    return s->max_order <= 4 ? s->max_order : 4 + (unsigned)test_rng_below(&s->rng, s->max_order - 3);
}

static unsigned pick_gfp(struct stress *s)
{
    static const unsigned kinds[3] = {CMA_GFP_UNMOVABLE, CMA_GFP_MOVABLE, CMA_GFP_RECLAIMABLE};
    unsigned gfp = kinds[test_rng_below(&s->rng, 3)];
    if (test_rng_below(&s->rng, 8) == 0)
        gfp |= CMA_GFP_ZERO;
    return gfp;
}

/* ---- operations --------------------------------------------------------------------------------- */

static void op_alloc(struct stress *s, unsigned order, unsigned gfp)
{
    cma_pfn_t pfn;
    int r = cma_alloc_pages(s->mm, order, gfp, &pfn);
    if (r == -CMA_ENOMEM) {
        s->nenomem++;
        if (bu_has_free_block(&s->bm, order))
            SFAIL(s, "order-%u gfp %#x: -ENOMEM although the shadow holds a free aligned order-%u "
                  "block (%" PRIu64 " pages owned of %" PRIu64 ")", order, gfp, order, s->owned,
                  s->nr_managed);
        if (pfn != CMA_PFN_NONE)
            SFAIL(s, "failed allocation left pfn %#" PRIx64, pfn);
        return;
    }
    if (r) {
        SFAIL(s, "cma_alloc_pages(order %u, gfp %#x): %d (%s)", order, gfp, r, cma_err_name(r));
        return;
    }
    if (pfn & ((1ull << order) - 1)) {
        SFAIL(s, "order-%u block at unaligned pfn %#" PRIx64, order, pfn);
        return;
    }
    uint64_t clash = bu_count_set(&s->bm, pfn, 1ull << order);
    if (clash) {
        uint64_t k = 0;
        while (!bu_bit(&s->bm, pfn + k) && pfn + k < s->bm.nbits)
            k++;
        SFAIL(s, "order-%u block at pfn %#" PRIx64 " overlaps %" PRIu64 " pages that are owned, "
              "reserved or not memory (first: pfn %#" PRIx64 ", kind %d)", order, pfn, clash,
              pfn + k, (int)bu_pfn_kind(&s->l, pfn + k));
        return;
    }
    bu_set_range(&s->bm, pfn, 1ull << order, true);
    s->live[s->nlive++] = (struct blk){pfn, order};
    s->owned += 1ull << order;
    s->nalloc++;
    s->pgalloc++;
    s->pgalloc_pages += 1ull << order;
}

/* Frees live block j (swap-removes it); returns the block. */
static struct blk op_free(struct stress *s, size_t j)
{
    struct blk b = s->live[j];
    int r = cma_free_pages(s->mm, b.pfn, b.order);
    if (r) {
        SFAIL(s, "cma_free_pages(live pfn %#" PRIx64 ", order %u): %d (%s)", b.pfn, b.order, r,
              cma_err_name(r));
        return b;
    }
    bu_set_range(&s->bm, b.pfn, 1ull << b.order, false);
    s->live[j] = s->live[--s->nlive];
    s->owned -= 1ull << b.order;
    s->nfree++;
    s->pgfree++;
    s->pgfree_pages += 1ull << b.order;
    return b;
}

static void expect_refused(struct stress *s, cma_pfn_t pfn, unsigned order, int want, const char *what)
{
    int r = cma_free_pages(s->mm, pfn, order);
    s->nbad++;
    s->bad_frees++;
    if (r != want)
        SFAIL(s, "%s: cma_free_pages(pfn %#" PRIx64 ", order %u) returned %d (%s), expected %d (%s)",
              what, pfn, order, r, cma_err_name(r), want, cma_err_name(want));
}

/* One deliberate misuse. Every kind here goes through the counted (bad_frees) path. */
static void op_bad_free(struct stress *s)
{
    unsigned kind = (unsigned)test_rng_below(&s->rng, 6);
    if (kind <= 2 && s->nlive == 0)
        kind = 3;
    switch (kind) {
    case 0: { /* double free, right after a valid free */
        struct blk b = op_free(s, (size_t)test_rng_below(&s->rng, s->nlive));
        expect_refused(s, b.pfn, b.order, -CMA_EFAULT, "double free");
        break;
    }
    case 1: { /* the wrong order for a live block (aligned either way) */
        struct blk b = s->live[test_rng_below(&s->rng, s->nlive)];
        if (b.order > 0)
            expect_refused(s, b.pfn, b.order - 1 - (unsigned)test_rng_below(&s->rng, b.order),
                           -CMA_EINVAL, "smaller order than allocated");
        else if (b.pfn % 2 == 0)
            expect_refused(s, b.pfn, 1, -CMA_EINVAL, "order 1 for an order-0 page");
        break;
    }
    case 2: { /* a tail page of a live block */
        struct blk b = s->live[test_rng_below(&s->rng, s->nlive)];
        if (b.order > 0)
            expect_refused(s, b.pfn + 1 + test_rng_below(&s->rng, (1ull << b.order) - 1), 0,
                           -CMA_EINVAL, "tail pfn of a live block");
        break;
    }
    case 3: /* a hole */
        expect_refused(s, s->holes[test_rng_below(&s->rng, s->nholes)], 0, -CMA_EINVAL, "pfn in a hole");
        break;
    case 4: /* a reserved page */
        expect_refused(s, s->reserved[test_rng_below(&s->rng, s->nreserved)], 0, -CMA_EFAULT,
                       "reserved pfn");
        break;
    case 5: /* a free page (cached or in the buddy) */
        for (int tries = 0; tries < 64; tries++) {
            cma_pfn_t pfn = test_rng_below(&s->rng, s->bm.nbits);
            if (!bu_bit(&s->bm, pfn)) {
                expect_refused(s, pfn, 0, -CMA_EFAULT, "free of a free page");
                break;
            }
        }
        break;
    }
}

/* Checker plus every counter the shadow can predict. */
static void stress_verify(struct stress *s)
{
    struct cma_mm_stats st;
    char why[256];
    if (cma_mm_check(s->mm, why, sizeof why)) {
        SFAIL(s, "invariant checker: %s", why);
        return;
    }
    if (bu_stats(s->mm, &st))
        return;
#define SEXPECT(field, want)                                                                       \
    if (st.field != (want))                                                                        \
        SFAIL(s, "stats." #field " is %" PRIu64 ", the shadow says %" PRIu64, st.field, (uint64_t)(want));
    SEXPECT(nr_managed, s->nr_managed);
    SEXPECT(nr_allocated, s->owned);
    SEXPECT(nr_free_total, s->nr_managed - s->owned);
    SEXPECT(pgalloc, s->pgalloc);
    SEXPECT(pgfree, s->pgfree);
    SEXPECT(pgalloc_pages, s->pgalloc_pages);
    SEXPECT(pgfree_pages, s->pgfree_pages);
    SEXPECT(bad_frees, s->bad_frees);
    SEXPECT(alloc_fail, s->nenomem);
#undef SEXPECT
    uint64_t sum = 0;
    for (unsigned t = 0; t < CMA_MIGRATE_TYPES; t++)
        sum += st.nr_free[t];
    if (sum != st.nr_free_total || st.nr_free_pcp > st.nr_free_total)
        SFAIL(s, "nr_free[] sums to %" PRIu64 ", nr_free_total %" PRIu64 ", nr_free_pcp %" PRIu64, sum,
              st.nr_free_total, st.nr_free_pcp);
}

/* Frees everything in random order from random CPUs and expects the fully merged layout. */
static void stress_free_all(struct stress *s)
{
    while (s->nlive && !test_failures) {
        if (test_rng_below(&s->rng, 64) == 0)
            s->cpu = (unsigned)test_rng_below(&s->rng, NR_CPUS);
        op_free(s, (size_t)test_rng_below(&s->rng, s->nlive));
    }
    if (test_failures)
        return;
    stress_verify(s);
    bu_expect_all_free(s->mm);
}

/* ---- the tests ---------------------------------------------------------------------------------- */

static void test_stress(void)
{
    struct stress s;
    const uint64_t ops = knob("CMA_TEST_OPS", 1000000);
    const uint64_t check_every = test_env_u64("CMA_TEST_CHECK_EVERY", 50000);
    static const unsigned alloc_pct[] = {30, 45, 50, 55, 60, 70, 85};
    unsigned pct = 55;
    double t0 = now_s();

    if (stress_setup(&s, test_seed_value) == 0) {
        for (s.op = 0; s.op < ops && !test_failures; s.op++) {
            if (s.op % 25000 == 0) /* phases: drain towards empty, hover, push into -ENOMEM */
                pct = alloc_pct[test_rng_below(&s.rng, sizeof alloc_pct / sizeof alloc_pct[0])];
            uint64_t r = test_rng_below(&s.rng, 1000);
            if (r < 3) {
                op_bad_free(&s);
            } else if (r < 5) {
                unsigned cpu = (unsigned)test_rng_below(&s.rng, NR_CPUS);
                int e = cma_drain_cpu_cache(s.mm, cpu);
                if (e)
                    SFAIL(&s, "cma_drain_cpu_cache(%u): %s", cpu, cma_err_name(e));
                s.ndrain++;
            } else if (r < 6) {
                int e = cma_drain_cpu_caches(s.mm);
                if (e)
                    SFAIL(&s, "cma_drain_cpu_caches: %s", cma_err_name(e));
                s.ndrain++;
            } else if (r < 16) {
                s.cpu = (unsigned)test_rng_below(&s.rng, NR_CPUS * 2); /* taken modulo nr_cpus */
                s.nswitch++;
            } else if (s.nlive == 0 || test_rng_below(&s.rng, 100) < pct) {
                op_alloc(&s, pick_order(&s), pick_gfp(&s));
            } else {
                op_free(&s, (size_t)test_rng_below(&s.rng, s.nlive));
            }
            if (check_every && (s.op + 1) % check_every == 0)
                stress_verify(&s);
        }
        if (!test_failures)
            stress_verify(&s);
        if (!test_failures)
            stress_free_all(&s);
        if (test_verbose) {
            struct cma_mm_stats st;
            if (cma_mm_get_stats(s.mm, &st) == 0)
                printf("  %" PRIu64 " ops in %.2f s: %" PRIu64 " allocs, %" PRIu64 " frees, %" PRIu64
                       " -ENOMEM, %" PRIu64 " bad frees, %" PRIu64 " drains, %" PRIu64 " cpu switches; "
                       "fallbacks %" PRIu64 ", pageblocks claimed %" PRIu64 ", pages stolen %" PRIu64
                       ", pcp refills %" PRIu64 "\n", ops, now_s() - t0, s.nalloc, s.nfree, s.nenomem,
                       s.nbad, s.ndrain, s.nswitch, st.fallbacks, st.pageblocks_claimed,
                       st.pages_stolen, st.pcp_refills);
        }
        if (test_failures) /* keep the machine for nobody: drop what is live so destroy works */
            while (s.nlive && cma_free_pages(s.mm, s.live[s.nlive - 1].pfn, s.live[s.nlive - 1].order) == 0)
                s.nlive--;
    }
    stress_teardown(&s);
}

static void test_fill_then_drain(void)
{
    struct stress s;
    const uint64_t rounds = knob("CMA_TEST_FILL_ROUNDS", 4);
    if (stress_setup(&s, test_seed_value ^ 0xf111) == 0) {
        for (uint64_t round = 0; round < rounds && !test_failures; round++) {
            s.cpu = (unsigned)round % NR_CPUS;
            uint64_t before = s.nalloc;
            for (;;) {
                uint64_t n = s.nenomem;
                op_alloc(&s, 0, pick_gfp(&s));
                if (s.nenomem != n || test_failures)
                    break;
                if (test_rng_below(&s.rng, 256) == 0)
                    s.cpu = (unsigned)test_rng_below(&s.rng, NR_CPUS);
            }
            if (s.nalloc - before != s.nr_managed)
                test_fail_(__FILE__, __LINE__, "round %" PRIu64 ": %" PRIu64 " order-0 pages before "
                           "-ENOMEM, nr_managed %" PRIu64, round, s.nalloc - before, s.nr_managed);
            stress_verify(&s);
            stress_free_all(&s);
        }
    }
    stress_teardown(&s);
}

int main(int argc, char **argv)
{
    return test_main(argc, argv, TEST(test_stress), TEST(test_fill_then_drain));
}
