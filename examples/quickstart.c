/* SPDX-License-Identifier: MIT */
/*
 * quickstart - the README's example as a complete program. A 2 GiB machine (metadata only) lends
 * its 256 MiB "camera" CMA area to movable memory: 128 movable 2 MiB blocks (think page cache) fill
 * the area. The camera's 64 MiB cma_alloc then has to migrate the blocks in its window elsewhere,
 * and each block's owner - here simply the slot that remembers where the block lives - follows its
 * block. Prints what happened; exits 0 only when the counts agree, the invariant checker finds
 * nothing and cma_mm_destroy confirms every page came back.
 *
 *   ./quickstart
 *
 * The part between the README markers is shown in README.md and must stay identical to it
 * (scripts/check_readme_example.sh, run by ctest).
 */
#define EXAMPLE "quickstart"
#include "example.h"

static unsigned long blocks_moved;

/* The owner of a movable block is the slot holding its pfn: migration tells it the new place. */
static int follow_block(void *owner, cma_pfn_t from, cma_pfn_t to, unsigned order)
{
    cma_pfn_t *slot = owner;
    (void)order;
    if (*slot != from)
        return -CMA_EINVAL; /* not the block this owner knows: refuse, nothing moves */
    *slot = to;
    blocks_moved++;
    return 0;
}

static const struct cma_movable_ops my_ops = {.migrate = follow_block};

int main(void)
{
    /* README begin */
    struct cma_mm_config cfg;
    struct cma_mm *mm;
    struct cma_area *camera;
    static cma_pfn_t cache[128];        /* 128 movable 2 MiB blocks and where each lives */

    cma_mm_config_default(&cfg);        /* 4 KiB pages, max order 10, pageblock order 9 */
    cfg.cma_first_percent = 0;          /* movable memory uses CMA first: it fills the area */
    TRY(cma_mm_create(&cfg, &mm));
    TRY(cma_memblock_add(mm, 0, 2ull << 30));                  /* 2 GiB of RAM */
    TRY(cma_declare_contiguous(mm, "camera", 256 << 20, 0, 0, 0, 0, &camera));
    TRY(cma_mm_online(mm));             /* the area's pages are lent to movable users */

    for (int i = 0; i < 128; i++) {     /* ordinary movable memory, e.g. page cache */
        TRY(cma_alloc_pages(mm, 9, CMA_GFP_MOVABLE, &cache[i]));
        TRY(cma_page_set_movable(mm, cache[i], &my_ops, &cache[i])); /* may be moved now */
    }

    cma_pfn_t buf;
    int err = cma_alloc(camera, 16384, 8, &buf); /* 64 MiB, contiguous, 1 MiB aligned */
    if (err)
        fail("camera", err);
    printf("camera: 64 MiB at pfn %#llx; %lu movable blocks migrated out of the way\n",
           (unsigned long long)buf, blocks_moved);
    TRY(cma_release(camera, buf, 16384));
    /* README end */

    /* What the area's counters say must match what the owners saw. */
    struct cma_area_stats st;
    TRY(cma_area_get_stats(camera, &st));
    printf("area %s: %llu pages at pfn %#llx, %llu migrated, %llu available after release\n", st.name,
           (unsigned long long)st.count, (unsigned long long)st.base_pfn,
           (unsigned long long)st.pages_migrated, (unsigned long long)st.available);
    if (blocks_moved == 0 || st.pages_migrated != blocks_moved * 512 || st.available != st.count ||
        buf < st.base_pfn || buf + 16384 > st.base_pfn + st.count || buf % 256) {
        fprintf(stderr, "quickstart: unexpected outcome (blocks moved %lu)\n", blocks_moved);
        return 1;
    }

    check(mm);
    for (int i = 0; i < 128; i++) /* the owners free their blocks where they live now */
        TRY(cma_free_pages(mm, cache[i], 9));
    check(mm);
    TRY(cma_mm_destroy(mm));
    printf("quickstart: ok\n");
    return 0;
}
