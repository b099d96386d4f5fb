/* SPDX-License-Identifier: MIT */
/*
 * tests/api/dma_util.h - public-API helpers of the IOMMU / DMA tests (test_dma.c, test_iommu_flush.c,
 * and the threaded stress test): make a domain or a device, read their counters, take a page.
 * Everything is static inline so a test that uses part of it compiles warning-free.
 */
#ifndef CMA_TEST_DMA_UTIL_H
#define CMA_TEST_DMA_UTIL_H

#include "test.h"

#define KiB 1024ull
#define MiB (1024ull * KiB)
#define GiB (1024ull * MiB)
#define PAGE 4096ull

static inline struct cma_iommu *mk_iommu(struct cma_mm *mm, bool strict, unsigned bits)
{
    struct cma_iommu_config c;
    struct cma_iommu *io = NULL;
    cma_iommu_config_default(&c);
    c.strict = strict;
    if (bits)
        c.iova_bits = bits;
    int r = cma_iommu_create(mm, &c, &io);
    if (r)
        test_fail_(__FILE__, __LINE__, "cma_iommu_create: %s", cma_err_name(r));
    return io;
}

static inline struct cma_dev *mk_dev(struct cma_mm *mm, struct cma_iommu *io, unsigned bits, struct cma_area *area)
{
    struct cma_dev_config c;
    struct cma_dev *d = NULL;
    cma_dev_config_default(&c);
    c.iommu = io;
    c.area = area;
    if (bits)
        c.dma_bits = bits;
    int r = cma_dev_create(mm, &c, &d);
    if (r)
        test_fail_(__FILE__, __LINE__, "cma_dev_create: %s", cma_err_name(r));
    return d;
}

static inline struct cma_iommu_stats io_stats(struct cma_iommu *io)
{
    struct cma_iommu_stats st;
    EXPECT_OK(cma_iommu_get_stats(io, &st));
    return st;
}

static inline struct cma_dev_stats dev_stats(struct cma_dev *d)
{
    struct cma_dev_stats st;
    EXPECT_OK(cma_dev_get_stats(d, &st));
    return st;
}

static inline uint64_t allocated(struct cma_mm *mm)
{
    struct cma_mm_stats st;
    EXPECT_OK(cma_mm_get_stats(mm, &st));
    return st.nr_allocated;
}

static inline cma_pfn_t page(struct cma_mm *mm, unsigned order)
{
    cma_pfn_t pfn = CMA_PFN_NONE;
    EXPECT_OK(cma_alloc_pages(mm, order, CMA_GFP_UNMOVABLE, &pfn));
    return pfn;
}

static inline void backed(struct cma_mm_config *c) { c->backing = CMA_BACKING_HOST; }

/* Destroys the device and the domain (either may be NULL), then checks and destroys the machine. */
static inline void finish_dma(struct cma_mm *mm, struct cma_iommu *io, struct cma_dev *d)
{
    if (d)
        EXPECT_OK(cma_dev_destroy(d));
    if (io)
        EXPECT_OK(cma_iommu_destroy(io));
    test_mm_finish(mm);
}

#endif /* CMA_TEST_DMA_UTIL_H */
