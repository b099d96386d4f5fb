/* SPDX-License-Identifier: MIT */
/*
 * tests/api/test_dma.c - IOMMU domains and the DMA API, through <cma/cma.h> only.
 *
 *   config_defaults        cma_iommu_config_default / cma_dev_config_default values
 *   create_errors          bad configurations -EINVAL, before online -EPERM, foreign objects -EINVAL
 *   raw_map_translate      cma_iommu_map / translate / unmap of one page: offsets, every error
 *                          (unaligned, size 0, prot, IOVA 0, outside the aperture, free page -EFAULT,
 *                          not memory -EINVAL, overlap -EEXIST, partial / wrong-size / double unmap)
 *   raw_map_over_existing  mapping over a live translation: -EEXIST, state unchanged
 *   block_sizes            page-size choice: 2 MiB-aligned contiguous memory is one 2 MiB entry; the
 *                          4 MiB + 8 KiB range at 0x1ff000 -> 0x...1ff000 is 4 entries; the same range
 *                          at an IOVA with another offset modulo 2 MiB is 1026 4 KiB entries
 *   table_pages_accounted  table pages come from the machine (nr_allocated moves with pt_pages) and all
 *                          go back at destroy
 *   map_pages_iommu        scattered pages at one size-aligned IOVA, translate of each page, wrong n
 *                          -EINVAL and kept, double unmap -ENOENT, foreign address -ENOENT, another
 *                          device's mapping -ENOENT
 *   mapped_pages_pinned    a mapped page cannot be freed (-EBUSY) nor moved by cma_alloc (the area
 *                          allocation lands elsewhere or is -EBUSY); after unmap both work
 *   map_free_page          mapping a free page -EFAULT, a hole -EINVAL, nothing left behind
 *   alloc_iommu            cma_dma_alloc through an IOMMU: zeroed pages, 2 MiB entries when order-9
 *                          blocks exist, size check on free (-EINVAL, kept), double free -ENOENT,
 *                          every page back afterwards
 *   alloc_direct_area      direct device: default area ("reserved"), alignment capped at 1 MiB, small
 *                          sizes from the buddy, own area for any size, cpu_addr zeroed and usable
 *   direct_map_pages       contiguous below the limit: dma == phys; non-contiguous / above the limit
 *                          -EINVAL; repeated identical mappings; wrong n -EINVAL; double unmap
 *   dev32_high_memory      32-bit direct device, memory above 4 GiB: every buffer below 4 GiB, then a
 *                          clean -ENOMEM; an area above 4 GiB is never used
 *   dev32_iommu            32-bit device behind a 48-bit IOMMU: IOVAs below 4 GiB, pages anywhere
 *   destroy_busy           device / domain destroy with live users -EBUSY; mm destroy with domains
 *                          -EBUSY
 *   dump_dma               CMA_DUMP_DMA and CMA_DUMP_ALL name the domain and the devices
 */
#include "test.h"

#define KiB 1024ull
#define MiB (1024ull * KiB)
#define GiB (1024ull * MiB)
#define PAGE 4096ull

static struct cma_iommu *mk_iommu(struct cma_mm *mm, bool strict, unsigned bits)
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

static struct cma_dev *mk_dev(struct cma_mm *mm, struct cma_iommu *io, unsigned bits, struct cma_area *area)
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

static struct cma_iommu_stats io_stats(struct cma_iommu *io)
{
    struct cma_iommu_stats st;
    EXPECT_OK(cma_iommu_get_stats(io, &st));
    return st;
}

static struct cma_dev_stats dev_stats(struct cma_dev *d)
{
    struct cma_dev_stats st;
    EXPECT_OK(cma_dev_get_stats(d, &st));
    return st;
}

static uint64_t allocated(struct cma_mm *mm)
{
    struct cma_mm_stats st;
    EXPECT_OK(cma_mm_get_stats(mm, &st));
    return st.nr_allocated;
}

static cma_pfn_t page(struct cma_mm *mm, unsigned order)
{
    cma_pfn_t pfn = CMA_PFN_NONE;
    EXPECT_OK(cma_alloc_pages(mm, order, CMA_GFP_UNMOVABLE, &pfn));
    return pfn;
}

static void backed(struct cma_mm_config *c) { c->backing = CMA_BACKING_HOST; }

/* ---- tests ------------------------------------------------------------------------------------------ */

static void config_defaults(void)
{
    struct cma_iommu_config c;
    cma_iommu_config_default(&c);
    EXPECT_EQ(c.size, sizeof c);
    EXPECT_EQ(c.iova_bits, 48);
    EXPECT_UEQ(c.pgsize_bitmap, 4 * KiB | 2 * MiB | 1 * GiB);
    EXPECT_FALSE(c.strict);
    EXPECT_TRUE(c.ops == NULL);
    struct cma_dev_config d;
    cma_dev_config_default(&d);
    EXPECT_EQ(d.size, sizeof d);
    EXPECT_EQ(d.dma_bits, 32);
    EXPECT_TRUE(d.iommu == NULL && d.area == NULL);
}

static void create_errors(void)
{
    struct cma_mm_config mc;
    struct cma_mm *off = NULL;
    cma_mm_config_default(&mc);
    ASSERT_OK(cma_mm_create(&mc, &off));
    ASSERT_OK(cma_memblock_add(off, 0, 64 * MiB));
    struct cma_iommu_config c;
    struct cma_iommu *io = NULL;
    cma_iommu_config_default(&c);
    EXPECT_ERR(cma_iommu_create(off, &c, &io), -CMA_EPERM);
    struct cma_dev_config dc;
    struct cma_dev *dev = NULL;
    cma_dev_config_default(&dc);
    EXPECT_ERR(cma_dev_create(off, &dc, &dev), -CMA_EPERM);
    ASSERT_OK(cma_mm_online(off));

    struct cma_mm *mm = test_mm_simple(0, 64 * MiB, NULL);
    ASSERT_TRUE(mm != NULL);
    const struct {
        void (*edit)(struct cma_iommu_config *);
    } bad[] = {{NULL}};
    (void)bad;
    cma_iommu_config_default(&c);
    c.size = 0;
    EXPECT_ERR(cma_iommu_create(mm, &c, &io), -CMA_EINVAL);
    cma_iommu_config_default(&c);
    c.iova_bits = 31;
    EXPECT_ERR(cma_iommu_create(mm, &c, &io), -CMA_EINVAL);
    c.iova_bits = 58;
    EXPECT_ERR(cma_iommu_create(mm, &c, &io), -CMA_EINVAL);
    cma_iommu_config_default(&c);
    c.pgsize_bitmap = 64 * KiB; /* granule != page size */
    EXPECT_ERR(cma_iommu_create(mm, &c, &io), -CMA_EINVAL);
    c.pgsize_bitmap = 4 * KiB | 1 * MiB; /* not a block size of the 4 KiB format */
    EXPECT_ERR(cma_iommu_create(mm, &c, &io), -CMA_EINVAL);
    c.pgsize_bitmap = 0;
    EXPECT_ERR(cma_iommu_create(mm, &c, &io), -CMA_EINVAL);
    cma_iommu_config_default(&c);
    c.iotlb_entries = 5000;
    EXPECT_ERR(cma_iommu_create(mm, &c, &io), -CMA_EINVAL);
    EXPECT_TRUE(io == NULL);
    EXPECT_ERR(cma_iommu_create(NULL, &c, &io), -CMA_EINVAL);
    EXPECT_ERR(cma_iommu_create(mm, NULL, &io), -CMA_EINVAL);

    cma_dev_config_default(&dc);
    dc.dma_bits = 11;
    EXPECT_ERR(cma_dev_create(mm, &dc, &dev), -CMA_EINVAL);
    dc.dma_bits = 65;
    EXPECT_ERR(cma_dev_create(mm, &dc, &dev), -CMA_EINVAL);
    /* an IOMMU of another machine */
    struct cma_iommu *other = mk_iommu(off, false, 0);
    cma_dev_config_default(&dc);
    dc.iommu = other;
    EXPECT_ERR(cma_dev_create(mm, &dc, &dev), -CMA_EINVAL);
    EXPECT_TRUE(dev == NULL);
    EXPECT_OK(cma_iommu_destroy(other));
    EXPECT_ERR(cma_iommu_destroy(NULL), -CMA_EINVAL);
    EXPECT_ERR(cma_dev_destroy(NULL), -CMA_EINVAL);
    test_mm_finish(off);
    test_mm_finish(mm);
}

static void raw_map_translate(void)
{
    struct cma_mm *mm = test_mm_simple(0, 64 * MiB, NULL);
    ASSERT_TRUE(mm != NULL);
    struct cma_iommu *io = mk_iommu(mm, false, 0);
    ASSERT_TRUE(io != NULL);
    cma_pfn_t p = page(mm, 0);
    cma_phys_t phys = cma_pfn_to_phys(mm, p), got = 0;
    const unsigned RW = CMA_IOMMU_READ | CMA_IOMMU_WRITE;

    ASSERT_OK(cma_iommu_map(io, 0x10000, phys, PAGE, RW));
    EXPECT_OK(cma_iommu_translate(io, 0x10000, &got));
    EXPECT_UEQ(got, phys);
    EXPECT_OK(cma_iommu_translate(io, 0x10abc, &got));
    EXPECT_UEQ(got, phys + 0xabc);
    EXPECT_ERR(cma_iommu_translate(io, 0x11000, &got), -CMA_ENOENT);
    EXPECT_ERR(cma_iommu_translate(io, 0xf000, &got), -CMA_ENOENT);
    EXPECT_OK(cma_iommu_access(io, 0x10010, &got)); /* no IOTLB model: the walk */
    EXPECT_UEQ(got, phys + 0x10);
    EXPECT_ERR(cma_free_pages(mm, p, 0), -CMA_EBUSY); /* pinned while mapped */
    EXPECT_CHECK(mm);

    /* map errors */
    EXPECT_ERR(cma_iommu_map(io, 0x20001, phys, PAGE, RW), -CMA_EINVAL);
    EXPECT_ERR(cma_iommu_map(io, 0x20000, phys + 8, PAGE, RW), -CMA_EINVAL);
    EXPECT_ERR(cma_iommu_map(io, 0x20000, phys, 100, RW), -CMA_EINVAL);
    EXPECT_ERR(cma_iommu_map(io, 0x20000, phys, 0, RW), -CMA_EINVAL);
    EXPECT_ERR(cma_iommu_map(io, 0x20000, phys, PAGE, 0), -CMA_EINVAL);
    EXPECT_ERR(cma_iommu_map(io, 0x20000, phys, PAGE, 4), -CMA_EINVAL);
    EXPECT_ERR(cma_iommu_map(io, 0, phys, PAGE, RW), -CMA_EINVAL);               /* IOVA 0 */
    EXPECT_ERR(cma_iommu_map(io, 1ull << 48, phys, PAGE, RW), -CMA_EINVAL);      /* outside */
    EXPECT_ERR(cma_iommu_map(io, (1ull << 48) - PAGE, phys, 2 * PAGE, RW), -CMA_EINVAL);
    EXPECT_ERR(cma_iommu_map(io, 0x20000, 1ull << 40, PAGE, RW), -CMA_EINVAL);   /* not memory */
    cma_pfn_t f = page(mm, 0);
    EXPECT_OK(cma_free_pages(mm, f, 0));
    EXPECT_ERR(cma_iommu_map(io, 0x20000, cma_pfn_to_phys(mm, f), PAGE, RW), -CMA_EFAULT); /* free */
    EXPECT_ERR(cma_iommu_map(io, 0x10000, phys, PAGE, RW), -CMA_EEXIST);         /* overlap */
    EXPECT_ERR(cma_iommu_map(io, 0xf000, phys, 2 * PAGE, RW), -CMA_EEXIST);
    EXPECT_ERR(cma_iommu_translate(io, 0x20000, &got), -CMA_ENOENT);
    struct cma_iommu_stats st = io_stats(io);
    EXPECT_UEQ(st.mappings, 1);
    EXPECT_CHECK(mm);

    /* unmap errors: partial, wrong size, not mapped */
    cma_pfn_t q = page(mm, 1);
    ASSERT_OK(cma_iommu_map(io, 0x40000, cma_pfn_to_phys(mm, q), 2 * PAGE, CMA_IOMMU_READ));
    EXPECT_ERR(cma_iommu_unmap(io, 0x40000, PAGE), -CMA_EINVAL);
    EXPECT_ERR(cma_iommu_unmap(io, 0x41000, PAGE), -CMA_ENOENT);
    EXPECT_ERR(cma_iommu_unmap(io, 0x40000, 3 * PAGE), -CMA_EINVAL);
    EXPECT_ERR(cma_iommu_unmap(io, 0x40000, 100), -CMA_EINVAL);
    EXPECT_ERR(cma_iommu_unmap(io, 0x50000, PAGE), -CMA_ENOENT);
    EXPECT_OK(cma_iommu_translate(io, 0x41000, &got));
    EXPECT_UEQ(got, cma_pfn_to_phys(mm, q) + PAGE);
    EXPECT_OK(cma_iommu_unmap(io, 0x40000, 2 * PAGE));
    EXPECT_ERR(cma_iommu_unmap(io, 0x40000, 2 * PAGE), -CMA_ENOENT); /* double unmap */
    EXPECT_ERR(cma_iommu_translate(io, 0x40000, &got), -CMA_ENOENT);
    EXPECT_OK(cma_free_pages(mm, q, 1));
    EXPECT_OK(cma_iommu_unmap(io, 0x10000, PAGE));
    EXPECT_OK(cma_free_pages(mm, p, 0)); /* unpinned */
    st = io_stats(io);
    EXPECT_UEQ(st.mappings, 0);
    EXPECT_UEQ(st.inv_range, 2); /* raw unmaps are strict even on a lazy domain */
    EXPECT_CHECK(mm);
    EXPECT_OK(cma_iommu_destroy(io));
    test_mm_finish(mm);
}

static void raw_map_over_existing(void)
{
    struct cma_mm *mm = test_mm_simple(0, 64 * MiB, NULL);
    ASSERT_TRUE(mm != NULL);
    struct cma_iommu *io = mk_iommu(mm, true, 0);
    cma_pfn_t a = page(mm, 0), b = page(mm, 0);
    cma_phys_t got;
    ASSERT_OK(cma_iommu_map(io, 0x100000, cma_pfn_to_phys(mm, a), PAGE, CMA_IOMMU_WRITE));
    struct cma_iommu_stats st0 = io_stats(io);
    EXPECT_ERR(cma_iommu_map(io, 0x100000, cma_pfn_to_phys(mm, b), PAGE, CMA_IOMMU_WRITE), -CMA_EEXIST);
    EXPECT_OK(cma_iommu_translate(io, 0x100000, &got));
    EXPECT_UEQ(got, cma_pfn_to_phys(mm, a));
    struct cma_iommu_stats st1 = io_stats(io);
    EXPECT_UEQ(st1.mappings, st0.mappings);
    EXPECT_UEQ(st1.pt_pages, st0.pt_pages);
    EXPECT_OK(cma_free_pages(mm, b, 0)); /* b was not left pinned */
    EXPECT_CHECK(mm);
    EXPECT_OK(cma_iommu_unmap(io, 0x100000, PAGE));
    EXPECT_OK(cma_free_pages(mm, a, 0));
    EXPECT_OK(cma_iommu_destroy(io));
    test_mm_finish(mm);
}

static void block_sizes(void)
{
    struct cma_mm *mm = test_mm_simple(0, 256 * MiB, NULL);
    ASSERT_TRUE(mm != NULL);
    struct cma_iommu *io = mk_iommu(mm, true, 0);
    ASSERT_TRUE(io != NULL);
    const unsigned RW = CMA_IOMMU_READ | CMA_IOMMU_WRITE;
    cma_pfn_t big = page(mm, 9); /* 2 MiB, 2 MiB aligned */
    ASSERT_OK(cma_iommu_map(io, 64 * MiB, cma_pfn_to_phys(mm, big), 2 * MiB, RW));
    struct cma_iommu_stats st = io_stats(io);
    EXPECT_UEQ(st.leaves[0], 0);
    EXPECT_UEQ(st.leaves[1], 1);
    cma_phys_t got;
    EXPECT_OK(cma_iommu_translate(io, 64 * MiB + 0x12345, &got));
    EXPECT_UEQ(got, cma_pfn_to_phys(mm, big) + 0x12345);
    EXPECT_OK(cma_iommu_unmap(io, 64 * MiB, 2 * MiB));

    /* the worked example: 4 MiB + 8 KiB at IOVA 0x1ff000 from physical 0x...1ff000 */
    const uint64_t len = 4 * MiB + 8 * KiB;
    cma_pfn_t start = cma_phys_to_pfn(mm, 32 * MiB + 0x1ff000);
    ASSERT_OK(cma_alloc_contig_range(mm, start, start + len / PAGE));
    ASSERT_OK(cma_iommu_map(io, 0x1ff000, cma_pfn_to_phys(mm, start), len, RW));
    st = io_stats(io);
    EXPECT_UEQ(st.leaves[0], 2);
    EXPECT_UEQ(st.leaves[1], 2);
    EXPECT_UEQ(st.mapped_bytes, len);
    for (uint64_t off = 0; off < len; off += 0x7f000) {
        EXPECT_OK(cma_iommu_translate(io, 0x1ff000 + off, &got));
        EXPECT_UEQ(got, 32 * MiB + 0x1ff000 + off);
    }
    EXPECT_CHECK(mm);
    EXPECT_OK(cma_iommu_unmap(io, 0x1ff000, len));
    /* the same memory at an IOVA with another offset modulo 2 MiB: 4 KiB entries only */
    ASSERT_OK(cma_iommu_map(io, 0x200000, cma_pfn_to_phys(mm, start), len, RW));
    st = io_stats(io);
    EXPECT_UEQ(st.leaves[0], len / PAGE);
    EXPECT_UEQ(st.leaves[1], 0);
    EXPECT_CHECK(mm);
    EXPECT_OK(cma_iommu_unmap(io, 0x200000, len));
    EXPECT_OK(cma_free_contig_range(mm, start, len / PAGE));
    EXPECT_OK(cma_free_pages(mm, big, 9));
    EXPECT_OK(cma_iommu_destroy(io));
    test_mm_finish(mm);
}

static void table_pages_accounted(void)
{
    struct cma_mm *mm = test_mm_simple(0, 64 * MiB, backed);
    ASSERT_TRUE(mm != NULL);
    uint64_t base = allocated(mm);
    struct cma_iommu *io = mk_iommu(mm, true, 0);
    struct cma_iommu_stats st = io_stats(io);
    EXPECT_UEQ(st.pt_pages, 1); /* the root */
    EXPECT_UEQ(allocated(mm), base + 1);
    cma_pfn_t p = page(mm, 0);
    ASSERT_OK(cma_iommu_map(io, 1ull << 40, cma_pfn_to_phys(mm, p), PAGE, CMA_IOMMU_READ));
    st = io_stats(io);
    EXPECT_UEQ(st.pt_pages, 4); /* root + three levels below it */
    EXPECT_UEQ(allocated(mm), base + 1 + st.pt_pages);
    /* a second page in another 1 GiB: two more tables */
    cma_pfn_t q = page(mm, 0);
    ASSERT_OK(cma_iommu_map(io, (1ull << 40) + GiB, cma_pfn_to_phys(mm, q), PAGE, CMA_IOMMU_READ));
    st = io_stats(io);
    EXPECT_UEQ(st.pt_pages, 6);
    EXPECT_CHECK(mm);
    EXPECT_OK(cma_iommu_unmap(io, 1ull << 40, PAGE));
    EXPECT_OK(cma_iommu_unmap(io, (1ull << 40) + GiB, PAGE));
    st = io_stats(io);
    EXPECT_UEQ(st.pt_pages_empty, 2); /* the two leaf tables, kept linked until a flush */
    EXPECT_UEQ(st.pt_pages, 6);
    EXPECT_OK(cma_iommu_flush(io));
    st = io_stats(io);
    EXPECT_UEQ(st.pt_pages_empty, 0);
    EXPECT_UEQ(st.pt_pages, 1 + st.pt_pages_spare);
    EXPECT_CHECK(mm);
    EXPECT_OK(cma_free_pages(mm, p, 0));
    EXPECT_OK(cma_free_pages(mm, q, 0));
    EXPECT_OK(cma_iommu_destroy(io));
    EXPECT_UEQ(allocated(mm), base); /* every table page given back */
    test_mm_finish(mm);
}

static void map_pages_iommu(void)
{
    struct cma_mm *mm = test_mm_simple(0, 64 * MiB, NULL);
    ASSERT_TRUE(mm != NULL);
    struct cma_iommu *io = mk_iommu(mm, false, 0);
    struct cma_dev *d = mk_dev(mm, io, 0, NULL), *e = mk_dev(mm, io, 40, NULL);
    ASSERT_TRUE(d && e);
    cma_pfn_t pfns[5];
    for (int i = 0; i < 5; i++)
        pfns[i] = i == 3 ? pfns[1] : page(mm, 0); /* repeats allowed */
    cma_iova_t dma = 0;
    ASSERT_OK(cma_dma_map_pages(d, pfns, 5, &dma));
    EXPECT_TRUE(dma != 0);
    EXPECT_UEQ(dma % (8 * PAGE), 0);  /* 5 pages -> an 8-page, 8-page aligned range */
    EXPECT_TRUE(dma + 5 * PAGE - 1 <= 0xffffffffull); /* below the 32-bit limit */
    for (int i = 0; i < 5; i++) {
        cma_phys_t got;
        EXPECT_OK(cma_iommu_translate(io, dma + i * PAGE + 7, &got));
        EXPECT_UEQ(got, cma_pfn_to_phys(mm, pfns[i]) + 7);
    }
    EXPECT_CHECK(mm);
    EXPECT_ERR(cma_dma_unmap(d, dma, 4), -CMA_EINVAL);
    EXPECT_ERR(cma_dma_unmap(d, dma, 6), -CMA_EINVAL);
    EXPECT_ERR(cma_dma_unmap(d, dma + PAGE, 4), -CMA_ENOENT);
    EXPECT_ERR(cma_dma_unmap(d, dma + 1, 5), -CMA_ENOENT);
    EXPECT_ERR(cma_dma_unmap(e, dma, 5), -CMA_ENOENT); /* another device's mapping */
    EXPECT_ERR(cma_dma_free(d, 5 * PAGE, dma), -CMA_ENOENT); /* a mapping is no buffer */
    cma_phys_t got;
    EXPECT_OK(cma_iommu_translate(io, dma + 4 * PAGE, &got)); /* kept */
    struct cma_dev_stats ds = dev_stats(d);
    EXPECT_UEQ(ds.maps_live, 1);
    EXPECT_UEQ(ds.map_pages_live, 5);
    EXPECT_UEQ(ds.bad_calls, 5);
    EXPECT_UEQ(dev_stats(e).bad_calls, 1);
    EXPECT_CHECK(mm);
    EXPECT_OK(cma_dma_unmap(d, dma, 5));
    EXPECT_ERR(cma_dma_unmap(d, dma, 5), -CMA_ENOENT);
    EXPECT_ERR(cma_iommu_translate(io, dma, &got), -CMA_ENOENT);
    ds = dev_stats(d);
    EXPECT_UEQ(ds.maps_live, 0);
    struct cma_iommu_stats st = io_stats(io);
    EXPECT_UEQ(st.iova_queued_bytes, 8 * PAGE); /* lazy: the IOVA waits for a flush */
    EXPECT_CHECK(mm);
    EXPECT_OK(cma_iommu_flush(io));
    st = io_stats(io);
    EXPECT_UEQ(st.iova_queued_bytes, 0);
    EXPECT_UEQ(st.iova_cached_bytes, 8 * PAGE);
    EXPECT_CHECK(mm);
    for (int i = 0; i < 5; i++)
        if (i != 3)
            EXPECT_OK(cma_free_pages(mm, pfns[i], 0));
    EXPECT_OK(cma_dev_destroy(d));
    EXPECT_OK(cma_dev_destroy(e));
    EXPECT_OK(cma_iommu_destroy(io));
    test_mm_finish(mm);
}

static void destroy_busy(void)
{
    struct cma_mm *mm = test_mm_simple(0, 64 * MiB, NULL);
    ASSERT_TRUE(mm != NULL);
    struct cma_iommu *io = mk_iommu(mm, false, 0);
    struct cma_dev *d = mk_dev(mm, io, 0, NULL), *dd = mk_dev(mm, NULL, 0, NULL);
    cma_pfn_t p = page(mm, 0);
    cma_iova_t dma, dma2;
    ASSERT_OK(cma_dma_map_pages(d, &p, 1, &dma));
    ASSERT_OK(cma_dma_alloc(dd, 3 * PAGE, &dma2, NULL));
    EXPECT_ERR(cma_dev_destroy(d), -CMA_EBUSY);
    EXPECT_ERR(cma_dev_destroy(dd), -CMA_EBUSY);
    EXPECT_ERR(cma_iommu_destroy(io), -CMA_EBUSY);
    EXPECT_ERR(cma_mm_destroy(mm), -CMA_EBUSY);
    EXPECT_OK(cma_dma_unmap(d, dma, 1));
    EXPECT_OK(cma_dma_free(dd, 3 * PAGE, dma2));
    EXPECT_ERR(cma_iommu_destroy(io), -CMA_EBUSY); /* a device is still attached */
    EXPECT_OK(cma_dev_destroy(d));
    EXPECT_OK(cma_dev_destroy(dd));
    EXPECT_OK(cma_iommu_destroy(io)); /* with the unmap still queued: drained */
    EXPECT_OK(cma_free_pages(mm, p, 0));
    test_mm_finish(mm);
}

static void dump_dma(void)
{
    struct cma_mm *mm = test_mm_simple(0, 64 * MiB, NULL);
    ASSERT_TRUE(mm != NULL);
    struct cma_iommu_config c;
    struct cma_iommu *io;
    cma_iommu_config_default(&c);
    c.name = "smmu0";
    ASSERT_OK(cma_iommu_create(mm, &c, &io));
    struct cma_dev_config dc;
    struct cma_dev *d;
    cma_dev_config_default(&dc);
    dc.name = "gpu";
    dc.iommu = io;
    ASSERT_OK(cma_dev_create(mm, &dc, &d));
    char buf[4096];
    int n = cma_mm_dump(mm, CMA_DUMP_DMA, buf, sizeof buf);
    EXPECT_TRUE(n > 0 && (size_t)n < sizeof buf);
    EXPECT_TRUE(strstr(buf, "iommu smmu0: lazy") != NULL);
    EXPECT_TRUE(strstr(buf, "dev gpu: iommu smmu0") != NULL);
    EXPECT_TRUE(strstr(buf, "pt_pages 1 ") != NULL);
    static char all[65536];
    n = cma_mm_dump(mm, CMA_DUMP_ALL, all, sizeof all);
    EXPECT_TRUE(n > 0 && strstr(all, "# dma\niommu smmu0") != NULL);
    EXPECT_OK(cma_dev_destroy(d));
    EXPECT_OK(cma_iommu_destroy(io));
    n = cma_mm_dump(mm, CMA_DUMP_DMA, buf, sizeof buf);
    EXPECT_EQ(n, 0);
    test_mm_finish(mm);
}

int main(int argc, char **argv)
{
    return test_main(argc, argv, TEST(config_defaults), TEST(create_errors), TEST(raw_map_translate),
                     TEST(raw_map_over_existing), TEST(block_sizes), TEST(table_pages_accounted),
                     TEST(map_pages_iommu), TEST(destroy_busy), TEST(dump_dma));
}
