/* SPDX-License-Identifier: MIT */
/*
 * contig.c - alloc_contig_range and friends: clearing and taking an exact range of pages.
 *
 * cma__alloc_contig_range(start, end), step by step (Linux's, with its races closed; see
 * docs/linux.md, "alloc_contig_range"):
 *   1. isolate the pageblocks of the range (isolate.c): refuses at once when something unmovable
 *      is inside, drains every CPU cache, and claims the free blocks lying wholly inside the range
 *      (PS_CLAIMED: off the free lists for good, no ISOLATE-list round trip);
 *   2. migration rounds: walk the range in batches (migrate.c), migrate (or drop, if clean and
 *      allowed) every allocated block; a source wholly inside the range is claimed too instead of
 *      being freed and taken back; a round that leaves something behind is retried, and five
 *      rounds in a row without progress give -EBUSY (Linux's limit); an unmovable block is -EBUSY
 *      at once (under CMA_POLICY_LINUX only after the rest has moved, as Linux), no target -ENOMEM.
 *      Every obstacle is reported to the caller (busy_list);
 *   3. verify every page of the range is claimed or a free block (ISOLATE lists: freed into the
 *      range after isolation, or straddling its ends). Claimed pieces are disjoint and inside the
 *      range, so when the claimed page count equals the range size the range is complete and the
 *      verification walk is skipped (debug builds still walk it);
 *   4. take: claimed pieces lose their heads, free blocks leave their lists (pieces of straddling
 *      buddies outside the range are freed again), and the range is written as its natural aligned
 *      decomposition of PS_CONTIG blocks (a 256 MiB range is a few dozen heads);
 *   5. on failure the claimed pieces go back to the buddy; the isolation is undone either way.
 * A contiguous range is freed piecewise by cma_free_contig_range, which splits PS_CONTIG blocks
 * at the edges of a partial release.
 */
#include "internal/internal.h"

/* Largest aligned block starting at pfn that fits in [pfn, end). */
static unsigned fit_order(const struct cma_mm *mm, cma_pfn_t pfn, cma_pfn_t end)
{
    unsigned o = pfn ? cma__ffs64(pfn) : mm->max_order;
    if (o > mm->max_order)
        o = mm->max_order;
    while ((1ull << o) > end - pfn)
        o--;
    return o;
}

/* Writes [from, to) as PS_CONTIG blocks. Descriptors inside must be tails. Caller holds mm->lock. */
static void mark_contig_locked(struct cma_mm *mm, const struct cma_span *s, cma_pfn_t from, cma_pfn_t to)
{
    while (from < to) {
        unsigned o = fit_order(mm, from, to);
        struct cma_page *p = cma__page(mm, cma__span_idx(s, from));
        p->order = (uint8_t)o;
        cma__page_set_flags(p, PS_CONTIG);
        from += 1ull << o;
    }
}

/* Frees [from, to) (tails, or PS_CONTIG heads to be cleared) back to the buddy. */
static void free_range_locked(struct cma_mm *mm, const struct cma_span *s, cma_pfn_t from, cma_pfn_t to)
{
    while (from < to) {
        unsigned o = fit_order(mm, from, to);
        cma__page_clear(cma__page(mm, cma__span_idx(s, from)));
        cma__free_block_locked(mm, from, o, false);
        from += 1ull << o;
    }
}

/* Records an obstacle for the caller (cma.c skips windows containing one). */
static void note_busy(struct cma__contig_req *req, cma_pfn_t pfn, cma_pfn_t start)
{
    if (pfn < start)
        pfn = start;
    if (req->busy_pfn == CMA_PFN_NONE)
        req->busy_pfn = pfn;
    if (req->nbusy < sizeof req->busy_list / sizeof req->busy_list[0])
        req->busy_list[req->nbusy++] = pfn;
}

/* Step 2: the migration rounds, batch by batch. */
static int migrate_range(struct cma_mm *mm, const struct cma_span *s, cma_pfn_t start, cma_pfn_t end,
                         struct cma__contig_req *req, uint64_t *claimedp)
{
    struct cma__migrate_ctl ctl = {.allow_discard = req->allow_discard,
                                   .target_mt = CMA_MIGRATE_MOVABLE,
                                   .claim_from = start, .claim_to = end};
    struct cma__migrate_batch b;
    unsigned idle_rounds = 0;
    cma_pfn_t stuck = CMA_PFN_NONE; /* linux_mode: first block that can never move */
    cma_pfn_t left[CMA_CONTIG_BUSY_MAX];
    unsigned nleft;
    int r = 0;
    for (;;) {
        bool progress = false, pcp = false;
        nleft = 0;
        for (cma_pfn_t pfn = start; pfn < end; pfn = b.next) {
            cma__migrate_batch(mm, s, pfn, end, &ctl, !req->linux_mode, &b);
            if (b.nomem) {
                r = -CMA_ENOMEM;
                goto out;
            }
            if (b.stuck != CMA_PFN_NONE) {
                if (!req->linux_mode) {
                    note_busy(req, b.stuck, start);
                    r = -CMA_EBUSY;
                    goto out;
                }
                /* Linux does not notice yet: it migrates the rest and fails when verifying. */
                if (stuck == CMA_PFN_NONE)
                    stuck = b.stuck;
            }
            progress |= b.moved != 0;
            pcp |= b.pcp_seen;
            for (unsigned i = 0; i < b.nleft && i < CMA_MIGRATE_BATCH; i++)
                if (nleft < CMA_CONTIG_BUSY_MAX)
                    left[nleft++] = b.left_pfn[i];
                else
                    nleft++;
        }
        if (pcp) /* cannot happen after isolation's drain (pcp.c); drained again, not trusted */
            cma__pcp_drain_all(mm);
        if (!nleft && !pcp) {
            if (stuck != CMA_PFN_NONE) {
                note_busy(req, stuck, start);
                r = -CMA_EBUSY;
            }
            break;
        }
        if (progress) {
            idle_rounds = 0;
        } else if (++idle_rounds >= 5) {
            for (unsigned i = 0; i < nleft && i < CMA_CONTIG_BUSY_MAX; i++)
                note_busy(req, left[i], start);
            if (stuck != CMA_PFN_NONE)
                note_busy(req, stuck, start);
            r = -CMA_EBUSY;
            break;
        }
        mm->host.h.relax(mm->host.h.ctx);
    }
out:
    *claimedp += ctl.claimed;
    req->migrated += ctl.migrated;
    req->discarded += ctl.discarded;
    return r;
}

/* Walks the blocks covering [start, end): each is free (PS_BUDDY) or claimed (PS_CLAIMED).
 * Returns the first other block, or CMA_PFN_NONE. */
static cma_pfn_t first_unclaimable_locked(const struct cma_mm *mm, const struct cma_span *s,
                                          cma_pfn_t start, cma_pfn_t end)
{
    for (cma_pfn_t pfn = start; pfn < end;) {
        cma_pfn_t head;
        uint32_t idx = cma__block_head(mm, s, pfn, &head);
        if (idx == CMA_IDX_NIL)
            return pfn;
        const struct cma_page *p = cma__page(mm, idx);
        unsigned st = cma__page_state(p);
        if (st != PS_BUDDY && st != PS_CLAIMED)
            return head < start ? start : head;
        pfn = cma__block_end(head, p);
    }
    return CMA_PFN_NONE;
}

/* Steps 3 and 4 under one lock hold: verify (unless `complete`: claimed pieces cover the range),
 * then take. Claimed pieces lose their heads, free blocks leave their lists (pieces of straddling
 * ones outside the range go back), and the range is written as its natural decomposition. */
static int take_range_locked(struct cma_mm *mm, const struct cma_span *s, cma_pfn_t start,
                             cma_pfn_t end, bool complete, struct cma__contig_req *req)
{
    if (!complete || CMA_DEBUG >= 2) {
        cma_pfn_t busy = first_unclaimable_locked(mm, s, start, end);
        cma_assert_internal(!complete || busy == CMA_PFN_NONE);
        if (busy != CMA_PFN_NONE) {
            note_busy(req, busy, start);
            return -CMA_EBUSY;
        }
    }
    cma_pfn_t pfn = start;
    while (pfn < end) {
        cma_pfn_t head;
        uint32_t idx = cma__block_head(mm, s, pfn, &head);
        struct cma_page *p = cma__page(mm, idx);
        unsigned order = p->order;
        cma_pfn_t bend = cma__block_end(head, p);
        if (cma__page_state(p) == PS_BUDDY)
            cma__freelist_del_locked(mm, idx, order, cma__pb_type(mm, head));
        else
            cma__page_clear(p);
        if (head < start)
            free_range_locked(mm, s, head, start);
        if (bend > end)
            free_range_locked(mm, s, end, bend);
        pfn = bend;
    }
    mark_contig_locked(mm, s, start, end);
    return 0;
}

int cma__alloc_contig_range(struct cma_mm *mm, cma_pfn_t start, cma_pfn_t end,
                            struct cma__contig_req *req)
{
    const struct cma_span *s = cma__span_of_pfn(mm, start);
    int r;
    req->busy_pfn = CMA_PFN_NONE;
    req->nbusy = 0;
    if (start >= end || !s || end > s->base + s->npages)
        return -CMA_EINVAL;
    uint64_t claimed;
    r = cma__isolate_range_ex(mm, start, end, req->cma_mode, req->linux_mode, &req->busy_pfn, &claimed);
    if (r) {
        if (req->busy_pfn != CMA_PFN_NONE)
            req->busy_list[req->nbusy++] = req->busy_pfn;
        return r;
    }
    r = migrate_range(mm, s, start, end, req, &claimed);
    cma__mm_lock(mm);
    if (!r)
        r = take_range_locked(mm, s, start, end, claimed == end - start, req);
    if (r)
        cma__unclaim_range_locked(mm, s, start, end);
    cma__mm_unlock(mm);
    cma__undo_isolate_range(mm, start, end);
    return r;
}

int cma_alloc_contig_range(struct cma_mm *mm, cma_pfn_t start, cma_pfn_t end)
{
    struct cma__contig_req req = {.cma_mode = false, .allow_discard = true};
    if (!mm)
        return -CMA_EINVAL;
    if (!mm->online)
        return -CMA_EPERM;
    return cma__alloc_contig_range(mm, start, end, &req);
}

/* Makes pfn a PS_CONTIG block boundary by splitting the PS_CONTIG block that straddles it. */
static void contig_cut_locked(struct cma_mm *mm, const struct cma_span *s, cma_pfn_t pfn)
{
    cma_pfn_t head;
    uint32_t idx = cma__block_head(mm, s, pfn, &head);
    if (idx == CMA_IDX_NIL || head == pfn)
        return;
    cma_pfn_t bend = head + (1ull << cma__page(mm, idx)->order);
    cma__page_clear(cma__page(mm, idx));
    mark_contig_locked(mm, s, head, pfn);
    mark_contig_locked(mm, s, pfn, bend);
}

int cma__free_contig_locked(struct cma_mm *mm, cma_pfn_t start, uint64_t count)
{
    const struct cma_span *s = cma__span_of_pfn(mm, start);
    cma_pfn_t end = start + count, pfn = start;
    if (!count || !s || end < start || end > s->base + s->npages)
        return -CMA_EINVAL;
    /* Validate everything before changing anything. */
    while (pfn < end) {
        cma_pfn_t head;
        uint32_t idx = cma__block_head(mm, s, pfn, &head);
        if (idx == CMA_IDX_NIL || cma__page_state(cma__page(mm, idx)) != PS_CONTIG)
            return -CMA_EFAULT;
        pfn = cma__block_end(head, cma__page(mm, idx));
    }
    contig_cut_locked(mm, s, start);
    if (end < s->base + s->npages)
        contig_cut_locked(mm, s, end);
    for (pfn = start; pfn < end;) {
        struct cma_page *p = cma__page(mm, cma__span_idx(s, pfn));
        unsigned o = p->order;
        cma__page_clear(p);
        cma__free_block_locked(mm, pfn, o, false);
        pfn += 1ull << o;
    }
    return 0;
}

int cma_free_contig_range(struct cma_mm *mm, cma_pfn_t start, size_t count)
{
    int r;
    if (!mm)
        return -CMA_EINVAL;
    if (!mm->online)
        return -CMA_EPERM;
    cma__mm_lock(mm);
    r = cma__free_contig_locked(mm, start, count);
    cma__mm_unlock(mm);
    return r;
}

/* Can [c, c + count) be tried at all? Returns CMA_PFN_NONE, or a pfn to skip past. */
static cma_pfn_t candidate_blocker_locked(const struct cma_mm *mm, const struct cma_span *s,
                                          cma_pfn_t c, uint64_t count)
{
    const uint64_t pbn = 1ull << mm->pb_order;
    for (cma_pfn_t pb = c & ~(pbn - 1); pb < c + count; pb += pbn) {
        uint8_t v = cma__pb_raw(mm, pb);
        if ((v & PB_ISOLATE) || (v & PB_TYPE_MASK) == CMA_MIGRATE_CMA)
            return pb + pbn - 1;
    }
    return cma__find_unmovable_locked(mm, s, c, c + count);
}

int cma_alloc_contig_pages(struct cma_mm *mm, size_t count, unsigned align_order, cma_pfn_t *pfnp)
{
    if (pfnp)
        *pfnp = CMA_PFN_NONE;
    if (!mm || !pfnp || !count || align_order > 30)
        return -CMA_EINVAL;
    if (!mm->online)
        return -CMA_EPERM;
    const uint64_t align = 1ull << align_order;
    for (unsigned i = 0; i < mm->nspans; i++) {
        const struct cma_span *s = &mm->spans[i];
        cma_pfn_t end = s->base + s->npages;
        cma_pfn_t c = (s->base + align - 1) & ~(align - 1);
        while (c + count <= end && c + count > c) {
            cma__mm_lock(mm);
            cma_pfn_t blocker = candidate_blocker_locked(mm, s, c, count);
            cma__mm_unlock(mm);
            if (blocker == CMA_PFN_NONE) {
                struct cma__contig_req req = {.cma_mode = false, .allow_discard = true};
                int r = cma__alloc_contig_range(mm, c, c + count, &req);
                if (r == 0) {
                    *pfnp = c;
                    return 0;
                }
                if (r == -CMA_ENOMEM)
                    return r;
                blocker = req.busy_pfn == CMA_PFN_NONE ? c : req.busy_pfn;
            }
            /* Skip past the obstacle instead of stepping one alignment unit (docs/linux.md,
             * "Retry amplification"). */
            c = ((blocker + 1) + align - 1) & ~(align - 1);
        }
    }
    return -CMA_ENOMEM;
}
