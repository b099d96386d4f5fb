/* SPDX-License-Identifier: MIT */
/*
 * cma/dma.h - IOMMU domains and the DMA API: two ways to give a device contiguous addresses.
 *
 * A device either addresses physical memory directly (then a buffer it uses as one range must be
 * physically contiguous: a CMA area or a buddy block), or sits behind an IOMMU, which maps scattered
 * pages at contiguous device (IO-virtual) addresses. The DMA API below picks the way per device, so a
 * driver written against it does not care which one it got.
 *
 *   struct cma_iommu  one IO address space: an IOVA allocator (size-aligned ranges, top-down below the
 *                     device's limit, per-CPU range caches), a 4-level radix IO page table whose table
 *                     pages are real pages of the machine (unmovable, zeroed: they show in its
 *                     counters), and IOTLB invalidation, strict or lazy (per-CPU flush queues).
 *   struct cma_dev    a DMA-capable device: an addressing limit (dma_bits), optionally an IOMMU,
 *                     optionally its own CMA area.
 *
 * Every page behind a live mapping is held: a page-allocator block is long-term pinned (migration,
 * discard and cma_free_pages refuse it, -EBUSY), contiguous and reserved memory is never moved.
 *
 * Errors, as everywhere: -EINVAL bad argument, or a size / page count that does not match the live
 * mapping (the mapping is kept); -ENOENT nothing mapped or allocated at that device address;
 * -EFAULT a page to map is free or not a live allocation; -ENOSPC IOVA space exhausted (after every
 * cached and flush-queued range was reclaimed); -ENOMEM no memory for the buffer or for page tables;
 * -EEXIST an IOVA range already mapped; -EBUSY destroy while users are live; -EPERM the machine is
 * not online. A call that fails leaves no partial mapping behind.
 *
 * Included by <cma/cma.h>.
 */
#ifndef CMA_DMA_H
#define CMA_DMA_H

#include <cma/contig.h>

#ifdef __cplusplus
extern "C" {
#endif

struct cma_iommu;
struct cma_dev;

/* Device permissions of a cma_iommu_map mapping (the DMA API always maps read + write). */
#define CMA_IOMMU_READ 0x1u
#define CMA_IOMMU_WRITE 0x2u

/*
 * Optional hardware hooks: a real IOMMU driver plugs its IOTLB invalidation in here. Each is called
 * with no libcma lock held and must return only once the invalidation has completed. NULL members
 * cost nothing (the software model below still runs).
 */
struct cma_iommu_ops {
    /* invalidate every translation of [iova, iova + size) */
    void (*inv_range)(void *arg, cma_iova_t iova, uint64_t size);
    /* invalidate every translation of the address space */
    void (*inv_all)(void *arg);
};

struct cma_iommu_config {
    uint32_t size;            /* sizeof; set by cma_iommu_config_default() */
    const char *name;         /* up to 31 characters; NULL or "" picks "iommu<N>" */
    unsigned iova_bits;       /* aperture [granule, 2^iova_bits); 32..57, default 48; IOVA 0 is never
                                 handed out */
    uint64_t pgsize_bitmap;   /* page sizes the IO page table may use; default 4 KiB | 2 MiB | 1 GiB.
                                 The smallest (the granule) must be the machine's page size; the others
                                 must be its block sizes (granule * (granule / 8)^k) */
    bool strict;              /* true: invalidate at every unmap; false (default): batched flush queue */
    const struct cma_iommu_ops *ops;  /* optional hardware hooks (IOTLB range / global invalidation) */
    void *ops_arg;
    /* libcma additions */
    unsigned fq_size;         /* lazy mode: flush-queue entries per CPU, 0 = 256 (a full queue flushes) */
    uint64_t fq_timeout_ns;   /* lazy mode: oldest queued unmap flushed after this, 0 = 10 ms */
    unsigned iotlb_entries;   /* software IOTLB model used by cma_iommu_access (stale entries can be
                                 observed), 0 = none (default); at most 4096 */
};
/** Fills cfg with the defaults listed above (48 IOVA bits, 4 KiB | 2 MiB | 1 GiB, lazy, no hooks). */
void cma_iommu_config_default(struct cma_iommu_config *cfg);

/**
 * cma_iommu_create - a new IO address space on an online machine. The root table page is taken from
 * the machine at once. Errors: -EINVAL bad configuration; -EPERM machine not online; -ENOMEM.
 */
int cma_iommu_create(struct cma_mm *mm, const struct cma_iommu_config *cfg, struct cma_iommu **iop);
/** Flushes the queues and frees every table page. -EBUSY while a mapping is live or a device is
 *  attached (nothing changes then), -EINVAL for NULL. */
int cma_iommu_destroy(struct cma_iommu *io);

/**
 * cma_iommu_map - map [iova, iova + size) to the physical range at phys (the raw IOMMU API, as
 * Linux's iommu_map): each step uses the largest page size of pgsize_bitmap that iova, phys and the
 * remaining size allow. The IOVA range is taken from the domain's allocator, so DMA API allocations
 * never land on it. Every page of the physical range must be memory in use (allocated, contiguous
 * or reserved). prot: CMA_IOMMU_READ and/or CMA_IOMMU_WRITE.
 * Errors: -EINVAL unaligned iova/phys/size, size 0, range outside the aperture, prot 0 or unknown
 * bits, phys not memory; -EFAULT a page of the range is free; -EEXIST the IOVA range overlaps
 * another mapping or allocated range; -ENOMEM no memory for page tables.
 */
int cma_iommu_map(struct cma_iommu *io, cma_iova_t iova, cma_phys_t phys, uint64_t size, unsigned prot);
/**
 * cma_iommu_unmap - remove exactly one cma_iommu_map mapping: iova and size must be those of the map
 * call (unmapping part of a mapping, or several at once, is refused: -EINVAL, nothing changes).
 * Always strict: the IOTLB is invalidated before the call returns, whatever the domain's mode.
 * Errors: -ENOENT nothing mapped at iova by cma_iommu_map; -EINVAL size mismatch.
 */
int cma_iommu_unmap(struct cma_iommu *io, cma_iova_t iova, uint64_t size);
/** Walks the page table: *physp = the physical address iova is mapped to. -ENOENT: not mapped. */
int cma_iommu_translate(struct cma_iommu *io, cma_iova_t iova, cma_phys_t *physp);
/**
 * cma_iommu_access - what a device access at iova reaches now: the software IOTLB first (which may
 * still hold a translation that was unmapped in lazy mode and not yet flushed), else the table walk,
 * whose result is then cached. Without an IOTLB model (iotlb_entries 0) the same as translate.
 * -ENOENT: the access faults (no translation anywhere).
 */
int cma_iommu_access(struct cma_iommu *io, cma_iova_t iova, cma_phys_t *physp);
/** Invalidates the whole IOTLB now and releases every flush-queued IOVA range and empty table page.
 *  Lazy domains call this themselves when a queue fills and after fq_timeout_ns (checked on unmap);
 *  a host with a timer may call it every fq_timeout_ns so queued ranges never wait longer. */
int cma_iommu_flush(struct cma_iommu *io);

struct cma_iommu_stats {
    const char *name;
    uint64_t granule;            /* bytes */
    uint64_t aperture;           /* bytes: 2^iova_bits */
    uint64_t mappings;           /* live mappings (DMA API and cma_iommu_map) */
    uint64_t mapped_bytes;       /* bytes covered by live page-table leaves */
    uint64_t leaves[3];          /* live leaves by size: granule, 2nd size (2 MiB), 3rd (1 GiB) */
    uint64_t iova_live_bytes;    /* IOVA ranges backing live mappings (rounded as allocated) */
    uint64_t iova_cached_bytes;  /* ranges parked in the per-CPU caches */
    uint64_t iova_queued_bytes;  /* ranges waiting in flush queues (lazy) */
    uint64_t iova_free_bytes;    /* aperture not covered by any range (frame 0 excluded) */
    uint64_t iova_largest_free;  /* bytes: the largest free gap */
    uint64_t iova_ranges;        /* ranges in the allocator's tree */
    uint64_t pt_pages;           /* table pages taken from the machine (all of the below) */
    uint64_t pt_pages_empty;     /* linked but empty, kept until the next flush or the bound */
    uint64_t pt_pages_spare;     /* unlinked, ready for the next map */
    uint64_t pt_pages_peak;
    uint64_t map_calls, unmap_calls;     /* successful */
    uint64_t iova_cache_hits, iova_cache_misses, iova_alloc_fail;
    uint64_t inv_range;          /* range invalidations (strict unmaps, cma_iommu_unmap) */
    uint64_t inv_all;            /* whole-space invalidations (flush queue, table reclaim) */
    uint64_t fq_queued;          /* unmaps that went through a flush queue */
    uint64_t fq_full_flushes, fq_timeout_flushes;
    uint64_t iotlb_hits, iotlb_misses, iotlb_stale_hits; /* cma_iommu_access with the model */
};
/** A snapshot of the domain's counters (each group under its own lock). -EINVAL for NULL. */
int cma_iommu_get_stats(const struct cma_iommu *io, struct cma_iommu_stats *st);

/* ---- devices and the DMA API ------------------------------------------------------------------- */

struct cma_dev_config {
    uint32_t size;            /* sizeof; set by cma_dev_config_default() */
    const char *name;         /* up to 31 characters; NULL or "" picks "dev<N>" */
    unsigned dma_bits;        /* device addressing limit in bits; default 32 (Linux's default mask);
                                 12..64 */
    struct cma_iommu *iommu;  /* NULL: direct (device address == physical address) */
    struct cma_area *area;    /* NULL: the machine's default area, else the device's own */
};
/** Fills cfg with the defaults listed above (32 bits, direct, the machine's default area). */
void cma_dev_config_default(struct cma_dev_config *cfg);

/**
 * cma_dev_create - a device on an online machine. The machine's default area is the one named
 * "reserved" (what a plain `cma=` declares), else the first declared area, else none.
 * Errors: -EINVAL bad configuration (an iommu or area of another machine); -EPERM not online;
 * -ENOSPC 4095 devices already attached to the iommu; -ENOMEM.
 */
int cma_dev_create(struct cma_mm *mm, const struct cma_dev_config *cfg, struct cma_dev **devp);
/** -EBUSY while an allocation or mapping of the device is live; -EINVAL for NULL. */
int cma_dev_destroy(struct cma_dev *dev);

/**
 * cma_dma_alloc - a coherent buffer of size bytes (rounded up to whole pages), zeroed in backed mode.
 * Direct device: physically contiguous and below the device's limit: the device's own area for any
 * size, the default area above 8 pages, each aligned to the buffer's order capped at 1 MiB; single
 * pages, small sizes and a failed or unreachable area from the buddy allocator (below the limit).
 * *cpu_addrp = its bytes (backed machines, else NULL).
 * IOMMU device: scattered pages (the largest of the table's page sizes first, as the buddy allocator
 * can give them), mapped at one contiguous, size-aligned IOVA below the limit; no contiguous memory
 * needed. *cpu_addrp is NULL unless the pages happen to be one physically contiguous block.
 * cpu_addrp may be NULL. Errors: -EINVAL size 0; -ENOMEM no memory below the limit; -ENOSPC IOVA
 * space exhausted.
 */
int cma_dma_alloc(struct cma_dev *dev, size_t size, cma_iova_t *dma_addrp, void **cpu_addrp);
/** Frees a cma_dma_alloc buffer: size must be the allocation's (same page count), else -EINVAL and
 *  the buffer is kept; -ENOENT when dma_addr is no live allocation of this device (double free). */
int cma_dma_free(struct cma_dev *dev, size_t size, cma_iova_t dma_addr);
/**
 * cma_dma_map_pages - a streaming mapping of n order-0 pages (any pfns, repeats allowed) at one
 * device-contiguous range. IOMMU device: any pages, at a size-aligned IOVA below the limit (physically
 * adjacent runs become block entries when IOVA and address line up). Direct device: the pages must
 * be physically contiguous (pfns[i] == pfns[0] + i) and end below the device's limit; the device
 * address is then the physical address. There is no bounce buffer: anything else is -EINVAL.
 * Errors: -EINVAL n 0, a pfn that is not memory, direct constraints; -EFAULT a free page;
 * -EBUSY a page is being migrated right now and did not settle (its owner is about to move it);
 * -ENOSPC IOVA exhausted; -ENOMEM page tables; -EOVERFLOW a page's pin count would overflow.
 */
int cma_dma_map_pages(struct cma_dev *dev, const cma_pfn_t *pfns, size_t n, cma_iova_t *dma_addrp);
/** Unmaps a cma_dma_map_pages mapping; n must match it (-EINVAL otherwise, mapping kept). Lazy
 *  domains queue the IOVA until the next flush; the pages are released at once. -ENOENT: no live
 *  mapping of this device at dma_addr (double unmap). */
int cma_dma_unmap(struct cma_dev *dev, cma_iova_t dma_addr, size_t n);

struct cma_dev_stats {
    const char *name;
    uint64_t dma_limit;          /* highest device address: 2^dma_bits - 1 */
    bool iommu;
    uint64_t allocs_live, alloc_bytes_live;   /* cma_dma_alloc buffers */
    uint64_t maps_live, map_pages_live;       /* cma_dma_map_pages mappings */
    uint64_t alloc_calls, alloc_fail, map_calls, map_fail;
    uint64_t alloc_from_area, alloc_from_buddy, alloc_scattered; /* where buffers came from */
    uint64_t bad_calls;          /* frees and unmaps refused (size mismatch, nothing there) */
};
/** A snapshot of the device's counters. -EINVAL for NULL. */
int cma_dev_get_stats(const struct cma_dev *dev, struct cma_dev_stats *st);

#ifdef __cplusplus
}
#endif
#endif /* CMA_DMA_H */
