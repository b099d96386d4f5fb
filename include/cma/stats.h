/* SPDX-License-Identifier: MIT */
/*
 * cma/stats.h - introspection: counters, /proc-style dumps and the invariant checker.
 *
 * Included by <cma/cma.h>.
 */
#ifndef CMA_STATS_H
#define CMA_STATS_H

#include <cma/mm.h>

#ifdef __cplusplus
extern "C" {
#endif

/*
 * Machine-wide counters. Page counts are in base pages; event counters count calls.
 * nr_free[t] counts free pages by the type of their pageblock, per-CPU caches included (ISOLATE for
 * free pages in isolated pageblocks); nr_free_total is their sum. Counters are a consistent snapshot
 * taken with every lock held.
 */
struct cma_mm_stats {
    uint64_t nr_pages;               /* pages of memory (present, reserved included) */
    uint64_t nr_managed;             /* pages handed to the buddy allocator */
    uint64_t nr_reserved;            /* pages reserved at boot and never managed */
    uint64_t nr_free[CMA_MIGRATE_TYPES];
    uint64_t nr_free_total;
    uint64_t nr_free_cma;            /* == nr_free[CMA_MIGRATE_CMA] */
    uint64_t nr_free_pcp;            /* of nr_free_total, pages sitting in per-CPU caches */
    uint64_t nr_allocated;           /* nr_managed - nr_free_total */
    uint64_t nr_pageblocks[CMA_MIGRATE_TYPES]; /* pageblocks per type (isolated ones as ISOLATE) */
    uint64_t metadata_bytes;         /* everything libcma allocated to describe this machine */
    uint64_t metadata_bytes_per_page_x100; /* metadata_bytes * 100 / nr_pages */
    uint64_t pgalloc;                /* successful cma_alloc_pages calls */
    uint64_t pgfree;                 /* successful cma_free_pages calls */
    uint64_t pgalloc_pages;          /* pages handed out by cma_alloc_pages */
    uint64_t pgfree_pages;           /* pages returned by cma_free_pages */
    uint64_t alloc_fail;             /* cma_alloc_pages calls that found no block */
    uint64_t pgmigrate_success;      /* pages migrated */
    uint64_t pgmigrate_fail;         /* pages that failed to migrate */
    uint64_t pgdiscard;              /* clean pages dropped instead of migrated */
    uint64_t fallbacks;              /* allocations served from another type's pageblocks */
    uint64_t pageblocks_claimed;     /* pageblocks relabelled by a fallback claim */
    uint64_t pages_stolen;           /* pages taken by steal-without-claim fallbacks */
    uint64_t pcp_refills;            /* per-CPU cache refills from the buddy */
    uint64_t pcp_drains;             /* per-CPU cache drain/trim operations */
    uint64_t bad_frees;              /* cma_free_pages calls rejected as misuse */
};

/** Fills st. -EINVAL for NULL arguments. */
int cma_mm_get_stats(const struct cma_mm *mm, struct cma_mm_stats *st);

/**
 * cma_mm_check - recompute every invariant from the free lists and the memory map.
 * Returns 0, or -EFAULT and writes "<invariant-id>: <what>" of the first violation into why (if
 * len > 0; always NUL-terminated). Takes every lock: do not call with libcma locks held.
 * Invariants are numbered in docs/invariants.md.
 */
int cma_mm_check(const struct cma_mm *mm, char *why, size_t len);

enum cma_dump {
    CMA_DUMP_BUDDYINFO,     /* /proc/buddyinfo */
    CMA_DUMP_PAGETYPEINFO,  /* /proc/pagetypeinfo */
    CMA_DUMP_VMSTAT,        /* /proc/vmstat-style "name value" lines */
    CMA_DUMP_PAGEBLOCK_MAP, /* one character per pageblock, 64 per line */
    CMA_DUMP_AREAS,         /* per-area counters as in /sys/kernel/mm/cma/<area>/ */
    CMA_DUMP_ALL,
    CMA_DUMP_DMA            /* IOMMU domains and DMA devices (dma.h); after ALL so no value moves */
};

/**
 * cma_mm_dump - write a text dump into buf (NUL-terminated when len > 0).
 * Returns the length of the full text (excluding the NUL) like snprintf, so a call with len 0 sizes
 * the buffer; or -EINVAL.
 * Pageblock map characters: U unmovable, M movable, R reclaimable, H highatomic, C CMA, I isolated,
 * '.' no memory (hole); lower case when every page of the pageblock is free.
 * CMA_DUMP_DMA: per IOMMU domain a line "iommu <name>: ..." and indented lines of its counters, per
 * device a line "dev <name>: ..." (the fields of cma_iommu_stats / cma_dev_stats). CMA_DUMP_ALL
 * includes it.
 */
int cma_mm_dump(const struct cma_mm *mm, enum cma_dump what, char *buf, size_t len);

#ifdef __cplusplus
}
#endif
#endif /* CMA_STATS_H */
