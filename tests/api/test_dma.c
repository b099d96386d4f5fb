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
 *   block_sizes            page-size choice: 2 MiB-aligned contiguous memory is one 2 MiB entry (part
 *                          of it cannot be unmapped: -EINVAL, the block stays); the
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
 *                          sizes from the buddy, own area for any size and the buddy once it is full,
 *                          cpu_addr zeroed and usable
 *   direct_map_pages       contiguous below the limit: dma == phys; non-contiguous / above the limit
 *                          -EINVAL; repeated identical mappings; wrong n -EINVAL; double unmap
 *   dev32_high_memory      32-bit direct device, memory above 4 GiB: every buffer below 4 GiB, then a
 *                          clean -ENOMEM; an area above 4 GiB is never used
 *   dev32_iommu            32-bit device behind a 48-bit IOMMU: IOVAs below 4 GiB, pages anywhere
 *   destroy_busy           device / domain destroy with live users -EBUSY; mm destroy with domains
 *                          -EBUSY
 *   dump_dma               CMA_DUMP_DMA and CMA_DUMP_ALL name the domain and the devices
 */
#include "dma_util.h"

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
    finish_dma(mm, io, NULL);
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
    EXPECT_UEQ(st1.pt_pages - st1.pt_pages_spare, st0.pt_pages - st0.pt_pages_spare);
    EXPECT_OK(cma_free_pages(mm, b, 0)); /* b was not left pinned */
    EXPECT_CHECK(mm);
    EXPECT_OK(cma_iommu_unmap(io, 0x100000, PAGE));
    EXPECT_OK(cma_free_pages(mm, a, 0));
    finish_dma(mm, io, NULL);
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
    /* part of a block entry: refused (blocks are never split), the whole block stays mapped */
    EXPECT_ERR(cma_iommu_unmap(io, 64 * MiB, 1 * MiB), -CMA_EINVAL);
    EXPECT_ERR(cma_iommu_unmap(io, 64 * MiB + 1 * MiB, 1 * MiB), -CMA_ENOENT);
    EXPECT_OK(cma_iommu_translate(io, 64 * MiB + 1 * MiB + 8, &got));
    EXPECT_UEQ(got, cma_pfn_to_phys(mm, big) + 1 * MiB + 8);
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
    finish_dma(mm, io, NULL);
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
    EXPECT_UEQ(st.pt_pages, 4); /* root + three levels below it, reserved exactly (no spare left) */
    EXPECT_UEQ(st.pt_pages_spare, 0);
    EXPECT_UEQ(allocated(mm), base + 1 + st.pt_pages);
    /* a second page in another 1 GiB: two more tables (a third was reserved for the worst case) */
    cma_pfn_t q = page(mm, 0);
    ASSERT_OK(cma_iommu_map(io, (1ull << 40) + GiB, cma_pfn_to_phys(mm, q), PAGE, CMA_IOMMU_READ));
    st = io_stats(io);
    EXPECT_UEQ(st.pt_pages - st.pt_pages_spare, 6);
    EXPECT_UEQ(st.pt_pages_spare, 1);
    EXPECT_UEQ(allocated(mm), base + 2 + st.pt_pages);
    EXPECT_CHECK(mm);
    EXPECT_OK(cma_iommu_unmap(io, 1ull << 40, PAGE));
    EXPECT_OK(cma_iommu_unmap(io, (1ull << 40) + GiB, PAGE));
    st = io_stats(io);
    EXPECT_UEQ(st.pt_pages_empty, 2); /* the two leaf tables, kept linked until a flush */
    EXPECT_UEQ(st.pt_pages - st.pt_pages_spare, 6);
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
    finish_dma(mm, io, e);
}


/* ---- pinning -------------------------------------------------------------------------------------- */

struct owner {
    cma_pfn_t pfn;
    unsigned migrations;
};

static int own_migrate(void *o, cma_pfn_t from, cma_pfn_t to, unsigned order)
{
    struct owner *w = o;
    (void)order;
    if (w->pfn == from)
        w->pfn = to;
    w->migrations++;
    return 0;
}

static const struct cma_movable_ops own_ops = {.migrate = own_migrate};

static int boot_big_area(struct cma_mm *mm, const void *arg)
{
    struct cma_area **ap = (struct cma_area **)arg;
    int r = cma_memblock_add(mm, 0, 64 * MiB);
    return r ? r : cma_declare_contiguous(mm, "cam", 48 * MiB, 0, 0, 0, 0, ap);
}

static void mapped_pages_pinned(void)
{
    struct cma_area *area = NULL;
    struct cma_mm *mm = test_mm_boot(NULL, boot_big_area, &area);
    ASSERT_TRUE(mm && area);
    struct cma_area_stats as;
    ASSERT_OK(cma_area_get_stats(area, &as));
    struct owner w = {0};
    ASSERT_OK(cma_alloc_pages(mm, 0, CMA_GFP_MOVABLE, &w.pfn)); /* CMA first: the area is most of memory */
    ASSERT_TRUE(w.pfn >= as.base_pfn && w.pfn < as.base_pfn + as.count);
    ASSERT_OK(cma_page_set_movable(mm, w.pfn, &own_ops, &w));
    struct cma_iommu *io = mk_iommu(mm, true, 0);
    struct cma_dev *d = mk_dev(mm, io, 0, NULL);
    cma_iova_t dma;
    ASSERT_OK(cma_dma_map_pages(d, &w.pfn, 1, &dma));
    cma_pfn_t got;
    EXPECT_ERR(cma_free_pages(mm, w.pfn, 0), -CMA_EBUSY);
    EXPECT_ERR(cma_alloc(area, as.count, 0, &got), -CMA_EBUSY); /* the mapped page cannot move */
    EXPECT_OK(cma_alloc(area, 1024, 0, &got));                   /* a window elsewhere is fine */
    EXPECT_TRUE(w.pfn < got || w.pfn >= got + 1024);
    EXPECT_OK(cma_release(area, got, 1024));
    EXPECT_EQ(w.migrations, 0);
    EXPECT_CHECK(mm);
    EXPECT_OK(cma_dma_unmap(d, dma, 1));
    ASSERT_OK(cma_alloc(area, as.count, 0, &got)); /* now it moves out of the way */
    EXPECT_EQ(w.migrations, 1);
    EXPECT_TRUE(w.pfn < as.base_pfn || w.pfn >= as.base_pfn + as.count);
    EXPECT_OK(cma_release(area, got, as.count));
    EXPECT_OK(cma_free_pages(mm, w.pfn, 0));
    finish_dma(mm, io, d);
}

static void map_free_page(void)
{
    struct cma_mm *mm = test_mm_simple(0, 64 * MiB, NULL);
    ASSERT_TRUE(mm != NULL);
    struct cma_iommu *io = mk_iommu(mm, false, 0);
    struct cma_dev *d = mk_dev(mm, io, 0, NULL), *dd = mk_dev(mm, NULL, 0, NULL);
    cma_pfn_t ok = page(mm, 0), gone = page(mm, 0);
    EXPECT_OK(cma_free_pages(mm, gone, 0));
    cma_pfn_t pfns[3] = {ok, gone, ok};
    cma_iova_t dma = 7;
    uint64_t base = allocated(mm);
    EXPECT_ERR(cma_dma_map_pages(d, pfns, 3, &dma), -CMA_EFAULT);
    EXPECT_ERR(cma_dma_map_pages(dd, &gone, 1, &dma), -CMA_EFAULT);
    cma_pfn_t hole = cma_phys_to_pfn(mm, 1ull << 40);
    EXPECT_ERR(cma_dma_map_pages(d, &hole, 1, &dma), -CMA_EINVAL);
    EXPECT_ERR(cma_dma_map_pages(d, pfns, 0, &dma), -CMA_EINVAL);
    EXPECT_ERR(cma_dma_map_pages(d, NULL, 1, &dma), -CMA_EINVAL);
    EXPECT_UEQ(allocated(mm), base);
    struct cma_iommu_stats st = io_stats(io);
    EXPECT_UEQ(st.mappings, 0);
    EXPECT_UEQ(dev_stats(d).map_fail, 2); /* argument errors (n 0, NULL) are not counted */
    EXPECT_OK(cma_free_pages(mm, ok, 0)); /* nothing left pinned */
    EXPECT_CHECK(mm);
    EXPECT_OK(cma_dev_destroy(d));
    finish_dma(mm, io, dd);
}

/* ---- coherent buffers ---------------------------------------------------------------------------- */

static void alloc_iommu(void)
{
    struct cma_mm *mm = test_mm_simple(0, 128 * MiB, backed);
    ASSERT_TRUE(mm != NULL);
    uint64_t base = allocated(mm);
    struct cma_iommu *io = mk_iommu(mm, false, 0);
    struct cma_dev *d = mk_dev(mm, io, 0, NULL);
    cma_iova_t dma, small;
    void *cpu = (void *)1;
    const size_t size = 4 * MiB + 12 * KiB;
    ASSERT_OK(cma_dma_alloc(d, size, &dma, &cpu));
    EXPECT_UEQ(dma % (2 * MiB), 0);
    struct cma_iommu_stats st = io_stats(io);
    EXPECT_UEQ(st.leaves[1], 2); /* two order-9 blocks as 2 MiB entries */
    EXPECT_UEQ(st.leaves[0], 3);
    EXPECT_UEQ(st.mapped_bytes, size);
    /* every page zeroed and reachable */
    for (uint64_t off = 0; off < size; off += 64 * KiB) {
        cma_phys_t phys;
        ASSERT_OK(cma_iommu_translate(io, dma + off, &phys));
        const uint8_t *b = cma_pfn_to_virt(mm, cma_phys_to_pfn(mm, phys));
        EXPECT_TRUE(b && b[phys % PAGE] == 0);
    }
    ASSERT_OK(cma_dma_alloc(d, 100, &small, &cpu)); /* 100 bytes: one page, contiguous */
    EXPECT_TRUE(cpu != NULL);
    EXPECT_ERR(cma_dma_free(d, 2 * PAGE, small), -CMA_EINVAL);
    EXPECT_ERR(cma_dma_unmap(d, small, 1), -CMA_ENOENT); /* a buffer is no streaming mapping */
    struct cma_dev_stats ds = dev_stats(d);
    EXPECT_UEQ(ds.allocs_live, 2);
    EXPECT_UEQ(ds.alloc_bytes_live, size + PAGE);
    EXPECT_UEQ(ds.alloc_scattered, 2);
    EXPECT_CHECK(mm);
    EXPECT_OK(cma_dma_free(d, PAGE, small));
    EXPECT_ERR(cma_dma_free(d, PAGE, small), -CMA_ENOENT);
    EXPECT_OK(cma_dma_free(d, size, dma));
    EXPECT_CHECK(mm);
    EXPECT_OK(cma_dev_destroy(d));
    EXPECT_OK(cma_iommu_destroy(io));
    EXPECT_UEQ(allocated(mm), base);
    test_mm_finish(mm);
}

static int boot_cmdline_areas(struct cma_mm *mm, const void *arg)
{
    (void)arg;
    int r = cma_memblock_add(mm, 0, 256 * MiB);
    return r ? r : cma_parse_cmdline(mm, "cma=cam:16M,reserved:64M");
}

static void alloc_direct_area(void)
{
    struct cma_mm *mm = test_mm_boot(backed, boot_cmdline_areas, NULL);
    ASSERT_TRUE(mm != NULL);
    struct cma_area *def = cma_area_lookup(mm, "reserved"), *cam = cma_area_lookup(mm, "cam");
    ASSERT_TRUE(def && cam);
    struct cma_area_stats as;
    ASSERT_OK(cma_area_get_stats(def, &as));
    struct cma_dev *d = mk_dev(mm, NULL, 0, NULL), *own = mk_dev(mm, NULL, 0, cam);
    ASSERT_TRUE(d && own);
    const struct {
        size_t size;
        uint64_t align;
        bool area;
    } cases[] = {
        {4 * MiB, 1 * MiB, true},   /* order 10, alignment capped at 1 MiB */
        {64 * KiB, 64 * KiB, true}, /* 16 pages: the default area */
        {32 * KiB, 32 * KiB, false},/* 8 pages: the buddy allocator */
        {PAGE, PAGE, false},
        {5 * PAGE, 8 * PAGE, false},
    };
    cma_iova_t dma[5];
    for (int i = 0; i < 5; i++) {
        void *cpu = NULL;
        ASSERT_OK(cma_dma_alloc(d, cases[i].size, &dma[i], &cpu));
        EXPECT_UEQ(dma[i] % cases[i].align, 0);
        cma_pfn_t pfn = cma_phys_to_pfn(mm, dma[i]);
        bool in_area = pfn >= as.base_pfn && pfn < as.base_pfn + as.count;
        EXPECT_EQ(in_area, cases[i].area);
        ASSERT_TRUE(cpu == cma_pfn_to_virt(mm, pfn) && cpu != NULL);
        for (size_t k = 0; k < cases[i].size; k += 512)
            EXPECT_EQ(((uint8_t *)cpu)[k], 0);
        memset(cpu, 0xa5, cases[i].size);
    }
    struct cma_dev_stats ds = dev_stats(d);
    EXPECT_UEQ(ds.alloc_from_area, 2);
    EXPECT_UEQ(ds.alloc_from_buddy, 3);
    EXPECT_CHECK(mm);
    /* the buddy blocks are pinned: a stray free is refused */
    EXPECT_ERR(cma_free_pages(mm, cma_phys_to_pfn(mm, dma[3]), 0), -CMA_EBUSY);
    EXPECT_ERR(cma_dma_free(d, 2 * PAGE, dma[3]), -CMA_EINVAL);
    EXPECT_ERR(cma_dma_free(d, PAGE, dma[3] + PAGE), -CMA_ENOENT);
    EXPECT_ERR(cma_dma_unmap(d, dma[3], 1), -CMA_ENOENT); /* a buffer is no mapping */
    for (int i = 0; i < 5; i++)
        EXPECT_OK(cma_dma_free(d, cases[i].size, dma[i]));
    EXPECT_ERR(cma_dma_free(d, PAGE, dma[3]), -CMA_ENOENT);
    /* zeroed again when reused */
    void *cpu;
    cma_iova_t again;
    ASSERT_OK(cma_dma_alloc(d, 4 * MiB, &again, &cpu));
    EXPECT_EQ(((uint8_t *)cpu)[12345], 0);
    EXPECT_OK(cma_dma_free(d, 4 * MiB, again));
    /* a device with its own area uses it for any size; when the area is full, the buddy allocator */
    ASSERT_OK(cma_area_get_stats(cam, &as));
    ASSERT_OK(cma_dma_alloc(own, PAGE, &again, NULL));
    EXPECT_TRUE(cma_phys_to_pfn(mm, again) >= as.base_pfn &&
                cma_phys_to_pfn(mm, again) < as.base_pfn + as.count);
    EXPECT_UEQ(dev_stats(own).alloc_from_area, 1);
    EXPECT_OK(cma_dma_free(own, PAGE, again));
    cma_iova_t part[9];
    for (int i = 0; i < 9; i++) {
        ASSERT_OK(cma_dma_alloc(own, 2 * MiB, &part[i], NULL));
        cma_pfn_t pf = cma_phys_to_pfn(mm, part[i]);
        EXPECT_EQ(pf >= as.base_pfn && pf < as.base_pfn + as.count, i < 8); /* 16 MiB area: 8 fit */
    }
    EXPECT_UEQ(dev_stats(own).alloc_from_buddy, 1);
    EXPECT_CHECK(mm);
    for (int i = 0; i < 9; i++)
        EXPECT_OK(cma_dma_free(own, 2 * MiB, part[i]));
    EXPECT_OK(cma_dev_destroy(d));
    EXPECT_OK(cma_dev_destroy(own));
    test_mm_finish(mm);
}

static void direct_map_pages(void)
{
    struct cma_mm *mm = test_mm_simple(0, 64 * MiB, NULL);
    ASSERT_TRUE(mm != NULL);
    struct cma_dev *d = mk_dev(mm, NULL, 0, NULL), *d24 = mk_dev(mm, NULL, 24, NULL);
    cma_pfn_t blk = page(mm, 2), lone = page(mm, 0);
    cma_pfn_t pfns[4] = {blk, blk + 1, blk + 2, blk + 3};
    cma_iova_t dma, dma2;
    ASSERT_OK(cma_dma_map_pages(d, pfns, 4, &dma));
    EXPECT_UEQ(dma, cma_pfn_to_phys(mm, blk));
    ASSERT_OK(cma_dma_map_pages(d, pfns, 4, &dma2)); /* the same pages again */
    EXPECT_UEQ(dma2, dma);
    ASSERT_OK(cma_dma_map_pages(d, pfns + 1, 2, &dma2));
    EXPECT_UEQ(dma2, cma_pfn_to_phys(mm, blk + 1));
    cma_pfn_t scattered[2] = {blk, lone};
    EXPECT_ERR(cma_dma_map_pages(d, scattered, 2, &dma2), -CMA_EINVAL);
    /* above a 24-bit device's reach (a contiguous range is mappable memory too) */
    cma_pfn_t high = cma_phys_to_pfn(mm, 16 * MiB);
    ASSERT_OK(cma_alloc_contig_range(mm, high - 1, high + 1));
    EXPECT_ERR(cma_dma_map_pages(d24, &high, 1, &dma2), -CMA_EINVAL);
    cma_pfn_t below = high - 1;
    ASSERT_OK(cma_dma_map_pages(d24, &below, 1, &dma2));
    EXPECT_OK(cma_dma_unmap(d24, dma2, 1));
    EXPECT_ERR(cma_free_pages(mm, blk, 2), -CMA_EBUSY);
    struct cma_dev_stats ds = dev_stats(d);
    EXPECT_UEQ(ds.maps_live, 3);
    EXPECT_UEQ(ds.map_pages_live, 10);
    EXPECT_CHECK(mm);
    EXPECT_ERR(cma_dma_unmap(d, dma, 3), -CMA_EINVAL);
    EXPECT_ERR(cma_dma_free(d, 4 * PAGE, dma), -CMA_ENOENT);
    EXPECT_OK(cma_dma_unmap(d, dma, 4));
    EXPECT_OK(cma_dma_unmap(d, dma, 4));
    EXPECT_ERR(cma_dma_unmap(d, dma, 4), -CMA_ENOENT);
    EXPECT_OK(cma_dma_unmap(d, cma_pfn_to_phys(mm, blk + 1), 2));
    EXPECT_OK(cma_free_pages(mm, blk, 2));
    EXPECT_OK(cma_free_pages(mm, lone, 0));
    EXPECT_OK(cma_free_contig_range(mm, high - 1, 2));
    EXPECT_CHECK(mm);
    EXPECT_OK(cma_dev_destroy(d));
    EXPECT_OK(cma_dev_destroy(d24));
    test_mm_finish(mm);
}

/* ---- 32-bit devices on a machine with memory above 4 GiB ---------------------------------------- */

static int boot_high(struct cma_mm *mm, const void *arg)
{
    struct cma_area **ap = (struct cma_area **)arg;
    int r = cma_memblock_add(mm, 0, 64 * MiB);
    if (!r)
        r = cma_memblock_add(mm, 4 * GiB, 4 * GiB);
    return r ? r : cma_declare_contiguous(mm, "reserved", 64 * MiB, 4 * GiB, 0, 0, 0, ap);
}

static void dev32_high_memory(void)
{
    struct cma_area *area = NULL;
    struct cma_mm *mm = test_mm_boot(NULL, boot_high, &area);
    ASSERT_TRUE(mm && area);
    struct cma_dev *d = mk_dev(mm, NULL, 32, NULL);
    enum { MAXB = 80 };
    cma_iova_t dma[MAXB];
    int n = 0, r = 0;
    while (n < MAXB && !(r = cma_dma_alloc(d, 1 * MiB, &dma[n], NULL))) {
        EXPECT_TRUE(dma[n] + MiB <= 4 * GiB);
        n++;
    }
    EXPECT_ERR(r, -CMA_ENOMEM); /* 64 MiB of low memory: 64 buffers, then a clean failure */
    EXPECT_EQ(n, 64);
    struct cma_dev_stats ds = dev_stats(d);
    EXPECT_UEQ(ds.alloc_from_area, 0); /* the area lies above 4 GiB */
    EXPECT_UEQ(ds.alloc_fail, 1);
    struct cma_area_stats as;
    ASSERT_OK(cma_area_get_stats(area, &as));
    EXPECT_UEQ(as.alloc_pages_success, 0);
    cma_iova_t one;
    EXPECT_ERR(cma_dma_alloc(d, PAGE * 2, &one, NULL), -CMA_ENOMEM); /* none left for small ones either */
    EXPECT_CHECK(mm);
    for (int i = 0; i < n; i++)
        EXPECT_OK(cma_dma_free(d, 1 * MiB, dma[i]));
    /* a 64-bit device on the same machine gets the area */
    struct cma_dev *d64 = mk_dev(mm, NULL, 64, NULL);
    cma_iova_t big;
    ASSERT_OK(cma_dma_alloc(d64, 8 * MiB, &big, NULL));
    EXPECT_TRUE(big >= 4 * GiB);
    EXPECT_UEQ(dev_stats(d64).alloc_from_area, 1);
    EXPECT_OK(cma_dma_free(d64, 8 * MiB, big));
    EXPECT_OK(cma_dev_destroy(d64));
    EXPECT_OK(cma_dev_destroy(d));
    test_mm_finish(mm);
}

static void dev32_iommu(void)
{
    struct cma_area *area = NULL;
    struct cma_mm *mm = test_mm_boot(NULL, boot_high, &area);
    ASSERT_TRUE(mm && area);
    struct cma_iommu *io = mk_iommu(mm, false, 48);
    struct cma_dev *d = mk_dev(mm, io, 32, NULL);
    cma_iova_t dma[8];
    for (int i = 0; i < 8; i++) {
        ASSERT_OK(cma_dma_alloc(d, 16 * MiB, &dma[i], NULL)); /* more than all low memory together */
        EXPECT_TRUE(dma[i] + 16 * MiB <= 4 * GiB);
        EXPECT_UEQ(dma[i] % (16 * MiB), 0);
    }
    EXPECT_CHECK(mm);
    for (int i = 0; i < 8; i++)
        EXPECT_OK(cma_dma_free(d, 16 * MiB, dma[i]));
    finish_dma(mm, io, d);
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
                     TEST(map_pages_iommu), TEST(mapped_pages_pinned), TEST(map_free_page),
                     TEST(alloc_iommu), TEST(alloc_direct_area), TEST(direct_map_pages),
                     TEST(dev32_high_memory), TEST(dev32_iommu), TEST(destroy_busy), TEST(dump_dma));
}
