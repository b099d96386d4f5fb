/* SPDX-License-Identifier: MIT */
/*
 * tests/cmasim/test_trace.c - cmasim's trace parsers (tools/cmasim/trace.c, compiled in directly):
 * golden native and ftrace traces with their expected event counts, the exact "file:line: what"
 * messages of malformed lines, format detection, and a fuzz run (random bytes, truncated and
 * mutated golden files) that must never crash.
 */
#include "cmasim.h"
#include "test.h"

#include <unistd.h>

#ifndef CMASIM_TRACES_DIR
#error "CMASIM_TRACES_DIR must point at tests/cmasim/traces"
#endif

static char tmp_path[512];

/* Writes len bytes to a fresh temporary file; returns its path (valid until the next call). */
static const char *write_tmp(const void *data, size_t len)
{
    static unsigned seq;
    const char *dir = getenv("TMPDIR");
    snprintf(tmp_path, sizeof tmp_path, "%s/cmasim-trace-%ld-%u.txt", dir && *dir ? dir : "/tmp",
             (long)getpid(), seq++);
    FILE *f = fopen(tmp_path, "wb");
    if (!f) {
        test_fail_(__FILE__, __LINE__, "cannot create %s", tmp_path);
        return tmp_path;
    }
    if (len && fwrite(data, 1, len, f) != len)
        test_fail_(__FILE__, __LINE__, "cannot write %s", tmp_path);
    fclose(f);
    return tmp_path;
}

static size_t count_op(const struct sim_trace *t, enum sim_op op)
{
    size_t n = 0;
    for (size_t i = 0; i < t->n; i++)
        n += t->ev[i].op == op;
    return n;
}

/* ---- native golden -------------------------------------------------------------------------- */

static void test_native_golden(void)
{
    struct sim_trace t = {0};
    struct sim_machine m = {0};
    char err[512];
    int rc = sim_trace_load(CMASIM_TRACES_DIR "/golden.trace", SIM_TRACE_AUTO, &t, &m, err, sizeof err);
    if (rc != 0)
        test_fail_(__FILE__, __LINE__, "load failed: %s", err);
    ASSERT_EQ(rc, 0);
    EXPECT_UEQ(t.n, 42);
    EXPECT_UEQ(count_op(&t, SIM_OP_ALLOC), 9);
    EXPECT_UEQ(count_op(&t, SIM_OP_FREE), 9);
    EXPECT_UEQ(count_op(&t, SIM_OP_MOVABLE), 2);
    EXPECT_UEQ(count_op(&t, SIM_OP_CLEAN), 2);
    EXPECT_UEQ(count_op(&t, SIM_OP_DIRTY), 2);
    EXPECT_UEQ(count_op(&t, SIM_OP_PIN), 2);
    EXPECT_UEQ(count_op(&t, SIM_OP_UNPIN), 2);
    EXPECT_UEQ(count_op(&t, SIM_OP_GET), 2);
    EXPECT_UEQ(count_op(&t, SIM_OP_PUT), 2);
    EXPECT_UEQ(count_op(&t, SIM_OP_CMA_ALLOC), 5);
    EXPECT_UEQ(count_op(&t, SIM_OP_CMA_RELEASE), 5);
    EXPECT_UEQ(t.events_skipped, 0);
    EXPECT_UEQ(t.events_lost, 0);
    EXPECT_UEQ(t.max_id, 14); /* 9 allocs + 5 cma_allocs, renumbered densely */

    /* the machine */
    EXPECT_UEQ(m.page_shift, 12);
    EXPECT_UEQ(m.nr_ranges, 1);
    EXPECT_UEQ(m.ranges[0].base, 0);
    EXPECT_UEQ(m.ranges[0].size, 1ull << 30);
    EXPECT_UEQ(m.nr_reserved, 1);
    EXPECT_UEQ(m.reserved[0].size, 1ull << 20);
    EXPECT_STREQ(m.cmdline, "cma=64M");
    ASSERT_EQ(m.nr_areas, 2);
    EXPECT_STREQ(m.areas[0].name, "camera");
    EXPECT_UEQ(m.areas[0].size, 32ull << 20);
    EXPECT_UEQ(m.areas[0].base, 0);
    EXPECT_STREQ(m.areas[1].name, "video");
    EXPECT_UEQ(m.areas[1].base, 0x30000000ull);
    /* area names: the cmdline's first, then the explicit ones */
    ASSERT_EQ(t.nr_area_names, 3);
    EXPECT_STREQ(t.area_names[0], "reserved");
    EXPECT_STREQ(t.area_names[1], "camera");
    EXPECT_STREQ(t.area_names[2], "video");

    /* individual events */
    const struct sim_event *e = t.ev;
    EXPECT_EQ(e[0].op, SIM_OP_ALLOC);
    EXPECT_UEQ(e[0].id, 1);
    EXPECT_EQ(e[0].gfp, CMA_GFP_UNMOVABLE);
    EXPECT_EQ(e[0].cls, SIM_CLASS_KERNEL);
    EXPECT_EQ(e[0].flags, 0);
    EXPECT_UEQ(e[0].line, 10);
    EXPECT_EQ(e[1].gfp, CMA_GFP_MOVABLE); /* class=anon implies type=movable */
    EXPECT_EQ(e[1].cls, SIM_CLASS_ANON);
    EXPECT_EQ(e[1].flags, SIM_EV_MOVABLE);
    EXPECT_EQ(e[2].order, 2);
    EXPECT_EQ(e[2].flags, SIM_EV_MOVABLE | SIM_EV_CLEAN);
    EXPECT_EQ(e[2].cls, SIM_CLASS_PAGECACHE);
    EXPECT_UEQ(e[2].t_ns, 10000);
    EXPECT_EQ(e[3].gfp, CMA_GFP_RECLAIMABLE);
    EXPECT_EQ(e[3].cls, SIM_CLASS_OTHER);
    EXPECT_UEQ(e[4].t_ns, 15000); /* +5us */
    EXPECT_EQ(e[4].order, 9);
    EXPECT_UEQ(e[4].id, 5);
    EXPECT_EQ(e[5].cls, SIM_CLASS_PINNED);
    EXPECT_EQ(e[5].gfp, CMA_GFP_MOVABLE);
    EXPECT_EQ(e[6].op, SIM_OP_PIN);
    EXPECT_UEQ(e[6].id, 6);
    /* cma_allocs: line 1ms */
    const struct sim_event *c0 = NULL, *c1 = NULL, *c2 = NULL, *c3 = NULL;
    for (size_t i = 0; i < t.n; i++) {
        if (t.ev[i].op != SIM_OP_CMA_ALLOC)
            continue;
        if (!c0)
            c0 = &t.ev[i];
        else if (!c1)
            c1 = &t.ev[i];
        else if (!c2)
            c2 = &t.ev[i];
        else if (!c3)
            c3 = &t.ev[i];
    }
    ASSERT_TRUE(c0 && c1 && c2 && c3);
    EXPECT_UEQ(c0->t_ns, 1000000);
    EXPECT_UEQ(c0->count, 256);
    EXPECT_EQ(c0->align_order, 8);
    EXPECT_EQ(c0->area, 0);
    EXPECT_UEQ(c1->count, 2048); /* 8M of 4K pages */
    EXPECT_EQ(c1->area, 1);
    EXPECT_EQ(c1->align_order, 4);
    EXPECT_UEQ(c2->t_ns, 1500000);
    EXPECT_EQ(c2->area, 2);
    EXPECT_EQ(c2->align_order, 0);
    EXPECT_UEQ(c3->count, 16);
    EXPECT_EQ(c3->area, 0);
    /* the release of user id 101 names the dense id of its cma_alloc */
    for (size_t i = 0; i < t.n; i++)
        if (t.ev[i].op == SIM_OP_CMA_RELEASE) {
            EXPECT_UEQ(t.ev[i].id, c1->id);
            break;
        }
    /* user id 1 reused after its free: a new object */
    size_t allocs_of_1 = 0;
    uint64_t first_dense = 0;
    for (size_t i = 0; i < t.n; i++)
        if (t.ev[i].op == SIM_OP_ALLOC && (t.ev[i].line == 10 || t.ev[i].line == 30)) {
            allocs_of_1++;
            if (!first_dense)
                first_dense = t.ev[i].id;
            else
                EXPECT_NE(t.ev[i].id, first_dense);
        }
    EXPECT_UEQ(allocs_of_1, 2);
    EXPECT_UEQ(t.ev[t.n - 1].t_ns, 1000000000ull);
    /* time never decreases */
    for (size_t i = 1; i < t.n; i++)
        EXPECT_LE(t.ev[i - 1].t_ns, t.ev[i].t_ns);
    sim_trace_free(&t);
}

/* ---- ftrace golden -------------------------------------------------------------------------- */

static void test_ftrace_golden(void)
{
    struct sim_trace t = {0};
    struct sim_machine m = {.page_shift = 99};
    char err[512];
    int rc = sim_trace_load(CMASIM_TRACES_DIR "/golden.ftrace", SIM_TRACE_AUTO, &t, &m, err, sizeof err);
    if (rc != 0)
        test_fail_(__FILE__, __LINE__, "load failed: %s", err);
    ASSERT_EQ(rc, 0);
    EXPECT_UEQ(m.page_shift, 99); /* untouched */
    EXPECT_UEQ(t.n, 17);          /* replayed */
    EXPECT_UEQ(t.events_skipped, 8);
    EXPECT_UEQ(t.events_lost, 12);
    EXPECT_UEQ(count_op(&t, SIM_OP_ALLOC), 7);
    EXPECT_UEQ(count_op(&t, SIM_OP_FREE), 4);
    EXPECT_UEQ(count_op(&t, SIM_OP_CMA_ALLOC), 3);
    EXPECT_UEQ(count_op(&t, SIM_OP_CMA_RELEASE), 3);
    EXPECT_UEQ(t.max_id, 10);
    ASSERT_EQ(t.nr_area_names, 2);
    EXPECT_STREQ(t.area_names[0], "reserved");
    EXPECT_STREQ(t.area_names[1], "linux_cma"); /* as cma= can declare it */

    const struct sim_event *e = t.ev;
    /* 1: GFP_HIGHUSER_MOVABLE, migratetype 1 */
    EXPECT_EQ(e[0].op, SIM_OP_ALLOC);
    EXPECT_UEQ(e[0].t_ns, 0);
    EXPECT_UEQ(e[0].id, 1);
    EXPECT_EQ(e[0].gfp, CMA_GFP_MOVABLE);
    EXPECT_EQ(e[0].cls, SIM_CLASS_ANON);
    EXPECT_EQ(e[0].flags, SIM_EV_MOVABLE);
    EXPECT_EQ(e[0].order, 0);
    EXPECT_UEQ(e[0].line, 13);
    /* 2: GFP_KERNEL order 3 */
    EXPECT_UEQ(e[1].t_ns, 2000);
    EXPECT_EQ(e[1].gfp, CMA_GFP_UNMOVABLE);
    EXPECT_EQ(e[1].cls, SIM_CLASS_KERNEL);
    EXPECT_EQ(e[1].flags, 0);
    EXPECT_EQ(e[1].order, 3);
    /* 3: reclaimable */
    EXPECT_EQ(e[2].gfp, CMA_GFP_RECLAIMABLE);
    EXPECT_EQ(e[2].cls, SIM_CLASS_KERNEL);
    EXPECT_UEQ(e[2].t_ns, 80000);
    /* 4: GFP_NOFS|__GFP_MOVABLE: page cache */
    EXPECT_EQ(e[3].gfp, CMA_GFP_MOVABLE);
    EXPECT_EQ(e[3].cls, SIM_CLASS_PAGECACHE);
    EXPECT_EQ(e[3].flags, SIM_EV_MOVABLE);
    /* frees find their allocations by pfn */
    EXPECT_EQ(e[4].op, SIM_OP_FREE);
    EXPECT_UEQ(e[4].id, 1);
    EXPECT_EQ(e[5].op, SIM_OP_FREE);
    EXPECT_UEQ(e[5].id, 4);
    /* cma_alloc_finish */
    EXPECT_EQ(e[6].op, SIM_OP_CMA_ALLOC);
    EXPECT_UEQ(e[6].id, 5);
    EXPECT_UEQ(e[6].count, 256);
    EXPECT_EQ(e[6].align_order, 8);
    EXPECT_EQ(e[6].area, 0);
    EXPECT_UEQ(e[6].t_ns, 85800000);
    /* failed finish: an attempt, given back at once */
    EXPECT_EQ(e[7].op, SIM_OP_CMA_ALLOC);
    EXPECT_EQ(e[8].op, SIM_OP_CMA_RELEASE);
    EXPECT_UEQ(e[7].id, e[8].id);
    EXPECT_UEQ(e[7].t_ns, e[8].t_ns);
    EXPECT_EQ(e[7].area, 1);
    EXPECT_UEQ(e[7].count, 4096);
    EXPECT_EQ(e[9].op, SIM_OP_CMA_ALLOC);
    EXPECT_UEQ(e[9].count, 1024);
    EXPECT_EQ(e[9].align_order, 4);
    /* trace-cmd variant, decimal pfn */
    EXPECT_EQ(e[10].op, SIM_OP_ALLOC);
    EXPECT_EQ(e[10].order, 1);
    EXPECT_EQ(e[11].op, SIM_OP_FREE);
    EXPECT_UEQ(e[11].id, e[10].id);
    /* perf-script style "kmem:mm_page_alloc:" */
    EXPECT_EQ(e[12].op, SIM_OP_ALLOC);
    EXPECT_EQ(e[12].cls, SIM_CLASS_KERNEL);
    /* pfn 0x13bd30 allocated again without a traced free: implicit free first */
    EXPECT_EQ(e[13].op, SIM_OP_FREE);
    EXPECT_UEQ(e[13].id, 2);
    EXPECT_EQ(e[14].op, SIM_OP_ALLOC);
    EXPECT_EQ(e[14].cls, SIM_CLASS_ANON); /* GFP_TRANSHUGE */
    EXPECT_EQ(e[15].op, SIM_OP_CMA_RELEASE);
    EXPECT_UEQ(e[15].id, 5);
    EXPECT_EQ(e[16].op, SIM_OP_CMA_RELEASE);
    EXPECT_UEQ(e[16].id, e[9].id);
    EXPECT_UEQ(e[16].t_ns, 385380000);
    sim_trace_free(&t);
}

/* ---- the exact ftrace line formats ------------------------------------------------------------ */

struct ftcase {
    const char *line;
    enum sim_op op; /* expected op of the first event, or -1 for none */
    uint64_t skipped;
};

static void test_ftrace_kernel_formats(void)
{
    static const struct ftcase cases[] = {
        /* current kernels: pfn=0x%lx */
        {"  kworker/0:1-12 [000] ..... 12.000001: mm_page_alloc: page=0xffffea0000040000 pfn=0x1000 order=0 migratetype=0 gfp_flags=GFP_KERNEL", SIM_OP_ALLOC, 0},
        /* hashed %p */
        {"bash-1 [001] d..1. 12.5: mm_page_alloc: page=000000003b5c7a10 pfn=0x1000 order=2 migratetype=1 gfp_flags=GFP_HIGHUSER_MOVABLE", SIM_OP_ALLOC, 0},
        /* older kernels: pfn=%lu, %p without 0x, four flag columns */
        {"bash-1 [001] d..1 12.5: mm_page_alloc: page=ffffea00010ca0c0 pfn=275203 order=0 migratetype=0 gfp_flags=GFP_KERNEL|__GFP_NOTRACK", SIM_OP_ALLOC, 0},
        /* trace-cmd without latency columns, record-tgid column */
        {"bash-1 (    1) [001] 12.5: mm_page_alloc: page=0xffffea00010ca0c0 pfn=0x4000 order=0 migratetype=1 gfp_flags=0x100cca", SIM_OP_ALLOC, 0},
        /* NULL page: a failed allocation, skipped */
        {"bash-1 [001] ..... 12.5: mm_page_alloc: page=(null) pfn=0x0 order=9 migratetype=1 gfp_flags=GFP_TRANSHUGE", (enum sim_op)-1, 1},
        /* frees of pages never seen allocated: skipped, not errors */
        {"bash-1 [001] ..... 12.5: mm_page_free: page=0xffffea0000040000 pfn=0x1000 order=0", (enum sim_op)-1, 1},
        {"bash-1 [001] ..... 12.5: mm_page_free_batched: page=0xffffea0000040000 pfn=0x1000", (enum sim_op)-1, 1},
        {"bash-1 [001] ..... 12.5: mm_page_free_batched: page=ffffea0000040000 pfn=4096 order=0 cold=0", (enum sim_op)-1, 1},
        /* cma: 6.x (request_count) and 5.x (count) starts are informational */
        {"cam-7 [002] ..... 99.000000: cma_alloc_start: name=reserved request_count=10 available_count=100 total_count=4096 align=0", (enum sim_op)-1, 1},
        {"cam-7 [002] ..... 99.000000: cma_alloc_start: name=reserved count=10 align=0", (enum sim_op)-1, 1},
        {"cam-7 [002] ..... 99.000000: cma_alloc_finish: name=reserved pfn=0x80000 page=0xffffea0002000000 count=10 align=0 errorno=0", SIM_OP_CMA_ALLOC, 0},
        /* 5.x class-based finish without errorno; pfn=%lx without 0x */
        {"cam-7 [002] ..... 99.000000: cma_alloc_finish: name=reserved pfn=80000 page=ffffea0002000000 count=10 align=0", SIM_OP_CMA_ALLOC, 0},
        /* the old single cma_alloc event */
        {"cam-7 [002] ..... 99.000000: cma_alloc: pfn=80000 page=ffffea0002000000 count=10 align=0", SIM_OP_CMA_ALLOC, 0},
        {"cam-7 [002] ..... 99.000000: cma_release: name=reserved pfn=0x80000 page=0xffffea0002000000 count=10", (enum sim_op)-1, 1},
        /* unknown event */
        {"cam-7 [002] ..... 99.000000: mm_compaction_begin: zone_start=0x1 migrate_pfn=0x1 free_pfn=0x2 zone_end=0x3, mode=async", (enum sim_op)-1, 1},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct sim_trace t = {0};
        char err[512];
        const char *p = write_tmp(cases[i].line, strlen(cases[i].line));
        int rc = sim_trace_load(p, SIM_TRACE_AUTO, &t, NULL, err, sizeof err);
        if (rc != 0)
            test_fail_(__FILE__, __LINE__, "case %zu: %s", i, err);
        EXPECT_UEQ(t.events_skipped, cases[i].skipped);
        if ((int)cases[i].op < 0) {
            EXPECT_UEQ(t.n, 0);
        } else if (t.n < 1) {
            test_fail_(__FILE__, __LINE__, "case %zu: no event", i);
        } else {
            EXPECT_EQ(t.ev[0].op, cases[i].op);
            EXPECT_UEQ(t.ev[0].t_ns, 0); /* rebased to the first event */
        }
        sim_trace_free(&t);
        unlink(p);
    }

    /* pfn bases: a free matches its alloc in either notation of the same kernel */
    static const char pair[] =
        "a-1 [000] ..... 5.000000: mm_page_alloc: page=ffffea0000040000 pfn=4096 order=0 migratetype=0 gfp_flags=GFP_KERNEL\n"
        "a-1 [000] ..... 5.000000: mm_page_alloc: page=ffffea0000040000 pfn=0x2000 order=0 migratetype=0 gfp_flags=GFP_KERNEL\n"
        "a-1 [000] ..... 5.250000001: mm_page_free: page=ffffea0000040000 pfn=4096 order=0\n"
        "a-1 [000] ..... 5.500000: mm_page_free: page=ffffea0000040000 pfn=0x2000 order=0\n"
        "a-1 [000] ..... 4.000000: mm_page_alloc: page=ffffea0000040000 pfn=0x3000 order=0 migratetype=0 gfp_flags=GFP_KERNEL\n";
    struct sim_trace t = {0};
    char err[512];
    const char *p = write_tmp(pair, sizeof pair - 1);
    ASSERT_EQ(sim_trace_load(p, SIM_TRACE_FTRACE, &t, NULL, err, sizeof err), 0);
    ASSERT_UEQ(t.n, 5);
    EXPECT_UEQ(t.ev[2].id, t.ev[0].id);
    EXPECT_UEQ(t.ev[3].id, t.ev[1].id);
    EXPECT_UEQ(t.ev[2].t_ns, 250000001);
    EXPECT_UEQ(t.ev[3].t_ns, 500000000);
    EXPECT_UEQ(t.ev[4].t_ns, 500000000); /* a timestamp going backwards is clamped */
    sim_trace_free(&t);
    unlink(p);
}

/* ---- malformed lines: exact messages ---------------------------------------------------------- */

struct badcase {
    const char *text;
    unsigned line;
    const char *msg;
};

static void check_bad(const struct badcase *bc, size_t n, enum sim_trace_format fmt)
{
    for (size_t i = 0; i < n; i++) {
        struct sim_trace t = {0};
        struct sim_machine m = {0};
        char err[512], want[1024];
        const char *p = write_tmp(bc[i].text, strlen(bc[i].text));
        int rc = sim_trace_load(p, fmt, &t, &m, err, sizeof err);
        snprintf(want, sizeof want, "%s:%u: %s", p, bc[i].line, bc[i].msg);
        if (rc != -1)
            test_fail_(__FILE__, __LINE__, "case %zu loaded: %s", i, bc[i].text);
        else
            EXPECT_STREQ(err, want);
        sim_trace_free(&t);
        unlink(p);
    }
}

static void test_native_errors(void)
{
    static const struct badcase cases[] = {
        {"0 alloc id=1\n0 free id=1\n5 free id=7\n", 3, "free of unknown id 7"},
        {"0 alloc id=1\n1 alloc id=1\n", 2, "alloc of live id 1 (allocated at line 1)"},
        {"10ms alloc id=1\n5ms free id=1\n", 2, "time goes backwards: 5ms after 10ms"},
        {"abc alloc id=1\n", 1, "bad time 'abc' (expected e.g. 1500, 10us, 2.5ms, 3s or +1ms)"},
        {"1.5 alloc id=1\n", 1, "bad time '1.5' (expected e.g. 1500, 10us, 2.5ms, 3s or +1ms)"},
        {"# comment\n\n0 frob id=1\n", 3,
         "unknown op 'frob' (alloc, free, movable, clean, dirty, pin, unpin, get, put, cma_alloc, "
         "cma_release)"},
        {"0 alloc order=1\n", 1, "alloc: missing id"},
        {"0 alloc id=x\n", 1, "alloc: bad id 'x' (expected a number)"},
        {"0 alloc id=1 type=sticky\n", 1, "alloc: bad type 'sticky' (movable, unmovable, reclaimable)"},
        {"0 alloc id=1 class=slab\n", 1, "alloc: bad class 'slab' (pagecache, anon, kernel, pinned, other)"},
        {"0 alloc id=1 order=21\n", 1, "alloc: bad order '21' (0..20)"},
        {"0 alloc id=1 colour=red\n", 1, "alloc: unknown key 'colour'"},
        {"0 alloc id=1 shiny\n", 1, "alloc: unexpected 'shiny'"},
        {"0 free id=1 order=2\n", 1, "free: unknown key 'order'"},
        {"0 pin\n", 1, "pin: missing id"},
        {"0\n", 1, "missing op after the time (alloc, free, movable, clean, dirty, pin, unpin, get, "
                   "put, cma_alloc, cma_release)"},
        {"0 cma_alloc id=1 area=a\n", 1, "cma_alloc: give exactly one of count=PAGES or size=BYTES"},
        {"0 cma_alloc id=1 count=1 size=4K\n", 1, "cma_alloc: give exactly one of count=PAGES or size=BYTES"},
        {"0 cma_alloc id=1 count=0\n", 1, "cma_alloc: bad count '0' (pages, at least 1)"},
        {"0 cma_alloc id=1 count=4 align=31\n", 1, "cma_alloc: bad align '31' (an order, 0..30)"},
        {"machine memory=1G area=cam,16M\n0 cma_alloc id=1 area=video count=1\n", 2,
         "unknown area 'video' (the machine declares: cam)"},
        {"0 cma_alloc id=3 count=4\n1 free id=3\n", 2, "free of id 3, a cma_alloc buffer (use cma_release)"},
        {"0 cma_alloc id=3 count=4\n1 pin id=3\n", 2, "pin of id 3, a cma_alloc buffer"},
        {"0 alloc id=3\n1 cma_release id=3\n", 2, "cma_release of id 3, a page allocation (use free)"},
        {"0 cma_release id=9\n", 1, "cma_release of unknown id 9"},
        {"0 alloc id=1\nmachine memory=1G\n", 2, "machine lines must come before the first event"},
        {"machine cmdline=\"cma=64M\"\n0 alloc id=1\n", 1,
         "machine: no memory (give memory=SIZE or range=BASE,SIZE)"},
        {"machine memory=1G\nmachine range=0,1G\n", 2, "machine: range= together with memory="},
        {"machine memory=lots\n", 1, "machine: bad memory size 'lots' (expected e.g. 2G)"},
        {"machine area=cam\n", 1, "machine: bad area (expected area=NAME,SIZE[,BASE] e.g. area=cam"
                                  "era,64M)"},
        {"machine memory=1G colour=red\n", 1,
         "machine: unknown key 'colour' (memory, range, reserved, area, cmdline, page_size)"},
        {"machine cmdline=\"cma=64M\n", 1, "unterminated quote"},
        {"machine memory=1G cmdline=\"cma=64M\" area=reserved,4M\n", 1,
         "machine: area 'reserved' is declared by both cmdline= and area="},
        {"machine page_size=3000 memory=1G\n", 1,
         "machine: page_size '3000': libcma supports pages of 4K to 64K, a power of two "
         "(CMA_PAGE_SHIFT_MIN..CMA_PAGE_SHIFT_MAX)"},
        {"machine page_size=1M memory=1G\n", 1,
         "machine: page_size '1M': libcma supports pages of 4K to 64K, a power of two "
         "(CMA_PAGE_SHIFT_MIN..CMA_PAGE_SHIFT_MAX)"},
        {"0 alloc id=99999999999999999999999\n", 1,
         "alloc: bad id '99999999999999999999999' (expected a number)"},
        {"0 alloc id=1\n0 al\0loc id=2\n", 2, "NUL byte in the line (a binary file?)"},
    };
    /* the NUL case needs its length: handled below */
    check_bad(cases, sizeof cases / sizeof cases[0] - 1, SIM_TRACE_AUTO);

    static const char nul[] = "0 alloc id=1\n0 al\0loc id=2\n";
    struct sim_trace t = {0};
    char err[512], want[1024];
    const char *p = write_tmp(nul, sizeof nul - 1);
    EXPECT_EQ(sim_trace_load(p, SIM_TRACE_NATIVE, &t, NULL, err, sizeof err), -1);
    snprintf(want, sizeof want, "%s:2: NUL byte in the line (a binary file?)", p);
    EXPECT_STREQ(err, want);
    sim_trace_free(&t);
    unlink(p);

    /* a line longer than 1 MiB */
    size_t big = (1u << 20) + 10;
    char *s = malloc(big + 1);
    ASSERT_TRUE(s != NULL);
    memset(s, 'x', big);
    memcpy(s, "0 alloc id=1 #", 14);
    s[big] = '\0';
    t = (struct sim_trace){0};
    p = write_tmp(s, big);
    EXPECT_EQ(sim_trace_load(p, SIM_TRACE_AUTO, &t, NULL, err, sizeof err), -1);
    snprintf(want, sizeof want, "%s:1: line longer than 1048576 bytes", p);
    EXPECT_STREQ(err, want);
    sim_trace_free(&t);
    unlink(p);
    free(s);

    /* a missing file */
    t = (struct sim_trace){0};
    EXPECT_EQ(sim_trace_load("/nonexistent/dir/x.trace", SIM_TRACE_AUTO, &t, NULL, err, sizeof err), -1);
    EXPECT_STREQ(err, "/nonexistent/dir/x.trace: cannot open: No such file or directory");
    /* a tiny error buffer is never overrun */
    char tiny[8];
    p = write_tmp("0 free id=7\n", 12);
    EXPECT_EQ(sim_trace_load(p, SIM_TRACE_AUTO, &t, NULL, tiny, sizeof tiny), -1);
    EXPECT_EQ(strlen(tiny), 7);
    EXPECT_EQ(sim_trace_load(p, SIM_TRACE_AUTO, &t, NULL, NULL, 0), -1);
    unlink(p);
    sim_trace_free(&t);
}

static void test_ftrace_errors(void)
{
#define PFX "bash-1402 [002] ..... 10234.514620: "
    static const struct badcase cases[] = {
        {PFX "mm_page_alloc: page=0xffffea0004ef4a00 order=0 migratetype=1 gfp_flags=GFP_KERNEL\n", 1,
         "mm_page_alloc: missing pfn="},
        {PFX "mm_page_alloc: page=0xffffea0004ef4a00 pfn=0x13bzz order=0 migratetype=1 gfp_flags=GFP_KERNEL\n",
         1, "mm_page_alloc: bad pfn '0x13bzz'"},
        {PFX "mm_page_alloc: page=0xffffea0004ef4a00 pfn=0x13bd28 migratetype=1\n", 1,
         "mm_page_alloc: missing order="},
        {PFX "mm_page_alloc: page=0xffffea0004ef4a00 pfn=0x13bd28 order=x migratetype=1\n", 1,
         "mm_page_alloc: bad order 'x'"},
        {PFX "mm_page_alloc: page=0xffffea0004ef4a00 pfn=0x13bd28 order=42 migratetype=1\n", 1,
         "mm_page_alloc: order 42 out of range (0..20)"},
        {PFX "mm_page_alloc: page=0xffffea0004ef4a00 pfn=0x13bd28 order=0 migratetype=one\n", 1,
         "mm_page_alloc: bad migratetype 'one'"},
        {PFX "mm_page_free: page=0xffffea0004ef4a00 order=0\n", 1, "mm_page_free: missing pfn="},
        {PFX "mm_page_free_batched: page=0xffffea0004ef4a00 pfn=\n", 1, "mm_page_free_batched: bad pfn ''"},
        {PFX "cma_alloc_start: request_count=1 align=0\n", 1, "cma_alloc_start: missing name="},
        {PFX "cma_alloc_start: name=reserved align=0\n", 1, "cma_alloc_start: missing request_count="},
        {PFX "cma_alloc_finish: pfn=0x1 page=0x2 count=1 align=0 errorno=0\n", 1,
         "cma_alloc_finish: missing name="},
        {PFX "cma_alloc_finish: name=reserved pfn=0x1 page=0x2 count=abc align=0 errorno=0\n", 1,
         "cma_alloc_finish: bad count 'abc'"},
        {PFX "cma_alloc_finish: name=reserved pfn=0x1 page=0x2 count=1 align=0 errorno=EBUSY\n", 1,
         "cma_alloc_finish: bad errorno 'EBUSY'"},
        {PFX "cma_alloc_finish: name=reserved pfn=0x1 page=0x2 count=1 align=99 errorno=0\n", 1,
         "cma_alloc_finish: align 99 out of range (0..30)"},
        {PFX "cma_release: name=reserved page=0x2 count=1\n", 1, "cma_release: missing pfn="},
        {"# tracer: nop\n" PFX "sched_switch: a=b\nhello world\n", 3,
         "not an ftrace event line (expected TASK-PID [CPU] SECONDS: EVENT: FIELDS)"},
        {"cpus=2\nbash-1 [000] 1.000000: no colon\n", 2,
         "missing event name after the timestamp 1.000000:"},
        {"cpus=2\nbash-1 [000] 99999999999999.000000: mm_page_free: pfn=1\n", 2,
         "timestamp 99999999999999.000000: out of range"},
        {PFX "cma_alloc_finish: name=a pfn=1 count=1\n" PFX "cma_alloc_finish: name=b pfn=2 count=1\n"
             PFX "cma_alloc_finish: name=c pfn=3 count=1\n" PFX "cma_alloc_finish: name=d pfn=4 count=1\n"
             PFX "cma_alloc_finish: name=e pfn=5 count=1\n" PFX "cma_alloc_finish: name=f pfn=6 count=1\n"
             PFX "cma_alloc_finish: name=g pfn=7 count=1\n" PFX "cma_alloc_finish: name=h pfn=8 count=1\n"
             PFX "cma_alloc_finish: name=i pfn=9 count=1\n",
         9, "more than 8 CMA areas (area 'i')"},
    };
#undef PFX
    check_bad(cases, sizeof cases / sizeof cases[0], SIM_TRACE_AUTO);
}

/* ---- detection ------------------------------------------------------------------------------------ */

static void test_detection(void)
{
    struct {
        const char *text;
        size_t n, skipped;
    } cases[] = {
        {"# a native trace\n\n  10ms alloc id=1\n", 1, 0},
        {"machine memory=64M\n0 alloc id=1 order=3\n", 1, 0},
        {"cpus=2\nbash-1 [000] 1.000000: sched_switch: a=b\n", 0, 1},
        {"CPU:0 [LOST 3 EVENTS]\nbash-1 [000] 1.000000: foo: x\n", 0, 1},
        {"# tracer: nop\n#\n", 0, 0},
        {"", 0, 0},
        {"\n\n# only comments\n", 0, 0},
        {"  comm-123 [003] 1234.567890: mm_page_alloc: page=0x1 pfn=0x2 order=0 migratetype=0 "
         "gfp_flags=GFP_KERNEL\r\n",
         1, 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct sim_trace t = {0};
        char err[512];
        const char *p = write_tmp(cases[i].text, strlen(cases[i].text));
        int rc = sim_trace_load(p, SIM_TRACE_AUTO, &t, NULL, err, sizeof err);
        if (rc != 0)
            test_fail_(__FILE__, __LINE__, "case %zu: %s", i, err);
        EXPECT_UEQ(t.n, cases[i].n);
        EXPECT_UEQ(t.events_skipped, cases[i].skipped);
        sim_trace_free(&t);
        unlink(p);
    }
    /* forcing the wrong format gives a message, not garbage */
    struct sim_trace t = {0};
    char err[512], want[1024];
    const char *p = write_tmp("10ms alloc id=1\n", 16);
    EXPECT_EQ(sim_trace_load(p, SIM_TRACE_FTRACE, &t, NULL, err, sizeof err), -1);
    snprintf(want, sizeof want, "%s:1: not an ftrace event line (expected TASK-PID [CPU] SECONDS: "
                                "EVENT: FIELDS)", p);
    EXPECT_STREQ(err, want);
    sim_trace_free(&t);
    unlink(p);
}

/* ---- sim_trace_push / appending --------------------------------------------------------------- */

static void test_push_and_append(void)
{
    struct sim_trace t = {0};
    for (uint64_t i = 0; i < 1000; i++) {
        struct sim_event ev = {.t_ns = i, .op = SIM_OP_ALLOC, .id = i + 1};
        ASSERT_EQ(sim_trace_push(&t, &ev), 0);
    }
    EXPECT_UEQ(t.n, 1000);
    EXPECT_UEQ(t.max_id, 1000);
    EXPECT_UEQ(t.ev[999].id, 1000);
    /* loading into a non-empty trace continues its ids and its time */
    char err[512];
    const char *p = write_tmp("999 alloc id=1\n1000 free id=1\n", 30);
    ASSERT_EQ(sim_trace_load(p, SIM_TRACE_AUTO, &t, NULL, err, sizeof err), 0);
    EXPECT_UEQ(t.n, 1002);
    EXPECT_UEQ(t.ev[1000].id, 1001);
    EXPECT_UEQ(t.ev[1001].id, 1001);
    unlink(p);
    sim_trace_free(&t);
    EXPECT_TRUE(t.ev == NULL && t.n == 0 && t.cap == 0 && t.max_id == 0);
}

/* The one size syntax (traces, scenario files, --mem): every documented form, and what is refused. */
static void test_sizes(void)
{
    static const struct {
        const char *s;
        uint64_t v;
    } ok[] = {{"4096", 4096},           {"0", 0},
              {"64K", 64ull << 10},     {"256m", 256ull << 20},
              {"2G", 2ull << 30},       {"1GiB", 1ull << 30},
              {"1TB", 1ull << 40},      {"2P", 2ull << 50},
              {"15E", 15ull << 60},     {"0x80000000", 0x80000000ull},
              {"0XfF", 255},            {"010", 10},
              {"18446744073709551615", UINT64_MAX}};
    static const char *const bad[] = {"",    "M",        "4Q",   "4MiX",  "0x", "0x1G", "-1",
                                      "1 M", "16E",      "4Mi",  "1.5G",  "18446744073709551616",
                                      "0x10000000000000000"};
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        uint64_t v = 12345;
        EXPECT_TRUE(sim_parse_size(ok[i].s, &v));
        EXPECT_UEQ(v, ok[i].v);
    }
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        uint64_t v = 12345;
        if (sim_parse_size(bad[i], &v))
            test_fail_(__FILE__, __LINE__, "size \"%s\" accepted as %" PRIu64, bad[i], v);
    }
}

/* ---- fuzz ----------------------------------------------------------------------------------------- */

static void fuzz_one(const char *data, size_t len, enum sim_trace_format fmt)
{
    struct sim_trace t = {0};
    struct sim_machine m = {0};
    char err[256];
    const char *p = write_tmp(data, len);
    int rc = sim_trace_load(p, fmt, &t, &m, err, sizeof err);
    if (rc != 0 && rc != -1)
        test_fail_(__FILE__, __LINE__, "rc %d", rc);
    if (rc == -1 && strncmp(err, p, strlen(p)) != 0)
        test_fail_(__FILE__, __LINE__, "message without the file name: %s", err);
    if (rc == -1 && strlen(err) <= strlen(p) + 2)
        test_fail_(__FILE__, __LINE__, "empty message: %s", err);
    for (size_t i = 1; rc == 0 && i < t.n; i++)
        if (t.ev[i].t_ns < t.ev[i - 1].t_ns)
            test_fail_(__FILE__, __LINE__, "time goes backwards at event %zu", i);
    for (size_t i = 0; rc == 0 && i < t.n; i++)
        if (t.ev[i].id == 0 || t.ev[i].id > t.max_id ||
            (t.ev[i].op == SIM_OP_CMA_ALLOC && t.ev[i].area >= t.nr_area_names))
            test_fail_(__FILE__, __LINE__, "bad event %zu", i);
    sim_trace_free(&t);
    unlink(p);
}

static void test_fuzz(void)
{
    struct test_rng rng;
    test_rng_init(&rng, test_seed_value);
    unsigned iters = (unsigned)test_env_u64("CMA_TEST_OPS", 400);
    static const char *const files[] = {CMASIM_TRACES_DIR "/golden.trace",
                                        CMASIM_TRACES_DIR "/golden.ftrace"};
    char *src[2];
    size_t srclen[2];
    for (int i = 0; i < 2; i++) {
        src[i] = test_read_file(files[i], &srclen[i]);
        ASSERT_TRUE(src[i] != NULL);
    }
    static const char alphabet[] = "0123456789abcdefx=:.,# \t\n[]-_\"|()+msuGMK"
                                   "allocfreecma_releasepfnordermachine";
    char *buf = malloc(1 << 16);
    ASSERT_TRUE(buf != NULL);
    for (unsigned it = 0; it < iters; it++) {
        int which = (int)test_rng_below(&rng, 2);
        size_t len;
        switch (test_rng_below(&rng, 5)) {
        case 0: /* random bytes */
            len = (size_t)test_rng_below(&rng, 2048);
            for (size_t i = 0; i < len; i++)
                buf[i] = (char)test_rng_next(&rng);
            break;
        case 1: /* random text from a trace-ish alphabet */
            len = (size_t)test_rng_below(&rng, 4096);
            for (size_t i = 0; i < len; i++)
                buf[i] = alphabet[test_rng_below(&rng, sizeof alphabet - 1)];
            break;
        case 2: /* truncated golden file */
            len = (size_t)test_rng_below(&rng, srclen[which] + 1);
            memcpy(buf, src[which], len);
            break;
        case 3: { /* golden file with mutated bytes */
            len = srclen[which];
            memcpy(buf, src[which], len);
            unsigned nmut = 1 + (unsigned)test_rng_below(&rng, 8);
            for (unsigned k = 0; k < nmut; k++) {
                size_t at = (size_t)test_rng_below(&rng, len);
                buf[at] = test_rng_below(&rng, 2) ? alphabet[test_rng_below(&rng, sizeof alphabet - 1)]
                                                  : (char)test_rng_next(&rng);
            }
            break;
        }
        default: { /* golden file with a chunk deleted (lines cut in the middle) */
            len = srclen[which];
            memcpy(buf, src[which], len);
            size_t at = (size_t)test_rng_below(&rng, len), cut = (size_t)test_rng_below(&rng, 200);
            if (at + cut > len)
                cut = len - at;
            memmove(buf + at, buf + at + cut, len - at - cut);
            len -= cut;
            break;
        }
        }
        enum sim_trace_format fmt = (enum sim_trace_format)test_rng_below(&rng, 3);
        fuzz_one(buf, len, fmt);
        if (test_failures)
            break;
    }
    free(buf);
    free(src[0]);
    free(src[1]);
}

int main(int argc, char **argv)
{
    return test_main(argc, argv, TEST(test_native_golden), TEST(test_ftrace_golden),
                     TEST(test_ftrace_kernel_formats), TEST(test_native_errors),
                     TEST(test_ftrace_errors), TEST(test_detection), TEST(test_push_and_append),
                     TEST(test_sizes), TEST(test_fuzz));
}
