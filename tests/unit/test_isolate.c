/* SPDX-License-Identifier: MIT */
/*
 * tests/unit/test_isolate.c - pageblock isolation (cma__isolate_range / cma__undo_isolate_range)
 * against the per-CPU caches and the buddy lists, looked at from the inside.
 *
 * A custom host's cpu_id hook returns a thread-local, test-controlled CPU number, so pages can be
 * put into chosen CPUs' caches.
 *
 *   drains_every_cpu_cache   pages of the area's pageblocks sit in four CPUs' caches; after isolation
 *                            (a) no pcp list holds a page of an isolated pageblock, every free page
 *                            of the range is on an ISOLATE list, (b) freeing a page of an isolated
 *                            pageblock goes straight to the ISOLATE list (order 0 and a pcp order),
 *                            never into a cache, and allocations never see isolated pages,
 *                            (c) undo restores the CMA labels and the pages merge back to max order
 *   double_isolation         an isolated pageblock refuses a second isolation (-EBUSY, the obstacle
 *                            named); a multi-pageblock isolation that meets someone else's isolated
 *                            pageblock rolls back only its own pageblocks
 *   unmovable_inside         an allocated page without movable ops refuses isolation at once
 *                            (-EBUSY, busy pfn = that page), labels and lists unchanged; the same
 *                            page just outside [start, end) of its pageblock does not; a pinned
 *                            page refuses; CMA pageblocks refuse outside CMA mode
 *   splits_large_free_block  max_order 10, pageblock_order 8: isolating one pageblock of a free
 *                            order-10 block splits it so only that pageblock is on the ISOLATE list,
 *                            the other pieces stay on their normal lists with their labels; two
 *                            pageblocks; undo merges everything back
 *   checker_while_isolated   isolating both pageblocks of one free order-10 block: cma_mm_check must
 *                            stay green while the range is isolated (I5: same-label buddies merged)
 *   pcp_window_during_isolation
 *                            lock hooks run code the moment cma__isolate_range first holds no lock
 *                            with the isolate bit set: no cache may still hold the pageblock's free
 *                            pages (I8), an allocation must not get one, the checker is green
 *   claims_free_blocks       isolation for a contiguous range (claimedp) takes every free block lying
 *                            wholly inside an unaligned [start, end) off the lists as PS_CLAIMED,
 *                            counted exactly, and puts straddling ones and the rest of the edge
 *                            pageblocks on the ISOLATE lists; the checker is green meanwhile; unclaim
 *                            + undo restore every counter; an unmovable page in the last pageblock
 *                            fails the whole isolation with nothing claimed and nothing changed;
 *                            a failure never gives back claimed pieces of another range's
 *                            isolation further on
 *   two_spans_one_pageblock  a pageblock holding the end of one memory range and the start of the
 *                            next (a hole in between): isolating a range in the second range moves
 *                            the free blocks of both parts to the ISOLATE list, no allocation gets
 *                            a page of that pageblock, undo restores both
 *   concurrent_frees         a thread frees (and allocates) pages of the area through its own cache
 *                            while the main thread isolates and undoes in a loop: after every
 *                            isolation no cache ever holds a page of the isolated range
 */
#include "test.h"

#include "internal/internal.h"

#include <pthread.h>

#define KiB 1024ull
#define MiB (1024ull * KiB)

/* ---- machine with a test-controlled cpu_id ------------------------------------------------------ */

static _Thread_local unsigned tl_cpu;

static unsigned test_cpu_id(void *ctx)
{
    (void)ctx;
    return tl_cpu;
}

static const struct cma_host test_host = {.cpu_id = test_cpu_id};
static const struct cma_host *mk_host = &test_host;

struct mach {
    struct cma_mm *mm;
    struct cma_area *area;
    cma_pfn_t abase, aend;
};

/* 32 MiB at 0, 4 CPUs, batch 31 / high 1000 (caches keep what they get), CMA first; an area of 16 MiB
 * at 16 MiB unless area is false. pb_order/max_order 0 = defaults (9 / 10). */
static bool mk(struct mach *m, bool area, unsigned pb_order, unsigned max_order)
{
    struct cma_mm_config cfg;
    memset(m, 0, sizeof *m);
    cma_mm_config_default(&cfg);
    cfg.host = mk_host;
    cfg.nr_cpus = 4;
    cfg.pcp_batch = 31;
    cfg.pcp_high = 1000;
    cfg.cma_first_percent = 0;
    if (pb_order)
        cfg.pageblock_order = pb_order;
    if (max_order)
        cfg.max_order = max_order;
    int r = cma_mm_create(&cfg, &m->mm);
    if (r) {
        test_fail_(__FILE__, __LINE__, "cma_mm_create: %s", cma_err_name(r));
        return false;
    }
    if ((r = cma_memblock_add(m->mm, 0, 32 * MiB)) ||
        (area && (r = cma_declare_contiguous(m->mm, "iso", 16 * MiB, 16 * MiB, 0, 0, 0, &m->area))) ||
        (r = cma_mm_online(m->mm))) {
        test_fail_(__FILE__, __LINE__, "setup: %s", cma_err_name(r));
        (void)cma_mm_destroy(m->mm);
        return false;
    }
    m->abase = area ? 16 * MiB / 4096 : 0;
    m->aend = area ? 32 * MiB / 4096 : 0;
    return true;
}

static int noop_migrate(void *owner, cma_pfn_t from, cma_pfn_t to, unsigned order)
{
    (void)owner;
    (void)from;
    (void)to;
    (void)order;
    return -1; /* never asked here */
}
static const struct cma_movable_ops noop_ops = {NULL, noop_migrate, NULL, NULL};

/* ---- looking inside ------------------------------------------------------------------------------ */

/* Pages held in any CPU cache inside [lo, hi); checks each entry is PS_PCP. Takes the pcp locks. */
static uint64_t pcp_pages_in(struct cma_mm *mm, cma_pfn_t lo, cma_pfn_t hi)
{
    uint64_t n = 0;
    for (unsigned c = 0; c < mm->nr_cpus; c++) {
        struct cma_pcp *pcp = &mm->pcp[c];
        cma__lock(&mm->host, &pcp->lock);
        for (unsigned o = 0; o <= CMA_PCP_MAX_ORDER; o++)
            for (unsigned t = 0; t < CMA_MIGRATE_PCPTYPES; t++)
                for (uint32_t idx = pcp->lists[o][t].head; idx != CMA_IDX_NIL;
                     idx = cma__page(mm, idx)->lo) {
                    cma_pfn_t pfn = cma__idx_to_pfn(mm, idx);
                    if (cma__page_state(cma__page(mm, idx)) != PS_PCP)
                        test_fail_(__FILE__, __LINE__, "cpu %u list entry %#" PRIx64 " not PS_PCP", c, pfn);
                    if (pfn < hi && pfn + (1ull << o) > lo)
                        n += 1ull << o;
                }
        cma__unlock(&mm->host, &pcp->lock);
    }
    return n;
}

static uint32_t pcp_count(struct cma_mm *mm, unsigned c)
{
    cma__lock(&mm->host, &mm->pcp[c].lock);
    uint32_t n = mm->pcp[c].count;
    cma__unlock(&mm->host, &mm->pcp[c].lock);
    return n;
}

/* Pages on the buddy lists of type mt inside [lo, hi) (walks the lists under the zone lock). */
static uint64_t list_pages_in(struct cma_mm *mm, unsigned mt, cma_pfn_t lo, cma_pfn_t hi)
{
    uint64_t n = 0;
    cma__mm_lock(mm);
    for (unsigned o = 0; o <= mm->max_order; o++)
        for (uint32_t idx = mm->free_area[o].lists[mt].head; idx != CMA_IDX_NIL;
             idx = cma__page(mm, idx)->lo) {
            cma_pfn_t pfn = cma__idx_to_pfn(mm, idx);
            if (pfn < hi && pfn + (1ull << o) > lo)
                n += 1ull << o;
        }
    cma__mm_unlock(mm);
    return n;
}

/* Is there a free block of exactly (pfn, order) on list mt? */
static bool on_list(struct cma_mm *mm, unsigned order, unsigned mt, cma_pfn_t pfn)
{
    bool found = false;
    cma__mm_lock(mm);
    for (uint32_t idx = mm->free_area[order].lists[mt].head; idx != CMA_IDX_NIL && !found;
         idx = cma__page(mm, idx)->lo)
        found = cma__idx_to_pfn(mm, idx) == pfn;
    cma__mm_unlock(mm);
    return found;
}

static uint64_t list_nr(struct cma_mm *mm, unsigned order, unsigned mt)
{
    cma__mm_lock(mm);
    uint64_t n = mm->free_area[order].lists[mt].nr;
    cma__mm_unlock(mm);
    return n;
}

static uint64_t buddy_free(struct cma_mm *mm, unsigned mt)
{
    cma__mm_lock(mm);
    uint64_t n = mm->nr_free_buddy[mt];
    cma__mm_unlock(mm);
    return n;
}

static void expect_types_(struct cma_mm *mm, cma_pfn_t lo, cma_pfn_t hi, int type, const char *file,
                          int line)
{
    const uint64_t pbn = 1ull << mm->pb_order;
    for (cma_pfn_t pb = lo & ~(pbn - 1); pb < hi; pb += pbn) {
        int t = cma_pageblock_type(mm, pb);
        if (t != type)
            test_fail_(file, line, "pageblock %#" PRIx64 ": type %d, expected %d", pb, t, type);
    }
}
#define expect_types(mm, lo, hi, type) expect_types_((mm), (lo), (hi), (type), __FILE__, __LINE__)

/* The checker while a range is isolated: every invariant holds, I8 above all (no cached block in an
 * isolated pageblock). (checker_while_isolated isolates the smallest case of I5 on its own.) */
static void expect_check_isolated_(struct cma_mm *mm, const char *file, int line)
{
    char why[256];
    if (cma_mm_check(mm, why, sizeof why))
        test_fail_(file, line, "invariant checker while isolated: %s", why);
}
#define expect_check_isolated(mm) expect_check_isolated_((mm), __FILE__, __LINE__)

struct blk {
    cma_pfn_t pfn;
    unsigned order, cpu;
    bool live;
};

/* Pages in [lo, hi) whose block head has state st; *outside = pages of such blocks beyond it. */
static uint64_t state_pages_in(struct cma_mm *mm, unsigned st, cma_pfn_t lo, cma_pfn_t hi,
                               uint64_t *outside)
{
    uint64_t n = 0, out = 0;
    const struct cma_span *s = &mm->spans[0];
    cma__mm_lock(mm);
    for (cma_pfn_t pfn = s->base; pfn < s->base + s->npages;) {
        const struct cma_page *p = cma__page(mm, cma__span_idx(s, pfn));
        uint64_t len = cma__page_state(p) == PS_RESERVED ? 1 : 1ull << p->order;
        if (cma__page_state(p) == st)
            for (cma_pfn_t q = pfn; q < pfn + len; q++) {
                n += q >= lo && q < hi;
                out += q < lo || q >= hi;
            }
        pfn += len;
    }
    cma__mm_unlock(mm);
    if (outside)
        *outside = out;
    return n;
}

/* ---- tests --------------------------------------------------------------------------------------- */

static void drains_every_cpu_cache(void)
{
    struct mach m;
    ASSERT_TRUE(mk(&m, true, 0, 0));
    struct cma_mm *mm = m.mm;
    struct blk b[256];
    size_t n = 0;
    static const unsigned orders[] = {0, 0, 0, 0, 0, 0, 1, 3};
    for (unsigned c = 0; c < 4; c++) {
        tl_cpu = c;
        for (unsigned i = 0; i < 40; i++) {
            unsigned o = orders[i % 8];
            cma_pfn_t pfn;
            ASSERT_OK(cma_alloc_pages(mm, o, CMA_GFP_MOVABLE, &pfn));
            ASSERT_TRUE(pfn >= m.abase && pfn < m.aend); /* CMA first */
            ASSERT_OK(cma_page_set_movable(mm, pfn, &noop_ops, NULL));
            b[n++] = (struct blk){pfn, o, c, true};
        }
    }
    /* free half of the blocks on their own CPU: the caches hold area pages */
    for (size_t i = 0; i < n; i++) {
        if (i % 4 < 2 || b[i].order == 3)
            continue;
        tl_cpu = b[i].cpu;
        ASSERT_OK(cma_free_pages(mm, b[i].pfn, b[i].order));
        b[i].live = false;
    }
    for (unsigned c = 0; c < 4; c++)
        EXPECT_GT(pcp_count(mm, c), 0);
    EXPECT_GT(pcp_pages_in(mm, m.abase, m.aend), 0);
    EXPECT_CHECK(mm);
    /* an allocated order-0 block whose buddy is allocated too (so a free cannot merge) */
    size_t lone = SIZE_MAX;
    for (size_t i = 0; i < n && lone == SIZE_MAX; i++)
        for (size_t k = 0; k < n && b[i].live && b[i].order == 0; k++)
            if (k != i && b[k].live && b[k].order == 0 && b[k].pfn == (b[i].pfn ^ 1))
                lone = i;
    ASSERT_TRUE(lone != SIZE_MAX);
    size_t big = SIZE_MAX;
    for (size_t i = 0; i < n && big == SIZE_MAX; i++)
        if (b[i].live && b[i].order == 3)
            big = i;
    ASSERT_TRUE(big != SIZE_MAX);

    uint64_t alloc_in_area = 0;
    for (size_t i = 0; i < n; i++)
        alloc_in_area += b[i].live ? 1ull << b[i].order : 0;

    cma_pfn_t busy = 0;
    ASSERT_OK(cma__isolate_range(mm, m.abase, m.aend, true, &busy));
    EXPECT_UEQ(busy, CMA_PFN_NONE);
    /* (a) no cached page of the range; every free page of the range on an ISOLATE list */
    EXPECT_UEQ(pcp_pages_in(mm, m.abase, m.aend), 0);
    expect_types(mm, m.abase, m.aend, CMA_MIGRATE_ISOLATE);
    EXPECT_UEQ(buddy_free(mm, CMA_MIGRATE_CMA), 0);
    EXPECT_UEQ(buddy_free(mm, CMA_MIGRATE_ISOLATE), (m.aend - m.abase) - alloc_in_area);
    EXPECT_UEQ(list_pages_in(mm, CMA_MIGRATE_ISOLATE, m.abase, m.aend), (m.aend - m.abase) - alloc_in_area);
    expect_check_isolated(mm);

    /* (b) frees of isolated pages go straight to the ISOLATE lists, from any CPU */
    tl_cpu = 2;
    uint32_t pc2 = pcp_count(mm, 2);
    uint64_t iso0 = list_nr(mm, 0, CMA_MIGRATE_ISOLATE), isof = buddy_free(mm, CMA_MIGRATE_ISOLATE);
    ASSERT_OK(cma_free_pages(mm, b[lone].pfn, 0));
    b[lone].live = false;
    EXPECT_UEQ(list_nr(mm, 0, CMA_MIGRATE_ISOLATE), iso0 + 1);
    EXPECT_UEQ(buddy_free(mm, CMA_MIGRATE_ISOLATE), isof + 1);
    EXPECT_TRUE(on_list(mm, 0, CMA_MIGRATE_ISOLATE, b[lone].pfn));
    EXPECT_UEQ(pcp_count(mm, 2), pc2);
    tl_cpu = 3;
    uint32_t pc3 = pcp_count(mm, 3);
    ASSERT_OK(cma_free_pages(mm, b[big].pfn, 3));
    b[big].live = false;
    EXPECT_UEQ(buddy_free(mm, CMA_MIGRATE_ISOLATE), isof + 1 + 8);
    EXPECT_UEQ(pcp_count(mm, 3), pc3);
    EXPECT_UEQ(pcp_pages_in(mm, m.abase, m.aend), 0);
    /* allocations never see the isolated pages */
    tl_cpu = 1;
    cma_pfn_t other[200];
    for (int i = 0; i < 200; i++) {
        ASSERT_OK(cma_alloc_pages(mm, (unsigned)(i % 3), CMA_GFP_MOVABLE, &other[i]));
        EXPECT_FALSE(other[i] >= m.abase && other[i] < m.aend);
    }
    for (int i = 0; i < 200; i++)
        EXPECT_OK(cma_free_pages(mm, other[i], (unsigned)(i % 3)));
    EXPECT_UEQ(pcp_pages_in(mm, m.abase, m.aend), 0);
    expect_check_isolated(mm);

    /* (c) free the rest, undo: labels back, everything merged */
    for (size_t i = 0; i < n; i++)
        if (b[i].live) {
            tl_cpu = b[i].cpu;
            EXPECT_OK(cma_free_pages(mm, b[i].pfn, b[i].order));
            b[i].live = false;
        }
    EXPECT_UEQ(pcp_pages_in(mm, m.abase, m.aend), 0);
    EXPECT_UEQ(buddy_free(mm, CMA_MIGRATE_ISOLATE), m.aend - m.abase);
    cma__undo_isolate_range(mm, m.abase, m.aend);
    expect_types(mm, m.abase, m.aend, CMA_MIGRATE_CMA);
    EXPECT_UEQ(buddy_free(mm, CMA_MIGRATE_ISOLATE), 0);
    EXPECT_UEQ(buddy_free(mm, CMA_MIGRATE_CMA), m.aend - m.abase);
    EXPECT_UEQ(list_nr(mm, 10, CMA_MIGRATE_CMA), (m.aend - m.abase) >> 10);
    for (cma_pfn_t p = m.abase; p < m.aend; p += 1024)
        EXPECT_TRUE(on_list(mm, 10, CMA_MIGRATE_CMA, p));
    test_mm_finish(mm);
}

static void double_isolation(void)
{
    struct mach m;
    ASSERT_TRUE(mk(&m, true, 0, 0));
    struct cma_mm *mm = m.mm;
    const cma_pfn_t a = m.abase;
    cma_pfn_t busy;
    ASSERT_OK(cma__isolate_range(mm, a, a + 512, true, &busy));
    EXPECT_ERR(cma__isolate_range(mm, a + 100, a + 700, true, &busy), -CMA_EBUSY);
    EXPECT_UEQ(busy, a + 100);
    EXPECT_ERR(cma__isolate_range(mm, a, a + 1, true, &busy), -CMA_EBUSY);
    EXPECT_UEQ(busy, a);
    EXPECT_ERR(cma__isolate_range(mm, a, a + 512, false, &busy), -CMA_EBUSY);
    expect_types(mm, a, a + 512, CMA_MIGRATE_ISOLATE);
    expect_types(mm, a + 512, m.aend, CMA_MIGRATE_CMA);
    EXPECT_UEQ(buddy_free(mm, CMA_MIGRATE_ISOLATE), 512);
    EXPECT_CHECK(mm);

    /* someone else's isolated pageblock in the middle of a larger request: roll back only ours */
    ASSERT_OK(cma__isolate_range(mm, a + 1024, a + 1536, true, &busy));
    cma__undo_isolate_range(mm, a, a + 512);
    EXPECT_ERR(cma__isolate_range(mm, a + 5, a + 2000, true, &busy), -CMA_EBUSY);
    EXPECT_UEQ(busy, a + 1024);
    expect_types(mm, a, a + 1024, CMA_MIGRATE_CMA);
    expect_types(mm, a + 1024, a + 1536, CMA_MIGRATE_ISOLATE);
    expect_types(mm, a + 1536, m.aend, CMA_MIGRATE_CMA);
    EXPECT_UEQ(buddy_free(mm, CMA_MIGRATE_ISOLATE), 512);
    EXPECT_UEQ(list_pages_in(mm, CMA_MIGRATE_ISOLATE, a + 1024, a + 1536), 512);
    EXPECT_CHECK(mm);
    cma__undo_isolate_range(mm, a + 1024, a + 1536);
    expect_types(mm, m.abase, m.aend, CMA_MIGRATE_CMA);
    EXPECT_UEQ(list_nr(mm, 10, CMA_MIGRATE_CMA), (m.aend - m.abase) >> 10);
    /* undo of a range that is not isolated changes nothing */
    cma__undo_isolate_range(mm, a, a + 4096);
    EXPECT_UEQ(list_nr(mm, 10, CMA_MIGRATE_CMA), (m.aend - m.abase) >> 10);
    test_mm_finish(mm);
}

static void unmovable_inside(void)
{
    struct mach m;
    ASSERT_TRUE(mk(&m, true, 0, 0));
    struct cma_mm *mm = m.mm;
    tl_cpu = 0;
    /* a page without movable ops somewhere in the area (CMA first) */
    cma_pfn_t u;
    ASSERT_OK(cma_alloc_pages(mm, 0, CMA_GFP_MOVABLE, &u));
    ASSERT_TRUE(u >= m.abase && u < m.aend);
    ASSERT_OK(cma_drain_cpu_caches(mm));
    uint64_t before[CMA_MIGRATE_TYPES];
    for (unsigned t = 0; t < CMA_MIGRATE_TYPES; t++)
        before[t] = buddy_free(mm, t);
    uint64_t l10 = list_nr(mm, 10, CMA_MIGRATE_CMA), l9 = list_nr(mm, 9, CMA_MIGRATE_CMA);
    cma_pfn_t busy = 0;
    EXPECT_ERR(cma__isolate_range(mm, m.abase, m.aend, true, &busy), -CMA_EBUSY);
    EXPECT_UEQ(busy, u);
    expect_types(mm, m.abase, m.aend, CMA_MIGRATE_CMA);
    for (unsigned t = 0; t < CMA_MIGRATE_TYPES; t++)
        EXPECT_UEQ(buddy_free(mm, t), before[t]);
    EXPECT_UEQ(list_nr(mm, 10, CMA_MIGRATE_CMA), l10);
    EXPECT_UEQ(list_nr(mm, 9, CMA_MIGRATE_CMA), l9);
    EXPECT_CHECK(mm);
    /* the obstacle in a later pageblock of a multi-pageblock range: earlier ones rolled back */
    const cma_pfn_t upb = u & ~511ull;
    if (upb > m.abase) {
        EXPECT_ERR(cma__isolate_range(mm, m.abase, upb + 512, true, &busy), -CMA_EBUSY);
        EXPECT_UEQ(busy, u);
        expect_types(mm, m.abase, m.aend, CMA_MIGRATE_CMA);
        EXPECT_UEQ(buddy_free(mm, CMA_MIGRATE_ISOLATE), 0);
    }
    /* the same pageblock, a range beside the page: fine */
    cma_pfn_t lo = u + 1 < upb + 512 ? u + 1 : upb, hi = u + 1 < upb + 512 ? upb + 512 : u;
    ASSERT_TRUE(lo < hi);
    EXPECT_OK(cma__isolate_range(mm, lo, hi, true, &busy));
    expect_types(mm, upb, upb + 512, CMA_MIGRATE_ISOLATE);
    cma__undo_isolate_range(mm, lo, hi);
    expect_types(mm, m.abase, m.aend, CMA_MIGRATE_CMA);
    EXPECT_OK(cma_free_pages(mm, u, 0));

    /* a pinned page outside CMA; a reserved-free machine edge; CMA pageblocks outside CMA mode */
    cma_pfn_t p, np;
    ASSERT_OK(cma_alloc_pages(mm, 0, CMA_GFP_UNMOVABLE, &p));
    ASSERT_OK(cma_page_set_movable(mm, p, &noop_ops, NULL));
    ASSERT_OK(cma_page_pin_longterm(mm, p, &np));
    EXPECT_UEQ(np, p);
    EXPECT_ERR(cma__isolate_range(mm, p & ~511ull, (p & ~511ull) + 512, false, &busy), -CMA_EBUSY);
    EXPECT_UEQ(busy, p);
    EXPECT_OK(cma_page_unpin(mm, p));
    EXPECT_OK(cma__isolate_range(mm, p & ~511ull, (p & ~511ull) + 512, false, &busy)); /* movable now */
    cma__undo_isolate_range(mm, p & ~511ull, (p & ~511ull) + 512);
    EXPECT_OK(cma_free_pages(mm, p, 0));
    EXPECT_ERR(cma__isolate_range(mm, m.abase - 512, m.abase + 1, false, &busy), -CMA_EBUSY);
    EXPECT_UEQ(busy, m.abase);
    expect_types(mm, m.abase - 512, m.abase, CMA_MIGRATE_MOVABLE); /* rolled back */
    expect_types(mm, m.abase, m.aend, CMA_MIGRATE_CMA);
    EXPECT_UEQ(buddy_free(mm, CMA_MIGRATE_ISOLATE), 0);
    test_mm_finish(mm);
}

static void splits_large_free_block(void)
{
    struct mach m;
    ASSERT_TRUE(mk(&m, false, 8, 10)); /* 4 pageblocks of 256 pages per order-10 block */
    struct cma_mm *mm = m.mm;
    const uint64_t l10 = list_nr(mm, 10, CMA_MIGRATE_MOVABLE);
    ASSERT_TRUE(on_list(mm, 10, CMA_MIGRATE_MOVABLE, 0));
    cma_pfn_t busy;
    /* one pageblock: [512, 768), asked for by a sub-range of it */
    ASSERT_OK(cma__isolate_range(mm, 512 + 5, 512 + 20, false, &busy));
    EXPECT_UEQ(list_nr(mm, 10, CMA_MIGRATE_MOVABLE), l10 - 1);
    EXPECT_TRUE(on_list(mm, 8, CMA_MIGRATE_ISOLATE, 512));
    EXPECT_UEQ(list_nr(mm, 8, CMA_MIGRATE_ISOLATE), 1);
    EXPECT_UEQ(buddy_free(mm, CMA_MIGRATE_ISOLATE), 256);
    EXPECT_TRUE(on_list(mm, 9, CMA_MIGRATE_MOVABLE, 0));   /* the lower half, whole */
    EXPECT_TRUE(on_list(mm, 8, CMA_MIGRATE_MOVABLE, 768)); /* the neighbour pageblock */
    EXPECT_EQ(cma_pageblock_type(mm, 0), CMA_MIGRATE_MOVABLE);
    EXPECT_EQ(cma_pageblock_type(mm, 256), CMA_MIGRATE_MOVABLE);
    EXPECT_EQ(cma_pageblock_type(mm, 512), CMA_MIGRATE_ISOLATE);
    EXPECT_EQ(cma_pageblock_type(mm, 768), CMA_MIGRATE_MOVABLE);
    EXPECT_CHECK(mm);
    cma__undo_isolate_range(mm, 512 + 5, 512 + 20);
    EXPECT_UEQ(list_nr(mm, 10, CMA_MIGRATE_MOVABLE), l10);
    EXPECT_TRUE(on_list(mm, 10, CMA_MIGRATE_MOVABLE, 0));
    EXPECT_UEQ(list_nr(mm, 8, CMA_MIGRATE_MOVABLE) + list_nr(mm, 9, CMA_MIGRATE_MOVABLE), 0);
    EXPECT_CHECK(mm);

    /* two pageblocks in the middle of the block: [256, 768) */
    ASSERT_OK(cma__isolate_range(mm, 300, 600, false, &busy));
    EXPECT_TRUE(on_list(mm, 8, CMA_MIGRATE_ISOLATE, 256));
    EXPECT_TRUE(on_list(mm, 8, CMA_MIGRATE_ISOLATE, 512));
    EXPECT_TRUE(on_list(mm, 8, CMA_MIGRATE_MOVABLE, 0));
    EXPECT_TRUE(on_list(mm, 8, CMA_MIGRATE_MOVABLE, 768));
    EXPECT_UEQ(buddy_free(mm, CMA_MIGRATE_ISOLATE), 512);
    EXPECT_UEQ(list_nr(mm, 10, CMA_MIGRATE_MOVABLE), l10 - 1);
    EXPECT_CHECK(mm);
    cma__undo_isolate_range(mm, 300, 600);
    EXPECT_UEQ(list_nr(mm, 10, CMA_MIGRATE_MOVABLE), l10);
    EXPECT_TRUE(on_list(mm, 10, CMA_MIGRATE_MOVABLE, 0));
    EXPECT_UEQ(buddy_free(mm, CMA_MIGRATE_ISOLATE), 0);

    /* the last pageblock of the machine and the first */
    const cma_pfn_t last = 32 * MiB / 4096 - 256;
    ASSERT_OK(cma__isolate_range(mm, last + 255, last + 256, false, &busy));
    ASSERT_OK(cma__isolate_range(mm, 0, 1, false, &busy));
    EXPECT_UEQ(buddy_free(mm, CMA_MIGRATE_ISOLATE), 512);
    EXPECT_CHECK(mm);
    cma__undo_isolate_range(mm, 0, 1);
    cma__undo_isolate_range(mm, last + 255, last + 256);
    EXPECT_UEQ(list_nr(mm, 10, CMA_MIGRATE_MOVABLE), l10);
    test_mm_finish(mm);
}

/* Isolating every pageblock of a free block larger than a pageblock: the checker must stay green
 * while the range is isolated (cma_mm_check may run at any time, e.g. during another thread's
 * cma_alloc). */
static void checker_while_isolated(void)
{
    struct mach m;
    ASSERT_TRUE(mk(&m, true, 0, 0));
    struct cma_mm *mm = m.mm;
    cma_pfn_t busy;
    ASSERT_TRUE(on_list(mm, 10, CMA_MIGRATE_CMA, m.abase));
    /* exactly one free order-10 block = two pageblocks */
    ASSERT_OK(cma__isolate_range(mm, m.abase, m.abase + 1024, true, &busy));
    EXPECT_UEQ(buddy_free(mm, CMA_MIGRATE_ISOLATE), 1024);
    EXPECT_CHECK(mm);
    cma__undo_isolate_range(mm, m.abase, m.abase + 1024);
    EXPECT_CHECK(mm);
    /* (the same through the public API: tests/api/test_cma_busy.c checker_in_callback) */
    test_mm_finish(mm);
}

/* ---- the window between setting the isolate bit and draining the caches ---------------------------
 * A host with its own lock hooks that count the locks each thread holds: the unlock hook runs test
 * code the first time the isolating thread holds no libcma lock any more while the pageblock is
 * already ISOLATE - i.e. as soon as isolation lets anybody else in (after the zone lock if the caches
 * are drained afterwards, after the drain if that happens under the same locks). From there it looks
 * at the machine: what the caches hold, what the checker says, what an allocation on the CPU whose
 * cache held the pageblock's pages gets.
 */
static struct cma_mm *hook_mm;
static _Atomic int hook_armed;
static cma_pfn_t hook_lo, hook_hi, hook_alloc = CMA_PFN_NONE;
static uint64_t hook_cached;
static unsigned hook_cpu;
static int hook_check_r;
static char hook_why[256];
static _Thread_local int tl_held;

static int h_lock_init(void *ctx, uintptr_t *w)
{
    (void)ctx;
    __atomic_store_n(w, 0, __ATOMIC_RELAXED);
    return 0;
}
static void h_lock_fini(void *ctx, uintptr_t *w)
{
    (void)ctx;
    (void)w;
}
static void h_lock(void *ctx, uintptr_t *w)
{
    (void)ctx;
    while (__atomic_exchange_n(w, 1, __ATOMIC_ACQUIRE))
        sched_yield();
    tl_held++;
}
static bool h_trylock(void *ctx, uintptr_t *w)
{
    (void)ctx;
    bool ok = !__atomic_exchange_n(w, 1, __ATOMIC_ACQUIRE);
    tl_held += ok;
    return ok;
}
static void h_unlock(void *ctx, uintptr_t *w)
{
    (void)ctx;
    __atomic_store_n(w, 0, __ATOMIC_RELEASE);
    tl_held--;
    struct cma_mm *mm = hook_mm;
    if (!mm || tl_held != 0 || !atomic_load(&hook_armed) ||
        cma_pageblock_type(mm, hook_lo) != CMA_MIGRATE_ISOLATE)
        return;
    atomic_store(&hook_armed, 0);
    hook_cached = pcp_pages_in(mm, hook_lo, hook_hi);
    hook_check_r = cma_mm_check(mm, hook_why, sizeof hook_why);
    unsigned saved = tl_cpu;
    tl_cpu = hook_cpu;
    cma_pfn_t pfn;
    if (cma_alloc_pages(mm, 0, CMA_GFP_MOVABLE, &pfn) == 0)
        hook_alloc = pfn;
    tl_cpu = saved;
}

static const struct cma_host hook_host = {.cpu_id = test_cpu_id, .lock_init = h_lock_init,
                                          .lock_fini = h_lock_fini, .lock = h_lock,
                                          .unlock = h_unlock, .trylock = h_trylock};

static void pcp_window_during_isolation(void)
{
    struct mach m;
    mk_host = &hook_host;
    bool ok = mk(&m, true, 0, 0);
    mk_host = &test_host;
    ASSERT_TRUE(ok);
    struct cma_mm *mm = m.mm;
    /* CPU 1's cache holds pages of the area's first pageblock */
    tl_cpu = 1;
    cma_pfn_t p[10];
    for (int i = 0; i < 10; i++)
        ASSERT_OK(cma_alloc_pages(mm, 0, CMA_GFP_MOVABLE, &p[i]));
    for (int i = 0; i < 10; i++)
        ASSERT_OK(cma_free_pages(mm, p[i], 0));
    const cma_pfn_t pb = p[0] & ~511ull;
    ASSERT_TRUE(pcp_pages_in(mm, pb, pb + 512) > 0);
    ASSERT_TRUE(pcp_count(mm, 1) > 0);

    tl_cpu = 0;
    hook_mm = mm;
    hook_lo = pb;
    hook_hi = pb + 512;
    hook_cpu = 1;
    hook_alloc = CMA_PFN_NONE;
    hook_cached = 0;
    hook_check_r = 0;
    atomic_store(&hook_armed, 1);
    cma_pfn_t busy;
    int r = cma__isolate_range(mm, pb, pb + 512, true, &busy);
    atomic_store(&hook_armed, 0);
    hook_mm = NULL;
    ASSERT_OK(r);
    EXPECT_EQ(atomic_load(&hook_armed), 0);
    /* the moment the zone lock was released with the pageblock isolated */
    if (hook_cached)
        test_fail_(__FILE__, __LINE__, "%" PRIu64 " free pages of the isolated pageblock %#" PRIx64
                   " still sat in a CPU cache when isolation released its locks", hook_cached, pb);
    if (hook_check_r)
        test_fail_(__FILE__, __LINE__, "cma_mm_check at that moment: %s", hook_why);
    if (test_verbose)
        printf("  window: %" PRIu64 " cached, allocation got %#" PRIx64 ", pageblock %#" PRIx64 "\n", hook_cached, hook_alloc, pb);
    if (hook_alloc != CMA_PFN_NONE && hook_alloc >= pb && hook_alloc < pb + 512)
        test_fail_(__FILE__, __LINE__, "an allocation at that moment returned pfn %#" PRIx64
                   " of the isolated pageblock", hook_alloc);
    EXPECT_UEQ(pcp_pages_in(mm, pb, pb + 512), 0); /* after the drain: none */
    if (hook_alloc != CMA_PFN_NONE)
        EXPECT_OK(cma_free_pages(mm, hook_alloc, 0));
    cma__undo_isolate_range(mm, pb, pb + 512);
    expect_types(mm, m.abase, m.aend, CMA_MIGRATE_CMA);
    test_mm_finish(mm);
}

/* ---- concurrency: frees racing with isolation ----------------------------------------------------- */

struct racer {
    struct mach *m;
    _Atomic int stop;
    _Atomic uint64_t frees, allocs;
};

static void *racer_main(void *arg)
{
    struct racer *r = arg;
    struct cma_mm *mm = r->m->mm;
    struct test_rng rng;
    cma_pfn_t held[512];
    size_t n = 0;
    tl_cpu = 3;
    test_rng_init(&rng, test_seed_value ^ 0x3ace);
    while (!atomic_load(&r->stop)) {
        if (n < 512 && (n == 0 || test_rng_below(&rng, 2))) {
            cma_pfn_t pfn;
            if (cma_alloc_pages(mm, 0, CMA_GFP_MOVABLE, &pfn) == 0) {
                if (cma_page_set_movable(mm, pfn, &noop_ops, NULL))
                    abort();
                held[n++] = pfn;
                r->allocs++;
            }
        } else {
            size_t k = (size_t)test_rng_below(&rng, n);
            if (cma_free_pages(mm, held[k], 0))
                abort();
            held[k] = held[--n];
            r->frees++;
        }
    }
    while (n)
        if (cma_free_pages(mm, held[--n], 0))
            abort();
    return NULL;
}

static void concurrent_frees(void)
{
    struct mach m;
    ASSERT_TRUE(mk(&m, true, 0, 0));
    struct cma_mm *mm = m.mm;
    struct racer r = {.m = &m};
    pthread_t th;
    ASSERT_TRUE(pthread_create(&th, NULL, racer_main, &r) == 0);
    const unsigned cycles = (unsigned)test_env_u64("CMA_TEST_OPS", 200);
    unsigned isolated = 0, refused = 0;
    for (unsigned i = 0; i < cycles; i++) {
        /* let the racer get some work done between isolations (bounded wait) */
        uint64_t ops0 = atomic_load(&r.frees) + atomic_load(&r.allocs);
        for (int spin = 0; spin < 100000 && atomic_load(&r.frees) + atomic_load(&r.allocs) < ops0 + 50; spin++)
            sched_yield();
        cma_pfn_t busy;
        /* a page between alloc and set_movable makes isolation refuse: try again */
        int rc = cma__isolate_range(mm, m.abase, m.aend, true, &busy);
        if (rc) {
            EXPECT_ERR(rc, -CMA_EBUSY);
            refused++;
            continue;
        }
        isolated++;
        for (int k = 0; k < 5; k++) {
            uint64_t cached = pcp_pages_in(mm, m.abase, m.aend);
            if (cached)
                test_fail_(__FILE__, __LINE__, "cycle %u: %" PRIu64 " pages of the isolated range in a "
                           "CPU cache", i, cached);
            sched_yield();
        }
        expect_check_isolated(mm);
        cma__undo_isolate_range(mm, m.abase, m.aend);
        if (test_failures)
            break;
    }
    atomic_store(&r.stop, 1);
    pthread_join(th, NULL);
    if (test_verbose)
        printf("  %u isolations, %u refused; racer %" PRIu64 " allocs, %" PRIu64 " frees\n", isolated,
               refused, (uint64_t)atomic_load(&r.allocs), (uint64_t)atomic_load(&r.frees));
    EXPECT_GT(isolated, 0);
    EXPECT_GT(atomic_load(&r.frees), (uint64_t)cycles);
    expect_types(mm, m.abase, m.aend, CMA_MIGRATE_CMA);
    struct cma_mm_stats st;
    EXPECT_OK(cma_drain_cpu_caches(mm));
    EXPECT_OK(cma_mm_get_stats(mm, &st));
    EXPECT_UEQ(st.nr_free_total, st.nr_managed);
    test_mm_finish(mm);
}

static void claims_free_blocks(void)
{
    struct mach m;
    ASSERT_TRUE(mk(&m, true, 0, 0));
    struct cma_mm *mm = m.mm;
    tl_cpu = 0;
    /* movable pages over the area's first three pageblocks (allocations ascend from its base), a
     * third of them freed again at random, break its free blocks up */
    cma_pfn_t got[1300];
    unsigned n = 0;
    for (unsigned i = 0; i < 1300; i++) {
        ASSERT_OK(cma_alloc_pages(mm, 0, CMA_GFP_MOVABLE, &got[n]));
        ASSERT_TRUE(got[n] >= m.abase && got[n] < m.aend);
        n++;
    }
    struct test_rng rng;
    test_rng_init(&rng, 7);
    for (unsigned i = 0; i < n; i++) {
        if (test_rng_below(&rng, 3) == 0) {
            ASSERT_OK(cma_free_pages(mm, got[i], 0));
            got[i] = CMA_PFN_NONE;
        } else {
            ASSERT_OK(cma_page_set_movable(mm, got[i], &noop_ops, NULL));
        }
    }
    ASSERT_OK(cma_drain_cpu_caches(mm));
    uint64_t before[CMA_MIGRATE_TYPES], total = 0;
    for (unsigned t = 0; t < CMA_MIGRATE_TYPES; t++)
        total += before[t] = buddy_free(mm, t);

    /* unaligned on both ends, three pageblocks */
    const cma_pfn_t lo = m.abase + 37, hi = m.abase + 3 * 512 - 101;
    uint64_t free_in = state_pages_in(mm, PS_BUDDY, lo, hi, NULL), claimed = 0, out;
    cma_pfn_t busy;
    ASSERT_OK(cma__isolate_range_ex(mm, lo, hi, true, false, &busy, &claimed));
    EXPECT_UEQ(state_pages_in(mm, PS_CLAIMED, lo, hi, &out), claimed);
    EXPECT_UEQ(out, 0); /* no claimed piece reaches outside the range */
    /* every free page left inside belongs to a block straddling an end, on the ISOLATE lists */
    uint64_t left = state_pages_in(mm, PS_BUDDY, lo, hi, NULL);
    EXPECT_UEQ(claimed + left, free_in);
    EXPECT_TRUE(claimed > 0);
    EXPECT_TRUE(list_pages_in(mm, CMA_MIGRATE_ISOLATE, lo, hi) >= left); /* whole straddlers */
    EXPECT_UEQ(list_pages_in(mm, CMA_MIGRATE_CMA, lo & ~511ull, (hi + 511) & ~511ull), 0);
    uint64_t now = 0;
    for (unsigned t = 0; t < CMA_MIGRATE_TYPES; t++)
        now += buddy_free(mm, t);
    EXPECT_UEQ(now + claimed, total); /* nothing lost: free or claimed */
    expect_types(mm, lo, hi, CMA_MIGRATE_ISOLATE);
    expect_check_isolated(mm);
    cma__mm_lock(mm);
    cma__unclaim_range_locked(mm, &mm->spans[0], lo, hi);
    cma__mm_unlock(mm);
    EXPECT_UEQ(state_pages_in(mm, PS_CLAIMED, 0, ~0ull, NULL), 0);
    cma__undo_isolate_range(mm, lo, hi);
    expect_types(mm, m.abase, m.aend, CMA_MIGRATE_CMA);
    for (unsigned t = 0; t < CMA_MIGRATE_TYPES; t++)
        EXPECT_UEQ(buddy_free(mm, t), before[t]);
    EXPECT_CHECK(mm);

    /* an obstacle in the last pageblock: earlier pageblocks were claimed from, all of it undone */
    cma_pfn_t u = CMA_PFN_NONE;
    for (unsigned i = 0; i < n && u == CMA_PFN_NONE; i++)
        if (got[i] != CMA_PFN_NONE && got[i] >= m.abase + 1024 && got[i] < hi) {
            u = got[i];
            ASSERT_OK(cma_page_set_movable(mm, u, NULL, NULL)); /* unmovable now */
        }
    ASSERT_TRUE(u != CMA_PFN_NONE);
    claimed = 12345;
    EXPECT_ERR(cma__isolate_range_ex(mm, lo, hi, true, false, &busy, &claimed), -CMA_EBUSY);
    EXPECT_UEQ(busy, u);
    EXPECT_UEQ(claimed, 0);
    EXPECT_UEQ(state_pages_in(mm, PS_CLAIMED, 0, ~0ull, NULL), 0);
    expect_types(mm, m.abase, m.aend, CMA_MIGRATE_CMA);
    for (unsigned t = 0; t < CMA_MIGRATE_TYPES; t++)
        EXPECT_UEQ(buddy_free(mm, t), before[t]);
    EXPECT_CHECK(mm);

    /* someone else's range in the last pageblock has claimed pieces; ours fails earlier (an
     * unmovable page in the middle pageblock) and must not give back what is not its own */
    ASSERT_OK(cma_page_set_movable(mm, u, &noop_ops, NULL));
    cma_pfn_t u2 = CMA_PFN_NONE;
    for (unsigned i = 0; i < n && u2 == CMA_PFN_NONE; i++)
        if (got[i] != CMA_PFN_NONE && got[i] >= m.abase + 512 && got[i] < m.abase + 1024) {
            u2 = got[i];
            ASSERT_OK(cma_page_set_movable(mm, u2, NULL, NULL));
        }
    ASSERT_TRUE(u2 != CMA_PFN_NONE);
    const cma_pfn_t olo = m.abase + 1024 + 8, ohi = m.abase + 1024 + 300;
    uint64_t oclaimed = 0;
    ASSERT_OK(cma__isolate_range_ex(mm, olo, ohi, true, false, &busy, &oclaimed));
    ASSERT_TRUE(oclaimed > 0);
    EXPECT_ERR(cma__isolate_range_ex(mm, lo, hi, true, false, &busy, &claimed), -CMA_EBUSY);
    EXPECT_UEQ(busy, u2);
    EXPECT_UEQ(state_pages_in(mm, PS_CLAIMED, 0, ~0ull, NULL), oclaimed); /* theirs, untouched */
    expect_types(mm, m.abase, m.abase + 1024, CMA_MIGRATE_CMA);
    expect_types(mm, m.abase + 1024, m.abase + 1536, CMA_MIGRATE_ISOLATE);
    expect_check_isolated(mm);
    cma__mm_lock(mm);
    cma__unclaim_range_locked(mm, &mm->spans[0], olo, ohi);
    cma__mm_unlock(mm);
    cma__undo_isolate_range(mm, olo, ohi);
    for (unsigned t = 0; t < CMA_MIGRATE_TYPES; t++)
        EXPECT_UEQ(buddy_free(mm, t), before[t]);
    EXPECT_CHECK(mm);
    for (unsigned i = 0; i < n; i++)
        if (got[i] != CMA_PFN_NONE)
            ASSERT_OK(cma_free_pages(mm, got[i], 0));
    test_mm_finish(mm);
}

static void tw_one_cpu(struct cma_mm_config *cfg)
{
    cfg->host = mk_host;
    cfg->nr_cpus = 1;
}

/* pageblock 0 = [0, 2 MiB): [0, 1.25 MiB) of the first range, [1.75, 2) MiB of the second */
static int boot_two_spans(struct cma_mm *mm, const void *arg)
{
    (void)arg;
    int r = cma_memblock_add(mm, 0, 1280 * KiB);
    return r ? r : cma_memblock_add(mm, 1792 * KiB, 6 * MiB);
}

static void two_spans_one_pageblock(void)
{
    tl_cpu = 0;
    struct cma_mm *mm = test_mm_boot(tw_one_cpu, boot_two_spans, NULL);
    ASSERT_TRUE(mm != NULL);
    const cma_pfn_t pb_end = 512, lo = 1792 * KiB / 4096 + 3, hi = lo + 40;
    uint64_t before[CMA_MIGRATE_TYPES], in_pb = list_pages_in(mm, CMA_MIGRATE_MOVABLE, 0, pb_end);
    for (unsigned t = 0; t < CMA_MIGRATE_TYPES; t++)
        before[t] = buddy_free(mm, t);
    ASSERT_TRUE(in_pb == 320 + 64); /* both parts free */
    cma_pfn_t busy;
    ASSERT_OK(cma__isolate_range(mm, lo, hi, false, &busy));
    EXPECT_UEQ(list_pages_in(mm, CMA_MIGRATE_MOVABLE, 0, pb_end), 0);
    EXPECT_UEQ(list_pages_in(mm, CMA_MIGRATE_ISOLATE, 0, pb_end), in_pb);
    expect_check_isolated(mm);
    /* everything allocatable is outside the isolated pageblock */
    cma_pfn_t *got = calloc(4096, sizeof *got);
    ASSERT_TRUE(got != NULL);
    unsigned n = 0;
    while (n < 4096 && cma_alloc_pages(mm, 0, CMA_GFP_MOVABLE, &got[n]) == 0) {
        EXPECT_TRUE(got[n] >= pb_end);
        n++;
    }
    EXPECT_TRUE(n > 0 && n < 4096);
    for (unsigned i = 0; i < n; i++)
        ASSERT_OK(cma_free_pages(mm, got[i], 0));
    free(got);
    ASSERT_OK(cma_drain_cpu_caches(mm));
    cma__undo_isolate_range(mm, lo, hi);
    expect_types(mm, 0, pb_end, CMA_MIGRATE_MOVABLE);
    EXPECT_UEQ(list_pages_in(mm, CMA_MIGRATE_MOVABLE, 0, pb_end), in_pb);
    for (unsigned t = 0; t < CMA_MIGRATE_TYPES; t++)
        EXPECT_UEQ(buddy_free(mm, t), before[t]);
    test_mm_finish(mm);
}

int main(int argc, char **argv)
{
    return test_main(argc, argv, TEST(drains_every_cpu_cache), TEST(double_isolation),
                     TEST(unmovable_inside), TEST(splits_large_free_block), TEST(checker_while_isolated),
                     TEST(pcp_window_during_isolation), TEST(claims_free_blocks),
                     TEST(two_spans_one_pageblock), TEST(concurrent_frees));
}
