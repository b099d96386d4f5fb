/* SPDX-License-Identifier: MIT */
/*
 * bench/bench_page_alloc.c - the page allocator benchmark (`make bench`; never a timed test).
 *
 * Cases (docs/benchmarks.md explains each, with the results):
 *   1. pair   - alloc+free of one order-0 page, repeated, with a warm per-CPU cache;
 *   2. batch  - 4096 order-0 allocations, then 4096 frees in LIFO, FIFO or random order;
 *   3. churn  - a 1 GiB machine at 75% occupancy, random orders 0..9, random frees; then the largest
 *               free order and the share of free memory that is unusable at pageblock order (9);
 *   4. online - create + memblock_add + cma_mm_online of 1 GiB, 64 GiB and 1 TiB metadata-only
 *               machines, against malloc + memset + free of the same number of metadata bytes.
 *
 * Baselines run in the same process, interleaved round by round with libcma so that every contender
 * sees the same machine conditions: glibc aligned_alloc(4096, 4096)/free, jemalloc mallocx/dallocx
 * with MALLOCX_ALIGN(4096), mimalloc mi_malloc_aligned(4096, 4096)/mi_free. jemalloc and mimalloc
 * are dlopen()ed with RTLD_LOCAL and called through dlsym(handle, ...), side by side, without
 * replacing the process malloc; a missing library is skipped with a message naming the package.
 * Every contender (libcma included) is called through the same pair of function pointers, so call
 * overhead is identical. Nobody touches the blocks' contents (libcma runs metadata-only).
 *
 * Figures are min-of-N ns per operation; ratios compare figures from this run only. Exit status 0
 * unless libcma misbehaves (an unexpected error, a failed cma_mm_check, a destroy that is not 0);
 * missed performance targets are reported, not failed.
 */
#include "bench.h"

const char *bench_name = "bench_page_alloc";

#include <cma/cma.h>

#include <dlfcn.h>
#include <gnu/libc-version.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define BLOCK_BYTES 4096u
#define BATCH_N 4096u
#define GiB (1ull << 30)
#define ALLOC_MACHINE_BYTES GiB
#define CHURN_MAX_ORDER 9u
#define CHURN_OCCUPANCY_PCT 75u


/* ---- machines ------------------------------------------------------------------------------------ */

static void machine_config(struct cma_mm_config *cfg)
{
    cma_mm_config_default(cfg);
    cfg->nr_cpus = 2; /* the bench is single-threaded; it runs on per-CPU cache 0 */
}

static struct cma_mm *machine_new(uint64_t bytes)
{
    struct cma_mm_config cfg;
    struct cma_mm *mm = NULL;
    machine_config(&cfg);
    CMA_OK(cma_mm_create(&cfg, &mm));
    CMA_OK(cma_memblock_add(mm, 0, bytes));
    CMA_OK(cma_mm_online(mm));
    return mm;
}

/* Checks every invariant, then destroys; any failure is fatal. */
static void machine_check_destroy(struct cma_mm *mm, const char *what)
{
    char why[256];
    int r = cma_mm_check(mm, why, sizeof why);
    if (r != 0)
        fatal("cma_mm_check after %s: %d (%s): %s", what, r, cma_err_name(r), why);
    r = cma_mm_destroy(mm);
    if (r != 0)
        fatal("cma_mm_destroy after %s returned %d (%s)", what, r, cma_err_name(r));
}

/* ---- contenders -------------------------------------------------------------------------------- */

struct contender {
    const char *name;
    uintptr_t (*alloc)(void *ctx); /* one 4096-byte, 4096-aligned block (libcma: one order-0 page) */
    void (*free)(void *ctx, uintptr_t h);
    void *ctx;
    bool ok;
    char info[160]; /* version, or why it was skipped */
};

enum { C_LIBCMA, C_GLIBC, C_JEMALLOC, C_MIMALLOC, NR_CONTENDERS };
static struct contender contenders[NR_CONTENDERS];

/* libcma */
static __attribute__((noinline)) uintptr_t libcma_alloc(void *ctx)
{
    cma_pfn_t pfn;
    int r = cma_alloc_pages(ctx, 0, CMA_GFP_MOVABLE, &pfn);
    if (r != 0)
        fatal("cma_alloc_pages(order 0) returned %d (%s)", r, cma_err_name(r));
    return (uintptr_t)pfn;
}
static __attribute__((noinline)) void libcma_free(void *ctx, uintptr_t h)
{
    int r = cma_free_pages(ctx, (cma_pfn_t)h, 0);
    if (r != 0)
        fatal("cma_free_pages(order 0) returned %d (%s)", r, cma_err_name(r));
}

/* glibc: its own aligned_alloc/free, looked up in libc.so.6 so an LD_PRELOADed malloc cannot stand in */
static void *(*glibc_aligned_alloc)(size_t, size_t);
static void (*glibc_free_fn)(void *);
static __attribute__((noinline)) uintptr_t glibc_alloc(void *ctx)
{
    (void)ctx;
    void *p = glibc_aligned_alloc(BLOCK_BYTES, BLOCK_BYTES);
    if (!p)
        fatal("glibc aligned_alloc failed");
    return (uintptr_t)p;
}
static __attribute__((noinline)) void glibc_free(void *ctx, uintptr_t h)
{
    (void)ctx;
    glibc_free_fn((void *)h);
}

/* jemalloc: the non-standard API, which exists only in jemalloc (no name clash with libc) */
#define JE_MALLOCX_ALIGN_4096 12 /* MALLOCX_LG_ALIGN(12) == MALLOCX_ALIGN(4096) */
static void *(*je_mallocx)(size_t, int);
static void (*je_dallocx)(void *, int);
static __attribute__((noinline)) uintptr_t jemalloc_alloc(void *ctx)
{
    (void)ctx;
    void *p = je_mallocx(BLOCK_BYTES, JE_MALLOCX_ALIGN_4096);
    if (!p)
        fatal("jemalloc mallocx failed");
    return (uintptr_t)p;
}
static __attribute__((noinline)) void jemalloc_free(void *ctx, uintptr_t h)
{
    (void)ctx;
    je_dallocx((void *)h, 0);
}

/* mimalloc */
static void *(*mi_malloc_aligned_fn)(size_t, size_t);
static void (*mi_free_fn)(void *);
static __attribute__((noinline)) uintptr_t mimalloc_alloc(void *ctx)
{
    (void)ctx;
    void *p = mi_malloc_aligned_fn(BLOCK_BYTES, BLOCK_BYTES);
    if (!p)
        fatal("mimalloc mi_malloc_aligned failed");
    return (uintptr_t)p;
}
static __attribute__((noinline)) void mimalloc_free(void *ctx, uintptr_t h)
{
    (void)ctx;
    mi_free_fn((void *)h);
}

/* The harness alone: the same calls through the same pointers, no allocator behind them. */
static uintptr_t null_block;
static __attribute__((noinline)) uintptr_t null_alloc(void *ctx)
{
    (void)ctx;
    return null_block;
}
static __attribute__((noinline)) void null_free(void *ctx, uintptr_t h)
{
    (void)ctx;
    no_opt(h);
}

/* Checks that a block is 4096-aligned; a peer that hands out misaligned blocks is not comparable. */
static bool peer_sane(struct contender *c)
{
    uintptr_t h = c->alloc(c->ctx);
    bool ok = (h & (BLOCK_BYTES - 1)) == 0;
    c->free(c->ctx, h);
    if (!ok)
        snprintf(c->info, sizeof c->info, "returned a block not aligned to 4096");
    return ok;
}

static void skip_message(struct contender *c, const char *name, const char *lib, const char *pkg,
                         const char *err)
{
    if (!err || strstr(err, "No such file") || strstr(err, "cannot open"))
        snprintf(c->info, sizeof c->info, "skipped %s: %s not found (apt-get install %s)", name, lib,
                 pkg);
    else
        snprintf(c->info, sizeof c->info, "skipped %s: dlopen %s: %.100s", name, lib, err);
}

/*
 * Debian's libjemalloc.so.2 uses initial-exec TLS (DF_STATIC_TLS, about 2.6 KiB), more than glibc's
 * default surplus for libraries loaded by dlopen (glibc.rtld.optional_static_tls = 512), so dlopen
 * fails with "cannot allocate memory in static TLS block". The surplus can only be set when the
 * process starts: re-execute once with the tunable raised. Nothing else changes (malloc stays glibc's).
 */
#define STATIC_TLS_TUNABLE "glibc.rtld.optional_static_tls=65536"
static bool reexecuted;

static void maybe_reexec_for_static_tls(char **argv)
{
    const char *mark = getenv("CMA_BENCH_REEXEC");
    if (mark && strcmp(mark, "1") == 0) {
        reexecuted = true;
        return;
    }
    void *je = dlopen("libjemalloc.so.2", RTLD_NOW | RTLD_LOCAL);
    if (je) {
        dlclose(je);
        return;
    }
    const char *err = dlerror();
    if (!err || !strstr(err, "static TLS"))
        return;
    const char *old = getenv("GLIBC_TUNABLES");
    char tun[1024];
    if (old && *old)
        snprintf(tun, sizeof tun, "%s:%s", old, STATIC_TLS_TUNABLE);
    else
        snprintf(tun, sizeof tun, "%s", STATIC_TLS_TUNABLE);
    if (setenv("GLIBC_TUNABLES", tun, 1) != 0 || setenv("CMA_BENCH_REEXEC", "1", 1) != 0)
        return;
    fflush(stdout);
    execv("/proc/self/exe", argv);
    /* exec failed: carry on; jemalloc will be reported as skipped with dlopen's reason */
}

static void setup_peers(void)
{
    struct contender *c;

    c = &contenders[C_GLIBC];
    c->name = "glibc";
    c->alloc = glibc_alloc;
    c->free = glibc_free;
    void *libc = dlopen("libc.so.6", RTLD_NOW | RTLD_NOLOAD);
    if (libc) {
        *(void **)&glibc_aligned_alloc = dlsym(libc, "aligned_alloc");
        *(void **)&glibc_free_fn = dlsym(libc, "free");
    }
    if (!glibc_aligned_alloc || !glibc_free_fn) {
        glibc_aligned_alloc = aligned_alloc;
        glibc_free_fn = free;
    }
    snprintf(c->info, sizeof c->info, "glibc %s aligned_alloc(4096, 4096) / free",
             gnu_get_libc_version());
    c->ok = peer_sane(c);

    c = &contenders[C_JEMALLOC];
    c->name = "jemalloc";
    c->alloc = jemalloc_alloc;
    c->free = jemalloc_free;
    void *je = dlopen("libjemalloc.so.2", RTLD_NOW | RTLD_LOCAL);
    if (!je) {
        skip_message(c, "jemalloc", "libjemalloc.so.2", "libjemalloc-dev", dlerror());
    } else {
        *(void **)&je_mallocx = dlsym(je, "mallocx");
        *(void **)&je_dallocx = dlsym(je, "dallocx");
        void *je_free = dlsym(je, "free");
        int (*mallctl)(const char *, void *, size_t *, void *, size_t);
        *(void **)&mallctl = dlsym(je, "mallctl");
        if (!je_mallocx || !je_dallocx || !mallctl) {
            snprintf(c->info, sizeof c->info, "skipped jemalloc: mallocx/dallocx/mallctl missing");
        } else if (je_free == (void *)glibc_free_fn) {
            snprintf(c->info, sizeof c->info, "skipped jemalloc: dlsym resolved to glibc's malloc");
        } else {
            const char *ver = "?";
            size_t len = sizeof ver;
            if (mallctl("version", (void *)&ver, &len, NULL, 0) != 0)
                ver = "?";
            snprintf(c->info, sizeof c->info, "jemalloc %.60s mallocx(4096, MALLOCX_ALIGN(4096)) / dallocx",
                     ver);
            c->ok = peer_sane(c);
        }
    }

    c = &contenders[C_MIMALLOC];
    c->name = "mimalloc";
    c->alloc = mimalloc_alloc;
    c->free = mimalloc_free;
    void *mi = dlopen("libmimalloc.so.2", RTLD_NOW | RTLD_LOCAL);
    if (!mi) {
        skip_message(c, "mimalloc", "libmimalloc.so.2", "libmimalloc-dev", dlerror());
    } else {
        *(void **)&mi_malloc_aligned_fn = dlsym(mi, "mi_malloc_aligned");
        *(void **)&mi_free_fn = dlsym(mi, "mi_free");
        int (*mi_version)(void);
        *(void **)&mi_version = dlsym(mi, "mi_version");
        if (!mi_malloc_aligned_fn || !mi_free_fn) {
            snprintf(c->info, sizeof c->info, "skipped mimalloc: mi_malloc_aligned/mi_free missing");
        } else {
            int v = mi_version ? mi_version() : 0;
            snprintf(c->info, sizeof c->info, "mimalloc %d.%d.%d mi_malloc_aligned(4096, 4096) / mi_free",
                     v / 100, v / 10 % 10, v % 10);
            c->ok = peer_sane(c);
        }
    }
}

/* ---- output --------------------------------------------------------------------------------------- */

static void print_header(void)
{
    char model[128] = "unknown";
    FILE *f = fopen("/proc/cpuinfo", "r");
    if (f) {
        char line[256];
        while (fgets(line, sizeof line, f)) {
            if (strncmp(line, "model name", 10) == 0) {
                char *v = strchr(line, ':');
                if (v) {
                    v++;
                    while (*v == ' ' || *v == '\t')
                        v++;
                    v[strcspn(v, "\n")] = '\0';
                    snprintf(model, sizeof model, "%s", v);
                }
                break;
            }
        }
        fclose(f);
    }
    char date[64];
    time_t now = time(NULL);
    struct tm tm;
    localtime_r(&now, &tm);
    strftime(date, sizeof date, "%Y-%m-%d %H:%M:%S %Z", &tm);

    printf("libcma %s page allocator benchmark\n", cma_version());
    printf("date:     %s\n", date);
    printf("machine:  %ld CPUs online, %s\n", sysconf(_SC_NPROCESSORS_ONLN), model);
    printf("compiler: %s\n", __VERSION__);
    printf("figures:  min-of-N ns per operation; ratios are libcma / peer from this run\n");
    if (reexecuted)
        printf("note:     re-executed with GLIBC_TUNABLES=%s (room for jemalloc's static TLS)\n",
               STATIC_TLS_TUNABLE);
    printf("peers:\n");
    for (int i = C_GLIBC; i < NR_CONTENDERS; i++)
        printf("  %-9s %s\n", contenders[i].name, contenders[i].info);
    printf("\n");
}

#define COL_CASE 26
#define COL_SIZE 12
#define COL_NUM 8
#define COL_PEER 17 /* "  58.4 (0.68x)" */

static void print_table_header(void)
{
    printf("%-*s %-*s %*s", COL_CASE, "case", COL_SIZE, "size", COL_NUM, "libcma");
    for (int i = C_GLIBC; i < NR_CONTENDERS; i++)
        printf(" %*s", COL_PEER, contenders[i].name);
    printf("  %s\n", "target");
    printf("%-*s %-*s %*s", COL_CASE, "", COL_SIZE, "", COL_NUM, "ns/op");
    for (int i = C_GLIBC; i < NR_CONTENDERS; i++)
        printf(" %*s", COL_PEER, "ns/op (cma/peer)");
    printf("\n");
}

/* A peer's cell: its ns/op and the ratio libcma / peer, "skip" if not measured, "-" if n/a. */
static void print_peer(double cma, double peer, bool applicable)
{
    char cell[48];
    if (!applicable)
        snprintf(cell, sizeof cell, "-");
    else if (peer < 0)
        snprintf(cell, sizeof cell, "skip");
    else
        snprintf(cell, sizeof cell, "%.1f (%.2fx)", peer, cma / peer);
    printf(" %*s", COL_PEER, cell);
}

/* One table line; ns[] per contender, < 0 = not measured. */
static void print_row(const char *name, const char *size, const double ns[NR_CONTENDERS],
                      const char *target)
{
    int besti = -1;
    printf("%-*s %-*s %*.1f", COL_CASE, name, COL_SIZE, size, COL_NUM, ns[C_LIBCMA]);
    for (int i = C_GLIBC; i < NR_CONTENDERS; i++) {
        print_peer(ns[C_LIBCMA], ns[i], true);
        if (ns[i] >= 0 && (besti < 0 || ns[i] < ns[besti]))
            besti = i;
    }
    printf("  %s", target ? target : "-");
    if (besti >= 0)
        printf(" (fastest peer: %s)", contenders[besti].name);
    printf("\n");
}

/* ---- case 1 and 2: pair and batch ----------------------------------------------------------------- */

struct pair_ctx {
    const struct contender *c;
    uint64_t n;
};

static uint64_t pair_body(void *vp)
{
    const struct pair_ctx *p = vp;
    uintptr_t (*alloc)(void *) = p->c->alloc;
    void (*release)(void *, uintptr_t) = p->c->free;
    void *ctx = p->c->ctx;
    for (uint64_t i = 0; i < p->n; i++) {
        uintptr_t h = alloc(ctx);
        no_opt(h);
        release(ctx, h);
    }
    return p->n;
}

struct batch_ctx {
    const struct contender *c;
    const uint32_t *free_order; /* BATCH_N indices into h[] */
    uintptr_t *h;
    unsigned reps;
};

static uint64_t batch_body(void *vp)
{
    const struct batch_ctx *b = vp;
    uintptr_t (*alloc)(void *) = b->c->alloc;
    void (*release)(void *, uintptr_t) = b->c->free;
    void *ctx = b->c->ctx;
    uintptr_t *h = b->h;
    for (unsigned r = 0; r < b->reps; r++) {
        for (unsigned i = 0; i < BATCH_N; i++)
            h[i] = alloc(ctx);
        no_opt(h);
        for (unsigned i = 0; i < BATCH_N; i++)
            release(ctx, h[b->free_order[i]]);
    }
    return (uint64_t)b->reps * BATCH_N * 2;
}

/* xoshiro-style generator; fixed seeds make every run do the same operations. */
static uint64_t rng_state = 0x9e3779b97f4a7c15ull;
static inline uint64_t rng_next(void)
{
    uint64_t x = rng_state;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    rng_state = x;
    return x * 0x2545f4914f6cdd1dull;
}
/* Uniform in [0, n) from the top 32 bits (n < 2^32). */
static inline uint32_t rng_below(uint64_t r, uint32_t n) { return (uint32_t)(((r >> 32) * n) >> 32); }

#define PAIR_N 100000u
#define PAIR_ROUNDS 25
#define BATCH_REPS 2u
#define BATCH_ROUNDS 31

/* Interleaved min-of-rounds: each round warms then times every contender once, in turn. */
static void run_interleaved(bench_body_fn body, void *ctxs[NR_CONTENDERS], int rounds,
                            double ns[NR_CONTENDERS])
{
    for (int i = 0; i < NR_CONTENDERS; i++)
        ns[i] = -1;
    for (int r = 0; r < rounds; r++) {
        for (int i = 0; i < NR_CONTENDERS; i++) {
            if (!contenders[i].ok)
                continue;
            (void)body(ctxs[i]); /* warm-up: caches, TLBs, the allocator's own caches */
            bench_sample_min(&ns[i], body, ctxs[i]);
        }
    }
}

static void bench_pair_and_batch(struct cma_mm *mm)
{
    double ns[NR_CONTENDERS];
    char target[96];

    /* case 1: pair */
    struct pair_ctx pc[NR_CONTENDERS];
    void *pctx[NR_CONTENDERS];
    for (int i = 0; i < NR_CONTENDERS; i++) {
        pc[i] = (struct pair_ctx){.c = &contenders[i], .n = PAIR_N};
        pctx[i] = &pc[i];
    }
    run_interleaved(pair_body, pctx, PAIR_ROUNDS, ns);
    double best = -1;
    for (int i = C_GLIBC; i < NR_CONTENDERS; i++)
        if (ns[i] >= 0 && (best < 0 || ns[i] < best))
            best = ns[i];
    snprintf(target, sizeof target, "faster than every peer: %s",
             best < 0 ? "n/a (no peer)" : ns[C_LIBCMA] < best ? "yes" : "NO");
    print_row("order-0 alloc+free pair", "4K x1", ns, target);
    const struct contender null_c = {.name = "null", .alloc = null_alloc, .free = null_free, .ok = true};
    struct pair_ctx npc = {.c = &null_c, .n = PAIR_N};
    double harness = bench_min_ns_per_op(pair_body, &npc, 1, PAIR_ROUNDS);

    /* case 2: batches */
    static uint32_t order_lifo[BATCH_N], order_fifo[BATCH_N], order_rand[BATCH_N];
    static uintptr_t handles[NR_CONTENDERS][BATCH_N];
    for (uint32_t i = 0; i < BATCH_N; i++) {
        order_fifo[i] = i;
        order_lifo[i] = BATCH_N - 1 - i;
        order_rand[i] = i;
    }
    rng_state = 0x5eed0001u;
    for (uint32_t i = BATCH_N - 1; i > 0; i--) { /* Fisher-Yates, fixed seed */
        uint32_t j = rng_below(rng_next(), i + 1);
        uint32_t t = order_rand[i];
        order_rand[i] = order_rand[j];
        order_rand[j] = t;
    }
    const struct {
        const char *name;
        const uint32_t *order;
    } kinds[] = {{"batch, free LIFO", order_lifo},
                 {"batch, free FIFO", order_fifo},
                 {"batch, free random", order_rand}};
    for (size_t k = 0; k < sizeof kinds / sizeof kinds[0]; k++) {
        struct batch_ctx bc[NR_CONTENDERS];
        void *bctx[NR_CONTENDERS];
        for (int i = 0; i < NR_CONTENDERS; i++) {
            bc[i] = (struct batch_ctx){.c = &contenders[i], .free_order = kinds[k].order,
                                       .h = handles[i], .reps = BATCH_REPS};
            bctx[i] = &bc[i];
        }
        run_interleaved(batch_body, bctx, BATCH_ROUNDS, ns);
        print_row(kinds[k].name, "4K x4096", ns, NULL);
    }

    struct cma_mm_stats st;
    CMA_OK(cma_mm_get_stats(mm, &st));
    printf("  pair: %u pairs x %d rounds; batch: %u x (4096 allocs + 4096 frees) x %d rounds;"
           " harness alone (null allocator): %.1f ns/pair\n",
           PAIR_N, PAIR_ROUNDS, BATCH_REPS, BATCH_ROUNDS, harness);
    printf("  libcma: %" PRIu64 " per-CPU cache refills and %" PRIu64 " trims over %" PRIu64
           " allocations\n",
           st.pcp_refills, st.pcp_drains, st.pgalloc);
}

/* ---- case 3: mixed-order churn --------------------------------------------------------------------- */

struct live_block {
    uint32_t pfn;
    uint32_t order;
};

struct churn {
    struct cma_mm *mm;
    struct live_block *live;
    uint32_t nlive, cap;
    uint64_t live_pages, target_pages;
    uint64_t ops, allocs, frees, enomem;
};

/* P(order k) = 2^-(k+1) for k < 9, P(9) = 2^-9: each order carries about the same share of pages. */
static inline unsigned churn_order(uint64_t r)
{
    return (unsigned)__builtin_ctzll(r | (1ull << CHURN_MAX_ORDER));
}

static inline void churn_alloc(struct churn *ch, uint64_t r)
{
    unsigned order = churn_order(r);
    cma_pfn_t pfn;
    int e = cma_alloc_pages(ch->mm, order, CMA_GFP_MOVABLE, &pfn);
    ch->ops++;
    if (e == -CMA_ENOMEM) {
        ch->enomem++;
        return;
    }
    if (e != 0)
        fatal("churn: cma_alloc_pages(order %u) returned %d (%s)", order, e, cma_err_name(e));
    if (ch->nlive == ch->cap)
        fatal("churn: live table full");
    ch->live[ch->nlive++] = (struct live_block){(uint32_t)pfn, order};
    ch->live_pages += 1ull << order;
    ch->allocs++;
}

static inline void churn_free(struct churn *ch, uint64_t r)
{
    uint32_t i = rng_below(r, ch->nlive);
    struct live_block b = ch->live[i];
    ch->live[i] = ch->live[--ch->nlive];
    int e = cma_free_pages(ch->mm, b.pfn, b.order);
    ch->ops++;
    if (e != 0)
        fatal("churn: cma_free_pages(%" PRIu32 ", order %" PRIu32 ") returned %d (%s)", b.pfn,
              b.order, e, cma_err_name(e));
    ch->live_pages -= 1ull << b.order;
    ch->frees++;
}

#define CHURN_SAMPLE_OPS 100000u
#define CHURN_WARM_SAMPLES 4
#define CHURN_SAMPLES 20

static uint64_t churn_body(void *vp)
{
    struct churn *ch = vp;
    uint64_t start = ch->ops;
    while (ch->ops - start < CHURN_SAMPLE_OPS) {
        uint64_t r = rng_next();
        if (ch->live_pages < ch->target_pages)
            churn_alloc(ch, r);
        else
            churn_free(ch, r);
    }
    return ch->ops - start;
}

/* Parses a CMA_DUMP_BUDDYINFO line into counts[0..max_order]; returns the number of orders. */
static unsigned buddyinfo(struct cma_mm *mm, uint64_t *counts, unsigned max, char *line, size_t len)
{
    int n = cma_mm_dump(mm, CMA_DUMP_BUDDYINFO, line, len);
    if (n < 0 || (size_t)n >= len)
        fatal("cma_mm_dump(BUDDYINFO) returned %d", n);
    line[strcspn(line, "\n")] = '\0';
    /* "Node 0, zone   Normal <n0> <n1> ...": the counts follow the zone name */
    const char *p = strstr(line, "zone");
    if (!p)
        fatal("unexpected buddyinfo: %s", line);
    p += 4;
    while (*p == ' ')
        p++;
    while (*p && *p != ' ')
        p++;
    unsigned k = 0;
    for (char *end; k < max; k++) {
        unsigned long long v = strtoull(p, &end, 10);
        if (end == p)
            break;
        counts[k] = v;
        p = end;
    }
    return k;
}

struct frag {
    int largest;           /* highest order with a free block, -1 if none */
    uint64_t free_pages;
    double unusable_pb;    /* share of free pages in blocks below pageblock order (9) */
};

static struct frag fragmentation(const uint64_t *counts, unsigned n)
{
    struct frag f = {.largest = -1};
    uint64_t below = 0;
    for (unsigned o = 0; o < n; o++) {
        uint64_t pages = counts[o] << o;
        f.free_pages += pages;
        if (o < 9)
            below += pages;
        if (counts[o])
            f.largest = (int)o;
    }
    f.unusable_pb = f.free_pages ? (double)below / (double)f.free_pages : 0.0;
    return f;
}

static void bench_churn(void)
{
    struct cma_mm *mm = machine_new(ALLOC_MACHINE_BYTES);
    struct cma_mm_stats st;
    CMA_OK(cma_mm_get_stats(mm, &st));

    struct churn ch = {.mm = mm};
    ch.target_pages = st.nr_managed * CHURN_OCCUPANCY_PCT / 100;
    ch.cap = (uint32_t)st.nr_managed;
    ch.live = calloc(ch.cap, sizeof *ch.live);
    if (!ch.live)
        fatal("out of memory");
    rng_state = 0x5eed0003u;

    /* fill to 75% occupancy (untimed) */
    while (ch.live_pages < ch.target_pages)
        churn_alloc(&ch, rng_next());
    uint64_t fill_enomem = ch.enomem;

    double best = -1, sum = 0;
    for (int i = 0; i < CHURN_WARM_SAMPLES; i++)
        (void)churn_body(&ch);
    uint64_t enomem0 = ch.enomem;
    for (int i = 0; i < CHURN_SAMPLES; i++) {
        uint64_t t0 = bench_now_ns();
        uint64_t ops = churn_body(&ch);
        double ns = (double)(bench_now_ns() - t0) / (double)ops;
        sum += ns;
        if (best < 0 || ns < best)
            best = ns;
    }
    uint64_t timed_enomem = ch.enomem - enomem0;

    char target[96];
    snprintf(target, sizeof target, "< 100 ns/op: %s", best < 100 ? "yes" : "NO");
    char size[32];
    snprintf(size, sizeof size, "1G @%u%%", CHURN_OCCUPANCY_PCT);
    /* peers are not comparable here (no buddy orders): printed as "-" */
    printf("%-*s %-*s %*.1f", COL_CASE, "mixed churn, orders 0..9", COL_SIZE, size, COL_NUM, best);
    for (int i = C_GLIBC; i < NR_CONTENDERS; i++)
        print_peer(best, -1, false); /* no buddy orders in a malloc: not comparable */
    printf("  %s\n", target);

    CMA_OK(cma_mm_get_stats(mm, &st));
    uint64_t counts[32] = {0};
    char line[512];
    unsigned n = buddyinfo(mm, counts, 32, line, sizeof line);
    struct frag before = fragmentation(counts, n);
    uint64_t pcp_pages = st.nr_free_pcp;
    printf("  churn: %u samples x %u ops (min %.1f, mean %.1f ns/op), %" PRIu64 " allocs / %" PRIu64
           " frees in all, %" PRIu64 " ENOMEM (%" PRIu64 " while timed, %" PRIu64 " in the fill)\n",
           CHURN_SAMPLES, CHURN_SAMPLE_OPS, best, sum / CHURN_SAMPLES, ch.allocs, ch.frees, ch.enomem,
           timed_enomem, fill_enomem);
    printf("  churn: %" PRIu32 " live blocks, %" PRIu64 " of %" PRIu64 " pages in use (%.1f%%), "
           "%" PRIu64 " fallbacks, %" PRIu64 " free pages in per-CPU caches\n",
           ch.nlive, ch.live_pages, st.nr_managed, 100.0 * (double)ch.live_pages / (double)st.nr_managed,
           st.fallbacks, pcp_pages);
    printf("  buddyinfo after churn:       %s\n", line);
    printf("    largest free order %d; %.1f%% of buddy free pages unusable at order 9\n",
           before.largest, 100.0 * before.unusable_pb);

    CMA_OK(cma_drain_cpu_caches(mm));
    n = buddyinfo(mm, counts, 32, line, sizeof line);
    struct frag after = fragmentation(counts, n);
    CMA_OK(cma_mm_get_stats(mm, &st));
    if (after.free_pages != st.nr_free_total)
        fatal("buddyinfo sums to %" PRIu64 " free pages after draining, stats say %" PRIu64,
              after.free_pages, st.nr_free_total);
    printf("  buddyinfo after cache drain: %s\n", line);
    printf("    largest free order %d; %.1f%% of free pages (%" PRIu64 ") unusable at order 9\n",
           after.largest, 100.0 * after.unusable_pb, after.free_pages);

    while (ch.nlive)
        churn_free(&ch, rng_next());
    machine_check_destroy(mm, "churn");
    free(ch.live);
}

/* ---- case 4: online --------------------------------------------------------------------------------- */

static double time_online(uint64_t bytes, uint64_t *metadata, uint64_t *pages)
{
    struct cma_mm_config cfg;
    struct cma_mm *mm = NULL;
    machine_config(&cfg);
    uint64_t t0 = bench_now_ns();
    CMA_OK(cma_mm_create(&cfg, &mm));
    CMA_OK(cma_memblock_add(mm, 0, bytes));
    CMA_OK(cma_mm_online(mm));
    uint64_t t1 = bench_now_ns();
    struct cma_mm_stats st;
    CMA_OK(cma_mm_get_stats(mm, &st));
    *metadata = st.metadata_bytes;
    *pages = st.nr_pages;
    int r = cma_mm_destroy(mm);
    if (r != 0)
        fatal("cma_mm_destroy after online returned %d (%s)", r, cma_err_name(r));
    return (double)(t1 - t0) / 1e6;
}

/* malloc + memset + free of `bytes`, fresh each time; also reports the time without the free. */
static double time_memset(uint64_t bytes, double *no_free_ms)
{
    uint64_t t0 = bench_now_ns();
    void *p = malloc(bytes);
    if (!p)
        fatal("malloc(%" PRIu64 ") failed", bytes);
    no_opt(p); /* or the compiler turns malloc + memset(0) into calloc, which skips fresh pages */
    memset(p, 0, bytes);
    no_opt(p);
    uint64_t t1 = bench_now_ns();
    free(p);
    uint64_t t2 = bench_now_ns();
    *no_free_ms = (double)(t1 - t0) / 1e6;
    return (double)(t2 - t0) / 1e6;
}

static void fmt_bytes(char *buf, size_t len, uint64_t b)
{
    if (b >= (1ull << 40) && b % (1ull << 40) == 0)
        snprintf(buf, len, "%" PRIu64 " TiB", b >> 40);
    else if (b >= GiB && b % GiB == 0)
        snprintf(buf, len, "%" PRIu64 " GiB", b >> 30);
    else if (b >= (1u << 20))
        snprintf(buf, len, "%.1f MiB", (double)b / (1 << 20));
    else
        snprintf(buf, len, "%.1f KiB", (double)b / 1024);
}

#define ONLINE_SLOW_MS 10000.0 /* a first run slower than this (online + memset) gets no repeats */

static void bench_online(void)
{
    static const struct {
        uint64_t bytes;
        int runs;
        bool target;
    } sizes[] = {{GiB, 5, false}, {64 * GiB, 3, false}, {1024 * GiB, 3, true}};

    printf("\nonline: create + memblock_add + cma_mm_online of a metadata-only machine, against\n"
           "        malloc + memset(0) + free of its metadata bytes (\"memset\"); ratio = online / memset,"
           " ratio-nf = online / (malloc + memset, no free)\n");
    printf("%-22s %11s %11s %7s %10s %10s %9s %10s  %s\n", "size (runs)", "pages", "metadata",
           "B/page", "online ms", "memset ms", "ratio", "ratio-nf", "target");
    for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++) {
        double best_on = -1, best_ms = -1, best_nf = -1;
        uint64_t md = 0, pages = 0;
        int runs = 0;
        for (int r = 0; r < sizes[s].runs; r++) {
            double on, ms, nf;
            uint64_t t0 = bench_now_ns();
            if (r % 2 == 0) { /* alternate which goes first so neither always inherits the other's mess */
                on = time_online(sizes[s].bytes, &md, &pages);
                ms = time_memset(md, &nf);
            } else {
                ms = time_memset(md, &nf);
                on = time_online(sizes[s].bytes, &md, &pages);
            }
            double round_ms = (double)(bench_now_ns() - t0) / 1e6;
            runs++;
            if (best_on < 0 || on < best_on)
                best_on = on;
            if (best_ms < 0 || ms < best_ms)
                best_ms = ms;
            if (best_nf < 0 || nf < best_nf)
                best_nf = nf;
            if (r == 0 && round_ms > ONLINE_SLOW_MS)
                break;
        }
        char size[32], mdb[32], target[96] = "";
        fmt_bytes(size, sizeof size, sizes[s].bytes);
        fmt_bytes(mdb, sizeof mdb, md);
        if (sizes[s].target)
            snprintf(target, sizeof target, "within 2x of memset: %s",
                     best_on <= 2 * best_ms ? "yes" : "NO");
        char label[64];
        snprintf(label, sizeof label, "%s (min of %d%s)", size, runs,
                 runs < sizes[s].runs ? ", slow" : "");
        printf("%-22s %11" PRIu64 " %11s %7.2f %10.2f %10.2f %8.2fx %9.2fx  %s\n", label, pages, mdb,
               (double)md / (double)pages, best_on, best_ms, best_on / best_ms, best_on / best_nf, target);
        if (runs < sizes[s].runs)
            printf("  (%s: first run took more than %.0f s, so it was not repeated)\n", size,
                   ONLINE_SLOW_MS / 1000);
    }
}

int main(int argc, char **argv)
{
    (void)argc;
    maybe_reexec_for_static_tls(argv);
    setvbuf(stdout, NULL, _IOLBF, 0);
    setup_peers();
    print_header();

    struct cma_mm *mm = machine_new(ALLOC_MACHINE_BYTES);
    contenders[C_LIBCMA] = (struct contender){.name = "libcma", .alloc = libcma_alloc,
                                              .free = libcma_free, .ctx = mm, .ok = true};
    printf("alloc benchmarks: libcma on a 1 GiB metadata-only machine (4 KiB pages, nr_cpus 2, default"
           " pcp batch/high), CMA_GFP_MOVABLE\n\n");
    print_table_header();
    bench_pair_and_batch(mm);
    machine_check_destroy(mm, "pair and batch");

    bench_churn();
    bench_online();
    printf("\nall libcma checks passed (cma_mm_check, cma_mm_destroy == 0)\n");
    return 0;
}
