/* SPDX-License-Identifier: MIT */
/*
 * cma_area - a CMA area end to end, in a machine whose pages hold real bytes (CMA_BACKING_HOST).
 *
 *   1. declare a 16 MiB area "video" in a 64 MiB machine and online it;
 *   2. fill all of memory with movable pages, each owned by a small descriptor that knows its page
 *      and the pattern written into it. A quarter are clean page cache (the owner can drop them and
 *      re-read them later: a discard op); the rest are dirty and must be copied;
 *   3. the application frees every second page outside the area, so migration has room;
 *   4. cma_alloc takes an 8 MiB buffer inside the area: every page in the window is either
 *      copied elsewhere (its owner checks the copy in its migrate callback and follows it) or
 *      dropped (its owner forgets it);
 *   5. verify: every surviving page still holds its pattern where its owner now finds it, none lies
 *      in the buffer, the area's counters equal what the owners saw; the "device" fills the buffer;
 *   6. release the buffer, free every page, check the invariants, destroy the machine.
 *
 *   ./cma_area
 */
#define EXAMPLE "cma_area"
#include "example.h"

#include <stdint.h>
#include <string.h>

#define MiB (1ull << 20)
#define BUF_PAGES 2048 /* 8 MiB */

struct owner {
    struct cma_mm *mm;
    cma_pfn_t pfn;   /* where the page lives now */
    uint32_t tag;    /* written into every word of the page */
    bool live;       /* false once freed or dropped */
    bool clean;      /* page cache that could be re-read: may be dropped */
};

static unsigned long nr_moved, nr_dropped;

static void fill_page(struct cma_mm *mm, cma_pfn_t pfn, uint32_t tag)
{
    uint32_t *w = cma_pfn_to_virt(mm, pfn);
    size_t n = (size_t)(cma_mm_page_size(mm) / sizeof *w);
    for (size_t i = 0; i < n; i++)
        w[i] = tag;
}

static bool page_holds(struct cma_mm *mm, cma_pfn_t pfn, uint32_t tag)
{
    const uint32_t *w = cma_pfn_to_virt(mm, pfn);
    size_t n = (size_t)(cma_mm_page_size(mm) / sizeof *w);
    for (size_t i = 0; i < n; i++)
        if (w[i] != tag)
            return false;
    return true;
}

/* libcma has already copied the bytes to `to`: check them, then use the new page. */
static int owner_migrate(void *arg, cma_pfn_t from, cma_pfn_t to, unsigned order)
{
    struct owner *o = arg;
    if (o->pfn != from || order != 0 || !page_holds(o->mm, to, o->tag))
        return -CMA_EFAULT; /* refuse: the page stays where it is */
    o->pfn = to;
    nr_moved++;
    return 0;
}

/* A clean page is forgotten instead of copied; libcma takes the page back. */
static int owner_discard(void *arg, cma_pfn_t pfn, unsigned order)
{
    struct owner *o = arg;
    if (o->pfn != pfn || order != 0 || !o->clean)
        return 1; /* migrate it instead */
    o->live = false;
    nr_dropped++;
    return 0;
}

static const struct cma_movable_ops dirty_ops = {.migrate = owner_migrate};
static const struct cma_movable_ops cache_ops = {.migrate = owner_migrate, .discard = owner_discard};

int main(void)
{
    struct cma_mm_config cfg;
    struct cma_mm *mm;
    struct cma_area *video;
    struct cma_area_stats st;

    /* 1. a backed 64 MiB machine with a 16 MiB CMA area */
    cma_mm_config_default(&cfg);
    cfg.backing = CMA_BACKING_HOST;
    TRY(cma_mm_create(&cfg, &mm));
    TRY(cma_memblock_add(mm, 0, 64 * MiB));
    TRY(cma_declare_contiguous(mm, "video", 16 * MiB, 0, 0, 0, 0, &video));
    TRY(cma_mm_online(mm));
    TRY(cma_area_get_stats(video, &st));
    const cma_pfn_t abase = st.base_pfn, aend = st.base_pfn + st.count;
    printf("machine: 64 MiB; area %s: pfn %#llx-%#llx (%llu pages)\n", st.name,
           (unsigned long long)abase, (unsigned long long)aend - 1, (unsigned long long)st.count);

    /* 2. movable pages everywhere, CMA included, until memory is full */
    size_t cap = (size_t)(64 * MiB / cma_mm_page_size(mm)), n = 0, in_area = 0;
    struct owner *own = calloc(cap, sizeof *own);
    if (!own)
        return 1;
    for (;;) {
        cma_pfn_t pfn;
        int err = cma_alloc_pages(mm, 0, CMA_GFP_MOVABLE, &pfn);
        if (err == -CMA_ENOMEM)
            break;
        if (err || n == cap)
            fail("cma_alloc_pages", err ? err : -CMA_EOVERFLOW);
        struct owner *o = &own[n];
        *o = (struct owner){.mm = mm, .pfn = pfn, .tag = 0x5a000000u + (uint32_t)n, .live = true,
                            .clean = pfn % 4 == 1};
        fill_page(mm, pfn, o->tag);
        TRY(cma_page_set_movable(mm, pfn, o->clean ? &cache_ops : &dirty_ops, o));
        if (o->clean)
            TRY(cma_page_set_clean(mm, pfn, true));
        in_area += pfn >= abase && pfn < aend;
        n++;
    }
    printf("filled: %zu movable pages (a quarter clean page cache), %zu of them in the area\n", n,
           in_area);

    /* 3. the application gives back half of its pages outside the area */
    size_t freed = 0;
    for (size_t i = 0; i < n; i++) {
        struct owner *o = &own[i];
        if ((o->pfn < abase || o->pfn >= aend) && i % 2) {
            TRY(cma_free_pages(mm, o->pfn, 0));
            o->live = false;
            freed++;
        }
    }
    printf("freed %zu pages outside the area\n", freed);
    check(mm);

    /* 4. the device's buffer: every page in the window must move or be dropped */
    cma_pfn_t buf;
    TRY(cma_alloc(video, BUF_PAGES, 0, &buf));
    TRY(cma_area_get_stats(video, &st));
    printf("cma_alloc: 8 MiB at pfn %#llx; %lu pages migrated, %lu dropped (area counters: %llu, %llu)\n",
           (unsigned long long)buf, nr_moved, nr_dropped, (unsigned long long)st.pages_migrated,
           (unsigned long long)st.pages_discarded);

    /* 5. contents followed their pages; the buffer is the device's */
    size_t live = 0, bad = 0;
    for (size_t i = 0; i < n; i++) {
        const struct owner *o = &own[i];
        if (!o->live)
            continue;
        live++;
        if ((o->pfn >= buf && o->pfn < buf + BUF_PAGES) || !page_holds(mm, o->pfn, o->tag))
            bad++;
    }
    if (bad || buf < abase || buf + BUF_PAGES > aend || nr_moved + nr_dropped == 0 ||
        st.pages_migrated != nr_moved || st.pages_discarded != nr_dropped) {
        fprintf(stderr, "cma_area: %zu of %zu live pages lost their contents or sit in the buffer\n",
                bad, live);
        return 1;
    }
    memset(cma_pfn_to_virt(mm, buf), 0xd0, (size_t)(BUF_PAGES * cma_mm_page_size(mm)));
    printf("verified: %zu live pages hold their patterns outside the buffer\n", live);
    check(mm);

    /* 6. release, free, check, destroy */
    TRY(cma_release(video, buf, BUF_PAGES));
    for (size_t i = 0; i < n; i++)
        if (own[i].live)
            TRY(cma_free_pages(mm, own[i].pfn, 0));
    free(own);
    check(mm);
    TRY(cma_mm_destroy(mm));
    printf("cma_area: ok\n");
    return 0;
}
