/* SPDX-License-Identifier: MIT */
/*
 * tests/unit/test_buddy.c - buddy split and merge (docs/linux.md, "Split and merge"):
 *   - a split keeps the lower half and releases the upper halves (descending orders, list heads), so
 *     successive order-0 allocations return ascending pfns (pcp off, rmqueue directly, and through a
 *     real per-CPU batch refill);
 *   - freeing everything merges back to max-order blocks; no merge across a hole between two spans;
 *     no merge with a reserved page;
 *   - at and above pageblock order, free buddies in pageblocks of different mergeable types merge and
 *     the buddy's pageblock takes the freed block's label; CMA / HIGHATOMIC / ISOLATE pageblocks never
 *     merge with a differently labelled buddy;
 *   - a free of a block larger than a pageblock whose pageblocks differ is split per pageblock;
 *   - placement: tail when the next-order buddy is already free (only below max_order - 1), else head.
 *
 * Machines: 4 KiB pages, max order 10, pageblock order 9 unless a case says otherwise, at physical
 * 0 so that pfn == memmap index for a single span.
 */
#include "test.h"

#include "internal/internal.h"
#include "unit_util.h"

#define KiB 1024ull
#define MiB (1024ull * KiB)
#define PB 512u

/* ---- helpers ------------------------------------------------------------------------------------ */

static void tw_nopcp(struct cma_mm_config *c)
{
    c->pcp_batch = 1;
    c->pcp_high = 1;
}

/* Creates a machine: `tweak` adjusts the config, `boot` (may be NULL) runs before online (memblock
 * layout: when NULL, [0, bytes) is added). */
static struct cma_mm *mk_boot(uint64_t bytes, void (*tweak)(struct cma_mm_config *),
                              int (*boot)(struct cma_mm *, const void *))
{
    return boot ? test_mm_boot(tweak, boot, NULL) : test_mm_simple(0, bytes, tweak);
}

/* Is pfn a free block head of `order`? */
static bool is_free_head(const struct cma_mm *mm, cma_pfn_t pfn, unsigned order)
{
    const struct cma_page *p = pg(mm, pfn);
    return cma__page_state(p) == PS_BUDDY && p->order == order;
}

/* The list of (order, type) as pfns, head to tail; returns its length (at most max). */
static size_t list_pfns(const struct cma_mm *mm, unsigned o, unsigned t, cma_pfn_t *out, size_t max)
{
    size_t n = 0;
    for (uint32_t idx = mm->free_area[o].lists[t].head; idx != CMA_IDX_NIL && n < max;
         idx = cma__page(mm, idx)->lo)
        out[n++] = cma__idx_to_pfn(mm, idx);
    return n;
}

/* One block straight from the buddy (the removal state machine, no per-CPU cache), marked allocated
 * as cma_alloc_pages does. CMA_PFN_NONE when nothing fits. */
static cma_pfn_t take(struct cma_mm *mm, unsigned order, unsigned mt)
{
    cma__mm_lock(mm);
    uint32_t idx = cma__rmqueue_locked(mm, order, mt, mt == CMA_MIGRATE_MOVABLE, NULL);
    if (idx != CMA_IDX_NIL) {
        struct cma_page *p = cma__page(mm, idx);
        p->order = (uint8_t)order;
        cma__page_set_flags(p, PS_ALLOC);
    }
    cma__mm_unlock(mm);
    return pfn_of(mm, idx);
}

static cma_pfn_t alloc_ok(struct cma_mm *mm, unsigned order, unsigned gfp)
{
    cma_pfn_t pfn = CMA_PFN_NONE;
    int r = cma_alloc_pages(mm, order, gfp, &pfn);
    if (r)
        test_fail_(__FILE__, __LINE__, "cma_alloc_pages(order %u, gfp %u): %s", order, gfp,
                   cma_err_name(r));
    return pfn;
}

/* Sets the label of a pageblock that holds no free page (e.g. fully allocated). */
static void label_pb(struct cma_mm *mm, cma_pfn_t pfn, unsigned mt)
{
    cma__mm_lock(mm);
    cma__pb_set_type_locked(mm, pfn, mt);
    cma__mm_unlock(mm);
}

/* Frees every allocated block, drains the caches, finishes. */
static void finish(struct cma_mm *mm)
{
    if (!mm)
        return;
    for (unsigned i = 0; i < mm->nspans; i++) {
        const struct cma_span *s = &mm->spans[i];
        for (cma_pfn_t pfn = s->base; pfn < s->base + s->npages;) {
            struct cma_page *d = cma__page(mm, s->idx + (uint32_t)(pfn - s->base));
            unsigned st = cma__page_state(d);
            uint64_t step = 1;
            if (st == PS_ALLOC) {
                step = 1ull << d->order;
                EXPECT_OK(cma_free_pages(mm, pfn, d->order));
            } else if (st == PS_BUDDY || st == PS_PCP) {
                step = 1ull << d->order;
            }
            pfn += step;
        }
    }
    EXPECT_OK(cma_drain_cpu_caches(mm));
    EXPECT_UEQ(total_free(mm), mm->nr_managed);
    test_mm_finish(mm);
}

/* Shuffles a pfn array with the seeded generator. */
static void shuffle(cma_pfn_t *a, size_t n, struct test_rng *rng)
{
    for (size_t i = n; i > 1; i--) {
        size_t j = (size_t)test_rng_below(rng, i);
        cma_pfn_t t = a[i - 1];
        a[i - 1] = a[j];
        a[j] = t;
    }
}

/* ---- split ------------------------------------------------------------------------------------- */

/* pcp off (batch 1 / high 1): the first order-0 allocation splits the first order-10 block, keeping
 * pfn 0 and releasing one block at each order 9..0 at pfn 2^o; then every page comes out in ascending
 * order. */
static void test_split_ascending_public(void)
{
    struct cma_mm *mm = mk_boot(8 * MiB, tw_nopcp, NULL);
    if (!mm)
        return;
    const unsigned M = CMA_MIGRATE_MOVABLE;
    EXPECT_UEQ(nr(mm, 10, M), 2);
    EXPECT_UEQ(head_pfn(mm, 10, M), 0);
    cma_pfn_t first = alloc_ok(mm, 0, CMA_GFP_MOVABLE);
    EXPECT_UEQ(first, 0);
    for (unsigned o = 0; o < 10; o++) {
        EXPECT_UEQ(nr(mm, o, M), 1);
        EXPECT_UEQ(head_pfn(mm, o, M), 1u << o);
        EXPECT_TRUE(is_free_head(mm, 1u << o, o));
    }
    EXPECT_UEQ(nr(mm, 10, M), 1);
    EXPECT_UEQ(head_pfn(mm, 10, M), 1024);
    EXPECT_UEQ(mm->nr_free_buddy[M], 2047);

    uint64_t out_of_order = 0;
    cma_pfn_t prev = first, pfn;
    for (unsigned i = 1; i < 2048; i++) {
        pfn = alloc_ok(mm, 0, CMA_GFP_MOVABLE);
        if (pfn != prev + 1)
            out_of_order++;
        prev = pfn;
    }
    EXPECT_UEQ(out_of_order, 0);
    EXPECT_ERR(cma_alloc_pages(mm, 0, CMA_GFP_MOVABLE, &pfn), -CMA_ENOMEM);
    EXPECT_UEQ(total_free(mm), 0);
    EXPECT_CHECK(mm);
    finish(mm);
}

/* Directly through the removal state machine, at several orders: each order's successive blocks
 * ascend, and a mixed sequence carves the block from the bottom up. */
static void test_split_ascending_rmqueue(void)
{
    struct cma_mm *mm = mk_boot(16 * MiB, NULL, NULL);
    if (!mm)
        return;
    const unsigned M = CMA_MIGRATE_MOVABLE;
    /* order 2 x 300: 0, 4, 8, ... */
    uint64_t bad = 0;
    for (unsigned i = 0; i < 300; i++)
        if (take(mm, 2, M) != 4ull * i)
            bad++;
    EXPECT_UEQ(bad, 0);
    /* 1200 pages used (across the first two order-10 blocks); order 0 continues at pfn 1200 */
    for (unsigned i = 0; i < 100; i++)
        if (take(mm, 0, M) != 1200ull + i)
            bad++;
    EXPECT_UEQ(bad, 0);
    finish(mm);

    /* mixed orders carving the third order-10 block (pfn 2048) from the bottom up */

    mm = mk_boot(16 * MiB, NULL, NULL);
    if (!mm)
        return;
    EXPECT_UEQ(take(mm, 10, M), 0);
    EXPECT_UEQ(take(mm, 10, M), 1024);
    EXPECT_UEQ(take(mm, 7, M), 2048);  /* halves 2176(7) 2304(8) 2560(9) */
    EXPECT_UEQ(take(mm, 0, M), 2176);  /* from the order-7 half: 2177(0) 2178(1) ... 2240(6) */
    EXPECT_UEQ(take(mm, 3, M), 2184);  /* order-3 half of that split */
    EXPECT_UEQ(take(mm, 0, M), 2177);
    EXPECT_UEQ(take(mm, 9, M), 2560);
    EXPECT_UEQ(take(mm, 8, M), 2304);
    EXPECT_CHECK(mm);
    finish(mm);
}

static void tw_batch(struct cma_mm_config *c)
{
    c->nr_cpus = 1;
}

/* A real per-CPU batch (derived: 15 pages on 256 MiB): refills append to the cache tail and
 * allocation pops the head, so order-0 pfns still ascend across refills. */
static void test_split_ascending_pcp_batch(void)
{
    struct cma_mm *mm = mk_boot(256 * MiB, tw_batch, NULL);
    if (!mm)
        return;
    EXPECT_GT(mm->pcp_batch, 1);
    uint64_t bad = 0;
    for (unsigned i = 0; i < 5000; i++)
        if (alloc_ok(mm, 0, CMA_GFP_MOVABLE) != i)
            bad++;
    EXPECT_UEQ(bad, 0);
    EXPECT_CHECK(mm);
    finish(mm);
}

/* ---- merge ------------------------------------------------------------------------------------- */

/* Everything allocated in random orders, freed in random order: back to max-order blocks only. */
static void test_free_all_merges_back(void)
{
    struct cma_mm *mm = mk_boot(16 * MiB, tw_nopcp, NULL);
    if (!mm)
        return;
    struct test_rng rng;
    test_rng_init(&rng, test_seed_value);
    static cma_pfn_t pfns[4096];
    static unsigned orders[4096];
    size_t n = 0;
    for (;;) {
        unsigned o = (unsigned)test_rng_below(&rng, 7);
        cma_pfn_t pfn;
        while (cma_alloc_pages(mm, o, CMA_GFP_MOVABLE, &pfn) != 0 && o > 0)
            o--;
        if (pfn == CMA_PFN_NONE)
            break;
        pfns[n] = pfn;
        orders[n] = o;
        n++;
    }
    EXPECT_OK(cma_drain_cpu_caches(mm));
    EXPECT_UEQ(total_free(mm), 0);
    EXPECT_CHECK(mm);
    /* free in random order (shuffle indices through the pfn array, keeping orders paired) */
    for (size_t i = n; i > 1; i--) {
        size_t j = (size_t)test_rng_below(&rng, i);
        cma_pfn_t tp = pfns[i - 1];
        unsigned to = orders[i - 1];
        pfns[i - 1] = pfns[j], orders[i - 1] = orders[j];
        pfns[j] = tp, orders[j] = to;
    }
    for (size_t i = 0; i < n; i++)
        EXPECT_OK(cma_free_pages(mm, pfns[i], orders[i]));
    EXPECT_OK(cma_drain_cpu_caches(mm));
    EXPECT_UEQ(nr(mm, 10, CMA_MIGRATE_MOVABLE), 4);
    for (unsigned o = 0; o < 10; o++)
        EXPECT_UEQ(mm->free_area[o].nr_free, 0);
    EXPECT_UEQ(total_free(mm), 4096);
    finish(mm);
}

/* Two memblock ranges with a 4-page hole: [0, 1016) and [1020, 2048). Free blocks never cross the
 * hole, before and after allocating and freeing everything (shuffled, order 0). */
static int boot_two_spans(struct cma_mm *mm, const void *arg)
{
    (void)arg;
    int r = cma_memblock_add(mm, 0, 1016 * 4 * KiB);
    return r ? r : cma_memblock_add(mm, 1020 * 4 * KiB, (2048 - 1020) * 4 * KiB);
}

static void expect_two_span_layout(struct cma_mm *mm, const char *when)
{
    const unsigned M = CMA_MIGRATE_MOVABLE;
    /* [0,1016) = 512 + 256 + 128 + 64 + 32 + 16 + 8; [1020,2048) = 4 + 1024 */
    static const struct {
        cma_pfn_t pfn;
        unsigned order;
    } want[] = {{0, 9}, {512, 8}, {768, 7}, {896, 6}, {960, 5}, {992, 4}, {1008, 3}, {1020, 2}, {1024, 10}};
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++)
        if (!is_free_head(mm, want[i].pfn, want[i].order) || nr(mm, want[i].order, M) != 1)
            test_fail_(__FILE__, __LINE__, "%s: expected one free order-%u block at pfn %llu", when,
                       want[i].order, (unsigned long long)want[i].pfn);
    EXPECT_UEQ(nr(mm, 0, M) + nr(mm, 1, M), 0);
    EXPECT_UEQ(total_free(mm), 2044);
}

static void test_no_merge_across_spans(void)
{
    struct cma_mm *mm = mk_boot(0, tw_nopcp, boot_two_spans);
    if (!mm)
        return;
    EXPECT_EQ(mm->nspans, 2);
    EXPECT_UEQ(mm->nr_pages, 2044);
    EXPECT_FALSE(cma__span_of_pfn(mm, 1016) || cma__span_of_pfn(mm, 1019));
    expect_two_span_layout(mm, "after online");

    static cma_pfn_t pfns[2044];
    size_t n = 0;
    cma_pfn_t pfn;
    while (cma_alloc_pages(mm, 0, CMA_GFP_MOVABLE, &pfn) == 0)
        pfns[n++] = pfn;
    EXPECT_UEQ(n, 2044);
    struct test_rng rng;
    test_rng_init(&rng, test_seed_value);
    shuffle(pfns, n, &rng);
    for (size_t i = 0; i < n; i++)
        EXPECT_OK(cma_free_pages(mm, pfns[i], 0));
    EXPECT_OK(cma_drain_cpu_caches(mm));
    expect_two_span_layout(mm, "after freeing everything");

    /* the blocks on both sides of the hole, freed last, stay apart */
    EXPECT_UEQ(take(mm, 3, CMA_MIGRATE_MOVABLE), 1008);
    EXPECT_UEQ(take(mm, 2, CMA_MIGRATE_MOVABLE), 1020);
    EXPECT_OK(cma_free_pages(mm, 1020, 2));
    EXPECT_OK(cma_free_pages(mm, 1008, 3));
    EXPECT_TRUE(is_free_head(mm, 1008, 3));
    EXPECT_TRUE(is_free_head(mm, 1020, 2));
    EXPECT_CHECK(mm);
    finish(mm);
}

/* Edges of two spans. The memory map is contiguous across the hole, so an index computed for a
 * buddy outside the span lands on the other span's pages:
 *   [0, 1016) + [1024, 2048): [1008, 1016) (order 3) has its buddy 1016 above the span end; the next
 *     descriptor is pfn 1024's, itself an order-3 free block [1024, 1032) in the test;
 *   [0, 1016) + [1020, 2048): [1020, 1024) (order 2) has its buddy 1016 below the span base; the
 *     descriptor before pfn 1020's is pfn 1012's, an order-2 free block [1012, 1016) in the test.
 * Neither pair may merge, whichever is freed first. */
static int boot_two_spans_aligned(struct cma_mm *mm, const void *arg)
{
    (void)arg;
    int r = cma_memblock_add(mm, 0, 1016 * 4 * KiB);
    return r ? r : cma_memblock_add(mm, 1024 * 4 * KiB, 1024 * 4 * KiB);
}

static void edge_case(int (*boot)(struct cma_mm *, const void *), cma_pfn_t a, cma_pfn_t b, unsigned order,
                      bool a_first)
{
    struct cma_mm *mm = mk_boot(0, tw_nopcp, boot);
    if (!mm)
        return;
    EXPECT_EQ(mm->nspans, 2);
    EXPECT_UEQ(cma__pfn_idx(mm, b), cma__pfn_idx(mm, a) + (1u << order)); /* adjacent in the memory map */
    cma_pfn_t pfn;
    uint64_t n = 0;
    while (cma_alloc_pages(mm, 0, CMA_GFP_MOVABLE, &pfn) == 0)
        n++;
    EXPECT_UEQ(n, mm->nr_managed);
    for (int round = 0; round < 2; round++) {
        cma_pfn_t base = (round == 0) == a_first ? a : b;
        for (cma_pfn_t p = base; p < base + (1u << order); p++)
            EXPECT_OK(cma_free_pages(mm, p, 0));
    }
    EXPECT_TRUE(is_free_head(mm, a, order));
    EXPECT_TRUE(is_free_head(mm, b, order));
    EXPECT_UEQ(nr(mm, order, CMA_MIGRATE_MOVABLE), 2);
    EXPECT_UEQ(nr(mm, order + 1, CMA_MIGRATE_MOVABLE), 0);
    EXPECT_CHECK(mm);
    finish(mm);
}

static void test_no_merge_across_span_edges(void)
{
    edge_case(boot_two_spans_aligned, 1008, 1024, 3, true);
    edge_case(boot_two_spans_aligned, 1008, 1024, 3, false);
    edge_case(boot_two_spans, 1012, 1020, 2, true);
    edge_case(boot_two_spans, 1012, 1020, 2, false);
}

/* pfn 5 reserved at boot: page 4 (its buddy) is freed as an order-0 block and never merges with it;
 * pages 6-7 form an order-1 block, 0-3 an order-2 block. */
static int boot_reserved(struct cma_mm *mm, const void *arg)
{
    (void)arg;
    int r = cma_memblock_add(mm, 0, 8 * MiB);
    return r ? r : cma_memblock_reserve(mm, 5 * 4 * KiB, 4 * KiB);
}

static void expect_reserved_layout(struct cma_mm *mm)
{
    EXPECT_EQ(cma__page_state(pg(mm, 5)), PS_RESERVED);
    EXPECT_TRUE(is_free_head(mm, 0, 2));
    EXPECT_TRUE(is_free_head(mm, 4, 0));
    EXPECT_TRUE(is_free_head(mm, 6, 1));
    EXPECT_TRUE(is_free_head(mm, 8, 3));
    for (unsigned o = 4; o < 10; o++)
        EXPECT_TRUE(is_free_head(mm, 1u << o, o));
    EXPECT_TRUE(is_free_head(mm, 1024, 10));
    EXPECT_UEQ(total_free(mm), 2047);
}

static void test_no_merge_with_reserved(void)
{
    struct cma_mm *mm = mk_boot(0, tw_nopcp, boot_reserved);
    if (!mm)
        return;
    EXPECT_UEQ(mm->nr_reserved, 1);
    expect_reserved_layout(mm);

    /* take page 4 alone and give it back: it stays order 0 */
    EXPECT_UEQ(take(mm, 0, CMA_MIGRATE_MOVABLE), 4);
    EXPECT_OK(cma_free_pages(mm, 4, 0));
    EXPECT_TRUE(is_free_head(mm, 4, 0));
    EXPECT_EQ(cma__page_state(pg(mm, 5)), PS_RESERVED);

    /* everything allocated and freed again: the same layout */
    static cma_pfn_t pfns[2048];
    size_t n = 0;
    cma_pfn_t pfn;
    while (cma_alloc_pages(mm, 0, CMA_GFP_MOVABLE, &pfn) == 0)
        pfns[n++] = pfn;
    EXPECT_UEQ(n, 2047);
    struct test_rng rng;
    test_rng_init(&rng, test_seed_value);
    shuffle(pfns, n, &rng);
    for (size_t i = 0; i < n; i++)
        EXPECT_OK(cma_free_pages(mm, pfns[i], 0));
    EXPECT_OK(cma_drain_cpu_caches(mm));
    expect_reserved_layout(mm);
    EXPECT_CHECK(mm);
    finish(mm);
}

/* ---- merging above pageblock order across labels ----------------------------------------------- */

/* 8 MiB, both order-10 blocks allocated as order-9 blocks (pageblocks 0..3). */
static struct cma_mm *mk_pb_allocated(void)
{
    struct cma_mm *mm = mk_boot(8 * MiB, tw_nopcp, NULL);
    if (!mm)
        return NULL;
    for (unsigned i = 0; i < 4; i++)
        EXPECT_UEQ(alloc_ok(mm, 9, CMA_GFP_MOVABLE), i * PB);
    return mm;
}

/* Pageblock `lo_pfn` labelled a, its order-9 buddy labelled b (both mergeable); freeing first then
 * second merges into one order-10 block of the second's type, the first's pageblock relabelled. */
static void mergeable_case(cma_pfn_t first, unsigned first_mt, cma_pfn_t second, unsigned second_mt)
{
    struct cma_mm *mm = mk_pb_allocated();
    if (!mm)
        return;
    label_pb(mm, first, first_mt);
    label_pb(mm, second, second_mt);
    uint64_t c1 = mm->pb_count[first_mt], c2 = mm->pb_count[second_mt];
    EXPECT_OK(cma_free_pages(mm, first, 9));
    EXPECT_UEQ(nr(mm, 9, first_mt), 1);
    EXPECT_OK(cma_free_pages(mm, second, 9));
    cma_pfn_t base = first < second ? first : second;
    EXPECT_UEQ(nr(mm, 10, second_mt), 1);
    EXPECT_UEQ(head_pfn(mm, 10, second_mt), base);
    EXPECT_UEQ(nr(mm, 9, first_mt) + nr(mm, 9, second_mt), 0);
    EXPECT_EQ(cma_pageblock_type(mm, first), second_mt);
    EXPECT_EQ(cma_pageblock_type(mm, second), second_mt);
    EXPECT_UEQ(mm->pb_count[first_mt], c1 - 1);
    EXPECT_UEQ(mm->pb_count[second_mt], c2 + 1);
    EXPECT_UEQ(mm->nr_free_buddy[second_mt], 1024);
    EXPECT_UEQ(mm->nr_free_buddy[first_mt], 0);
    EXPECT_CHECK(mm);
    finish(mm);
}

static void test_merge_mergeable_types(void)
{
    const unsigned U = CMA_MIGRATE_UNMOVABLE, M = CMA_MIGRATE_MOVABLE, R = CMA_MIGRATE_RECLAIMABLE;
    mergeable_case(0, U, PB, R);          /* lower first */
    mergeable_case(PB, R, 0, U);          /* upper first */
    mergeable_case(2 * PB, M, 3 * PB, U);
    mergeable_case(3 * PB, U, 2 * PB, M);
    mergeable_case(0, R, PB, M);
}

/* Pageblock `x` labelled xt (CMA, HIGHATOMIC or isolated), its buddy MOVABLE: freed in either order
 * they stay two order-9 blocks on their own lists. */
static void unmergeable_case(unsigned xt, bool x_first)
{
    struct cma_mm *mm = mk_pb_allocated();
    if (!mm)
        return;
    const unsigned M = CMA_MIGRATE_MOVABLE;
    const cma_pfn_t x = PB, y = 0;
    cma__mm_lock(mm);
    if (xt == CMA_MIGRATE_ISOLATE)
        cma__pb_set_isolate_locked(mm, x, true);
    else
        cma__pb_set_type_locked(mm, x, xt);
    cma__mm_unlock(mm);
    EXPECT_OK(cma_free_pages(mm, x_first ? x : y, 9));
    EXPECT_OK(cma_free_pages(mm, x_first ? y : x, 9));
    EXPECT_UEQ(nr(mm, 10, M) + nr(mm, 10, xt), 0);
    EXPECT_UEQ(nr(mm, 9, xt), 1);
    EXPECT_UEQ(head_pfn(mm, 9, xt), x);
    EXPECT_UEQ(nr(mm, 9, M), 1);
    EXPECT_UEQ(head_pfn(mm, 9, M), y);
    EXPECT_EQ(cma_pageblock_type(mm, x), xt);
    EXPECT_EQ(cma_pageblock_type(mm, y), M);
    if (xt != CMA_MIGRATE_CMA) /* a CMA label outside a declared area fails the checker's I10 */
        EXPECT_CHECK(mm);
    /* restore: take x's block off its list, relabel MOVABLE, free it again (now it merges) */
    cma__mm_lock(mm);
    cma__freelist_del_locked(mm, cma__pfn_idx(mm, x), 9, xt);
    if (xt == CMA_MIGRATE_ISOLATE)
        cma__pb_set_isolate_locked(mm, x, false);
    else
        cma__pb_set_type_locked(mm, x, M);
    cma__free_block_locked(mm, x, 9, false);
    cma__mm_unlock(mm);
    EXPECT_TRUE(is_free_head(mm, 0, 10));
    finish(mm);
}

static void test_no_merge_with_cma_pageblock(void)
{
    unmergeable_case(CMA_MIGRATE_CMA, true);
    unmergeable_case(CMA_MIGRATE_CMA, false);
}

static void test_no_merge_with_highatomic_or_isolated(void)
{
    unmergeable_case(CMA_MIGRATE_HIGHATOMIC, true);
    unmergeable_case(CMA_MIGRATE_HIGHATOMIC, false);
    unmergeable_case(CMA_MIGRATE_ISOLATE, true);
    unmergeable_case(CMA_MIGRATE_ISOLATE, false);
}

/* Inside a HIGHATOMIC pageblock the two order-8 halves merge (below pageblock order the label is
 * not consulted), and the resulting order-9 block stays apart from its free MOVABLE buddy. */
static void test_merge_below_pageblock_order(void)
{
    struct cma_mm *mm = mk_boot(8 * MiB, tw_nopcp, NULL);
    if (!mm)
        return;
    EXPECT_UEQ(alloc_ok(mm, 10, CMA_GFP_MOVABLE), 0);
    EXPECT_UEQ(take(mm, 8, CMA_MIGRATE_MOVABLE), 1024);
    EXPECT_UEQ(take(mm, 8, CMA_MIGRATE_MOVABLE), 1280);
    label_pb(mm, 1024, CMA_MIGRATE_HIGHATOMIC);
    EXPECT_OK(cma_free_pages(mm, 1280, 8));
    EXPECT_OK(cma_free_pages(mm, 1024, 8));
    EXPECT_TRUE(is_free_head(mm, 1024, 9));
    EXPECT_TRUE(is_free_head(mm, 1536, 9));
    EXPECT_UEQ(nr(mm, 9, CMA_MIGRATE_HIGHATOMIC), 1);
    EXPECT_UEQ(nr(mm, 9, CMA_MIGRATE_MOVABLE), 1);
    EXPECT_CHECK(mm);
    finish(mm);
}

/* ---- freeing blocks larger than a pageblock ---------------------------------------------------- */

/* An allocated order-10 block whose upper pageblock became xt: freed, it is split per pageblock,
 * each half on its own type's list. */
static void split_free_case(unsigned xt)
{
    struct cma_mm *mm = mk_boot(8 * MiB, tw_nopcp, NULL);
    if (!mm)
        return;
    const unsigned M = CMA_MIGRATE_MOVABLE;
    EXPECT_UEQ(alloc_ok(mm, 10, CMA_GFP_MOVABLE), 0);
    label_pb(mm, PB, xt);
    EXPECT_OK(cma_free_pages(mm, 0, 10));
    EXPECT_UEQ(nr(mm, 9, M), 1);
    EXPECT_UEQ(head_pfn(mm, 9, M), 0);
    EXPECT_UEQ(nr(mm, 9, xt), 1);
    EXPECT_UEQ(head_pfn(mm, 9, xt), PB);
    EXPECT_UEQ(nr(mm, 10, M), 1); /* the other order-10 block */
    EXPECT_UEQ(head_pfn(mm, 10, M), 1024);
    EXPECT_UEQ(mm->nr_free_buddy[xt], PB);
    EXPECT_EQ(cma_pageblock_type(mm, 0), M);
    EXPECT_EQ(cma_pageblock_type(mm, PB), xt);
    if (xt != CMA_MIGRATE_CMA)
        EXPECT_CHECK(mm);
    /* restore as in unmergeable_case */
    cma__mm_lock(mm);
    cma__freelist_del_locked(mm, PB, 9, xt);
    cma__pb_set_type_locked(mm, PB, M);
    cma__free_block_locked(mm, PB, 9, false);
    cma__mm_unlock(mm);
    EXPECT_TRUE(is_free_head(mm, 0, 10));
    finish(mm);
}

static void test_free_large_block_split_per_pageblock(void)
{
    split_free_case(CMA_MIGRATE_CMA);
    split_free_case(CMA_MIGRATE_HIGHATOMIC);
}

static void tw_pb8(struct cma_mm_config *c)
{
    tw_nopcp(c);
    c->pageblock_order = 8;
}

/* pageblock order 8: an order-10 block over pageblocks [MOVABLE, MOVABLE, HIGHATOMIC, HIGHATOMIC]
 * frees as an order-9 MOVABLE block and an order-9 HIGHATOMIC block (pieces of the same type
 * re-merge, different non-mergeable types do not). */
static void test_free_large_block_split_pb8(void)
{
    struct cma_mm *mm = mk_boot(8 * MiB, tw_pb8, NULL);
    if (!mm)
        return;
    const unsigned M = CMA_MIGRATE_MOVABLE, H = CMA_MIGRATE_HIGHATOMIC;
    EXPECT_EQ(mm->pb_order, 8);
    EXPECT_UEQ(alloc_ok(mm, 10, CMA_GFP_MOVABLE), 0);
    label_pb(mm, 512, H);
    label_pb(mm, 768, H);
    EXPECT_OK(cma_free_pages(mm, 0, 10));
    EXPECT_TRUE(is_free_head(mm, 0, 9));
    EXPECT_TRUE(is_free_head(mm, 512, 9));
    EXPECT_UEQ(nr(mm, 9, M), 1);
    EXPECT_UEQ(nr(mm, 9, H), 1);
    EXPECT_UEQ(nr(mm, 8, M) + nr(mm, 8, H), 0);
    EXPECT_EQ(cma_pageblock_type(mm, 256), M);
    EXPECT_EQ(cma_pageblock_type(mm, 768), H);
    EXPECT_CHECK(mm);
    finish(mm);
}

/* Mergeable labels [UNMOVABLE, MOVABLE] under one allocated order-10 block: per-pageblock freeing
 * (lower first) merges again at pageblock order (docs/linux.md, "Split and merge"), the lower
 * pageblock taking the upper's label: one order-10 MOVABLE block. */
static void test_free_large_block_mergeable_remerges(void)
{
    struct cma_mm *mm = mk_boot(8 * MiB, tw_nopcp, NULL);
    if (!mm)
        return;
    EXPECT_UEQ(alloc_ok(mm, 10, CMA_GFP_MOVABLE), 0);
    label_pb(mm, 0, CMA_MIGRATE_UNMOVABLE);
    EXPECT_OK(cma_free_pages(mm, 0, 10));
    EXPECT_TRUE(is_free_head(mm, 0, 10));
    EXPECT_UEQ(nr(mm, 10, CMA_MIGRATE_MOVABLE), 2);
    EXPECT_EQ(cma_pageblock_type(mm, 0), CMA_MIGRATE_MOVABLE);
    EXPECT_UEQ(mm->nr_free_buddy[CMA_MIGRATE_UNMOVABLE], 0);
    EXPECT_CHECK(mm);
    finish(mm);
}

/* ---- placement heuristic ------------------------------------------------------------------------ */

/* Every page allocated at order 0, then (placement of the final, merged block):
 *   free 100, 101 -> order 1 at 100; its order-2 buddy 96 is busy: head
 *   free 200      -> order 0; its order-1 buddy 202 is busy: head        order-0 list [200]
 *   free 103      -> order 0 (buddy 102 busy); order-1 buddy 100 is free at order 1: TAIL
 *                                                                         order-0 list [200, 103]
 *   free 300      -> head                                                 order-0 list [300, 200, 103]
 *   free 108..111 -> order 2 at 108 (its order-3 buddy 96 busy)          order-1 list [100]
 *   free 104      -> order 0 (105 busy); order-1 buddy 106 busy: head
 *   free 105      -> order 1 at 104; the buddy of its order-2 block, 108, is free at order 2: TAIL
 *                                                                         order-1 list [100, 104]
 *   free 116, 117 -> order 1 at 116; the order-2 buddy 112 is busy: head  order-1 list [116, 100, 104]
 *   free 120, 121 -> order 1 at 120 (its buddy 122 busy)                   order-1 list [120, 116, ...]
 *   free 124, 125 -> order 1 at 124; the order-2 block's buddy 120 is free, but only at order 1 (not
 *                    order 2): head                                        order-1 list [124, 120, ...]
 * ("next order's buddy free" means: the buddy of the order+1 block containing the freed block is a
 * free block of order+1, Linux's buddy_merge_likely.)
 */
static void test_placement_tail_when_merge_likely(void)
{
    struct cma_mm *mm = mk_boot(8 * MiB, tw_nopcp, NULL);
    if (!mm)
        return;
    const unsigned M = CMA_MIGRATE_MOVABLE;
    cma_pfn_t pfn;
    uint64_t n = 0;
    while (cma_alloc_pages(mm, 0, CMA_GFP_MOVABLE, &pfn) == 0)
        n++;
    EXPECT_UEQ(n, 2048);
    cma_pfn_t l[8];
    size_t k;

    EXPECT_OK(cma_free_pages(mm, 100, 0));
    EXPECT_OK(cma_free_pages(mm, 101, 0));
    EXPECT_TRUE(is_free_head(mm, 100, 1));
    EXPECT_OK(cma_free_pages(mm, 200, 0));
    EXPECT_UEQ(head_pfn(mm, 0, M), 200);
    EXPECT_OK(cma_free_pages(mm, 103, 0));
    EXPECT_UEQ(head_pfn(mm, 0, M), 200);
    EXPECT_UEQ(tail_pfn(mm, 0, M), 103);
    EXPECT_OK(cma_free_pages(mm, 300, 0));
    k = list_pfns(mm, 0, M, l, 8);
    EXPECT_UEQ(k, 3);
    if (k == 3) {
        EXPECT_UEQ(l[0], 300);
        EXPECT_UEQ(l[1], 200);
        EXPECT_UEQ(l[2], 103);
    }

    for (cma_pfn_t p = 108; p < 112; p++)
        EXPECT_OK(cma_free_pages(mm, p, 0));
    EXPECT_TRUE(is_free_head(mm, 108, 2));
    EXPECT_UEQ(nr(mm, 1, M), 1);
    EXPECT_OK(cma_free_pages(mm, 104, 0));
    EXPECT_UEQ(head_pfn(mm, 0, M), 104);
    EXPECT_OK(cma_free_pages(mm, 105, 0)); /* merges with 104 into order 1, then placement */
    EXPECT_TRUE(is_free_head(mm, 104, 1));
    EXPECT_UEQ(head_pfn(mm, 1, M), 100);
    EXPECT_UEQ(tail_pfn(mm, 1, M), 104);
    EXPECT_OK(cma_free_pages(mm, 116, 0));
    EXPECT_OK(cma_free_pages(mm, 117, 0));
    k = list_pfns(mm, 1, M, l, 8);
    EXPECT_UEQ(k, 3);
    if (k == 3) {
        EXPECT_UEQ(l[0], 116);
        EXPECT_UEQ(l[1], 100);
        EXPECT_UEQ(l[2], 104);
    }
    EXPECT_OK(cma_free_pages(mm, 120, 0));
    EXPECT_OK(cma_free_pages(mm, 121, 0));
    EXPECT_UEQ(head_pfn(mm, 1, M), 120);
    EXPECT_OK(cma_free_pages(mm, 124, 0));
    EXPECT_OK(cma_free_pages(mm, 125, 0));
    EXPECT_TRUE(is_free_head(mm, 124, 1));
    EXPECT_UEQ(head_pfn(mm, 1, M), 124);
    EXPECT_UEQ(tail_pfn(mm, 1, M), 104);
    EXPECT_CHECK(mm);
    finish(mm);
}

/* At order max_order - 1 the heuristic is not evaluated (as in Linux: only below max order - 1): an
 * order-9 block whose order-10 buddy is free still goes to the head. At order 8 it is evaluated. */
static void test_placement_not_at_max_minus_one(void)
{
    struct cma_mm *mm = mk_boot(16 * MiB, tw_nopcp, NULL);
    if (!mm)
        return;
    const unsigned M = CMA_MIGRATE_MOVABLE;
    for (unsigned i = 0; i < 8; i++)
        EXPECT_UEQ(alloc_ok(mm, 9, CMA_GFP_MOVABLE), i * PB);
    EXPECT_OK(cma_free_pages(mm, 1024, 9));
    EXPECT_OK(cma_free_pages(mm, 1536, 9)); /* order 10 at 1024 */
    EXPECT_TRUE(is_free_head(mm, 1024, 10));
    EXPECT_OK(cma_free_pages(mm, 2560, 9)); /* order-10 buddy 3072 busy: head */
    EXPECT_OK(cma_free_pages(mm, 0, 9));    /* order-10 buddy 1024 free, but order 9 = max - 1: head */
    EXPECT_UEQ(nr(mm, 9, M), 2);
    EXPECT_UEQ(head_pfn(mm, 9, M), 0);
    EXPECT_UEQ(tail_pfn(mm, 9, M), 2560);
    EXPECT_CHECK(mm);

    finish(mm);

    /* order 8 (max - 2) is evaluated: 8 MiB as eight order-8 blocks */
    mm = mk_boot(8 * MiB, tw_nopcp, NULL);
    if (!mm)
        return;
    for (unsigned i = 0; i < 8; i++)
        EXPECT_UEQ(alloc_ok(mm, 8, CMA_GFP_MOVABLE), i * 256);
    EXPECT_OK(cma_free_pages(mm, 1536, 8));
    EXPECT_OK(cma_free_pages(mm, 1792, 8)); /* order 9 at 1536 */
    EXPECT_TRUE(is_free_head(mm, 1536, 9));
    EXPECT_OK(cma_free_pages(mm, 256, 8));  /* order-9 buddy 512 busy: head */
    EXPECT_OK(cma_free_pages(mm, 1024, 8)); /* order-9 buddy 1536 free at order 9: TAIL */
    EXPECT_OK(cma_free_pages(mm, 768, 8));  /* order-9 buddy 0 busy: head */
    cma_pfn_t l[4];
    size_t k = list_pfns(mm, 8, M, l, 4);
    EXPECT_UEQ(k, 3);
    if (k == 3) {
        EXPECT_UEQ(l[0], 768);
        EXPECT_UEQ(l[1], 256);
        EXPECT_UEQ(l[2], 1024);
    }
    EXPECT_CHECK(mm);
    finish(mm);
}

int main(int argc, char **argv)
{
    return test_main(argc, argv, TEST(test_split_ascending_public), TEST(test_split_ascending_rmqueue),
                     TEST(test_split_ascending_pcp_batch), TEST(test_free_all_merges_back),
                     TEST(test_no_merge_across_spans), TEST(test_no_merge_across_span_edges),
                     TEST(test_no_merge_with_reserved),
                     TEST(test_merge_mergeable_types), TEST(test_no_merge_with_cma_pageblock),
                     TEST(test_no_merge_with_highatomic_or_isolated),
                     TEST(test_merge_below_pageblock_order),
                     TEST(test_free_large_block_split_per_pageblock),
                     TEST(test_free_large_block_split_pb8),
                     TEST(test_free_large_block_mergeable_remerges),
                     TEST(test_placement_tail_when_merge_likely),
                     TEST(test_placement_not_at_max_minus_one));
}
