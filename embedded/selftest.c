/* SPDX-License-Identifier: MIT */
/*
 * embedded/selftest.c - libcma on real memory with no operating system: the freestanding library
 * manages the RAM of the machine it runs on, and this program checks it does so correctly.
 *
 * The host (struct cma_host) is what a kernel would give: a small first-fit heap carved out of RAM
 * right after the image for libcma's metadata, the board's clock, log and panic on the UART, and the
 * one hart as a CPU that is always exclusive (no preemption, no interrupts) with a fence as the CPU
 * barrier, so the per-CPU cache runs without its lock (local mode).
 *
 * Page contents are the RAM itself (CMA_BACKING_HOST with cfg.mem at the RAM's physical address:
 * this machine runs with physical addresses). The image, its stack and the heap are reserved in
 * memblock, as are the device tree and its reservations; everything else goes to libcma, with one
 * CMA area placed by memblock.
 *
 * Steps, each ending with the invariant checker:
 *   boot      no default memory in a freestanding build (-EINVAL without memory hooks); memblock;
 *             a bad cma= line refused and logged with its caret, then cma=dma:32M; online; the
 *             buddyinfo dump (the library's own formatter) on the UART
 *   orders    one block of every order, each filled with its own byte pattern, all verified while
 *             all are allocated (no two overlap), then freed; a zeroed allocation reads zero
 *   owners    movable blocks of orders 0..2 filling the area (CMA first) and more, each owned by a
 *             record that follows its moves, filled with the owner's pattern; some clean and
 *             droppable, some refusing their first isolation; one pinned long-term (it moves out
 *             of CMA first)
 *   cma_alloc the whole area: every page in it migrated (contents verified byte by byte at the new
 *             place) or dropped; the buffer is then written as a device would, and every owner is
 *             verified again
 *   release   the area back, a second aligned allocation from the now free area
 *   teardown  every block freed, the caches drained: all memory free, cma_mm_destroy returns 0,
 *             and the heap holds nothing
 * The last line is "libcma self-test: N passed, M failed"; the board ends the run through its test
 * device with the verdict.
 */
#include <cma/cma.h>

#include "board.h"

extern char __image_start[], __image_end[];

#define HEAP_SIZE (4ull << 20)
#define AREA_SIZE (32ull << 20)
#define MAX_OWNERS 8192
#define EXTRA_PAGES 1024 /* owners beyond the area, outside CMA */

/* ---- output and checks ----------------------------------------------------------------------------- */

void out_str(const char *s)
{
    while (*s)
        board_putc(*s++);
}

void out_u64(uint64_t v)
{
    char b[24];
    int n = 0;
    do
        b[n++] = (char)('0' + v % 10);
    while ((v /= 10) != 0);
    while (n)
        board_putc(b[--n]);
}

void out_hex(uint64_t v)
{
    int s = 60;
    out_str("0x");
    while (s > 0 && !(v >> s))
        s -= 4;
    for (; s >= 0; s -= 4)
        board_putc("0123456789abcdef"[(v >> s) & 15]);
}

static unsigned passed, failed;

static void check(bool ok, const char *what)
{
    if (ok) {
        passed++;
        return;
    }
    failed++;
    out_str("  FAIL: ");
    out_str(what);
    out_str("\n");
}

static void check_ok(int r, const char *what)
{
    if (r) {
        out_str("  ");
        out_str(what);
        out_str(": ");
        out_str(cma_err_name(r));
        out_str("\n");
    }
    check(r == 0, what);
}

static void check_mm(const struct cma_mm *mm, const char *step)
{
    char why[256];
    int r = cma_mm_check(mm, why, sizeof why);
    if (r) {
        out_str("  checker: ");
        out_str(why);
        out_str("\n");
    }
    check(r == 0, step);
}

static uint64_t step_t0;

static void step_begin(const char *name)
{
    out_str("step ");
    out_str(name);
    out_str("\n");
    step_t0 = board_now_ns();
}

static void step_end(const struct cma_mm *mm, const char *name)
{
    check_mm(mm, name);
    out_str("  done in ");
    out_u64((board_now_ns() - step_t0) / 1000);
    out_str(" us; checks so far: ");
    out_u64(passed);
    out_str(" passed, ");
    out_u64(failed);
    out_str(" failed\n");
}

/* ---- byte patterns ----------------------------------------------------------------------------------- */

static uint8_t pattern(uint32_t seed, uint64_t off)
{
    return (uint8_t)(seed * 167u + (uint32_t)off * 7u + (uint32_t)(off >> 9));
}

static void fill(void *p, uint64_t n, uint32_t seed)
{
    uint8_t *b = p;
    for (uint64_t i = 0; i < n; i++)
        b[i] = pattern(seed, i);
}

/* Every byte compared. */
static bool verify(const void *p, uint64_t n, uint32_t seed)
{
    const uint8_t *b = p;
    for (uint64_t i = 0; i < n; i++)
        if (b[i] != pattern(seed, i))
            return false;
    return true;
}

/* ---- the heap: first fit over a sorted free list, coalescing ------------------------------------------
 * Every block sits 64-byte aligned behind a 64-byte header holding its size; the memory is zeroed
 * on allocation, as the hook promises.
 */
struct chunk {
    uint64_t size; /* bytes, header included */
    struct chunk *next;
};

static struct chunk *free_list;
static uint64_t heap_live, heap_peak, heap_bad_frees;

static void heap_init(void *base, uint64_t size)
{
    free_list = base;
    free_list->size = size;
    free_list->next = NULL;
}

static void *heap_alloc(void *ctx, size_t size)
{
    (void)ctx;
    uint64_t need = ((size + 63) & ~(uint64_t)63) + 64;
    for (struct chunk **pp = &free_list; *pp; pp = &(*pp)->next) {
        struct chunk *c = *pp;
        if (c->size < need)
            continue;
        if (c->size - need >= 128) {
            struct chunk *rest = (struct chunk *)((char *)c + need);
            rest->size = c->size - need;
            rest->next = c->next;
            *pp = rest;
            c->size = need;
        } else {
            *pp = c->next;
        }
        heap_live += c->size;
        if (heap_live > heap_peak)
            heap_peak = heap_live;
        uint64_t *w = (uint64_t *)((char *)c + 64);
        for (uint64_t i = 0; i < (c->size - 64) / 8; i++)
            w[i] = 0;
        return w;
    }
    return NULL;
}

static void heap_free(void *ctx, void *p, size_t size)
{
    (void)ctx;
    struct chunk *c = (struct chunk *)((char *)p - 64);
    if (((size + 63) & ~(uint64_t)63) + 64 > c->size) {
        heap_bad_frees++; /* the size libcma gives back must be the size it asked for */
        return;
    }
    heap_live -= c->size;
    struct chunk **pp = &free_list, *prev = NULL;
    while (*pp && *pp < c) {
        prev = *pp;
        pp = &(*pp)->next;
    }
    c->next = *pp;
    *pp = c;
    if (c->next && (char *)c + c->size == (char *)c->next) {
        c->size += c->next->size;
        c->next = c->next->next;
    }
    if (prev && (char *)prev + prev->size == (char *)c) {
        prev->size += c->size;
        prev->next = c->next;
    }
}

/* ---- the host ------------------------------------------------------------------------------------------ */

static uint64_t host_now(void *ctx)
{
    (void)ctx;
    return board_now_ns();
}

static void host_log(void *ctx, enum cma_log_level level, const char *msg)
{
    (void)ctx;
    (void)level;
    out_str("  [libcma] ");
    out_str(msg);
    out_str("\n");
}

static void host_panic(void *ctx, const char *msg)
{
    (void)ctx;
    out_str("PANIC: ");
    out_str(msg);
    out_str("\n");
    board_exit(false, 2);
}

/* One hart, no interrupts: every caller runs CPU-exclusive on CPU 0. */
static unsigned host_cpu(void *ctx, bool *exclusive)
{
    (void)ctx;
    *exclusive = true;
    return 0;
}

static void host_barrier(void *ctx)
{
    (void)ctx;
    __asm__ volatile("fence rw, rw" ::: "memory");
}

static const struct cma_host host = {
    .size = sizeof(struct cma_host),
    .alloc = heap_alloc,
    .free = heap_free,
    .now_ns = host_now,
    .log = host_log,
    .panic = host_panic,
    .cpu_id_ex = host_cpu,
    .cpu_barrier = host_barrier,
};

/* ---- owners of movable blocks ------------------------------------------------------------------------ */

struct owner {
    cma_pfn_t pfn;
    unsigned order;
    uint32_t seed;
    bool clean, dropped, pinned, refuse_once, live;
    unsigned moves;
};

static struct owner owners[MAX_OWNERS];
static unsigned nowners, bad_callbacks;

static int owner_isolate(void *p, cma_pfn_t pfn, unsigned order)
{
    struct owner *o = p;
    if (pfn != o->pfn || order != o->order)
        bad_callbacks++;
    if (o->refuse_once) {
        o->refuse_once = false;
        return -CMA_EAGAIN;
    }
    return 0;
}

static int owner_migrate(void *p, cma_pfn_t from, cma_pfn_t to, unsigned order)
{
    struct owner *o = p;
    if (from != o->pfn || order != o->order)
        bad_callbacks++;
    o->pfn = to;
    o->moves++;
    return 0;
}

static int owner_discard(void *p, cma_pfn_t pfn, unsigned order)
{
    struct owner *o = p;
    if (pfn != o->pfn || order != o->order)
        bad_callbacks++;
    if (!o->clean)
        return -CMA_EBUSY;
    o->dropped = true;
    o->live = false;
    return 0;
}

static const struct cma_movable_ops owner_ops = {
    .isolate = owner_isolate, .migrate = owner_migrate, .discard = owner_discard};

/* ---- the steps ------------------------------------------------------------------------------------------ */

static uint64_t page_bytes(const struct cma_mm *mm, unsigned order)
{
    return cma_mm_page_size(mm) << order;
}

static void step_orders(struct cma_mm *mm)
{
    const unsigned max = cma_mm_max_order(mm);
    cma_pfn_t pfn[32];
    bool ok = true, identity = true;
    for (unsigned o = 0; o <= max; o++) {
        check_ok(cma_alloc_pages(mm, o, CMA_GFP_UNMOVABLE, &pfn[o]), "allocate a block of every order");
        uint8_t *v = cma_pfn_to_virt(mm, pfn[o]);
        identity &= v == (uint8_t *)(uintptr_t)cma_pfn_to_phys(mm, pfn[o]);
        ok &= (pfn[o] & ((1ull << o) - 1)) == 0;
        fill(v, page_bytes(mm, o), o + 1);
    }
    check(ok, "every block aligned to its order");
    check(identity, "page contents are the RAM at the page's physical address");
    ok = true;
    for (unsigned o = 0; o <= max; o++)
        ok &= verify(cma_pfn_to_virt(mm, pfn[o]), page_bytes(mm, o), o + 1);
    check(ok, "every block keeps its pattern while all are allocated");
    for (unsigned o = 0; o <= max; o++)
        check_ok(cma_free_pages(mm, pfn[o], o), "free a block of every order");

    /* a zeroed allocation after dirty frees */
    cma_pfn_t z;
    check_ok(cma_alloc_pages(mm, 3, CMA_GFP_MOVABLE, &z), "allocate order 3");
    fill(cma_pfn_to_virt(mm, z), page_bytes(mm, 3), 99);
    check_ok(cma_free_pages(mm, z, 3), "free order 3");
    check_ok(cma_alloc_pages(mm, 3, CMA_GFP_MOVABLE | CMA_GFP_ZERO, &z), "allocate order 3 zeroed");
    const uint8_t *zb = cma_pfn_to_virt(mm, z);
    bool zero = true;
    for (uint64_t i = 0; i < page_bytes(mm, 3); i++)
        zero &= zb[i] == 0;
    check(zero, "CMA_GFP_ZERO reads zero");
    check_ok(cma_free_pages(mm, z, 3), "free the zeroed block");
}

static bool in_area(const struct cma_area_stats *a, cma_pfn_t pfn)
{
    return pfn >= a->base_pfn && pfn < a->base_pfn + a->count;
}

/* One more movable block for a new owner; false when there is no memory or no owner slot. */
static bool new_owner(struct cma_mm *mm, unsigned order)
{
    if (nowners == MAX_OWNERS)
        return false;
    struct owner *o = &owners[nowners];
    o->order = order;
    o->seed = 1000 + nowners;
    int r = cma_alloc_pages(mm, o->order, CMA_GFP_MOVABLE, &o->pfn);
    if (r) {
        check_ok(r, "allocate a movable block");
        return false;
    }
    o->live = true;
    bool ok = cma_page_set_movable(mm, o->pfn, &owner_ops, o) == 0;
    o->clean = nowners % 6 == 5;
    if (o->clean)
        ok &= cma_page_set_clean(mm, o->pfn, true) == 0;
    o->refuse_once = nowners % 50 == 7;
    fill(cma_pfn_to_virt(mm, o->pfn), page_bytes(mm, o->order), o->seed);
    if (!ok)
        check(false, "register a movable block (clean where asked)");
    nowners++;
    return true;
}

static void step_owners(struct cma_mm *mm, const struct cma_area_stats *ast)
{
    uint64_t pages = 0;
    unsigned in = 0;
    struct cma_mm_stats st;
    /* orders 0..2 until the area is used up and more; then single pages until no free page of the
     * area is left (the per-CPU cache holds blocks of every order: drained first, each time) */
    check_ok(cma_drain_cpu_caches(mm), "drain");
    while (pages < ast->count + EXTRA_PAGES && new_owner(mm, nowners % 3))
        pages += 1ull << owners[nowners - 1].order;
    for (;;) {
        check_ok(cma_drain_cpu_caches(mm), "drain");
        check_ok(cma_mm_get_stats(mm, &st), "stats");
        if (!st.nr_free_cma || !new_owner(mm, 0))
            break;
        pages++;
    }
    check(st.nr_free_cma == 0, "the CMA area is fully used by movable blocks");
    for (unsigned i = 0; i < nowners; i++)
        in += in_area(ast, owners[i].pfn);
    check(in > 0, "movable blocks took the CMA area first");
    out_str("  ");
    out_u64(nowners);
    out_str(" owners, ");
    out_u64(pages);
    out_str(" pages, ");
    out_u64(in);
    out_str(" of the blocks in the area\n");

    /* a long-term pin moves its block out of CMA first */
    for (unsigned i = 0; i < nowners; i++) {
        struct owner *o = &owners[i];
        if (!in_area(ast, o->pfn) || o->clean || o->refuse_once)
            continue;
        cma_pfn_t old = o->pfn, np = CMA_PFN_NONE;
        check_ok(cma_page_pin_longterm(mm, o->pfn, &np), "pin a block in the area");
        check(np == o->pfn && np != old && !in_area(ast, np), "the pinned block moved out of CMA");
        check(verify(cma_pfn_to_virt(mm, np), page_bytes(mm, o->order), o->seed),
              "the pinned block's contents moved with it");
        o->pinned = true;
        break;
    }
}

/* Every live owner's contents at its current place; none inside [from, to). */
static bool owners_intact(const struct cma_mm *mm, cma_pfn_t from, cma_pfn_t to)
{
    bool ok = true;
    for (unsigned i = 0; i < nowners; i++) {
        const struct owner *o = &owners[i];
        if (!o->live)
            continue;
        ok &= o->pfn + (1ull << o->order) <= from || o->pfn >= to;
        ok &= verify(cma_pfn_to_virt(mm, o->pfn), page_bytes(mm, o->order), o->seed);
    }
    return ok;
}

static void step_cma_alloc(struct cma_mm *mm, struct cma_area *area, const struct cma_area_stats *ast,
                           cma_pfn_t *bufp)
{
    unsigned clean_in_area = 0;
    for (unsigned i = 0; i < nowners; i++)
        clean_in_area += owners[i].clean && in_area(ast, owners[i].pfn);
    cma_pfn_t buf = CMA_PFN_NONE;
    check_ok(cma_alloc(area, ast->count, 0, &buf), "cma_alloc of the whole area");
    *bufp = buf;
    check(buf == ast->base_pfn, "the buffer is the area");
    unsigned dropped = 0, moved = 0;
    for (unsigned i = 0; i < nowners; i++) {
        dropped += owners[i].dropped;
        moved += owners[i].moves != 0;
    }
    check(dropped == clean_in_area, "exactly the clean blocks in the area were dropped");
    check(moved > 0 && bad_callbacks == 0, "owners were told every move, about their own block");
    check(owners_intact(mm, buf, buf + ast->count),
          "every other block moved out with its contents, byte for byte");
    struct cma_area_stats now;
    check_ok(cma_area_get_stats(area, &now), "area stats");
    check(now.pages_migrated > 0 && now.pages_discarded > 0 && now.available == 0,
          "the area counted migrated and dropped pages");
    out_str("  ");
    out_u64(now.pages_migrated);
    out_str(" pages migrated, ");
    out_u64(now.pages_discarded);
    out_str(" dropped\n");

    /* the device writes its buffer: nobody else's memory changes */
    uint8_t *v = cma_pfn_to_virt(mm, buf);
    uint64_t bytes = ast->count * cma_mm_page_size(mm);
    fill(v, bytes, 0xdead);
    check(verify(v, bytes, 0xdead), "the buffer holds what the device wrote");
    check(owners_intact(mm, buf, buf + ast->count), "the device's writes touched no owner");
}

static void step_release(struct cma_mm *mm, struct cma_area *area, const struct cma_area_stats *ast,
                         cma_pfn_t buf)
{
    check_ok(cma_release(area, buf, ast->count), "cma_release of the whole area");
    check_mm(mm, "after release");
    cma_pfn_t b2 = CMA_PFN_NONE;
    check_ok(cma_alloc(area, 256, 8, &b2), "cma_alloc of 1 MiB aligned to 1 MiB");
    check(in_area(ast, b2) && (b2 & 255) == 0, "inside the area and aligned");
    check_ok(cma_release(area, b2, 256), "release it");
}

static void step_teardown(struct cma_mm *mm)
{
    bool ok = true;
    for (unsigned i = 0; i < nowners; i++) {
        struct owner *o = &owners[i];
        if (o->pinned)
            ok &= cma_page_unpin(mm, o->pfn) == 0;
        if (o->live)
            ok &= cma_free_pages(mm, o->pfn, o->order) == 0;
        o->live = false;
    }
    check(ok, "every block unpinned and freed");
    check_ok(cma_drain_cpu_caches(mm), "drain");
    struct cma_mm_stats st;
    check_ok(cma_mm_get_stats(mm, &st), "stats");
    check(st.nr_free_total == st.nr_managed, "all managed memory is free again");
}

unsigned selftest_run(const struct board_info *bi)
{
    uint64_t image = (uint64_t)(uintptr_t)__image_start, image_end = (uint64_t)(uintptr_t)__image_end;
    out_str("RAM ");
    out_hex(bi->ram_base);
    out_str(" + ");
    out_u64(bi->ram_size >> 20);
    out_str(" MiB; image ");
    out_hex(image);
    out_str("-");
    out_hex(image_end);
    out_str(", heap ");
    out_u64(HEAP_SIZE >> 20);
    out_str(" MiB after it\n");
    heap_init(__image_end, HEAP_SIZE);

    step_begin("boot");
    struct cma_mm_config cfg;
    struct cma_mm *mm = NULL;
    struct cma_area *area = NULL;
    cma_mm_config_default(&cfg);
    cfg.nr_cpus = 1;
    cfg.backing = CMA_BACKING_HOST;
    cfg.mem = (void *)(uintptr_t)bi->ram_base;
    cfg.mem_phys = bi->ram_base;
    cfg.mem_size = bi->ram_size;
    cfg.cma_first_percent = 0; /* movable allocations use CMA first */
    cfg.host = &host;
    static const struct cma_host no_memory = {.size = sizeof(struct cma_host)};
    cfg.host = &no_memory;
    check(cma_mm_create(&cfg, &mm) == -CMA_EINVAL, "freestanding: no default memory, -EINVAL");
    cfg.host = &host;
    int r = cma_mm_create(&cfg, &mm);
    check_ok(r, "cma_mm_create");
    if (r)
        return failed;
    check_ok(cma_memblock_add(mm, bi->ram_base, bi->ram_size), "memblock: the RAM");
    check_ok(cma_memblock_reserve(mm, image, image_end + HEAP_SIZE - image),
             "memblock: reserve the image, its stack and the heap");
    for (unsigned i = 0; i < bi->nreserved; i++)
        check_ok(cma_memblock_reserve(mm, bi->reserved[i].base, bi->reserved[i].size),
                 bi->reserved[i].what);
    check(cma_parse_cmdline(mm, "cma=dma:32Q") == -CMA_EINVAL && !cma_area_lookup(mm, "dma"),
          "a bad cma= line is refused (and logged), nothing declared");
    check_ok(cma_parse_cmdline(mm, "cma=dma:32M"), "cma=dma:32M");
    area = cma_area_lookup(mm, "dma");
    r = cma_mm_online(mm);
    check_ok(r, "cma_mm_online");
    if (r || !area)
        return failed;
    struct cma_area_stats ast;
    check_ok(cma_area_get_stats(area, &ast), "area stats");
    check(ast.count == AREA_SIZE / cma_mm_page_size(mm), "the area has the size asked for");
    static char text[4096];
    int n = cma_mm_dump(mm, CMA_DUMP_BUDDYINFO, text, sizeof text);
    check(n > 0 && (size_t)n < sizeof text && text[n - 1] == '\n', "buddyinfo dump");
    out_str(text);
    step_end(mm, "boot");

    step_begin("orders");
    step_orders(mm);
    step_end(mm, "orders");

    step_begin("owners");
    step_owners(mm, &ast);
    step_end(mm, "owners");

    cma_pfn_t buf = CMA_PFN_NONE;
    step_begin("cma_alloc");
    step_cma_alloc(mm, area, &ast, &buf);
    step_end(mm, "cma_alloc");

    step_begin("release");
    step_release(mm, area, &ast, buf);
    step_end(mm, "release");

    step_begin("teardown");
    step_teardown(mm);
    step_end(mm, "teardown");
    check_ok(cma_mm_destroy(mm), "cma_mm_destroy");
    check(heap_live == 0 && heap_bad_frees == 0, "libcma gave back every byte of the heap");
    out_str("heap peak ");
    out_u64(heap_peak >> 10);
    out_str(" KiB\n");

    out_str("libcma self-test: ");
    out_u64(passed);
    out_str(" passed, ");
    out_u64(failed);
    out_str(" failed\n");
    return failed;
}
