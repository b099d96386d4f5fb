/* SPDX-License-Identifier: MIT */
/*
 * tests/api/test_iommu_flush.c - IOTLB invalidation, IOVA space and page-table edge cases of the
 * IOMMU path, through <cma/cma.h> only.
 *
 *   lazy_reuse_window      with the software IOTLB: after a lazy unmap a stale translation can still
 *                          be hit and the IOVA is not handed out again; after the flush neither
 *   strict_unmap           strict: the stale entry is gone when the unmap returns, the range hook ran
 *                          once with the mapping's address and size, no whole-space flush
 *   queue_full             fq_size 8: a full queue flushes from the unmapping CPU, exactly one flush
 *                          per 8 unmaps, the whole-space hook once per flush
 *   queue_timeout          a fake host clock: the 16th unmap after fq_timeout_ns flushes, not before
 *   iova_exhaustion        a 20-bit device: 255 one-page mappings fit (IOVA 0 never), the next is
 *                          -ENOSPC; after one unmap (still queued) it fits again; with every range
 *                          queued or cached a 128-page mapping still fits (queues and caches are
 *                          reclaimed before -ENOSPC)
 *   table_alloc_failure    the machine runs out of pages for a map's tables: -ENOMEM before anything is
 *                          written (tables are reserved for the worst case first), nothing pinned, the
 *                          pages it got kept as accounted spares; with memory back it works
 *   sparse_tables          one page every 2 MiB: table memory grows one page per mapping; once
 *                          unmapped, empty tables are kept only up to the bound, then reclaimed (with a
 *                          whole-space invalidation); after a flush only the root and spares remain
 *   top_down_alignment     IOVAs are handed out top-down below the limit, size-aligned, holes reused
 */
#include "dma_util.h"

struct hooks {
    unsigned ranges, alls;
    cma_iova_t last_iova;
    uint64_t last_size;
};

static void hk_range(void *arg, cma_iova_t iova, uint64_t size)
{
    struct hooks *h = arg;
    h->ranges++;
    h->last_iova = iova;
    h->last_size = size;
}

static void hk_all(void *arg) { ((struct hooks *)arg)->alls++; }

static const struct cma_iommu_ops hook_ops = {.inv_range = hk_range, .inv_all = hk_all};

static struct cma_iommu *mk(struct cma_mm *mm, bool strict, unsigned fq, unsigned iotlb, struct hooks *h)
{
    struct cma_iommu_config c;
    struct cma_iommu *io = NULL;
    cma_iommu_config_default(&c);
    c.strict = strict;
    c.fq_size = fq;
    c.fq_timeout_ns = UINT64_MAX / 2; /* only the tests that want a timeout get one */
    c.iotlb_entries = iotlb;
    c.ops = h ? &hook_ops : NULL;
    c.ops_arg = h;
    EXPECT_OK(cma_iommu_create(mm, &c, &io));
    return io;
}

static void lazy_reuse_window(void)
{
    struct cma_mm *mm = test_mm_simple(0, 64 * MiB, NULL);
    ASSERT_TRUE(mm != NULL);
    struct hooks h = {0};
    struct cma_iommu *io = mk(mm, false, 0, 16, &h);
    struct cma_dev *d = mk_dev(mm, io, 0, NULL);
    cma_pfn_t a = page(mm, 0), b = page(mm, 0);
    cma_iova_t da, db;
    cma_phys_t got;
    ASSERT_OK(cma_dma_map_pages(d, &a, 1, &da));
    ASSERT_OK(cma_iommu_access(io, da + 8, &got)); /* miss, cached */
    EXPECT_UEQ(got, cma_pfn_to_phys(mm, a) + 8);
    ASSERT_OK(cma_dma_unmap(d, da, 1));
    EXPECT_ERR(cma_iommu_translate(io, da, &got), -CMA_ENOENT); /* the table is already clear */
    EXPECT_OK(cma_iommu_access(io, da, &got));                   /* but the IOTLB is stale */
    EXPECT_UEQ(got, cma_pfn_to_phys(mm, a));
    struct cma_iommu_stats st = io_stats(io);
    EXPECT_UEQ(st.iotlb_stale_hits, 1);
    EXPECT_UEQ(h.ranges + h.alls, 0);
    EXPECT_CHECK(mm); /* D4: the stale entry lies in a queued range */
    /* the IOVA is not reused while it may be stale */
    for (int i = 0; i < 40; i++) {
        ASSERT_OK(cma_dma_map_pages(d, &b, 1, &db));
        EXPECT_TRUE(db != da);
        ASSERT_OK(cma_dma_unmap(d, db, 1));
    }
    EXPECT_OK(cma_free_pages(mm, a, 0)); /* the page itself is released at unmap (lazy trade-off) */
    EXPECT_OK(cma_iommu_flush(io));
    EXPECT_EQ(h.alls, 1);
    EXPECT_ERR(cma_iommu_access(io, da, &got), -CMA_ENOENT);
    st = io_stats(io);
    EXPECT_UEQ(st.iova_queued_bytes, 0);
    EXPECT_CHECK(mm);
    EXPECT_OK(cma_free_pages(mm, b, 0));
    finish_dma(mm, io, d);
}

static void strict_unmap(void)
{
    struct cma_mm *mm = test_mm_simple(0, 64 * MiB, NULL);
    ASSERT_TRUE(mm != NULL);
    struct hooks h = {0};
    struct cma_iommu *io = mk(mm, true, 0, 16, &h);
    struct cma_dev *d = mk_dev(mm, io, 0, NULL);
    cma_pfn_t p[3] = {page(mm, 0), page(mm, 0), page(mm, 0)};
    cma_iova_t da;
    cma_phys_t got;
    ASSERT_OK(cma_dma_map_pages(d, p, 3, &da));
    ASSERT_OK(cma_iommu_access(io, da + 2 * PAGE, &got));
    EXPECT_UEQ(got, cma_pfn_to_phys(mm, p[2]));
    ASSERT_OK(cma_dma_unmap(d, da, 3));
    EXPECT_EQ(h.ranges, 1);
    EXPECT_UEQ(h.last_iova, da);
    EXPECT_UEQ(h.last_size, 3 * PAGE);
    EXPECT_EQ(h.alls, 0);
    EXPECT_ERR(cma_iommu_access(io, da + 2 * PAGE, &got), -CMA_ENOENT);
    struct cma_iommu_stats st = io_stats(io);
    EXPECT_UEQ(st.iotlb_stale_hits, 0);
    EXPECT_UEQ(st.iova_queued_bytes, 0);
    EXPECT_UEQ(st.iova_cached_bytes, 4 * PAGE); /* reusable at once */
    EXPECT_CHECK(mm);
    for (int i = 0; i < 3; i++)
        EXPECT_OK(cma_free_pages(mm, p[i], 0));
    finish_dma(mm, io, d);
}

static void queue_full(void)
{
    struct cma_mm *mm = test_mm_simple(0, 64 * MiB, NULL);
    ASSERT_TRUE(mm != NULL);
    struct hooks h = {0};
    struct cma_iommu *io = mk(mm, false, 8, 0, &h);
    struct cma_dev *d = mk_dev(mm, io, 0, NULL);
    cma_pfn_t p = page(mm, 0);
    for (int i = 0; i < 80; i++) {
        cma_iova_t da;
        ASSERT_OK(cma_dma_map_pages(d, &p, 1, &da));
        ASSERT_OK(cma_dma_unmap(d, da, 1));
    }
    struct cma_iommu_stats st = io_stats(io);
    EXPECT_UEQ(st.fq_queued, 80);
    EXPECT_UEQ(st.fq_full_flushes, 9); /* the 9th, 17th, ... 73rd unmap found the ring full */
    EXPECT_UEQ(st.inv_all, 9);
    EXPECT_EQ(h.alls, 9);
    EXPECT_EQ(h.ranges, 0);
    EXPECT_UEQ(st.iova_queued_bytes, 8 * PAGE);
    EXPECT_CHECK(mm);
    EXPECT_OK(cma_free_pages(mm, p, 0));
    finish_dma(mm, io, d);
}

static uint64_t fake_ns;
static uint64_t fake_now(void *ctx)
{
    (void)ctx;
    return fake_ns;
}
static const struct cma_host fake_host = {.now_ns = fake_now};
static void fake_clock(struct cma_mm_config *c) { c->host = &fake_host; }

static void queue_timeout(void)
{
    fake_ns = 1000;
    struct cma_mm *mm = test_mm_simple(0, 64 * MiB, fake_clock);
    ASSERT_TRUE(mm != NULL);
    struct cma_iommu_config c;
    struct cma_iommu *io;
    cma_iommu_config_default(&c);
    c.fq_timeout_ns = 5000;
    ASSERT_OK(cma_iommu_create(mm, &c, &io));
    struct cma_dev *d = mk_dev(mm, io, 0, NULL);
    cma_pfn_t p = page(mm, 0);
    cma_iova_t da;
    for (int i = 0; i < 15; i++) {
        ASSERT_OK(cma_dma_map_pages(d, &p, 1, &da));
        ASSERT_OK(cma_dma_unmap(d, da, 1));
        fake_ns += 1000; /* 15 us pass, but the clock is read every 16th unmap only */
    }
    EXPECT_UEQ(io_stats(io).fq_timeout_flushes, 0);
    ASSERT_OK(cma_dma_map_pages(d, &p, 1, &da));
    ASSERT_OK(cma_dma_unmap(d, da, 1));
    struct cma_iommu_stats st = io_stats(io);
    EXPECT_UEQ(st.fq_timeout_flushes, 1);
    EXPECT_UEQ(st.iova_queued_bytes, 0);
    /* 16 more within the time limit: no flush */
    for (int i = 0; i < 16; i++) {
        ASSERT_OK(cma_dma_map_pages(d, &p, 1, &da));
        ASSERT_OK(cma_dma_unmap(d, da, 1));
    }
    EXPECT_UEQ(io_stats(io).fq_timeout_flushes, 1);
    EXPECT_CHECK(mm);
    EXPECT_OK(cma_free_pages(mm, p, 0));
    finish_dma(mm, io, d);
}

static void iova_exhaustion(void)
{
    struct cma_mm *mm = test_mm_simple(0, 64 * MiB, NULL);
    ASSERT_TRUE(mm != NULL);
    struct cma_iommu *io = mk(mm, false, 0, 0, NULL);
    struct cma_dev *d = mk_dev(mm, io, 20, NULL); /* 1 MiB of IOVA: frames 1..255 */
    cma_pfn_t p = page(mm, 0);
    cma_iova_t da[256];
    int n = 0;
    while (n < 256 && cma_dma_map_pages(d, &p, 1, &da[n]) == 0) {
        EXPECT_TRUE(da[n] >= PAGE && da[n] < MiB);
        n++;
    }
    EXPECT_EQ(n, 255);
    cma_iova_t x;
    EXPECT_ERR(cma_dma_map_pages(d, &p, 1, &x), -CMA_ENOSPC);
    EXPECT_CHECK(mm);
    /* one unmap: its range waits in the queue, and is reclaimed for the next request */
    ASSERT_OK(cma_dma_unmap(d, da[100], 1));
    ASSERT_OK(cma_dma_map_pages(d, &p, 1, &da[100]));
    EXPECT_ERR(cma_dma_map_pages(d, &p, 1, &x), -CMA_ENOSPC);
    EXPECT_ERR(cma_dma_map_pages(d, &p, 1, &x), -CMA_ENOSPC); /* the same request keeps failing */
    /* every range queued (no flush yet) or cached: a 128-page mapping still fits */
    for (int i = 0; i < 255; i++)
        ASSERT_OK(cma_dma_unmap(d, da[i], 1));
    struct cma_iommu_stats st = io_stats(io);
    EXPECT_UEQ(st.iova_queued_bytes + st.iova_cached_bytes, 255 * PAGE);
    cma_pfn_t many[128];
    for (int i = 0; i < 128; i++)
        many[i] = p;
    ASSERT_OK(cma_dma_map_pages(d, many, 128, &x));
    EXPECT_UEQ(x % (128 * PAGE), 0);
    EXPECT_CHECK(mm);
    ASSERT_OK(cma_dma_unmap(d, x, 128));
    /* caches alone: after a flush every range is cached; the tree looks full until they are purged */
    for (n = 0; n < 255; n++)
        ASSERT_OK(cma_dma_map_pages(d, &p, 1, &da[n]));
    for (int i = 0; i < 255; i++)
        ASSERT_OK(cma_dma_unmap(d, da[i], 1));
    ASSERT_OK(cma_iommu_flush(io));
    st = io_stats(io);
    EXPECT_UEQ(st.iova_cached_bytes, 255 * PAGE);
    ASSERT_OK(cma_dma_map_pages(d, many, 64, &x));
    EXPECT_CHECK(mm);
    ASSERT_OK(cma_dma_unmap(d, x, 64));
    EXPECT_OK(cma_free_pages(mm, p, 0));
    finish_dma(mm, io, d);
}

static void table_alloc_failure(void)
{
    struct cma_mm *mm = test_mm_simple(0, 16 * MiB, NULL);
    ASSERT_TRUE(mm != NULL);
    struct cma_iommu *io = mk(mm, true, 0, 0, NULL);
    cma_pfn_t pair = page(mm, 1);
    /* take every page, then give three back: enough for the first leaf's three tables only */
    enum { MAXP = 4096 };
    static cma_pfn_t held[MAXP];
    int n = 0;
    while (n < MAXP && cma_alloc_pages(mm, 0, CMA_GFP_UNMOVABLE, &held[n]) == 0)
        n++;
    ASSERT_TRUE(n > 3 && n < MAXP);
    for (int i = 0; i < 3; i++)
        EXPECT_OK(cma_free_pages(mm, held[--n], 0));
    /* two pages on both sides of a leaf-table boundary: tables are reserved for the worst case
     * (two per level) before anything is written, so the map fails whole, never halfway */
    const cma_iova_t iova = 2 * MiB - PAGE;
    uint64_t before = allocated(mm);
    EXPECT_ERR(cma_iommu_map(io, iova, cma_pfn_to_phys(mm, pair), 2 * PAGE, CMA_IOMMU_READ), -CMA_ENOMEM);
    cma_phys_t got;
    EXPECT_ERR(cma_iommu_translate(io, iova, &got), -CMA_ENOENT);
    struct cma_iommu_stats st = io_stats(io);
    EXPECT_UEQ(st.mappings, 0);
    EXPECT_UEQ(st.mapped_bytes, 0);
    EXPECT_UEQ(st.pt_pages, 4); /* the root and the three pages it got, kept as spares */
    EXPECT_UEQ(st.pt_pages_spare, 3);
    EXPECT_UEQ(allocated(mm), before + 3);
    EXPECT_CHECK(mm);
    struct cma_dev *d = mk_dev(mm, io, 0, NULL);
    EXPECT_OK(cma_free_pages(mm, pair, 1)); /* pages were not left pinned */
    ASSERT_OK(cma_alloc_pages(mm, 1, CMA_GFP_UNMOVABLE, &pair));
    /* with enough pages back the map succeeds */
    for (int i = 0; i < 3; i++)
        EXPECT_OK(cma_free_pages(mm, held[--n], 0));
    ASSERT_OK(cma_iommu_map(io, iova, cma_pfn_to_phys(mm, pair), 2 * PAGE, CMA_IOMMU_READ));
    EXPECT_OK(cma_iommu_translate(io, iova + PAGE, &got));
    EXPECT_UEQ(got, cma_pfn_to_phys(mm, pair) + PAGE);
    EXPECT_CHECK(mm);
    /* no memory left at all: a DMA map needing a new table fails cleanly */
    cma_pfn_t other = pair;
    cma_iova_t dma;
    struct cma_dev_stats ds0 = dev_stats(d);
    int r = cma_dma_map_pages(d, &other, 1, &dma);
    if (r == 0) { /* its IOVA found existing tables: unmap and accept */
        EXPECT_OK(cma_dma_unmap(d, dma, 1));
    } else {
        EXPECT_ERR(r, -CMA_ENOMEM);
        EXPECT_UEQ(dev_stats(d).maps_live, ds0.maps_live);
    }
    EXPECT_CHECK(mm);
    EXPECT_OK(cma_iommu_unmap(io, iova, 2 * PAGE));
    EXPECT_OK(cma_free_pages(mm, pair, 1));
    while (n > 0)
        EXPECT_OK(cma_free_pages(mm, held[--n], 0));
    finish_dma(mm, io, d);
}

static void sparse_tables(void)
{
    struct cma_mm *mm = test_mm_simple(0, 64 * MiB, NULL);
    ASSERT_TRUE(mm != NULL);
    struct hooks h = {0};
    struct cma_iommu *io = mk(mm, true, 0, 0, &h);
    cma_pfn_t p = page(mm, 0);
    enum { N = 100 };
    for (int i = 0; i < N; i++)
        ASSERT_OK(cma_iommu_map(io, (uint64_t)(i + 1) * 2 * MiB, cma_pfn_to_phys(mm, p), PAGE, CMA_IOMMU_READ));
    struct cma_iommu_stats st = io_stats(io);
    EXPECT_UEQ(st.pt_pages - st.pt_pages_spare, 1 + 1 + 1 + N); /* root, one table per level above the
                                                                     leaves, N leaf tables */
    EXPECT_UEQ(st.mapped_bytes, N * PAGE);  /* 100% table overhead: one 4 KiB table per 4 KiB mapped */
    EXPECT_CHECK(mm);
    for (int i = 0; i < N; i++) {
        ASSERT_OK(cma_iommu_unmap(io, (uint64_t)(i + 1) * 2 * MiB, PAGE));
        st = io_stats(io);
        EXPECT_TRUE(st.pt_pages_empty <= 64);
    }
    EXPECT_EQ(h.ranges, N);
    EXPECT_EQ(h.alls, 1); /* one reclaim, when the 65th table emptied */
    EXPECT_TRUE(st.pt_pages < 1 + 2 + 64 + 8);
    EXPECT_TRUE(st.pt_pages_peak >= 3 + N && st.pt_pages_peak <= 3 + N + 8);
    EXPECT_CHECK(mm);
    EXPECT_OK(cma_iommu_flush(io));
    st = io_stats(io);
    EXPECT_UEQ(st.pt_pages, 1 + st.pt_pages_spare);
    EXPECT_TRUE(st.pt_pages_spare <= 8);
    EXPECT_CHECK(mm);
    EXPECT_OK(cma_free_pages(mm, p, 0));
    finish_dma(mm, io, NULL);
}

static void top_down_alignment(void)
{
    struct cma_mm *mm = test_mm_simple(0, 64 * MiB, NULL);
    ASSERT_TRUE(mm != NULL);
    struct cma_iommu *io = mk(mm, true, 0, 0, NULL);
    struct cma_dev *d = mk_dev(mm, io, 32, NULL);
    cma_pfn_t p = page(mm, 0);
    cma_pfn_t pp[64];
    for (int i = 0; i < 64; i++)
        pp[i] = p;
    cma_iova_t a, b, c, e;
    ASSERT_OK(cma_dma_map_pages(d, pp, 3, &a)); /* rounded to 4 pages at the top */
    EXPECT_UEQ(a, 4 * GiB - 4 * PAGE);
    ASSERT_OK(cma_dma_map_pages(d, pp, 1, &b));
    EXPECT_UEQ(b, a - PAGE);
    ASSERT_OK(cma_dma_map_pages(d, pp, 4, &c)); /* 4-page aligned: leaves a 3-page hole */
    EXPECT_UEQ(c, a - 8 * PAGE);
    ASSERT_OK(cma_dma_map_pages(d, pp, 2, &e)); /* the hole's 2-page aligned part */
    EXPECT_UEQ(e, a - 4 * PAGE);
    cma_iova_t big;
    ASSERT_OK(cma_dma_map_pages(d, pp, 40, &big)); /* not rounded, aligned to 64 pages */
    EXPECT_UEQ(big % (64 * PAGE), 0);
    EXPECT_TRUE(big + 40 * PAGE <= c);
    EXPECT_CHECK(mm);
    EXPECT_OK(cma_dma_unmap(d, a, 3));
    EXPECT_OK(cma_dma_unmap(d, b, 1));
    EXPECT_OK(cma_dma_unmap(d, c, 4));
    EXPECT_OK(cma_dma_unmap(d, e, 2));
    EXPECT_OK(cma_dma_unmap(d, big, 40));
    EXPECT_CHECK(mm);
    EXPECT_OK(cma_free_pages(mm, p, 0));
    finish_dma(mm, io, d);
}

int main(int argc, char **argv)
{
    return test_main(argc, argv, TEST(lazy_reuse_window), TEST(strict_unmap), TEST(queue_full),
                     TEST(queue_timeout), TEST(iova_exhaustion), TEST(table_alloc_failure),
                     TEST(sparse_tables), TEST(top_down_alignment));
}
