/* SPDX-License-Identifier: MIT */
/*
 * html.c - the HTML report: one self-contained file (inline CSS and SVG, no script, no external
 * resource) with the machine, the results table and three pictures: the pageblock map of every
 * strategy over time, the device allocation latency CDFs of all strategies on one chart, and the
 * memory available to the rest of the system over time.
 *
 * Size: the pageblock maps are drawn as one <path> per colour whose sub-paths are runs of identical
 * cells ("M x y h w v 1 h -w z"), which is a third of the size of one <rect> per run. When the maps
 * would still need more than MAP_RUN_BUDGET runs in total, neighbouring cells are merged into one
 * column (the most telling letter, as sim.c merges pageblocks into cells), so the file stays well
 * under 3 MB whatever the machine. The axis under each map counts the machine's pageblocks and says
 * how many one column stands for.
 *
 * Figures are printed by format.c, the same rows and texts as the terminal table.
 *
 * No libm: the log axis uses its own log10.
 */
#include "cmasim.h"

#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAP_RUN_BUDGET 130000 /* runs over all maps (~18 bytes each) */
#define CDF_POINTS 600        /* per strategy */
#define MEM_BUCKETS 700       /* per strategy (two points per bucket: min and max) */

static const char *strat_color(enum sim_strategy s)
{
    static const char *const colors[SIM_NSTRATEGIES] = {
        [SIM_CARVEOUT] = "#6f6f6f", [SIM_CMA_LINUX] = "#d62728", [SIM_CMA] = "#1f77b4",
        [SIM_CMA_DISCARD] = "#2ca02c", [SIM_IOMMU] = "#9467bd"};
    return (unsigned)s < SIM_NSTRATEGIES ? colors[s] : "#000000";
}
/* Dash patterns so that identical curves remain distinguishable. */
static const char *strat_dash(enum sim_strategy s)
{
    static const char *const dash[SIM_NSTRATEGIES] = {
        [SIM_CARVEOUT] = "", [SIM_CMA_LINUX] = "8 4", [SIM_CMA] = "", [SIM_CMA_DISCARD] = "3 3",
        [SIM_IOMMU] = "1 3"};
    return (unsigned)s < SIM_NSTRATEGIES ? dash[s] : "";
}

/* ---- small helpers ------------------------------------------------------------------------------- */

static void esc(FILE *f, const char *s)
{
    for (; s && *s; s++) {
        switch (*s) {
        case '&': fputs("&amp;", f); break;
        case '<': fputs("&lt;", f); break;
        case '>': fputs("&gt;", f); break;
        case '"': fputs("&quot;", f); break;
        case '\'': fputs("&#39;", f); break;
        default:
            if ((unsigned char)*s < 0x20 && *s != '\n' && *s != '\t')
                fputc('?', f);
            else
                fputc(*s, f);
        }
    }
}

static double pow10_(int e);
static int decade_floor(double x);

static double log10_(double x) /* x > 0 */
{
    int e = decade_floor(x);
    x /= pow10_(e);
    double y = (x - 1) / (x + 1), y2 = y * y, term = y, sum = 0; /* ln x = 2 atanh(y) */
    for (int k = 1; k < 200; k += 2) {
        sum += term / k;
        term *= y2;
        if (term < 1e-12)
            break;
    }
    return e + 2 * sum / 2.302585092994046;
}

static double pow10_(int e)
{
    double v = 1;
    for (; e > 0; e--)
        v *= 10;
    for (; e < 0; e++)
        v /= 10;
    return v;
}

/* floor(log10(x)) for x > 0, exactly (no rounding trouble at powers of ten). */
static int decade_floor(double x)
{
    int e = 0;
    while (x >= 10) {
        x /= 10;
        e++;
    }
    while (x < 1) {
        x *= 10;
        e--;
    }
    return e;
}

/* A "nice" tick step (1, 2 or 5 times a power of ten) giving about `target` ticks over range. */
static double nice_step(double range, int target)
{
    if (range <= 0)
        return 1;
    double raw = range / target, mag = pow10_(decade_floor(raw)), norm = raw / mag;
    double step = norm < 1.5 ? 1 : norm < 3 ? 2 : norm < 7 ? 5 : 10;
    return step * mag;
}

/* Time unit for an axis whose largest value is max_ns. */
static void time_unit(uint64_t max_ns, double *div, const char **name)
{
    if (max_ns >= 2000000000ull) {
        *div = 1e9;
        *name = "s";
    } else if (max_ns >= 2000000ull) {
        *div = 1e6;
        *name = "ms";
    } else if (max_ns >= 2000ull) {
        *div = 1e3;
        *name = "\xc2\xb5s";
    } else {
        *div = 1;
        *name = "ns";
    }
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* ---- head, machine, table ------------------------------------------------------------------------ */

static const char css[] =
    "body{font-family:system-ui,-apple-system,'Segoe UI',Roboto,'DejaVu Sans',sans-serif;"
    "margin:0;background:#f6f7f9;color:#1d2330;font-size:15px;line-height:1.4}"
    "main{max-width:1340px;margin:0 auto;padding:18px 24px 40px}"
    "h1{font-size:24px;margin:4px 0 2px}h2{font-size:18px;margin:26px 0 8px;border-bottom:1px solid "
    "#d5d9e0;padding-bottom:3px}h3{font-size:15px;margin:14px 0 4px}"
    ".sub{color:#5a6372;margin:0 0 10px}"
    ".card{background:#fff;border:1px solid #dde1e7;border-radius:6px;padding:10px 14px;"
    "margin:8px 0}"
    ".machine{display:flex;flex-wrap:wrap;gap:4px 28px}.machine div{white-space:nowrap}"
    ".machine b{color:#5a6372;font-weight:600}"
    "table{border-collapse:collapse;background:#fff;font-variant-numeric:tabular-nums}"
    "th,td{border:1px solid #dde1e7;padding:4px 12px;text-align:right}"
    "th:first-child,td:first-child{text-align:left}"
    "thead th{background:#eef1f5}tbody tr:nth-child(even){background:#fafbfc}"
    "td.best{font-weight:700;color:#0b6b2b}"
    ".grid{display:flex;flex-wrap:wrap;gap:14px}.grid>.card{flex:1 1 560px;min-width:0}"
    "svg{display:block;width:100%;height:auto}"
    "svg text{font-family:inherit;font-size:12px;fill:#333}"
    ".legend{display:flex;flex-wrap:wrap;gap:4px 18px;margin:6px 0 2px;font-size:14px}"
    ".legend span{white-space:nowrap}"
    ".ln{display:inline-block;width:30px;height:0;border-top-width:3px;vertical-align:middle;"
    "margin-right:6px}"
    ".sw{display:inline-block;width:14px;height:14px;vertical-align:middle;margin-right:2px;"
    "border:1px solid #9aa1ab}"
    ".note{color:#5a6372;font-size:13px;margin:4px 0}"
    ".k0{fill:#c0392b}.k1{fill:#f2c4bf}.k2{fill:#2e86c1}.k3{fill:#c6def0}.k4{fill:#e67e22}"
    ".k5{fill:#f8d9bb}.k6{fill:#8e5a3c}.k7{fill:#dcc6b8}.k8{fill:#7d3c98}.k9{fill:#dcc8e6}"
    ".k10{fill:#2c2c2c}.k11{fill:#a0a0a0}.k12{fill:#ffffff}.k13{fill:#000000}"
    "footer{color:#7a8391;font-size:12px;margin-top:28px}";

/* Map letters -> colour classes: U u M m R r H h C c I i . other */
#define NKINDS 14
static const char map_letters[] = "UMRHCI";
static const char *const kind_label[6] = {"unmovable", "movable", "reclaimable", "highatomic", "CMA",
                                          "isolated"};
static const char *const kind_color[NKINDS] = {"#c0392b", "#f2c4bf", "#2e86c1", "#c6def0", "#e67e22",
                                               "#f8d9bb", "#8e5a3c", "#dcc6b8", "#7d3c98", "#dcc8e6",
                                               "#2c2c2c", "#a0a0a0", "#ffffff", "#000000"};

static int kind_of(char ch)
{
    if (ch == '.')
        return 12;
    for (int i = 0; i < 6; i++) {
        if (ch == map_letters[i])
            return 2 * i;
        if (ch == map_letters[i] + ('a' - 'A'))
            return 2 * i + 1;
    }
    return 13;
}

static void html_machine(FILE *f, const struct sim_report *rep)
{
    char b[64], b2[64];
    const struct sim_machine *m = rep->machine;
    fputs("<div class=\"card machine\">", f);
    if (rep->kind) {
        fputs("<div><b>kind</b> ", f);
        esc(f, rep->kind);
        fputs("</div>", f);
    }
    fprintf(f, "<div><b>seed</b> %" PRIu64 "</div>", rep->seed);
    if (m) {
        sim_fmt_size(b, sizeof b, sim_machine_bytes(m));
        fprintf(f, "<div><b>memory</b> %s</div>", b);
        sim_fmt_size(b, sizeof b, (uint64_t)1 << (m->page_shift ? m->page_shift : 12));
        fprintf(f, "<div><b>page</b> %s</div>", b);
        for (unsigned i = 0; i < m->nr_ranges && i < SIM_MAX_RANGES; i++) {
            sim_fmt_size(b, sizeof b, m->ranges[i].size);
            fprintf(f, "<div><b>range</b> 0x%" PRIx64 " %s</div>", m->ranges[i].base, b);
        }
        for (unsigned i = 0; i < m->nr_reserved && i < SIM_MAX_RANGES; i++) {
            sim_fmt_size(b, sizeof b, m->reserved[i].size);
            fprintf(f, "<div><b>reserved</b> 0x%" PRIx64 " %s</div>", m->reserved[i].base, b);
        }
        for (unsigned i = 0; i < m->nr_areas && i < SIM_MAX_AREAS; i++) {
            char name[sizeof m->areas[i].name + 1];
            memcpy(name, m->areas[i].name, sizeof m->areas[i].name);
            name[sizeof m->areas[i].name] = '\0';
            sim_fmt_size(b, sizeof b, m->areas[i].size);
            if (m->areas[i].base)
                snprintf(b2, sizeof b2, " at 0x%" PRIx64, m->areas[i].base);
            else
                b2[0] = '\0';
            fputs("<div><b>CMA area</b> ", f);
            esc(f, name);
            fprintf(f, " %s%s</div>", b, b2);
        }
        if (m->cmdline[0]) {
            char cmd[sizeof m->cmdline + 1];
            memcpy(cmd, m->cmdline, sizeof m->cmdline);
            cmd[sizeof m->cmdline] = '\0';
            fputs("<div><b>cmdline</b> <code>", f);
            esc(f, cmd);
            fputs("</code></div>", f);
        }
    }
    fputs("</div>\n", f);
}

static void html_table(FILE *f, const struct sim_report *rep)
{
    char b[64];
    fputs("<table>\n<thead><tr><th>metric</th>", f);
    for (size_t i = 0; i < rep->nresults; i++)
        fprintf(f, "<th><span class=\"ln\" style=\"border-top:3px %s %s\"></span>%s</th>",
                strat_dash(rep->results[i].strategy)[0] ? "dashed" : "solid",
                strat_color(rep->results[i].strategy), sim_strategy_name(rep->results[i].strategy));
    fputs("</tr></thead>\n<tbody>\n", f);
    for (int m = 0; m < SIM_NMETRICS; m++) {
        const enum sim_metric mt = (enum sim_metric)m;
        if (!sim_metric_shown(mt, rep))
            continue;
        /* the best value is marked when it differs, as printed, from the worst one */
        size_t ibest = 0, iworst = 0;
        for (size_t i = 1; i < rep->nresults; i++) {
            double v = sim_metric_value(mt, &rep->results[i]) * sim_metrics[m].better;
            if (v > sim_metric_value(mt, &rep->results[ibest]) * sim_metrics[m].better)
                ibest = i;
            if (v < sim_metric_value(mt, &rep->results[iworst]) * sim_metrics[m].better)
                iworst = i;
        }
        char bt[64] = "", wt[64] = "";
        if (rep->nresults > 1 && sim_metrics[m].better != 0) {
            sim_metric_text(bt, sizeof bt, mt, &rep->results[ibest]);
            sim_metric_text(wt, sizeof wt, mt, &rep->results[iworst]);
        }
        bool mark = strcmp(bt, wt) != 0;
        fprintf(f, "<tr><td>%s</td>", sim_metrics[m].label);
        for (size_t i = 0; i < rep->nresults; i++) {
            sim_metric_text(b, sizeof b, mt, &rep->results[i]);
            bool is_best = mark && strcmp(b, bt) == 0;
            fprintf(f, "<td%s>%s</td>", is_best ? " class=\"best\"" : "", b);
        }
        fputs("</tr>\n", f);
    }
    fputs("</tbody></table>\n", f);
    if (rep->nresults > 1)
        fputs("<p class=\"note\">Bold green: the best value of the row.</p>\n", f);
    if (sim_metric_shown(SIM_M_SKIPPED, rep)) {
        char note[512];
        sim_skipped_note(note, sizeof note, rep);
        fputs("<p class=\"note\">", f);
        esc(f, note);
        fputs("</p>\n", f);
    }
}

static void legend_strategies(FILE *f, const struct sim_report *rep, const char *(*extra)(const struct sim_result *, char *, size_t))
{
    char b[64];
    fputs("<div class=\"legend\">", f);
    for (size_t i = 0; i < rep->nresults; i++) {
        const struct sim_result *r = &rep->results[i];
        fprintf(f, "<span><span class=\"ln\" style=\"border-top:3px %s %s\"></span>%s%s</span>",
                strat_dash(r->strategy)[0] ? "dashed" : "solid", strat_color(r->strategy),
                sim_strategy_name(r->strategy), extra ? extra(r, b, sizeof b) : "");
    }
    fputs("</div>\n", f);
}

/* ---- charts ------------------------------------------------------------------------------------- */

struct chart {
    double x0, y0, w, h;          /* plot area */
    double xmin, xmax, ymin, ymax;
    bool xlog;
};

static double chart_x(const struct chart *c, double v)
{
    double r;
    if (c->xlog) {
        if (v < c->xmin)
            v = c->xmin;
        double lmin = log10_(c->xmin), lmax = log10_(c->xmax);
        r = (log10_(v) - lmin) / (lmax - lmin);
    } else {
        r = c->xmax > c->xmin ? (v - c->xmin) / (c->xmax - c->xmin) : 0;
    }
    return c->x0 + r * c->w;
}

static double chart_y(const struct chart *c, double v)
{
    double r = c->ymax > c->ymin ? (v - c->ymin) / (c->ymax - c->ymin) : 0;
    return c->y0 + c->h - r * c->h;
}

static void chart_frame(FILE *f, const struct chart *c)
{
    fprintf(f, "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"#fff\" "
               "stroke=\"#888\"/>\n", c->x0, c->y0, c->w, c->h);
}

static void grid_v(FILE *f, const struct chart *c, double x, const char *label, bool major)
{
    fprintf(f, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"%s\"/>", x, c->y0, x,
            c->y0 + c->h, major ? "#d0d4da" : "#eef0f3");
    if (label)
        fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">%s</text>\n", x,
                c->y0 + c->h + 16, label);
}

static void grid_h(FILE *f, const struct chart *c, double y, const char *label)
{
    fprintf(f, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#d0d4da\"/>", c->x0, y,
            c->x0 + c->w, y);
    if (label)
        fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"end\">%s</text>\n", c->x0 - 6, y + 4,
                label);
}

static void polyline_open(FILE *f, enum sim_strategy s)
{
    const char *dash = strat_dash(s);
    fprintf(f, "<polyline fill=\"none\" stroke=\"%s\" stroke-width=\"2\" stroke-linejoin=\"round\"%s%s%s "
               "points=\"", strat_color(s), dash[0] ? " stroke-dasharray=\"" : "", dash,
            dash[0] ? "\"" : "");
}

static const char *extra_n(const struct sim_result *r, char *b, size_t n)
{
    snprintf(b, n, " (%zu)", r->nlat);
    return b;
}

static int html_cdf(FILE *f, const struct sim_report *rep)
{
    uint64_t lo = UINT64_MAX, hi = 0;
    size_t total = 0;
    for (size_t i = 0; i < rep->nresults; i++) {
        const struct sim_result *r = &rep->results[i];
        for (size_t k = 0; r->lat_ns && k < r->nlat; k++) {
            uint64_t v = r->lat_ns[k] ? r->lat_ns[k] : 1;
            lo = v < lo ? v : lo;
            hi = v > hi ? v : hi;
        }
        total += r->lat_ns ? r->nlat : 0;
    }
    fputs("<div class=\"card\"><h3>Device allocation latency (CDF)</h3>\n", f);
    if (!total) {
        fputs("<p class=\"note\">No device allocations.</p></div>\n", f);
        return 0;
    }
    int dlo = decade_floor((double)lo), dhi = decade_floor((double)hi);
    if (pow10_(dhi) < (double)hi || dhi == dlo)
        dhi++;
    struct chart c = {.x0 = 58, .y0 = 12, .w = 548, .h = 300, .xmin = pow10_(dlo), .xmax = pow10_(dhi),
                      .ymin = 0, .ymax = 1, .xlog = true};
    fputs("<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 640 362\" role=\"img\" "
          "aria-label=\"latency CDF\">\n", f);
    chart_frame(f, &c);
    for (int d = dlo; d <= dhi; d++) {
        char lab[32];
        sim_fmt_ns(lab, sizeof lab, (uint64_t)(pow10_(d) + 0.5));
        if (d > dlo && d < dhi)
            grid_v(f, &c, chart_x(&c, pow10_(d)), lab, true);
        else
            fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">%s</text>\n",
                    chart_x(&c, pow10_(d)), c.y0 + c.h + 16, lab);
        for (int k = 2; k < 10 && d < dhi; k++)
            grid_v(f, &c, chart_x(&c, k * pow10_(d)), NULL, false);
    }
    static const char *const ylab[] = {"0", "0.25", "0.5", "0.75", "1"};
    for (int k = 0; k <= 4; k++)
        grid_h(f, &c, chart_y(&c, k / 4.0), ylab[k]);
    fprintf(f, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#999\" "
               "stroke-dasharray=\"2 3\"/><text x=\"%.1f\" y=\"%.1f\" fill=\"#777\">p99</text>\n",
            c.x0, chart_y(&c, 0.99), c.x0 + c.w, chart_y(&c, 0.99), c.x0 + c.w + 4,
            chart_y(&c, 0.99) + 4);
    for (size_t i = 0; i < rep->nresults; i++) {
        const struct sim_result *r = &rep->results[i];
        if (!r->lat_ns || !r->nlat)
            continue;
        uint64_t *v = malloc(r->nlat * sizeof *v);
        if (!v)
            return -1;
        memcpy(v, r->lat_ns, r->nlat * sizeof *v);
        qsort(v, r->nlat, sizeof *v, cmp_u64);
        polyline_open(f, r->strategy);
        size_t n = r->nlat;
        double prev_y = 0;
        fprintf(f, "%.1f,%.1f", chart_x(&c, (double)(v[0] ? v[0] : 1)), chart_y(&c, 0));
        size_t npts = n < CDF_POINTS ? n : CDF_POINTS;
        for (size_t j = 0; j < npts; j++) {
            size_t idx = npts == n ? j : (size_t)((double)j * (double)(n - 1) / (double)(npts - 1));
            double x = chart_x(&c, (double)(v[idx] ? v[idx] : 1)), y = (double)(idx + 1) / (double)n;
            fprintf(f, " %.1f,%.1f %.1f,%.1f", x, chart_y(&c, prev_y), x, chart_y(&c, y));
            prev_y = y;
        }
        fputs("\"/>\n", f);
        free(v);
    }
    fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">wall time per device allocation "
               "(log scale)</text>\n", c.x0 + c.w / 2, c.y0 + c.h + 40);
    fprintf(f, "<text transform=\"translate(14,%.1f) rotate(-90)\" text-anchor=\"middle\">share of "
               "allocations \xe2\x89\xa4 x</text>\n", c.y0 + c.h / 2);
    fputs("</svg>\n", f);
    legend_strategies(f, rep, extra_n);
    fputs("<p class=\"note\">Further left is faster; a curve that stops below 1 within the chart "
          "has a slow tail. Failed attempts are included.</p></div>\n", f);
    return 0;
}

static void html_memory(FILE *f, const struct sim_report *rep)
{
    uint64_t tmax = 0, ymax = 0;
    size_t total = 0;
    for (size_t i = 0; i < rep->nresults; i++) {
        const struct sim_result *r = &rep->results[i];
        for (size_t k = 0; r->samples && k < r->nsamples; k++) {
            tmax = r->samples[k].t_ns > tmax ? r->samples[k].t_ns : tmax;
            ymax = r->samples[k].avail_bytes > ymax ? r->samples[k].avail_bytes : ymax;
        }
        total += r->samples ? r->nsamples : 0;
    }
    fputs("<div class=\"card\"><h3>Memory available to the rest of the system</h3>\n", f);
    if (!total) {
        fputs("<p class=\"note\">No samples.</p></div>\n", f);
        return;
    }
    double div;
    const char *unit;
    time_unit(tmax, &div, &unit);
    double xmax_u = (double)tmax / div, xstep = nice_step(xmax_u, 7);
    if (xmax_u <= 0)
        xmax_u = 1;
    double ydiv;
    const char *yunit;
    sim_bytes_axis(ymax, &ydiv, &yunit);
    double yval = (double)ymax / ydiv, ystep = nice_step(yval > 0 ? yval : 1, 6);
    double ytop = ystep;
    while (ytop < yval)
        ytop += ystep;
    struct chart c = {.x0 = 70, .y0 = 12, .w = 536, .h = 300, .xmin = 0, .xmax = xmax_u, .ymin = 0,
                      .ymax = ytop};
    fputs("<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 640 362\" role=\"img\" "
          "aria-label=\"memory available over time\">\n", f);
    chart_frame(f, &c);
    for (int k = 0; k <= 1000; k++) {
        double v = k * xstep;
        if (v > xmax_u * 1.0000001)
            break;
        char lab[32];
        snprintf(lab, sizeof lab, "%g", v);
        grid_v(f, &c, chart_x(&c, v), lab, true);
    }
    for (int k = 0; k <= 1000; k++) {
        double v = k * ystep;
        if (v > ytop * 1.0000001)
            break;
        char lab[32];
        snprintf(lab, sizeof lab, "%g", v);
        grid_h(f, &c, chart_y(&c, v), lab);
    }
    for (size_t i = 0; i < rep->nresults; i++) {
        const struct sim_result *r = &rep->results[i];
        if (!r->samples || !r->nsamples)
            continue;
        polyline_open(f, r->strategy);
        size_t n = r->nsamples, per = n > 2 * MEM_BUCKETS ? (n + MEM_BUCKETS - 1) / MEM_BUCKETS : 1;
        bool first = true;
        for (size_t a = 0; a < n; a += per) {
            size_t end = a + per < n ? a + per : n, lo = a, hi = a;
            for (size_t k = a; k < end; k++) {
                if (r->samples[k].avail_bytes < r->samples[lo].avail_bytes)
                    lo = k;
                if (r->samples[k].avail_bytes > r->samples[hi].avail_bytes)
                    hi = k;
            }
            size_t pts[2] = {lo < hi ? lo : hi, lo < hi ? hi : lo};
            for (int p = 0; p < (lo == hi ? 1 : 2); p++) {
                const struct sim_sample *s = &r->samples[pts[p]];
                fprintf(f, "%s%.1f,%.1f", first ? "" : " ", chart_x(&c, (double)s->t_ns / div),
                        chart_y(&c, (double)s->avail_bytes / ydiv));
                first = false;
            }
        }
        fputs("\"/>\n", f);
    }
    fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">simulated time (%s)</text>\n",
            c.x0 + c.w / 2, c.y0 + c.h + 40, unit);
    fprintf(f, "<text transform=\"translate(14,%.1f) rotate(-90)\" text-anchor=\"middle\">available "
               "(%s)</text>\n", c.y0 + c.h / 2, yunit);
    fputs("</svg>\n", f);
    legend_strategies(f, rep, NULL);
    fputs("<p class=\"note\">Higher is better: memory the rest of the system can use (a carveout "
          "never lends its area).</p></div>\n", f);
}

/* ---- pageblock maps ------------------------------------------------------------------------------- */

/* Letter of column `col` of row `row` when each column stands for k cells: the most telling one,
 * by the rank sim.c also uses to merge pageblocks into cells (format.c). */
static char map_cell(const struct sim_result *r, size_t row, size_t col, size_t k)
{
    const char *p = r->pbmap + row * r->npb + col * k;
    size_t n = (col + 1) * k <= r->npb ? k : r->npb - col * k;
    char best = p[0];
    for (size_t i = 1; i < n; i++)
        if (sim_pb_rank(p[i]) > sim_pb_rank(best))
            best = p[i];
    return best;
}

static size_t map_runs(const struct sim_result *r, size_t k)
{
    size_t cols = (r->npb + k - 1) / k, runs = 0;
    for (size_t row = 0; row < r->nsnap; row++) {
        char prev = 0;
        for (size_t col = 0; col < cols; col++) {
            char ch = map_cell(r, row, col, k);
            if (col == 0 || ch != prev)
                runs++;
            prev = ch;
        }
    }
    return runs;
}

static void time_label(char *b, size_t n, uint64_t ns)
{
    double div;
    const char *unit;
    time_unit(ns, &div, &unit);
    snprintf(b, n, "%.4g %s", (double)ns / div, unit);
}

static void html_map(FILE *f, const struct sim_result *r, size_t budget)
{
    fprintf(f, "<h3><span class=\"ln\" style=\"border-top:3px %s %s\"></span>%s</h3>\n",
            strat_dash(r->strategy)[0] ? "dashed" : "solid", strat_color(r->strategy),
            sim_strategy_name(r->strategy));
    if (!r->pbmap || !r->nsnap || !r->npb) {
        fputs("<p class=\"note\">No pageblock snapshots.</p>\n", f);
        return;
    }
    size_t k = 1; /* the smallest merge factor within budget: doubling, then bisection */
    if (map_runs(r, 1) > budget) {
        size_t lo = 1, hi = 2;
        while (hi < r->npb && map_runs(r, hi) > budget) {
            lo = hi;
            hi *= 2;
        }
        while (hi - lo > 1) { /* map_runs(lo) > budget >= map_runs(hi) (or hi >= npb) */
            size_t mid = lo + (hi - lo) / 2;
            if (map_runs(r, mid) > budget)
                lo = mid;
            else
                hi = mid;
        }
        k = hi;
    }
    size_t cols = (r->npb + k - 1) / k;
    double rowh = r->nsnap >= 60 ? 4 : r->nsnap >= 30 ? 6 : r->nsnap >= 12 ? 10 : 16;
    double ox = 84, oy = 6, pw = 1300 - ox - 12, ph = rowh * (double)r->nsnap;
    double vbh = oy + ph + 36;
    fprintf(f, "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 1300 %.0f\" role=\"img\" "
               "aria-label=\"pageblock map of %s\">\n", vbh, sim_strategy_name(r->strategy));
    fprintf(f, "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"#fff\"/>\n", ox, oy,
            pw, ph);
    fprintf(f, "<g transform=\"translate(%.1f,%.1f) scale(%.6f,%.1f)\" shape-rendering=\"crispEdges\">\n",
            ox, oy, pw / (double)cols, rowh);
    bool present[NKINDS] = {false};
    for (size_t row = 0; row < r->nsnap; row++)
        for (size_t col = 0; col < cols; col++)
            present[kind_of(map_cell(r, row, col, k))] = true;
    for (int kd = 0; kd < NKINDS; kd++) {
        if (!present[kd] || kd == 12) /* holes: the white background */
            continue;
        fprintf(f, "<path class=\"k%d\" d=\"", kd);
        for (size_t row = 0; row < r->nsnap; row++) {
            size_t col = 0;
            while (col < cols) {
                char ch = map_cell(r, row, col, k);
                size_t end = col + 1;
                while (end < cols && map_cell(r, row, end, k) == ch)
                    end++;
                if (kind_of(ch) == kd)
                    fprintf(f, "M%zu %zuh%zuv1h-%zuz", col, row, end - col, end - col);
                col = end;
            }
        }
        fputs("\"/>\n", f);
    }
    fputs("</g>\n", f);
    fprintf(f, "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"none\" "
               "stroke=\"#888\"/>\n", ox, oy, pw, ph);
    /* time labels on the left: up to 6 rows */
    size_t nlab = r->nsnap < 6 ? r->nsnap : 6;
    size_t last_row = (size_t)-1;
    for (size_t i = 0; i < nlab; i++) {
        size_t row = nlab == 1 ? 0 : i * (r->nsnap - 1) / (nlab - 1);
        if (row == last_row)
            continue;
        last_row = row;
        char lab[32];
        if (r->snap_t_ns)
            time_label(lab, sizeof lab, r->snap_t_ns[row]);
        else
            snprintf(lab, sizeof lab, "#%zu", row);
        double y = oy + rowh * ((double)row + 0.5);
        fprintf(f, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#888\"/>"
                   "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"end\">%s</text>\n",
                ox - 4, y, ox, y, ox - 7, y + 4, lab);
    }
    /* pageblock numbers below: the machine's pageblocks (sim.c may have merged them into cells) */
    const uint64_t total = r->pb_total ? r->pb_total : r->npb;
    double step = nice_step((double)total, 10);
    if (step < 1)
        step = 1;
    for (double p = 0; p <= (double)total; p += step) {
        double x = ox + p * (double)r->npb / (double)total * pw / (double)(cols * k);
        if (x > ox + pw + 0.5)
            break;
        char lab[40];
        sim_fmt_count(lab, sizeof lab, (uint64_t)p);
        fprintf(f, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#888\"/>"
                   "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">%s</text>\n",
                x, oy + ph, x, oy + ph + 4, x, oy + ph + 17, lab);
    }
    /* what one column stands for */
    char per[128], n[40], size[48] = "";
    const uint64_t num = total * k; /* pageblocks per column: num / npb */
    if (num % r->npb == 0) {
        const uint64_t g = num / r->npb;
        sim_fmt_count(n, sizeof n, g);
        if (r->pb_bytes) {
            char b[40];
            sim_fmt_size(b, sizeof b, g * r->pb_bytes);
            snprintf(size, sizeof size, " (%s)", b);
        }
        snprintf(per, sizeof per, "%s pageblock%s%s", n, g == 1 ? "" : "s", size);
    } else {
        snprintf(n, sizeof n, "%.1f", (double)num / (double)r->npb);
        snprintf(per, sizeof per, "%s pageblocks on average", n);
    }
    fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">pageblock, in physical address "
               "order (holes left out); one column = %s</text>\n", ox + pw / 2, oy + ph + 32, per);
    fputs("</svg>\n", f);
    if (num > r->npb)
        fprintf(f, "<p class=\"note\">Each column stands for %s neighbouring pageblocks%s and shows the most "
                   "telling state among them: isolated, then unmovable, reclaimable, highatomic, movable, CMA "
                   "in use, then the same free.</p>\n", n, size);
}

static void html_map_legend(FILE *f)
{
    fputs("<div class=\"legend\">", f);
    for (int i = 0; i < 6; i++)
        fprintf(f, "<span><span class=\"sw\" style=\"background:%s\"></span><span class=\"sw\" "
                   "style=\"background:%s\"></span> %c/%c %s</span>",
                kind_color[2 * i], kind_color[2 * i + 1], map_letters[i], map_letters[i] + 32,
                kind_label[i]);
    fprintf(f, "<span><span class=\"sw\" style=\"background:%s\"></span> . hole (no memory)</span>",
            kind_color[12]);
    fputs("</div>\n<p class=\"note\">Columns are pageblocks in physical address order (on a big machine "
          "one column stands for several: see under each map), rows are snapshots (time runs downwards); "
          "coloured by migrate type: full colour when some page of the pageblock is in use, light when all "
          "of it is free.</p>\n", f);
}

/* ---- the page ------------------------------------------------------------------------------------- */

int report_html(const char *path, const struct sim_report *rep)
{
    FILE *f = fopen(path, "w");
    if (!f)
        return -1;
    const char *title = rep->title ? rep->title : "cmasim";
    fputs("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
          "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n<title>cmasim: ",
          f);
    esc(f, title);
    fprintf(f, "</title>\n<style>%s</style>\n</head>\n<body>\n<main>\n<h1>cmasim: ", css);
    esc(f, title);
    fputs("</h1>\n<p class=\"sub\">libcma simulator report: the same workload replayed once per "
          "strategy on a fresh machine.</p>\n", f);
    html_machine(f, rep);

    fputs("<h2>Results</h2>\n", f);
    html_table(f, rep);

    fputs("<h2>Latency and memory</h2>\n<div class=\"grid\">\n", f);
    int rc = html_cdf(f, rep);
    if (rc == 0)
        html_memory(f, rep);
    fputs("</div>\n", f);

    if (rc == 0) {
        fputs("<h2>Pageblock maps over time</h2>\n<div class=\"card\">\n", f);
        html_map_legend(f);
        size_t nmaps = 0;
        for (size_t i = 0; i < rep->nresults; i++)
            nmaps += rep->results[i].pbmap && rep->results[i].nsnap && rep->results[i].npb;
        size_t budget = MAP_RUN_BUDGET / (nmaps ? nmaps : 1);
        for (size_t i = 0; i < rep->nresults; i++)
            html_map(f, &rep->results[i], budget);
        fputs("</div>\n", f);
        fputs("<footer>Generated by cmasim " CMASIM_VERSION ". Self-contained: no script, no "
              "external resources.</footer>\n</main>\n</body>\n</html>\n", f);
    }
    if (ferror(f))
        rc = -1;
    if (fclose(f) != 0)
        rc = -1;
    return rc;
}
