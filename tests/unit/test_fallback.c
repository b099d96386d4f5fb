/* SPDX-License-Identifier: MIT */
/*
 * tests/unit/test_fallback.c - the buddy allocator's fallback decisions (docs/linux.md, "Allocation
 * and fallback"), case by case, on small machines whose free memory is arranged exactly:
 *   - fallback table order for every requested type, on the claim path and on the steal path;
 *   - claiming a whole free block of order >= pageblock_order (relabel all covered pageblocks, halves
 *     on the requested type's lists, pageblocks_claimed += relabelled blocks);
 *   - largest-first claim (whole blocks and partial pageblocks);
 *   - small MOVABLE fallbacks (order < pageblock_order / 2) steal instead of claiming;
 *   - the occupancy threshold of a partial claim, exactly on both sides (255 / 256 of 512 pages) for
 *     MOVABLE (alike = movable in use), UNMOVABLE from MOVABLE (alike = block - free - movable) and
 *     UNMOVABLE <-> RECLAIMABLE (alike = 0); a pageblock straddling the span edge is never claimed;
 *   - CMA, ISOLATE and HIGHATOMIC pageblocks are never fallback targets; MOVABLE may use CMA;
 *   - the CMA-first rule with cma_first_percent 50 / 0 / 100 (strictly more than the percentage).
 *
 * Method. Most tests start from a machine whose every page is allocated at order 0 (pcp_batch =
 * pcp_high = 1, so each order-0 call takes exactly one page from the buddy and each free goes
 * straight back), relabel fully allocated pageblocks under the zone lock, then free exactly the
 * pages the case needs. "Movable in use" = an allocated head registered with cma_page_set_movable
 * (its cma_page.ops byte becomes nonzero), unregistered before freeing. CMA pageblocks come from a
 * CMA area declared at boot (cma_declare_contiguous at a fixed base), since the checker (I10) rejects
 * CMA labels outside an area. Requests go through cma_alloc_pages (order >= 4 bypasses the per-CPU
 * caches; order 0 with batch 1 refills exactly one page).
 */
#include "test.h"

#include "internal/internal.h"
#include "unit_util.h"

#define KiB 1024ull
#define MiB (1024ull * KiB)
#define PB 512u /* pages per pageblock: 4 KiB pages, pageblock_order 9 */

static const char *const tname[CMA_MIGRATE_TYPES] = {"UNMOVABLE", "MOVABLE", "RECLAIMABLE",
                                                    "HIGHATOMIC", "CMA", "ISOLATE"};

/* Linux's fallback table (docs/linux.md, "Allocation and fallback"), written out independently of
 * the library's copy. */
static const unsigned ref_fallback[CMA_MIGRATE_PCPTYPES][2] = {
    [CMA_MIGRATE_UNMOVABLE] = {CMA_MIGRATE_RECLAIMABLE, CMA_MIGRATE_MOVABLE},
    [CMA_MIGRATE_MOVABLE] = {CMA_MIGRATE_RECLAIMABLE, CMA_MIGRATE_UNMOVABLE},
    [CMA_MIGRATE_RECLAIMABLE] = {CMA_MIGRATE_UNMOVABLE, CMA_MIGRATE_MOVABLE},
};

/* gfp mobility values equal the migrate types (cma/mm.h) */
_Static_assert(CMA_GFP_UNMOVABLE == CMA_MIGRATE_UNMOVABLE && CMA_GFP_MOVABLE == CMA_MIGRATE_MOVABLE &&
                   CMA_GFP_RECLAIMABLE == CMA_MIGRATE_RECLAIMABLE,
               "gfp mobility == migrate type");

/* ---- machine helpers ---------------------------------------------------------------------------- */

static unsigned cma_first_pct = 50;

static void tw_nopcp(struct cma_mm_config *c)
{
    c->pcp_batch = 1;
    c->pcp_high = 1;
    c->cma_first_percent = cma_first_pct;
}

struct layout {
    uint64_t bytes, cma_base, cma_bytes;
};

static int boot_cma(struct cma_mm *mm, const void *arg)
{
    const struct layout *l = arg;
    int r = cma_memblock_add(mm, 0, l->bytes);
    if (!r && l->cma_bytes)
        r = cma_declare_contiguous(mm, "fb", l->cma_bytes, l->cma_base, 0, 0, 0, NULL);
    return r;
}

/* A machine of `bytes` at physical 0 (pfn == memmap index for a single span), 4 KiB pages, max order
 * 10, pageblock order 9, per-CPU caches effectively off; with a CMA area [cma_base, +cma_bytes) when
 * cma_bytes != 0 (4 MiB aligned: the minimum area alignment is one max-order block). */
static struct cma_mm *mk_cma(uint64_t bytes, uint64_t cma_base, uint64_t cma_bytes)
{
    const struct layout l = {bytes, cma_base, cma_bytes};
    struct cma_mm *mm = test_mm_boot(tw_nopcp, boot_cma, &l);
    if (!mm)
        return NULL;
    if (cma_bytes) {
        EXPECT_UEQ(mm->pb_count[CMA_MIGRATE_CMA], cma_bytes / (PB * 4 * KiB));
        EXPECT_UEQ(mm->nr_free_buddy[CMA_MIGRATE_CMA], cma_bytes / (4 * KiB));
    }
    EXPECT_EQ(mm->max_order, 10);
    EXPECT_EQ(mm->pb_order, 9);
    EXPECT_EQ(mm->page_size, 4096);
    EXPECT_EQ(mm->pcp_batch, 1);
    EXPECT_EQ(mm->pcp_high, 1);
    return mm;
}

/* Allocates every page as an order-0 MOVABLE block. Returns the pages taken. */
static uint64_t fill_order0(struct cma_mm *mm)
{
    uint64_t n = 0;
    cma_pfn_t pfn;
    while (cma_alloc_pages(mm, 0, CMA_GFP_MOVABLE, &pfn) == 0)
        n++;
    EXPECT_UEQ(n, mm->nr_managed);
    EXPECT_UEQ(total_free(mm), 0);
    return n;
}

/* A machine with every page allocated at order 0; NULL after a recorded failure. */
static struct cma_mm *mk_full_cma(uint64_t bytes, uint64_t cma_base, uint64_t cma_bytes)
{
    struct cma_mm *mm = mk_cma(bytes, cma_base, cma_bytes);
    if (mm)
        fill_order0(mm);
    return mm;
}
static struct cma_mm *mk_full(uint64_t bytes) { return mk_full_cma(bytes, 0, 0); }

/* Relabels the pageblock of pfn to mt, moving its free blocks (all below pageblock order). */
static void relabel_pb(struct cma_mm *mm, cma_pfn_t pfn, unsigned mt)
{
    cma_pfn_t pb = pfn & ~(cma_pfn_t)(PB - 1);
    bool big = false;
    cma__mm_lock(mm);
    unsigned from = cma__pb_type(mm, pb);
    for (cma_pfn_t p = pb; p < pb + PB;) {
        if (!cma__span_of_pfn(mm, p)) { /* hole or past the span end */
            p++;
            continue;
        }
        struct cma_page *d = pg(mm, p);
        unsigned st = cma__page_state(d);
        uint64_t step = (st == PS_TAIL || st == PS_RESERVED) ? 1 : 1ull << d->order;
        if (st == PS_BUDDY) {
            if (d->order >= mm->pb_order)
                big = true;
            else
                cma__freelist_move_locked(mm, cma__pfn_idx(mm, p), d->order, from, mt);
        }
        p += step;
    }
    if (!big)
        cma__pb_set_type_locked(mm, pb, mt);
    cma__mm_unlock(mm);
    EXPECT_FALSE(big);
    EXPECT_EQ(cma_pageblock_type(mm, pb), mt);
}

/* Sets / clears the isolate bit of a pageblock, moving its free sub-pageblock blocks. */
static void isolate_pb(struct cma_mm *mm, cma_pfn_t pfn, bool on)
{
    cma_pfn_t pb = pfn & ~(cma_pfn_t)(PB - 1);
    cma__mm_lock(mm);
    unsigned stored = cma__pb_stored_type(mm, pb);
    unsigned from = on ? stored : CMA_MIGRATE_ISOLATE, to = on ? CMA_MIGRATE_ISOLATE : stored;
    cma__pb_set_isolate_locked(mm, pb, on);
    for (cma_pfn_t p = pb; p < pb + PB;) {
        if (!cma__span_of_pfn(mm, p)) { /* hole or past the span end */
            p++;
            continue;
        }
        struct cma_page *d = pg(mm, p);
        unsigned st = cma__page_state(d);
        uint64_t step = (st == PS_TAIL || st == PS_RESERVED) ? 1 : 1ull << d->order;
        if (st == PS_BUDDY)
            cma__freelist_move_locked(mm, cma__pfn_idx(mm, p), d->order, from, to);
        p += step;
    }
    cma__mm_unlock(mm);
}

/* Frees the order-0 allocations pfn .. pfn + n - 1. */
static void free_range(struct cma_mm *mm, cma_pfn_t pfn, uint64_t n)
{
    for (uint64_t i = 0; i < n; i++)
        EXPECT_OK(cma_free_pages(mm, pfn + i, 0));
}

static int dummy_migrate(void *owner, cma_pfn_t from, cma_pfn_t to, unsigned order)
{
    (void)owner, (void)from, (void)to, (void)order;
    return -CMA_EBUSY; /* never called: nothing here migrates */
}
static const struct cma_movable_ops dummy_ops = {.migrate = dummy_migrate};

/* Registers (or unregisters) the order-0 allocations pfn .. pfn + n - 1 as movable. */
static void set_movable(struct cma_mm *mm, cma_pfn_t pfn, uint64_t n, bool on)
{
    uint64_t bad = 0;
    for (uint64_t i = 0; i < n; i++) {
        if (cma_page_set_movable(mm, pfn + i, on ? &dummy_ops : NULL, on ? mm : NULL))
            bad++;
        else if (on != (atomic_load_explicit(&pg(mm, pfn + i)->ops, memory_order_relaxed) != 0))
            bad++;
    }
    EXPECT_UEQ(bad, 0);
}

/* Frees every allocated block (unregistering movable ones first), drains the caches, finishes. */
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
                unsigned o = d->order;
                step = 1ull << o;
                if (atomic_load_explicit(&d->ops, memory_order_relaxed))
                    EXPECT_OK(cma_page_set_movable(mm, pfn, NULL, NULL));
                EXPECT_OK(cma_free_pages(mm, pfn, o));
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

struct ctr {
    uint64_t fallbacks, claimed, stolen;
};
static struct ctr ctr_now(const struct cma_mm *mm)
{
    return (struct ctr){mm->fallbacks, mm->pageblocks_claimed, mm->pages_stolen};
}
/* Expected change of the three fallback counters since `c0`. */
#define EXPECT_CTR(mm, c0, dfb, dclaim, dsteal)                                                    \
    do {                                                                                           \
        struct ctr c1_ = ctr_now(mm);                                                              \
        EXPECT_UEQ(c1_.fallbacks - (c0).fallbacks, (dfb));                                         \
        EXPECT_UEQ(c1_.claimed - (c0).claimed, (dclaim));                                          \
        EXPECT_UEQ(c1_.stolen - (c0).stolen, (dsteal));                                            \
    } while (0)

static cma_pfn_t alloc_ok(struct cma_mm *mm, unsigned order, unsigned gfp)
{
    cma_pfn_t pfn = CMA_PFN_NONE;
    int r = cma_alloc_pages(mm, order, gfp, &pfn);
    if (r)
        test_fail_(__FILE__, __LINE__, "cma_alloc_pages(order %u, %s): %s", order, tname[gfp & 3],
                   cma_err_name(r));
    return pfn;
}

/* ---- fallback table order ----------------------------------------------------------------------- */

/* Claim path: both fallback types hold a free whole pageblock at the same order (9); the requested
 * type's lists are empty. The first fallback in table order is claimed; with it absent, the second. */
static void table_claim_case(unsigned req, bool first_present)
{
    unsigned f1 = ref_fallback[req][0], f2 = ref_fallback[req][1];
    struct cma_mm *mm = mk_full(16 * MiB);
    if (!mm)
        return;
    const cma_pfn_t a = 2 * PB, b = 4 * PB; /* buddies (pageblocks 3 and 5) stay allocated */
    relabel_pb(mm, a, f1);
    relabel_pb(mm, b, f2);
    if (first_present)
        free_range(mm, a, PB);
    free_range(mm, b, PB);
    EXPECT_UEQ(nr(mm, 9, f1), first_present ? 1 : 0);
    EXPECT_UEQ(nr(mm, 9, f2), 1);
    EXPECT_UEQ(mm->nr_free_buddy[req], 0);

    struct ctr c0 = ctr_now(mm);
    uint64_t pbreq = mm->pb_count[req];
    cma_pfn_t got = alloc_ok(mm, 4, req);
    cma_pfn_t want = first_present ? a : b;
    if (got != want)
        test_fail_(__FILE__, __LINE__, "%s request, first fallback %s %s: got pfn %#llx, want %#llx",
                   tname[req], tname[f1], first_present ? "present" : "absent",
                   (unsigned long long)got, (unsigned long long)want);
    EXPECT_EQ(cma_pageblock_type(mm, want), req);
    if (first_present) {
        EXPECT_EQ(cma_pageblock_type(mm, b), f2); /* the second fallback is untouched */
        EXPECT_UEQ(nr(mm, 9, f2), 1);
    }
    EXPECT_UEQ(mm->pb_count[req], pbreq + 1);
    for (unsigned o = 4; o < 9; o++) {
        EXPECT_UEQ(nr(mm, o, req), 1);
        EXPECT_UEQ(head_pfn(mm, o, req), want + (1u << o));
    }
    EXPECT_CTR(mm, c0, 1, 1, 0);
    EXPECT_OK(cma_free_pages(mm, got, 4));
    finish(mm);
}

static void test_table_order_claim(void)
{
    for (unsigned req = 0; req < CMA_MIGRATE_PCPTYPES; req++) {
        table_claim_case(req, true);
        table_claim_case(req, false);
    }
}

/* Steal path (MOVABLE, order 0): both fallbacks hold an order-1 block in otherwise allocated
 * pageblocks; the steal takes the first fallback in table order (RECLAIMABLE), else UNMOVABLE. */
static void table_steal_case(bool first_present)
{
    struct cma_mm *mm = mk_full(16 * MiB);
    if (!mm)
        return;
    const cma_pfn_t a = 2 * PB, b = 4 * PB;
    relabel_pb(mm, a, CMA_MIGRATE_RECLAIMABLE);
    relabel_pb(mm, b, CMA_MIGRATE_UNMOVABLE);
    if (first_present)
        free_range(mm, a + 100, 2);
    free_range(mm, b + 100, 2);
    EXPECT_UEQ(nr(mm, 1, CMA_MIGRATE_RECLAIMABLE), first_present ? 1 : 0);
    EXPECT_UEQ(nr(mm, 1, CMA_MIGRATE_UNMOVABLE), 1);

    struct ctr c0 = ctr_now(mm);
    cma_pfn_t got = alloc_ok(mm, 0, CMA_GFP_MOVABLE);
    cma_pfn_t base = first_present ? a : b;
    unsigned ft = first_present ? CMA_MIGRATE_RECLAIMABLE : CMA_MIGRATE_UNMOVABLE;
    EXPECT_UEQ(got, base + 100);
    /* stolen, not claimed: labels kept, the released half stays on the fallback's list */
    EXPECT_EQ(cma_pageblock_type(mm, a), CMA_MIGRATE_RECLAIMABLE);
    EXPECT_EQ(cma_pageblock_type(mm, b), CMA_MIGRATE_UNMOVABLE);
    EXPECT_UEQ(nr(mm, 0, ft), 1);
    EXPECT_UEQ(head_pfn(mm, 0, ft), base + 101);
    EXPECT_UEQ(mm->nr_free_buddy[CMA_MIGRATE_MOVABLE], 0);
    if (first_present)
        EXPECT_UEQ(nr(mm, 1, CMA_MIGRATE_UNMOVABLE), 1);
    EXPECT_CTR(mm, c0, 1, 0, 1);
    EXPECT_OK(cma_free_pages(mm, got, 0));
    finish(mm);
}

static void test_table_order_steal(void)
{
    table_steal_case(true);
    table_steal_case(false);
}

/* ---- claiming whole blocks (order >= pageblock_order) ------------------------------------------- */

static void claim_whole_case(unsigned req, unsigned ft, unsigned blk_order, unsigned req_order)
{
    struct cma_mm *mm = mk_full(16 * MiB);
    if (!mm)
        return;
    const cma_pfn_t base = 2 * PB; /* pageblocks 2 (and 3) */
    const unsigned npb = 1u << (blk_order - 9);
    for (unsigned i = 0; i < npb; i++)
        relabel_pb(mm, base + i * PB, ft);
    free_range(mm, base, 1ull << blk_order);
    EXPECT_UEQ(nr(mm, blk_order, ft), 1);
    EXPECT_UEQ(total_free(mm), 1ull << blk_order);

    struct ctr c0 = ctr_now(mm);
    uint64_t pbreq = mm->pb_count[req], pbft = mm->pb_count[ft];
    cma_pfn_t got = alloc_ok(mm, req_order, req);
    EXPECT_UEQ(got, base);
    for (unsigned i = 0; i < npb; i++)
        EXPECT_EQ(cma_pageblock_type(mm, base + i * PB), req);
    EXPECT_UEQ(mm->pb_count[req], pbreq + npb);
    EXPECT_UEQ(mm->pb_count[ft], pbft - npb);
    /* released halves on the requested type's lists, one per order, at base + 2^o */
    for (unsigned o = 0; o <= 10; o++) {
        uint64_t want = (o >= req_order && o < blk_order) ? 1 : 0;
        EXPECT_UEQ(nr(mm, o, req), want);
        if (want)
            EXPECT_UEQ(head_pfn(mm, o, req), base + (1u << o));
    }
    EXPECT_UEQ(mm->nr_free_buddy[ft], 0);
    EXPECT_UEQ(mm->nr_free_buddy[req], (1ull << blk_order) - (1ull << req_order));
    EXPECT_CTR(mm, c0, 1, npb, 0);
    EXPECT_CHECK(mm);
    EXPECT_OK(cma_free_pages(mm, got, req_order));
    finish(mm);
}

static void test_claim_whole_block(void)
{
    /* order 10 (two pageblocks) claimed by MOVABLE from RECLAIMABLE, split down to order 4 */
    claim_whole_case(CMA_MIGRATE_MOVABLE, CMA_MIGRATE_RECLAIMABLE, 10, 4);
    /* order 9 claimed by UNMOVABLE from MOVABLE, split down to order 0 (through the cache, batch 1) */
    claim_whole_case(CMA_MIGRATE_UNMOVABLE, CMA_MIGRATE_MOVABLE, 9, 0);
    /* order 10 claimed by RECLAIMABLE from UNMOVABLE without a split */
    claim_whole_case(CMA_MIGRATE_RECLAIMABLE, CMA_MIGRATE_UNMOVABLE, 10, 10);
    /* MOVABLE at order 0 still claims a whole block: order >= pageblock_order is always worthwhile */
    claim_whole_case(CMA_MIGRATE_MOVABLE, CMA_MIGRATE_UNMOVABLE, 9, 0);
}

/* ---- largest first ------------------------------------------------------------------------------ */

/* Whole blocks: a RECLAIMABLE order-9 block at a lower pfn and an order-10 block at a higher one;
 * UNMOVABLE claims the order-10 one (smallest-first would take the order-9 one). */
static void test_claim_largest_first_whole(void)
{
    struct cma_mm *mm = mk_full(16 * MiB);
    if (!mm)
        return;
    relabel_pb(mm, 2 * PB, CMA_MIGRATE_RECLAIMABLE);
    relabel_pb(mm, 4 * PB, CMA_MIGRATE_RECLAIMABLE);
    relabel_pb(mm, 5 * PB, CMA_MIGRATE_RECLAIMABLE);
    free_range(mm, 2 * PB, PB);
    free_range(mm, 4 * PB, 2 * PB);
    EXPECT_UEQ(nr(mm, 9, CMA_MIGRATE_RECLAIMABLE), 1);
    EXPECT_UEQ(nr(mm, 10, CMA_MIGRATE_RECLAIMABLE), 1);

    struct ctr c0 = ctr_now(mm);
    cma_pfn_t got = alloc_ok(mm, 4, CMA_GFP_UNMOVABLE);
    EXPECT_UEQ(got, 4 * PB);
    EXPECT_EQ(cma_pageblock_type(mm, 4 * PB), CMA_MIGRATE_UNMOVABLE);
    EXPECT_EQ(cma_pageblock_type(mm, 5 * PB), CMA_MIGRATE_UNMOVABLE);
    EXPECT_EQ(cma_pageblock_type(mm, 2 * PB), CMA_MIGRATE_RECLAIMABLE);
    EXPECT_UEQ(nr(mm, 9, CMA_MIGRATE_RECLAIMABLE), 1);
    EXPECT_UEQ(head_pfn(mm, 9, CMA_MIGRATE_RECLAIMABLE), 2 * PB);
    EXPECT_UEQ(head_pfn(mm, 9, CMA_MIGRATE_UNMOVABLE), 5 * PB);
    EXPECT_CTR(mm, c0, 1, 2, 0);
    EXPECT_OK(cma_free_pages(mm, got, 4));
    finish(mm);
}

/* Partial pageblocks: RECLAIMABLE pageblock 2 has 256 free pages as eight order-5 blocks (lower
 * pfn), RECLAIMABLE pageblock 4 has 256 free pages as one order-8 block. Both pass the threshold;
 * the claim starts at the largest order and takes pageblock 4. */
static void test_claim_largest_first_partial(void)
{
    struct cma_mm *mm = mk_full(16 * MiB);
    if (!mm)
        return;
    const cma_pfn_t a = 2 * PB, b = 4 * PB;
    relabel_pb(mm, a, CMA_MIGRATE_RECLAIMABLE);
    relabel_pb(mm, b, CMA_MIGRATE_RECLAIMABLE);
    for (unsigned k = 0; k < 16; k += 2)
        free_range(mm, a + 32 * k, 32);
    free_range(mm, b, 256);
    EXPECT_UEQ(nr(mm, 5, CMA_MIGRATE_RECLAIMABLE), 8);
    EXPECT_UEQ(nr(mm, 8, CMA_MIGRATE_RECLAIMABLE), 1);

    struct ctr c0 = ctr_now(mm);
    cma_pfn_t got = alloc_ok(mm, 4, CMA_GFP_UNMOVABLE);
    EXPECT_UEQ(got, b);
    EXPECT_EQ(cma_pageblock_type(mm, b), CMA_MIGRATE_UNMOVABLE);
    EXPECT_EQ(cma_pageblock_type(mm, a), CMA_MIGRATE_RECLAIMABLE);
    EXPECT_UEQ(nr(mm, 5, CMA_MIGRATE_RECLAIMABLE), 8);
    EXPECT_UEQ(mm->nr_free_buddy[CMA_MIGRATE_RECLAIMABLE], 256);
    EXPECT_UEQ(mm->nr_free_buddy[CMA_MIGRATE_UNMOVABLE], 256 - 16);
    EXPECT_CTR(mm, c0, 1, 1, 0);
    EXPECT_OK(cma_free_pages(mm, got, 4));
    finish(mm);
}

/* ---- small MOVABLE fallback steals ------------------------------------------------------------- */

/* A pageblock of type R with 256 free pages, all in order-3 blocks (below pageblock_order / 2 = 4).
 * MOVABLE order 0 steals (label kept, halves stay on R's lists); UNMOVABLE (from RECLAIMABLE) or
 * RECLAIMABLE (from UNMOVABLE) order 0 on the same layout claims the pageblock: non-movable requests
 * always consider claiming (alike = 0, free 256 >= 256). */
static void small_fallback_case(unsigned req, unsigned R)
{
    struct cma_mm *mm = mk_full(16 * MiB);
    if (!mm)
        return;
    const cma_pfn_t a = 2 * PB;
    relabel_pb(mm, a, R);
    for (unsigned k = 0; k < 32; k++)
        free_range(mm, a + 16 * k, 8); /* 32 order-3 blocks, buddies allocated */
    EXPECT_UEQ(nr(mm, 3, R), 32);
    EXPECT_UEQ(mm->nr_free_buddy[R], 256);

    struct ctr c0 = ctr_now(mm);
    cma_pfn_t steal_head = head_pfn(mm, 3, R);
    cma_pfn_t got = alloc_ok(mm, 0, req);
    if (req == CMA_MIGRATE_MOVABLE) {
        EXPECT_UEQ(got, steal_head);
        EXPECT_EQ(cma_pageblock_type(mm, a), R);
        EXPECT_UEQ(nr(mm, 3, R), 31);
        EXPECT_UEQ(nr(mm, 2, R), 1);
        EXPECT_UEQ(nr(mm, 1, R), 1);
        EXPECT_UEQ(nr(mm, 0, R), 1);
        EXPECT_UEQ(head_pfn(mm, 2, R), got + 4);
        EXPECT_UEQ(head_pfn(mm, 1, R), got + 2);
        EXPECT_UEQ(head_pfn(mm, 0, R), got + 1);
        EXPECT_UEQ(mm->nr_free_buddy[R], 255);
        EXPECT_UEQ(mm->nr_free_buddy[CMA_MIGRATE_MOVABLE], 0);
        EXPECT_CTR(mm, c0, 1, 0, 1);
    } else {
        /* claimed: every free block moved to the list tails in pfn order, so the lowest comes first */
        EXPECT_UEQ(got, a);
        EXPECT_EQ(cma_pageblock_type(mm, a), req);
        EXPECT_UEQ(mm->nr_free_buddy[R], 0);
        EXPECT_UEQ(mm->nr_free_buddy[req], 255);
        EXPECT_UEQ(nr(mm, 3, req), 31);
        EXPECT_CTR(mm, c0, 1, 1, 0);
    }
    EXPECT_OK(cma_free_pages(mm, got, 0));
    finish(mm);
}

static void test_small_movable_steals(void)
{
    small_fallback_case(CMA_MIGRATE_MOVABLE, CMA_MIGRATE_RECLAIMABLE);
    small_fallback_case(CMA_MIGRATE_MOVABLE, CMA_MIGRATE_UNMOVABLE);
}

static void test_small_unmovable_claims(void)
{
    small_fallback_case(CMA_MIGRATE_UNMOVABLE, CMA_MIGRATE_RECLAIMABLE);
    small_fallback_case(CMA_MIGRATE_RECLAIMABLE, CMA_MIGRATE_UNMOVABLE);
}

/* MOVABLE order 0 with the only fallback candidates at order 1..3 in an otherwise allocated
 * UNMOVABLE pageblock: stolen (pages_stolen grows by the request's pages). */
static void test_small_movable_steal_order_counts(void)
{
    struct cma_mm *mm = mk_full(8 * MiB);
    if (!mm)
        return;
    const cma_pfn_t a = 1 * PB;
    relabel_pb(mm, a, CMA_MIGRATE_UNMOVABLE);
    free_range(mm, a + 8, 8); /* one order-3 block */
    struct ctr c0 = ctr_now(mm);
    cma_pfn_t p0 = alloc_ok(mm, 0, CMA_GFP_MOVABLE);
    EXPECT_UEQ(p0, a + 8);
    EXPECT_CTR(mm, c0, 1, 0, 1);
    /* order 2 through the buddy directly (the cache would refill two blocks) */
    cma__mm_lock(mm);
    uint32_t idx = cma__rmqueue_locked(mm, 2, CMA_MIGRATE_MOVABLE, true, NULL);
    if (idx != CMA_IDX_NIL) {
        cma__page(mm, idx)->order = 2;
        cma__page_set_flags(cma__page(mm, idx), PS_ALLOC);
    }
    cma__mm_unlock(mm);
    ASSERT_TRUE(idx != CMA_IDX_NIL);
    EXPECT_UEQ(cma__idx_to_pfn(mm, idx), a + 12);
    EXPECT_CTR(mm, c0, 2, 0, 1 + 4);
    EXPECT_EQ(cma_pageblock_type(mm, a), CMA_MIGRATE_UNMOVABLE);
    EXPECT_UEQ(mm->nr_free_buddy[CMA_MIGRATE_UNMOVABLE], 3);
    finish(mm);
}

/* ---- the occupancy threshold of a partial-pageblock claim --------------------------------------- */

/* MOVABLE from RECLAIMABLE, candidates at orders 4..7 (>= pageblock_order / 2): claim iff
 * free + movable-in-use >= 256. Free 240 pages (128 + 64 + 32 + 16); 15 or 16 movable pages. */
static void movable_threshold_case(unsigned nmovable, bool expect_claim)
{
    struct cma_mm *mm = mk_full(16 * MiB);
    if (!mm)
        return;
    const cma_pfn_t P = 2 * PB;
    const unsigned R = CMA_MIGRATE_RECLAIMABLE, M = CMA_MIGRATE_MOVABLE;
    relabel_pb(mm, P, R);
    free_range(mm, P + 256, 240);
    set_movable(mm, P, nmovable, true);
    EXPECT_UEQ(nr(mm, 7, R), 1);
    EXPECT_UEQ(nr(mm, 6, R), 1);
    EXPECT_UEQ(nr(mm, 5, R), 1);
    EXPECT_UEQ(nr(mm, 4, R), 1);
    EXPECT_UEQ(mm->nr_free_buddy[R], 240);

    struct ctr c0 = ctr_now(mm);
    cma_pfn_t got = alloc_ok(mm, 4, CMA_GFP_MOVABLE);
    EXPECT_UEQ(got, P + 480); /* the order-4 block either way */
    if (expect_claim) {
        EXPECT_EQ(cma_pageblock_type(mm, P), M);
        EXPECT_UEQ(mm->nr_free_buddy[R], 0);
        EXPECT_UEQ(mm->nr_free_buddy[M], 224);
        EXPECT_UEQ(nr(mm, 7, M), 1);
        EXPECT_UEQ(nr(mm, 6, M), 1);
        EXPECT_UEQ(nr(mm, 5, M), 1);
        EXPECT_CTR(mm, c0, 1, 1, 0);
    } else {
        EXPECT_EQ(cma_pageblock_type(mm, P), R);
        EXPECT_UEQ(mm->nr_free_buddy[R], 224);
        EXPECT_UEQ(mm->nr_free_buddy[M], 0);
        EXPECT_CTR(mm, c0, 1, 0, 16);
    }
    if (test_failures)
        fprintf(stderr, "  (MOVABLE threshold case: free 240 + movable %u = %u of 512)\n", nmovable,
                240 + nmovable);
    EXPECT_OK(cma_free_pages(mm, got, 4));
    finish(mm);
}

static void test_threshold_movable_255(void) { movable_threshold_case(15, false); }
static void test_threshold_movable_256(void) { movable_threshold_case(16, true); }

/* MOVABLE request: allocated pages without movable registration do not count as alike. Free 240 +
 * 272 allocated unregistered pages (everything else in the block) -> no claim. */
static void test_threshold_movable_ignores_unregistered(void)
{
    movable_threshold_case(0, false);
}

/* UNMOVABLE from a MOVABLE pageblock: alike = 512 - free - movable_used. Free 64 (one order-6
 * block); movable in use 256 -> 64 + 192 = 256 claims; 257 -> 64 + 191 = 255 steals. */
static void unmovable_from_movable_case(unsigned nmovable, bool expect_claim)
{
    struct cma_mm *mm = mk_full(16 * MiB);
    if (!mm)
        return;
    const cma_pfn_t P = 2 * PB;
    const unsigned U = CMA_MIGRATE_UNMOVABLE, M = CMA_MIGRATE_MOVABLE;
    EXPECT_EQ(cma_pageblock_type(mm, P), M);
    free_range(mm, P + 256, 64);
    set_movable(mm, P, 256, true);
    if (nmovable > 256)
        set_movable(mm, P + 511, nmovable - 256, true);
    EXPECT_UEQ(nr(mm, 6, M), 1);

    struct ctr c0 = ctr_now(mm);
    cma_pfn_t got = alloc_ok(mm, 4, CMA_GFP_UNMOVABLE);
    EXPECT_UEQ(got, P + 256);
    unsigned lists = expect_claim ? U : M; /* where the released halves go */
    EXPECT_EQ(cma_pageblock_type(mm, P), expect_claim ? U : M);
    EXPECT_UEQ(nr(mm, 5, lists), 1);
    EXPECT_UEQ(nr(mm, 4, lists), 1);
    EXPECT_UEQ(head_pfn(mm, 5, lists), P + 256 + 32);
    EXPECT_UEQ(head_pfn(mm, 4, lists), P + 256 + 16);
    EXPECT_UEQ(mm->nr_free_buddy[lists], 48);
    EXPECT_UEQ(mm->nr_free_buddy[expect_claim ? M : U], 0);
    if (expect_claim)
        EXPECT_CTR(mm, c0, 1, 1, 0);
    else
        EXPECT_CTR(mm, c0, 1, 0, 16);
    if (test_failures)
        fprintf(stderr, "  (UNMOVABLE-from-MOVABLE case: free 64, movable %u, alike %u)\n", nmovable,
                512 - 64 - nmovable);
    EXPECT_OK(cma_free_pages(mm, got, 4));
    finish(mm);
}

static void test_threshold_unmovable_from_movable_claim(void) { unmovable_from_movable_case(256, true); }
static void test_threshold_unmovable_from_movable_steal(void) { unmovable_from_movable_case(257, false); }

/* UNMOVABLE <-> RECLAIMABLE: alike = 0, only free pages count, even when every allocated page of the
 * block is registered movable. Free 255 (orders 0..7 at P+257..) steals; free 256 (one order-8
 * block at P+256) claims. */
static void alike_zero_case(unsigned req, unsigned ft, unsigned nfree, bool expect_claim)
{
    struct cma_mm *mm = mk_full(16 * MiB);
    if (!mm)
        return;
    const cma_pfn_t P = 2 * PB;
    relabel_pb(mm, P, ft);
    free_range(mm, P + 512 - nfree, nfree);
    set_movable(mm, P, 512 - nfree, true);
    EXPECT_UEQ(mm->nr_free_buddy[ft], nfree);
    EXPECT_UEQ(nr(mm, 8, ft), nfree == 256 ? 1 : 0);

    struct ctr c0 = ctr_now(mm);
    cma_pfn_t got = alloc_ok(mm, 4, req);
    if (expect_claim) {
        EXPECT_UEQ(got, P + 256);
        EXPECT_EQ(cma_pageblock_type(mm, P), req);
        EXPECT_UEQ(mm->nr_free_buddy[ft], 0);
        EXPECT_UEQ(mm->nr_free_buddy[req], 240);
        for (unsigned o = 4; o < 8; o++)
            EXPECT_UEQ(head_pfn(mm, o, req), P + 256 + (1u << o));
        EXPECT_CTR(mm, c0, 1, 1, 0);
    } else {
        EXPECT_UEQ(got, P + 272); /* the order-4 block of 1+2+4+8+16+32+64+128 */
        EXPECT_EQ(cma_pageblock_type(mm, P), ft);
        EXPECT_UEQ(mm->nr_free_buddy[ft], nfree - 16);
        EXPECT_UEQ(mm->nr_free_buddy[req], 0);
        EXPECT_CTR(mm, c0, 1, 0, 16);
    }
    if (test_failures)
        fprintf(stderr, "  (%s from %s: free %u, %u movable in use)\n", tname[req], tname[ft], nfree,
                512 - nfree);
    EXPECT_OK(cma_free_pages(mm, got, 4));
    finish(mm);
}

static void test_threshold_reclaimable_from_unmovable(void)
{
    alike_zero_case(CMA_MIGRATE_RECLAIMABLE, CMA_MIGRATE_UNMOVABLE, 255, false);
    alike_zero_case(CMA_MIGRATE_RECLAIMABLE, CMA_MIGRATE_UNMOVABLE, 256, true);
}

static void test_threshold_unmovable_from_reclaimable(void)
{
    alike_zero_case(CMA_MIGRATE_UNMOVABLE, CMA_MIGRATE_RECLAIMABLE, 255, false);
    alike_zero_case(CMA_MIGRATE_UNMOVABLE, CMA_MIGRATE_RECLAIMABLE, 256, true);
}

/* A pageblock cut by the end of the span (300 of its 512 pages present) is never claimed, even with
 * all 300 free: the claim gives up on its candidates and the request steals. */
static void test_no_claim_of_straddling_pageblock(void)
{
    struct cma_mm *mm = mk_full(8 * MiB + 300 * 4 * KiB);
    if (!mm)
        return;
    const cma_pfn_t P = 4 * PB;
    const unsigned R = CMA_MIGRATE_RECLAIMABLE;
    EXPECT_UEQ(mm->nr_pages, 4 * PB + 300);
    relabel_pb(mm, P, R);
    free_range(mm, P, 300); /* 256 + 32 + 8 + 4 */
    EXPECT_UEQ(nr(mm, 8, R), 1);
    EXPECT_UEQ(nr(mm, 5, R), 1);

    struct ctr c0 = ctr_now(mm);
    cma_pfn_t got = alloc_ok(mm, 4, CMA_GFP_UNMOVABLE);
    EXPECT_UEQ(got, P + 256); /* steal: smallest fallback block >= order 4, the order-5 one */
    EXPECT_EQ(cma_pageblock_type(mm, P), R);
    EXPECT_UEQ(mm->nr_free_buddy[R], 300 - 16);
    EXPECT_UEQ(mm->nr_free_buddy[CMA_MIGRATE_UNMOVABLE], 0);
    EXPECT_CTR(mm, c0, 1, 0, 16);
    EXPECT_OK(cma_free_pages(mm, got, 4));
    finish(mm);
}

/* ---- CMA, ISOLATE, HIGHATOMIC are never fallback targets -------------------------------------- */

/* Fresh machine with a 4 MiB CMA area at 12 MiB (pfn 3072, the last order-10 block, on the CMA list
 * from online). UNMOVABLE takes all other memory and never a CMA page; then -ENOMEM (also at order 0
 * and for RECLAIMABLE); MOVABLE still gets CMA pages. */
static void test_cma_never_fallback_unmovable(void)
{
    struct cma_mm *mm = mk_cma(16 * MiB, 12 * MiB, 4 * MiB);
    if (!mm)
        return;
    const cma_pfn_t C = 3072;
    EXPECT_UEQ(nr(mm, 10, CMA_MIGRATE_CMA), 1);
    EXPECT_UEQ(head_pfn(mm, 10, CMA_MIGRATE_CMA), C);
    EXPECT_UEQ(nr(mm, 10, CMA_MIGRATE_MOVABLE), 3);

    uint64_t n = 0, in_cma = 0;
    cma_pfn_t pfn;
    while (cma_alloc_pages(mm, 4, CMA_GFP_UNMOVABLE, &pfn) == 0) {
        n++;
        if (pfn >= C)
            in_cma++;
    }
    EXPECT_UEQ(n, 3072 / 16);
    EXPECT_UEQ(in_cma, 0);
    EXPECT_UEQ(mm->nr_free_buddy[CMA_MIGRATE_CMA], 1024);
    EXPECT_UEQ(total_free(mm), 1024);
    EXPECT_ERR(cma_alloc_pages(mm, 4, CMA_GFP_UNMOVABLE, &pfn), -CMA_ENOMEM);
    EXPECT_ERR(cma_alloc_pages(mm, 0, CMA_GFP_UNMOVABLE, &pfn), -CMA_ENOMEM);
    EXPECT_ERR(cma_alloc_pages(mm, 4, CMA_GFP_RECLAIMABLE, &pfn), -CMA_ENOMEM);
    EXPECT_ERR(cma_alloc_pages(mm, 0, CMA_GFP_RECLAIMABLE, &pfn), -CMA_ENOMEM);
    EXPECT_ERR(cma_alloc_pages(mm, 10, CMA_GFP_RECLAIMABLE, &pfn), -CMA_ENOMEM);
    EXPECT_EQ(cma_pageblock_type(mm, C), CMA_MIGRATE_CMA);
    EXPECT_EQ(cma_pageblock_type(mm, C + PB), CMA_MIGRATE_CMA);
    EXPECT_UEQ(mm->pb_count[CMA_MIGRATE_CMA], 2);

    pfn = alloc_ok(mm, 4, CMA_GFP_MOVABLE);
    EXPECT_TRUE(pfn >= C && pfn < C + 1024);
    pfn = alloc_ok(mm, 0, CMA_GFP_MOVABLE);
    EXPECT_TRUE(pfn >= C && pfn < C + 1024);
    EXPECT_UEQ(mm->pb_count[CMA_MIGRATE_CMA], 2);
    finish(mm);
}

/* CMA area at pageblocks 6-7, everything allocated, then the area's pages freed back into it and
 * one MOVABLE pageblock freed: RECLAIMABLE takes the MOVABLE pageblock (by claim) and then fails,
 * never touching CMA. */
static void test_cma_never_fallback_reclaimable(void)
{
    struct cma_mm *mm = mk_full_cma(16 * MiB, 12 * MiB, 4 * MiB);
    if (!mm)
        return;
    EXPECT_EQ(cma_pageblock_type(mm, 6 * PB), CMA_MIGRATE_CMA);
    free_range(mm, 6 * PB, 2 * PB);
    free_range(mm, 0, PB);
    EXPECT_UEQ(nr(mm, 10, CMA_MIGRATE_CMA), 1);
    EXPECT_UEQ(nr(mm, 9, CMA_MIGRATE_MOVABLE), 1);

    uint64_t n = 0, in_cma = 0;
    cma_pfn_t pfn;
    while (cma_alloc_pages(mm, 4, CMA_GFP_RECLAIMABLE, &pfn) == 0) {
        n++;
        if (pfn >= 6 * PB)
            in_cma++;
    }
    EXPECT_UEQ(n, PB / 16);
    EXPECT_UEQ(in_cma, 0);
    EXPECT_EQ(cma_pageblock_type(mm, 0), CMA_MIGRATE_RECLAIMABLE);
    EXPECT_UEQ(mm->nr_free_buddy[CMA_MIGRATE_CMA], 1024);
    EXPECT_ERR(cma_alloc_pages(mm, 0, CMA_GFP_RECLAIMABLE, &pfn), -CMA_ENOMEM);
    EXPECT_ERR(cma_alloc_pages(mm, 0, CMA_GFP_UNMOVABLE, &pfn), -CMA_ENOMEM);
    pfn = alloc_ok(mm, 9, CMA_GFP_MOVABLE);
    EXPECT_TRUE(pfn >= 6 * PB);
    finish(mm);
}

/* Only HIGHATOMIC, ISOLATE (and CMA) memory free: no request type falls back to HIGHATOMIC or
 * ISOLATE; MOVABLE gets CMA and nothing else. */
static void test_isolate_highatomic_never_fallback(void)
{
    struct cma_mm *mm = mk_full_cma(16 * MiB, 12 * MiB, 4 * MiB);
    if (!mm)
        return;
    const cma_pfn_t H = 2 * PB, I = 4 * PB, C = 6 * PB;
    relabel_pb(mm, H, CMA_MIGRATE_HIGHATOMIC);
    isolate_pb(mm, I, true);
    free_range(mm, H, PB);
    free_range(mm, I, PB); /* isolated: straight to the buddy's ISOLATE list */
    EXPECT_UEQ(nr(mm, 9, CMA_MIGRATE_HIGHATOMIC), 1);
    EXPECT_UEQ(nr(mm, 9, CMA_MIGRATE_ISOLATE), 1);
    EXPECT_UEQ(total_free(mm), 2 * PB);

    cma_pfn_t pfn;
    for (unsigned t = 0; t < CMA_MIGRATE_PCPTYPES; t++) {
        EXPECT_ERR(cma_alloc_pages(mm, 0, t, &pfn), -CMA_ENOMEM);
        EXPECT_ERR(cma_alloc_pages(mm, 4, t, &pfn), -CMA_ENOMEM);
        EXPECT_ERR(cma_alloc_pages(mm, 9, t, &pfn), -CMA_ENOMEM);
    }
    EXPECT_UEQ(nr(mm, 9, CMA_MIGRATE_HIGHATOMIC), 1);
    EXPECT_UEQ(nr(mm, 9, CMA_MIGRATE_ISOLATE), 1);
    EXPECT_EQ(cma_pageblock_type(mm, H), CMA_MIGRATE_HIGHATOMIC);
    EXPECT_EQ(cma_pageblock_type(mm, I), CMA_MIGRATE_ISOLATE);

    /* add free CMA memory (the area, pageblocks 6-7): MOVABLE uses it, the others still fail */
    free_range(mm, C, 2 * PB);
    EXPECT_ERR(cma_alloc_pages(mm, 4, CMA_GFP_UNMOVABLE, &pfn), -CMA_ENOMEM);
    EXPECT_ERR(cma_alloc_pages(mm, 4, CMA_GFP_RECLAIMABLE, &pfn), -CMA_ENOMEM);
    uint64_t got = 0;
    while (cma_alloc_pages(mm, 4, CMA_GFP_MOVABLE, &pfn) == 0) {
        EXPECT_TRUE(pfn >= C && pfn < C + 2 * PB);
        got++;
    }
    EXPECT_UEQ(got, 2 * PB / 16);
    EXPECT_UEQ(nr(mm, 9, CMA_MIGRATE_HIGHATOMIC), 1);
    EXPECT_UEQ(nr(mm, 9, CMA_MIGRATE_ISOLATE), 1);
    EXPECT_CHECK(mm);
    isolate_pb(mm, I, false);
    EXPECT_UEQ(nr(mm, 9, CMA_MIGRATE_MOVABLE), 1);
    finish(mm);
}

/* ---- the CMA-first rule ------------------------------------------------------------------------- */

/* 32 MiB: pageblocks 0..6 MOVABLE, 7 "other" (label `other`), 8..15 a CMA area. Everything allocated at
 * order 4, then `nc` order-4 blocks freed in CMA, `nm` in MOVABLE, `no` in the other pageblock. A
 * MOVABLE order-4 request must come from CMA exactly when expect_cma. */
static void cma_first_case(unsigned pct, unsigned nc, unsigned nm, unsigned no, unsigned other,
                           bool expect_cma)
{
    cma_first_pct = pct;
    struct cma_mm *mm = mk_cma(32 * MiB, 16 * MiB, 16 * MiB);
    cma_first_pct = 50;
    if (!mm)
        return;
    EXPECT_EQ(mm->cfg.cma_first_percent, pct);
    cma_pfn_t pfn;
    uint64_t n = 0;
    while (cma_alloc_pages(mm, 4, CMA_GFP_MOVABLE, &pfn) == 0)
        n++;
    EXPECT_UEQ(n, 8192 / 16);
    const cma_pfn_t O = 7 * PB, C = 8 * PB;
    if (other == CMA_MIGRATE_ISOLATE)
        isolate_pb(mm, O, true);
    else
        relabel_pb(mm, O, other);
    for (unsigned i = 0; i < nc; i++)
        EXPECT_OK(cma_free_pages(mm, C + 16 * i, 4));
    for (unsigned i = 0; i < nm; i++)
        EXPECT_OK(cma_free_pages(mm, 16 * i, 4));
    for (unsigned i = 0; i < no; i++)
        EXPECT_OK(cma_free_pages(mm, O + 16 * i, 4));
    EXPECT_UEQ(mm->nr_free_buddy[CMA_MIGRATE_CMA], 16 * nc);
    EXPECT_UEQ(mm->nr_free_buddy[CMA_MIGRATE_MOVABLE], 16 * nm);
    EXPECT_UEQ(mm->nr_free_buddy[other], 16 * no);

    struct ctr c0 = ctr_now(mm);
    pfn = alloc_ok(mm, 4, CMA_GFP_MOVABLE);
    bool from_cma = pfn >= C;
    if (from_cma != expect_cma)
        test_fail_(__FILE__, __LINE__,
                   "cma_first_percent %u, free CMA %u, MOVABLE %u, %s %u (x16 pages): got pfn %#llx "
                   "from %s, expected %s",
                   pct, 16 * nc, 16 * nm, tname[other], 16 * no, (unsigned long long)pfn,
                   from_cma ? "CMA" : "non-CMA", expect_cma ? "CMA" : "MOVABLE");
    EXPECT_CTR(mm, c0, 0, 0, 0);
    if (other == CMA_MIGRATE_ISOLATE)
        isolate_pb(mm, O, false);
    finish(mm);
}

static void test_cma_first_50(void)
{
    /* CMA share of all free pages: 49 %, 50 %, 51 % */
    cma_first_case(50, 49, 51, 0, CMA_MIGRATE_UNMOVABLE, false);
    cma_first_case(50, 50, 50, 0, CMA_MIGRATE_UNMOVABLE, false);
    cma_first_case(50, 51, 49, 0, CMA_MIGRATE_UNMOVABLE, true);
    /* all free pages of every visible type count: 50 of 100 (49 MOVABLE + 1 UNMOVABLE / RECLAIMABLE
     * / HIGHATOMIC) is not more than half */
    cma_first_case(50, 50, 49, 1, CMA_MIGRATE_UNMOVABLE, false);
    cma_first_case(50, 50, 49, 1, CMA_MIGRATE_RECLAIMABLE, false);
    cma_first_case(50, 50, 49, 1, CMA_MIGRATE_HIGHATOMIC, false);
    /* isolated free pages are invisible, as in Linux: 50 of 99 is more than half */
    cma_first_case(50, 50, 49, 2, CMA_MIGRATE_ISOLATE, true);
}

static void test_cma_first_0_and_100(void)
{
    /* 0: CMA first whenever any CMA page is free */
    cma_first_case(0, 1, 99, 0, CMA_MIGRATE_UNMOVABLE, true);
    cma_first_case(0, 0, 99, 0, CMA_MIGRATE_UNMOVABLE, false);
    /* 100: never first (99 % CMA still takes MOVABLE) ... */
    cma_first_case(100, 99, 1, 0, CMA_MIGRATE_UNMOVABLE, false);
    cma_first_case(100, 200, 1, 0, CMA_MIGRATE_UNMOVABLE, false);
    /* ... but CMA is still used once the MOVABLE lists are empty */
    cma_first_case(100, 99, 0, 0, CMA_MIGRATE_UNMOVABLE, true);
}

int main(int argc, char **argv)
{
    return test_main(argc, argv, TEST(test_table_order_claim), TEST(test_table_order_steal),
                     TEST(test_claim_whole_block), TEST(test_claim_largest_first_whole),
                     TEST(test_claim_largest_first_partial), TEST(test_small_movable_steals),
                     TEST(test_small_unmovable_claims), TEST(test_small_movable_steal_order_counts),
                     TEST(test_threshold_movable_255), TEST(test_threshold_movable_256),
                     TEST(test_threshold_movable_ignores_unregistered),
                     TEST(test_threshold_unmovable_from_movable_claim),
                     TEST(test_threshold_unmovable_from_movable_steal),
                     TEST(test_threshold_reclaimable_from_unmovable),
                     TEST(test_threshold_unmovable_from_reclaimable),
                     TEST(test_no_claim_of_straddling_pageblock),
                     TEST(test_cma_never_fallback_unmovable), TEST(test_cma_never_fallback_reclaimable),
                     TEST(test_isolate_highatomic_never_fallback), TEST(test_cma_first_50),
                     TEST(test_cma_first_0_and_100));
}
