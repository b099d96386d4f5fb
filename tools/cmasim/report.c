/* SPDX-License-Identifier: MIT */
/*
 * report.c - the results side by side: a terminal table (strategies as columns, metrics as rows, in
 * human units), one JSON document, or CSV (a header and one row per strategy) for scripts.
 *
 * JSON and CSV carry raw numbers (bytes, nanoseconds, pages) and never depend on the locale. The
 * JSON document:
 *   { "cmasim": VERSION, "kind": "run"|"replay", "title": ..., "seed": N,
 *     "machine": { "bytes", "page_size", "ranges": [{base,size}], "reserved": [...],
 *                  "areas": [{name,size,base}], "cmdline" },
 *     "strategies": [ { "name", "device_allocs", "device_alloc_failures", "device_alloc_success_rate",
 *                       "latency_ns": {"p50","p99","max"}, "pages_migrated", "pages_discarded",
 *                       "retries", "avail_bytes_avg", "avail_bytes_min", "ordinary_allocs",
 *                       "ordinary_alloc_failures", "largest_free_order", "unusable_order9"
 *                       [, "events_replayed", "events_skipped" (replay)] } ] }
 */
#include "cmasim.h"

#include <inttypes.h>
#include <string.h>

/* ---- human units ------------------------------------------------------------------------------- */

/* 1234567 -> "1,234,567" */
static void fmt_count(char *out, size_t len, uint64_t v)
{
    char digits[32];
    int n = snprintf(digits, sizeof digits, "%" PRIu64, v);
    size_t o = 0;
    for (int i = 0; i < n && o + 2 < len; i++) {
        out[o++] = digits[i];
        if ((n - i - 1) % 3 == 0 && i != n - 1)
            out[o++] = ',';
    }
    out[o] = '\0';
}

static void fmt_bytes(char *out, size_t len, uint64_t b)
{
    char c[40];
    if (b >= (64ull << 30)) {
        snprintf(out, len, "%.1f GiB", (double)b / (double)(1ull << 30));
    } else if (b >= (1ull << 20)) {
        fmt_count(c, sizeof c, b >> 20);
        snprintf(out, len, "%s MiB", c);
    } else {
        snprintf(out, len, "%" PRIu64 " KiB", b >> 10);
    }
}

static void fmt_ns(char *out, size_t len, uint64_t ns)
{
    if (ns < 1000)
        snprintf(out, len, "%" PRIu64 " ns", ns);
    else if (ns < 1000000)
        snprintf(out, len, "%.1f \xc2\xb5s", (double)ns / 1e3);
    else if (ns < 1000000000)
        snprintf(out, len, "%.2f ms", (double)ns / 1e6);
    else
        snprintf(out, len, "%.2f s", (double)ns / 1e9);
}

static void fmt_pct(char *out, size_t len, double v)
{
    snprintf(out, len, "%.1f%%", v * 100);
}

/* Display width of a UTF-8 string (one column per code point). */
static size_t width(const char *s)
{
    size_t w = 0;
    for (; *s; s++)
        if (((unsigned char)*s & 0xc0) != 0x80)
            w++;
    return w;
}

static void pad_left(FILE *f, const char *s, size_t w)
{
    for (size_t i = width(s); i < w; i++)
        fputc(' ', f);
    fputs(s, f);
}

static void pad_right(FILE *f, const char *s, size_t w)
{
    fputs(s, f);
    for (size_t i = width(s); i < w; i++)
        fputc(' ', f);
}

/* ---- table ------------------------------------------------------------------------------------- */

enum metric {
    M_AVAIL_AVG, M_AVAIL_MIN, M_ORD_FAIL, M_DEV_OK, M_DEV_RATE, M_P50, M_P99, M_MAX, M_MIGRATED,
    M_DISCARDED, M_RETRIES, M_LFO, M_UNUSABLE, M_REPLAYED, M_SKIPPED, M_COUNT
};

static const char *const metric_label[M_COUNT] = {
    "memory available, average",
    "memory available, minimum",
    "ordinary allocations failed",
    "device allocations ok",
    "device allocation success",
    "allocation latency p50",
    "allocation latency p99",
    "allocation latency max",
    "pages migrated",
    "pages discarded",
    "retries",
    "largest free order (end)",
    "free memory unusable at order 9",
    "events replayed",
    "events skipped",
};

static void cell(char *out, size_t len, enum metric m, const struct sim_result *r)
{
    char a[40], b[40];
    switch (m) {
    case M_AVAIL_AVG: fmt_bytes(out, len, r->avail_bytes_avg); break;
    case M_AVAIL_MIN: fmt_bytes(out, len, r->avail_bytes_min); break;
    case M_ORD_FAIL:
        fmt_count(a, sizeof a, r->ordinary_alloc_failures);
        fmt_count(b, sizeof b, r->ordinary_allocs);
        snprintf(out, len, "%s of %s", a, b);
        break;
    case M_DEV_OK:
        fmt_count(a, sizeof a, r->device_allocs - r->device_alloc_failures);
        fmt_count(b, sizeof b, r->device_allocs);
        snprintf(out, len, "%s of %s", a, b);
        break;
    case M_DEV_RATE:
        if (r->device_allocs)
            fmt_pct(out, len, (double)(r->device_allocs - r->device_alloc_failures) /
                                  (double)r->device_allocs);
        else
            snprintf(out, len, "-");
        break;
    case M_P50: fmt_ns(out, len, r->lat_p50); break;
    case M_P99: fmt_ns(out, len, r->lat_p99); break;
    case M_MAX: fmt_ns(out, len, r->lat_max); break;
    case M_MIGRATED: fmt_count(out, len, r->pages_migrated); break;
    case M_DISCARDED: fmt_count(out, len, r->pages_discarded); break;
    case M_RETRIES: fmt_count(out, len, r->retries); break;
    case M_LFO: snprintf(out, len, "%u", r->largest_free_order); break;
    case M_UNUSABLE: fmt_pct(out, len, r->unusable_order9); break;
    case M_REPLAYED: fmt_count(out, len, r->events_replayed); break;
    case M_SKIPPED: fmt_count(out, len, r->events_skipped); break;
    default: out[0] = '\0'; break;
    }
}

static void machine_line(FILE *f, const struct sim_machine *m)
{
    char b[64];
    fmt_bytes(b, sizeof b, sim_machine_bytes(m));
    fprintf(f, "machine: %s in %u range%s, %u KiB pages", b, m->nr_ranges, m->nr_ranges == 1 ? "" : "s",
            (1u << (m->page_shift ? m->page_shift : 12)) >> 10);
    for (unsigned i = 0; i < m->nr_areas; i++) {
        fmt_bytes(b, sizeof b, m->areas[i].size);
        fprintf(f, "%s area %s %s", i ? "," : ";", m->areas[i].name, b);
    }
    if (m->cmdline[0])
        fprintf(f, "; cmdline %s", m->cmdline);
    fputc('\n', f);
}

void report_table(FILE *f, const struct sim_report *rep)
{
    const size_t lw = 33, cw = 16;
    char buf[128];
    bool replay = rep->kind && !strcmp(rep->kind, "replay");
    if (replay)
        fprintf(f, "cmasim %s: replay %s\n", CMASIM_VERSION, rep->title);
    else
        fprintf(f, "cmasim %s: %s %s, seed %" PRIu64 "\n", CMASIM_VERSION, rep->kind, rep->title,
                rep->seed);
    if (rep->machine)
        machine_line(f, rep->machine);
    fputc('\n', f);
    pad_right(f, "", lw);
    for (size_t i = 0; i < rep->nresults; i++)
        pad_left(f, sim_strategy_name(rep->results[i].strategy), cw);
    fputc('\n', f);
    for (unsigned m = 0; m < M_COUNT; m++) {
        if ((m == M_REPLAYED || m == M_SKIPPED) && !replay)
            continue;
        pad_right(f, metric_label[m], lw);
        for (size_t i = 0; i < rep->nresults; i++) {
            cell(buf, sizeof buf, (enum metric)m, &rep->results[i]);
            pad_left(f, buf, cw);
        }
        fputc('\n', f);
    }
    fprintf(f, "\nlatency: wall time of each device allocation call on this host (%s); memory "
               "available: managed pages minus device buffers.\n",
            rep->machine && rep->machine->backed ? "backed machine: migration copies page contents"
                                                 : "metadata-only machine: no page contents are copied");
}

/* ---- JSON ---------------------------------------------------------------------------------------- */

static void json_str(FILE *f, const char *s)
{
    fputc('"', f);
    for (const unsigned char *p = (const unsigned char *)(s ? s : ""); *p; p++) {
        switch (*p) {
        case '"': fputs("\\\"", f); break;
        case '\\': fputs("\\\\", f); break;
        case '\n': fputs("\\n", f); break;
        case '\r': fputs("\\r", f); break;
        case '\t': fputs("\\t", f); break;
        default:
            if (*p < 0x20)
                fprintf(f, "\\u%04x", *p);
            else
                fputc(*p, f);
        }
    }
    fputc('"', f);
}

static void json_ranges(FILE *f, const struct sim_range *r, unsigned n)
{
    fputc('[', f);
    for (unsigned i = 0; i < n; i++)
        fprintf(f, "%s{\"base\": %" PRIu64 ", \"size\": %" PRIu64 "}", i ? ", " : "", r[i].base,
                r[i].size);
    fputc(']', f);
}

void report_json(FILE *f, const struct sim_report *rep)
{
    bool replay = rep->kind && !strcmp(rep->kind, "replay");
    fprintf(f, "{\n  \"cmasim\": ");
    json_str(f, CMASIM_VERSION);
    fprintf(f, ",\n  \"kind\": ");
    json_str(f, rep->kind);
    fprintf(f, ",\n  \"title\": ");
    json_str(f, rep->title);
    fprintf(f, ",\n  \"seed\": %" PRIu64, rep->seed);
    if (rep->machine) {
        const struct sim_machine *m = rep->machine;
        fprintf(f, ",\n  \"machine\": {\"bytes\": %" PRIu64 ", \"page_size\": %u, \"ranges\": ",
                sim_machine_bytes(m), 1u << (m->page_shift ? m->page_shift : 12));
        json_ranges(f, m->ranges, m->nr_ranges);
        fprintf(f, ", \"reserved\": ");
        json_ranges(f, m->reserved, m->nr_reserved);
        fprintf(f, ", \"areas\": [");
        for (unsigned i = 0; i < m->nr_areas; i++) {
            fprintf(f, "%s{\"name\": ", i ? ", " : "");
            json_str(f, m->areas[i].name);
            fprintf(f, ", \"size\": %" PRIu64 ", \"base\": %" PRIu64 "}", m->areas[i].size,
                    m->areas[i].base);
        }
        fprintf(f, "], \"cmdline\": ");
        json_str(f, m->cmdline);
        fputc('}', f);
    }
    fprintf(f, ",\n  \"strategies\": [");
    for (size_t i = 0; i < rep->nresults; i++) {
        const struct sim_result *r = &rep->results[i];
        double rate = r->device_allocs ? (double)(r->device_allocs - r->device_alloc_failures) /
                                             (double)r->device_allocs
                                       : 1.0;
        fprintf(f, "%s\n    {\"name\": ", i ? "," : "");
        json_str(f, sim_strategy_name(r->strategy));
        fprintf(f,
                ",\n     \"device_allocs\": %" PRIu64 ", \"device_alloc_failures\": %" PRIu64
                ", \"device_alloc_success_rate\": %.6f,\n"
                "     \"latency_ns\": {\"p50\": %" PRIu64 ", \"p99\": %" PRIu64 ", \"max\": %" PRIu64
                "},\n"
                "     \"pages_migrated\": %" PRIu64 ", \"pages_discarded\": %" PRIu64
                ", \"retries\": %" PRIu64 ",\n"
                "     \"avail_bytes_avg\": %" PRIu64 ", \"avail_bytes_min\": %" PRIu64 ",\n"
                "     \"ordinary_allocs\": %" PRIu64 ", \"ordinary_alloc_failures\": %" PRIu64 ",\n"
                "     \"largest_free_order\": %u, \"unusable_order9\": %.6f",
                r->device_allocs, r->device_alloc_failures, rate, r->lat_p50, r->lat_p99, r->lat_max,
                r->pages_migrated, r->pages_discarded, r->retries, r->avail_bytes_avg,
                r->avail_bytes_min, r->ordinary_allocs, r->ordinary_alloc_failures,
                r->largest_free_order, r->unusable_order9);
        if (replay)
            fprintf(f, ",\n     \"events_replayed\": %" PRIu64 ", \"events_skipped\": %" PRIu64,
                    r->events_replayed, r->events_skipped);
        fputc('}', f);
    }
    fprintf(f, "\n  ]\n}\n");
}

/* ---- CSV ----------------------------------------------------------------------------------------- */

void report_csv(FILE *f, const struct sim_report *rep)
{
    bool replay = rep->kind && !strcmp(rep->kind, "replay");
    fputs("strategy,device_allocs,device_alloc_failures,latency_p50_ns,latency_p99_ns,latency_max_ns,"
          "pages_migrated,pages_discarded,retries,avail_bytes_avg,avail_bytes_min,ordinary_allocs,"
          "ordinary_alloc_failures,largest_free_order,unusable_order9",
          f);
    fputs(replay ? ",events_replayed,events_skipped\n" : "\n", f);
    for (size_t i = 0; i < rep->nresults; i++) {
        const struct sim_result *r = &rep->results[i];
        fprintf(f,
                "%s,%" PRIu64 ",%" PRIu64 ",%" PRIu64 ",%" PRIu64 ",%" PRIu64 ",%" PRIu64 ",%" PRIu64
                ",%" PRIu64 ",%" PRIu64 ",%" PRIu64 ",%" PRIu64 ",%" PRIu64 ",%u,%.6f",
                sim_strategy_name(r->strategy), r->device_allocs, r->device_alloc_failures, r->lat_p50,
                r->lat_p99, r->lat_max, r->pages_migrated, r->pages_discarded, r->retries,
                r->avail_bytes_avg, r->avail_bytes_min, r->ordinary_allocs, r->ordinary_alloc_failures,
                r->largest_free_order, r->unusable_order9);
        if (replay)
            fprintf(f, ",%" PRIu64 ",%" PRIu64, r->events_replayed, r->events_skipped);
        fputc('\n', f);
    }
}
