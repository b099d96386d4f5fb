/* SPDX-License-Identifier: MIT */
/*
 * internal/types.h - every internal data structure of libcma, with the invariants each one keeps.
 *
 * Glossary
 *   page        one physical frame of 2^page_shift bytes, named by its pfn (physical address >> shift).
 *   span        a maximal run of present pages (a merged memblock memory region, trimmed to pages).
 *               Spans are sorted and never adjacent; between them lie holes. Buddies never merge
 *               across a span edge.
 *   memmap      one 12-byte struct cma_page per present page, spans laid end to end: the page at
 *               pfn lives at memmap[span.idx + (pfn - span.base)]. Free-list links are memmap indices.
 *   block       2^order pages starting at a pfn aligned to 2^order. Only a block's first page (its
 *               head) carries state; the other pages (tails) are all-zero descriptors.
 *   pageblock   2^pageblock_order aligned pages sharing one migrate-type label (1 byte each, global
 *               array indexed by (pfn >> pageblock_order) - pb_first).
 *   free_area   per order, one list per migrate type of free block heads (the buddy lists).
 *   pcp         per-CPU cache of free blocks of orders 0..CMA_PCP_MAX_ORDER in front of the zone lock.
 *
 * Locking
 *   mm->lock (the "zone lock") protects free_area, the buddy counters, pageblock labels (writes),
 *   the descriptors of blocks in the buddy, and the owner fields of allocated pages.
 *   pcp->lock protects that cache's lists, counters and the descriptors of the blocks it holds.
 *   Lock order: pcp->lock before mm->lock (a refill or trim holds both). page->flags is atomic: the
 *   cache free path moves a block from allocated to cached with a check-and-store under its cache
 *   lock; marking blocks PF_MIGRATING holds every cache lock and mm->lock, so the two exclude each
 *   other; other flag updates are atomic read-modify-writes under mm->lock.
 */
#ifndef CMA_INTERNAL_TYPES_H
#define CMA_INTERNAL_TYPES_H

#ifdef CMA_TEST_API_ONLY
#error "API tests include only <cma/cma.h>"
#endif

#include <cma/cma.h>
#include <stdatomic.h>

/* ---- locks --------------------------------------------------------------------------------------
 * Built-in: a test-and-test-and-set spinlock calling host.relax while contended. A host that supplies
 * lock hooks gets `word` instead and spin stays unused. The same struct serves both classes: the
 * spinning one (cma__lock) and the sleeping one (cma__mutex_lock, each area's allocation lock).
 */
struct cma_lock {
    atomic_uint spin;
    uintptr_t word;
};

/* ---- memory map entry (12 bytes) ----------------------------------------------------------------
 * flags = state (PS_*, bits 0..2) | PF_* bits. A tail page is all zero. Field use by state:
 *   PS_BUDDY   lo/hi = next/prev memmap index on free_area[order].lists[type]; order = block order
 *   PS_PCP     lo/hi = next/prev on a pcp list; order = block order
 *   PS_ALLOC   order = block order; ops = movable-ops slot (0 none); lo|hi<<32 = owner cookie;
 *              refs = short-term references
 *   PS_CONTIG  one piece of a contiguous allocation (alloc_contig_range / cma_alloc), order = piece
 *   PS_RESERVED a page reserved at boot (every such page carries the state; order 0)
 *   PS_CLAIMED one piece of a contiguous range being built (contig.c): a free block taken at
 *              isolation or a migrated source; order = piece. Lives only inside isolated pageblocks,
 *              between isolation and the take (or the unclaim of a failed attempt).
 */
struct cma_page {
    uint32_t lo;
    uint32_t hi;
    _Atomic uint8_t flags;
    uint8_t order;        /* written only under mm->lock (pcp transitions keep it) */
    _Atomic uint8_t ops;  /* atomic: cleared by the lock-free free path, read by pageblock walks */
    _Atomic uint8_t refs;
};
_Static_assert(sizeof(struct cma_page) == 12, "the memory map entry must stay 12 bytes");

enum cma_page_state {
    PS_TAIL = 0,
    PS_BUDDY = 1,
    PS_PCP = 2,
    PS_ALLOC = 3,
    PS_CONTIG = 4,
    PS_RESERVED = 5,
    PS_CLAIMED = 6,
};
#define PS_MASK 0x07u
#define PF_CLEAN 0x08u     /* owner says contents are clean (droppable with a discard op) */
#define PF_MIGRATING 0x10u /* isolated for migration: neither freeable nor re-isolatable */
#define PF_PINNED 0x20u    /* long-term pinned */
#define PF_REFD 0x40u      /* refs > 0 */

#define CMA_IDX_NIL UINT32_MAX

/* ---- pageblock label byte -----------------------------------------------------------------------
 * bits 0..2 the stored migrate type (kept while isolated), bit 3 isolated, bit 7 no present page.
 */
#define PB_TYPE_MASK 0x07u
#define PB_ISOLATE 0x08u
#define PB_HOLE 0x80u

/* ---- spans --------------------------------------------------------------------------------------- */
struct cma_span {
    cma_pfn_t base;   /* first pfn */
    uint64_t npages;  /* > 0 */
    uint32_t idx;     /* memmap index of base; spans[i+1].idx == spans[i].idx + spans[i].npages */
    uint8_t *virt;    /* backed mode: contents of base; NULL when metadata only */
};

/* ---- buddy lists --------------------------------------------------------------------------------
 * Invariants (checked by check.c):
 *   lists[t].nr == length of lists[t];  nr_free == sum over t of lists[t].nr
 *   mm->nr_free_buddy[t] == sum over orders o of lists[t].nr << o
 *   every head on lists[t] of free_area[o] is PS_BUDDY, order o, aligned to 2^o, and its pageblock's
 *   effective type (ISOLATE when isolated) is t.
 */
struct cma_freelist {
    uint32_t head;
    uint32_t tail;
    uint64_t nr; /* blocks */
};

struct cma_free_area {
    struct cma_freelist lists[CMA_MIGRATE_TYPES];
    uint64_t nr_free; /* blocks of this order, all types (Linux's free_area.nr_free) */
};

/* ---- per-CPU caches -----------------------------------------------------------------------------
 * Lists by order (0..CMA_PCP_MAX_ORDER) and pcp type (UNMOVABLE, MOVABLE, RECLAIMABLE; CMA and
 * HIGHATOMIC pages are cached on MOVABLE). Head = most recently freed (hot). count == sum of
 * list.nr << order. Pages of an isolated pageblock are never cached: free reads the pageblock label
 * under pcp->lock, and isolation drains every pcp after setting the label.
 */
struct cma_pcplist {
    uint32_t head;
    uint32_t tail;
    uint32_t nr;
};

struct cma_pcp {
    struct cma_lock lock;
    uint32_t count; /* pages held */
    struct cma_pcplist lists[CMA_PCP_MAX_ORDER + 1][CMA_MIGRATE_PCPTYPES];
    /* event counters of calls served here (summed into the stats) */
    uint64_t pgalloc, pgfree, pgalloc_pages, pgfree_pages;
    uint64_t refills, drains;
    /* Local mode (hostx.local_caches): the owning CPU's exclusive callers use the cache without the
     * lock, inside `local`; anyone else counts itself in `remote` first and waits for local == 0
     * (pcp.c explains the handshake). */
    atomic_uint local;
    atomic_uint remote;
} __attribute__((aligned(64)));

/* ---- memblock ------------------------------------------------------------------------------------
 * Sorted, non-overlapping, non-adjacent byte ranges. reserved is always inside memory.
 */
struct cma_mb_region {
    cma_phys_t base;
    uint64_t size;
};

struct cma_mb_type {
    struct cma_mb_region *regions;
    size_t cnt;
    size_t max;       /* capacity; grows by doubling from 128 */
    uint64_t total;   /* sum of sizes */
};

struct cma_hostx; /* the resolved host (see host.h) */

struct cma_memblock {
    struct cma_mb_type memory;
    struct cma_mb_type reserved;
    bool bottom_up;
    bool grow_apart; /* arrays grow only through cma__memblock_grow_* (a machine, around its lock) */
    const struct cma_hostx *host;
};

/* Growing the region arrays in steps around a lock (memblock.c). */
struct cma_mb_grow {
    struct cma_mb_region *regions[2]; /* memory, reserved: the new arrays; after the swap, the old */
    size_t max[2];                    /* their capacities; 0 = that array is not grown */
};

/* The host with its hooks resolved (host.c). Never NULL: alloc/free, now_ns, relax, copy. NULL when
 * the default is inline or nothing: log and logv (discard), cpu_id and cpu_id_ex (the default CPU),
 * cpu_barrier, the spinning lock hooks (custom_locks false: libcma's spinlocks), the mutex hooks
 * (the spinning class instead). */
struct cma_hostx {
    struct cma_host h;
    bool plain;          /* default_cpu_id, libcma's spinlocks, no local mode: the fast paths' case */
    bool custom_locks;   /* the spinning class is the host's */
    bool default_cpu_id; /* neither cpu_id hook: the built-in CPU (a per-thread slot read inline) */
    bool local_caches;   /* cpu_id_ex and cpu_barrier: CPU-exclusive callers own their cache */
    bool default_copy;   /* h.copy is libcma's (the batch copy prefetches the next source) */
};

/* ---- long-term pins ------------------------------------------------------------------------------
 * Pin counts live in a small open-addressed hash keyed by memmap index, so the memory map entry stays
 * 12 bytes; PF_PINNED on the head says an entry exists. Protected by mm->lock.
 */
struct cma_pin_slot {
    uint32_t idx;   /* CMA_IDX_NIL = empty */
    uint32_t count;
};

struct cma_pins {
    struct cma_pin_slot *slots; /* linear probing, backward-shift deletion (no tombstones) */
    uint32_t cap;   /* power of two or 0 */
    uint32_t used;
};

/* ---- CMA areas -----------------------------------------------------------------------------------
 * One range of pageblock-aligned pages, labelled CMA at online. bitmap bit b covers pages
 * [base_pfn + (b << order_per_bit), +2^order_per_bit); a set bit = allocated by cma_alloc.
 * Invariant: available == count - pages of set bits (each bit counts 2^order_per_bit pages, except
 * allocations whose count is not a multiple, see cma.c), and every page of a set bit's allocation
 * is PS_CONTIG. lock protects bitmap, available and the counters; alloc_lock serialises the
 * expensive range work of this area (windows of one area may share a pageblock).
 */
struct cma_area {
    struct cma_mm *mm;
    char name[CMA_AREA_NAME_MAX + 1];
    cma_pfn_t base_pfn;
    uint64_t count;          /* pages */
    unsigned order_per_bit;
    uint64_t nbits;
    uint64_t *bitmap;
    uint64_t available;      /* pages */
    enum cma_policy policy;
    bool discard;
    struct cma_lock lock;
    struct cma_lock alloc_lock; /* the sleeping class */
    _Atomic(cma_pfn_t *) busy; /* scratch of cma_alloc (cma.c, BUSY_MAX entries), under alloc_lock */
    /* counters (under lock) */
    uint64_t alloc_pages_success, alloc_pages_fail, release_pages_success;
    uint64_t alloc_calls_success, alloc_calls_fail;
    uint64_t retries, pages_migrated, pages_discarded, latency_ns_total;
    uint64_t latency_hist[CMA_LATENCY_BUCKETS];
};

/* ---- the machine ---------------------------------------------------------------------------------
 * Counter invariants: nr_managed == sum of free (buddy + pcp) + allocated pages;
 * nr_pages == nr_managed + nr_reserved.
 */
struct cma_mm {
    struct cma_mm_config cfg;
    struct cma_hostx host;
    unsigned page_shift, max_order, pb_order, nr_cpus;
    uint64_t page_size;
    bool online;

    struct cma_lock lock; /* zone lock */
    struct cma_memblock mb;

    /* memory map, fixed at online */
    struct cma_span *spans;
    unsigned nspans;
    struct cma_page *memmap;
    uint64_t nr_pages;
    _Atomic uint8_t *pageblocks;
    uint64_t pb_first;      /* pageblock number (pfn >> pb_order) of pageblocks[0] */
    uint64_t nr_pageblocks; /* entries, holes included */
    void *backing;          /* backed mode: what libcma allocated for contents (NULL if caller's) */
    uint64_t backing_size;

    /* buddy */
    struct cma_free_area free_area[CMA_MAX_ORDER_LIMIT + 1];
    uint64_t nr_free_buddy[CMA_MIGRATE_TYPES]; /* pages on buddy lists, per list type */
    uint64_t pb_count[CMA_MIGRATE_TYPES];      /* pageblocks per effective label (holes excluded) */
    uint64_t nr_managed, nr_reserved;

    /* per-CPU caches */
    struct cma_pcp *pcp;
    uint32_t pcp_batch, pcp_high;

    /* counters under mm->lock (pcp ones live in struct cma_pcp) */
    uint64_t pgalloc, pgfree, pgalloc_pages, pgfree_pages, alloc_fail;
    _Atomic uint64_t bad_frees; /* counted on the error paths, lock-free */
    uint64_t fallbacks, pageblocks_claimed, pages_stolen;
    uint64_t pgmigrate_success, pgmigrate_fail, pgdiscard;

    uint64_t metadata_bytes;

    /* movable ops tables (slot 0 = not movable) and pins, under mm->lock */
    const struct cma_movable_ops *ops_table[CMA_MAX_MOVABLE_OPS + 1];
    unsigned nr_ops;
    struct cma_pins pins;

    /* CMA areas, fixed after online */
    struct cma_area *areas[CMA_MAX_AREAS];
    unsigned nr_areas;

    /* DMA layer (internal/dma.h): the registry of IOMMU domains and devices, under dma_lock */
    struct cma_lock dma_lock;
    struct cma_iommu *iommus;
    struct cma_dev *devs;
    unsigned nr_iommus, nr_devs;
};

#endif /* CMA_INTERNAL_TYPES_H */
