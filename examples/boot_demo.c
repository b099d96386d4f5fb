/* SPDX-License-Identifier: MIT */
/*
 * boot_demo - boots a 1 GiB machine with a memory hole and a reserved range, runs a mixed
 * allocation workload and prints what the allocator looks like: /proc/buddyinfo,
 * /proc/pagetypeinfo and the pageblock map. A tour of the page allocator in 100 lines.
 *
 *   ./boot_demo [seed]
 */
#define EXAMPLE "boot_demo"
#include "example.h"

#define MiB (1ull << 20)

static void dump(struct cma_mm *mm, enum cma_dump what, const char *title)
{
    int n = cma_mm_dump(mm, what, NULL, 0);
    if (n < 0)
        fail("cma_mm_dump", n);
    char *buf = malloc((size_t)n + 1);
    if (!buf)
        exit(1);
    cma_mm_dump(mm, what, buf, (size_t)n + 1);
    printf("== %s ==\n%s\n", title, buf);
    free(buf);
}

struct block {
    cma_pfn_t pfn;
    unsigned order;
};

int main(int argc, char **argv)
{
    unsigned seed = argc > 1 ? (unsigned)strtoul(argv[1], NULL, 0) : 1;
    struct cma_mm_config cfg;
    struct cma_mm *mm;
    int r;

    cma_mm_config_default(&cfg);
    if ((r = cma_mm_create(&cfg, &mm)))
        fail("cma_mm_create", r);
    /* 1 GiB in two ranges with a 64 MiB hole between them, starting at 16 MiB, and 6 MiB reserved
     * for a firmware table. */
    if ((r = cma_memblock_add(mm, 16 * MiB, 512 * MiB)) ||
        (r = cma_memblock_add(mm, 592 * MiB, 512 * MiB)) ||
        (r = cma_memblock_reserve(mm, 100 * MiB, 6 * MiB)))
        fail("memblock", r);
    if ((r = cma_mm_online(mm)))
        fail("cma_mm_online", r);

    /* A mixed workload: mostly small movable pages, some unmovable and reclaimable, a few big
     * blocks; a third of everything is freed again to leave holes behind. */
    enum { N = 60000 };
    static struct block live[N];
    static const unsigned gfps[] = {CMA_GFP_MOVABLE, CMA_GFP_MOVABLE, CMA_GFP_MOVABLE,
                                    CMA_GFP_UNMOVABLE, CMA_GFP_RECLAIMABLE};
    size_t n = 0;
    srand(seed);
    for (int i = 0; i < N; i++) {
        unsigned order = rand() % 16 == 0 ? (unsigned)(rand() % 10) : (unsigned)(rand() % 3);
        unsigned gfp = gfps[rand() % 5];
        if (cma_alloc_pages(mm, order, gfp, &live[n].pfn) == 0)
            live[n++].order = order;
    }
    for (size_t i = 0; i < n; i += 3)
        if ((r = cma_free_pages(mm, live[i].pfn, live[i].order)))
            fail("cma_free_pages", r);

    struct cma_mm_stats st;
    cma_mm_get_stats(mm, &st);
    printf("libcma %s: %llu pages, %llu reserved, %llu allocated, %llu free; metadata %.2f bytes/page\n\n",
           cma_version(), (unsigned long long)st.nr_pages, (unsigned long long)st.nr_reserved,
           (unsigned long long)st.nr_allocated, (unsigned long long)st.nr_free_total,
           (double)st.metadata_bytes / (double)st.nr_pages);
    dump(mm, CMA_DUMP_BUDDYINFO, "buddyinfo");
    dump(mm, CMA_DUMP_PAGETYPEINFO, "pagetypeinfo");
    dump(mm, CMA_DUMP_PAGEBLOCK_MAP, "pageblock map");

    check(mm);
    for (size_t i = 0; i < n; i++)
        if (i % 3)
            TRY(cma_free_pages(mm, live[i].pfn, live[i].order));
    if ((r = cma_mm_destroy(mm)))
        fail("cma_mm_destroy", r);
    return 0;
}
