/* SPDX-License-Identifier: MIT */
/*
 * test_dump_format.c - the text formats of cma_mm_dump (buddyinfo, pagetypeinfo, vmstat, pageblock
 * map), their agreement with cma_mm_get_stats, and the snprintf contract.
 */
#include "test.h"

#include "internal/internal.h"

#define MiB (1024ull * 1024ull)
#define KiB 1024ull

static const char *const type_names[CMA_MIGRATE_TYPES] = {"Unmovable", "Movable", "Reclaimable",
                                                          "HighAtomic", "CMA", "Isolate"};
static const char type_letters[CMA_MIGRATE_TYPES + 1] = "UMRHCI";
static const char legend[] = "legend: U unmovable M movable R reclaimable H highatomic C cma I "
                             "isolate . hole; lower case = all free";

/* ---- helpers ------------------------------------------------------------------------------------ */

/* Returns a malloc'ed dump (sized with a len-0 call), or NULL after recording a failure. */
static char *dump(struct cma_mm *mm, enum cma_dump what)
{
    int n = cma_mm_dump(mm, what, NULL, 0);
    if (n < 0) {
        test_fail_(__FILE__, __LINE__, "cma_mm_dump(%d) sizing: %s", (int)what, cma_err_name(n));
        return NULL;
    }
    char *buf = malloc((size_t)n + 1);
    if (!buf)
        return NULL;
    memset(buf, 'X', (size_t)n + 1);
    int m = cma_mm_dump(mm, what, buf, (size_t)n + 1);
    EXPECT_EQ(m, n);
    EXPECT_UEQ(strlen(buf), (size_t)n);
    return buf;
}

/* Splits text into lines in place (keeps empty lines); the text must end with '\n'. */
static size_t split_lines(char *text, char **lines, size_t max)
{
    size_t n = 0, len = strlen(text);
    EXPECT_TRUE(len > 0 && text[len - 1] == '\n');
    char *p = text;
    while (*p && n < max) {
        char *nl = strchr(p, '\n');
        if (!nl)
            break;
        *nl = '\0';
        lines[n++] = p;
        p = nl + 1;
    }
    return n;
}

/* Parses `count` fields of exactly `width` characters ("%<width-1>llu "). -1 on a format error. */
static int parse_fields(const char *s, unsigned count, unsigned width, uint64_t *out)
{
    for (unsigned i = 0; i < count; i++) {
        const char *f = s + (size_t)i * width;
        char tmp[32];
        if (strlen(f) < width || f[width - 1] != ' ')
            return -1;
        memcpy(tmp, f, width - 1);
        tmp[width - 1] = '\0';
        char *end;
        const char *q = tmp;
        while (*q == ' ')
            q++;
        if (*q < '0' || *q > '9')
            return -1;
        out[i] = strtoull(q, &end, 10);
        if (*end != '\0')
            return -1;
    }
    return s[(size_t)count * width] == '\0' ? 0 : -1;
}

/* Parses the buddyinfo line; returns 0 and fills per-order counts. */
static int parse_buddyinfo(struct cma_mm *mm, uint64_t *nr)
{
    unsigned mo = cma_mm_max_order(mm);
    char *text = dump(mm, CMA_DUMP_BUDDYINFO);
    if (!text)
        return -1;
    int r = -1;
    const char *prefix = "Node 0, zone   Normal ";
    size_t len = strlen(text);
    EXPECT_UEQ(len, strlen(prefix) + 7u * (mo + 1) + 1);
    if (strncmp(text, prefix, strlen(prefix)) == 0 && len > 0 && text[len - 1] == '\n') {
        text[len - 1] = '\0';
        r = parse_fields(text + strlen(prefix), mo + 1, 7, nr);
    }
    EXPECT_EQ(r, 0);
    free(text);
    return r;
}

struct pti {
    uint64_t free[CMA_MIGRATE_TYPES][CMA_MAX_ORDER_LIMIT + 1]; /* blocks */
    uint64_t blocks[CMA_MIGRATE_TYPES];
};

/* Parses and checks the layout of pagetypeinfo line by line. */
static int parse_pagetypeinfo(struct cma_mm *mm, struct pti *out)
{
    unsigned mo = cma_mm_max_order(mm), pbo = cma_mm_pageblock_order(mm);
    char *text = dump(mm, CMA_DUMP_PAGETYPEINFO);
    char *lines[64], exp[512];
    int before = test_failures;
    if (!text)
        return -1;
    size_t n = split_lines(text, lines, 64);
    EXPECT_UEQ(n, 13u);
    if (n != 13) {
        free(text);
        return -1;
    }
    snprintf(exp, sizeof exp, "Page block order: %u", pbo);
    EXPECT_STREQ(lines[0], exp);
    snprintf(exp, sizeof exp, "Pages per block:  %llu", 1ull << pbo);
    EXPECT_STREQ(lines[1], exp);
    EXPECT_STREQ(lines[2], "");

    /* header: label padded to 43 + one space, then "%6d " per order */
    const char *label = "Free pages count per migrate type at order";
    EXPECT_UEQ(strlen(label), 42u);
    EXPECT_UEQ(strlen(lines[3]), 44u + 7u * (mo + 1));
    EXPECT_TRUE(strncmp(lines[3], label, 42) == 0);
    EXPECT_TRUE(strncmp(lines[3] + 42, "  ", 2) == 0);
    uint64_t ord[CMA_MAX_ORDER_LIMIT + 1];
    EXPECT_EQ(parse_fields(lines[3] + 44, mo + 1, 7, ord), 0);
    for (unsigned o = 0; o <= mo; o++)
        EXPECT_UEQ(ord[o], o);

    for (unsigned t = 0; t < CMA_MIGRATE_TYPES; t++) {
        const char *row = lines[4 + t];
        snprintf(exp, sizeof exp, "Node    0, zone   Normal, type %12s ", type_names[t]);
        EXPECT_UEQ(strlen(exp), 44u);
        EXPECT_UEQ(strlen(row), 44u + 7u * (mo + 1));
        EXPECT_TRUE(strncmp(row, exp, 44) == 0);
        EXPECT_EQ(parse_fields(row + 44, mo + 1, 7, out->free[t]), 0);
    }
    EXPECT_STREQ(lines[10], "");

    /* block counts: "Number of blocks type " padded to 23, then "%12s " per type */
    char *p = exp;
    p += sprintf(p, "%-23s", "Number of blocks type ");
    for (unsigned t = 0; t < CMA_MIGRATE_TYPES; t++)
        p += sprintf(p, "%12s ", type_names[t]);
    EXPECT_STREQ(lines[11], exp);
    EXPECT_UEQ(strlen(lines[11]), 23u + 13u * CMA_MIGRATE_TYPES);
    const char *bprefix = "Node 0, zone   Normal ";
    EXPECT_UEQ(strlen(lines[12]), strlen(bprefix) + 13u * CMA_MIGRATE_TYPES);
    EXPECT_TRUE(strncmp(lines[12], bprefix, strlen(bprefix)) == 0);
    EXPECT_EQ(parse_fields(lines[12] + strlen(bprefix), CMA_MIGRATE_TYPES, 13, out->blocks), 0);
    free(text);
    return test_failures == before ? 0 : -1;
}

struct map_ent {
    uint64_t pfn;   /* first pfn of the pageblock */
    uint64_t first; /* first pfn of the pageblock inside its span */
    unsigned span;
    char c;
};

/* Parses the pageblock map, checking its layout; returns the number of pageblock characters. */
static size_t parse_map(struct cma_mm *mm, struct map_ent *out, size_t max, unsigned *nspans)
{
    unsigned pbo = cma_mm_pageblock_order(mm);
    char *text = dump(mm, CMA_DUMP_PAGEBLOCK_MAP);
    size_t cnt = 0;
    if (!text)
        return 0;
    size_t nl = 0;
    for (const char *q = text; *q; q++)
        nl += *q == '\n';
    char **lines = calloc(nl + 1, sizeof *lines);
    size_t n = split_lines(text, lines, nl + 1);
    int span = -1;
    uint64_t next_pb = 0, span_first = 0, span_last = 0;
    bool short_line = false;
    EXPECT_TRUE(n >= 2);
    if (n >= 1)
        EXPECT_STREQ(lines[n - 1], legend);
    for (size_t i = 0; i + 1 < n; i++) {
        const char *l = lines[i];
        if (strncmp(l, "span ", 5) == 0) {
            unsigned idx;
            unsigned long long a, b, np;
            int used = -1;
            EXPECT_EQ(sscanf(l, "span %u: pfn 0x%llx-0x%llx (%llu pages)%n", &idx, &a, &b, &np, &used), 4);
            EXPECT_EQ(used, (int)strlen(l));
            EXPECT_EQ(idx, span + 1);
            EXPECT_UEQ(b - a + 1, np);
            if (span >= 0) /* the previous span was fully listed */
                EXPECT_UEQ(next_pb, (span_last >> pbo) + 1);
            span = (int)idx;
            span_first = a;
            span_last = b;
            next_pb = a >> pbo;
            short_line = false;
            continue;
        }
        /* "%10llx: " then 1..64 characters */
        size_t len = strlen(l);
        EXPECT_TRUE(span >= 0);
        EXPECT_TRUE(len > 12 && len <= 12 + 64);
        EXPECT_FALSE(short_line); /* only a span's last line may be short */
        if (len <= 12 || span < 0) {
            free(lines);
            free(text);
            return cnt;
        }
        short_line = len < 12 + 64;
        char pre[32];
        snprintf(pre, sizeof pre, "%10llx: ", (unsigned long long)(next_pb << pbo));
        EXPECT_TRUE(strncmp(l, pre, 12) == 0);
        for (size_t j = 12; j < len; j++) {
            EXPECT_TRUE(strchr("UMRHCIumrhci.", l[j]) != NULL);
            if (cnt < max)
                out[cnt] = (struct map_ent){.pfn = next_pb << pbo,
                                            .first = (next_pb << pbo) < span_first ? span_first
                                                                                   : next_pb << pbo,
                                            .span = (unsigned)span,
                                            .c = l[j]};
            cnt++;
            next_pb++;
        }
    }
    if (span >= 0)
        EXPECT_UEQ(next_pb, (span_last >> pbo) + 1);
    *nspans = (unsigned)(span + 1);
    free(lines);
    free(text);
    return cnt;
}

static uint64_t vmstat_value(const char *text, const char *name)
{
    size_t nl = strlen(name);
    for (const char *l = text; l && *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL) {
        if (strncmp(l, name, nl) == 0 && l[nl] == ' ')
            return strtoull(l + nl + 1, NULL, 10);
    }
    test_fail_(__FILE__, __LINE__, "vmstat has no %s", name);
    return UINT64_MAX;
}

struct allocs {
    cma_pfn_t pfn[64];
    unsigned order[64];
    unsigned n;
    uint64_t pages;
};

static void alloc_mix(struct cma_mm *mm, struct allocs *al)
{
    static const struct {
        unsigned order, gfp;
    } mix[] = {
        {0, CMA_GFP_MOVABLE},   {0, CMA_GFP_MOVABLE},   {0, CMA_GFP_UNMOVABLE}, {1, CMA_GFP_MOVABLE},
        {3, CMA_GFP_UNMOVABLE}, {2, CMA_GFP_MOVABLE},   {4, CMA_GFP_MOVABLE},   {9, CMA_GFP_MOVABLE},
        {0, CMA_GFP_UNMOVABLE}, {5, CMA_GFP_UNMOVABLE}, {10, CMA_GFP_MOVABLE},  {0, CMA_GFP_RECLAIMABLE},
    };
    memset(al, 0, sizeof *al);
    for (size_t i = 0; i < sizeof mix / sizeof mix[0]; i++) {
        cma_pfn_t pfn;
        int r = cma_alloc_pages(mm, mix[i].order, mix[i].gfp, &pfn);
        EXPECT_OK(r);
        if (r)
            continue;
        al->pfn[al->n] = pfn;
        al->order[al->n++] = mix[i].order;
        al->pages += 1ull << mix[i].order;
    }
}

static void free_all(struct cma_mm *mm, struct allocs *al)
{
    for (unsigned i = 0; i < al->n; i++)
        EXPECT_OK(cma_free_pages(mm, al->pfn[i], al->order[i]));
    al->n = 0;
}

/* Every pageblock shown upper case exactly when it holds an allocated or reserved page; the letter is
 * the pageblock's type. reserved = [rs, re) pfns (rs == re: none). */
static void check_map_against(struct cma_mm *mm, const struct allocs *al, cma_pfn_t rs, cma_pfn_t re)
{
    unsigned pbo = cma_mm_pageblock_order(mm), nsp = 0;
    uint64_t pbsize = 1ull << pbo;
    size_t cap = 4096;
    struct map_ent *m = calloc(cap, sizeof *m);
    size_t n = parse_map(mm, m, cap, &nsp);
    ASSERT_TRUE(n <= cap);
    for (size_t i = 0; i < n; i++) {
        uint64_t s = m[i].pfn, e = s + pbsize;
        bool busy = rs < e && s < re;
        for (unsigned k = 0; k < al->n; k++)
            if (al->pfn[k] < e && s < al->pfn[k] + (1ull << al->order[k]))
                busy = true;
        int t = cma_pageblock_type(mm, m[i].first);
        char want = t >= 0 && t < CMA_MIGRATE_TYPES ? type_letters[t] : '?';
        if (!busy)
            want = (char)(want - 'A' + 'a');
        if (m[i].c != want)
            test_fail_(__FILE__, __LINE__, "pageblock at pfn 0x%llx shows '%c', expected '%c'",
                       (unsigned long long)s, m[i].c, want);
    }
    free(m);
}

static void small_pageblocks(struct cma_mm_config *cfg) { cfg->pageblock_order = 4; }

/* ---- tests -------------------------------------------------------------------------------------- */

/* A fresh 64 MiB machine: every format exactly. */
static void test_fresh_machine_exact(void)
{
    struct cma_mm *mm = test_mm_simple(0, 64 * MiB, NULL);
    ASSERT_TRUE(mm != NULL);
    ASSERT_EQ(cma_mm_max_order(mm), 10);
    ASSERT_EQ(cma_mm_pageblock_order(mm), 9);

    char *t = dump(mm, CMA_DUMP_BUDDYINFO);
    EXPECT_STREQ(t, "Node 0, zone   Normal      0      0      0      0      0      0      0      0"
                    "      0      0     16 \n");
    free(t);

    t = dump(mm, CMA_DUMP_PAGETYPEINFO);
    EXPECT_STREQ(t,
                 "Page block order: 9\n"
                 "Pages per block:  512\n"
                 "\n"
                 "Free pages count per migrate type at order       0      1      2      3      4      5"
                 "      6      7      8      9     10 \n"
                 "Node    0, zone   Normal, type    Unmovable      0      0      0      0      0      0"
                 "      0      0      0      0      0 \n"
                 "Node    0, zone   Normal, type      Movable      0      0      0      0      0      0"
                 "      0      0      0      0     16 \n"
                 "Node    0, zone   Normal, type  Reclaimable      0      0      0      0      0      0"
                 "      0      0      0      0      0 \n"
                 "Node    0, zone   Normal, type   HighAtomic      0      0      0      0      0      0"
                 "      0      0      0      0      0 \n"
                 "Node    0, zone   Normal, type          CMA      0      0      0      0      0      0"
                 "      0      0      0      0      0 \n"
                 "Node    0, zone   Normal, type      Isolate      0      0      0      0      0      0"
                 "      0      0      0      0      0 \n"
                 "\n"
                 "Number of blocks type     Unmovable      Movable  Reclaimable   HighAtomic          CMA"
                 "      Isolate \n"
                 "Node 0, zone   Normal            0           32            0            0            0"
                 "            0 \n");
    free(t);

    t = dump(mm, CMA_DUMP_PAGEBLOCK_MAP);
    char exp[512];
    snprintf(exp, sizeof exp, "span 0: pfn 0x0-0x3fff (16384 pages)\n         0: %s\n%s\n",
             "mmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmm", legend);
    EXPECT_STREQ(t, exp);
    free(t);

    t = dump(mm, CMA_DUMP_VMSTAT);
    EXPECT_UEQ(vmstat_value(t, "nr_free_pages"), 16384);
    EXPECT_UEQ(vmstat_value(t, "nr_free_cma"), 0);
    EXPECT_UEQ(vmstat_value(t, "pgalloc"), 0);
    EXPECT_UEQ(vmstat_value(t, "nr_managed"), 16384);
    EXPECT_UEQ(vmstat_value(t, "nr_reserved"), 0);
    EXPECT_UEQ(vmstat_value(t, "nr_free_pcp"), 0);
    free(t);

    t = dump(mm, CMA_DUMP_AREAS);
    EXPECT_STREQ(t, "");
    free(t);
    test_mm_finish(mm);
}

/* After a mix of allocations: buddyinfo == column sums of pagetypeinfo; free pages add up. */
static void test_buddyinfo_matches_pagetypeinfo(void)
{
    struct cma_mm *mm = test_mm_simple(0, 64 * MiB, NULL);
    ASSERT_TRUE(mm != NULL);
    struct allocs al;
    alloc_mix(mm, &al);
    unsigned mo = cma_mm_max_order(mm);

    uint64_t bi[CMA_MAX_ORDER_LIMIT + 1];
    struct pti pt;
    struct cma_mm_stats st;
    if (parse_buddyinfo(mm, bi) == 0 && parse_pagetypeinfo(mm, &pt) == 0 &&
        cma_mm_get_stats(mm, &st) == 0) {
        uint64_t buddy_pages = 0, blocks = 0, st_blocks = 0;
        for (unsigned o = 0; o <= mo; o++) {
            uint64_t sum = 0;
            for (unsigned t = 0; t < CMA_MIGRATE_TYPES; t++)
                sum += pt.free[t][o];
            EXPECT_UEQ(bi[o], sum);
            buddy_pages += bi[o] << o;
        }
        EXPECT_UEQ(buddy_pages + st.nr_free_pcp, st.nr_free_total);
        EXPECT_UEQ(st.nr_free_total + al.pages, st.nr_managed);
        EXPECT_UEQ(st.nr_allocated, al.pages);
        for (unsigned t = 0; t < CMA_MIGRATE_TYPES; t++) {
            blocks += pt.blocks[t];
            st_blocks += st.nr_pageblocks[t];
            EXPECT_UEQ(pt.blocks[t], st.nr_pageblocks[t]);
        }
        EXPECT_UEQ(blocks, 32);
        EXPECT_UEQ(st_blocks, 32);
        EXPECT_UEQ(st.pgalloc, al.n);
        EXPECT_UEQ(st.pgalloc_pages, al.pages);
    }
    free_all(mm, &al);
    test_mm_finish(mm);
}

static void test_snprintf_contract(void)
{
    struct cma_mm *mm = test_mm_simple(0, 64 * MiB, NULL);
    ASSERT_TRUE(mm != NULL);
    struct allocs al;
    alloc_mix(mm, &al);

    static const enum cma_dump kinds[] = {CMA_DUMP_BUDDYINFO, CMA_DUMP_PAGETYPEINFO, CMA_DUMP_VMSTAT,
                                          CMA_DUMP_PAGEBLOCK_MAP, CMA_DUMP_ALL};
    for (size_t k = 0; k < sizeof kinds / sizeof kinds[0]; k++) {
        int n = cma_mm_dump(mm, kinds[k], NULL, 0);
        EXPECT_GT(n, 0);
        if (n <= 0)
            continue;
        char *full = malloc((size_t)n + 1);
        char *buf = malloc((size_t)n + 32);
        EXPECT_EQ(cma_mm_dump(mm, kinds[k], full, (size_t)n + 1), n);
        EXPECT_UEQ(strlen(full), (size_t)n);

        /* exactly n bytes: the last character gives way to the NUL */
        memset(buf, 'X', (size_t)n + 32);
        EXPECT_EQ(cma_mm_dump(mm, kinds[k], buf, (size_t)n), n);
        EXPECT_UEQ(strlen(buf), (size_t)n - 1);
        EXPECT_TRUE(memcmp(buf, full, (size_t)n - 1) == 0);
        EXPECT_EQ(buf[n], 'X');

        /* a short buffer: prefix, NUL-terminated, nothing written past len */
        size_t lens[] = {1, 2, 10, 23, 64, 65};
        for (size_t i = 0; i < sizeof lens / sizeof lens[0]; i++) {
            size_t len = lens[i];
            if (len > (size_t)n)
                continue;
            memset(buf, 'X', (size_t)n + 32);
            EXPECT_EQ(cma_mm_dump(mm, kinds[k], buf, len), n);
            EXPECT_EQ(buf[len - 1], '\0');
            EXPECT_UEQ(strlen(buf), len - 1);
            EXPECT_TRUE(memcmp(buf, full, len - 1) == 0);
            EXPECT_EQ(buf[len], 'X');
        }
        /* larger than needed: same text */
        memset(buf, 'X', (size_t)n + 32);
        EXPECT_EQ(cma_mm_dump(mm, kinds[k], buf, (size_t)n + 32), n);
        EXPECT_STREQ(buf, full);
        free(full);
        free(buf);
    }

    char small[8];
    struct cma_mm_stats st;
    EXPECT_ERR(cma_mm_dump(NULL, CMA_DUMP_BUDDYINFO, small, sizeof small), -CMA_EINVAL);
    EXPECT_ERR(cma_mm_dump(mm, CMA_DUMP_BUDDYINFO, NULL, 5), -CMA_EINVAL);
    EXPECT_ERR(cma_mm_dump(mm, (enum cma_dump)99, small, sizeof small), -CMA_EINVAL);
    EXPECT_ERR(cma_mm_dump(mm, (enum cma_dump)-1, NULL, 0), -CMA_EINVAL);
    EXPECT_ERR(cma_mm_get_stats(NULL, &st), -CMA_EINVAL);
    EXPECT_ERR(cma_mm_get_stats(mm, NULL), -CMA_EINVAL);

    free_all(mm, &al);
    test_mm_finish(mm);
}

static void test_vmstat_matches_stats(void)
{
    struct cma_mm *mm = test_mm_simple(0, 64 * MiB, NULL);
    ASSERT_TRUE(mm != NULL);
    struct allocs al;
    alloc_mix(mm, &al);
    /* free a few so pgfree moves and some pages sit in the per-CPU caches */
    for (unsigned i = 0; i < 3 && al.n > 0; i++) {
        al.n--;
        EXPECT_OK(cma_free_pages(mm, al.pfn[al.n], al.order[al.n]));
        al.pages -= 1ull << al.order[al.n];
    }
    EXPECT_OK(cma_free_pages(mm, al.pfn[0], al.order[0]));
    al.pages -= 1ull << al.order[0];
    al.pfn[0] = al.pfn[--al.n];
    al.order[0] = al.order[al.n];

    struct cma_mm_stats st;
    ASSERT_OK(cma_mm_get_stats(mm, &st));
    char *t = dump(mm, CMA_DUMP_VMSTAT);
    ASSERT_TRUE(t != NULL);
    EXPECT_UEQ(vmstat_value(t, "nr_free_pages"), st.nr_free_total - st.nr_free[CMA_MIGRATE_ISOLATE]);
    EXPECT_UEQ(vmstat_value(t, "nr_free_cma"), st.nr_free_cma);
    EXPECT_UEQ(vmstat_value(t, "pgalloc"), st.pgalloc_pages);
    EXPECT_UEQ(vmstat_value(t, "pgfree"), st.pgfree_pages);
    EXPECT_UEQ(vmstat_value(t, "pgmigrate_success"), st.pgmigrate_success);
    EXPECT_UEQ(vmstat_value(t, "pgmigrate_fail"), st.pgmigrate_fail);
    EXPECT_UEQ(vmstat_value(t, "pgdiscard"), st.pgdiscard);
    EXPECT_UEQ(vmstat_value(t, "alloc_fail"), st.alloc_fail);
    EXPECT_UEQ(vmstat_value(t, "pgalloc_fallback"), st.fallbacks);
    EXPECT_UEQ(vmstat_value(t, "pageblocks_claimed"), st.pageblocks_claimed);
    EXPECT_UEQ(vmstat_value(t, "pages_stolen"), st.pages_stolen);
    EXPECT_UEQ(vmstat_value(t, "pcp_refills"), st.pcp_refills);
    EXPECT_UEQ(vmstat_value(t, "pcp_drains"), st.pcp_drains);
    EXPECT_UEQ(vmstat_value(t, "nr_managed"), st.nr_managed);
    EXPECT_UEQ(vmstat_value(t, "nr_reserved"), st.nr_reserved);
    EXPECT_UEQ(vmstat_value(t, "nr_free_pcp"), st.nr_free_pcp);
    EXPECT_UEQ(vmstat_value(t, "metadata_bytes"), st.metadata_bytes);

    /* every line is "name value" */
    size_t lines = 0;
    for (const char *l = t; *l; l = strchr(l, '\n') + 1) {
        char name[64];
        unsigned long long v;
        int used = -1;
        EXPECT_EQ(sscanf(l, "%63[a-z_] %llu%n", name, &v, &used), 2);
        EXPECT_EQ(l[used], '\n');
        lines++;
    }
    EXPECT_UEQ(lines, 17);

    /* the counters themselves */
    EXPECT_UEQ(st.pgalloc_pages - st.pgfree_pages, al.pages);
    EXPECT_UEQ(st.nr_allocated, al.pages);
    EXPECT_UEQ(st.nr_free_total + st.nr_allocated, st.nr_managed);
    EXPECT_UEQ(st.nr_pages, st.nr_managed + st.nr_reserved);
    EXPECT_UEQ(st.nr_free_cma, st.nr_free[CMA_MIGRATE_CMA]);
    EXPECT_UEQ(st.metadata_bytes_per_page_x100, st.metadata_bytes * 100 / st.nr_pages);
    EXPECT_GT(st.metadata_bytes, 0);
    uint64_t sum = 0;
    for (unsigned k = 0; k < CMA_MIGRATE_TYPES; k++)
        sum += st.nr_free[k];
    EXPECT_UEQ(sum, st.nr_free_total);
    free(t);
    free_all(mm, &al);
    test_mm_finish(mm);
}

/* Allocations show as upper case pageblocks of the right type; freeing turns them back. */
static void test_map_allocations(void)
{
    struct cma_mm *mm = test_mm_simple(0, 64 * MiB, NULL);
    ASSERT_TRUE(mm != NULL);
    struct allocs al;
    alloc_mix(mm, &al);
    check_map_against(mm, &al, 0, 0);
    free_all(mm, &al);
    check_map_against(mm, &al, 0, 0); /* all lower case, per-CPU cached pages included */
    EXPECT_OK(cma_drain_cpu_caches(mm));
    check_map_against(mm, &al, 0, 0);
    test_mm_finish(mm);
}

/* Small pageblocks: many lines of 64, and free blocks larger than a pageblock cover several. */
static void test_map_line_wrapping(void)
{
    struct cma_mm *mm = test_mm_simple(0, 64 * MiB, small_pageblocks);
    ASSERT_TRUE(mm != NULL);
    ASSERT_EQ(cma_mm_pageblock_order(mm), 4);
    struct map_ent *m = calloc(2048, sizeof *m);
    unsigned nsp = 0;
    size_t n = parse_map(mm, m, 2048, &nsp);
    EXPECT_UEQ(n, 16384 / 16);
    EXPECT_EQ(nsp, 1);
    for (size_t i = 0; i < n && i < 2048; i++)
        EXPECT_EQ(m[i].c, 'm');
    free(m);

    struct pti pt;
    if (parse_pagetypeinfo(mm, &pt) == 0)
        EXPECT_UEQ(pt.blocks[CMA_MIGRATE_MOVABLE], 1024);

    struct allocs al;
    alloc_mix(mm, &al);
    check_map_against(mm, &al, 0, 0);
    free_all(mm, &al);
    check_map_against(mm, &al, 0, 0);
    test_mm_finish(mm);
}

/* Two memblock ranges with a hole between them and a reservation: two spans, '.' never inside a
 * span's characters, the reserved pageblock upper case. */
static void test_map_two_spans_and_reserved(void)
{
    struct cma_mm_config cfg;
    struct cma_mm *mm = NULL;
    cma_mm_config_default(&cfg);
    ASSERT_OK(cma_mm_create(&cfg, &mm));
    EXPECT_OK(cma_memblock_add(mm, 0, 17 * MiB));          /* 8.5 pageblocks */
    EXPECT_OK(cma_memblock_add(mm, 40 * MiB, 24 * MiB));   /* 12 pageblocks */
    EXPECT_OK(cma_memblock_reserve(mm, 4 * MiB, 64 * KiB)); /* in pageblock 2 */

    /* before online every dump is empty */
    char buf[64];
    static const enum cma_dump kinds[] = {CMA_DUMP_BUDDYINFO, CMA_DUMP_PAGETYPEINFO, CMA_DUMP_VMSTAT,
                                          CMA_DUMP_PAGEBLOCK_MAP, CMA_DUMP_AREAS, CMA_DUMP_ALL};
    for (size_t k = 0; k < sizeof kinds / sizeof kinds[0]; k++) {
        memset(buf, 'X', sizeof buf);
        EXPECT_EQ(cma_mm_dump(mm, kinds[k], buf, sizeof buf), 0);
        EXPECT_EQ(buf[0], '\0');
        EXPECT_EQ(cma_mm_dump(mm, kinds[k], NULL, 0), 0);
    }
    struct cma_mm_stats st;
    EXPECT_OK(cma_mm_get_stats(mm, &st));
    EXPECT_UEQ(st.nr_pages, 0);
    EXPECT_UEQ(st.nr_free_total, 0);

    int r = cma_mm_online(mm);
    EXPECT_OK(r);
    if (r) {
        (void)cma_mm_destroy(mm);
        return;
    }

    char *t = dump(mm, CMA_DUMP_PAGEBLOCK_MAP);
    char exp[512];
    snprintf(exp, sizeof exp,
             "span 0: pfn 0x0-0x10ff (4352 pages)\n"
             "         0: mmMmmmmmm\n"
             "span 1: pfn 0x2800-0x3fff (6144 pages)\n"
             "      2800: mmmmmmmmmmmm\n"
             "%s\n",
             legend);
    EXPECT_STREQ(t, exp);
    /* the only '.' characters are in the legend: no hole inside a span */
    const char *leg = strstr(t, "legend: ");
    EXPECT_TRUE(leg != NULL && strchr(t, '.') > leg);
    free(t);

    unsigned nsp = 0;
    struct map_ent m[64];
    EXPECT_UEQ(parse_map(mm, m, 64, &nsp), 9 + 12);
    EXPECT_EQ(nsp, 2);

    struct pti pt;
    if (parse_pagetypeinfo(mm, &pt) == 0) {
        uint64_t blocks = 0;
        for (unsigned k = 0; k < CMA_MIGRATE_TYPES; k++)
            blocks += pt.blocks[k];
        EXPECT_UEQ(blocks, 9 + 12);
    }
    EXPECT_OK(cma_mm_get_stats(mm, &st));
    EXPECT_UEQ(st.nr_pages, 4352 + 6144);
    EXPECT_UEQ(st.nr_reserved, 16);

    struct allocs al;
    alloc_mix(mm, &al);
    check_map_against(mm, &al, 1024, 1024 + 16);
    uint64_t bi[CMA_MAX_ORDER_LIMIT + 1];
    if (parse_buddyinfo(mm, bi) == 0 && parse_pagetypeinfo(mm, &pt) == 0) {
        for (unsigned o = 0; o <= cma_mm_max_order(mm); o++) {
            uint64_t sum = 0;
            for (unsigned k = 0; k < CMA_MIGRATE_TYPES; k++)
                sum += pt.free[k][o];
            EXPECT_UEQ(bi[o], sum);
        }
    }
    free_all(mm, &al);
    check_map_against(mm, &al, 1024, 1024 + 16);
    test_mm_finish(mm);
}

/* A span that starts and ends inside pageblocks: partial pageblocks count as all free when every
 * present page is free; line prefixes are pageblock starts. */
static void test_map_unaligned_span(void)
{
    struct cma_mm *mm = test_mm_simple(1 * MiB, 8 * MiB, NULL);
    ASSERT_TRUE(mm != NULL);
    char *t = dump(mm, CMA_DUMP_PAGEBLOCK_MAP);
    char exp[512];
    snprintf(exp, sizeof exp, "span 0: pfn 0x100-0x8ff (2048 pages)\n         0: mmmmm\n%s\n", legend);
    EXPECT_STREQ(t, exp);
    free(t);
    struct allocs al;
    memset(&al, 0, sizeof al);
    EXPECT_OK(cma_alloc_pages(mm, 0, CMA_GFP_MOVABLE, &al.pfn[0]));
    al.order[0] = 0;
    al.n = 1;
    check_map_against(mm, &al, 0, 0);
    free_all(mm, &al);
    check_map_against(mm, &al, 0, 0);
    test_mm_finish(mm);
}

/* CMA_DUMP_ALL is the sections concatenated under "# name" headers. */
static void test_dump_all_sections(void)
{
    struct cma_mm *mm = test_mm_simple(0, 64 * MiB, NULL);
    ASSERT_TRUE(mm != NULL);
    struct allocs al;
    alloc_mix(mm, &al);
    char *all = dump(mm, CMA_DUMP_ALL);
    char *bi = dump(mm, CMA_DUMP_BUDDYINFO), *pt = dump(mm, CMA_DUMP_PAGETYPEINFO);
    char *vm = dump(mm, CMA_DUMP_VMSTAT), *map = dump(mm, CMA_DUMP_PAGEBLOCK_MAP);
    if (all && bi && pt && vm && map) {
        size_t need = strlen(bi) + strlen(pt) + strlen(vm) + strlen(map) + 128;
        char *exp = malloc(need);
        snprintf(exp, need, "# buddyinfo\n%s\n# pagetypeinfo\n%s\n# vmstat\n%s\n# pageblock_map\n%s", bi,
                 pt, vm, map);
        EXPECT_STREQ(all, exp);
        free(exp);
    }
    free(all);
    free(bi);
    free(pt);
    free(vm);
    free(map);
    free_all(mm, &al);
    test_mm_finish(mm);
}

int main(int argc, char **argv)
{
    return test_main(argc, argv, TEST(test_fresh_machine_exact), TEST(test_buddyinfo_matches_pagetypeinfo),
                     TEST(test_snprintf_contract), TEST(test_vmstat_matches_stats),
                     TEST(test_map_allocations), TEST(test_map_line_wrapping),
                     TEST(test_map_two_spans_and_reserved), TEST(test_map_unaligned_span),
                     TEST(test_dump_all_sections));
}
