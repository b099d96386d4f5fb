/* SPDX-License-Identifier: MIT */
/*
 * isolate.c - pageblock isolation: making the free pages of a range invisible to every allocator
 * while its pages in use are migrated away, and undoing it.
 *
 * Isolating [start, end) touches every pageblock that intersects the range, under one hold of the
 * zone lock:
 *   - a pageblock already isolated means another contiguous allocation works there: -EBUSY;
 *   - outside CMA mode a CMA pageblock is refused (generic contiguous allocations never eat areas);
 *   - an obstacle that migration can never move (an allocated block without movable ops, a pinned
 *     block, a reserved page, a contiguous allocation) inside [start, end) refuses at once with
 *     -EBUSY, naming the pfn. Linux trusts CMA pageblocks here and finds out only after migrating
 *     everything else; trust_cma reproduces that for CMA_POLICY_LINUX;
 *   - a free block larger than a pageblock is split down to the pageblock first, the other halves
 *     staying free where they are, so only the pageblock of interest becomes isolated;
 *   - the pageblock's isolate bit is set (the stored type survives in the label: undo restores
 *     exactly what was there) and its free blocks move to the ISOLATE lists; for a contiguous
 *     allocation (claimedp) those lying wholly inside [start, end) are instead claimed for it at
 *     once (PS_CLAIMED, see contig.c). The obstacle check, the moves and the claims are one walk
 *     over the pageblock's blocks; an obstacle undoes the whole isolation, claims included.
 * Every per-CPU cache is drained in the same step: isolation holds every cache lock and the zone
 * lock while it relabels and drains. Because the free path reads the label under its cache lock, no
 * free page of the range is ever in a cache while its pageblock is isolated (see pcp.c).
 *
 * Undo clears the bit, moves the free blocks back to the stored type's lists and re-frees whole free
 * pageblocks so they merge across the pageblock boundary again.
 */
#include "internal/internal.h"

uint32_t cma__block_head_slow(const struct cma_mm *mm, const struct cma_span *s, cma_pfn_t pfn,
                              cma_pfn_t *headp)
{
    for (unsigned o = 1; o <= mm->max_order; o++) { /* order 0: see cma__block_head */
        cma_pfn_t h = pfn & ~((1ull << o) - 1);
        if (h < s->base)
            break;
        uint32_t idx = cma__span_idx(s, h);
        const struct cma_page *p = cma__page(mm, idx);
        if (cma__page_state(p) == PS_TAIL)
            continue;
        if (h + (1ull << p->order) <= pfn)
            break;
        *headp = h;
        return idx;
    }
    return CMA_IDX_NIL;
}

/* The first span that ends after pfn (binary search; spans are sorted), or one past the last. */
static const struct cma_span *span_ending_after(const struct cma_mm *mm, cma_pfn_t pfn)
{
    unsigned lo = 0, hi = mm->nspans;
    while (lo < hi) {
        unsigned mid = (lo + hi) / 2;
        if (mm->spans[mid].base + mm->spans[mid].npages <= pfn)
            lo = mid + 1;
        else
            hi = mid;
    }
    return &mm->spans[lo];
}

/* Iterates [from, to) over the part of every span inside the pageblock at pb (a pageblock may start
 * in a hole or, when spans are not pageblock aligned, hold the ends of two spans). */
#define FOR_EACH_SPAN_PART(mm, pb, sp, from, to)                                                    \
    for (const struct cma_span *sp = span_ending_after((mm), (pb));                                 \
         sp < (mm)->spans + (mm)->nspans && sp->base < (pb) + (1ull << (mm)->pb_order); sp++)        \
        for (cma_pfn_t from = sp->base > (pb) ? sp->base : (pb),                                    \
                       to = sp->base + sp->npages < (pb) + (1ull << (mm)->pb_order)                 \
                                ? sp->base + sp->npages                                             \
                                : (pb) + (1ull << (mm)->pb_order);                                  \
             from < to; from = to)

/* One step of a walk over the blocks of span s: the block covering pfn (found through its head when
 * pfn is a tail) in headp and idxp; returns one past it. idx CMA_IDX_NIL: pfn is a page no block
 * covers, one page long. */
static inline cma_pfn_t walk_block(const struct cma_mm *mm, const struct cma_span *s, cma_pfn_t pfn,
                                   cma_pfn_t *headp, uint32_t *idxp)
{
    uint32_t idx = cma__block_head(mm, s, pfn, headp);
    *idxp = idx;
    if (idx == CMA_IDX_NIL)
        return pfn + 1;
    const struct cma_page *p = cma__page(mm, idx);
    return cma__page_state(p) == PS_RESERVED ? pfn + 1 : cma__block_end(*headp, p);
}

void cma__move_free_pageblock_locked(struct cma_mm *mm, cma_pfn_t pb, unsigned from, unsigned to)
{
    cma__assert_locked(mm);
    if (from == to)
        return;
    FOR_EACH_SPAN_PART(mm, pb, s, a, b) {
        for (cma_pfn_t pfn = a, head, next; pfn < b; pfn = next) {
            uint32_t idx;
            next = walk_block(mm, s, pfn, &head, &idx);
            struct cma_page *p = idx == CMA_IDX_NIL ? NULL : cma__page(mm, idx);
            if (p && head == pfn && cma__page_state(p) == PS_BUDDY)
                cma__freelist_move_locked(mm, idx, p->order, from, to);
        }
    }
}

/* Splits a free block of order > pageblock_order containing the pageblock pb so that pb becomes a
 * free block of its own; the other halves stay free at their orders. */
static void split_large_free_locked(struct cma_mm *mm, const struct cma_span *s, cma_pfn_t pb)
{
    cma_pfn_t head;
    uint32_t idx = cma__block_head(mm, s, pb, &head);
    if (idx == CMA_IDX_NIL)
        return;
    struct cma_page *p = cma__page(mm, idx);
    if (cma__page_state(p) != PS_BUDDY || p->order <= mm->pb_order)
        return;
    unsigned order = p->order, mt = cma__pb_type(mm, head);
    cma__freelist_del_locked(mm, idx, order, mt);
    while (order > mm->pb_order) {
        order--;
        cma_pfn_t lower = head, upper = head + (1ull << order);
        cma_pfn_t keep = pb >= upper ? upper : lower, give = keep == upper ? lower : upper;
        cma__freelist_add_locked(mm, cma__span_idx(s, give), order, mt, true);
        head = keep;
    }
    cma__freelist_add_locked(mm, cma__span_idx(s, head), order, mt, true);
}

/* Can migration never clear this block (idx CMA_IDX_NIL: an uncovered page)? An allocated block
 * without movable ops, a pinned one, a reserved page or a contiguous allocation. */
static bool unmovable_block(const struct cma_mm *mm, uint32_t idx)
{
    if (idx == CMA_IDX_NIL)
        return true;
    const struct cma_page *p = cma__page(mm, idx);
    uint8_t f = cma__page_flags(p);
    switch (f & PS_MASK) {
    case PS_ALLOC:
        return !atomic_load_explicit(&((struct cma_page *)p)->ops, memory_order_relaxed) ||
               (f & PF_PINNED);
    case PS_RESERVED:
    case PS_CONTIG:
    case PS_CLAIMED:
        return true;
    default:
        return false;
    }
}

/* Looks for a page that migration can never clear in [from, to) (inside span s). */
cma_pfn_t cma__find_unmovable_locked(const struct cma_mm *mm, const struct cma_span *s,
                                     cma_pfn_t from, cma_pfn_t to)
{
    for (cma_pfn_t pfn = from, head, next; pfn < to; pfn = next) {
        uint32_t idx;
        next = walk_block(mm, s, pfn, &head, &idx);
        if (unmovable_block(mm, idx))
            return pfn;
    }
    return CMA_PFN_NONE;
}

/*
 * Isolates the pageblock at pb (already labelled isolated; its free blocks are on the lists of type
 * mt) in one walk over its blocks. The first obstacle inside [wfrom, wto) is returned when `check`
 * (the caller undoes everything; nothing is claimed after it). Each free block goes to the ISOLATE
 * list or, when claimed is not NULL and the block lies wholly inside [cfrom, cto), straight off its
 * list as a PS_CLAIMED piece of the contiguous range being built (counted in *claimed): one list
 * operation instead of an ISOLATE-list round trip, and the take finds the piece already claimed.
 */
static cma_pfn_t isolate_pageblock_locked(struct cma_mm *mm, cma_pfn_t pb, unsigned mt, cma_pfn_t wfrom,
                                          cma_pfn_t wto, bool check, cma_pfn_t cfrom, cma_pfn_t cto,
                                          uint64_t *claimed)
{
    cma_pfn_t bad = CMA_PFN_NONE;
    FOR_EACH_SPAN_PART(mm, pb, s, a, b) {
        for (cma_pfn_t pfn = a, head, next; pfn < b; pfn = next) {
            uint32_t idx;
            next = walk_block(mm, s, pfn, &head, &idx);
            if (check && bad == CMA_PFN_NONE && pfn < wto && next > wfrom && unmovable_block(mm, idx))
                bad = pfn < wfrom ? wfrom : pfn; /* the walk goes on: the undo expects every free
                                                    block of an isolated pageblock on ISOLATE */
            struct cma_page *p = idx == CMA_IDX_NIL ? NULL : cma__page(mm, idx);
            if (!p || head != pfn || cma__page_state(p) != PS_BUDDY)
                continue;
            unsigned order = p->order;
            if (claimed && bad == CMA_PFN_NONE && head >= cfrom && next <= cto) {
                cma__freelist_del_locked(mm, idx, order, mt);
                p->order = (uint8_t)order;
                cma__page_set_flags(p, PS_CLAIMED);
                *claimed += 1ull << order;
            } else {
                cma__freelist_move_locked(mm, idx, order, mt, CMA_MIGRATE_ISOLATE);
            }
        }
    }
    return bad;
}

/* Gives the claimed pieces (PS_CLAIMED blocks of [start, end), inside span s) back to the buddy:
 * onto the ISOLATE lists while their pageblocks are isolated. */
void cma__unclaim_range_locked(struct cma_mm *mm, const struct cma_span *s, cma_pfn_t start,
                               cma_pfn_t end)
{
    for (cma_pfn_t pfn = start, head, next; pfn < end; pfn = next) {
        uint32_t idx;
        next = walk_block(mm, s, pfn, &head, &idx);
        if (idx == CMA_IDX_NIL)
            continue;
        struct cma_page *p = cma__page(mm, idx);
        if (cma__page_state(p) == PS_CLAIMED) {
            unsigned order = p->order;
            cma__page_clear(p);
            cma__free_block_locked(mm, head, order, false);
        }
    }
}

static void unisolate_block_locked(struct cma_mm *mm, cma_pfn_t pb)
{
    const struct cma_span *s;
    unsigned mt = cma__pb_stored_type(mm, pb);
    cma__pb_set_isolate_locked(mm, pb, false);
    cma__move_free_pageblock_locked(mm, pb, CMA_MIGRATE_ISOLATE, mt);
    /* A pageblock that is one free block can merge with its neighbours now. */
    s = cma__span_of_pfn(mm, pb);
    if (s && pb + (1ull << mm->pb_order) <= s->base + s->npages) {
        uint32_t idx = cma__span_idx(s, pb);
        struct cma_page *p = cma__page(mm, idx);
        if (cma__page_state(p) == PS_BUDDY && p->order == mm->pb_order) {
            cma__freelist_del_locked(mm, idx, mm->pb_order, mt);
            cma__free_block_locked(mm, pb, mm->pb_order, true);
        }
    }
}

int cma__isolate_range_ex(struct cma_mm *mm, cma_pfn_t start, cma_pfn_t end, bool cma_mode,
                          bool trust_cma, cma_pfn_t *busyp, uint64_t *claimedp)
{
    const uint64_t pbn = 1ull << mm->pb_order;
    const struct cma_span *s = cma__span_of_pfn(mm, start);
    cma_pfn_t bstart = start & ~(pbn - 1), bend = (end + pbn - 1) & ~(pbn - 1), pb;
    int r = 0;

    *busyp = CMA_PFN_NONE;
    if (claimedp)
        *claimedp = 0;
    /* Every cache lock, then the zone lock: labels change and caches empty in one step, so at no
     * moment does a free page of an isolated pageblock sit in a cache (invariant I8). */
    cma__pcp_lock_all(mm);
    cma__mm_lock(mm);
    for (pb = bstart; pb < bend; pb += pbn) {
        uint8_t v = cma__pb_raw(mm, pb);
        if ((v & PB_ISOLATE) || (!cma_mode && (v & PB_TYPE_MASK) == CMA_MIGRATE_CMA)) {
            *busyp = pb < start ? start : pb;
            r = -CMA_EBUSY;
            break;
        }
        cma_pfn_t wfrom = pb < start ? start : pb, wto = pb + pbn > end ? end : pb + pbn;
        bool trusted = trust_cma && (v & PB_TYPE_MASK) == CMA_MIGRATE_CMA;
        if (pb >= s->base)
            split_large_free_locked(mm, s, pb);
        cma__pb_set_isolate_locked(mm, pb, true);
        cma_pfn_t bad = isolate_pageblock_locked(mm, pb, v & PB_TYPE_MASK, wfrom, wto, !trusted, start,
                                                 end, claimedp);
        if (bad != CMA_PFN_NONE) {
            *busyp = bad;
            r = -CMA_EBUSY;
            pb += pbn; /* this pageblock is labelled too: undone with the others */
            break;
        }
    }
    if (r) {
        if (claimedp) {
            /* only up to the last pageblock isolated here: past it, pageblocks may be someone
             * else's isolation with their own claimed pieces */
            cma__unclaim_range_locked(mm, s, start, pb < end ? pb : end);
            *claimedp = 0;
        }
        while (pb > bstart) {
            pb -= pbn;
            if (cma__pb_raw(mm, pb) & PB_ISOLATE)
                unisolate_block_locked(mm, pb);
        }
    } else {
        for (unsigned c = 0; c < mm->nr_cpus; c++)
            cma__pcp_drain_cpu_locked(mm, c);
    }
    cma__mm_unlock(mm);
    cma__pcp_unlock_all(mm);
    return r;
}

void cma__undo_isolate_range(struct cma_mm *mm, cma_pfn_t start, cma_pfn_t end)
{
    const uint64_t pbn = 1ull << mm->pb_order;
    cma_pfn_t bstart = start & ~(pbn - 1), bend = (end + pbn - 1) & ~(pbn - 1);
    cma__mm_lock(mm);
    for (cma_pfn_t pb = bstart; pb < bend; pb += pbn)
        if (cma__pb_raw(mm, pb) & PB_ISOLATE)
            unisolate_block_locked(mm, pb);
    cma__mm_unlock(mm);
}
