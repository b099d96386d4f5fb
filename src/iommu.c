/* SPDX-License-Identifier: MIT */
/*
 * iommu.c - one IO address space: the IO page table, IOTLB invalidation (strict, or lazy through
 * per-CPU flush queues), a software IOTLB model, and the raw IOMMU API (cma_iommu_map/unmap/
 * translate/access/flush).
 *
 * Page table. A radix table with the machine's page size as granule (LPAE-like geometry: a table is
 * one granule of 8-byte entries, so 512 entries with 4 KiB pages, and 48 IOVA bits take 4 levels).
 * Leaves sit at the level whose size is in pgsize_bitmap: each step of a map takes the largest size
 * that the remaining length, the IOVA and the output address all allow, so physically contiguous,
 * well aligned memory becomes 2 MiB / 1 GiB entries (fewer IOTLB entries) and scattered pages 4 KiB
 * ones. A table is a real page of the machine (order 0, unmovable, zeroed; its cost shows in the
 * machine's counters) plus a mirror in host memory that the library walks (see internal/dma.h).
 * Tables are taken from a spare list filled with pt_lock dropped, never allocated under it.
 *
 * Empty tables. A table whose last entry goes is kept linked, on the empty list, so that a region
 * mapped and unmapped again and again does not take and give back pages each time. Empty tables
 * are unlinked (their parents may empty in turn) as soon as more than CMA_PT_EMPTY_MAX empty or
 * unlinked tables wait, and at every whole-space flush except a full queue's (which happens on the
 * unmapping fast path): a lazy domain's timeout, cma_iommu_flush, destroy. An unlinked table may
 * still sit in a walk cache, so it is freed (or kept as a spare, at most CMA_PT_SPARE_MAX) only after
 * an invalidation that began after it was unlinked.
 *
 * Mappings. The first leaf of each mapping carries PTE_START, and every leaf the kind of call that
 * made it and the device slot, so an unmap is checked against the table itself: it must name a
 * mapping start of the caller's device and kind, and cover exactly that mapping (-EINVAL otherwise,
 * nothing changes). Partial unmaps are refused, block entries are never split.
 *
 * Invalidation. Strict: after the leaves are cleared, the range is invalidated (hardware hook, then
 * the software IOTLB) before the IOVA goes back to the allocator. Lazy: the IOVA goes into the
 * calling CPU's flush-queue ring with the count of flushes started so far; entries are released
 * (IOVA back to the allocator) only once a whole-space flush that started after them has finished,
 * so no IOVA is reused while a stale translation may remain. A ring that fills flushes at once; every
 * 16th lazy unmap of a CPU reads the host clock and flushes when fq_timeout_ns has passed since the
 * last flush (libcma has no timer: a host that needs a hard bound calls cma_iommu_flush from one).
 * The raw cma_iommu_unmap is always strict. Pages are released at unmap in both modes (Linux's lazy
 * trade-off: only the IOVA waits).
 *
 * Locks: pt_lock (tables, counters), fq[cpu].lock, iotlb_lock; order fq → iova → pt → iotlb → zone;
 * see internal/dma.h. Hardware hooks, host hooks and page allocation run with none held.
 */
#include "internal/internal.h"

#define FQ_DEFAULT_SIZE 256
#define FQ_DEFAULT_TIMEOUT_NS 10000000ull
#define FQ_CLOCK_EVERY 16
#define HOLD_RETRIES 100

/* hardware-like encoding written into table pages of backed machines */
#define HW_VALID 0x1ull
#define HW_TABLE_OR_PAGE 0x2ull
#define HW_READ 0x40ull
#define HW_WRITE 0x80ull
#define HW_AF 0x400ull

enum flush_reason { FLUSH_CALL, FLUSH_FULL, FLUSH_TIMEOUT, FLUSH_RECLAIM };

/* ---- geometry --------------------------------------------------------------------------------------- */

static inline uint32_t nent(const struct cma_iommu *io) { return 1u << io->bits_per_level; }

/* log2 of the granules a leaf at `level` covers. */
static inline unsigned lvl_gshift(const struct cma_iommu *io, unsigned level)
{
    return io->bits_per_level * (io->levels - 1 - level);
}

static inline uint32_t lvl_index(const struct cma_iommu *io, unsigned level, uint64_t iova_pfn)
{
    return (uint32_t)(iova_pfn >> lvl_gshift(io, level)) & (nent(io) - 1);
}

/* table entries tag the child pointer with PTE_VALID | PTE_TABLE (host memory is at least 8-aligned) */
static inline struct cma__pt *child_of(uint64_t e) { return (struct cma__pt *)(uintptr_t)(e & ~0x7ull); }
static inline cma_pfn_t leaf_pfn(const struct cma_iommu *io, uint64_t e)
{
    return (e & PTE_ADDR_MASK) >> io->gshift;
}
static inline unsigned leaf_slot(uint64_t e) { return (unsigned)(e >> PTE_SLOT_SHIFT); }

/* May a leaf live at `level`? */
static inline bool leaf_level_ok(const struct cma_iommu *io, unsigned level)
{
    return (io->pgsizes >> (io->gshift + lvl_gshift(io, level))) & 1;
}

/* ---- tables ---------------------------------------------------------------------------------------- */

static size_t pt_bytes(const struct cma_iommu *io) { return sizeof(struct cma__pt) + (size_t)nent(io) * 8; }

/* A new zeroed table: a page of the machine and its mirror. No lock held. */
static struct cma__pt *pt_new(struct cma_iommu *io)
{
    cma_pfn_t pfn;
    if (cma_alloc_pages(io->mm, 0, CMA_GFP_UNMOVABLE | CMA_GFP_ZERO, &pfn))
        return NULL;
    struct cma__pt *t = cma__host_alloc(&io->mm->host, pt_bytes(io));
    if (!t) {
        (void)cma_free_pages(io->mm, pfn, 0);
        return NULL;
    }
    t->pfn = pfn;
    t->hw = cma_pfn_to_virt(io->mm, pfn);
    return t;
}

/* No lock held. */
static void pt_delete(struct cma_iommu *io, struct cma__pt *t)
{
    int r = cma_free_pages(io->mm, t->pfn, 0);
    cma_assert(r == 0);
    (void)r;
    cma__host_free(&io->mm->host, t, pt_bytes(io));
}

static uint64_t hw_encode(const struct cma_iommu *io, uint64_t e, unsigned level)
{
    if (!e)
        return 0;
    if (e & PTE_TABLE)
        return (child_of(e)->pfn << io->gshift) | HW_VALID | HW_TABLE_OR_PAGE;
    return (e & PTE_ADDR_MASK) | HW_VALID | HW_AF | (level == io->levels - 1 ? HW_TABLE_OR_PAGE : 0) |
           ((e & PTE_READ) ? HW_READ : 0) | ((e & PTE_WRITE) ? HW_WRITE : 0);
}

static inline void ent_write(const struct cma_iommu *io, struct cma__pt *t, uint32_t i, uint64_t e)
{
    t->e[i] = e;
    if (t->hw)
        t->hw[i] = hw_encode(io, e, t->level);
}

static void empty_add(struct cma_iommu *io, struct cma__pt *t)
{
    t->on_empty = true;
    t->prev = NULL;
    t->next = io->empty;
    if (io->empty)
        io->empty->prev = t;
    io->empty = t;
    io->nr_empty++;
}

static void empty_del(struct cma_iommu *io, struct cma__pt *t)
{
    if (t->prev)
        t->prev->next = t->next;
    else
        io->empty = t->next;
    if (t->next)
        t->next->prev = t->prev;
    t->next = t->prev = NULL;
    t->on_empty = false;
    io->nr_empty--;
}

static inline void used_inc(struct cma_iommu *io, struct cma__pt *t)
{
    if (t->nr_used++ == 0 && t->on_empty)
        empty_del(io, t);
}

static inline void used_dec(struct cma_iommu *io, struct cma__pt *t)
{
    if (--t->nr_used == 0 && t != io->root) {
        empty_add(io, t);
        if (io->nr_empty + io->nr_dead > CMA_PT_EMPTY_MAX)
            atomic_store_explicit(&io->reclaim_wanted, true, memory_order_relaxed);
    }
}

/* Unlinks every empty table (parents that empty in turn too) onto the dead list. Caller holds
 * pt_lock. */
static void unlink_empty_locked(struct cma_iommu *io)
{
    while (io->empty) {
        struct cma__pt *t = io->empty, *p = t->parent;
        empty_del(io, t);
        ent_write(io, p, t->pidx, 0);
        t->parent = NULL;
        t->next = io->dead;
        io->dead = t;
        io->nr_dead++;
        io->nr_tables--;
        used_dec(io, p);
    }
}

/* Makes sure `need` spare tables exist, dropping pt_lock to allocate them. Held again on return. */
static int spares_ensure_locked(struct cma_iommu *io, uint64_t need)
{
    while (io->nr_spare < need) {
        uint64_t want = need - io->nr_spare, got = 0;
        struct cma__pt *list = NULL;
        cma__unlock(&io->mm->host, &io->pt_lock);
        for (; got < want; got++) {
            struct cma__pt *t = pt_new(io);
            if (!t)
                break;
            t->next = list;
            list = t;
        }
        cma__lock(&io->mm->host, &io->pt_lock);
        while (list) {
            struct cma__pt *t = list;
            list = t->next;
            t->next = io->spare;
            io->spare = t;
        }
        io->nr_spare += got;
        io->pt_alloced += got;
        if (got < want)
            return -CMA_ENOMEM;
    }
    return 0;
}

/* Detaches the spares above CMA_PT_SPARE_MAX (a worst-case reservation left over) for the caller to
 * delete once unlocked. Caller holds pt_lock. */
static struct cma__pt *spares_excess_locked(struct cma_iommu *io)
{
    struct cma__pt *list = NULL;
    while (io->nr_spare > CMA_PT_SPARE_MAX) {
        struct cma__pt *t = io->spare;
        io->spare = t->next;
        io->nr_spare--;
        io->pt_freed++;
        t->next = list;
        list = t;
    }
    return list;
}

static void pt_delete_list(struct cma_iommu *io, struct cma__pt *list)
{
    while (list) {
        struct cma__pt *t = list;
        list = t->next;
        pt_delete(io, t);
    }
}

static struct cma__pt *spare_take_locked(struct cma_iommu *io)
{
    struct cma__pt *t = io->spare;
    io->spare = t->next;
    io->nr_spare--;
    t->next = t->prev = NULL;
    return t;
}

static void tables_note_peak_locked(struct cma_iommu *io)
{
    uint64_t now = io->nr_tables + io->nr_spare + io->nr_dead;
    if (now > io->pt_peak)
        io->pt_peak = now;
}

/* Tables missing on the way from the root to `level` for iova_pfn (0 when a leaf covers it). */
static unsigned missing_locked(const struct cma_iommu *io, uint64_t iova_pfn, unsigned level)
{
    const struct cma__pt *t = io->root;
    for (unsigned l = 0; l < level; l++) {
        uint64_t e = t->e[lvl_index(io, l, iova_pfn)];
        if (!e)
            return level - l;
        if (!(e & PTE_TABLE))
            return 0;
        t = child_of(e);
    }
    return 0;
}

/* The table at `level` on iova_pfn's path, creating missing tables from spares (the caller ensured
 * enough); NULL when a block leaf above `level` covers iova_pfn. */
static struct cma__pt *walk_create_locked(struct cma_iommu *io, uint64_t iova_pfn, unsigned level)
{
    struct cma__pt *t = io->root;
    for (unsigned l = 0; l < level; l++) {
        uint32_t i = lvl_index(io, l, iova_pfn);
        uint64_t e = t->e[i];
        if (!e) {
            struct cma__pt *c = spare_take_locked(io);
            c->level = (uint8_t)(l + 1);
            c->parent = t;
            c->pidx = i;
            e = (uint64_t)(uintptr_t)c | PTE_VALID | PTE_TABLE;
            ent_write(io, t, i, e);
            used_inc(io, t);
            io->nr_tables++;
        } else if (!(e & PTE_TABLE)) {
            return NULL;
        }
        t = child_of(e);
    }
    return t;
}

/* The leaf covering iova_pfn, walking down from table t at `level`: its entry (0 if none), table,
 * index and level. */
static uint64_t leaf_from(const struct cma_iommu *io, struct cma__pt *t, unsigned level, uint64_t iova_pfn,
                          struct cma__pt **tp, uint32_t *ip, unsigned *lp)
{
    for (unsigned l = level;; l++) {
        uint32_t i = lvl_index(io, l, iova_pfn);
        uint64_t e = t->e[i];
        if (!e || !(e & PTE_TABLE) || l + 1 == io->levels) {
            *tp = t;
            *ip = i;
            *lp = l;
            return (e & PTE_TABLE) ? 0 : e;
        }
        t = child_of(e);
    }
}

static uint64_t leaf_lookup_locked(const struct cma_iommu *io, uint64_t iova_pfn, struct cma__pt **tp,
                                   uint32_t *ip, unsigned *lp)
{
    return leaf_from(io, io->root, 0, iova_pfn, tp, ip, lp);
}

/* A cursor over consecutive leaves: after the leaf at (t, i) the next one is usually the next entry
 * of the same table, so only a table boundary costs a walk from the root. */
struct leaf_pos {
    struct cma__pt *t;
    uint32_t i;
    unsigned level;
    uint64_t pfn;   /* IOVA frame the position covers (a leaf's first frame, or the empty entry's) */
    uint64_t e;     /* the leaf, 0 for none */
};

static void pos_seek(const struct cma_iommu *io, struct leaf_pos *p, uint64_t iova_pfn)
{
    p->pfn = iova_pfn;
    p->e = leaf_lookup_locked(io, iova_pfn, &p->t, &p->i, &p->level);
}

/* Moves past the current entry (leaf or empty slot) to the one covering the next frame. */
static void pos_next(const struct cma_iommu *io, struct leaf_pos *p)
{
    uint64_t next = p->pfn + (1ull << lvl_gshift(io, p->level));
    if (p->i + 1 < nent(io) && (p->level > 0 || (next >> lvl_gshift(io, 0)) < nent(io))) {
        p->pfn = next;
        p->e = leaf_from(io, p->t, p->level, next, &p->t, &p->i, &p->level);
        return;
    }
    pos_seek(io, p, next);
}

/* ---- invalidation and the software IOTLB ------------------------------------------------------------ */

static void iotlb_inv(struct cma_iommu *io, uint64_t iova, uint64_t size)
{
    if (!io->iotlb)
        return;
    cma__lock(&io->mm->host, &io->iotlb_lock);
    for (unsigned k = 0; k < io->cfg.iotlb_entries; k++) {
        struct cma__iotlb_entry *x = &io->iotlb[k];
        uint64_t xs = 1ull << x->shift;
        if (x->valid && (size == 0 || (x->iova < iova + size && iova < x->iova + xs)))
            x->valid = false;
    }
    cma__unlock(&io->mm->host, &io->iotlb_lock);
}

static void inv_range(struct cma_iommu *io, uint64_t iova, uint64_t size)
{
    atomic_fetch_add_explicit(&io->inv_range, 1, memory_order_relaxed);
    if (io->cfg.ops && io->cfg.ops->inv_range)
        io->cfg.ops->inv_range(io->cfg.ops_arg, iova, size);
    iotlb_inv(io, iova, size);
}

static void inv_all(struct cma_iommu *io)
{
    atomic_fetch_add_explicit(&io->inv_all, 1, memory_order_relaxed);
    if (io->cfg.ops && io->cfg.ops->inv_all)
        io->cfg.ops->inv_all(io->cfg.ops_arg);
    iotlb_inv(io, 0, 0);
}

/* ---- flush queues ------------------------------------------------------------------------------------ */

/* Releases the entries a finished flush covers. Caller holds fq->lock. */
static void fq_release_locked(struct cma_iommu *io, struct cma__fq *fq, unsigned cpu)
{
    uint64_t fin = atomic_load_explicit(&io->fq_finished, memory_order_acquire);
    struct cma__iova_range batch[64];
    unsigned nb = 0;
    while (fq->count) {
        const struct cma__fq_entry *e = &fq->ring[fq->head];
        if (e->seq >= fin)
            break; /* no flush that started after it has finished yet */
        batch[nb++] = (struct cma__iova_range){e->pfn, e->n};
        fq->queued -= cma__iova_size(e->n);
        fq->head = fq->head + 1 == io->fq_size ? 0 : fq->head + 1;
        fq->count--;
        if (nb == 64) {
            cma__iova_free_many(&io->iova, batch, nb, cpu);
            nb = 0;
        }
    }
    if (nb)
        cma__iova_free_many(&io->iova, batch, nb, cpu);
}

/* Frees (or keeps as spares) tables whose unlinking an invalidation has covered. No lock held. */
static void free_dead(struct cma_iommu *io, struct cma__pt *dead)
{
    struct cma__pt *gone = NULL;
    uint64_t n = 0;
    if (!dead)
        return;
    cma__lock(&io->mm->host, &io->pt_lock);
    while (dead) {
        struct cma__pt *t = dead;
        dead = t->next;
        n++;
        t->next = NULL;
        if (io->nr_spare < CMA_PT_SPARE_MAX) { /* empty, so still zeroed: ready to link again */
            t->next = io->spare;
            io->spare = t;
            io->nr_spare++;
        } else {
            t->next = gone;
            gone = t;
            io->pt_freed++;
        }
    }
    io->nr_dead -= n;
    cma__unlock(&io->mm->host, &io->pt_lock);
    pt_delete_list(io, gone);
}

/* The whole-space flush: unlinks empty tables, invalidates everything, then frees the unlinked
 * tables and releases every queued IOVA the flush covers. No lock held. */
static void flush_all(struct cma_iommu *io, enum flush_reason why)
{
    cma__lock(&io->mm->host, &io->pt_lock);
    /* A full queue flushes on the unmapping fast path, where mapping the same region again is likely:
     * empty tables stay linked then, up to the bound. Every other flush gives them back. */
    if (why != FLUSH_FULL || io->nr_empty + io->nr_dead > CMA_PT_EMPTY_MAX)
        unlink_empty_locked(io);
    struct cma__pt *dead = io->dead;
    io->dead = NULL;
    atomic_store_explicit(&io->reclaim_wanted, false, memory_order_relaxed);
    cma__unlock(&io->mm->host, &io->pt_lock);

    atomic_fetch_add_explicit(&io->fq_started, 1, memory_order_acq_rel);
    inv_all(io);
    atomic_fetch_add_explicit(&io->fq_finished, 1, memory_order_acq_rel);
    atomic_store_explicit(&io->last_flush_ns, io->mm->host.h.now_ns(io->mm->host.h.ctx),
                          memory_order_relaxed);
    if (why == FLUSH_FULL)
        atomic_fetch_add_explicit(&io->fq_full, 1, memory_order_relaxed);
    else if (why == FLUSH_TIMEOUT)
        atomic_fetch_add_explicit(&io->fq_timeout, 1, memory_order_relaxed);

    free_dead(io, dead);
    for (unsigned c = 0; io->fq && c < io->mm->nr_cpus; c++) {
        cma__lock(&io->mm->host, &io->fq[c].lock);
        fq_release_locked(io, &io->fq[c], c);
        cma__unlock(&io->mm->host, &io->fq[c].lock);
    }
}

/* Appends an unmapped DMA range to the calling CPU's ring, which the caller made sure has room.
 * Caller holds pt_lock and fq->lock. Returns true when it is time to read the clock. */
static bool fq_append_locked(struct cma_iommu *io, struct cma__fq *fq, uint64_t pfn, uint64_t n)
{
    struct cma__fq_entry *e = &fq->ring[(fq->head + fq->count) % io->fq_size];
    e->pfn = pfn;
    e->n = n;
    e->seq = atomic_load_explicit(&io->fq_started, memory_order_acquire);
    fq->count++;
    fq->queued += cma__iova_size(n);
    fq->calls++;
    if (++fq->since_clock < FQ_CLOCK_EVERY)
        return false;
    fq->since_clock = 0;
    return true;
}

/* After an unmap, with no lock held: the time limit of the queues, and the empty-table bound. */
static void after_unmap(struct cma_iommu *io, bool read_clock)
{
    if (read_clock) {
        uint64_t now = io->mm->host.h.now_ns(io->mm->host.h.ctx);
        if (now - atomic_load_explicit(&io->last_flush_ns, memory_order_relaxed) >= io->cfg.fq_timeout_ns) {
            flush_all(io, FLUSH_TIMEOUT);
            return;
        }
    }
    if (atomic_load_explicit(&io->reclaim_wanted, memory_order_relaxed))
        flush_all(io, FLUSH_RECLAIM);
}

/* Ranges between their page-table leaves and their next owner (the strict invalidation runs with no
 * lock held) sit on the domain's transit list, so the checker knows whose they are. The records live
 * on the callers' stacks. Caller holds pt_lock. */
static void transit_add_locked(struct cma_iommu *io, struct cma__transit *t, uint64_t pfn, uint64_t size,
                               bool raw)
{
    t->pfn = pfn;
    t->size = size;
    t->raw = raw;
    t->next = io->transit;
    io->transit = t;
}

static void transit_del_locked(struct cma_iommu *io, struct cma__transit *t)
{
    struct cma__transit **pp = &io->transit;
    while (*pp != t)
        pp = &(*pp)->next;
    *pp = t->next;
}

/* ---- holds ------------------------------------------------------------------------------------------- */

int cma__dma_hold_runs(struct cma_mm *mm, const struct cma__run *runs, size_t nruns)
{
    for (unsigned tries = 0;; tries++) {
        uint32_t pins = 0;
        int r = 0;
        cma__mm_lock(mm);
        for (size_t i = 0; i < nruns && !r; i++)
            r = cma__dma_hold_count_locked(mm, runs[i].pfn, runs[i].n, &pins);
        if (!r && !cma__pins_have_room_locked(mm, pins)) {
            cma__mm_unlock(mm);
            if ((r = cma__pins_make_room(mm, pins)))
                return r;
            continue;
        }
        size_t done = 0;
        for (; !r && done < nruns; done++)
            r = cma__dma_hold_locked(mm, runs[done].pfn, runs[done].n);
        if (r && done) /* the failing run took nothing */
            for (size_t i = 0; i + 1 < done; i++)
                cma__dma_unhold_locked(mm, runs[i].pfn, runs[i].n);
        cma__mm_unlock(mm);
        if (r == -CMA_EAGAIN && tries < HOLD_RETRIES) {
            mm->host.h.relax(mm->host.h.ctx); /* a block in migration: it settles soon */
            continue;
        }
        return r == -CMA_EAGAIN ? -CMA_EBUSY : r;
    }
}

void cma__dma_unhold_runs(struct cma_mm *mm, const struct cma__run *runs, size_t nruns)
{
    cma__mm_lock(mm);
    for (size_t i = 0; i < nruns; i++)
        cma__dma_unhold_locked(mm, runs[i].pfn, runs[i].n);
    cma__mm_unlock(mm);
}

/* ---- mapping and unmapping --------------------------------------------------------------------------
 * Every change a mapping goes through happens in one pt_lock hold: IOVA allocation and leaves on map;
 * leaves and queueing on a lazy unmap. Only a strict invalidation runs outside it (the range is then
 * on the transit list). Tables are made sure of first, for the worst case, so a map never drops the
 * lock halfway: nobody ever sees half a mapping or an IOVA range that belongs to nobody.
 */

/* Largest leaf size class k (leaf at level levels-1-k) for the next step. */
static unsigned pick_class(const struct cma_iommu *io, uint64_t iova_pfn, cma_pfn_t pfn, uint64_t n)
{
    for (unsigned k = io->levels; k-- > 1;) {
        unsigned level = io->levels - 1 - k;
        uint64_t g = 1ull << lvl_gshift(io, level);
        if (leaf_level_ok(io, level) && g <= n && !((iova_pfn | pfn) & (g - 1)))
            return k;
    }
    return 0;
}

/* Tables a mapping of n granules can need at most, wherever it lands (granule leaves assumed). */
static uint64_t tables_bound(const struct cma_iommu *io, uint64_t n)
{
    uint64_t need = 0;
    for (unsigned l = 1; l < io->levels; l++) {
        uint64_t span = 1ull << (io->bits_per_level * (io->levels - l)); /* granules one table covers */
        need += (n + span - 2) / span + 1; /* n granules touch at most this many tables of a level */
    }
    return need;
}

/* Clears the leaves of [from, to) (granule frames), all of which lie in one mapping made by this
 * call, without touching holds: the rollback of a failed map. Caller holds pt_lock. */
static void clear_range_locked(struct cma_iommu *io, uint64_t from, uint64_t to)
{
    while (from < to) {
        struct cma__pt *t;
        uint32_t i;
        unsigned level;
        uint64_t e = leaf_lookup_locked(io, from, &t, &i, &level);
        cma_assert(e);
        unsigned k = io->levels - 1 - level;
        ent_write(io, t, i, 0);
        io->leaves[k < 3 ? k : 2]--;
        io->mapped_granules -= 1ull << lvl_gshift(io, level);
        used_dec(io, t);
        from += 1ull << lvl_gshift(io, level);
    }
}

static uint64_t iova_len_of(uint64_t n, uint64_t flags)
{
    return (flags & PTE_RAW) ? n : cma__iova_size(n);
}

/* A DMA device's live counters follow its mappings. Caller holds pt_lock. */
static void dev_count_locked(struct cma_dev *dev, uint64_t kind, uint64_t n, bool add)
{
    if (!dev)
        return;
    if (kind & PTE_ALLOC) {
        dev->allocs_live += add ? 1 : (uint64_t)-1;
        dev->alloc_pages_live += add ? n : -n;
        dev->alloc_calls += add;
        dev->scattered += add;
    } else {
        dev->maps_live += add ? 1 : (uint64_t)-1;
        dev->map_pages_live += add ? n : -n;
        dev->map_calls += add;
    }
}

/* Writes the leaves of runs at iova_pfn. The caller holds pt_lock and made sure of
 * tables_bound(total) spares, so this never drops the lock. -EEXIST (a live leaf in the way: the range
 * was not exclusively the caller's) leaves nothing behind. */
static int map_runs_locked(struct cma_iommu *io, uint64_t iova_pfn, const struct cma__run *runs,
                           size_t nruns, uint64_t flags, struct cma_dev *dev)
{
    uint64_t cur = iova_pfn, start = PTE_START;
    struct cma__pt *last = NULL; /* the table of the previous leaf, and its level */
    unsigned last_level = 0;
    int r = 0;
    for (size_t ri = 0; ri < nruns && !r; ri++) {
        cma_pfn_t pfn = runs[ri].pfn;
        uint64_t n = runs[ri].n;
        while (n) {
            unsigned k = pick_class(io, cur, pfn, n), level = io->levels - 1 - k;
            uint64_t g = 1ull << lvl_gshift(io, level);
            cma_assert(missing_locked(io, cur, level) <= io->nr_spare);
            /* the next entry of the previous leaf's table needs no walk */
            bool same = last && last_level == level && lvl_index(io, level, cur) != 0;
            struct cma__pt *t = same ? last : walk_create_locked(io, cur, level);
            uint32_t i = t ? lvl_index(io, level, cur) : 0;
            uint64_t e = t ? t->e[i] : PTE_VALID;
            if (e & PTE_TABLE) {
                /* Empty tables kept below where a block goes: unlink them (freed after the next
                 * invalidation) and look again. Anything else here is a live mapping. */
                struct cma__pt *c = child_of(e);
                if (c->nr_used) {
                    unlink_empty_locked(io);
                    last = NULL; /* tables may have gone: walk again */
                    if (t->e[i] & PTE_TABLE) {
                        r = -CMA_EEXIST;
                        break;
                    }
                    continue;
                }
                if (c->on_empty)
                    empty_del(io, c);
                c->parent = NULL;
                c->next = io->dead;
                io->dead = c;
                io->nr_dead++;
                io->nr_tables--;
                ent_write(io, t, i, 0);
                used_dec(io, t);
                e = 0;
            }
            if (e) {
                r = -CMA_EEXIST;
                break;
            }
            ent_write(io, t, i, (pfn << io->gshift) | PTE_VALID | flags | start);
            used_inc(io, t);
            last = t;
            last_level = level;
            start = 0;
            io->leaves[k < 3 ? k : 2]++;
            io->mapped_granules += g;
            cur += g;
            pfn += g;
            n -= g;
        }
    }
    if (r) {
        clear_range_locked(io, iova_pfn, cur);
    } else {
        io->mappings++;
        io->iova_live += iova_len_of(cur - iova_pfn, flags);
        io->map_calls++;
        dev_count_locked(dev, flags, cur - iova_pfn, true);
    }
    tables_note_peak_locked(io);
    return r;
}

int cma__iommu_map_dma(struct cma_iommu *io, const struct cma__run *runs, size_t nruns, uint64_t n,
                       uint64_t limit, uint64_t flags, struct cma_dev *dev, uint64_t *iova_pfnp)
{
    const struct cma_hostx *hx = &io->mm->host;
    unsigned cpu = cma__this_cpu(io->mm);
    bool reclaimed = false;
    int r;
    if (limit > io->end_pfn)
        limit = io->end_pfn;
    cma__lock(hx, &io->pt_lock);
    for (;;) {
        uint64_t ip;
        if ((r = spares_ensure_locked(io, tables_bound(io, n))))
            break;
        r = cma__iova_alloc(&io->iova, n, limit, cpu, &ip);
        if (r == -CMA_EAGAIN) { /* the tree needs nodes: the host is asked with no lock held */
            cma__unlock(hx, &io->pt_lock);
            r = cma__iova_refill(&io->iova);
            cma__lock(hx, &io->pt_lock);
            if (r)
                break;
            continue;
        }
        if (r == -CMA_ENOSPC && !reclaimed) {
            /* Space may wait in flush queues and caches: release both, then look again. */
            cma__unlock(hx, &io->pt_lock);
            if (io->fq)
                flush_all(io, FLUSH_RECLAIM);
            cma__iova_purge(&io->iova);
            reclaimed = true;
            cma__lock(hx, &io->pt_lock);
            continue;
        }
        if (r)
            break;
        if ((r = map_runs_locked(io, ip, runs, nruns, flags, dev)))
            cma__iova_free(&io->iova, ip, n, cpu); /* never mapped: nothing to invalidate */
        else
            *iova_pfnp = ip;
        break;
    }
    struct cma__pt *excess = spares_excess_locked(io);
    cma__unlock(hx, &io->pt_lock);
    pt_delete_list(io, excess);
    return r;
}

/* Measures the mapping that starts at iova_pfn: 0 when it is one of this kind and slot and exactly n
 * granules long, else the error. Caller holds pt_lock. */
static int mapping_measure_locked(const struct cma_iommu *io, uint64_t iova_pfn, uint64_t n,
                                  uint64_t kind, unsigned slot)
{
    struct leaf_pos p;
    if (iova_pfn >= io->end_pfn)
        return -CMA_ENOENT;
    pos_seek(io, &p, iova_pfn);
    if (!p.e || !(p.e & PTE_START) || (iova_pfn & ((1ull << lvl_gshift(io, p.level)) - 1)) ||
        (p.e & (PTE_ALLOC | PTE_RAW)) != kind || leaf_slot(p.e) != slot)
        return -CMA_ENOENT;
    uint64_t end = iova_pfn + n;
    if (end < iova_pfn || end > io->end_pfn)
        return -CMA_EINVAL;
    for (;;) {
        if (!p.e || (p.pfn != iova_pfn && (p.e & PTE_START)))
            return -CMA_EINVAL; /* the mapping is shorter than n */
        uint64_t after = p.pfn + (1ull << lvl_gshift(io, p.level));
        if (after >= end) {
            if (after != end)
                return -CMA_EINVAL; /* n ends inside a block entry */
            break;
        }
        pos_next(io, &p);
    }
    if (end < io->end_pfn) {
        pos_next(io, &p);
        if (p.e && !(p.e & PTE_START))
            return -CMA_EINVAL; /* the mapping goes on past n */
    }
    return 0;
}

/* Clears a measured mapping's leaves and drops the holds of its pages, collecting the page runs into
 * out when not NULL. Caller holds pt_lock (the zone lock is taken inside). */
static size_t clear_mapping_locked(struct cma_iommu *io, uint64_t iova_pfn, uint64_t n, uint64_t kind,
                                   struct cma_dev *dev, struct cma__run *out)
{
    struct cma_mm *mm = io->mm;
    struct cma__run run = {CMA_PFN_NONE, 0};
    size_t nruns = 0;
    struct leaf_pos p;
    cma__mm_lock(mm);
    pos_seek(io, &p, iova_pfn);
    for (uint64_t end = iova_pfn + n;;) {
        uint64_t g = 1ull << lvl_gshift(io, p.level);
        cma_pfn_t pfn = leaf_pfn(io, p.e);
        unsigned k = io->levels - 1 - p.level;
        if (run.n && pfn == run.pfn + run.n) {
            run.n += g;
        } else {
            if (run.n) {
                cma__dma_unhold_locked(mm, run.pfn, run.n);
                if (out)
                    out[nruns++] = run;
            }
            run.pfn = pfn;
            run.n = g;
        }
        ent_write(io, p.t, p.i, 0);
        io->leaves[k < 3 ? k : 2]--;
        io->mapped_granules -= g;
        used_dec(io, p.t);
        if (p.pfn + g >= end)
            break;
        pos_next(io, &p);
    }
    cma__dma_unhold_locked(mm, run.pfn, run.n);
    if (out)
        out[nruns++] = run;
    cma__mm_unlock(mm);
    io->mappings--;
    io->iova_live -= iova_len_of(n, kind);
    io->unmap_calls++;
    dev_count_locked(dev, kind, n, false);
    return nruns;
}

int cma__iommu_unmap_dma(struct cma_iommu *io, uint64_t iova_pfn, uint64_t n, uint64_t kind,
                         struct cma_dev *dev, struct cma__run *out, size_t *nout)
{
    const struct cma_hostx *hx = &io->mm->host;
    unsigned cpu = cma__this_cpu(io->mm);
    struct cma__fq *fq = io->fq ? &io->fq[cpu] : NULL;
    struct cma__transit tr;
    bool clock = false;
    int r;
    cma__lock(hx, &io->pt_lock);
    for (;;) {
        if ((r = mapping_measure_locked(io, iova_pfn, n, kind, dev ? dev->slot : 0))) {
            cma__unlock(hx, &io->pt_lock);
            return r;
        }
        if (!fq)
            break;
        cma__lock(hx, &fq->lock);
        fq_release_locked(io, fq, cpu);
        if (fq->count < io->fq_size)
            break; /* held until the entry is in: the leaves go and the range is queued at once */
        cma__unlock(hx, &fq->lock);
        cma__unlock(hx, &io->pt_lock);
        flush_all(io, FLUSH_FULL);
        cma__lock(hx, &io->pt_lock);
    }
    size_t nr = clear_mapping_locked(io, iova_pfn, n, kind, dev, out);
    if (nout)
        *nout = nr;
    if (fq) {
        clock = fq_append_locked(io, fq, iova_pfn, n);
        cma__unlock(hx, &fq->lock);
    } else {
        transit_add_locked(io, &tr, iova_pfn, cma__iova_size(n), false);
    }
    cma__unlock(hx, &io->pt_lock);
    if (!fq) {
        inv_range(io, iova_pfn << io->gshift, n << io->gshift);
        cma__lock(hx, &io->pt_lock);
        transit_del_locked(io, &tr);
        cma__iova_free(&io->iova, iova_pfn, n, cpu);
        cma__unlock(hx, &io->pt_lock);
    }
    after_unmap(io, clock);
    return 0;
}

/* ---- create / destroy --------------------------------------------------------------------------------- */

void cma_iommu_config_default(struct cma_iommu_config *cfg)
{
    if (!cfg)
        return;
    memset(cfg, 0, sizeof *cfg);
    cfg->size = sizeof *cfg;
    cfg->iova_bits = 48;
    cfg->pgsize_bitmap = (1ull << 12) | (1ull << 21) | (1ull << 30);
    cfg->strict = false;
}

static int config_check(const struct cma_mm *mm, const struct cma_iommu_config *c)
{
    if (c->size != sizeof *c || c->iova_bits < 32 || c->iova_bits > 57 || !c->pgsize_bitmap ||
        c->iotlb_entries > 4096 || c->fq_size > 65536 || (c->name && strlen(c->name) > 31))
        return -CMA_EINVAL;
    unsigned g = cma__ffs64(c->pgsize_bitmap), bpl = g - 3;
    if (g != mm->page_shift)
        return -CMA_EINVAL;
    uint64_t allowed = 0;
    for (unsigned s = g; s < c->iova_bits && s < 64; s += bpl)
        allowed |= 1ull << s;
    return (c->pgsize_bitmap & ~allowed) ? -CMA_EINVAL : 0;
}

static void iommu_free(struct cma_iommu *io)
{
    struct cma_hostx *hx = &io->mm->host;
    while (io->spare)
        pt_delete(io, spare_take_locked(io));
    if (io->root)
        pt_delete(io, io->root);
    cma__iova_fini(&io->iova);
    if (io->fq) {
        for (unsigned c = 0; c < io->mm->nr_cpus; c++) {
            cma__host_free(hx, io->fq[c].ring, io->fq_size * sizeof *io->fq[c].ring);
            cma__lock_fini(hx, &io->fq[c].lock);
        }
        cma__host_free(hx, io->fq, io->mm->nr_cpus * sizeof *io->fq);
    }
    cma__host_free(hx, io->iotlb, io->cfg.iotlb_entries * sizeof *io->iotlb);
    cma__lock_fini(hx, &io->pt_lock);
    cma__lock_fini(hx, &io->iotlb_lock);
    cma__host_free(hx, io, sizeof *io);
}

int cma_iommu_create(struct cma_mm *mm, const struct cma_iommu_config *cfg, struct cma_iommu **iop)
{
    if (iop)
        *iop = NULL;
    if (!mm || !cfg || !iop)
        return -CMA_EINVAL;
    int r = config_check(mm, cfg);
    if (r)
        return r;
    if (!mm->online)
        return -CMA_EPERM;
    struct cma_hostx *hx = &mm->host;
    struct cma_iommu *io = cma__host_alloc(hx, sizeof *io);
    if (!io)
        return -CMA_ENOMEM;
    io->mm = mm;
    io->cfg = *cfg;
    io->cfg.name = io->name;
    if (!io->cfg.fq_size)
        io->cfg.fq_size = FQ_DEFAULT_SIZE;
    if (!io->cfg.fq_timeout_ns)
        io->cfg.fq_timeout_ns = FQ_DEFAULT_TIMEOUT_NS;
    io->gshift = mm->page_shift;
    io->bits_per_level = io->gshift - 3;
    io->levels = (cfg->iova_bits - io->gshift + io->bits_per_level - 1) / io->bits_per_level;
    io->pgsizes = cfg->pgsize_bitmap;
    io->end_pfn = 1ull << (cfg->iova_bits - io->gshift);
    io->fq_size = io->cfg.fq_size;
    io->slots[0] = 1; /* slot 0: cma_iommu_map */
    if ((r = cma__lock_init(hx, &io->pt_lock)) || (r = cma__lock_init(hx, &io->iotlb_lock)))
        goto fail_free;
    if ((r = cma__iova_init(&io->iova, hx, mm->nr_cpus, io->end_pfn)))
        goto fail;
    r = -CMA_ENOMEM;
    if (!(io->root = pt_new(io)))
        goto fail;
    io->nr_tables = 1;
    io->pt_alloced = 1;
    io->pt_peak = 1;
    if (!cfg->strict) {
        if (!(io->fq = cma__host_alloc(hx, mm->nr_cpus * sizeof *io->fq)))
            goto fail;
        for (unsigned c = 0; c < mm->nr_cpus; c++) {
            io->fq[c].ring = cma__host_alloc(hx, io->fq_size * sizeof *io->fq[c].ring);
            if (!io->fq[c].ring || cma__lock_init(hx, &io->fq[c].lock))
                goto fail;
        }
    }
    if (cfg->iotlb_entries && !(io->iotlb = cma__host_alloc(hx, cfg->iotlb_entries * sizeof *io->iotlb)))
        goto fail;
    atomic_store_explicit(&io->last_flush_ns, hx->h.now_ns(hx->h.ctx), memory_order_relaxed);

    cma__lock(hx, &mm->dma_lock);
    if (cfg->name && cfg->name[0])
        cma__format(io->name, sizeof io->name, "%s", cfg->name);
    else
        cma__format(io->name, sizeof io->name, "iommu%u", mm->nr_iommus);
    io->next = mm->iommus;
    mm->iommus = io;
    mm->nr_iommus++;
    cma__unlock(hx, &mm->dma_lock);
    *iop = io;
    return 0;
fail:
    iommu_free(io);
    return r;
fail_free:
    cma__host_free(hx, io, sizeof *io);
    return r;
}

int cma_iommu_destroy(struct cma_iommu *io)
{
    if (!io)
        return -CMA_EINVAL;
    struct cma_mm *mm = io->mm;
    cma__lock(&mm->host, &mm->dma_lock);
    cma__lock(&mm->host, &io->pt_lock);
    bool busy = io->nr_devs || io->mappings;
    cma__unlock(&mm->host, &io->pt_lock);
    if (!busy) {
        struct cma_iommu **pp = &mm->iommus;
        while (*pp != io)
            pp = &(*pp)->next;
        *pp = io->next;
        mm->nr_iommus--;
    }
    cma__unlock(&mm->host, &mm->dma_lock);
    if (busy)
        return -CMA_EBUSY;
    flush_all(io, FLUSH_CALL); /* queued IOVAs released, every (now empty) table unlinked and freed */
    cma_assert(io->nr_tables == 1 && !io->nr_dead);
    iommu_free(io);
    return 0;
}

/* ---- the raw API ------------------------------------------------------------------------------------- */

int cma_iommu_map(struct cma_iommu *io, cma_iova_t iova, cma_phys_t phys, uint64_t size, unsigned prot)
{
    if (!io || !size || !prot || (prot & ~(CMA_IOMMU_READ | CMA_IOMMU_WRITE)))
        return -CMA_EINVAL;
    uint64_t gmask = (1ull << io->gshift) - 1;
    if ((iova | phys | size) & gmask)
        return -CMA_EINVAL;
    uint64_t ip = iova >> io->gshift, n = size >> io->gshift;
    if (ip == 0 || ip + n < ip || ip + n > io->end_pfn)
        return -CMA_EINVAL;
    struct cma__run run = {phys >> io->gshift, n};
    int r = cma__dma_hold_runs(io->mm, &run, 1);
    if (r)
        return r;
    uint64_t flags = PTE_RAW | ((prot & CMA_IOMMU_READ) ? PTE_READ : 0) | ((prot & CMA_IOMMU_WRITE) ? PTE_WRITE : 0);
    cma__lock(&io->mm->host, &io->pt_lock);
    while (!(r = spares_ensure_locked(io, tables_bound(io, n))) &&
           (r = cma__iova_reserve(&io->iova, ip, ip + n, IOVA_RAW)) == -CMA_EAGAIN) {
        cma__unlock(&io->mm->host, &io->pt_lock); /* tree nodes from the host, no lock held */
        r = cma__iova_refill(&io->iova);
        cma__lock(&io->mm->host, &io->pt_lock);
        if (r)
            break;
    }
    if (!r && (r = map_runs_locked(io, ip, &run, 1, flags, NULL)))
        (void)cma__iova_release(&io->iova, ip, ip + n, IOVA_RAW);
    struct cma__pt *excess = spares_excess_locked(io);
    cma__unlock(&io->mm->host, &io->pt_lock);
    pt_delete_list(io, excess);
    if (r)
        cma__dma_unhold_runs(io->mm, &run, 1);
    return r;
}

int cma_iommu_unmap(struct cma_iommu *io, cma_iova_t iova, uint64_t size)
{
    if (!io || !size || ((iova | size) & ((1ull << io->gshift) - 1)))
        return -CMA_EINVAL;
    const struct cma_hostx *hx = &io->mm->host;
    uint64_t ip = iova >> io->gshift, n = size >> io->gshift;
    struct cma__transit tr;
    cma__lock(hx, &io->pt_lock);
    int r = mapping_measure_locked(io, ip, n, PTE_RAW, 0);
    if (!r) {
        clear_mapping_locked(io, ip, n, PTE_RAW, NULL, NULL);
        transit_add_locked(io, &tr, ip, n, true);
    }
    cma__unlock(hx, &io->pt_lock);
    if (r)
        return r;
    inv_range(io, iova, size); /* raw unmaps are strict */
    cma__lock(hx, &io->pt_lock);
    transit_del_locked(io, &tr);
    r = cma__iova_release(&io->iova, ip, ip + n, IOVA_RAW);
    cma__unlock(hx, &io->pt_lock);
    cma_assert(r == 0);
    after_unmap(io, false);
    return 0;
}

/* The walk: output address of iova, its leaf's shift. */
static int translate_locked(const struct cma_iommu *io, cma_iova_t iova, cma_phys_t *physp, unsigned *shiftp)
{
    struct cma__pt *t;
    uint32_t i;
    unsigned level;
    uint64_t ip = iova >> io->gshift;
    if (ip >= io->end_pfn)
        return -CMA_ENOENT;
    uint64_t e = leaf_lookup_locked(io, ip, &t, &i, &level);
    if (!e)
        return -CMA_ENOENT;
    unsigned shift = io->gshift + lvl_gshift(io, level);
    *physp = (e & PTE_ADDR_MASK) + (iova & ((1ull << shift) - 1));
    if (shiftp)
        *shiftp = shift;
    return 0;
}

int cma_iommu_translate(struct cma_iommu *io, cma_iova_t iova, cma_phys_t *physp)
{
    if (!io || !physp)
        return -CMA_EINVAL;
    cma__lock(&io->mm->host, &io->pt_lock);
    int r = translate_locked(io, iova, physp, NULL);
    cma__unlock(&io->mm->host, &io->pt_lock);
    return r;
}

int cma_iommu_access(struct cma_iommu *io, cma_iova_t iova, cma_phys_t *physp)
{
    if (!io || !physp)
        return -CMA_EINVAL;
    cma_phys_t truth = 0;
    unsigned shift = 0;
    cma__lock(&io->mm->host, &io->pt_lock);
    int walk = translate_locked(io, iova, &truth, &shift);
    cma__unlock(&io->mm->host, &io->pt_lock);
    if (!io->iotlb) {
        if (!walk)
            *physp = truth;
        return walk;
    }
    int r = walk;
    cma__lock(&io->mm->host, &io->iotlb_lock);
    struct cma__iotlb_entry *hit = NULL;
    for (unsigned k = 0; k < io->cfg.iotlb_entries && !hit; k++) {
        struct cma__iotlb_entry *x = &io->iotlb[k];
        if (x->valid && (iova >> x->shift) == (x->iova >> x->shift))
            hit = x;
    }
    if (hit) {
        *physp = hit->phys + (iova & ((1ull << hit->shift) - 1));
        io->iotlb_hits++;
        if (walk || *physp != truth)
            io->iotlb_stale++;
        r = 0;
    } else {
        io->iotlb_misses++;
        if (!walk) {
            struct cma__iotlb_entry *x = &io->iotlb[io->iotlb_next];
            io->iotlb_next = (io->iotlb_next + 1) % io->cfg.iotlb_entries;
            x->iova = iova & ~((1ull << shift) - 1);
            x->phys = truth & ~((1ull << shift) - 1);
            x->shift = (uint8_t)shift;
            x->valid = true;
            *physp = truth;
        }
    }
    cma__unlock(&io->mm->host, &io->iotlb_lock);
    return r;
}

int cma_iommu_flush(struct cma_iommu *io)
{
    if (!io)
        return -CMA_EINVAL;
    flush_all(io, FLUSH_CALL);
    return 0;
}

/* ---- statistics ----------------------------------------------------------------------------------------- */

int cma_iommu_get_stats(const struct cma_iommu *cio, struct cma_iommu_stats *st)
{
    struct cma_iommu *io = (struct cma_iommu *)cio; /* locks are mutable state */
    if (!io || !st)
        return -CMA_EINVAL;
    memset(st, 0, sizeof *st);
    const struct cma_hostx *hx = &io->mm->host;
    uint64_t g = 1ull << io->gshift, free_g, largest_g;
    st->name = io->name;
    st->granule = g;
    st->aperture = io->end_pfn << io->gshift;
    uint64_t cached, queued = 0, calls = 0;
    cma__lock(hx, &io->pt_lock); /* the lock order: pt, queues, iova */
    for (unsigned c = 0; io->fq && c < io->mm->nr_cpus; c++) {
        cma__lock(hx, &io->fq[c].lock);
        queued += io->fq[c].queued;
        calls += io->fq[c].calls;
        cma__unlock(hx, &io->fq[c].lock);
    }
    cma__iova_lock_all(&io->iova);
    cma__iova_space_locked(&io->iova, &free_g, &largest_g);
    st->iova_ranges = io->iova.nr_nodes - 2;
    cma__iova_counters_locked(&io->iova, &cached, &st->iova_cache_hits, &st->iova_cache_misses,
                              &st->iova_alloc_fail);
    cma__iova_unlock_all(&io->iova);
    st->iova_free_bytes = free_g * g;
    st->iova_largest_free = largest_g * g;
    st->mappings = io->mappings;
    st->mapped_bytes = io->mapped_granules * g;
    for (unsigned k = 0; k < 3; k++)
        st->leaves[k] = io->leaves[k];
    st->iova_live_bytes = io->iova_live * g;
    st->pt_pages = io->nr_tables + io->nr_spare + io->nr_dead;
    st->pt_pages_empty = io->nr_empty;
    st->pt_pages_spare = io->nr_spare;
    st->pt_pages_peak = io->pt_peak;
    st->map_calls = io->map_calls;
    st->unmap_calls = io->unmap_calls;
    cma__unlock(hx, &io->pt_lock);
    st->iova_cached_bytes = cached * g;
    st->iova_queued_bytes = queued * g;
    st->fq_queued = calls;
    st->inv_range = atomic_load_explicit(&io->inv_range, memory_order_relaxed);
    st->inv_all = atomic_load_explicit(&io->inv_all, memory_order_relaxed);
    st->fq_full_flushes = atomic_load_explicit(&io->fq_full, memory_order_relaxed);
    st->fq_timeout_flushes = atomic_load_explicit(&io->fq_timeout, memory_order_relaxed);
    cma__lock(hx, &io->iotlb_lock);
    st->iotlb_hits = io->iotlb_hits;
    st->iotlb_misses = io->iotlb_misses;
    st->iotlb_stale_hits = io->iotlb_stale;
    cma__unlock(hx, &io->iotlb_lock);
    return 0;
}

/* ---- checker ------------------------------------------------------------------------------------------
 * Run by cma_mm_check with every lock of the machine held (dma.c takes them in order). The page table
 * is walked in IOVA order, leaves are grouped into mappings at PTE_START, and every IOVA range must be
 * claimed exactly once: by a live mapping, a cache (iova.c) or a flush queue.
 */
void cma__iommu_lock_all(struct cma_iommu *io)
{
    const struct cma_hostx *hx = &io->mm->host;
    cma__lock(hx, &io->pt_lock);
    for (unsigned c = 0; io->fq && c < io->mm->nr_cpus; c++)
        cma__lock(hx, &io->fq[c].lock);
    cma__iova_lock_all(&io->iova);
    cma__lock(hx, &io->iotlb_lock);
}

void cma__iommu_unlock_all(struct cma_iommu *io)
{
    const struct cma_hostx *hx = &io->mm->host;
    cma__unlock(hx, &io->iotlb_lock);
    cma__iova_unlock_all(&io->iova);
    for (unsigned c = io->mm->nr_cpus; io->fq && c-- > 0;)
        cma__unlock(hx, &io->fq[c].lock);
    cma__unlock(hx, &io->pt_lock);
}

struct pt_check {
    struct cma_iommu *io;
    char *why;
    size_t len;
    uint32_t gen;
    uint64_t tables, empty, leaves[3], granules, mappings, iova_live;
    bool open;                 /* a mapping is being collected */
    uint64_t m_start, m_end, m_tag;
};

#define CFAIL(c, ...) (cma__format((c)->why, (c)->len, __VA_ARGS__), -CMA_EFAULT)
#define TAG_MASK (PTE_READ | PTE_WRITE | PTE_ALLOC | PTE_RAW | (0xfffull << PTE_SLOT_SHIFT))

static struct cma_dev *dev_of_slot(const struct cma_iommu *io, unsigned slot)
{
    for (struct cma_dev *d = io->mm->devs; d; d = d->next)
        if (d->io == io && d->slot == slot)
            return d;
    return NULL;
}

/* A mapping [m_start, m_end) is complete: it must own its IOVA range and its device. */
static int mapping_close(struct pt_check *c)
{
    struct cma_iommu *io = c->io;
    if (!c->open)
        return 0;
    c->open = false;
    c->mappings++;
    uint64_t n = c->m_end - c->m_start;
    unsigned slot = leaf_slot(c->m_tag);
    struct cma__iova_node *node = (struct cma__iova_node *)cma__iova_find_locked(&io->iova, c->m_start);
    if (c->m_tag & PTE_RAW) {
        if (slot || !node || node->kind != IOVA_RAW || node->lo != c->m_start || node->end != c->m_end ||
            (node->mark | 1) == (c->gen | 1))
            return CFAIL(c, "D3: raw mapping [0x%llx, 0x%llx) does not own exactly its IOVA range",
                         (unsigned long long)c->m_start, (unsigned long long)c->m_end);
        node->mark = c->gen;
        c->iova_live += n;
        return 0;
    }
    int r = cma__iova_claim_locked(&io->iova, c->m_start, cma__iova_size(n), c->gen, c->why, c->len);
    if (r)
        return r;
    c->iova_live += cma__iova_size(n);
    struct cma_dev *d = slot ? dev_of_slot(io, slot) : NULL;
    if (!d)
        return CFAIL(c, "D8: mapping at IOVA frame 0x%llx belongs to no attached device (slot %u)",
                     (unsigned long long)c->m_start, slot);
    if ((c->m_end << io->gshift) - 1 > d->limit)
        return CFAIL(c, "D8: mapping at IOVA frame 0x%llx ends above device %s's limit",
                     (unsigned long long)c->m_start, d->name);
    if (c->m_tag & PTE_ALLOC) {
        d->chk_allocs++;
        d->chk_alloc_pages += n;
    } else {
        d->chk_maps++;
        d->chk_map_pages += n;
    }
    return 0;
}

static int check_leaf(struct pt_check *c, unsigned level, uint64_t iova, uint64_t e)
{
    struct cma_iommu *io = c->io;
    uint64_t g = 1ull << lvl_gshift(io, level);
    unsigned k = io->levels - 1 - level;
    cma_pfn_t pfn = leaf_pfn(io, e);
    if (!leaf_level_ok(io, level) || (pfn & (g - 1)))
        return CFAIL(c, "D1: leaf at IOVA frame 0x%llx: size not allowed or output 0x%llx misaligned",
                     (unsigned long long)iova, (unsigned long long)pfn);
    int r = cma__dma_held_locked(io->mm, pfn, g);
    if (r)
        return CFAIL(c, "D1: leaf at IOVA frame 0x%llx maps pfn 0x%llx (+%llu) that is %s",
                     (unsigned long long)iova, (unsigned long long)pfn, (unsigned long long)g,
                     r == -CMA_EBUSY ? "not pinned" : "not memory in use");
    if (e & PTE_START) {
        if ((r = mapping_close(c)))
            return r;
        c->open = true;
        c->m_start = iova;
        c->m_end = iova;
        c->m_tag = e & TAG_MASK;
    } else if (!c->open || iova != c->m_end || (e & TAG_MASK) != c->m_tag) {
        return CFAIL(c, "D7: leaf at IOVA frame 0x%llx continues no mapping", (unsigned long long)iova);
    }
    c->m_end += g;
    c->leaves[k < 3 ? k : 2]++;
    c->granules += g;
    return 0;
}

static int check_table(struct pt_check *c, struct cma__pt *t, uint64_t base)
{
    struct cma_iommu *io = c->io;
    struct cma_mm *mm = io->mm;
    uint32_t idx = cma__pfn_idx(mm, t->pfn), used = 0;
    c->tables++;
    if (idx == CMA_IDX_NIL || cma__page_state(cma__page(mm, idx)) != PS_ALLOC || cma__page(mm, idx)->order)
        return CFAIL(c, "D10: table page 0x%llx is not an allocated page", (unsigned long long)t->pfn);
    for (uint32_t i = 0; i < nent(io); i++) {
        uint64_t e = t->e[i];
        if (t->hw && t->hw[i] != hw_encode(io, e, t->level))
            return CFAIL(c, "D1: table page 0x%llx entry %u differs from its mirror",
                         (unsigned long long)t->pfn, i);
        if (!e)
            continue;
        used++;
        uint64_t iova = base + ((uint64_t)i << lvl_gshift(io, t->level));
        int r;
        if (e & PTE_TABLE) {
            struct cma__pt *ch = child_of(e);
            if (t->level + 1u >= io->levels || ch->parent != t || ch->pidx != i || ch->level != t->level + 1)
                return CFAIL(c, "D6: table below IOVA frame 0x%llx is badly linked", (unsigned long long)iova);
            r = check_table(c, ch, iova);
        } else {
            r = check_leaf(c, t->level, iova, e);
        }
        if (r)
            return r;
    }
    if (used != t->nr_used)
        return CFAIL(c, "D6: table page 0x%llx has %u entries, nr_used says %u", (unsigned long long)t->pfn,
                     used, t->nr_used);
    if (t != io->root && (used == 0) != t->on_empty)
        return CFAIL(c, "D6: table page 0x%llx: empty %d but on the empty list %d",
                     (unsigned long long)t->pfn, used == 0, t->on_empty);
    c->empty += t->on_empty;
    return 0;
}

static int sweep_node(void *arg, struct cma__iova_node *n)
{
    struct pt_check *c = arg;
    if (n->kind != IOVA_RESERVED && (n->mark | 1) != (c->gen | 1))
        return CFAIL(c, "D3: IOVA range [0x%llx, 0x%llx) is neither mapped, cached nor queued",
                     (unsigned long long)n->lo, (unsigned long long)n->end);
    return 0;
}

static int check_lists(struct pt_check *c)
{
    struct cma_iommu *io = c->io;
    uint64_t n = 0;
    for (const struct cma__pt *t = io->empty; t; t = t->next)
        if (++n > io->nr_empty || !t->on_empty || t->nr_used)
            return CFAIL(c, "D6: the empty list is longer than %llu or holds a used table",
                         (unsigned long long)io->nr_empty);
    n = 0;
    for (const struct cma__pt *t = io->spare; t; t = t->next) {
        if (++n > io->nr_spare || t->nr_used)
            return CFAIL(c, "D5: the spare list is longer than %llu or holds a used table",
                         (unsigned long long)io->nr_spare);
        for (uint32_t i = 0; i < nent(io); i++)
            if (t->e[i] || (t->hw && t->hw[i]))
                return CFAIL(c, "D5: spare table page 0x%llx is not clear", (unsigned long long)t->pfn);
    }
    if (n != io->nr_spare || c->empty != io->nr_empty || c->tables != io->nr_tables ||
        io->pt_alloced - io->pt_freed != io->nr_tables + io->nr_spare + io->nr_dead)
        return CFAIL(c, "D10: tables %llu linked (%llu counted), %llu empty (%llu), %llu spare (%llu), %llu "
                     "dead; %llu taken - %llu given back", (unsigned long long)c->tables,
                     (unsigned long long)io->nr_tables, (unsigned long long)c->empty,
                     (unsigned long long)io->nr_empty, (unsigned long long)n, (unsigned long long)io->nr_spare,
                     (unsigned long long)io->nr_dead, (unsigned long long)io->pt_alloced,
                     (unsigned long long)io->pt_freed);
    return 0;
}

/* Stale IOTLB entries may remain only for ranges whose invalidation has not run yet: waiting in a
 * flush queue (lazy) or on the transit list (a strict unmap between clearing and invalidating). */
static int check_iotlb(struct pt_check *c)
{
    struct cma_iommu *io = c->io;
    for (unsigned k = 0; io->iotlb && k < io->cfg.iotlb_entries; k++) {
        const struct cma__iotlb_entry *x = &io->iotlb[k];
        cma_phys_t now;
        unsigned shift;
        if (!x->valid || (!translate_locked(io, x->iova, &now, &shift) && now == x->phys && shift == x->shift))
            continue;
        const struct cma__iova_node *n = cma__iova_find_locked(&io->iova, x->iova >> io->gshift);
        if (!n || n->mark != (c->gen | 1))
            return CFAIL(c, "D4: stale IOTLB entry for IOVA 0x%llx outside every queued range",
                         (unsigned long long)x->iova);
    }
    return 0;
}

int cma__iommu_check_locked(struct cma_iommu *io, char *why, size_t len)
{
    struct pt_check c = {.io = io, .why = why, .len = len};
    io->check_gen += 2;
    c.gen = io->check_gen;
    for (struct cma_dev *d = io->mm->devs; d; d = d->next)
        d->chk_allocs = d->chk_maps = d->chk_alloc_pages = d->chk_map_pages = 0;
    int r = cma__iova_check_locked(&io->iova, c.gen, why, len);
    if (r)
        return r;
    for (unsigned cpu = 0; io->fq && cpu < io->mm->nr_cpus; cpu++) {
        const struct cma__fq *fq = &io->fq[cpu];
        uint64_t queued = 0;
        for (uint32_t k = 0; k < fq->count; k++) {
            const struct cma__fq_entry *e = &fq->ring[(fq->head + k) % io->fq_size];
            if ((r = cma__iova_claim_locked(&io->iova, e->pfn, cma__iova_size(e->n), c.gen | 1, why, len)))
                return r;
            queued += cma__iova_size(e->n);
        }
        if (queued != fq->queued)
            return CFAIL(&c, "D10: CPU %u's flush queue holds %llu granules, its counter says %llu", cpu,
                         (unsigned long long)queued, (unsigned long long)fq->queued);
    }
    for (struct cma__transit *t = io->transit; t; t = t->next) {
        struct cma__iova_node *node = (struct cma__iova_node *)cma__iova_find_locked(&io->iova, t->pfn);
        if (t->raw && node && node->kind == IOVA_RAW && node->lo == t->pfn && node->end == t->pfn + t->size)
            node->mark = c.gen | 1;
        else if (t->raw || (r = cma__iova_claim_locked(&io->iova, t->pfn, t->size, c.gen | 1, why, len)))
            return r ? r : CFAIL(&c, "D3: raw range 0x%llx in transit is no raw range", (unsigned long long)t->pfn);
    }
    if ((r = check_table(&c, io->root, 0)) || (r = mapping_close(&c)) || (r = check_lists(&c)))
        return r;
    if (c.mappings != io->mappings || c.granules != io->mapped_granules || c.iova_live != io->iova_live ||
        c.leaves[0] != io->leaves[0] || c.leaves[1] != io->leaves[1] || c.leaves[2] != io->leaves[2])
        return CFAIL(&c, "D10: %llu mappings of %llu granules (%llu IOVA) found, counters say %llu of %llu "
                     "(%llu)", (unsigned long long)c.mappings, (unsigned long long)c.granules,
                     (unsigned long long)c.iova_live, (unsigned long long)io->mappings,
                     (unsigned long long)io->mapped_granules, (unsigned long long)io->iova_live);
    if ((r = cma__iova_walk_locked(&io->iova, sweep_node, &c)) || (r = check_iotlb(&c)))
        return r;
    for (const struct cma_dev *d = io->mm->devs; d; d = d->next)
        if (d->io == io && (d->chk_allocs != d->allocs_live || d->chk_maps != d->maps_live ||
                            d->chk_alloc_pages != d->alloc_pages_live || d->chk_map_pages != d->map_pages_live))
            return CFAIL(&c, "D11: device %s: %llu buffers and %llu mappings in the table, counters say "
                         "%llu and %llu", d->name, (unsigned long long)d->chk_allocs,
                         (unsigned long long)d->chk_maps, (unsigned long long)d->allocs_live,
                         (unsigned long long)d->maps_live);
    return 0;
}
