/* SPDX-License-Identifier: MIT */
/*
 * test_host.c - the host layer (host.c, copy.c): which hook sets are accepted, the size field,
 * log and logv, the panic hook, the two lock classes, the CPU-exclusive fast path that takes no
 * lock (local mode), the copy hook, and both built-in page copies (the portable one and, on x86-64,
 * the non-temporal one) byte for byte.
 */
#include "test.h"

#include "internal/internal.h"

#include <setjmp.h>

#define MiB (1024ull * 1024ull)

/* ---- a counting host -------------------------------------------------------------------------- */

struct counts {
    int lock, trylock, unlock, mutex_lock, mutex_unlock, log, logv, copy, barrier;
    size_t copied;
    char last_log[512];
    char last_fmt[128];
    unsigned cpu;
    bool exclusive;
};
static struct counts cnt;

static int c_lock_init(void *ctx, uintptr_t *w)
{
    (void)ctx;
    *w = 0;
    return 0;
}
static void c_lock_fini(void *ctx, uintptr_t *w) { (void)ctx, (void)w; }
static bool c_trylock(void *ctx, uintptr_t *w)
{
    (void)ctx;
    cnt.trylock++;
    if (*w)
        return false;
    *w = 1;
    return true;
}
static void c_lock(void *ctx, uintptr_t *w)
{
    (void)ctx;
    cnt.lock++;
    *w = 1;
}
static void c_unlock(void *ctx, uintptr_t *w)
{
    (void)ctx;
    cnt.unlock++;
    *w = 0;
}
static void c_mutex_lock(void *ctx, uintptr_t *w)
{
    (void)ctx;
    cnt.mutex_lock++;
    *w = 1;
}
static void c_mutex_unlock(void *ctx, uintptr_t *w)
{
    (void)ctx;
    cnt.mutex_unlock++;
    *w = 0;
}
static void c_log(void *ctx, enum cma_log_level level, const char *msg)
{
    (void)ctx;
    (void)level;
    cnt.log++;
    snprintf(cnt.last_log, sizeof cnt.last_log, "%s", msg);
}
static void c_logv(void *ctx, enum cma_log_level level, const char *fmt, va_list ap)
{
    (void)ctx;
    (void)level;
    cnt.logv++;
    snprintf(cnt.last_fmt, sizeof cnt.last_fmt, "%s", fmt);
    vsnprintf(cnt.last_log, sizeof cnt.last_log, fmt, ap);
}
static unsigned c_cpu_id_ex(void *ctx, bool *exclusive)
{
    (void)ctx;
    *exclusive = cnt.exclusive;
    return cnt.cpu;
}
static void c_barrier(void *ctx)
{
    (void)ctx;
    cnt.barrier++;
}
static void c_copy(void *ctx, void *dst, const void *src, size_t n)
{
    (void)ctx;
    cnt.copy++;
    cnt.copied += n;
    memcpy(dst, src, n);
}

#define LOCKS                                                                                      \
    .lock_init = c_lock_init, .lock_fini = c_lock_fini, .lock = c_lock, .unlock = c_unlock,        \
    .trylock = c_trylock

/* ---- resolution ----------------------------------------------------------------------------------- */

static void test_resolve(void)
{
    struct cma_hostx hx;
    /* whole sets or nothing */
    const struct cma_host half_mutex = {.mutex_init = c_lock_init, .mutex_lock = c_mutex_lock};
    EXPECT_ERR(cma__host_resolve(&half_mutex, &hx), -CMA_EINVAL);
    const struct cma_host mutexes = {.mutex_init = c_lock_init, .mutex_fini = c_lock_fini,
                                     .mutex_lock = c_mutex_lock, .mutex_unlock = c_mutex_unlock};
    EXPECT_OK(cma__host_resolve(&mutexes, &hx));
    EXPECT_TRUE(hx.h.mutex_lock == c_mutex_lock);
    EXPECT_FALSE(hx.custom_locks);
    /* spinning hooks alone serve the sleeping class too (as before it existed) */
    const struct cma_host spins = {LOCKS};
    EXPECT_OK(cma__host_resolve(&spins, &hx));
    EXPECT_TRUE(hx.custom_locks);
    EXPECT_TRUE(hx.h.mutex_lock == NULL);
    /* nothing: every default */
    EXPECT_OK(cma__host_resolve(NULL, &hx));
    EXPECT_TRUE(hx.h.alloc && hx.h.free && hx.h.now_ns && hx.h.relax && hx.h.copy);
    EXPECT_TRUE(hx.default_cpu_id && hx.default_copy && !hx.local_caches);
    EXPECT_TRUE(hx.h.mutex_lock != NULL); /* hosted: pthread mutexes */
    /* local mode needs both cpu_id_ex and cpu_barrier */
    const struct cma_host ex_only = {.cpu_id_ex = c_cpu_id_ex};
    EXPECT_OK(cma__host_resolve(&ex_only, &hx));
    EXPECT_FALSE(hx.local_caches);
    EXPECT_FALSE(hx.default_cpu_id);
    const struct cma_host local = {.cpu_id_ex = c_cpu_id_ex, .cpu_barrier = c_barrier};
    EXPECT_OK(cma__host_resolve(&local, &hx));
    EXPECT_TRUE(hx.local_caches);
}

/* size: members past it are not read; a size not covering itself is refused */
static void test_size_field(void)
{
    struct cma_hostx hx;
    struct cma_host h = {.log = c_log, .logv = c_logv, .copy = c_copy};
    h.size = offsetof(struct cma_host, logv); /* a caller from before logv existed */
    EXPECT_OK(cma__host_resolve(&h, &hx));
    EXPECT_TRUE(hx.h.log == c_log);
    EXPECT_TRUE(hx.h.logv == NULL);
    EXPECT_TRUE(hx.default_copy);
    h.size = sizeof h;
    EXPECT_OK(cma__host_resolve(&h, &hx));
    EXPECT_TRUE(hx.h.logv == c_logv);
    EXPECT_FALSE(hx.default_copy);
    h.size = sizeof h + 64; /* a newer caller: what this library knows is read */
    EXPECT_OK(cma__host_resolve(&h, &hx));
    EXPECT_TRUE(hx.h.logv == c_logv);
    h.size = offsetof(struct cma_host, size);
    EXPECT_ERR(cma__host_resolve(&h, &hx), -CMA_EINVAL);
}

/* ---- log ------------------------------------------------------------------------------------------ */

static void test_log_and_logv(void)
{
    struct cma_hostx hx;
    memset(&cnt, 0, sizeof cnt);
    const struct cma_host logger = {.log = c_log};
    ASSERT_OK(cma__host_resolve(&logger, &hx));
    cma__log(&hx, CMA_LOG_INFO, "%s has %llu pages", "zone", 42ull);
    EXPECT_EQ(cnt.log, 1);
    EXPECT_STREQ(cnt.last_log, "zone has 42 pages");
    /* longer than the log's 255 bytes: cut, and it says so */
    char big[400];
    memset(big, 'x', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    cma__log(&hx, CMA_LOG_INFO, "%s", big);
    EXPECT_UEQ(strlen(cnt.last_log), 255);
    EXPECT_STREQ(cnt.last_log + 252, "...");
    /* logv gets the format and the arguments, and log is not called */
    const struct cma_host both = {.log = c_log, .logv = c_logv};
    ASSERT_OK(cma__host_resolve(&both, &hx));
    cma__log(&hx, CMA_LOG_WARN, "%s: %u", "cpu", 3u);
    EXPECT_EQ(cnt.logv, 1);
    EXPECT_EQ(cnt.log, 2);
    EXPECT_STREQ(cnt.last_fmt, "%s: %u");
    EXPECT_STREQ(cnt.last_log, "cpu: 3");
    /* through a machine: cma= errors and online messages arrive */
    struct cma_mm_config cfg;
    struct cma_mm *mm;
    cma_mm_config_default(&cfg);
    cfg.host = &both;
    ASSERT_OK(cma_mm_create(&cfg, &mm));
    ASSERT_OK(cma_memblock_add(mm, 0, 64 * MiB));
    EXPECT_ERR(cma_parse_cmdline(mm, "cma=12Q"), -CMA_EINVAL);
    EXPECT_TRUE(strstr(cnt.last_log, "cma=12Q") != NULL);
    EXPECT_OK(cma_mm_online(mm));
    EXPECT_TRUE(strncmp(cnt.last_log, "online: 16384 pages", 19) == 0);
    EXPECT_EQ(cnt.log, 2);
    EXPECT_OK(cma_mm_destroy(mm));
}

/* ---- panic ---------------------------------------------------------------------------------------- */

static jmp_buf panic_jmp;
static char panic_msg[256];

static void c_panic(void *ctx, const char *msg)
{
    (void)ctx;
    snprintf(panic_msg, sizeof panic_msg, "%s", msg);
    longjmp(panic_jmp, 1);
}

static void test_panic(void)
{
    const struct cma_host h = {.panic = c_panic};
    struct cma_mm_config cfg;
    struct cma_mm *mm;
    cma_mm_config_default(&cfg);
    cfg.host = &h;
    ASSERT_OK(cma_mm_create(&cfg, &mm)); /* installs the panic hook */
    if (setjmp(panic_jmp) == 0)
        cma__assert_fail("1 == 2", "here.c", 7);
    EXPECT_STREQ(panic_msg, "assertion failed: 1 == 2 (here.c:7)");
    EXPECT_OK(cma_mm_destroy(mm));
}

/* ---- lock classes and the CPU-exclusive fast path -------------------------------------------------- */

static struct cma_mm *counting_machine(const struct cma_host *h, enum cma_backing backing)
{
    struct cma_mm_config cfg;
    struct cma_mm *mm = NULL;
    cma_mm_config_default(&cfg);
    cfg.host = h;
    cfg.nr_cpus = 2;
    cfg.backing = backing;
    cfg.cma_first_percent = 0; /* movable pages fill the area first */
    if (cma_mm_create(&cfg, &mm) || cma_memblock_add(mm, 0, 64 * MiB) ||
        cma_declare_contiguous(mm, "area", 16 * MiB, 32 * MiB, 0, 0, 0, NULL) || cma_mm_online(mm)) {
        test_fail_(__FILE__, __LINE__, "machine setup");
        return NULL;
    }
    return mm;
}

/* n order-0 alloc+free pairs; returns the spinning lock calls they made (lock + trylock). */
static int pairs(struct cma_mm *mm, int n)
{
    int before = cnt.lock + cnt.trylock;
    for (int i = 0; i < n; i++) {
        cma_pfn_t pfn;
        if (cma_alloc_pages(mm, 0, CMA_GFP_MOVABLE, &pfn) || cma_free_pages(mm, pfn, 0)) {
            test_fail_(__FILE__, __LINE__, "pair %d", i);
            break;
        }
    }
    return cnt.lock + cnt.trylock - before;
}

static void test_local_mode_skips_the_cache_lock(void)
{
    memset(&cnt, 0, sizeof cnt);
    const struct cma_host local = {LOCKS, .cpu_id_ex = c_cpu_id_ex, .cpu_barrier = c_barrier};
    struct cma_mm *mm = counting_machine(&local, CMA_BACKING_NONE);
    ASSERT_TRUE(mm != NULL);
    struct cma_mm_stats st;

    /* CPU-exclusive on CPU 1: a warm cache serves every pair without a single lock */
    cnt.cpu = 1;
    cnt.exclusive = true;
    (void)pairs(mm, 1); /* the first refills the cache under the zone lock */
    EXPECT_EQ(pairs(mm, 1000), 0);
    ASSERT_OK(cma_mm_get_stats(mm, &st));
    EXPECT_GT(st.nr_free_pcp, 0);
    uint64_t cached = st.nr_free_pcp;
    int barriers = cnt.barrier;
    EXPECT_GT(barriers, 0); /* the snapshot counted in as remote on every cache */

    /* not exclusive: the caches are bypassed (the zone lock per call) and keep what they hold */
    cnt.exclusive = false;
    EXPECT_EQ(pairs(mm, 100), 200);
    ASSERT_OK(cma_mm_get_stats(mm, &st));
    EXPECT_UEQ(st.nr_free_pcp, cached);

    /* an id beyond nr_cpus is never exclusive (two CPUs would share a cache lock-free) */
    cnt.cpu = 3;
    cnt.exclusive = true;
    EXPECT_EQ(pairs(mm, 100), 200);

    /* a drain from outside makes the handshake: a barrier, then the cache lock */
    cnt.cpu = 0;
    cnt.exclusive = false;
    barriers = cnt.barrier;
    EXPECT_OK(cma_drain_cpu_cache(mm, 1));
    EXPECT_EQ(cnt.barrier, barriers + 1);
    ASSERT_OK(cma_mm_get_stats(mm, &st));
    EXPECT_UEQ(st.nr_free_pcp, 0);
    EXPECT_CHECK(mm);
    EXPECT_OK(cma_mm_destroy(mm));

    /* the same host without cpu_barrier is the normal mode: a trylock per fast path */
    memset(&cnt, 0, sizeof cnt);
    const struct cma_host plain = {LOCKS, .cpu_id_ex = c_cpu_id_ex};
    mm = counting_machine(&plain, CMA_BACKING_NONE);
    ASSERT_TRUE(mm != NULL);
    cnt.exclusive = true;
    (void)pairs(mm, 1);
    EXPECT_EQ(pairs(mm, 1000), 2000);
    EXPECT_EQ(cnt.barrier, 0);
    EXPECT_OK(cma_mm_destroy(mm));
}

/* The area's allocation path takes the sleeping class, the rest the spinning one. */
static int move_ok(void *owner, cma_pfn_t from, cma_pfn_t to, unsigned order)
{
    (void)from;
    (void)order;
    *(cma_pfn_t *)owner = to;
    return 0;
}
static const struct cma_movable_ops mover = {.migrate = move_ok};

static void test_lock_classes_and_copy_hook(void)
{
    memset(&cnt, 0, sizeof cnt);
    const struct cma_host h = {LOCKS,
                               .mutex_init = c_lock_init,
                               .mutex_fini = c_lock_fini,
                               .mutex_lock = c_mutex_lock,
                               .mutex_unlock = c_mutex_unlock,
                               .copy = c_copy};
    struct cma_mm *mm = counting_machine(&h, CMA_BACKING_HOST);
    ASSERT_TRUE(mm != NULL);
    struct cma_area *area = cma_area_lookup(mm, "area");
    ASSERT_TRUE(area != NULL);
    /* fill the area with movable pages whose contents are known */
    static cma_pfn_t pages[4096];
    size_t n = 0;
    struct cma_area_stats ast;
    ASSERT_OK(cma_area_get_stats(area, &ast));
    while (n < 4096 && cma_alloc_pages(mm, 0, CMA_GFP_MOVABLE, &pages[n]) == 0) {
        ASSERT_OK(cma_page_set_movable(mm, pages[n], &mover, &pages[n]));
        memset(cma_pfn_to_virt(mm, pages[n]), (int)(n & 0xff), 4096);
        n++;
    }
    int mutexes = cnt.mutex_lock;
    cma_pfn_t buf;
    ASSERT_OK(cma_alloc(area, ast.count, 0, &buf));
    EXPECT_EQ(cnt.mutex_lock, mutexes + 1);
    EXPECT_EQ(cnt.mutex_unlock, cnt.mutex_lock);
    EXPECT_GT(cnt.copy, 0); /* migration copied through the hook */
    EXPECT_UEQ(cnt.copied % 4096, 0);
    for (size_t i = 0; i < n; i++) {
        const unsigned char *v = cma_pfn_to_virt(mm, pages[i]);
        EXPECT_FALSE(pages[i] >= buf && pages[i] < buf + ast.count);
        if (v[0] != (unsigned char)(i & 0xff) || v[4095] != (unsigned char)(i & 0xff)) {
            test_fail_(__FILE__, __LINE__, "page %zu lost its contents", i);
            break;
        }
    }
    EXPECT_OK(cma_release(area, buf, ast.count));
    EXPECT_OK(cma_area_set_policy(area, CMA_POLICY_LINUX));
    EXPECT_EQ(cnt.mutex_lock, mutexes + 2);
    for (size_t i = 0; i < n; i++)
        EXPECT_OK(cma_free_pages(mm, pages[i], 0));
    EXPECT_EQ(cnt.lock + cnt.trylock - cnt.unlock, 0); /* every spinning lock released */
    EXPECT_CHECK(mm);
    EXPECT_OK(cma_mm_destroy(mm));
}

/* ---- the built-in copies -------------------------------------------------------------------------- */

typedef void copy_fn(void *dst, const void *src, size_t n, const void *next);

static void check_copy(copy_fn *fn, const char *name)
{
    enum { BYTES = 64 * 1024 };
    unsigned char *src = aligned_alloc(4096, BYTES + 4096), *dst = aligned_alloc(4096, BYTES + 4096);
    unsigned char *next = aligned_alloc(4096, 4096);
    ASSERT_TRUE(src && dst && next);
    struct test_rng rng;
    test_rng_init(&rng, test_seed_value);
    for (size_t i = 0; i < BYTES + 4096; i++)
        src[i] = (unsigned char)test_rng_next(&rng);
    memset(next, 0x5a, 4096);
    static const size_t sizes[] = {64, 512, 576, 4096, 8192, 3 * 4096, BYTES};
    static const size_t offs[] = {0, 16, 1, 4095};
    for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++) {
        for (size_t o = 0; o < sizeof offs / sizeof offs[0]; o++) {
            for (int with_next = 0; with_next < 2; with_next++) {
                size_t n = sizes[s], off = offs[o];
                if (off + n > BYTES + 4096)
                    continue;
                memset(dst, 0xee, BYTES + 4096);
                fn(dst + off, src + off, n, with_next ? next : NULL);
                if (memcmp(dst + off, src + off, n) != 0 || (off && dst[off - 1] != 0xee) ||
                    (off + n < BYTES + 4096 && dst[off + n] != 0xee))
                    test_fail_(__FILE__, __LINE__, "%s: %zu bytes at offset %zu (next %d) differ", name,
                               n, off, with_next);
            }
        }
    }
    EXPECT_TRUE(next[0] == 0x5a && next[4095] == 0x5a); /* prefetched, never written */
    free(src);
    free(dst);
    free(next);
}

static void test_builtin_copies(void)
{
    check_copy(cma__copy_portable, "portable");
#ifdef CMA_HAVE_COPY_NT
    check_copy(cma__copy_nt, "non-temporal");
#endif
    check_copy(cma__copy_pages, "default");
}

int main(int argc, char **argv)
{
    return test_main(argc, argv, TEST(test_resolve), TEST(test_size_field), TEST(test_log_and_logv),
                     TEST(test_panic), TEST(test_local_mode_skips_the_cache_lock),
                     TEST(test_lock_classes_and_copy_hook), TEST(test_builtin_copies));
}
