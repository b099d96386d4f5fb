/* SPDX-License-Identifier: MIT */
/*
 * internal/dma.h - the data structures of the IOMMU and DMA layer (iova.c, iommu.c, dma.c) with the
 * invariants each keeps, and the functions those files share. Included by internal.h.
 *
 * Glossary
 *   granule     the IO page table's smallest page size, equal to the machine's page size, so one
 *               granule frame ("iova pfn") maps one page. IOVA arithmetic is done in granule frames.
 *   domain      one struct cma_iommu: IO address space = IOVA allocator + page table + flush queues.
 *   mapping     one live run of page-table leaves made by one call (cma_dma_alloc, cma_dma_map_pages or
 *               cma_iommu_map). Its first leaf carries PTE_START, so the table itself records where
 *               each mapping begins and ends; no side table is needed to check an unmap's size.
 *
 * Locking (order: left before right, never the reverse)
 *   mm->dma_lock → pt_lock → fq[cpu].lock → iova cpu cache lock → iova depot_lock → iova tree lock
 *                → iotlb lock → dev->lock → mm->lock (zone)
 *   mm->dma_lock   the registry: lists of domains and devices, device slots. Taken alone by create and
 *                  destroy, and first by the checker and the dump (which then take every lock below).
 *   pt_lock        the page table: entries, table descriptors, nr_used, the empty / spare / dead
 *                  lists, the transit list, the leaf and mapping counters; and every change of a DMA
 *                  range's owner (allocated and mapped, unmapped and queued) happens under it, so the
 *                  checker never sees a range that belongs to nobody. Unmaps drop DMA holds under it
 *                  (zone lock nested).
 *   iova locks     see struct cma__iova.
 *   fq[cpu].lock   one CPU's flush-queue ring.
 *   iotlb.lock     the software IOTLB model.
 *   dev->lock      a direct device's record table and counters, every device's failure counters (an
 *                  IOMMU device's live counters move with its mappings, under its domain's pt_lock).
 * No libcma lock is held while host hooks, IOMMU hardware hooks, cma_alloc_pages / cma_free_pages or
 * cma_alloc / cma_release run: page tables, tree nodes and record tables are taken from the host or
 * the machine before a lock is taken, in retry loops where needed.
 */
#ifndef CMA_INTERNAL_DMA_H
#define CMA_INTERNAL_DMA_H

#include <cma/dma.h>

/* ---- IOVA allocator (iova.c) ---------------------------------------------------------------------
 * Allocated ranges [lo, end) of granule frames live in a treap ordered by lo. Each node also knows the
 * free gap below it, [gap_lo, lo) (gap_lo = the predecessor's end), and the largest such gap in its
 * subtree, so the highest free size-aligned place below a limit is found in O(depth) instead of a
 * walk over the ranges. Two permanent nodes bound the space: [0, 1) (IOVA 0 is never handed out) and
 * an anchor [end_pfn, end_pfn) above the aperture, so every free gap is some node's gap.
 *
 * Per-CPU range caches: ranges of 1, 2, 4, ..., 32 granules are freed into the caller's CPU cache
 * (a loaded and a previous magazine per size) and allocated from it without the tree lock; full
 * magazines go to a bounded depot. Cached ranges stay in the tree (they are allocated as far as the
 * tree is concerned), so the cache can hand one out without touching the tree; when the tree has no
 * room, every cache is emptied into it and the search is retried once.
 *
 * Invariants (checker D2, D3, D9): nodes ordered and disjoint, inside [0, end_pfn]; gap_lo and
 * max_gap exact; a DMA node of n granules is aligned to next_pow2(n); every cached entry is a DMA
 * node of exactly its bin's size, at most once over all magazines; cached == sum of cached sizes.
 * Locks: cpu[c].lock protects that CPU's magazines; depot_lock the depot; lock (the tree lock) the
 * treap, the node pool and nr_nodes. Order cpu → depot → tree.
 */
#define CMA_IOVA_BINS 6          /* cached sizes 1 .. 32 granules */
#define CMA_IOVA_MAG_SIZE 64     /* ranges per magazine */
#define CMA_IOVA_DEPOT_MAGS 16   /* full magazines the depot keeps per bin */

enum cma__iova_kind { IOVA_RESERVED = 0, IOVA_DMA = 1, IOVA_RAW = 2 };

struct cma__iova_node {
    uint64_t lo, end;         /* granule frames [lo, end) */
    uint64_t gap_lo;          /* free frames [gap_lo, lo) lie below this node */
    uint64_t max_gap;         /* largest lo - gap_lo in this subtree */
    struct cma__iova_node *l, *r;
    uint32_t prio;
    uint32_t mark;            /* checker generation (claimed once per check) */
    uint8_t kind;
};

struct cma__iova_mag {
    uint32_t n;
    uint64_t pfn[CMA_IOVA_MAG_SIZE];
};

struct cma__iova_cpu {
    struct cma_lock lock;
    struct cma__iova_mag *loaded[CMA_IOVA_BINS];
    struct cma__iova_mag *prev[CMA_IOVA_BINS];
    uint64_t cached;          /* granules in this CPU's magazines */
    uint64_t hits, misses;    /* cacheable requests served here / sent to the tree */
    /* no alignment attribute: host memory is only guaranteed 16-byte alignment in practice (calloc),
     * and a misaligned over-aligned type is undefined behaviour */
};

struct cma__iova {
    const struct cma_hostx *host;
    struct cma_lock lock;               /* tree lock */
    struct cma__iova_node *root;
    uint64_t end_pfn;                   /* aperture end (exclusive), in granules */
    uint64_t nr_nodes;                  /* permanent nodes included */
    struct cma__iova_node *pool;        /* spare nodes, linked through r */
    void *chunks;                       /* node chunks taken from the host, for fini */
    uint32_t rng;                       /* treap priorities */
    struct cma_lock depot_lock;
    struct cma__iova_mag *full[CMA_IOVA_BINS][CMA_IOVA_DEPOT_MAGS];
    struct cma__iova_mag *empty[CMA_IOVA_BINS][CMA_IOVA_DEPOT_MAGS];
    unsigned nfull[CMA_IOVA_BINS], nempty[CMA_IOVA_BINS];
    uint64_t depot_cached;              /* granules in full depot magazines (depot_lock) */
    struct cma__iova_cpu *cpu;
    unsigned ncpus;
    void *mags;                         /* every magazine, one host allocation */
    size_t mags_bytes;
    uint64_t fails;                     /* tree searches that found no room (tree lock) */
};

/* Granules a request of n granules occupies: cached sizes round up to a power of two. */
static inline uint64_t cma__iova_size(uint64_t n)
{
    if (n <= (1u << (CMA_IOVA_BINS - 1)))
        return n <= 1 ? 1 : 1ull << (64 - __builtin_clzll(n - 1));
    return n;
}

int cma__iova_init(struct cma__iova *iv, const struct cma_hostx *host, unsigned ncpus, uint64_t end_pfn);
void cma__iova_fini(struct cma__iova *iv);
/* A DMA range of cma__iova_size(n) granules aligned to next_pow2(n), ending at or below limit
 * (exclusive frame), the highest that fits: from cpu's cache, else the tree. -ENOSPC when nothing
 * fits (caches not yet purged: the caller flushes its queues, purges and retries); -EAGAIN when the
 * tree needs a node and its pool is empty: call cma__iova_refill with no lock held and retry. */
int cma__iova_alloc(struct cma__iova *iv, uint64_t n, uint64_t limit, unsigned cpu, uint64_t *pfnp);
/* Refills the tree's node pool from the host. No lock held. -ENOMEM. */
int cma__iova_refill(struct cma__iova *iv);
/* Returns a DMA range allocated with n (to cpu's cache when cacheable); free_many returns several in
 * one lock hold per place they go to. */
void cma__iova_free(struct cma__iova *iv, uint64_t pfn, uint64_t n, unsigned cpu);
struct cma__iova_range {
    uint64_t pfn, n;
};
void cma__iova_free_many(struct cma__iova *iv, const struct cma__iova_range *r, unsigned nr, unsigned cpu);
/* Empties every CPU cache and the depot into the tree. */
void cma__iova_purge(struct cma__iova *iv);
/* Exact ranges of cma_iommu_map: -EEXIST overlap, -EAGAIN as cma__iova_alloc; release: -ENOENT /
 * -EINVAL size. */
int cma__iova_reserve(struct cma__iova *iv, uint64_t lo, uint64_t end, enum cma__iova_kind kind);
int cma__iova_release(struct cma__iova *iv, uint64_t lo, uint64_t end, enum cma__iova_kind kind);
/* Node containing pfn, or NULL. Caller holds the tree lock. */
const struct cma__iova_node *cma__iova_find_locked(const struct cma__iova *iv, uint64_t pfn);
/* For the checker: marks the DMA range starting at pfn of `size` granules with gen (each check uses
 * an even generation g: g for mapped or cached ranges, g | 1 for queued ones); -EFAULT when there is
 * no such range or this check claimed it already. */
int cma__iova_claim_locked(struct cma__iova *iv, uint64_t pfn, uint64_t size, uint32_t gen, char *why,
                           size_t len);
/* Free granules and the largest free gap. Caller holds the tree lock. */
void cma__iova_space_locked(const struct cma__iova *iv, uint64_t *freep, uint64_t *largestp);
/* Granules cached, cache hits and misses, failed tree searches. Caller holds every iova lock. */
void cma__iova_counters_locked(const struct cma__iova *iv, uint64_t *cached, uint64_t *hits,
                               uint64_t *misses, uint64_t *fails);
void cma__iova_lock_all(struct cma__iova *iv);
void cma__iova_unlock_all(struct cma__iova *iv);
/* Checker part: tree shape, augmentation, alignment; cached entries claimed once (marks nodes with
 * gen). Caller holds every iova lock. Returns 0 or -EFAULT with why filled. */
int cma__iova_check_locked(struct cma__iova *iv, uint32_t gen, char *why, size_t len);
/* In-order walk of the nodes; stops at the first non-zero return. Caller holds the tree lock. */
int cma__iova_walk_locked(struct cma__iova *iv, int (*fn)(void *arg, struct cma__iova_node *n), void *arg);

/* ---- IO page table, flush queues, IOTLB model (iommu.c) ------------------------------------------
 * A table is one page of the machine (order 0, unmovable, zeroed) plus its mirror: the entries the
 * library walks, in host memory, whose table entries point straight at the child mirror. In backed
 * machines the page itself holds the same table in a hardware-like format (child and output addresses
 * physical), written in step with the mirror, so a device model could walk real memory.
 *
 * Mirror entry: 0 = empty. Table: child pointer | PTE_VALID | PTE_TABLE. Leaf: output address |
 * PTE_VALID | PTE_READ/PTE_WRITE | PTE_START on a mapping's first leaf | PTE_ALLOC (cma_dma_alloc) or
 * PTE_RAW (cma_iommu_map) | device slot << PTE_SLOT_SHIFT.
 *
 * Invariants (checker D1, D5, D6, D7, D10): nr_used == non-empty entries; parent/pidx point back; a
 * non-root table with nr_used 0 is on the empty list (kept until the next flush or the bound) and every
 * table on it is empty; dead tables are freed only after an invalidation that began after they were
 * unlinked; the table pages counted == tables linked + spare; every leaf is aligned to its size in
 * IOVA and output address and maps pages in use, held (pinned) when they are page-allocator blocks.
 */
#define PTE_VALID 0x1ull
#define PTE_TABLE 0x2ull
#define PTE_READ 0x4ull
#define PTE_WRITE 0x8ull
#define PTE_START 0x10ull
#define PTE_ALLOC 0x20ull
#define PTE_RAW 0x40ull
#define PTE_SLOT_SHIFT 52
#define PTE_SLOT_MAX 4095u
#define PTE_ADDR_MASK 0x000ffffffffff000ull

struct cma__pt {
    cma_pfn_t pfn;            /* the machine page holding this table */
    uint64_t *hw;             /* backed machines: the page's bytes, else NULL */
    struct cma__pt *parent;   /* NULL for the root */
    struct cma__pt *next, *prev; /* empty list (next also links spare and dead tables) */
    uint32_t pidx;            /* index of the entry in parent pointing here */
    uint32_t nr_used;         /* non-empty entries */
    uint8_t level;            /* 0 = root */
    bool on_empty;
    uint64_t e[];             /* mirror entries */
};

struct cma__fq_entry {
    uint64_t pfn, n;          /* IOVA range as allocated: first frame, granules requested */
    uint64_t seq;             /* flushes started when queued */
};

struct cma__fq {
    struct cma_lock lock;
    uint32_t head, count;     /* ring of fq_size entries */
    uint32_t since_clock;     /* unmaps since the clock was last read */
    struct cma__fq_entry *ring;
    uint64_t queued;          /* granules in the ring (as allocated) */
    uint64_t calls;           /* unmaps that went through this ring */
};

/* A range between its page-table leaves and its next owner: see iommu.c. */
struct cma__transit {
    uint64_t pfn, size;       /* granules as allocated */
    bool raw;
    struct cma__transit *next;
};

struct cma__iotlb_entry {
    uint64_t iova, phys;      /* leaf bases */
    uint8_t shift;            /* leaf size */
    bool valid;
};

#define CMA_PT_EMPTY_MAX 64   /* empty tables kept linked before a reclaim */
#define CMA_PT_SPARE_MAX 8    /* unlinked tables kept for the next maps */

struct cma_iommu {
    struct cma_mm *mm;
    char name[32];
    struct cma_iommu_config cfg;
    struct cma_iommu *next;   /* registry */
    unsigned gshift;          /* granule shift */
    unsigned bits_per_level, levels;
    uint64_t pgsizes;         /* pgsize_bitmap, validated */
    uint64_t end_pfn;         /* aperture in granules */
    unsigned nr_devs;         /* attached devices (registry lock) */
    uint64_t slots[(PTE_SLOT_MAX + 1) / 64]; /* device slots in use; slot 0 = cma_iommu_map */

    struct cma__iova iova;

    struct cma_lock pt_lock;
    struct cma__pt *root;
    struct cma__pt *empty;    /* empty tables still linked (doubly linked) */
    struct cma__pt *spare;    /* unlinked, empty, ready */
    struct cma__pt *dead;     /* unlinked, waiting for an invalidation */
    struct cma__transit *transit; /* unmapped ranges being invalidated (strict), see iommu.c */
    uint64_t nr_empty, nr_spare, nr_tables; /* nr_tables: linked, root included */
    uint64_t nr_dead;         /* unlinked and not yet freed or spare (dead list, or being freed) */
    uint64_t pt_alloced, pt_freed, pt_peak;
    _Atomic bool reclaim_wanted; /* more than CMA_PT_EMPTY_MAX tables wait */
    uint64_t mappings, mapped_granules, leaves[3];
    uint64_t iova_live;       /* granules of ranges backing live mappings */
    uint64_t map_calls, unmap_calls;

    struct cma__fq *fq;       /* lazy: one ring per CPU */
    uint32_t fq_size;
    _Atomic uint64_t fq_started, fq_finished;
    _Atomic uint64_t last_flush_ns;
    _Atomic uint64_t inv_range, inv_all, fq_full, fq_timeout;

    struct cma_lock iotlb_lock;
    struct cma__iotlb_entry *iotlb;
    unsigned iotlb_next;
    uint64_t iotlb_hits, iotlb_misses, iotlb_stale;

    uint32_t check_gen;
};

/* A run of pages mapped at consecutive granules (phys contiguous). */
struct cma__run {
    cma_pfn_t pfn;
    uint64_t n;
};

/* DMA holds on runs of pages (see migrate.c), taken in one zone-lock hold; the pin table is grown
 * first with no lock held. A block being migrated is waited for (relax) and, if it does not settle,
 * refused with -EBUSY. No lock held. */
int cma__dma_hold_runs(struct cma_mm *mm, const struct cma__run *runs, size_t nruns);
void cma__dma_unhold_runs(struct cma_mm *mm, const struct cma__run *runs, size_t nruns);

/* A DMA mapping of dev (flags: PTE_READ/PTE_WRITE, PTE_ALLOC for cma_dma_alloc, slot bits): an
 * IOVA range for n granules below limit (exclusive frame), reclaiming queued and cached ranges before
 * giving up (-ENOSPC), and the runs' leaves there, in one pt_lock hold; dev's live counters move with
 * it. The holds are the caller's. -ENOMEM (tables) leaves nothing. No lock held on entry. */
int cma__iommu_map_dma(struct cma_iommu *io, const struct cma__run *runs, size_t nruns, uint64_t n,
                       uint64_t limit, uint64_t flags, struct cma_dev *dev, uint64_t *iova_pfnp);
/* Removes the mapping of dev and kind (0 or PTE_ALLOC) that starts at iova_pfn and is exactly n
 * granules long: leaves cleared and page holds dropped, then the IOVA queued (lazy) or invalidated and
 * freed (strict). The page runs go to out when not NULL (room for n runs). -ENOENT: no mapping of that
 * device and kind starts there; -EINVAL: it is not n granules long (nothing changes). No lock held. */
int cma__iommu_unmap_dma(struct cma_iommu *io, uint64_t iova_pfn, uint64_t n, uint64_t kind,
                         struct cma_dev *dev, struct cma__run *out, size_t *nout);
void cma__iommu_lock_all(struct cma_iommu *io);
void cma__iommu_unlock_all(struct cma_iommu *io);
/* Checker part for one domain (every lock of it and of the machine held). */
int cma__iommu_check_locked(struct cma_iommu *io, char *why, size_t len);

/* ---- devices (dma.c) -----------------------------------------------------------------------------
 * A direct device records its live buffers and mappings in an open-addressed table keyed by device
 * address (linear probing, backward-shift deletion); identical direct mappings share one record with a
 * count. An IOMMU device needs no table: its mappings are the page table's PTE_START runs tagged with
 * its slot.
 * Invariants (checker D8, D11): every record lies below the device limit and covers pages in use (held
 * when page-allocator blocks); live counters == records / mapping runs of the device.
 */
enum cma__rec_kind { REC_FREE = 0, REC_MAP = 1, REC_AREA = 2, REC_BUDDY = 3 };

struct cma__dma_rec {
    cma_iova_t dma;           /* device (= physical) address */
    uint64_t n;               /* pages */
    uint32_t count;           /* identical mappings */
    uint8_t kind;
    uint8_t order;            /* REC_BUDDY: the block's order */
};

struct cma_dev {
    struct cma_mm *mm;
    char name[32];
    unsigned dma_bits;
    uint64_t limit;           /* highest device address */
    struct cma_iommu *io;
    unsigned slot;            /* in io (1..PTE_SLOT_MAX) */
    struct cma_area *area;    /* own area, else the default one, or NULL */
    bool own_area;
    struct cma_dev *next;     /* registry */

    struct cma_lock lock;     /* recs, nrecs, the counters below */
    struct cma__dma_rec *recs;
    uint32_t cap, nrecs;
    uint64_t allocs_live, alloc_pages_live, maps_live, map_pages_live;
    uint64_t alloc_calls, alloc_fail, map_calls, map_fail;
    uint64_t from_area, from_buddy, scattered, bad_calls;
    uint64_t chk_allocs, chk_maps, chk_alloc_pages, chk_map_pages; /* checker scratch */
};

/* The whole DMA layer for the checker: takes / releases every lock of it, registry first (then the
 * caller takes the machine's). check_locked runs the D invariants with all of them held. */
void cma__dma_lock_all(struct cma_mm *mm);
void cma__dma_unlock_all(struct cma_mm *mm);
int cma__dma_check_locked(struct cma_mm *mm, char *why, size_t len);
/* Registry lock life cycle (cma_mm_create / destroy). */
int cma__dma_init(struct cma_mm *mm);
void cma__dma_fini(struct cma_mm *mm);

#endif /* CMA_INTERNAL_DMA_H */
