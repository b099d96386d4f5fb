/* SPDX-License-Identifier: MIT */
/*
 * tests/cmasim/test_html.c - the HTML report (tools/cmasim/html.c, compiled in directly with
 * format.c and report.c) on fake results: a self-contained page (doctype, inline SVG, every strategy
 * named, no external resource), a worst-case machine (1024 pageblocks, 60 snapshots, 4 strategies,
 * noise maps) that must stay under 3 MB, the terminal table and the HTML table printing every figure
 * with the same text, and the axes of a big machine (memory in GiB, what a map column stands for).
 *
 * CMASIM_HTML_DEMO=path writes a realistic-looking demo report there (tools/cmasim/screenshot.sh
 * was tried on it).
 */
#include "cmasim.h"
#include "test.h"

#include <unistd.h>

static void tmp_name(char *b, size_t n, const char *tag)
{
    const char *dir = getenv("TMPDIR");
    snprintf(b, n, "%s/cmasim-html-%ld-%s.html", dir && *dir ? dir : "/tmp", (long)getpid(), tag);
}

/* The report as text: written to a scratch file by report_html (or report_table when table), read
 * back, the file removed. NULL (and a failure) when it cannot be written. */
static char *render(const struct sim_report *rep, const char *tag, bool table, size_t *lenp)
{
    char path[512];
    size_t len = 0;
    tmp_name(path, sizeof path, tag);
    if (table) {
        FILE *f = fopen(path, "w");
        EXPECT_TRUE(f != NULL);
        if (!f)
            return NULL;
        report_table(f, rep);
        EXPECT_EQ(fclose(f), 0);
    } else {
        int rc = report_html(path, rep);
        EXPECT_EQ(rc, 0);
        if (rc)
            return NULL;
    }
    char *text = test_read_file(path, &len);
    EXPECT_TRUE(text != NULL);
    unlink(path);
    if (lenp)
        *lenp = len;
    return text;
}

/* Fills r with fake data: latencies spread over decades, a memory curve, a map. */
static void fake_result(struct sim_result *r, enum sim_strategy s, size_t nlat, size_t nsamples,
                        size_t nsnap, size_t npb, bool noise, struct test_rng *rng)
{
    memset(r, 0, sizeof *r);
    r->strategy = s;
    r->nlat = nlat;
    r->lat_ns = calloc(nlat ? nlat : 1, sizeof *r->lat_ns);
    for (size_t i = 0; i < nlat; i++) {
        uint64_t base = s == SIM_CARVEOUT ? 200 : s == SIM_CMA_LINUX ? 40000 : 15000;
        uint64_t v = base + test_rng_below(rng, base * 3);
        if (s != SIM_CARVEOUT && test_rng_below(rng, 20) == 0)
            v *= 40 + test_rng_below(rng, s == SIM_CMA_LINUX ? 400 : 60); /* slow tail */
        r->lat_ns[i] = v;
    }
    r->device_allocs = nlat;
    r->device_alloc_failures = s == SIM_CMA_LINUX ? nlat / 25 : 0;
    r->lat_p50 = nlat ? r->lat_ns[0] : 0;
    r->lat_p99 = nlat ? r->lat_ns[0] * 3 : 0;
    r->lat_max = nlat ? r->lat_ns[0] * 9 : 0;
    r->pages_migrated = s == SIM_CARVEOUT ? 0 : 123456 + s;
    r->pages_discarded = s == SIM_CMA_DISCARD ? 54321 : 0;
    r->retries = s == SIM_CMA_LINUX ? 77 : 3;
    if (s == SIM_IOMMU) { /* buffers through an IOMMU: the IOMMU rows have figures */
        r->pages_migrated = 0;
        r->iommu_buffers = nlat;
        r->iommu_bytes = (uint64_t)nlat * (18ull << 20);
        r->iotlb_entries = (uint64_t)nlat * 9 + 5;
        r->iotlb_bytes_large = r->iommu_bytes - 5 * 4096;
        r->pt_bytes_peak = 44 << 10;
        r->iova_frag_avg = 0.05;
        r->iova_frag_max = 0.193;
    }
    r->nsamples = nsamples;
    r->samples = calloc(nsamples ? nsamples : 1, sizeof *r->samples);
    uint64_t total = 2ull << 30, area = 256ull << 20;
    uint64_t sum = 0, mn = UINT64_MAX;
    for (size_t i = 0; i < nsamples; i++) {
        uint64_t t = (uint64_t)i * 50000000ull; /* 50 ms */
        uint64_t used = (uint64_t)(600ull << 20) + ((i * 7919) % 97) * (4ull << 20);
        uint64_t dev = ((i / 40) % 3 == 1) ? (160ull << 20) : (32ull << 20);
        uint64_t avail = total - used - (s == SIM_CARVEOUT ? area : dev);
        r->samples[i] = (struct sim_sample){t, avail};
        sum += avail;
        mn = avail < mn ? avail : mn;
    }
    r->avail_bytes_avg = nsamples ? sum / nsamples : 0;
    r->avail_bytes_min = nsamples ? mn : 0;
    r->ordinary_allocs = 1000000;
    r->ordinary_alloc_failures = s == SIM_CARVEOUT ? 1200 : 10;
    r->largest_free_order = s == SIM_CMA_DISCARD ? 10 : 9;
    r->unusable_order9 = 0.125 * (double)(s + 1);
    r->events_replayed = 2000000;
    r->events_skipped = 0;
    r->nsnap = nsnap;
    r->npb = npb;
    r->pbmap = malloc(nsnap * npb + 1);
    r->snap_t_ns = calloc(nsnap ? nsnap : 1, sizeof *r->snap_t_ns);
    static const char letters[] = "UuMmRrHhCcIi.";
    for (size_t row = 0; row < nsnap; row++) {
        r->snap_t_ns[row] = (uint64_t)row * 500000000ull;
        for (size_t pb = 0; pb < npb; pb++) {
            char ch;
            if (noise) {
                ch = letters[test_rng_below(rng, sizeof letters - 1)];
            } else {
                size_t cma0 = npb - npb / 8; /* the last eighth: the CMA area (or the carveout) */
                if (pb >= npb / 2 - npb / 64 && pb < npb / 2)
                    ch = '.'; /* a hole between two memory ranges */
                else if (pb >= cma0) {
                    bool busy = ((pb * 31 + row * 17) % 11) < (row % 20 < 10 ? 3 : 8);
                    bool dev = (row / 10) % 2 == 1 && pb < cma0 + (npb / 8) * (row % 10 + 1) / 12;
                    if (s == SIM_CARVEOUT)
                        ch = dev ? 'U' : 'u';
                    else if (dev)
                        ch = 'C';
                    else
                        ch = busy ? 'C' : 'c';
                    if (s != SIM_CARVEOUT && row % 10 == 9 && pb < cma0 + npb / 32)
                        ch = 'i';
                } else if (pb < npb / 16) {
                    ch = 'U';
                } else {
                    uint64_t h = ((pb / 6) * 2654435761u) ^ (row / 6);
                    size_t k = (size_t)(h % 23);
                    ch = k < 2 ? 'U' : k < 4 ? 'R' : k == 4 ? 'H' : k < 9 ? 'm' : 'M';
                    if (row * npb / nsnap < pb / 3 && k >= 9)
                        ch = 'm';
                }
            }
            r->pbmap[row * npb + pb] = ch;
        }
    }
    r->pbmap[nsnap * npb] = '\0';
}

static void free_result(struct sim_result *r)
{
    free(r->lat_ns);
    free(r->samples);
    free(r->pbmap);
    free(r->snap_t_ns);
}

static struct sim_machine fake_machine(void)
{
    struct sim_machine m = {.page_shift = 12, .nr_ranges = 2};
    m.ranges[0] = (struct sim_range){0, 1ull << 30};
    m.ranges[1] = (struct sim_range){(1ull << 30) + (32ull << 20), 1ull << 30};
    m.nr_areas = 1;
    snprintf(m.areas[0].name, sizeof m.areas[0].name, "camera<&>");
    m.areas[0].size = 256ull << 20;
    snprintf(m.cmdline, sizeof m.cmdline, "console=ttyS0 cma=64M");
    return m;
}

/* No "http" outside the SVG namespace declaration. */
static void expect_no_external(const char *html)
{
    const char *ns = "http://www.w3.org/2000/svg";
    for (const char *p = strstr(html, "http"); p; p = strstr(p + 1, "http"))
        if (strncmp(p, ns, strlen(ns)) != 0) {
            char ctx[80];
            snprintf(ctx, sizeof ctx, "%.60s", p);
            test_fail_(__FILE__, __LINE__, "external reference: %s", ctx);
            return;
        }
    EXPECT_TRUE(strstr(html, "<script") == NULL);
    EXPECT_TRUE(strstr(html, "<link") == NULL);
    EXPECT_TRUE(strstr(html, "src=") == NULL);
    EXPECT_TRUE(strstr(html, "url(") == NULL);
}

static void test_small_report(void)
{
    struct test_rng rng;
    test_rng_init(&rng, test_seed_value);
    struct sim_result res[2];
    fake_result(&res[0], SIM_CMA_LINUX, 50, 40, 8, 16, false, &rng);
    fake_result(&res[1], SIM_CMA_DISCARD, 50, 40, 8, 16, false, &rng);
    struct sim_machine m = fake_machine();
    struct sim_report rep = {.title = "phone <camera> & video", .kind = "run", .seed = 42,
                             .machine = &m, .results = res, .nresults = 2};
    char *html = render(&rep, "small", false, NULL);
    ASSERT_TRUE(html != NULL);
    EXPECT_TRUE(strncmp(html, "<!DOCTYPE html>", 15) == 0);
    EXPECT_TRUE(strstr(html, "<svg") != NULL);
    EXPECT_TRUE(strstr(html, "cma-linux") != NULL);
    EXPECT_TRUE(strstr(html, "cma-discard") != NULL);
    EXPECT_TRUE(strstr(html, "carveout</th>") == NULL); /* not in this report */
    EXPECT_TRUE(strstr(html, "phone &lt;camera&gt; &amp; video") != NULL); /* escaped */
    EXPECT_TRUE(strstr(html, "camera&lt;&amp;&gt;") != NULL);
    EXPECT_TRUE(strstr(html, "<camera>") == NULL);
    EXPECT_TRUE(strstr(html, "</html>") != NULL);
    /* three kinds of picture: 2 maps + CDF + memory */
    size_t nsvg = 0;
    for (const char *p = strstr(html, "<svg"); p; p = strstr(p + 1, "<svg"))
        nsvg++;
    EXPECT_UEQ(nsvg, 4);
    EXPECT_TRUE(strstr(html, "<polyline") != NULL);
    EXPECT_TRUE(strstr(html, "<path class=\"k") != NULL);
    expect_no_external(html);
    free(html);
    for (int i = 0; i < 2; i++)
        free_result(&res[i]);
}

static void test_empty_results(void)
{
    /* no latencies, no samples, no maps, no machine: still a valid page */
    struct sim_result res[1];
    memset(res, 0, sizeof res);
    res[0].strategy = SIM_CARVEOUT;
    struct sim_report rep = {.title = NULL, .kind = NULL, .results = res, .nresults = 1};
    char *html = render(&rep, "empty", false, NULL);
    ASSERT_TRUE(html != NULL);
    EXPECT_TRUE(strncmp(html, "<!DOCTYPE html>", 15) == 0);
    EXPECT_TRUE(strstr(html, "No device allocations.") != NULL);
    EXPECT_TRUE(strstr(html, "carveout") != NULL);
    expect_no_external(html);
    free(html);
    /* an unwritable path fails */
    EXPECT_EQ(report_html("/nonexistent/dir/r.html", &rep), -1);
}

static void test_worst_case_size(void)
{
    struct test_rng rng;
    test_rng_init(&rng, test_seed_value);
    struct sim_result res[SIM_NSTRATEGIES];
    for (int s = 0; s < SIM_NSTRATEGIES; s++)
        fake_result(&res[s], (enum sim_strategy)s, 20000, 20000, 60, 1024, true, &rng);
    struct sim_machine m = fake_machine();
    struct sim_report rep = {.title = "noise", .kind = "run", .seed = 1, .machine = &m,
                             .results = res, .nresults = SIM_NSTRATEGIES};
    size_t len;
    char *html = render(&rep, "big", false, &len);
    ASSERT_TRUE(html != NULL);
    if (test_verbose)
        printf("worst-case report: %zu bytes\n", len);
    EXPECT_LT(len, 3u << 20);
    EXPECT_TRUE(strstr(html, "neighbouring pageblocks") != NULL); /* merged columns */
    for (int s = 0; s < SIM_NSTRATEGIES; s++)
        EXPECT_TRUE(strstr(html, s == 0 ? "carveout" : s == 1 ? "cma-linux" : s == 2 ? ">cma<" :
                                 s == 3 ? "cma-discard" : ">iommu<"));
    expect_no_external(html);
    free(html);
    for (int s = 0; s < SIM_NSTRATEGIES; s++)
        free_result(&res[s]);
}

/* Every figure of the terminal table appears, as the same text, in a cell of the HTML table; the
 * events-skipped note is under both. */
static void test_same_figures(void)
{
    struct test_rng rng;
    test_rng_init(&rng, test_seed_value);
    struct sim_result res[SIM_NSTRATEGIES];
    for (int s = 0; s < SIM_NSTRATEGIES; s++) {
        fake_result(&res[s], (enum sim_strategy)s, 300, 50, 4, 16, false, &rng);
        res[s].avail_bytes_avg = (1500ull << 20) + (uint64_t)s * 12345678; /* MiB, not round */
        res[s].lat_p50 = 1234 + (uint64_t)s * 1000000;                       /* µs and ms */
        res[s].events_skipped = 17 + (uint64_t)s;
    }
    struct sim_machine m = fake_machine();
    struct sim_report rep = {.title = "same", .kind = "replay", .seed = 1, .machine = &m, .results = res,
                             .nresults = SIM_NSTRATEGIES, .trace_skipped = 17};
    char *html = render(&rep, "same", false, NULL), *table = render(&rep, "table", true, NULL);
    ASSERT_TRUE(html != NULL && table != NULL);
    unsigned rows = 0;
    for (int mt = 0; mt < SIM_NMETRICS; mt++) {
        EXPECT_TRUE(sim_metric_shown((enum sim_metric)mt, &rep)); /* a replay shows every row */
        EXPECT_TRUE(strstr(table, sim_metrics[mt].label) != NULL);
        EXPECT_TRUE(strstr(html, sim_metrics[mt].label) != NULL);
        for (int s = 0; s < SIM_NSTRATEGIES; s++) {
            char cell[64], td[96], td_best[96];
            sim_metric_text(cell, sizeof cell, (enum sim_metric)mt, &res[s]);
            snprintf(td, sizeof td, "<td>%s</td>", cell);
            snprintf(td_best, sizeof td_best, "<td class=\"best\">%s</td>", cell);
            EXPECT_TRUE(strstr(table, cell) != NULL);
            EXPECT_TRUE(strstr(html, td) != NULL || strstr(html, td_best) != NULL);
        }
        rows++;
    }
    EXPECT_UEQ(rows, SIM_NMETRICS);
    EXPECT_TRUE(strstr(table, "1,511 MiB") != NULL); /* 1500 MiB + 11.77 MiB, whole MiB */
    EXPECT_TRUE(strstr(table, "1.2 \xc2\xb5s") != NULL && strstr(html, "1.2 \xc2\xb5s") != NULL);
    EXPECT_TRUE(strstr(table, "17 the trace parser set aside") != NULL);
    EXPECT_TRUE(strstr(html, "17 the trace parser set aside") != NULL);
    free(html);
    free(table);
    for (int s = 0; s < SIM_NSTRATEGIES; s++)
        free_result(&res[s]);
}

/* A 1 TiB machine: the memory axis in GiB, the map axis counting the machine's 524288 pageblocks
 * and saying that one column stands for 256 of them. */
static void test_big_machine_axes(void)
{
    struct test_rng rng;
    test_rng_init(&rng, test_seed_value);
    struct sim_result res[1];
    fake_result(&res[0], SIM_CMA, 100, 100, 8, 2048, false, &rng);
    for (size_t i = 0; i < res[0].nsamples; i++)
        res[0].samples[i].avail_bytes = (1000ull << 30) - (uint64_t)i * (1ull << 30);
    res[0].pb_total = 524288;
    res[0].pb_bytes = 2ull << 20;
    struct sim_machine m = {.page_shift = 12, .nr_ranges = 1};
    m.ranges[0] = (struct sim_range){0, 1ull << 40};
    struct sim_report rep = {.title = "big", .kind = "run", .seed = 1, .machine = &m, .results = res,
                             .nresults = 1};
    char *html = render(&rep, "bigaxes", false, NULL);
    ASSERT_TRUE(html != NULL);
    EXPECT_TRUE(strstr(html, "available (GiB)") != NULL);
    EXPECT_TRUE(strstr(html, "available (MiB)") == NULL);
    EXPECT_TRUE(strstr(html, "one column = 256 pageblocks (512 MiB)") != NULL);
    EXPECT_TRUE(strstr(html, ">524,288<") != NULL || strstr(html, ">500,000<") != NULL);
    EXPECT_TRUE(strstr(html, "<b>memory</b> 1 TiB") != NULL);
    free(html);
    free_result(&res[0]);
    /* a phone: MiB, one pageblock per column */
    fake_result(&res[0], SIM_CMA, 10, 10, 4, 1024, false, &rng);
    res[0].pb_total = 1024;
    res[0].pb_bytes = 2ull << 20;
    m.ranges[0].size = 2ull << 30;
    html = render(&rep, "phoneaxes", false, NULL);
    ASSERT_TRUE(html != NULL);
    EXPECT_TRUE(strstr(html, "available (MiB)") != NULL);
    EXPECT_TRUE(strstr(html, "one column = 1 pageblock (2 MiB)") != NULL);
    free(html);
    free_result(&res[0]);
}

static void test_demo(void)
{
    const char *out = getenv("CMASIM_HTML_DEMO");
    struct test_rng rng;
    test_rng_init(&rng, 7);
    struct sim_result res[SIM_NSTRATEGIES];
    for (int s = 0; s < SIM_NSTRATEGIES; s++)
        fake_result(&res[s], (enum sim_strategy)s, 400, 1200, 60, 1024, false, &rng);
    struct sim_machine m = fake_machine();
    struct sim_report rep = {.title = "demo (fake data)", .kind = "run", .seed = 7, .machine = &m,
                             .results = res, .nresults = SIM_NSTRATEGIES};
    char path[512];
    tmp_name(path, sizeof path, "demo");
    ASSERT_EQ(report_html(out && *out ? out : path, &rep), 0);
    size_t len;
    char *html = test_read_file(out && *out ? out : path, &len);
    ASSERT_TRUE(html != NULL);
    EXPECT_LT(len, 3u << 20);
    EXPECT_TRUE(strstr(html, "neighbouring pageblocks") == NULL); /* structured maps need no merging */
    free(html);
    if (!(out && *out))
        unlink(path);
    for (int s = 0; s < SIM_NSTRATEGIES; s++)
        free_result(&res[s]);
}

int main(int argc, char **argv)
{
    return test_main(argc, argv, TEST(test_small_report), TEST(test_empty_results),
                     TEST(test_worst_case_size), TEST(test_same_figures), TEST(test_big_machine_axes),
                     TEST(test_demo));
}
