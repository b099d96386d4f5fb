/* SPDX-License-Identifier: MIT */
/*
 * tests/api/test_cma_migrate.c - migration of movable pages out of a CMA area, through <cma/cma.h>.
 *
 * "Fill memory with movable pages carrying a checksum pattern, then take the whole area: every owner
 * saw its new pfn, every byte arrived intact, the checker is green."
 *
 * Owners are entries of a table {pfn, order, checksum}; the movable ops check every call against the
 * table (isolate/migrate/putback/discard name the owner's recorded pfn and order, migrate sees the
 * contents already copied to a target that is aligned, outside CMA and not isolated) and keep it up
 * to date. After each step the table is verified: owner blocks disjoint, each inside a live block,
 * contents equal to their checksum, none inside a range cma_alloc handed out, and the machine's
 * allocated page count equals owned pages + contiguous pages (no page lost, none owned twice).
 *
 *   whole_area_full_memory   128 MiB backed machine, 32 MiB area, memory filled to the last page
 *                            with blocks of orders 0..4 (cma_first_percent 50); 48 MiB outside the
 *                            area freed; the whole area taken, released and taken again
 *   release_and_realloc      cma_first_percent 0: the area is refilled with owners after each
 *                            release and taken again, three rounds; orders 1..4 move whole
 *   discard_default          clean pages of owners with a discard op are dropped: the owner forgets
 *                            them, pages_discarded / pgdiscard count them, migrate is never called
 *                            for them; refused discards, dirty pages and ops without discard migrate
 *   discard_linux            CMA_POLICY_LINUX: the same layout migrates everything, discard unused
 *   discard_disabled         cma_area_set_discard(false): likewise
 *   isolate_refusal          isolate refuses (-EAGAIN / -EBUSY) at random: retried, no putback
 *   putback_on_migrate_fail  migrate fails a few times for some owners: putback each time, retried;
 *                            an owner that always fails: -EBUSY, area clean, owner intact
 *   big_blocks_unclaimed     the area full of max-order movable blocks (two pageblocks each), one
 *                            of which never migrates: the blocks already moved were claimed whole
 *                            and go back into the isolated pageblocks pageblock by pageblock when
 *                            the attempt fails (-EBUSY); nothing lost, the area whole again; then
 *                            it succeeds
 *   targets_smallest_first   migration targets come from the smallest free blocks first, as single
 *                            allocations would take them: eight scattered free pages outside the
 *                            area are used before a free 32-page block is split
 *   putback_on_no_target     memory full: -ENOMEM, putback called, nothing lost; succeeds after
 *                            room is made
 */
#include "cma_world.h"

/* ---- tests --------------------------------------------------------------------------------------- */

static void whole_area_full_memory(void)
{
    struct mach m;
    ASSERT_TRUE(mach_make(&m, 128 * MiB, 32 * MiB, 64 * MiB, CMA_BACKING_HOST, 50));
    world_init(&m, 0x11);
    struct cma_mm *mm = m.mm;

    /* fill every page: orders 1..4 while they fit, order 0 to the end */
    bool high = true;
    for (;;) {
        unsigned order = high && test_rng_below(&W.rng, 5) == 0 ? 1 + (unsigned)test_rng_below(&W.rng, 4) : 0;
        int r = owner_alloc(order, &ops_full, false, NULL);
        if (r == -CMA_ENOMEM && order) {
            high = false;
            continue;
        }
        if (r == -CMA_ENOMEM)
            break;
        ASSERT_OK(r);
    }
    struct cma_mm_stats st = mstats(mm);
    EXPECT_UEQ(st.nr_free_total, 0);
    size_t in_owners;
    uint64_t in_pages = area_owned_pages(&in_owners);
    EXPECT_UEQ(in_pages, m.acount);
    size_t high_in = 0;
    for (size_t i = 0; i < W.n; i++)
        high_in += in_area(&m, W.o[i].pfn) && W.o[i].order > 0;
    EXPECT_GT(high_in, 0);

    /* room outside the area: free every owner below 48 MiB */
    const cma_pfn_t room_end = (48 * MiB) / cma_mm_page_size(mm);
    for (size_t i = 0; i < W.n; i++)
        if (W.o[i].pfn < room_end)
            owner_free(&W.o[i]);
    world_verify(0, 0, 0);

    uint64_t migr0 = st.pgmigrate_success;
    cma_pfn_t pfn;
    ASSERT_OK(cma_alloc(m.area, m.acount, 0, &pfn));
    EXPECT_UEQ(pfn, m.abase);
    for (size_t i = 0; i < W.n; i++) {
        struct owner *o = &W.o[i];
        if (o->pfn == CMA_PFN_NONE)
            continue;
        if (in_area(&m, o->pfn0)) {
            /* saw exactly one migration, to a new pfn outside the area, below room_end */
            EXPECT_EQ(o->migrations, 1);
            EXPECT_EQ(o->isolates, 1);
            EXPECT_FALSE(in_area(&m, o->pfn));
            EXPECT_LT(o->pfn, room_end);
        } else {
            EXPECT_EQ(o->migrations + o->isolates, 0);
            EXPECT_UEQ(o->pfn, o->pfn0);
        }
    }
    EXPECT_UEQ(W.n_migrate, in_owners);
    EXPECT_UEQ(W.n_putback + W.n_discard, 0);
    struct cma_area_stats as = astats(m.area);
    EXPECT_UEQ(as.pages_migrated, in_pages);
    EXPECT_UEQ(as.pages_discarded, 0);
    EXPECT_UEQ(as.available, 0);
    EXPECT_UEQ(as.alloc_calls_success, 1);
    EXPECT_UEQ(mstats(mm).pgmigrate_success - migr0, in_pages);
    world_verify(m.abase, m.aend, m.acount);

    /* the range is ours: write it, release it, take it again (nothing to move now) */
    fill_pages(mm, pfn, m.acount, 0xabcdef);
    uint64_t s = sum_pages(mm, pfn, m.acount);
    EXPECT_UEQ(sum_pages(mm, pfn, m.acount), s);
    EXPECT_OK(cma_release(m.area, pfn, m.acount));
    EXPECT_UEQ(astats(m.area).available, m.acount);
    expect_area_cma(&m);
    world_verify(0, 0, 0);
    ASSERT_OK(cma_alloc(m.area, m.acount, 0, &pfn));
    EXPECT_UEQ(pfn, m.abase);
    EXPECT_UEQ(astats(m.area).pages_migrated, in_pages);
    world_verify(m.abase, m.aend, m.acount);
    EXPECT_OK(cma_release(m.area, pfn, m.acount));

    world_free_all();
    st = mstats(mm);
    EXPECT_UEQ(st.nr_free_total, st.nr_managed);
    world_fini();
    test_mm_finish(mm);
}

static void release_and_realloc(void)
{
    struct mach m;
    ASSERT_TRUE(mach_make(&m, 128 * MiB, 32 * MiB, 0, CMA_BACKING_HOST, 0));
    world_init(&m, 0x22);
    struct cma_mm *mm = m.mm;
    uint64_t migrated_total = 0;
    size_t high_in = 0;

    for (int round = 0; round < 3; round++) {
        /* owners of earlier rounds (all outside the area now): free half of them */
        for (size_t i = 0; i < W.n; i++)
            if (test_rng_below(&W.rng, 2))
                owner_free(&W.o[i]);
        size_t first = W.n, new_in = 0;
        fill_area(4, round == 1 ? &ops_plain : &ops_full);
        size_t in_owners;
        uint64_t in_pages = area_owned_pages(&in_owners);
        EXPECT_UEQ(in_pages, m.acount);
        for (size_t i = first; i < W.n; i++) {
            new_in += in_area(&m, W.o[i].pfn0);
            high_in += in_area(&m, W.o[i].pfn0) && W.o[i].order > 0;
        }
        EXPECT_UEQ(in_owners, new_in); /* only this round's owners are inside */
        world_verify(0, 0, 0);

        uint64_t nmig0 = W.n_migrate;
        cma_pfn_t pfn;
        ASSERT_OK(cma_alloc(m.area, m.acount, 0, &pfn));
        EXPECT_UEQ(pfn, m.abase);
        migrated_total += in_pages;
        EXPECT_UEQ(W.n_migrate - nmig0, in_owners); /* one call per block: blocks move whole */
        for (size_t i = 0; i < W.n; i++) {
            struct owner *o = &W.o[i];
            if (o->pfn == CMA_PFN_NONE)
                continue;
            /* exactly the blocks allocated inside the area moved, once, to an aligned place */
            EXPECT_EQ(o->migrations, in_area(&m, o->pfn0) ? 1 : 0);
            EXPECT_FALSE(in_area(&m, o->pfn));
            EXPECT_UEQ(o->pfn & ((1ull << o->order) - 1), 0);
        }
        struct cma_area_stats as = astats(m.area);
        EXPECT_UEQ(as.pages_migrated, migrated_total);
        EXPECT_UEQ(as.retries, 0);
        world_verify(m.abase, m.aend, m.acount);

        fill_pages(mm, pfn, m.acount, 0x5151 + (uint64_t)round);
        uint64_t s = sum_pages(mm, pfn, m.acount);
        world_verify(m.abase, m.aend, m.acount);
        EXPECT_UEQ(sum_pages(mm, pfn, m.acount), s); /* nobody wrote into the range */
        EXPECT_OK(cma_release(m.area, pfn, m.acount));
        expect_area_cma(&m);
        EXPECT_UEQ(astats(m.area).release_pages_success, (uint64_t)(round + 1) * m.acount);
    }
    EXPECT_GT(high_in, 0); /* orders 1..4 were among the blocks that moved whole */
    world_free_all();
    world_fini();
    test_mm_finish(mm);
}

enum discard_mode { DM_DEFAULT, DM_LINUX, DM_DISABLED };

static void discard_case(enum discard_mode mode)
{
    struct mach m;
    ASSERT_TRUE(mach_make(&m, 64 * MiB, 16 * MiB, 32 * MiB, CMA_BACKING_HOST, 0));
    world_init(&m, 0x33 + mode);
    struct cma_mm *mm = m.mm;
    if (mode == DM_LINUX)
        ASSERT_OK(cma_area_set_policy(m.area, CMA_POLICY_LINUX));
    if (mode == DM_DISABLED)
        ASSERT_OK(cma_area_set_discard(m.area, false));

    /* kinds: 0,1 clean + discard accepted; 2 clean, discard refused; 3 discard op but dirtied
     * again; 4,5 clean without a discard op. Blocks that did not fit in the area stay outside. */
    EXPECT_OK(cma_drain_cpu_caches(mm));
    for (size_t k = 0; mstats(mm).nr_free_cma; k++) {
        unsigned kind = (unsigned)(k % 6), order = (unsigned)test_rng_below(&W.rng, 3);
        if ((1ull << order) > mstats(mm).nr_free_cma)
            order = 0;
        struct owner *o;
        ASSERT_OK(owner_alloc(order, kind < 4 ? &ops_full : &ops_plain, true, &o));
        o->kind = kind;
        o->refuse_discard = kind == 2;
        if (kind == 3)
            EXPECT_OK(cma_page_set_clean(mm, o->pfn, false));
    }
    uint64_t clean_ok = 0;
    for (size_t i = 0; i < W.n; i++)
        if (in_area(&m, W.o[i].pfn) && W.o[i].kind < 2)
            clean_ok += 1ull << W.o[i].order;
    EXPECT_GT(clean_ok, 0);
    struct cma_mm_stats st0 = mstats(mm);
    world_verify(0, 0, 0);

    cma_pfn_t pfn;
    ASSERT_OK(cma_alloc(m.area, m.acount, 0, &pfn));
    struct cma_area_stats as = astats(m.area);
    struct cma_mm_stats st1 = mstats(mm);
    uint64_t dropped = 0, moved = 0;
    for (size_t i = 0; i < W.n; i++) {
        struct owner *o = &W.o[i];
        if (!in_area(&m, o->pfn0)) {
            EXPECT_EQ(o->discards + o->migrations + o->isolates, 0);
            continue;
        }
        if (mode == DM_DEFAULT && o->kind < 2) {
            EXPECT_EQ(o->discards, 1);
            EXPECT_EQ(o->migrations, 0); /* never copied */
            EXPECT_UEQ(o->pfn, CMA_PFN_NONE);
            dropped += 1ull << o->order;
        } else {
            EXPECT_EQ(o->discards, 0);
            EXPECT_EQ(o->migrations, 1);
            EXPECT_FALSE(in_area(&m, o->pfn));
            moved += 1ull << o->order;
        }
        EXPECT_EQ(o->discard_refusals, mode == DM_DEFAULT && o->kind == 2 ? 1 : 0);
    }
    if (mode == DM_DEFAULT) {
        EXPECT_UEQ(dropped, clean_ok);
        EXPECT_GT(W.n_discard_refused, 0);
    } else {
        EXPECT_UEQ(W.n_discard + W.n_discard_refused, 0);
    }
    EXPECT_UEQ(dropped + moved, m.acount);
    EXPECT_UEQ(W.n_putback, 0);
    EXPECT_UEQ(as.pages_discarded, dropped);
    EXPECT_UEQ(as.pages_migrated, moved);
    EXPECT_UEQ(st1.pgdiscard - st0.pgdiscard, dropped);
    EXPECT_UEQ(st1.pgmigrate_success - st0.pgmigrate_success, moved); /* targets taken */
    /* discarded pages went back to the buddy and into the range: no page lost */
    EXPECT_UEQ(st1.nr_allocated, st0.nr_allocated - dropped + m.acount);
    world_verify(m.abase, m.aend, m.acount);
    EXPECT_OK(cma_release(m.area, pfn, m.acount));
    expect_area_cma(&m);
    world_free_all();
    world_fini();
    test_mm_finish(mm);
}

static void discard_default(void) { discard_case(DM_DEFAULT); }
static void discard_linux(void) { discard_case(DM_LINUX); }
static void discard_disabled(void) { discard_case(DM_DISABLED); }

static void isolate_refusal(void)
{
    struct mach m;
    ASSERT_TRUE(mach_make(&m, 64 * MiB, 16 * MiB, 0, CMA_BACKING_HOST, 0));
    world_init(&m, 0x44);
    fill_area(3, &ops_full);
    W.isolate_refuse_pct = 40;
    for (size_t i = 0; i < W.n; i++)
        W.o[i].refuse_isolate = 3; /* at most 3 refusals each: fewer than the 5 idle rounds */
    size_t n_in;
    uint64_t in_pages = area_owned_pages(&n_in);
    cma_pfn_t pfn;
    ASSERT_OK(cma_alloc(m.area, m.acount, 0, &pfn));
    EXPECT_GT(W.n_isolate_refused, 0);
    EXPECT_UEQ(W.n_isolate, n_in + W.n_isolate_refused);
    EXPECT_UEQ(W.n_putback, 0); /* a refused isolate is not put back */
    for (size_t i = 0; i < W.n; i++) {
        bool in = in_area(&m, W.o[i].pfn0);
        EXPECT_EQ(W.o[i].migrations, in ? 1 : 0);
        EXPECT_EQ(W.o[i].isolates, in ? W.o[i].isolate_refusals + 1 : 0);
    }
    EXPECT_UEQ(astats(m.area).pages_migrated, in_pages);
    world_verify(m.abase, m.aend, m.acount);

    /* refusing everything, always: -EBUSY, nothing moved, every pageblock CMA again */
    EXPECT_OK(cma_release(m.area, pfn, m.acount));
    size_t first = W.n;
    fill_area(0, &ops_full);
    W.isolate_refuse_pct = 100;
    for (size_t i = first; i < W.n; i++)
        W.o[i].refuse_isolate = 1000;
    struct cma_area_stats a0 = astats(m.area);
    EXPECT_ERR(cma_alloc(m.area, m.acount, 0, &pfn), -CMA_EBUSY);
    EXPECT_UEQ(pfn, CMA_PFN_NONE);
    struct cma_area_stats a1 = astats(m.area);
    EXPECT_UEQ(a1.available, m.acount);
    EXPECT_UEQ(a1.pages_migrated, a0.pages_migrated);
    EXPECT_UEQ(a1.alloc_calls_fail, a0.alloc_calls_fail + 1);
    EXPECT_UEQ(W.n_putback, 0);
    for (size_t i = first; i < W.n; i++)
        EXPECT_UEQ(W.o[i].pfn, W.o[i].pfn0);
    expect_area_cma(&m);
    world_verify(0, 0, 0);
    world_free_all();
    world_fini();
    test_mm_finish(m.mm);
}

static void putback_on_migrate_fail(void)
{
    struct mach m;
    ASSERT_TRUE(mach_make(&m, 64 * MiB, 16 * MiB, 0, CMA_BACKING_HOST, 0));
    world_init(&m, 0x55);
    fill_area(2, &ops_full);
    unsigned planned = 0;
    for (size_t i = 0; i < W.n; i++) {
        if (in_area(&m, W.o[i].pfn) && test_rng_below(&W.rng, 5) == 0) {
            W.o[i].fail_migrate = 1 + (unsigned)test_rng_below(&W.rng, 3); /* < 5 idle rounds */
            planned += W.o[i].fail_migrate;
        }
    }
    ASSERT_TRUE(planned > 0);
    cma_pfn_t pfn;
    ASSERT_OK(cma_alloc(m.area, m.acount, 0, &pfn));
    EXPECT_UEQ(W.n_migrate_failed, planned);
    EXPECT_UEQ(W.n_putback, planned);
    for (size_t i = 0; i < W.n; i++) {
        struct owner *o = &W.o[i];
        EXPECT_EQ(o->putbacks, o->migrate_failures);
        EXPECT_EQ(o->migrations, in_area(&m, o->pfn0) ? 1 : 0);
        EXPECT_EQ(o->isolates, in_area(&m, o->pfn0) ? o->migrate_failures + 1 : 0);
    }
    world_verify(m.abase, m.aend, m.acount);
    EXPECT_OK(cma_release(m.area, pfn, m.acount));

    /* one owner whose migration always fails */
    size_t first = W.n;
    fill_area(0, &ops_full);
    struct owner *stuck = &W.o[first + (W.n - first) / 2];
    ASSERT_TRUE(in_area(&m, stuck->pfn));
    stuck->fail_migrate = 1000000;
    uint64_t pb0 = W.n_putback;
    struct cma_area_stats a0 = astats(m.area);
    EXPECT_ERR(cma_alloc(m.area, m.acount, 0, &pfn), -CMA_EBUSY);
    EXPECT_GE(stuck->putbacks, 5); /* five rounds without progress */
    EXPECT_UEQ(W.n_putback - pb0, stuck->putbacks);
    EXPECT_UEQ(stuck->pfn, stuck->pfn0);
    EXPECT_TRUE(in_area(&m, stuck->pfn));
    EXPECT_UEQ(astats(m.area).available, m.acount);
    EXPECT_UEQ(astats(m.area).alloc_calls_fail, a0.alloc_calls_fail + 1);
    expect_area_cma(&m);
    world_verify(0, 0, 0);
    stuck->fail_migrate = 0;
    ASSERT_OK(cma_alloc(m.area, m.acount, 0, &pfn));
    EXPECT_FALSE(in_area(&m, stuck->pfn));
    world_verify(m.abase, m.aend, m.acount);
    EXPECT_OK(cma_release(m.area, pfn, m.acount));
    world_free_all();
    world_fini();
    test_mm_finish(m.mm);
}

static void big_blocks_unclaimed(void)
{
    struct mach m;
    ASSERT_TRUE(mach_make(&m, 64 * MiB, 16 * MiB, 0, CMA_BACKING_HOST, 0));
    world_init(&m, 0x77);
    const unsigned top = 10; /* the default max_order: 4 MiB, two pageblocks */
    struct owner *blk[8];
    unsigned nblk = 0;
    while (nblk < 8 && owner_alloc(top, &ops_full, false, &blk[nblk]) == 0 && in_area(&m, blk[nblk]->pfn))
        nblk++;
    ASSERT_UEQ((uint64_t)nblk << top, m.acount); /* the area is exactly these blocks */
    struct owner *stuck = blk[nblk - 1];
    for (unsigned i = 0; i < nblk; i++)
        if (blk[i]->pfn > stuck->pfn)
            stuck = blk[i]; /* the highest: every other block is claimed before the rounds give up */
    stuck->fail_migrate = 1000000;
    cma_pfn_t pfn;
    EXPECT_ERR(cma_alloc(m.area, m.acount, 0, &pfn), -CMA_EBUSY);
    EXPECT_UEQ(stuck->pfn, stuck->pfn0);
    EXPECT_UEQ(astats(m.area).available, m.acount);
    expect_area_cma(&m);
    world_verify(0, 0, 0);
    stuck->fail_migrate = 0;
    ASSERT_OK(cma_alloc(m.area, m.acount, 0, &pfn));
    for (unsigned i = 0; i < nblk; i++)
        EXPECT_FALSE(in_area(&m, blk[i]->pfn));
    world_verify(m.abase, m.aend, m.acount);
    EXPECT_OK(cma_release(m.area, pfn, m.acount));
    world_free_all();
    world_fini();
    test_mm_finish(m.mm);
}

static struct owner *owner_at(cma_pfn_t pfn)
{
    for (size_t i = 0; i < W.n; i++)
        if (W.o[i].pfn == pfn)
            return &W.o[i];
    return NULL;
}

static void targets_smallest_first(void)
{
    struct mach m;
    ASSERT_TRUE(mach_make(&m, 32 * MiB, 8 * MiB, 16 * MiB, CMA_BACKING_HOST, 0));
    world_init(&m, 0x88);
    int r;
    while ((r = owner_alloc(0, &ops_full, false, NULL)) == 0)
        ;
    ASSERT_ERR(r, -CMA_ENOMEM);
    /* outside the area: eight single free pages (their buddies stay owned), and a free block of 32 */
    cma_pfn_t singles[8];
    for (unsigned k = 0; k < 8; k++) {
        singles[k] = 64 * k + 7;
        struct owner *o = owner_at(singles[k]);
        ASSERT_TRUE(o != NULL && !in_area(&m, singles[k]));
        owner_free(o);
    }
    for (cma_pfn_t p = 1024; p < 1056; p++) {
        struct owner *o = owner_at(p);
        ASSERT_TRUE(o != NULL);
        owner_free(o);
    }
    ASSERT_OK(cma_drain_cpu_caches(m.mm));
    EXPECT_UEQ(mstats(m.mm).nr_free_total, 8 + 32);
    cma_pfn_t pfn;
    ASSERT_OK(cma_alloc(m.area, 16, 0, &pfn));
    EXPECT_UEQ(astats(m.area).pages_migrated, 16);
    for (unsigned k = 0; k < 8; k++)
        if (!owner_at(singles[k]))
            test_fail_(__FILE__, __LINE__, "single free page %#" PRIx64 " not used as a target (a larger "
                       "block was split first)", singles[k]);
    EXPECT_UEQ(mstats(m.mm).nr_free_total, 32 - 8);
    world_verify(pfn, pfn + 16, 16);
    EXPECT_OK(cma_release(m.area, pfn, 16));
    world_free_all();
    world_fini();
    test_mm_finish(m.mm);
}

static void putback_on_no_target(void)
{
    struct mach m;
    ASSERT_TRUE(mach_make(&m, 32 * MiB, 8 * MiB, 0, CMA_BACKING_HOST, 0));
    world_init(&m, 0x66);
    int r;
    while ((r = owner_alloc(0, &ops_full, false, NULL)) == 0)
        ;
    ASSERT_ERR(r, -CMA_ENOMEM);
    EXPECT_UEQ(mstats(m.mm).nr_free_total, 0);
    struct cma_area_stats a0 = astats(m.area);
    cma_pfn_t pfn;
    EXPECT_ERR(cma_alloc(m.area, m.acount, 0, &pfn), -CMA_ENOMEM);
    EXPECT_UEQ(pfn, CMA_PFN_NONE);
    /* Targets are found before the owner is asked to isolate, so with no memory at all nothing
     * is isolated; whatever was isolated must have been put back. */
    EXPECT_UEQ(W.n_migrate, 0);
    EXPECT_UEQ(W.n_isolate, W.n_putback);
    EXPECT_UEQ(astats(m.area).available, m.acount);
    EXPECT_UEQ(astats(m.area).alloc_calls_fail, a0.alloc_calls_fail + 1);
    expect_area_cma(&m);
    for (size_t i = 0; i < W.n; i++)
        EXPECT_UEQ(W.o[i].pfn, W.o[i].pfn0);
    world_verify(0, 0, 0);

    /* make room outside the area: now it works */
    uint64_t freed = 0;
    for (size_t i = 0; i < W.n && freed < m.acount + 64; i++)
        if (!in_area(&m, W.o[i].pfn)) {
            owner_free(&W.o[i]);
            freed++;
        }
    ASSERT_OK(cma_alloc(m.area, m.acount, 0, &pfn));
    world_verify(m.abase, m.aend, m.acount);
    EXPECT_OK(cma_release(m.area, pfn, m.acount));
    world_free_all();
    world_fini();
    test_mm_finish(m.mm);
}

int main(int argc, char **argv)
{
    return test_main(argc, argv, TEST(whole_area_full_memory), TEST(release_and_realloc),
                     TEST(discard_default), TEST(discard_linux), TEST(discard_disabled),
                     TEST(isolate_refusal), TEST(putback_on_migrate_fail),
                     TEST(big_blocks_unclaimed), TEST(targets_smallest_first),
                     TEST(putback_on_no_target));
}
