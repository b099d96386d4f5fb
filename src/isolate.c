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
 *   - the pageblock's free blocks move to the ISOLATE lists and its isolate bit is set (the stored
 *     type survives in the label: undo restores exactly what was there).
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

void cma__move_free_pageblock_locked(struct cma_mm *mm, cma_pfn_t pb, unsigned from, unsigned to)
{
    const struct cma_span *s = cma__span_of_pfn(mm, pb);
    cma_pfn_t end = pb + (1ull << mm->pb_order), pfn = pb;
    cma__assert_locked(mm);
    if (!s) { /* the pageblock starts in a hole: begin at the span that covers its tail */
        for (unsigned i = 0; i < mm->nspans && !s; i++)
            if (mm->spans[i].base > pb && mm->spans[i].base < end)
                s = &mm->spans[i];
        if (!s)
            return;
        pfn = s->base;
    }
    if (end > s->base + s->npages)
        end = s->base + s->npages;
    while (pfn < end) {
        uint32_t idx = cma__span_idx(s, pfn);
        struct cma_page *p = cma__page(mm, idx);
        unsigned st = cma__page_state(p);
        if (st == PS_TAIL) { /* inside a block that began earlier: skip to its end at once */
            cma_pfn_t head;
            idx = cma__block_head_slow(mm, s, pfn, &head);
            pfn = idx == CMA_IDX_NIL ? pfn + 1 : head + (1ull << cma__page(mm, idx)->order);
            continue;
        }
        if (st == PS_BUDDY && from != to)
            cma__freelist_move_locked(mm, idx, p->order, from, to);
        pfn = st == PS_RESERVED ? pfn + 1 : cma__block_end(pfn, p);
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

/* Looks for a page that migration can never clear in [from, to) (inside span s). */
cma_pfn_t cma__find_unmovable_locked(const struct cma_mm *mm, const struct cma_span *s,
                                       cma_pfn_t from, cma_pfn_t to)
{
    cma_pfn_t pfn = from;
    while (pfn < to) {
        cma_pfn_t head;
        uint32_t idx = cma__block_head(mm, s, pfn, &head);
        if (idx == CMA_IDX_NIL)
            return pfn;
        const struct cma_page *p = cma__page(mm, idx);
        uint8_t f = cma__page_flags(p);
        switch (f & PS_MASK) {
        case PS_ALLOC:
            if (!atomic_load_explicit(&((struct cma_page *)p)->ops, memory_order_relaxed) ||
                (f & PF_PINNED))
                return pfn;
            break;
        case PS_RESERVED:
        case PS_CONTIG:
            return pfn;
        default:
            break;
        }
        pfn = cma__block_end(head, p);
    }
    return CMA_PFN_NONE;
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
                          bool trust_cma, cma_pfn_t *busyp)
{
    const uint64_t pbn = 1ull << mm->pb_order;
    const struct cma_span *s = cma__span_of_pfn(mm, start);
    cma_pfn_t bstart = start & ~(pbn - 1), bend = (end + pbn - 1) & ~(pbn - 1), pb;
    int r = 0;

    *busyp = CMA_PFN_NONE;
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
        cma_pfn_t bad = trusted ? CMA_PFN_NONE : cma__find_unmovable_locked(mm, s, wfrom, wto);
        if (bad != CMA_PFN_NONE) {
            *busyp = bad;
            r = -CMA_EBUSY;
            break;
        }
        if (pb >= s->base)
            split_large_free_locked(mm, s, pb);
        cma__move_free_pageblock_locked(mm, pb, v & PB_TYPE_MASK, CMA_MIGRATE_ISOLATE);
        cma__pb_set_isolate_locked(mm, pb, true);
    }
    if (r) {
        while (pb > bstart) {
            pb -= pbn;
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
