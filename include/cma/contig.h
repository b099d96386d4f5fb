/* SPDX-License-Identifier: MIT */
/*
 * cma/contig.h - movable pages and migration, contiguous ranges, and CMA areas.
 *
 * Included by <cma/cma.h>.
 *
 * Movable pages. An allocated block becomes movable when its owner registers cma_movable_ops for
 * it. To clear a range, libcma isolates the block at the owner (isolate), allocates a target outside
 * CMA and outside any isolated range, copies the bytes (backed mode), calls migrate so the owner
 * switches its references, and frees the source; on failure it calls putback. A clean block whose
 * owner has a discard op may be dropped instead (no copy). Callbacks run with no libcma lock held, so
 * they may call libcma; they must not free the block they are asked about.
 */
#ifndef CMA_CONTIG_H
#define CMA_CONTIG_H

#include <cma/mm.h>

#ifdef __cplusplus
extern "C" {
#endif

struct cma_area;

struct cma_movable_ops {
    /* optional; may refuse with -EAGAIN/-EBUSY (the block stays where it is, migration retries) */
    int (*isolate)(void *owner, cma_pfn_t pfn, unsigned order);
    /* required; contents already copied to `to`; 0 = the owner now uses `to`, else abandoned */
    int (*migrate)(void *owner, cma_pfn_t from, cma_pfn_t to, unsigned order);
    /* optional; migration abandoned after a successful isolate */
    void (*putback)(void *owner, cma_pfn_t pfn, unsigned order);
    /* optional; drop a clean block instead: return 0 once the owner has forgotten it, and libcma
     * takes the block back (the owner must not free it); non-zero = migrate it instead */
    int (*discard)(void *owner, cma_pfn_t pfn, unsigned order);
};

/* Maximum distinct ops tables per machine (each is registered on first use). */
#define CMA_MAX_MOVABLE_OPS 255

/**
 * cma_page_set_movable - register (ops != NULL) or unregister (ops == NULL) the block starting at
 * pfn (a live cma_alloc_pages block) as movable. Errors: -EINVAL pfn not memory, ops without
 * migrate; -EFAULT pfn is not the head of a live page-allocator block; -EBUSY block being migrated;
 * -ENOSPC more than CMA_MAX_MOVABLE_OPS distinct ops tables.
 */
int cma_page_set_movable(struct cma_mm *mm, cma_pfn_t pfn, const struct cma_movable_ops *ops,
                         void *owner);
/** Marks the block clean (droppable when its ops have discard) or dirty. Errors as set_movable. */
int cma_page_set_clean(struct cma_mm *mm, cma_pfn_t pfn, bool clean);
/**
 * cma_page_get / cma_page_put - a short-term reference on the block containing pfn (a DMA in
 * flight, a get_page): migration of a referenced block is retried, and the block cannot be freed.
 * get: -EFAULT not a live allocated block; -EAGAIN the block is being migrated right now (retry);
 * -EOVERFLOW 255 references already. put: -EFAULT without a reference.
 */
int cma_page_get(struct cma_mm *mm, cma_pfn_t pfn);
int cma_page_put(struct cma_mm *mm, cma_pfn_t pfn);
/**
 * cma_page_pin_longterm - pin the block starting at pfn for a long time (RDMA, VFIO). A block in a
 * CMA or isolated pageblock is first migrated out (Linux's FOLL_LONGTERM rule), so no pin ever
 * blocks a CMA area; *newpfnp receives where the block lives now (pfn if it did not move).
 * Errors: -EFAULT not a live block head; -EBUSY the block must move but is not movable or
 * migration failed; -ENOMEM no memory outside CMA; -EOVERFLOW pin count overflow.
 */
int cma_page_pin_longterm(struct cma_mm *mm, cma_pfn_t pfn, cma_pfn_t *newpfnp);
/** Drops one long-term pin. -EFAULT when the block is not pinned. */
int cma_page_unpin(struct cma_mm *mm, cma_pfn_t pfn);

/* ---- contiguous ranges outside CMA areas --------------------------------------------------------- */

/**
 * cma_alloc_contig_range - take exactly the pages [start, end). The range must lie in one span.
 * Pageblocks are isolated, every CPU cache drained, pages in use migrated (or dropped if clean and
 * discardable), and the range taken; isolation is always undone. Ranges in CMA pageblocks are left
 * to cma_alloc (-EBUSY here). Errors: -EINVAL bad range; -EBUSY an unmovable, pinned or
 * already-isolated page is in the way, or five rounds of migration made no progress; -ENOMEM no
 * memory for migration targets. Free with cma_free_contig_range.
 */
int cma_alloc_contig_range(struct cma_mm *mm, cma_pfn_t start, cma_pfn_t end);
/** Frees [start, start+count) taken by a contiguous allocation (any sub-range of one). -EFAULT if
 *  any page of it is not contiguously allocated; -EINVAL bad range. Changes nothing on error. */
int cma_free_contig_range(struct cma_mm *mm, cma_pfn_t start, size_t count);
/** Finds and takes count contiguous pages aligned to 2^align_order anywhere outside CMA (best
 *  effort, like Linux's alloc_contig_pages). -ENOMEM when no candidate range could be cleared. */
int cma_alloc_contig_pages(struct cma_mm *mm, size_t count, unsigned align_order, cma_pfn_t *pfnp);

/* ---- CMA areas ---------------------------------------------------------------------------------- */

#define CMA_MAX_AREAS 32
#define CMA_AREA_NAME_MAX 63

/**
 * cma_declare_contiguous - reserve a CMA area at boot (before cma_mm_online). base 0: anywhere
 * below limit (limit 0: no limit), preferring memory above 4 GiB when the limit allows, as Linux
 * does; otherwise exactly at base. alignment 0: the minimum, max(pageblock, max-order block); any
 * other value must be a power of two and is raised to that minimum. size is rounded up to the
 * alignment and must be a multiple of 2^order_per_bit pages. name: up to 63 characters (NULL or ""
 * picks "cma<N>"). Errors: -EINVAL bad size/alignment/order_per_bit, base not aligned, range not
 * entirely memory or above limit; -EBUSY overlaps reserved memory; -ENOMEM no room below limit;
 * -EEXIST duplicate name; -ENAMETOOLONG; -ENOSPC CMA_MAX_AREAS reached; -EPERM after online.
 */
int cma_declare_contiguous(struct cma_mm *mm, const char *name, uint64_t size, cma_phys_t base,
                           cma_phys_t limit, uint64_t alignment, unsigned order_per_bit,
                           struct cma_area **areap);
/**
 * cma_parse_cmdline - declare areas from a kernel-style command line. Accepts Linux's
 * `cma=nn[KMGTPE][@start[KMGTPE][-end[KMGTPE]]]` (the default area "reserved") and the named list
 * extension `cma=name:size[@start[-end]][,name:size...]`; other words are ignored. On a syntax error
 * returns -EINVAL and, through the host log, names the offending character's position. See
 * cma_parse_cmdline_err for the position itself. Declares nothing if any entry is invalid.
 */
int cma_parse_cmdline(struct cma_mm *mm, const char *cmdline);
/** As cma_parse_cmdline; on error *errposp (if non-NULL) receives the offset of the offending
 *  character in cmdline. */
int cma_parse_cmdline_err(struct cma_mm *mm, const char *cmdline, size_t *errposp);

/**
 * cma_area_lookup - the area declared under name (exact, case-sensitive match), or NULL when no
 * area has that name or mm or name is NULL. Areas live as long as the machine; works before and
 * after cma_mm_online.
 */
struct cma_area *cma_area_lookup(struct cma_mm *mm, const char *name);
/** The i-th declared area (declaration order), NULL past the end. */
struct cma_area *cma_area_at(struct cma_mm *mm, unsigned i);
/** The area's name (as declared, or the "cma<N>" picked for it); NULL for a NULL area. */
const char *cma_area_name(const struct cma_area *area);

enum cma_policy {
    CMA_POLICY_DEFAULT = 0, /* libcma: skip past busy pfns, cheapest candidate window, discard */
    CMA_POLICY_LINUX = 1,   /* Linux: lowest free window, retry one alignment step further, no
                               discard - for side-by-side comparison */
};
/**
 * cma_area_set_policy - choose how later cma_alloc / cma_alloc_bulk calls on area find and clear
 * their window (CMA_POLICY_DEFAULT for new areas). Waits for an allocation in progress on the area
 * to finish; may be called before or after cma_mm_online. Errors: -EINVAL area NULL or policy not
 * one of the values above.
 */
int cma_area_set_policy(struct cma_area *area, enum cma_policy policy);
/** Allow (enable true, the default) or forbid dropping clean discardable pages under
 *  CMA_POLICY_DEFAULT (CMA_POLICY_LINUX never drops). -EINVAL for a NULL area. */
int cma_area_set_discard(struct cma_area *area, bool enable);

/**
 * cma_alloc - allocate count contiguous pages from the area, aligned to 2^align_order pages.
 * Errors: -EINVAL count 0 or larger than the area, align_order above 30; -ENOSPC no free window of
 * that size in the area's bitmap (fails fast when the area's available count is below count);
 * -EBUSY every candidate window held pages that could not be moved; -ENOMEM no memory for
 * migration targets. Changes nothing on error.
 */
int cma_alloc(struct cma_area *area, size_t count, unsigned align_order, cma_pfn_t *pfnp);
/** Releases [pfn, pfn+count) of a live cma_alloc allocation of this area (or a sub-range of one).
 *  -EINVAL outside the area; -EFAULT not allocated (double release, never allocated). */
int cma_release(struct cma_area *area, cma_pfn_t pfn, size_t count);
/**
 * cma_alloc_bulk - allocate up to nr chunks of 2^order pages (each aligned to its size), skipping
 * busy chunks instead of failing the request (Android's 2020 request). pfns receives the chunks,
 * *nr_done how many. Returns 0 when at least one chunk was allocated (check *nr_done), else the
 * error of the last attempt (-ENOSPC, -EBUSY, -ENOMEM) with nothing allocated.
 */
int cma_alloc_bulk(struct cma_area *area, unsigned order, size_t nr, cma_pfn_t *pfns, size_t *nr_done);

#define CMA_LATENCY_BUCKETS 40 /* bucket b counts calls taking [2^b, 2^(b+1)) ns */

struct cma_area_stats {
    const char *name;
    uint64_t base_pfn;
    uint64_t count;                 /* pages (total_pages) */
    uint64_t available;             /* pages not allocated by cma_alloc (available_pages) */
    uint64_t order_per_bit;
    uint64_t alloc_pages_success;   /* pages, Linux sysfs names */
    uint64_t alloc_pages_fail;
    uint64_t release_pages_success;
    uint64_t alloc_calls_success;   /* calls */
    uint64_t alloc_calls_fail;
    uint64_t retries;               /* windows given up as busy and retried elsewhere */
    uint64_t pages_migrated;
    uint64_t pages_discarded;
    uint64_t largest_free_chunk;    /* pages, the longest run of free bitmap bits (maxchunk) */
    uint64_t latency_ns_total;
    uint64_t latency_hist[CMA_LATENCY_BUCKETS];
};
/**
 * cma_area_get_stats - fill st with a consistent snapshot of the area's counters (taken under the
 * area lock; cma_alloc calls count once each, success or failure, latency included). st->name
 * points into the area and stays valid until cma_mm_destroy. Errors: -EINVAL area or st NULL.
 */
int cma_area_get_stats(const struct cma_area *area, struct cma_area_stats *st);
/** Debug dump of one area: counters, the bitmap as runs of used/free chunks, the largest free chunk.
 *  snprintf semantics like cma_mm_dump. */
int cma_area_dump(const struct cma_area *area, char *buf, size_t len);

#ifdef __cplusplus
}
#endif
#endif /* CMA_CONTIG_H */
