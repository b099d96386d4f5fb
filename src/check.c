/* SPDX-License-Identifier: MIT */
/*
 * check.c - the invariant checker: recomputes everything from the memory map and the lists and names
 * the first broken invariant. Used by tests (every state-changing test ends with it), the stress
 * test (every N operations), fuzzers and the CLI. O(pages + lists); allocates nothing.
 *
 * Invariants (numbered as in docs/invariants.md):
 *   I1  spans sorted, disjoint, non-adjacent; memmap indices contiguous; nr_pages == sum of spans.
 *   I2  walking each span block by block, every page is covered by exactly one block: a head in a
 *       known state at a position aligned to its order, inside the span, followed by all-zero tails;
 *       claimed pieces of a contiguous range in progress only inside isolated pageblocks.
 *   I3  each buddy list is well formed (prev/next agree, no cycle), its length equals its counter,
 *       every entry is a PS_BUDDY head of the list's order whose pageblock has the list's type.
 *   I4  free_area[o].nr_free == sum of its lists; nr_free_buddy[t] == sum of list pages; every
 *       PS_BUDDY head found by the walk is on a list (walk totals == list totals).
 *   I5  no two free buddies that should have merged (same order, same span, compatible labels;
 *       isolated pageblocks never merge across pageblocks).
 *   I6  every pageblock covered by a free block of order >= pageblock_order has the block's type;
 *       free blocks in isolated pageblocks are at most pageblock-sized.
 *   I7  pageblock labels: holes exactly where no page is present, pb_count == recount.
 *   I8  per-CPU caches: lists well formed, entries PS_PCP of the list's order, count == sum,
 *       no cached block in an isolated pageblock, every PS_PCP head found is in some cache.
 *   I9  accounting: nr_managed == free (buddy + pcp) + allocated; nr_pages == managed + reserved.
 *   I10 CMA areas (cma.c): inside one span, every pageblock CMA, no CMA pageblock elsewhere,
 *       available consistent with the bitmap, every contiguously allocated page under a set bit.
 *   D1-D11 IOMMU domains and DMA devices (iova.c, iommu.c, dma.c): see docs/invariants.md.
 */
#include "internal/internal.h"

struct checker {
    const struct cma_mm *mm;
    char *why;
    size_t len;
};

__attribute__((format(printf, 3, 4))) static int fail(struct checker *c, const char *id,
                                                      const char *fmt, ...)
{
    struct cma__buf b;
    va_list ap;
    cma__buf_init(&b, c->why, c->len);
    cma__buf_printf(&b, "%s: ", id);
    va_start(ap, fmt);
    cma__buf_vprintf(&b, fmt, ap);
    va_end(ap);
    (void)cma__buf_finish(&b);
    return -CMA_EFAULT;
}

static bool tail_is_zero(const struct cma_page *p)
{
    return !p->lo && !p->hi && !cma__page_flags(p) && !p->order &&
           !atomic_load_explicit(&((struct cma_page *)p)->ops, memory_order_relaxed) &&
           !atomic_load_explicit(&((struct cma_page *)p)->refs, memory_order_relaxed);
}

struct tally {
    uint64_t buddy_blocks[CMA_MAX_ORDER_LIMIT + 1][CMA_MIGRATE_TYPES];
    uint64_t pcp_pages, alloc_pages, reserved_pages;
};

static int check_spans(struct checker *c)
{
    const struct cma_mm *mm = c->mm;
    uint64_t total = 0;
    for (unsigned i = 0; i < mm->nspans; i++) {
        const struct cma_span *s = &mm->spans[i];
        if (!s->npages || s->idx != total)
            return fail(c, "I1", "span %u: %llu pages at memmap index %u, expected index %llu", i,
                        (unsigned long long)s->npages, s->idx, (unsigned long long)total);
        if (i && mm->spans[i - 1].base + mm->spans[i - 1].npages >= s->base)
            return fail(c, "I1", "span %u overlaps or touches span %u", i, i - 1);
        total += s->npages;
    }
    if (total != mm->nr_pages)
        return fail(c, "I1", "spans hold %llu pages, nr_pages is %llu", (unsigned long long)total,
                    (unsigned long long)mm->nr_pages);
    return 0;
}

/* I2, I5, I6 and the walk side of I4/I8/I9. */
static int check_walk(struct checker *c, struct tally *t)
{
    const struct cma_mm *mm = c->mm;
    for (unsigned i = 0; i < mm->nspans; i++) {
        const struct cma_span *s = &mm->spans[i];
        cma_pfn_t end = s->base + s->npages;
        for (cma_pfn_t pfn = s->base; pfn < end;) {
            const struct cma_page *p = cma__page(mm, cma__span_idx(s, pfn));
            uint8_t f = cma__page_flags(p);
            unsigned st = f & PS_MASK, order = p->order;
            if (st == PS_TAIL || st > PS_CLAIMED)
                return fail(c, "I2", "pfn 0x%llx is covered by no block (state %u)",
                            (unsigned long long)pfn, st);
            if (order > mm->max_order || (pfn & ((1ull << order) - 1)) || pfn + (1ull << order) > end)
                return fail(c, "I2", "pfn 0x%llx: order %u block misaligned or past its span",
                            (unsigned long long)pfn, order);
            if (st == PS_RESERVED && (order || (f & ~PS_MASK)))
                return fail(c, "I2", "reserved pfn 0x%llx has order %u flags 0x%x",
                            (unsigned long long)pfn, order, f);
            if ((st == PS_BUDDY || st == PS_PCP) && (f & ~PS_MASK))
                return fail(c, "I2", "free pfn 0x%llx carries flags 0x%x", (unsigned long long)pfn, f);
            for (uint64_t k = 1; k < (1ull << order); k++)
                if (!tail_is_zero(p + k))
                    return fail(c, "I2", "tail pfn 0x%llx of the order-%u block at 0x%llx is not clear",
                                (unsigned long long)(pfn + k), order, (unsigned long long)pfn);
            switch (st) {
            case PS_BUDDY: {
                unsigned mt = cma__pb_type(mm, pfn);
                t->buddy_blocks[order][mt]++;
                if (order > mm->pb_order && mt == CMA_MIGRATE_ISOLATE)
                    return fail(c, "I6", "free order-%u block at 0x%llx is larger than the isolated "
                                "pageblocks it covers", order, (unsigned long long)pfn);
                if (order >= mm->pb_order)
                    for (uint64_t b = 1; b < (1ull << (order - mm->pb_order)); b++)
                        if (cma__pb_type(mm, pfn + (b << mm->pb_order)) != mt)
                            return fail(c, "I6", "free order-%u block at 0x%llx spans pageblocks of "
                                        "different types", order, (unsigned long long)pfn);
                if (order < mm->max_order) {
                    cma_pfn_t bud = pfn ^ (1ull << order);
                    if (bud >= s->base && bud + (1ull << order) <= end) {
                        const struct cma_page *bp = cma__page(mm, cma__span_idx(s, bud));
                        if (cma__page_state(bp) == PS_BUDDY && bp->order == order) {
                            unsigned bmt = cma__pb_type(mm, bud);
                            bool ok_apart = order >= mm->pb_order &&
                                            (mt == CMA_MIGRATE_ISOLATE || bmt == CMA_MIGRATE_ISOLATE ||
                                             (bmt != mt && (!cma__mt_mergeable(mt) ||
                                                            !cma__mt_mergeable(bmt))));
                            if (!ok_apart)
                                return fail(c, "I5", "free buddies 0x%llx and 0x%llx (order %u) not merged",
                                            (unsigned long long)pfn, (unsigned long long)bud, order);
                        }
                    }
                }
                break;
            }
            case PS_PCP:
                t->pcp_pages += 1ull << order;
                break;
            case PS_CLAIMED:
                if (!(cma__pb_raw(mm, pfn) & PB_ISOLATE))
                    return fail(c, "I2", "claimed pfn 0x%llx outside an isolated pageblock",
                                (unsigned long long)pfn);
                /* fallthrough */
            case PS_ALLOC:
            case PS_CONTIG:
                t->alloc_pages += 1ull << order;
                break;
            case PS_RESERVED:
                t->reserved_pages++;
                break;
            }
            pfn += 1ull << order;
        }
    }
    return 0;
}

/* I3 and the list side of I4. */
static int check_lists(struct checker *c, const struct tally *t)
{
    const struct cma_mm *mm = c->mm;
    uint64_t pages[CMA_MIGRATE_TYPES] = {0};
    for (unsigned o = 0; o <= mm->max_order; o++) {
        uint64_t nr_free = 0;
        for (unsigned mt = 0; mt < CMA_MIGRATE_TYPES; mt++) {
            const struct cma_freelist *fl = &mm->free_area[o].lists[mt];
            uint64_t n = 0;
            uint32_t prev = CMA_IDX_NIL;
            for (uint32_t idx = fl->head; idx != CMA_IDX_NIL; idx = cma__page(mm, idx)->lo) {
                if (idx >= mm->nr_pages || ++n > fl->nr)
                    return fail(c, "I3", "order %u type %u list longer than its count %llu or "
                                "broken", o, mt, (unsigned long long)fl->nr);
                const struct cma_page *p = cma__page(mm, idx);
                cma_pfn_t pfn = cma__idx_to_pfn(mm, idx);
                if (cma__page_state(p) != PS_BUDDY || p->order != o || p->hi != prev)
                    return fail(c, "I3", "pfn 0x%llx on the order %u type %u list is not a well-linked "
                                "free head of that order", (unsigned long long)pfn, o, mt);
                if (cma__pb_type(mm, pfn) != mt)
                    return fail(c, "I3", "pfn 0x%llx on the type %u list sits in a type %u pageblock",
                                (unsigned long long)pfn, mt, cma__pb_type(mm, pfn));
                prev = idx;
            }
            if (n != fl->nr || fl->tail != prev)
                return fail(c, "I3", "order %u type %u list has %llu entries, count says %llu", o, mt,
                            (unsigned long long)n, (unsigned long long)fl->nr);
            if (n != t->buddy_blocks[o][mt])
                return fail(c, "I4", "order %u type %u: %llu free heads in the memory map, %llu on the list",
                            o, mt, (unsigned long long)t->buddy_blocks[o][mt], (unsigned long long)n);
            nr_free += n;
            pages[mt] += n << o;
        }
        if (nr_free != mm->free_area[o].nr_free)
            return fail(c, "I4", "order %u nr_free %llu, lists hold %llu", o,
                        (unsigned long long)mm->free_area[o].nr_free, (unsigned long long)nr_free);
    }
    for (unsigned mt = 0; mt < CMA_MIGRATE_TYPES; mt++)
        if (pages[mt] != mm->nr_free_buddy[mt])
            return fail(c, "I4", "type %u: nr_free_buddy %llu, lists hold %llu pages", mt,
                        (unsigned long long)mm->nr_free_buddy[mt], (unsigned long long)pages[mt]);
    return 0;
}

static int check_pageblocks(struct checker *c)
{
    const struct cma_mm *mm = c->mm;
    uint64_t count[CMA_MIGRATE_TYPES] = {0};
    unsigned si = 0;
    for (uint64_t b = 0; b < mm->nr_pageblocks; b++) {
        cma_pfn_t first = (mm->pb_first + b) << mm->pb_order, last = first + (1ull << mm->pb_order) - 1;
        while (si < mm->nspans && mm->spans[si].base + mm->spans[si].npages <= first)
            si++;
        bool present = si < mm->nspans && mm->spans[si].base <= last;
        uint8_t v = atomic_load_explicit(&mm->pageblocks[b], memory_order_relaxed);
        if (present == !!(v & PB_HOLE))
            return fail(c, "I7", "pageblock at pfn 0x%llx: hole mark %d but present %d",
                        (unsigned long long)first, !!(v & PB_HOLE), present);
        if (!present)
            continue;
        if ((v & PB_TYPE_MASK) >= CMA_MIGRATE_ISOLATE)
            return fail(c, "I7", "pageblock at pfn 0x%llx stores type %u", (unsigned long long)first,
                        v & PB_TYPE_MASK);
        count[(v & PB_ISOLATE) ? CMA_MIGRATE_ISOLATE : (v & PB_TYPE_MASK)]++;
    }
    for (unsigned mt = 0; mt < CMA_MIGRATE_TYPES; mt++)
        if (count[mt] != mm->pb_count[mt])
            return fail(c, "I7", "type %u: %llu pageblocks counted, pb_count says %llu", mt,
                        (unsigned long long)count[mt], (unsigned long long)mm->pb_count[mt]);
    return 0;
}

static int check_pcp(struct checker *c, const struct tally *t)
{
    const struct cma_mm *mm = c->mm;
    uint64_t total = 0;
    for (unsigned cpu = 0; cpu < mm->nr_cpus; cpu++) {
        const struct cma_pcp *pcp = &mm->pcp[cpu];
        uint64_t pages = 0;
        for (unsigned o = 0; o <= CMA_PCP_MAX_ORDER; o++) {
            for (unsigned mt = 0; mt < CMA_MIGRATE_PCPTYPES; mt++) {
                const struct cma_pcplist *l = &pcp->lists[o][mt];
                uint32_t n = 0, prev = CMA_IDX_NIL;
                for (uint32_t idx = l->head; idx != CMA_IDX_NIL; idx = cma__page(mm, idx)->lo) {
                    if (idx >= mm->nr_pages || ++n > l->nr)
                        return fail(c, "I8", "cpu %u order %u type %u cache list broken or longer "
                                    "than %u", cpu, o, mt, l->nr);
                    const struct cma_page *p = cma__page(mm, idx);
                    cma_pfn_t pfn = cma__idx_to_pfn(mm, idx);
                    if (cma__page_state(p) != PS_PCP || p->order != o || p->hi != prev)
                        return fail(c, "I8", "pfn 0x%llx in cpu %u's order-%u cache is not a "
                                    "well-linked cached head", (unsigned long long)pfn, cpu, o);
                    if (cma__pb_type(mm, pfn) == CMA_MIGRATE_ISOLATE)
                        return fail(c, "I8", "pfn 0x%llx of an isolated pageblock hides in cpu %u's "
                                    "cache", (unsigned long long)pfn, cpu);
                    prev = idx;
                }
                if (n != l->nr || l->tail != prev)
                    return fail(c, "I8", "cpu %u order %u type %u: %u cached, count says %u", cpu, o,
                                mt, n, l->nr);
                pages += (uint64_t)n << o;
            }
        }
        if (pages != pcp->count)
            return fail(c, "I8", "cpu %u caches %llu pages, count says %u", cpu,
                        (unsigned long long)pages, pcp->count);
        total += pages;
    }
    if (total != t->pcp_pages)
        return fail(c, "I8", "%llu cached pages in the memory map, caches hold %llu",
                    (unsigned long long)t->pcp_pages, (unsigned long long)total);
    return 0;
}

static int check_accounting(struct checker *c, const struct tally *t)
{
    const struct cma_mm *mm = c->mm;
    uint64_t buddy = 0;
    for (unsigned mt = 0; mt < CMA_MIGRATE_TYPES; mt++)
        buddy += mm->nr_free_buddy[mt];
    if (t->reserved_pages != mm->nr_reserved || mm->nr_pages != mm->nr_managed + mm->nr_reserved)
        return fail(c, "I9", "reserved %llu (counted %llu), managed %llu, pages %llu",
                    (unsigned long long)mm->nr_reserved, (unsigned long long)t->reserved_pages,
                    (unsigned long long)mm->nr_managed, (unsigned long long)mm->nr_pages);
    if (buddy + t->pcp_pages + t->alloc_pages != mm->nr_managed)
        return fail(c, "I9", "free %llu + cached %llu + allocated %llu != managed %llu",
                    (unsigned long long)buddy, (unsigned long long)t->pcp_pages,
                    (unsigned long long)t->alloc_pages, (unsigned long long)mm->nr_managed);
    return 0;
}

int cma__check_locked(const struct cma_mm *mm, char *why, size_t len)
{
    struct checker c = {mm, why, len};
    struct tally t;
    int r;
    if (len)
        why[0] = '\0';
    if (!mm->online)
        return 0;
    memset(&t, 0, sizeof t);
    if ((r = check_spans(&c)) || (r = check_walk(&c, &t)) || (r = check_lists(&c, &t)) ||
        (r = check_pageblocks(&c)) || (r = check_pcp(&c, &t)) || (r = check_accounting(&c, &t)) ||
        (r = cma__check_areas_locked(mm, why, len)))
        return r;
    return 0;
}

int cma_mm_check(const struct cma_mm *cmm, char *why, size_t len)
{
    struct cma_mm *mm = (struct cma_mm *)cmm; /* locks are mutable state */
    int r;
    if (!mm || (len && !why))
        return -CMA_EINVAL;
    if (!mm->online)
        return cma__check_locked(mm, why, len);
    /* lock order: DMA layer (registry, domains, devices), areas, per-CPU caches, zone; in local
     * mode the caches' handshake comes first, with no lock held (pcp.c) */
    cma__pcp_remote_begin(mm);
    cma__dma_lock_all(mm);
    for (unsigned i = 0; i < mm->nr_areas; i++)
        cma__lock(&mm->host, &mm->areas[i]->lock);
    cma__pcp_take_locks(mm);
    cma__mm_lock(mm);
    r = cma__check_locked(mm, why, len);
    if (!r)
        r = cma__dma_check_locked(mm, why, len);
    cma__mm_unlock(mm);
    cma__pcp_drop_locks(mm);
    for (unsigned i = mm->nr_areas; i-- > 0;)
        cma__unlock(&mm->host, &mm->areas[i]->lock);
    cma__dma_unlock_all(mm);
    cma__pcp_remote_end(mm);
    return r;
}
