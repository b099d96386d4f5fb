/* SPDX-License-Identifier: MIT */
/*
 * cma/mm.h - one machine's physical memory: configuration, boot-time regions (memblock), onlining,
 * and the buddy page allocator.
 *
 * Lifecycle: cma_mm_config_default() -> adjust -> cma_mm_create() -> cma_memblock_add()/reserve()/
 * alloc() (and CMA area declarations) -> cma_mm_online() -> cma_alloc_pages()/cma_free_pages()...
 * -> free everything -> cma_mm_destroy().
 *
 * Included by <cma/cma.h>.
 */
#ifndef CMA_MM_H
#define CMA_MM_H

#include <cma/base.h>

#ifdef __cplusplus
extern "C" {
#endif

struct cma_mm;

/* How page contents are held. */
enum cma_backing {
    CMA_BACKING_NONE = 0, /* metadata only: no bytes behind pages (simulate machines of any size) */
    CMA_BACKING_HOST = 1, /* memory stands behind every physical address; migration copies bytes */
};

/* Migrate types, stored per pageblock. Values and order are Linux's. */
enum cma_migratetype {
    CMA_MIGRATE_UNMOVABLE = 0,
    CMA_MIGRATE_MOVABLE = 1,
    CMA_MIGRATE_RECLAIMABLE = 2,
    CMA_MIGRATE_HIGHATOMIC = 3,
    CMA_MIGRATE_CMA = 4,
    CMA_MIGRATE_ISOLATE = 5,
    CMA_MIGRATE_TYPES = 6
};
/* Types with per-CPU cache lists and that may change label (Linux's MIGRATE_PCPTYPES). */
#define CMA_MIGRATE_PCPTYPES 3

/* Allocation flags: exactly one mobility class, optionally | CMA_GFP_ZERO. */
#define CMA_GFP_UNMOVABLE 0x0u
#define CMA_GFP_MOVABLE 0x1u
#define CMA_GFP_RECLAIMABLE 0x2u
#define CMA_GFP_ZERO 0x100u      /* zero-fill the block (backed mode; ignored when metadata only) */
#define CMA_GFP_MOBILITY_MASK 0x3u

/* Limits of the configuration. */
#define CMA_PAGE_SHIFT_MIN 12
#define CMA_PAGE_SHIFT_MAX 16
#define CMA_MAX_ORDER_LIMIT 20   /* largest accepted max_order */
#define CMA_MAX_CPUS 256
#define CMA_PCP_MAX_ORDER 3      /* orders 0..3 are cached per CPU (Linux's PAGE_ALLOC_COSTLY_ORDER) */
/* One memory map entry is 12 bytes; at most 2^32 - 2 pages per machine (16 TiB of 4 KiB pages). */
#define CMA_MAX_PAGES 0xfffffffeull

struct cma_mm_config {
    uint32_t size;              /* sizeof(struct cma_mm_config); set by cma_mm_config_default() */
    unsigned page_shift;        /* 12..16; default 12 (4 KiB pages) */
    unsigned max_order;         /* largest buddy order, inclusive; default 10 */
    unsigned pageblock_order;   /* default 9; must be <= max_order */
    unsigned nr_cpus;           /* per-CPU caches; default 4, 1..CMA_MAX_CPUS */
    enum cma_backing backing;   /* default CMA_BACKING_NONE */
    void *mem;                  /* optional caller memory backing [mem_phys, mem_phys + mem_size) */
    uint64_t mem_size;
    cma_phys_t mem_phys;
    unsigned cma_first_percent; /* movable allocations prefer CMA when free CMA > this % of free; 50 */
    unsigned pcp_batch;         /* per-CPU refill batch in pages; 0 = derived as Linux does */
    unsigned pcp_high;          /* per-CPU cache high mark in pages; 0 = derived (4 x batch) */
    bool memblock_bottom_up;    /* memblock allocations bottom-up instead of Linux's top-down */
    const struct cma_host *host;/* NULL: built-in host (POSIX; freestanding: see base.h) */
};

/** Fills cfg with the defaults listed above. */
void cma_mm_config_default(struct cma_mm_config *cfg);

/**
 * cma_mm_create - create an empty machine (no memory yet).
 * Errors: -EINVAL for a bad configuration (page_shift outside 12..16, pageblock_order > max_order,
 * max_order > CMA_MAX_ORDER_LIMIT, nr_cpus 0 or > CMA_MAX_CPUS, cma_first_percent > 100, backing
 * memory without CMA_BACKING_HOST; host hooks given by halves, a host size too small, or, in a
 * freestanding build, no memory hooks), -ENOMEM when the host cannot supply memory.
 */
CMA_NODISCARD int cma_mm_create(const struct cma_mm_config *cfg, struct cma_mm **mmp);

/**
 * cma_mm_destroy - free the machine. Drains the per-CPU caches first.
 * Errors: -EBUSY while any page is still allocated or an IOMMU domain or DMA device (dma.h) still
 * exists (nothing is freed then), -EINVAL for NULL.
 */
int cma_mm_destroy(struct cma_mm *mm);

/* ---- memblock: boot-time regions, before cma_mm_online() ---------------------------------------
 * Regions are byte ranges kept sorted and merged when adjacent (as Linux memblock does). Unlike Linux,
 * overlapping requests are refused instead of merged silently. After cma_mm_online() every memblock
 * call returns -EPERM (the boot phase is over).
 */

/** Adds [base, base+size) as memory. -EINVAL size 0 or overflow, -EEXIST overlaps memory. */
int cma_memblock_add(struct cma_mm *mm, cma_phys_t base, uint64_t size);
/** Removes [base, base+size) from memory. -ENOENT unless the range is entirely memory,
 *  -EBUSY if part of it is reserved. */
int cma_memblock_remove(struct cma_mm *mm, cma_phys_t base, uint64_t size);
/** Reserves [base, base+size). -EINVAL unless entirely inside memory, -EBUSY overlaps a reservation. */
int cma_memblock_reserve(struct cma_mm *mm, cma_phys_t base, uint64_t size);
/** Releases a reservation exactly covering part of reserved space. -ENOENT if not all reserved. */
int cma_memblock_free(struct cma_mm *mm, cma_phys_t base, uint64_t size);
/** Allocates and reserves size bytes aligned to align (0: one page; else a power of two), anywhere
 *  (top-down by default). -EINVAL bad size/align, -ENOMEM no room. */
int cma_memblock_alloc(struct cma_mm *mm, uint64_t size, uint64_t align, cma_phys_t *basep);
/** As cma_memblock_alloc, restricted to [start, end) (end 0: no limit). */
int cma_memblock_alloc_range(struct cma_mm *mm, uint64_t size, uint64_t align, cma_phys_t start,
                             cma_phys_t end, cma_phys_t *basep);
/** Selects bottom-up (true) or top-down (false, default) placement for later allocations. */
int cma_memblock_set_bottom_up(struct cma_mm *mm, bool bottom_up);
/** True if any byte of [base, base+size) is reserved. */
bool cma_memblock_is_reserved(const struct cma_mm *mm, cma_phys_t base, uint64_t size);

/** Visits memory (reserved == false) or reserved (true) regions in address order; stops at the
 *  first non-zero return of fn and returns it. */
int cma_memblock_foreach(const struct cma_mm *mm, bool reserved,
                         int (*fn)(void *arg, cma_phys_t base, uint64_t size), void *arg);

/**
 * cma_mm_online - end the boot phase: build the memory map (partial pages at region edges are
 * dropped, reserved bytes round out to whole pages), the pageblock array (every pageblock starts
 * MOVABLE, CMA areas' pageblocks become CMA), and free every unreserved page into the buddy allocator
 * in the largest naturally aligned blocks. -EPERM if already online, -ENOENT with no memory,
 * -EINVAL when the layout exceeds the limits (CMA_MAX_PAGES, caller backing memory too small),
 * -ENOMEM when the host cannot supply the metadata.
 */
int cma_mm_online(struct cma_mm *mm);

/** Page size in bytes (1 << page_shift); 0 for a NULL mm. */
uint64_t cma_mm_page_size(const struct cma_mm *mm);
/** Largest buddy order in force (inclusive); 0 for a NULL mm. */
unsigned cma_mm_max_order(const struct cma_mm *mm);
/** Pageblock order in force (a pageblock is 2^order pages); 0 for a NULL mm. */
unsigned cma_mm_pageblock_order(const struct cma_mm *mm);
/** Number of per-CPU caches (cfg.nr_cpus); 0 for a NULL mm. */
unsigned cma_mm_nr_cpus(const struct cma_mm *mm);

/* ---- buddy page allocator (after online) ------------------------------------------------------- */

/**
 * cma_alloc_pages - allocate a naturally aligned block of 2^order pages.
 * gfp: one of CMA_GFP_UNMOVABLE/MOVABLE/RECLAIMABLE, optionally | CMA_GFP_ZERO.
 * Orders 0..3 are served from the calling CPU's cache when possible.
 * Errors: -EINVAL bad order or gfp, -EPERM not online, -ENOMEM no block (after draining caches).
 */
CMA_NODISCARD int cma_alloc_pages(struct cma_mm *mm, unsigned order, unsigned gfp, cma_pfn_t *pfnp);

/**
 * cma_free_pages - free a block returned by cma_alloc_pages with the same order.
 * Errors (nothing changes): -EINVAL pfn outside memory, in a hole, unaligned for order, order above
 * max_order, or the wrong order for a live block; -EFAULT the block is already free, reserved, or
 * not a buddy allocation (a contiguous range); -EBUSY the page is referenced, pinned or migrating.
 */
int cma_free_pages(struct cma_mm *mm, cma_pfn_t pfn, unsigned order);

/** Pointer to the contents of pfn in backed mode; NULL when metadata only or pfn is not memory. */
void *cma_pfn_to_virt(const struct cma_mm *mm, cma_pfn_t pfn);
/** Physical address of the first byte of frame pfn (pfn << page_shift; pfn need not be memory);
 *  0 for a NULL mm. */
cma_phys_t cma_pfn_to_phys(const struct cma_mm *mm, cma_pfn_t pfn);
/** Frame number containing physical address phys (phys >> page_shift); CMA_PFN_NONE for a NULL mm. */
cma_pfn_t cma_phys_to_pfn(const struct cma_mm *mm, cma_phys_t phys);

/** Returns every page held in every CPU's cache to the buddy allocator. */
int cma_drain_cpu_caches(struct cma_mm *mm);
/** Returns the pages held in one CPU's cache. -EINVAL for cpu >= nr_cpus. */
int cma_drain_cpu_cache(struct cma_mm *mm, unsigned cpu);

/** Migrate type of the pageblock containing pfn (ISOLATE if isolated), or -EINVAL. */
int cma_pageblock_type(const struct cma_mm *mm, cma_pfn_t pfn);

#ifdef __cplusplus
}
#endif
#endif /* CMA_MM_H */
