/* SPDX-License-Identifier: MIT */
/*
 * tests/api/test_cma_busy.c - "A pinned or unmovable page in the way: the allocation lands
 * elsewhere, or returns -EBUSY with every pageblock back to CMA and no page lost."
 * Through <cma/cma.h> only.
 *
 *   unmovable_default / unmovable_linux
 *                          an allocated page without movable ops inside the area: a smaller window
 *                          avoids it; the whole area is -EBUSY and afterwards every pageblock is CMA,
 *                          the free/allocated counters are unchanged; DEFAULT prices the window and
 *                          never tries it (retries unchanged, nothing moved), LINUX tries it once
 *                          (trusting CMA pageblocks as Linux does: it migrates first, fails later)
 *   short_ref_default / short_ref_linux
 *                          a short-term reference (cma_page_get) on a movable page: the block cannot
 *                          be freed (-EBUSY), a smaller window avoids it, the whole area is -EBUSY
 *                          after retries; after cma_page_put the whole area is taken
 *   longterm_pin           cma_page_pin_longterm moves a CMA block out first (the owner's migrate sees
 *                          the new pfn), after which the whole area is allocatable; pin counts, unpin
 *                          errors, pin of an unmovable CMA page -EBUSY, of a block outside CMA in
 *                          place, -EFAULT/-EINVAL misuse, -ENOMEM when memory outside CMA is full
 *   probes_in_callbacks    while a block is being migrated: cma_page_get -EAGAIN, cma_free_pages and
 *                          cma_page_set_movable -EBUSY, long-term pin -EBUSY (callbacks may call
 *                          libcma)
 *   checker_in_callback    cma_mm_check run from a migrate callback (the area isolated by cma_alloc)
 *                          is green
 *   fault_injection_10 / _50 / _100
 *                          isolate / migrate callbacks failing at random (seeded) at 10, 50 and 100 %:
 *                          every cma_alloc succeeds or returns a clean -EBUSY/-ENOSPC; after each
 *                          call the checker is green, every owner's recorded block is live, distinct
 *                          and outside every range handed out, the allocated page count adds up,
 *                          handed-out ranges keep their contents; at 100 % nothing ever migrates
 */
#include "cma_world.h"



/* ---- tests --------------------------------------------------------------------------------------- */

static void unmovable_case(enum cma_policy pol)
{
    struct mach m;
    ASSERT_TRUE(mach_make(&m, 64 * MiB, 16 * MiB, 32 * MiB, CMA_BACKING_HOST, 0));
    world_init(&m, 0x100 + pol);
    struct cma_mm *mm = m.mm;
    ASSERT_OK(cma_area_set_policy(m.area, pol));
    const cma_pfn_t U = m.abase + 1500;
    grab(mm, CMA_GFP_MOVABLE, &U, 1);
    fill_area(2, &ops_full);
    free_some(50);
    world_verify(0, 0, 1);

    /* a window smaller than the area lands where U is not */
    cma_pfn_t pfn;
    ASSERT_OK(cma_alloc(m.area, 1024, 0, &pfn));
    EXPECT_TRUE(in_area(&m, pfn) && pfn + 1024 <= m.aend);
    EXPECT_TRUE(U < pfn || U >= pfn + 1024);
    world_verify(pfn, pfn + 1024, 1 + 1024);
    EXPECT_OK(cma_release(m.area, pfn, 1024));

    /* the whole area: -EBUSY, every pageblock CMA again, no page lost. DEFAULT prices the window and
     * never tries it: nothing moves. LINUX trusts CMA pageblocks at isolation as Linux does: it
     * migrates what it can and fails when it meets U. */
    struct cma_mm_stats st0 = mstats(mm);
    struct cma_area_stats a0 = astats(m.area);
    uint64_t iso0 = W.n_isolate, mig0 = W.n_migrate;
    EXPECT_ERR(cma_alloc(m.area, m.acount, 0, &pfn), -CMA_EBUSY);
    EXPECT_UEQ(pfn, CMA_PFN_NONE);
    struct cma_mm_stats st1 = mstats(mm);
    struct cma_area_stats a1 = astats(m.area);
    expect_area_cma(&m);
    if (pol == CMA_POLICY_DEFAULT) {
        expect_same_counts(&st0, &st1);
        EXPECT_UEQ(W.n_isolate, iso0); /* refused before anything moved */
        EXPECT_UEQ(W.n_migrate, mig0);
        EXPECT_UEQ(st1.pgmigrate_success, st0.pgmigrate_success);
        EXPECT_UEQ(a1.pages_migrated, a0.pages_migrated);
    } else {
        EXPECT_UEQ(st1.nr_free_total, st0.nr_free_total);
        EXPECT_UEQ(st1.nr_allocated, st0.nr_allocated);
        for (unsigned t = 0; t < CMA_MIGRATE_TYPES; t++)
            EXPECT_UEQ(st1.nr_pageblocks[t], st0.nr_pageblocks[t]);
        EXPECT_UEQ(st1.nr_free[CMA_MIGRATE_ISOLATE], 0);
        EXPECT_UEQ(W.n_putback, 0);
        EXPECT_UEQ(a1.pages_migrated - a0.pages_migrated, st1.pgmigrate_success - st0.pgmigrate_success);
    }
    EXPECT_UEQ(a1.available, m.acount);
    EXPECT_UEQ(a1.alloc_calls_fail, a0.alloc_calls_fail + 1);
    EXPECT_UEQ(a1.alloc_pages_fail, a0.alloc_pages_fail + m.acount);
    EXPECT_UEQ(a1.retries, a0.retries + (pol == CMA_POLICY_LINUX ? 1 : 0));
    world_verify(0, 0, 1);

    /* U gone: the whole area */
    EXPECT_OK(cma_free_pages(mm, U, 0));
    ASSERT_OK(cma_alloc(m.area, m.acount, 0, &pfn));
    EXPECT_UEQ(pfn, m.abase);
    world_verify(m.abase, m.aend, m.acount);
    EXPECT_OK(cma_release(m.area, pfn, m.acount));
    world_free_all();
    world_fini();
    test_mm_finish(mm);
}

static void unmovable_default(void) { unmovable_case(CMA_POLICY_DEFAULT); }
static void unmovable_linux(void) { unmovable_case(CMA_POLICY_LINUX); }

static void short_ref_case(enum cma_policy pol)
{
    struct mach m;
    ASSERT_TRUE(mach_make(&m, 64 * MiB, 16 * MiB, 32 * MiB, CMA_BACKING_HOST, 0));
    world_init(&m, 0x200 + pol);
    struct cma_mm *mm = m.mm;
    ASSERT_OK(cma_area_set_policy(m.area, pol));
    fill_area(2, &ops_full);
    free_some(50);
    struct owner *R = owner_near(&m, 2000);
    ASSERT_TRUE(R != NULL);
    const cma_pfn_t rpfn = R->pfn;
    ASSERT_OK(cma_page_get(mm, rpfn));
    EXPECT_OK(cma_page_get(mm, rpfn + (1ull << R->order) - 1)); /* any page of the block, twice */
    EXPECT_ERR(cma_free_pages(mm, rpfn, R->order), -CMA_EBUSY);

    cma_pfn_t pfn;
    ASSERT_OK(cma_alloc(m.area, 1024, 0, &pfn));
    EXPECT_TRUE(rpfn + (1ull << R->order) <= pfn || rpfn >= pfn + 1024);
    EXPECT_UEQ(R->pfn, rpfn);
    world_verify(pfn, pfn + 1024, 1024);
    EXPECT_OK(cma_release(m.area, pfn, 1024));

    struct cma_area_stats a0 = astats(m.area);
    EXPECT_ERR(cma_alloc(m.area, m.acount, 0, &pfn), -CMA_EBUSY);
    EXPECT_UEQ(pfn, CMA_PFN_NONE);
    struct cma_area_stats a1 = astats(m.area);
    EXPECT_GE(a1.retries, a0.retries + 1);
    EXPECT_UEQ(a1.available, m.acount);
    EXPECT_UEQ(R->pfn, rpfn); /* still referenced, still there */
    EXPECT_EQ(R->migrations, 0);
    expect_area_cma(&m);
    world_verify(0, 0, 0); /* others may have moved; none lost */

    EXPECT_OK(cma_page_put(mm, rpfn));
    EXPECT_ERR(cma_alloc(m.area, m.acount, 0, &pfn), -CMA_EBUSY); /* one reference left */
    EXPECT_OK(cma_page_put(mm, rpfn));
    EXPECT_ERR(cma_page_put(mm, rpfn), -CMA_EFAULT);
    ASSERT_OK(cma_alloc(m.area, m.acount, 0, &pfn));
    EXPECT_EQ(R->migrations, 1);
    world_verify(m.abase, m.aend, m.acount);
    EXPECT_OK(cma_release(m.area, pfn, m.acount));
    world_free_all();
    world_fini();
    test_mm_finish(mm);
}

static void short_ref_default(void) { short_ref_case(CMA_POLICY_DEFAULT); }
static void short_ref_linux(void) { short_ref_case(CMA_POLICY_LINUX); }

static void longterm_pin(void)
{
    struct mach m;
    ASSERT_TRUE(mach_make(&m, 64 * MiB, 16 * MiB, 32 * MiB, CMA_BACKING_HOST, 0));
    world_init(&m, 0x300);
    struct cma_mm *mm = m.mm;
    fill_area(2, &ops_full);
    free_some(30);
    struct owner *P = owner_near(&m, 1234);
    ASSERT_TRUE(P != NULL);
    const cma_pfn_t old = P->pfn;

    /* misuse first */
    cma_pfn_t npfn = 0;
    EXPECT_ERR(cma_page_pin_longterm(mm, old, NULL), -CMA_EINVAL);
    EXPECT_ERR(cma_page_pin_longterm(NULL, old, &npfn), -CMA_EINVAL);
    if (P->order) {
        EXPECT_ERR(cma_page_pin_longterm(mm, old + 1, &npfn), -CMA_EFAULT); /* not a head */
        EXPECT_UEQ(npfn, CMA_PFN_NONE);
    }
    EXPECT_ERR(cma_page_unpin(mm, old), -CMA_EFAULT);
    EXPECT_EQ(P->migrations, 0);

    /* pin: moved out of CMA first, the owner saw the new pfn */
    ASSERT_OK(cma_page_pin_longterm(mm, old, &npfn));
    EXPECT_NE(npfn, old);
    EXPECT_FALSE(in_area(&m, npfn));
    EXPECT_UEQ(P->pfn, npfn);
    EXPECT_EQ(P->migrations, 1);
    int t = cma_pageblock_type(mm, npfn);
    EXPECT_TRUE(t != CMA_MIGRATE_CMA && t != CMA_MIGRATE_ISOLATE);
    EXPECT_ERR(cma_free_pages(mm, npfn, P->order), -CMA_EBUSY);
    /* a second pin stays where it is */
    cma_pfn_t npfn2;
    EXPECT_OK(cma_page_pin_longterm(mm, npfn, &npfn2));
    EXPECT_UEQ(npfn2, npfn);
    EXPECT_EQ(P->migrations, 1);
    world_verify(0, 0, 0);

    /* the pinned block no longer blocks the area */
    cma_pfn_t pfn;
    ASSERT_OK(cma_alloc(m.area, m.acount, 0, &pfn));
    EXPECT_UEQ(P->pfn, npfn);
    world_verify(m.abase, m.aend, m.acount);
    EXPECT_OK(cma_release(m.area, pfn, m.acount));

    EXPECT_OK(cma_page_unpin(mm, npfn));
    EXPECT_ERR(cma_free_pages(mm, npfn, P->order), -CMA_EBUSY); /* one pin left */
    EXPECT_OK(cma_page_unpin(mm, npfn));
    EXPECT_ERR(cma_page_unpin(mm, npfn), -CMA_EFAULT);
    owner_free(P);

    /* an unmovable page in CMA cannot be pinned */
    const cma_pfn_t U = m.abase + 77;
    grab(mm, CMA_GFP_MOVABLE, &U, 1);
    EXPECT_ERR(cma_page_pin_longterm(mm, U, &npfn), -CMA_EBUSY);
    EXPECT_UEQ(npfn, CMA_PFN_NONE);
    EXPECT_ERR(cma_page_unpin(mm, U), -CMA_EFAULT);
    EXPECT_OK(cma_free_pages(mm, U, 0)); /* not pinned */
    /* a free page cannot be pinned */
    EXPECT_ERR(cma_page_pin_longterm(mm, U, &npfn), -CMA_EFAULT);

    /* outside CMA: pinned in place, even without movable ops */
    cma_pfn_t un;
    ASSERT_OK(cma_alloc_pages(mm, 1, CMA_GFP_UNMOVABLE, &un));
    EXPECT_FALSE(in_area(&m, un));
    EXPECT_OK(cma_page_pin_longterm(mm, un, &npfn));
    EXPECT_UEQ(npfn, un);
    EXPECT_OK(cma_page_unpin(mm, un));
    EXPECT_OK(cma_free_pages(mm, un, 1));
    world_verify(0, 0, 0);
    world_free_all();
    world_fini();
    test_mm_finish(mm);
}

static void pin_no_memory(void)
{
    struct mach m;
    ASSERT_TRUE(mach_make(&m, 32 * MiB, 8 * MiB, 0, CMA_BACKING_HOST, 0));
    world_init(&m, 0x301);
    struct cma_mm *mm = m.mm;
    int r;
    while ((r = owner_alloc(0, &ops_full, false, NULL)) == 0)
        ;
    ASSERT_ERR(r, -CMA_ENOMEM);
    struct owner *P = owner_near(&m, 100);
    ASSERT_TRUE(P != NULL);
    cma_pfn_t old = P->pfn, npfn;
    EXPECT_ERR(cma_page_pin_longterm(mm, old, &npfn), -CMA_ENOMEM);
    EXPECT_UEQ(npfn, CMA_PFN_NONE);
    EXPECT_UEQ(P->pfn, old);
    EXPECT_EQ(P->putbacks, 1);
    EXPECT_ERR(cma_page_unpin(mm, old), -CMA_EFAULT); /* not pinned */
    world_verify(0, 0, 0);
    world_free_all();
    world_fini();
    test_mm_finish(mm);
}

/* ---- callbacks calling libcma ---- */

static int probe_isolate(void *owner, cma_pfn_t pfn, unsigned order)
{
    struct cma_mm *mm = W.m->mm;
    cma_pfn_t np;
    /* the block is being migrated: no reference, no free, no re-registration, no pin */
    EXPECT_ERR(cma_page_get(mm, pfn), -CMA_EAGAIN);
    EXPECT_ERR(cma_free_pages(mm, pfn, order), -CMA_EBUSY);
    EXPECT_ERR(cma_page_set_movable(mm, pfn, NULL, NULL), -CMA_EBUSY);
    EXPECT_ERR(cma_page_pin_longterm(mm, pfn, &np), -CMA_EBUSY);
    /* other calls still work from a callback */
    struct cma_mm_stats st;
    EXPECT_OK(cma_mm_get_stats(mm, &st));
    return cb_isolate(owner, pfn, order);
}

static int probe_migrate(void *owner, cma_pfn_t from, cma_pfn_t to, unsigned order)
{
    struct cma_mm *mm = W.m->mm;
    /* the target is not the owner's yet: it cannot be freed behind libcma's back */
    EXPECT_ERR(cma_free_pages(mm, to, order), -CMA_EBUSY);
    EXPECT_ERR(cma_page_get(mm, from), -CMA_EAGAIN);
    return cb_migrate(owner, from, to, order);
}

static const struct cma_movable_ops ops_probe = {probe_isolate, probe_migrate, cb_putback, NULL};

static void probes_in_callbacks(void)
{
    struct mach m;
    ASSERT_TRUE(mach_make(&m, 32 * MiB, 8 * MiB, 0, CMA_BACKING_HOST, 0));
    world_init(&m, 0x302);
    fill_area(1, &ops_probe);
    free_some(50);
    cma_pfn_t pfn;
    ASSERT_OK(cma_alloc(m.area, m.acount, 0, &pfn));
    EXPECT_GT(W.n_migrate, 0);
    world_verify(m.abase, m.aend, m.acount);
    EXPECT_OK(cma_release(m.area, pfn, m.acount));
    world_free_all();
    world_fini();
    test_mm_finish(m.mm);
}

/* cma_mm_check from inside a callback, i.e. while cma_alloc holds the area isolated */
static int check_r;
static char check_why[256];

static int checking_migrate(void *owner, cma_pfn_t from, cma_pfn_t to, unsigned order)
{
    check_r = cma_mm_check(W.m->mm, check_why, sizeof check_why);
    return cb_migrate(owner, from, to, order);
}

static const struct cma_movable_ops ops_checking = {cb_isolate, checking_migrate, cb_putback, NULL};

static void checker_in_callback(void)
{
    struct mach m;
    ASSERT_TRUE(mach_make(&m, 32 * MiB, 8 * MiB, 0, CMA_BACKING_HOST, 0));
    world_init(&m, 0x303);
    /* one movable page at the start of the area, the rest of it free (whole free order-10 blocks) */
    struct owner *o = NULL;
    ASSERT_OK(owner_alloc(0, &ops_checking, false, &o));
    ASSERT_UEQ(o->pfn, m.abase);
    EXPECT_OK(cma_drain_cpu_caches(m.mm));
    cma_pfn_t pfn;
    check_r = 1;
    ASSERT_OK(cma_alloc(m.area, m.acount, 0, &pfn));
    EXPECT_EQ(o->migrations, 1);
    if (check_r)
        test_fail_(__FILE__, __LINE__, "cma_mm_check during cma_alloc (from the migrate callback): %s",
                   check_r == 1 ? "not run" : check_why);
    world_verify(m.abase, m.aend, m.acount);
    EXPECT_OK(cma_release(m.area, pfn, m.acount));
    world_free_all();
    world_fini();
    test_mm_finish(m.mm);
}

/* ---- fault injection --------------------------------------------------------------------------- */

struct range {
    cma_pfn_t pfn;
    uint64_t count;
    uint64_t sum;
};

static const struct cma_movable_ops ops_noiso = {NULL, cb_migrate, cb_putback, NULL};

static void fault_injection(unsigned pct)
{
    struct mach m;
    ASSERT_TRUE(mach_make(&m, 64 * MiB, 16 * MiB, 0, CMA_BACKING_HOST, 0));
    world_init(&m, 0x400 + pct);
    struct cma_mm *mm = m.mm;
    /* owners with and without an isolate op (without one, migrate itself gets to fail) */
    EXPECT_OK(cma_drain_cpu_caches(mm));
    for (size_t k = 0; mstats(mm).nr_free_cma; k++) {
        unsigned order = (unsigned)test_rng_below(&W.rng, 3);
        ASSERT_OK(owner_alloc(order, k % 2 ? &ops_full : &ops_noiso, false, NULL));
    }
    free_some(40);
    world_verify(0, 0, 0);
    W.fi_pct = pct;

    struct range live[64];
    size_t nlive = 0;
    uint64_t live_pages = 0, ok = 0, busy = 0, nospc = 0;
    const uint64_t migrated0 = astats(m.area).pages_migrated;
    const unsigned iters = (unsigned)test_env_u64("CMA_TEST_OPS", 60);
    for (unsigned it = 0; it < iters && !test_failures; it++) {
        if (nlive && (nlive == 64 || test_rng_below(&W.rng, 3) == 0)) {
            size_t k = (size_t)test_rng_below(&W.rng, nlive);
            EXPECT_UEQ(sum_pages(mm, live[k].pfn, live[k].count), live[k].sum);
            EXPECT_OK(cma_release(m.area, live[k].pfn, live[k].count));
            live_pages -= live[k].count;
            live[k] = live[--nlive];
        } else {
            uint64_t count = 1 + test_rng_below(&W.rng, test_rng_below(&W.rng, 4) ? 64 : 1024);
            unsigned align = (unsigned)test_rng_below(&W.rng, 7);
            struct cma_area_stats a0 = astats(m.area);
            cma_pfn_t pfn;
            int r = cma_alloc(m.area, count, align, &pfn);
            struct cma_area_stats a1 = astats(m.area);
            if (r == 0) {
                ok++;
                EXPECT_UEQ(pfn & ((1ull << align) - 1), 0);
                EXPECT_TRUE(pfn >= m.abase && pfn + count <= m.aend);
                for (size_t k = 0; k < nlive; k++)
                    EXPECT_TRUE(pfn + count <= live[k].pfn || pfn >= live[k].pfn + live[k].count);
                EXPECT_UEQ(a1.available, a0.available - count);
                fill_pages(mm, pfn, count, it);
                live[nlive++] = (struct range){pfn, count, sum_pages(mm, pfn, count)};
                live_pages += count;
            } else {
                EXPECT_TRUE(r == -CMA_EBUSY || r == -CMA_ENOSPC);
                if (r != -CMA_EBUSY && r != -CMA_ENOSPC)
                    test_fail_(__FILE__, __LINE__, "cma_alloc(%" PRIu64 ", %u): %s", count, align,
                               cma_err_name(r));
                busy += r == -CMA_EBUSY;
                nospc += r == -CMA_ENOSPC;
                EXPECT_UEQ(pfn, CMA_PFN_NONE);
                EXPECT_UEQ(a1.available, a0.available);
                EXPECT_UEQ(a1.alloc_calls_fail, a0.alloc_calls_fail + 1);
            }
        }
        /* after every call: the shadow table, the ranges, the counters, the checker */
        expect_area_cma(&m);
        world_verify(0, 0, live_pages);
        for (size_t i = 0; i < W.n; i++) {
            struct owner *o = &W.o[i];
            if (o->pfn == CMA_PFN_NONE)
                continue;
            for (size_t k = 0; k < nlive; k++)
                if (o->pfn < live[k].pfn + live[k].count && o->pfn + (1ull << o->order) > live[k].pfn)
                    test_fail_(__FILE__, __LINE__, "owner %zu at %#" PRIx64 " inside range %#" PRIx64
                               "+%" PRIu64, i, o->pfn, live[k].pfn, live[k].count);
        }
        for (size_t k = 0; k < nlive; k++)
            EXPECT_UEQ(sum_pages(mm, live[k].pfn, live[k].count), live[k].sum);
        EXPECT_UEQ(W.n_putback, W.n_migrate_failed); /* every failed migrate was put back */
    }
    if (test_verbose)
        printf("  %u%%: %" PRIu64 " ok, %" PRIu64 " busy, %" PRIu64 " nospc; %" PRIu64
               " isolate / %" PRIu64 " migrate failures injected, %" PRIu64 " migrations\n",
               pct, ok, busy, nospc, W.n_fi_isolate, W.n_fi_migrate, W.n_migrate - W.n_migrate_failed);
    if (pct == 100)
        EXPECT_UEQ(astats(m.area).pages_migrated, migrated0); /* nothing ever moved */
    else
        EXPECT_GT(ok, 0);
    if (pct == 100)
        EXPECT_GT(busy, 0);
    W.fi_pct = 0;
    for (size_t k = 0; k < nlive; k++)
        EXPECT_OK(cma_release(m.area, live[k].pfn, live[k].count));
    world_free_all();
    world_fini();
    test_mm_finish(mm);
}

static void fault_injection_10(void) { fault_injection(10); }
static void fault_injection_50(void) { fault_injection(50); }
static void fault_injection_100(void) { fault_injection(100); }

int main(int argc, char **argv)
{
    return test_main(argc, argv, TEST(unmovable_default), TEST(unmovable_linux),
                     TEST(short_ref_default), TEST(short_ref_linux), TEST(longterm_pin),
                     TEST(pin_no_memory), TEST(probes_in_callbacks), TEST(checker_in_callback), TEST(fault_injection_10),
                     TEST(fault_injection_50), TEST(fault_injection_100));
}
