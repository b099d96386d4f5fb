/* SPDX-License-Identifier: MIT */
/*
 * migrate.c - movable pages: owner registration, clean marks, short-term references, long-term pins,
 * and the migration of one allocated block.
 *
 * Migration of a block (cma__migrate_block), in order:
 *   1. under every per-CPU cache lock and mm->lock (mark_lock): the block must be a live PS_ALLOC
 *      head with movable ops, not pinned and not referenced; PF_MIGRATING is set, which makes a
 *      concurrent cma_free_pages of it fail with -EBUSY and cma_page_get return -EAGAIN until
 *      migration ends;
 *   2. the owner's isolate callback (no lock held) may refuse: transient failure;
 *   3. a clean block whose owner has discard is dropped if the caller allows it: no copy;
 *   4. a target of the same order is taken straight from the buddy lists with alloc_cma = false, so
 *      it is never in a CMA pageblock, and never in an isolated one (their free pages sit on the
 *      ISOLATE lists); pin migrations ask for an UNMOVABLE target, contiguous ones for MOVABLE;
 *   5. contents are copied (backed mode), the owner's migrate callback switches its references;
 *   6. under mm->lock the target inherits ops, owner and the clean mark, and the source is freed
 *      (onto the ISOLATE list if its pageblock is isolated). On failure the target is freed, the
 *      source unmarked and the owner's putback called.
 * Every outcome leaves each page with exactly one owner: the source, the target, or the buddy.
 *
 * Pins: counts live in a small open-addressed hash keyed by memmap index (types.h), so the memory
 * map entry stays 12 bytes; PF_PINNED marks heads that have an entry.
 */
#include "internal/internal.h"


/* ---- head lookup ------------------------------------------------------------------------------- */

int cma__alloc_head_locked(const struct cma_mm *mm, cma_pfn_t pfn, uint32_t *idxp, cma_pfn_t *headp)
{
    const struct cma_span *s = mm->online ? cma__span_of_pfn(mm, pfn) : NULL;
    if (!s)
        return -CMA_EINVAL;
    uint32_t idx = cma__block_head(mm, s, pfn, headp);
    if (idx == CMA_IDX_NIL || cma__page_state(cma__page(mm, idx)) != PS_ALLOC)
        return -CMA_EFAULT;
    *idxp = idx;
    return 0;
}

static int ops_slot_locked(struct cma_mm *mm, const struct cma_movable_ops *ops)
{
    for (unsigned i = 1; i <= mm->nr_ops; i++)
        if (mm->ops_table[i] == ops)
            return (int)i;
    if (mm->nr_ops == CMA_MAX_MOVABLE_OPS)
        return -CMA_ENOSPC;
    mm->ops_table[++mm->nr_ops] = ops;
    return (int)mm->nr_ops;
}

int cma_page_set_movable(struct cma_mm *mm, cma_pfn_t pfn, const struct cma_movable_ops *ops,
                         void *owner)
{
    uint32_t idx;
    cma_pfn_t head;
    int r, slot = 0;
    if (!mm || (ops && !ops->migrate))
        return -CMA_EINVAL;
    cma__mm_lock(mm);
    r = cma__alloc_head_locked(mm, pfn, &idx, &head);
    if (!r && (cma__page_flags(cma__page(mm, idx)) & PF_MIGRATING))
        r = -CMA_EBUSY;
    if (!r && ops && (slot = ops_slot_locked(mm, ops)) < 0)
        r = slot;
    if (!r) {
        struct cma_page *p = cma__page(mm, idx);
        uintptr_t o = ops ? (uintptr_t)owner : 0;
        p->lo = (uint32_t)o;
        p->hi = (uint32_t)((uint64_t)o >> 32);
        atomic_store_explicit(&p->ops, (uint8_t)slot, memory_order_relaxed);
    }
    cma__mm_unlock(mm);
    return r;
}

/* Takes mm->lock and finds the live block containing pfn; on success returns 0 with the lock held
 * and *pp = its head. */
static int lock_block(struct cma_mm *mm, cma_pfn_t pfn, struct cma_page **pp)
{
    uint32_t idx;
    cma_pfn_t head;
    if (!mm)
        return -CMA_EINVAL;
    cma__mm_lock(mm);
    int r = cma__alloc_head_locked(mm, pfn, &idx, &head);
    if (r) {
        cma__mm_unlock(mm);
        return r;
    }
    *pp = cma__page(mm, idx);
    return 0;
}

int cma_page_set_clean(struct cma_mm *mm, cma_pfn_t pfn, bool clean)
{
    struct cma_page *p;
    int r = lock_block(mm, pfn, &p);
    if (r)
        return r;
    if (clean)
        atomic_fetch_or_explicit(&p->flags, PF_CLEAN, memory_order_relaxed);
    else
        atomic_fetch_and_explicit(&p->flags, (uint8_t)~PF_CLEAN, memory_order_relaxed);
    cma__mm_unlock(mm);
    return 0;
}

int cma_page_get(struct cma_mm *mm, cma_pfn_t pfn)
{
    struct cma_page *p;
    int r = lock_block(mm, pfn, &p);
    if (r)
        return r;
    uint8_t refs = atomic_load_explicit(&p->refs, memory_order_relaxed);
    if (cma__page_flags(p) & PF_MIGRATING) {
        r = -CMA_EAGAIN;
    } else if (refs == UINT8_MAX) {
        r = -CMA_EOVERFLOW;
    } else {
        atomic_store_explicit(&p->refs, (uint8_t)(refs + 1), memory_order_relaxed);
        atomic_fetch_or_explicit(&p->flags, PF_REFD, memory_order_relaxed);
    }
    cma__mm_unlock(mm);
    return r;
}

int cma_page_put(struct cma_mm *mm, cma_pfn_t pfn)
{
    struct cma_page *p;
    int r = lock_block(mm, pfn, &p);
    if (r)
        return r;
    uint8_t refs = atomic_load_explicit(&p->refs, memory_order_relaxed);
    if (!refs) {
        r = -CMA_EFAULT;
    } else {
        atomic_store_explicit(&p->refs, (uint8_t)(refs - 1), memory_order_relaxed);
        if (refs == 1)
            atomic_fetch_and_explicit(&p->flags, (uint8_t)~PF_REFD, memory_order_relaxed);
    }
    cma__mm_unlock(mm);
    return r;
}

/* ---- pin counts -------------------------------------------------------------------------------- */

static uint32_t pin_hash(uint32_t idx) { return idx * 2654435761u; }

static struct cma_pin_slot *pin_find_locked(struct cma_mm *mm, uint32_t idx)
{
    struct cma_pins *t = &mm->pins;
    if (!t->cap)
        return NULL;
    for (uint32_t i = pin_hash(idx) & (t->cap - 1);; i = (i + 1) & (t->cap - 1)) {
        if (t->slots[i].idx == idx)
            return &t->slots[i];
        if (t->slots[i].idx == CMA_IDX_NIL)
            return NULL;
    }
}

/* Moves every live entry into ns (ncap slots, all empty) and makes it the table. Caller holds
 * mm->lock; returns the old slots for the caller to free (after unlocking, when it can). */
static struct cma_pin_slot *pin_rehash_locked(struct cma_mm *mm, struct cma_pin_slot *ns, uint32_t ncap)
{
    struct cma_pins *t = &mm->pins;
    struct cma_pin_slot *old = t->slots;
    for (uint32_t i = 0; i < t->cap; i++) {
        if (t->slots[i].idx == CMA_IDX_NIL)
            continue;
        uint32_t j = pin_hash(t->slots[i].idx) & (ncap - 1);
        while (ns[j].idx != CMA_IDX_NIL)
            j = (j + 1) & (ncap - 1);
        ns[j] = t->slots[i];
    }
    mm->metadata_bytes += (uint64_t)ncap * sizeof *ns;
    mm->metadata_bytes -= (uint64_t)t->cap * sizeof *ns;
    t->slots = ns;
    t->cap = ncap;
    return old;
}

static struct cma_pin_slot *pin_slots_new(struct cma_mm *mm, uint32_t ncap)
{
    struct cma_pin_slot *ns = cma__host_alloc(&mm->host, ncap * sizeof *ns);
    for (uint32_t i = 0; ns && i < ncap; i++)
        ns[i].idx = CMA_IDX_NIL;
    return ns;
}

/* Can `extra` more pins be added without the table growing? Caller holds mm->lock. */
bool cma__pins_have_room_locked(const struct cma_mm *mm, uint32_t extra)
{
    const struct cma_pins *t = &mm->pins;
    return ((uint64_t)t->used + extra + 1) * 4 < (uint64_t)t->cap * 3;
}

/* The capacity that holds the live entries plus `extra` below the 3/4 load bound. */
static uint32_t pin_cap_for(const struct cma_pins *t, uint32_t extra)
{
    uint64_t ncap = t->cap ? t->cap : 64;
    while (((uint64_t)t->used + extra + 1) * 4 >= ncap * 3)
        ncap *= 2;
    return ncap > (1u << 31) ? 0 : (uint32_t)ncap;
}

int cma__pins_make_room(struct cma_mm *mm, uint32_t extra)
{
    for (;;) {
        cma__mm_lock(mm);
        if (cma__pins_have_room_locked(mm, extra)) {
            cma__mm_unlock(mm);
            return 0;
        }
        uint32_t ncap = pin_cap_for(&mm->pins, extra);
        cma__mm_unlock(mm);
        /* the new table is taken and the old one given back with no lock held (host hooks) */
        struct cma_pin_slot *ns = ncap ? pin_slots_new(mm, ncap) : NULL, *old = NULL;
        uint32_t ocap = 0;
        if (!ns)
            return -CMA_ENOMEM;
        cma__mm_lock(mm);
        bool fits = ((uint64_t)mm->pins.used + extra + 1) * 4 < (uint64_t)ncap * 3;
        if (fits && !cma__pins_have_room_locked(mm, extra)) {
            ocap = mm->pins.cap;
            old = pin_rehash_locked(mm, ns, ncap);
            ns = NULL;
        }
        cma__mm_unlock(mm);
        cma__host_free(&mm->host, ns, ncap * sizeof *ns);
        cma__host_free(&mm->host, old, ocap * sizeof *old);
    }
}

/* One more pin on the block at idx. A new entry needs room in the table, which only grows with no
 * lock held (cma__pins_make_room): without room this returns PIN_NO_ROOM and changes nothing. */
#define PIN_NO_ROOM 1
static int pin_inc_locked(struct cma_mm *mm, uint32_t idx)
{
    struct cma_pin_slot *s = pin_find_locked(mm, idx);
    if (s) {
        if (s->count == UINT32_MAX)
            return -CMA_EOVERFLOW;
        s->count++;
        return 0;
    }
    if (!cma__pins_have_room_locked(mm, 0))
        return PIN_NO_ROOM;
    struct cma_pins *t = &mm->pins;
    uint32_t i = pin_hash(idx) & (t->cap - 1);
    while (t->slots[i].idx != CMA_IDX_NIL)
        i = (i + 1) & (t->cap - 1);
    t->slots[i].idx = idx;
    t->slots[i].count = 1;
    t->used++;
    atomic_fetch_or_explicit(&cma__page(mm, idx)->flags, PF_PINNED, memory_order_relaxed);
    return 0;
}

static int pin_dec_locked(struct cma_mm *mm, uint32_t idx)
{
    struct cma_pin_slot *s = pin_find_locked(mm, idx);
    if (!s)
        return -CMA_EFAULT;
    if (--s->count == 0) {
        /* Backward-shift deletion: entries after the hole that may live there move up, so lookups
         * stop at the first empty slot and no tombstones build up (DMA maps pin and unpin pages at a
         * high rate). */
        struct cma_pins *t = &mm->pins;
        uint32_t i = (uint32_t)(s - t->slots), mask = t->cap - 1;
        for (uint32_t j = i;;) {
            j = (j + 1) & mask;
            if (t->slots[j].idx == CMA_IDX_NIL)
                break;
            if (!cma__probe_stays(i, j, pin_hash(t->slots[j].idx) & mask)) {
                t->slots[i] = t->slots[j];
                i = j;
            }
        }
        t->slots[i].idx = CMA_IDX_NIL;
        t->used--;
        atomic_fetch_and_explicit(&cma__page(mm, idx)->flags, (uint8_t)~PF_PINNED, memory_order_relaxed);
    }
    return 0;
}

uint32_t cma__pin_count_locked(struct cma_mm *mm, uint32_t idx)
{
    struct cma_pin_slot *s = pin_find_locked(mm, idx);
    return s ? s->count : 0;
}

void cma__pins_fini(struct cma_mm *mm)
{
    cma__host_free(&mm->host, mm->pins.slots, mm->pins.cap * sizeof *mm->pins.slots);
    memset(&mm->pins, 0, sizeof mm->pins);
}

/* ---- DMA holds -----------------------------------------------------------------------------------
 * A page behind a live DMA mapping must neither move nor be freed (iommu.c, dma.c). A page-allocator
 * block gets a long-term pin (PF_PINNED: migration, discard, isolation and cma_free_pages refuse it);
 * contiguous allocations and reserved pages are never migrated or discarded, so they need none. One
 * pin covers one run of pages that are consecutive both in the mapping and in physical memory inside
 * one block: map and unmap cut the same pages into the same runs, so they take and drop the same pins.
 */

/* Visits [pfn, pfn + n) block by block: fn(mm, head idx, state) for each piece of a page-allocator
 * block or other held state. Stops at the first error. Caller holds mm->lock. */
static int hold_walk_locked(struct cma_mm *mm, cma_pfn_t pfn, uint64_t n,
                            int (*fn)(struct cma_mm *mm, uint32_t idx), uint32_t *npins)
{
    const struct cma_span *s = cma__span_of_pfn(mm, pfn);
    cma_pfn_t end = pfn + n;
    if (!s || end < pfn || end > s->base + s->npages)
        return -CMA_EINVAL; /* not memory, or the run leaves its span (a hole) */
    while (pfn < end) {
        cma_pfn_t head;
        uint32_t idx = cma__block_head(mm, s, pfn, &head);
        const struct cma_page *p = idx == CMA_IDX_NIL ? NULL : cma__page(mm, idx);
        uint8_t f = p ? cma__page_flags(p) : PS_TAIL;
        switch (f & PS_MASK) {
        case PS_ALLOC:
            if (f & PF_MIGRATING)
                return -CMA_EAGAIN; /* its owner is about to move it: the pfn goes stale */
            if (npins)
                (*npins)++;
            if (fn) {
                int r = fn(mm, idx);
                if (r)
                    return r;
            }
            break;
        case PS_CONTIG:
        case PS_RESERVED:
            break; /* never migrated or discarded */
        default:
            return -CMA_EFAULT; /* free, cached, claimed: not memory in use */
        }
        cma_pfn_t next = p ? cma__block_end(head, p) : pfn + 1;
        pfn = next < end ? next : end;
    }
    return 0;
}

int cma__dma_hold_count_locked(struct cma_mm *mm, cma_pfn_t pfn, uint64_t n, uint32_t *npins)
{
    return hold_walk_locked(mm, pfn, n, NULL, npins);
}

/* The caller made room for every pin of the walk first (cma__dma_hold_runs). */
static int hold_one(struct cma_mm *mm, uint32_t idx)
{
    int r = pin_inc_locked(mm, idx);
    return r == PIN_NO_ROOM ? -CMA_ENOMEM : r;
}
static int unhold_one(struct cma_mm *mm, uint32_t idx) { return pin_dec_locked(mm, idx); }

int cma__dma_hold_locked(struct cma_mm *mm, cma_pfn_t pfn, uint64_t n)
{
    uint32_t done = 0;
    int r = hold_walk_locked(mm, pfn, n, hold_one, &done); /* validated by count_locked */
    if (r && done) {
        /* only an overflowing pin count fails after validation: drop what this call took */
        uint32_t undo = 0;
        const struct cma_span *s = cma__span_of_pfn(mm, pfn);
        for (cma_pfn_t q = pfn; undo + 1 < done && q < pfn + n;) {
            cma_pfn_t head;
            uint32_t idx = cma__block_head(mm, s, q, &head);
            const struct cma_page *p = cma__page(mm, idx);
            if (cma__page_state(p) == PS_ALLOC) {
                pin_dec_locked(mm, idx);
                undo++;
            }
            q = cma__block_end(head, p);
        }
    }
    return r;
}

static int held_one(struct cma_mm *mm, uint32_t idx)
{
    return (cma__page_flags(cma__page(mm, idx)) & PF_PINNED) ? 0 : -CMA_EBUSY;
}

int cma__dma_held_locked(struct cma_mm *mm, cma_pfn_t pfn, uint64_t n)
{
    return hold_walk_locked(mm, pfn, n, held_one, NULL);
}

void cma__dma_unhold_locked(struct cma_mm *mm, cma_pfn_t pfn, uint64_t n)
{
    int r = hold_walk_locked(mm, pfn, n, unhold_one, NULL);
    cma_assert(r == 0); /* held pages cannot have changed state */
    (void)r;
}

/* ---- migration ---------------------------------------------------------------------------------- */

/* Takes a free block of `order` for a migration target: buddy lists only (the per-CPU MOVABLE lists
 * may hold CMA pages), never CMA. Caller holds mm->lock. */
static uint32_t target_alloc_locked(struct cma_mm *mm, unsigned order, unsigned mt)
{
    uint32_t idx = cma__rmqueue_locked(mm, order, mt, false, NULL);
    if (idx != CMA_IDX_NIL) {
        struct cma_page *p = cma__page(mm, idx);
        p->order = (uint8_t)order;
        cma__page_set_flags(p, PS_ALLOC | PF_MIGRATING);
    }
    return idx;
}

/* Copies a block's contents (backed mode) with the host's copy hook, or libcma's (copy.c), which
 * prefetches `next` (the batch's next source, may be CMA_PFN_NONE) while it finishes. */
static void copy_block(const struct cma_mm *mm, cma_pfn_t from, cma_pfn_t to, unsigned order,
                       cma_pfn_t next)
{
    uint8_t *src = cma_pfn_to_virt(mm, from), *dst = cma_pfn_to_virt(mm, to);
    size_t n = (size_t)mm->page_size << order;
    if (!src || !dst)
        return;
    if (mm->host.default_copy)
        cma__copy_pages(dst, src, n, next == CMA_PFN_NONE ? NULL : cma_pfn_to_virt(mm, next));
    else
        mm->host.h.copy(mm->host.h.ctx, dst, src, n);
}

/* Marking pages PF_MIGRATING takes every per-CPU cache lock before the zone lock: the cache free
 * path moves a page from allocated to cached with a plain check-and-store under its cache lock (no
 * atomic read-modify-write on the fast path), so marking must exclude every cache's free path. */
static void mark_lock(struct cma_mm *mm)
{
    cma__pcp_lock_all(mm);
    cma__mm_lock(mm);
}

static void mark_unlock(struct cma_mm *mm)
{
    cma__mm_unlock(mm);
    cma__pcp_unlock_all(mm);
}

/* Marks a block that is not migrating (flags f, just read) PF_MIGRATING. A plain store, no
 * compare-and-swap: under mark_lock every other writer of an unmarked block's flags is excluded (the
 * cache free path holds its cache lock, every other update holds mm->lock; only the migrator that
 * set PF_MIGRATING clears it without a lock, and this block has none). Caller holds mark_lock. */
static inline void mark_migrating_locked(struct cma_page *p, uint8_t f)
{
    atomic_store_explicit(&p->flags, (uint8_t)(f | PF_MIGRATING), memory_order_relaxed);
}

/* Returns a block to the buddy from any owned state. Caller holds mm->lock. */
static void release_block_locked(struct cma_mm *mm, uint32_t idx, cma_pfn_t pfn, unsigned order)
{
    cma__page_clear(cma__page(mm, idx));
    cma__free_block_locked(mm, pfn, order, false);
}

int cma__migrate_block(struct cma_mm *mm, cma_pfn_t pfn, struct cma__migrate_ctl *ctl,
                       cma_pfn_t *newpfnp)
{
    uint32_t idx, tidx;
    cma_pfn_t head;
    struct cma_page *p;
    const struct cma_movable_ops *ops;
    void *owner;
    unsigned order;
    uint8_t f;
    int r;

    *newpfnp = CMA_PFN_NONE;
    mark_lock(mm);
    r = cma__alloc_head_locked(mm, pfn, &idx, &head);
    if (r || head != pfn) {
        mark_unlock(mm);
        return -CMA_EAGAIN; /* freed or changed meanwhile: the caller looks again */
    }
    p = cma__page(mm, idx);
    f = cma__page_flags(p);
    if (!atomic_load_explicit(&p->ops, memory_order_relaxed) || (f & PF_PINNED)) {
        mark_unlock(mm);
        return -CMA_EBUSY;
    }
    if (f & (PF_MIGRATING | PF_REFD)) {
        mark_unlock(mm);
        return -CMA_EAGAIN;
    }
    mark_migrating_locked(p, f);
    ops = mm->ops_table[atomic_load_explicit(&p->ops, memory_order_relaxed)];
    owner = (void *)(uintptr_t)((uint64_t)p->lo | ((uint64_t)p->hi << 32));
    order = p->order;
    mark_unlock(mm);

    if (ops->isolate && ops->isolate(owner, pfn, order) != 0) {
        atomic_fetch_and_explicit(&p->flags, (uint8_t)~PF_MIGRATING, memory_order_release);
        return -CMA_EAGAIN;
    }
    if (ctl->allow_discard && (f & PF_CLEAN) && ops->discard && ops->discard(owner, pfn, order) == 0) {
        cma__mm_lock(mm);
        release_block_locked(mm, idx, pfn, order);
        mm->pgdiscard += 1ull << order;
        cma__mm_unlock(mm);
        ctl->discarded += 1ull << order;
        return 0;
    }

    cma__mm_lock(mm);
    tidx = target_alloc_locked(mm, order, ctl->target_mt);
    cma__mm_unlock(mm);
    if (tidx == CMA_IDX_NIL) {
        cma__pcp_drain_all(mm); /* free blocks may sit in per-CPU caches */
        cma__mm_lock(mm);
        tidx = target_alloc_locked(mm, order, ctl->target_mt);
        cma__mm_unlock(mm);
    }
    if (tidx == CMA_IDX_NIL) {
        if (ops->putback)
            ops->putback(owner, pfn, order);
        atomic_fetch_and_explicit(&p->flags, (uint8_t)~PF_MIGRATING, memory_order_release);
        cma__mm_lock(mm);
        mm->pgmigrate_fail += 1ull << order;
        cma__mm_unlock(mm);
        return -CMA_ENOMEM;
    }
    cma_pfn_t tpfn = cma__idx_to_pfn(mm, tidx);
    copy_block(mm, pfn, tpfn, order, CMA_PFN_NONE);
    r = ops->migrate(owner, pfn, tpfn, order);

    cma__mm_lock(mm);
    if (r != 0) {
        release_block_locked(mm, tidx, tpfn, order);
        atomic_fetch_and_explicit(&p->flags, (uint8_t)~PF_MIGRATING, memory_order_relaxed);
        mm->pgmigrate_fail += 1ull << order;
        cma__mm_unlock(mm);
        if (ops->putback)
            ops->putback(owner, pfn, order);
        return -CMA_EAGAIN;
    }
    struct cma_page *t = cma__page(mm, tidx);
    t->lo = p->lo;
    t->hi = p->hi;
    atomic_store_explicit(&t->ops, atomic_load_explicit(&p->ops, memory_order_relaxed),
                          memory_order_relaxed);
    /* release: publishes the owner fields to a free of the target on another CPU (the owner knows
     * the target since its migrate callback; its free reads the flags with acquire) */
    atomic_store_explicit(&t->flags, (uint8_t)(PS_ALLOC | (f & PF_CLEAN)), memory_order_release);
    release_block_locked(mm, idx, pfn, order);
    mm->pgmigrate_success += 1ull << order;
    cma__mm_unlock(mm);
    ctl->migrated += 1ull << order;
    *newpfnp = tpfn;
    return 0;
}

/* ---- batched migration of a range ---------------------------------------------------------------
 * Clearing a range migrates many blocks; doing them one by one costs three zone-lock round trips
 * per block. A batch takes up to CMA_MIGRATE_BATCH blocks (at most 512 pages, Linux's batch) and
 * marks them migrating in one hold; allocates their targets in a second (order-0 targets in runs);
 * runs the owners' callbacks and the copies with no lock held; then commits every outcome in a third.
 */
enum { MB_PENDING, MB_MOVED, MB_DROPPED, MB_LEFT, MB_FAILED, MB_NOMEM };

struct mb_entry {
    cma_pfn_t pfn;
    uint32_t idx, tidx;
    uint8_t order, flags, outcome;
    bool isolated, drop;
    const struct cma_movable_ops *ops;
    void *owner;
};

static void mb_note_left(struct cma__migrate_batch *out, cma_pfn_t pfn)
{
    if (out->nleft < CMA_MIGRATE_BATCH)
        out->left_pfn[out->nleft] = pfn;
    out->nleft++;
}

/* Phase A: collect and mark. Caller holds mm->lock. */
static unsigned mb_collect_locked(struct cma_mm *mm, const struct cma_span *s, cma_pfn_t from,
                                  cma_pfn_t end, const struct cma__migrate_ctl *ctl,
                                  bool stop_on_stuck, struct mb_entry *e,
                                  struct cma__migrate_batch *out)
{
    unsigned n = 0;
    uint64_t pages = 0;
    cma_pfn_t pfn = from;
    while (pfn < end && n < CMA_MIGRATE_BATCH && pages < 512) {
        cma_pfn_t head;
        uint32_t idx = cma__block_head(mm, s, pfn, &head);
        struct cma_page *p = idx == CMA_IDX_NIL ? NULL : cma__page(mm, idx);
        cma_pfn_t next = p ? cma__block_end(head, p) : pfn + 1;
        uint8_t f = p ? cma__page_flags(p) : PS_TAIL;
        unsigned st = f & PS_MASK, slot = p ? atomic_load_explicit(&p->ops, memory_order_relaxed) : 0;
        if (st == PS_BUDDY || st == PS_CLAIMED) {
            /* free, or claimed for this very range (isolated pageblocks are its alone) */
        } else if (st == PS_PCP) {
            out->pcp_seen = true;
        } else if (st != PS_ALLOC || !slot || (f & PF_PINNED)) {
            if (out->stuck == CMA_PFN_NONE)
                out->stuck = p ? head : pfn;
            if (stop_on_stuck) {
                pfn = end;
                break;
            }
        } else if (f & (PF_MIGRATING | PF_REFD)) {
            mb_note_left(out, head);
        } else {
            mark_migrating_locked(p, f);
            struct mb_entry *x = &e[n++];
            x->pfn = head;
            x->idx = idx;
            x->order = p->order;
            x->flags = f;
            x->ops = mm->ops_table[slot];
            x->owner = (void *)(uintptr_t)((uint64_t)p->lo | ((uint64_t)p->hi << 32));
            x->outcome = MB_PENDING;
            x->isolated = false;
            x->drop = ctl->allow_discard && (f & PF_CLEAN) && x->ops->discard;
            x->tidx = CMA_IDX_NIL; /* mb_targets */
            pages += next - head;
        }
        pfn = next;
    }
    if (pfn > end)
        pfn = end;
    out->next = pfn;
    return n;
}

/* Does this entry still need a migration target (only_isolated: once the owner let it go)? */
static bool mb_wants_target(const struct mb_entry *x, bool only_isolated)
{
    return x->outcome == MB_PENDING && !x->drop && x->tidx == CMA_IDX_NIL &&
           (!only_isolated || x->isolated);
}

/* Order-0 targets come from a few larger blocks of the target type's own lists, split here: one
 * list operation per run of targets instead of one per page, and a batch's targets are contiguous.
 * A run is never larger than the smallest free block the type has, so exactly the pages that one
 * order-0 allocation after another would have taken are taken (smallest block first, split in
 * ascending order); only the type's own lists are used (no fallback, no claim, no steal) and what
 * they cannot serve goes through the normal removal path one block at a time. Caller holds
 * mm->lock. */
static void mb_bulk_order0_targets_locked(struct cma_mm *mm, struct mb_entry *e, unsigned n, unsigned mt,
                                          bool only_isolated)
{
    unsigned want = 0, i = 0;
    for (unsigned k = 0; k < n; k++)
        want += e[k].order == 0 && mb_wants_target(&e[k], only_isolated);
    unsigned o = want > 1 ? cma__fls64(want) : 0;
    while (o > 0) {
        if ((1u << o) > want) {
            o--;
            continue;
        }
        unsigned smallest = 0;
        while (smallest < o && !mm->free_area[smallest].lists[mt].nr)
            smallest++;
        if (smallest < o) {
            o = smallest; /* a smaller free block comes first, as for single allocations */
            continue;
        }
        uint32_t idx = cma__smallest_from_list_locked(mm, o, mt);
        if (idx == CMA_IDX_NIL) {
            o--; /* nothing of this order or larger: smaller runs may remain */
            continue;
        }
        for (uint32_t j = 0; j < (1u << o); j++, i++) {
            while (!(e[i].order == 0 && mb_wants_target(&e[i], only_isolated)))
                i++;
            struct cma_page *t = cma__page(mm, idx + j);
            t->order = 0;
            cma__page_set_flags(t, PS_ALLOC | PF_MIGRATING);
            e[i].tidx = idx + j;
        }
        want -= 1u << o;
    }
}

/* Targets for entries that still need one; drains the caches once if memory is short. */
static void mb_targets(struct cma_mm *mm, struct mb_entry *e, unsigned n, unsigned mt, bool only_isolated)
{
    unsigned want = 0;
    for (unsigned i = 0; i < n; i++)
        want += mb_wants_target(&e[i], only_isolated);
    if (!want)
        return; /* every block already has its target, or is dropped: no lock round trip */
    for (int pass = 0; pass < 2; pass++) {
        bool missing = false;
        cma__mm_lock(mm);
        mb_bulk_order0_targets_locked(mm, e, n, mt, only_isolated);
        for (unsigned i = 0; i < n; i++) {
            struct mb_entry *x = &e[i];
            if (!mb_wants_target(x, only_isolated))
                continue;
            x->tidx = target_alloc_locked(mm, x->order, mt);
            missing |= x->tidx == CMA_IDX_NIL;
        }
        cma__mm_unlock(mm);
        if (!missing)
            return;
        if (pass == 0)
            cma__pcp_drain_all(mm); /* free blocks may sit in per-CPU caches */
    }
    for (unsigned i = 0; i < n; i++)
        if (mb_wants_target(&e[i], only_isolated))
            e[i].outcome = MB_NOMEM;
}

/* A source whose owner let go: claimed for the range being cleared, or back to the buddy. */
static void retire_source_locked(struct cma_mm *mm, struct cma__migrate_ctl *ctl,
                                 const struct mb_entry *x)
{
    if (x->pfn >= ctl->claim_from && x->pfn + (1ull << x->order) <= ctl->claim_to) {
        struct cma_page *p = cma__page(mm, x->idx);
        cma__page_clear(p);
        p->order = x->order;
        cma__page_set_flags(p, PS_CLAIMED);
        ctl->claimed += 1ull << x->order;
        return;
    }
    release_block_locked(mm, x->idx, x->pfn, x->order);
}

void cma__migrate_batch(struct cma_mm *mm, const struct cma_span *s, cma_pfn_t from, cma_pfn_t end,
                        struct cma__migrate_ctl *ctl, bool stop_on_stuck,
                        struct cma__migrate_batch *out)
{
    struct mb_entry e[CMA_MIGRATE_BATCH];
    out->next = end;
    out->moved = out->nleft = 0;
    out->stuck = CMA_PFN_NONE;
    out->pcp_seen = false;
    out->nomem = false;

    mark_lock(mm);
    unsigned n = mb_collect_locked(mm, s, from, end, ctl, stop_on_stuck, e, out);
    mark_unlock(mm);
    mb_targets(mm, e, n, ctl->target_mt, false);

    /* Phase B: the owners' callbacks and the copies, no lock held. */
    for (unsigned i = 0; i < n; i++) {
        struct mb_entry *x = &e[i];
        if (x->outcome != MB_PENDING)
            continue;
        if (x->ops->isolate && x->ops->isolate(x->owner, x->pfn, x->order) != 0) {
            x->outcome = MB_LEFT;
            continue;
        }
        x->isolated = true;
        if (x->drop) {
            if (x->ops->discard(x->owner, x->pfn, x->order) == 0) {
                x->outcome = MB_DROPPED;
                continue;
            }
            x->drop = false; /* the owner wants it kept: migrate after all */
            mb_targets(mm, x, 1, ctl->target_mt, true);
            if (x->outcome != MB_PENDING)
                continue;
        }
        cma_pfn_t tpfn = cma__idx_to_pfn(mm, x->tidx), next = CMA_PFN_NONE;
        for (unsigned j = i + 1; j < n && next == CMA_PFN_NONE; j++)
            if (e[j].outcome == MB_PENDING && !e[j].drop)
                next = e[j].pfn; /* the next copy's source, for the prefetch */
        copy_block(mm, x->pfn, tpfn, x->order, next);
        x->outcome = x->ops->migrate(x->owner, x->pfn, tpfn, x->order) == 0 ? MB_MOVED : MB_FAILED;
    }

    /* Phase C: commit every outcome in one hold. */
    cma__mm_lock(mm);
    for (unsigned i = 0; i < n; i++) {
        struct mb_entry *x = &e[i];
        struct cma_page *p = cma__page(mm, x->idx);
        uint64_t pages = 1ull << x->order;
        if (x->outcome == MB_MOVED) {
            struct cma_page *t = cma__page(mm, x->tidx);
            t->lo = p->lo;
            t->hi = p->hi;
            atomic_store_explicit(&t->ops, atomic_load_explicit(&p->ops, memory_order_relaxed),
                                  memory_order_relaxed);
            /* release: see cma__migrate_block */
            atomic_store_explicit(&t->flags, (uint8_t)(PS_ALLOC | (x->flags & PF_CLEAN)),
                                  memory_order_release);
            retire_source_locked(mm, ctl, x);
            mm->pgmigrate_success += pages;
            ctl->migrated += pages;
            out->moved++;
            continue;
        }
        if (x->tidx != CMA_IDX_NIL)
            release_block_locked(mm, x->tidx, cma__idx_to_pfn(mm, x->tidx), x->order);
        if (x->outcome == MB_DROPPED) {
            retire_source_locked(mm, ctl, x);
            mm->pgdiscard += pages;
            ctl->discarded += pages;
            out->moved++;
            continue;
        }
        atomic_fetch_and_explicit(&p->flags, (uint8_t)~PF_MIGRATING, memory_order_release);
        if (x->outcome == MB_FAILED)
            mm->pgmigrate_fail += pages;
        if (x->outcome == MB_NOMEM)
            out->nomem = true;
        else
            mb_note_left(out, x->pfn);
    }
    cma__mm_unlock(mm);
    for (unsigned i = 0; i < n; i++)
        if (e[i].isolated && e[i].outcome != MB_MOVED && e[i].outcome != MB_DROPPED &&
            e[i].ops->putback)
            e[i].ops->putback(e[i].owner, e[i].pfn, e[i].order);
}

/* ---- long-term pins -------------------------------------------------------------------------- */

/* Would a pin of the block [head, head + 2^order) hold up a CMA area or an isolation? */
static bool must_move_before_pin(const struct cma_mm *mm, cma_pfn_t head, unsigned order)
{
    uint64_t step = 1ull << mm->pb_order, n = 1ull << order;
    for (uint64_t off = 0; off < n; off += step) {
        uint8_t v = cma__pb_raw(mm, head + off);
        if ((v & PB_ISOLATE) || (v & PB_TYPE_MASK) == CMA_MIGRATE_CMA)
            return true;
    }
    return false;
}

int cma_page_pin_longterm(struct cma_mm *mm, cma_pfn_t pfn, cma_pfn_t *newpfnp)
{
    int r;
    if (!mm || !newpfnp)
        return -CMA_EINVAL;
    *newpfnp = CMA_PFN_NONE;
    for (unsigned tries = 0;; tries++) {
        uint32_t idx;
        cma_pfn_t head;
        cma__mm_lock(mm);
        r = cma__alloc_head_locked(mm, pfn, &idx, &head);
        if (!r && head != pfn)
            r = -CMA_EFAULT;
        if (r) {
            cma__mm_unlock(mm);
            break;
        }
        if (!must_move_before_pin(mm, pfn, cma__page(mm, idx)->order)) {
            r = (cma__page_flags(cma__page(mm, idx)) & PF_MIGRATING) ? -CMA_EAGAIN
                                                                      : pin_inc_locked(mm, idx);
            cma__mm_unlock(mm);
            if (r == PIN_NO_ROOM) { /* the table grows with no lock held, then look again */
                if ((r = cma__pins_make_room(mm, 1)))
                    break;
                tries--;
                continue;
            }
            if (r == -CMA_EAGAIN && tries < 100) {
                mm->host.h.relax(mm->host.h.ctx);
                continue;
            }
            if (!r)
                *newpfnp = pfn;
            r = r == -CMA_EAGAIN ? -CMA_EBUSY : r;
            break;
        }
        cma__mm_unlock(mm);
        /* Move it out of CMA first, to an UNMOVABLE pageblock: a pinned page is unmovable. */
        struct cma__migrate_ctl ctl = {.allow_discard = false, .target_mt = CMA_MIGRATE_UNMOVABLE};
        cma_pfn_t npfn;
        r = cma__migrate_block(mm, pfn, &ctl, &npfn);
        if (r == 0) {
            pfn = npfn;
            continue;
        }
        if (r == -CMA_EAGAIN && tries < 100) {
            mm->host.h.relax(mm->host.h.ctx);
            continue;
        }
        r = r == -CMA_ENOMEM ? r : -CMA_EBUSY;
        break;
    }
    return r;
}

int cma_page_unpin(struct cma_mm *mm, cma_pfn_t pfn)
{
    uint32_t idx;
    cma_pfn_t head;
    int r;
    if (!mm)
        return -CMA_EINVAL;
    cma__mm_lock(mm);
    r = cma__alloc_head_locked(mm, pfn, &idx, &head);
    if (!r)
        r = pin_dec_locked(mm, idx);
    cma__mm_unlock(mm);
    return r;
}
