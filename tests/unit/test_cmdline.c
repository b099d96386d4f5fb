/* SPDX-License-Identifier: MIT */
/*
 * tests/unit/test_cmdline.c - cma= command-line parsing (src/cmdline.c): a table of valid command
 * lines declared on a fresh 8 GiB machine (placement checked per area, memblock left with exactly the
 * areas reserved), a table of syntax errors with their offsets (nothing may be declared), declaration
 * errors (offset at the failing entry, earlier entries kept), the log message, NULL arguments and
 * the boot phase being over.
 */
#include "test.h"
#include "internal/internal.h"

#define KiB ((uint64_t)1024)
#define MiB (1024ull * KiB)
#define GiB (1024ull * MiB)
#define PAGE ((uint64_t)4096)
#define CMA_ALIGN (4 * MiB) /* max(pageblock 2 MiB, max-order block 4 MiB) with the defaults */
#define MACHINE (8 * GiB)

/* ---- a machine whose error log we can read ------------------------------------------------------ */

static char last_error[512];
static int nr_errors;

static void capture_log(void *ctx, enum cma_log_level level, const char *msg)
{
    (void)ctx;
    if (level != CMA_LOG_ERROR)
        return;
    nr_errors++;
    snprintf(last_error, sizeof last_error, "%s", msg);
}

static const struct cma_host log_host = {.log = capture_log};

/* Fresh machine with [0, bytes) of memory, not online. */
static struct cma_mm *machine(uint64_t bytes)
{
    struct cma_mm_config cfg;
    struct cma_mm *mm = NULL;
    int r;
    cma_mm_config_default(&cfg);
    cfg.host = &log_host;
    if ((r = cma_mm_create(&cfg, &mm))) {
        test_fail_(__FILE__, __LINE__, "cma_mm_create: %s", cma_err_name(r));
        return NULL;
    }
    if ((r = cma_memblock_add(mm, 0, bytes))) {
        test_fail_(__FILE__, __LINE__, "cma_memblock_add: %s", cma_err_name(r));
        (void)cma_mm_destroy(mm);
        return NULL;
    }
    nr_errors = 0;
    last_error[0] = '\0';
    return mm;
}

static void finish(struct cma_mm *mm)
{
    int r = cma_mm_online(mm);
    if (r)
        test_fail_(__FILE__, __LINE__, "cma_mm_online: %s", cma_err_name(r));
    test_mm_finish(mm);
}

static unsigned nr_areas(struct cma_mm *mm)
{
    unsigned n = 0;
    while (cma_area_at(mm, n))
        n++;
    return n;
}

static int add_bytes(void *arg, cma_phys_t base, uint64_t size)
{
    (void)base;
    *(uint64_t *)arg += size;
    return 0;
}

static uint64_t reserved_bytes(struct cma_mm *mm)
{
    uint64_t sum = 0;
    (void)cma_memblock_foreach(mm, true, add_bytes, &sum);
    return sum;
}

/* cmdline for -v output, control characters shown as '~'. */
static const char *show(const char *cmdline)
{
    static char buf[128];
    size_t i = 0;
    for (; cmdline[i] && i < sizeof buf - 1; i++)
        buf[i] = (unsigned char)cmdline[i] < 0x20 ? '~' : cmdline[i];
    buf[i] = '\0';
    return buf;
}

static uint64_t round_align(uint64_t size) { return (size + CMA_ALIGN - 1) / CMA_ALIGN * CMA_ALIGN; }

/* ---- expected areas ----------------------------------------------------------------------------- */

enum where { ANY, FIXED, INSIDE };

struct want {
    const char *name; /* NULL ends a list */
    uint64_t size;    /* as written; the area holds it rounded up to CMA_ALIGN */
    enum where where;
    uint64_t lo, hi;  /* FIXED: base lo; INSIDE: [lo, hi) */
};

/* Checks one expected area; returns its bytes (0 when missing). */
static uint64_t check_area(struct cma_mm *mm, const char *cmdline, const struct want *w)
{
    struct cma_area *a = cma_area_lookup(mm, w->name);
    struct cma_area_stats st;
    uint64_t bytes = round_align(w->size), base;
    int r;

    if (!a) {
        test_fail_(__FILE__, __LINE__, "[%s] no area '%s'", cmdline, w->name);
        return 0;
    }
    if ((r = cma_area_get_stats(a, &st))) {
        test_fail_(__FILE__, __LINE__, "[%s] cma_area_get_stats('%s'): %s", cmdline, w->name,
                   cma_err_name(r));
        return 0;
    }
    if (strcmp(cma_area_name(a), w->name) != 0)
        test_fail_(__FILE__, __LINE__, "[%s] area name '%s', want '%s'", cmdline, cma_area_name(a), w->name);
    if (st.count != bytes / PAGE)
        test_fail_(__FILE__, __LINE__, "[%s] '%s': %" PRIu64 " pages, want %" PRIu64, cmdline, w->name,
                   st.count, bytes / PAGE);
    base = st.base_pfn * PAGE;
    if (base % CMA_ALIGN)
        test_fail_(__FILE__, __LINE__, "[%s] '%s' at %#" PRIx64 ": not aligned", cmdline, w->name, base);
    if (w->where == FIXED && base != w->lo)
        test_fail_(__FILE__, __LINE__, "[%s] '%s' at %#" PRIx64 ", want %#" PRIx64, cmdline, w->name,
                   base, w->lo);
    if (w->where == INSIDE && (base < w->lo || base + bytes > w->hi))
        test_fail_(__FILE__, __LINE__, "[%s] '%s' at [%#" PRIx64 ", %#" PRIx64 "), want inside [%#" PRIx64
                   ", %#" PRIx64 ")", cmdline, w->name, base, base + bytes, w->lo, w->hi);
    if (base + bytes > MACHINE)
        test_fail_(__FILE__, __LINE__, "[%s] '%s' ends at %#" PRIx64 ", past memory", cmdline, w->name,
                   base + bytes);
    return bytes;
}

/* Exactly the areas in w[] exist (in declaration order) and memblock reserves exactly their bytes. */
static void check_areas(struct cma_mm *mm, const char *cmdline, const struct want *w)
{
    uint64_t sum = 0;
    unsigned n = 0;
    for (; w[n].name; n++) {
        struct cma_area *a = cma_area_at(mm, n);
        sum += check_area(mm, cmdline, &w[n]);
        if (a && strcmp(cma_area_name(a), w[n].name) != 0)
            test_fail_(__FILE__, __LINE__, "[%s] area %u is '%s', want '%s'", cmdline, n,
                       cma_area_name(a), w[n].name);
    }
    if (nr_areas(mm) != n)
        test_fail_(__FILE__, __LINE__, "[%s] %u areas, want %u", cmdline, nr_areas(mm), n);
    if (reserved_bytes(mm) != sum)
        test_fail_(__FILE__, __LINE__, "[%s] memblock reserves %#" PRIx64 " bytes, the areas %#" PRIx64,
                   cmdline, reserved_bytes(mm), sum);
}

/* ---- valid command lines ------------------------------------------------------------------------ */

#define W(...) {__VA_ARGS__, {NULL, 0, ANY, 0, 0}}

static const struct valid_case {
    const char *cmdline;
    struct want want[8];
} valid[] = {
    /* Linux's form; anywhere prefers memory above 4 GiB */
    {"cma=64M", W({"reserved", 64 * MiB, INSIDE, 4 * GiB, 8 * GiB})},
    {"cma=64m@0x10000000", W({"reserved", 64 * MiB, FIXED, 256 * MiB, 0})},
    {"cma=128M@1G-3G", W({"reserved", 128 * MiB, INSIDE, 1 * GiB, 3 * GiB})},
    {"cma=64M@1G-0x44000000", W({"reserved", 64 * MiB, FIXED, 1 * GiB, 0})}, /* end == start+size */
    {"cma=w:64M@3G-6G", W({"w", 64 * MiB, FIXED, 4 * GiB, 0})}, /* window over 4 GiB: bottom-up there */
    {"cma=w:64M@5G-8G", W({"w", 64 * MiB, FIXED, 5 * GiB, 0})},
    {"cma=w:64M@1G-0x103000000", W({"w", 64 * MiB, INSIDE, 1 * GiB, 0x103000000})}, /* too little above 4 GiB */
    {"cma=0", {{NULL, 0, ANY, 0, 0}}},
    {"cma=0K", {{NULL, 0, ANY, 0, 0}}},
    {"cma=0@1G-2G", {{NULL, 0, ANY, 0, 0}}},
    {"cma=0T@0P-1E", {{NULL, 0, ANY, 0, 0}}},
    {"", {{NULL, 0, ANY, 0, 0}}},
    {" \t\n ", {{NULL, 0, ANY, 0, 0}}},
    {"CMA=64M cmax=1 xcma=4M cma quiet", {{NULL, 0, ANY, 0, 0}}},
    /* whole kernel command lines */
    {"console=ttyS0 cma=32M quiet", W({"reserved", 32 * MiB, INSIDE, 4 * GiB, 8 * GiB})},
    {"root=/dev/vda1 dyndbg=\"file a.c cma=1Q +p\" cma=16M", W({"reserved", 16 * MiB, ANY, 0, 0})},
    {"cma=16M -- cma=1Q init-arg", W({"reserved", 16 * MiB, ANY, 0, 0})},
    {"cma=\"16M@1G\"", W({"reserved", 16 * MiB, FIXED, 1 * GiB, 0})},
    /* named lists */
    {"cma=camera:64M,video:128M@1G",
     W({"camera", 64 * MiB, ANY, 0, 0}, {"video", 128 * MiB, FIXED, 1 * GiB, 0})},
    {"cma=a:4M cma=b:8M@2G-4G", W({"a", 4 * MiB, ANY, 0, 0}, {"b", 8 * MiB, INSIDE, 2 * GiB, 4 * GiB})},
    {"  cma=a:4M\tcma=b:8M\n", W({"a", 4 * MiB, ANY, 0, 0}, {"b", 8 * MiB, ANY, 0, 0})},
    {"cma=n.a-m_E9:4M", W({"n.a-m_E9", 4 * MiB, ANY, 0, 0})},
    {"cma=64M cma=cam:8M", W({"reserved", 64 * MiB, ANY, 0, 0}, {"cam", 8 * MiB, ANY, 0, 0})},
    /* suffixes in both cases, hex and octal */
    {"cma=k:4096k,K:8192K,m:4m@16m,M:4M@0x2000000,g:1g@2g,G:1G@3G",
     W({"k", 4 * MiB, ANY, 0, 0}, {"K", 8 * MiB, ANY, 0, 0}, {"m", 4 * MiB, FIXED, 16 * MiB, 0},
       {"M", 4 * MiB, FIXED, 32 * MiB, 0}, {"g", 1 * GiB, FIXED, 2 * GiB, 0},
       {"G", 1 * GiB, FIXED, 3 * GiB, 0})},
    {"cma=h:0x10m@0x1G,o:010M@0100M,X:0X800000@0XC0000000",
     W({"h", 16 * MiB, FIXED, 1 * GiB, 0}, {"o", 8 * MiB, FIXED, 64 * MiB, 0},
       {"X", 8 * MiB, FIXED, 3 * GiB, 0})},
    /* placement at 0, fixed and in a window */
    {"cma=z:4M@0", W({"z", 4 * MiB, FIXED, 0, 0})},
    {"cma=z:4M@0-4M", W({"z", 4 * MiB, FIXED, 0, 0})},
    {"cma=z:4M@0-1G", W({"z", 4 * MiB, INSIDE, 0, 1 * GiB})},
    {"cma=z:8M@0-0x1800000", W({"z", 8 * MiB, INSIDE, 0, 24 * MiB})},
    /* sizes are rounded up to the CMA alignment */
    {"cma=r:1M", W({"r", 1 * MiB, ANY, 0, 0})},
    {"cma=r:5M@1G-2G", W({"r", 5 * MiB, INSIDE, 1 * GiB, 2 * GiB})},
};

static void test_valid_table(void)
{
    for (size_t i = 0; i < sizeof valid / sizeof valid[0]; i++) {
        const struct valid_case *c = &valid[i];
        size_t pos = 12345;
        int r;
        struct cma_mm *mm = machine(MACHINE);
        if (!mm)
            return;
        r = cma_parse_cmdline_err(mm, c->cmdline, &pos);
        if (test_verbose)
            printf("    %-60s -> %s\n", show(c->cmdline), cma_err_name(r));
        if (r)
            test_fail_(__FILE__, __LINE__, "[%s] returned %s at offset %zu (%s)", c->cmdline,
                       cma_err_name(r), pos, last_error);
        else if (pos != 12345)
            test_fail_(__FILE__, __LINE__, "[%s] errpos written on success", c->cmdline);
        if (nr_errors)
            test_fail_(__FILE__, __LINE__, "[%s] logged an error: %s", c->cmdline, last_error);
        check_areas(mm, c->cmdline, c->want);
        finish(mm);
    }
}

static void test_name_lengths(void)
{
    char line[128], name[64];
    struct cma_mm *mm;
    size_t pos = 0;

    memset(name, 'n', 63);
    name[63] = '\0';
    snprintf(line, sizeof line, "cma=%s:4M", name); /* 63 characters: the longest name */
    ASSERT_TRUE((mm = machine(MACHINE)) != NULL);
    EXPECT_OK(cma_parse_cmdline_err(mm, line, &pos));
    EXPECT_TRUE(cma_area_lookup(mm, name) != NULL);
    finish(mm);

    snprintf(line, sizeof line, "cma=%sN:4M", name); /* 64: the 64th character is wrong */
    ASSERT_TRUE((mm = machine(MACHINE)) != NULL);
    EXPECT_ERR(cma_parse_cmdline_err(mm, line, &pos), -CMA_EINVAL);
    EXPECT_UEQ(pos, 4 + 63);
    EXPECT_EQ(nr_areas(mm), 0);
    finish(mm);

    snprintf(line, sizeof line, "cma=a:4M,%sxy:4M", name); /* in a later entry */
    ASSERT_TRUE((mm = machine(MACHINE)) != NULL);
    EXPECT_ERR(cma_parse_cmdline_err(mm, line, &pos), -CMA_EINVAL);
    EXPECT_UEQ(pos, 9 + 63);
    EXPECT_EQ(nr_areas(mm), 0);
    finish(mm);
}

/* ---- syntax errors: -EINVAL at an offset, nothing declared --------------------------------------- */

static const struct bad_case {
    const char *cmdline;
    size_t pos;
} bad[] = {
    {"cma=64Q", 6},                   /* unknown suffix */
    {"cma=64M@", 8},                  /* missing start, just past '@' */
    {"cma=cam:", 8},                  /* missing size, just past ':' */
    {"cma=64M@1G-512M", 11},          /* end before start: the end number */
    {"cma=64M@1G-1G", 11},            /* empty range */
    {"cma=64M@1G-0x41000000", 11},    /* range smaller than the size */
    {"cma=99999999999999999999", 4},  /* overflow: the first digit */
    {"cma=16E", 4},                   /* 2^64 */
    {"cma=0x10000000000000000", 4},
    {"cma=a:16385P", 6},
    {"cma=1K@0xFFFFFFFFFFFFFFFF", 7}, /* start + size overflows */
    {"cma=8E@8E", 7},
    {"cma=", 4},                      /* missing size */
    {"cma=@1G", 4},
    {"cma=64M@-1G", 8},               /* missing start */
    {"cma=64M@0x10-", 13},            /* missing end */
    {"cma=cam:64M@1G-", 15},
    {"cma=64M,", 7},                  /* trailing comma: no lists without names */
    {"quiet cma=64M,cam:32M", 13},
    {"cma=64M@1G-2G,x:1M", 13},
    {"cma=a:1M,", 9},                 /* trailing comma: missing entry */
    {"cma=a:1M,,b:1M", 9},
    {"cma=a:1M,2M", 9},               /* unnamed entry in a named list */
    {"cma=a:1M,2M@1G", 9},
    {"cma=a:1M,b:1M,c", 14},
    {"cma=:64M", 4},                  /* empty name */
    {"cma=a!b:1M", 5},                /* bad name character */
    {"cma=a:0", 6},                   /* size 0 in a named entry */
    {"cma=a:0x0M", 6},
    {"cma=a:1M,b:2Q", 12},            /* error in a later entry: declares neither */
    {"cma=64M@1G@2G", 10},            /* stray characters */
    {"cma=64M-1G", 7},
    {"cma=64MB", 7},
    {"cma=64M@1GB", 10},
    {"cma=08M", 5},                   /* not octal */
    {"cma=0x", 6},                    /* 0x without digits */
    {"cma=0xg", 6},
    {"cma=cam", 4},                   /* no digits at all */
    {"cma=\"64Q\"", 7},               /* quoted */
    {"cma=a:4M cma=1Q", 14},          /* error in a later word: declares nothing */
    {"cma=64M x cma=z", 14},
    {"cma=64M cma=a:1M,b:", 19},
    {"console=ttyS0 cma=32M@ quiet", 22},
};

static void test_syntax_errors(void)
{
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        const struct bad_case *c = &bad[i];
        size_t pos = 12345;
        struct cma_mm *mm = machine(MACHINE);
        if (!mm)
            return;
        int r = cma_parse_cmdline_err(mm, c->cmdline, &pos);
        if (test_verbose)
            printf("    %-40s -> %s at %zu\n", show(c->cmdline), cma_err_name(r), pos);
        if (r != -CMA_EINVAL)
            test_fail_(__FILE__, __LINE__, "[%s] returned %s, want EINVAL", c->cmdline, cma_err_name(r));
        else if (pos != c->pos)
            test_fail_(__FILE__, __LINE__, "[%s] error at offset %zu, want %zu (%s)", c->cmdline, pos,
                       c->pos, last_error);
        if (nr_errors != 1)
            test_fail_(__FILE__, __LINE__, "[%s] %d errors logged, want 1", c->cmdline, nr_errors);
        if (nr_areas(mm) != 0 || reserved_bytes(mm) != 0)
            test_fail_(__FILE__, __LINE__, "[%s] a syntax error declared %u areas", c->cmdline, nr_areas(mm));
        /* the plain entry point gives the same answer */
        if (cma_parse_cmdline(mm, c->cmdline) != r)
            test_fail_(__FILE__, __LINE__, "[%s] cma_parse_cmdline disagrees", c->cmdline);
        finish(mm);
    }
}

static void test_syntax_error_declares_nothing(void)
{
    struct cma_mm *mm = machine(MACHINE);
    size_t pos = 0;
    ASSERT_TRUE(mm != NULL);
    EXPECT_ERR(cma_parse_cmdline_err(mm, "cma=a:1M,b:2Q", &pos), -CMA_EINVAL);
    EXPECT_UEQ(pos, 12);
    EXPECT_TRUE(cma_area_lookup(mm, "a") == NULL);
    EXPECT_TRUE(cma_area_lookup(mm, "b") == NULL);
    EXPECT_UEQ(reserved_bytes(mm), 0);
    /* the machine is untouched: the corrected line still declares both */
    EXPECT_OK(cma_parse_cmdline_err(mm, "cma=a:1M,b:2M", &pos));
    EXPECT_TRUE(cma_area_lookup(mm, "a") != NULL);
    EXPECT_TRUE(cma_area_lookup(mm, "b") != NULL);
    finish(mm);
}

/* ---- declaration errors: stop at the failing entry, earlier entries stay ------------------------- */

static const struct decl_case {
    const char *cmdline;
    int err;   /* 0: -EINVAL or -ENOMEM (too big for the machine) */
    size_t pos;
    struct want keep[3];
} decl[] = {
    {"cma=2T", 0, 4, {{NULL, 0, ANY, 0, 0}}},                 /* T suffix, bigger than the machine */
    {"cma=a:4M cma=b:4T@1G", 0, 13, W({"a", 4 * MiB, ANY, 0, 0})},
    {"cma=a:4M,b:4M@9G", 0, 9, W({"a", 4 * MiB, ANY, 0, 0})},  /* fixed outside memory */
    {"cma=a:4M@9G-10G", -CMA_ENOMEM, 4, {{NULL, 0, ANY, 0, 0}}}, /* window outside memory */
    {"cma=a:1M@0x100000-0x300000", -CMA_ENOMEM, 4, {{NULL, 0, ANY, 0, 0}}}, /* no aligned 4 MiB */
    {"cma=t:1048576k@0x0000000000000000000000000000000000000001t-2T", -CMA_ENOMEM, 4, {{NULL, 0, ANY, 0, 0}}},
    {"cma=a:4M,a:8M", -CMA_EEXIST, 9, W({"a", 4 * MiB, ANY, 0, 0})}, /* duplicate name */
    {"cma=8M cma=16M", -CMA_EEXIST, 11, W({"reserved", 8 * MiB, ANY, 0, 0})},
    {"cma=a:64M@1G,b:64M@1G", -CMA_EBUSY, 13, W({"a", 64 * MiB, FIXED, 1 * GiB, 0})}, /* overlap */
    {"cma=a:4M@0x100000", -CMA_EINVAL, 4, {{NULL, 0, ANY, 0, 0}}}, /* base not aligned */
};

static void test_declaration_errors(void)
{
    for (size_t i = 0; i < sizeof decl / sizeof decl[0]; i++) {
        const struct decl_case *c = &decl[i];
        size_t pos = 12345;
        struct cma_mm *mm = machine(MACHINE);
        if (!mm)
            return;
        int r = cma_parse_cmdline_err(mm, c->cmdline, &pos);
        if (test_verbose)
            printf("    %-40s -> %s at %zu\n", show(c->cmdline), cma_err_name(r), pos);
        bool ok = c->err ? r == c->err : (r == -CMA_EINVAL || r == -CMA_ENOMEM);
        if (!ok)
            test_fail_(__FILE__, __LINE__, "[%s] returned %s, want %s", c->cmdline, cma_err_name(r),
                       c->err ? cma_err_name(c->err) : "EINVAL or ENOMEM");
        else if (pos != c->pos)
            test_fail_(__FILE__, __LINE__, "[%s] error at offset %zu, want %zu", c->cmdline, pos, c->pos);
        if (nr_errors < 1 || !strstr(last_error, "cannot declare"))
            test_fail_(__FILE__, __LINE__, "[%s] no declaration error logged (%s)", c->cmdline, last_error);
        check_areas(mm, c->cmdline, c->keep);
        finish(mm);
    }
}

static void test_too_many_areas(void)
{
    char line[512];
    size_t len = 0, pos = 0, want_pos = 0;
    struct cma_mm *mm = machine(MACHINE);
    ASSERT_TRUE(mm != NULL);
    len += (size_t)snprintf(line + len, sizeof line - len, "cma=");
    for (unsigned i = 0; i <= CMA_MAX_AREAS; i++) {
        if (i == CMA_MAX_AREAS)
            want_pos = len;
        len += (size_t)snprintf(line + len, sizeof line - len, "%sa%u:4M", i ? "," : "", i);
    }
    ASSERT_TRUE(len < sizeof line);
    want_pos++; /* past the ',' */
    EXPECT_ERR(cma_parse_cmdline_err(mm, line, &pos), -CMA_ENOSPC);
    EXPECT_UEQ(pos, want_pos);
    EXPECT_EQ(nr_areas(mm), CMA_MAX_AREAS);
    finish(mm);
}

/* ---- the log, NULLs, after online --------------------------------------------------------------- */

static void test_log_message(void)
{
    struct cma_mm *mm = machine(MACHINE);
    size_t pos = 0;
    ASSERT_TRUE(mm != NULL);
    EXPECT_ERR(cma_parse_cmdline_err(mm, "quiet cma=64Q", &pos), -CMA_EINVAL);
    EXPECT_UEQ(pos, 12);
    EXPECT_EQ(nr_errors, 1);
    if (test_verbose)
        printf("%s\n", last_error);
    EXPECT_STREQ(last_error, "cma=: unknown suffix 'Q' on the size at offset 12\n  cma=64Q\n        ^");

    /* a long word is shown as a window around the error, caret still under it */
    char line[200];
    memset(line, 0, sizeof line);
    strcpy(line, "cma=");
    for (int i = 0; i < 20; i++)
        strcat(line, i ? ",aa:4M" : "aa:4M");
    strcat(line, ",b:4Q,cc:4M,cc:4M,cc:4M,cc:4M,cc:4M,cc:4M,cc:4M,cc:4M");
    EXPECT_ERR(cma_parse_cmdline_err(mm, line, &pos), -CMA_EINVAL);
    /* three lines: reason, word, caret; the caret is the last character of the log */
    size_t len = strlen(last_error);
    size_t l2 = strcspn(last_error, "\n") + 1;
    size_t l3 = l2 < len ? l2 + strcspn(last_error + l2, "\n") + 1 : len;
    ASSERT_TRUE(l3 < len && last_error[len - 1] == '^');
    size_t col = len - 1 - l3; /* caret column */
    ASSERT_TRUE(l2 + col < l3 - 1);
    EXPECT_EQ(last_error[l2 + col], 'Q');
    if (test_verbose)
        printf("%s\n", last_error);

    /* a declaration error names the area and the error */
    EXPECT_ERR(cma_parse_cmdline_err(mm, "cma=x:4M@0x100000", &pos), -CMA_EINVAL);
    EXPECT_TRUE(strstr(last_error, "cannot declare 'x'") != NULL);
    EXPECT_TRUE(strstr(last_error, "EINVAL at offset 4\n  cma=x:4M@0x100000\n      ^") != NULL);
    if (test_verbose)
        printf("%s\n", last_error);
    finish(mm);
}

static void test_null_args(void)
{
    struct cma_mm *mm = machine(MACHINE);
    size_t pos = 77;
    ASSERT_TRUE(mm != NULL);
    EXPECT_ERR(cma_parse_cmdline(NULL, "cma=64M"), -CMA_EINVAL);
    EXPECT_ERR(cma_parse_cmdline(mm, NULL), -CMA_EINVAL);
    EXPECT_ERR(cma_parse_cmdline_err(NULL, "cma=64M", &pos), -CMA_EINVAL);
    EXPECT_ERR(cma_parse_cmdline_err(mm, NULL, NULL), -CMA_EINVAL);
    EXPECT_ERR(cma_parse_cmdline_err(mm, "cma=1Q", NULL), -CMA_EINVAL); /* NULL errposp is fine */
    EXPECT_OK(cma_parse_cmdline(mm, "cma=16M"));
    EXPECT_TRUE(cma_area_lookup(mm, "reserved") != NULL);
    finish(mm);
}

static void test_after_online(void)
{
    struct cma_mm *mm = machine(MACHINE);
    size_t pos = 0;
    ASSERT_TRUE(mm != NULL);
    ASSERT_OK(cma_mm_online(mm));
    EXPECT_OK(cma_parse_cmdline(mm, "console=ttyS0 quiet"));
    EXPECT_OK(cma_parse_cmdline(mm, "cma=0"));
    EXPECT_ERR(cma_parse_cmdline_err(mm, "quiet cma=a:4M", &pos), -CMA_EPERM);
    EXPECT_UEQ(pos, 10);
    EXPECT_ERR(cma_parse_cmdline_err(mm, "cma=1Q", &pos), -CMA_EINVAL); /* syntax is checked first */
    EXPECT_UEQ(pos, 5);
    EXPECT_EQ(nr_areas(mm), 0);
    test_mm_finish(mm);
}

int main(int argc, char **argv)
{
    return test_main(argc, argv, TEST(test_valid_table), TEST(test_name_lengths), TEST(test_syntax_errors),
                     TEST(test_syntax_error_declares_nothing), TEST(test_declaration_errors),
                     TEST(test_too_many_areas), TEST(test_log_message), TEST(test_null_args),
                     TEST(test_after_online));
}
