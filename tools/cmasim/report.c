/* SPDX-License-Identifier: MIT */
/*
 * report.c - the results side by side: a terminal table (strategies as columns, metrics as rows, in
 * human units: the rows and their texts are format.c's, shared with the HTML report), one JSON
 * document, or CSV (a header and one row per strategy) for scripts.
 *
 * JSON and CSV carry raw numbers (bytes, nanoseconds, pages) and never depend on the locale. The
 * JSON document:
 *   { "cmasim": VERSION, "kind": "run"|"replay", "title": ..., "seed": N,
 *     "machine": { "bytes", "page_size", "ranges": [{base,size}], "reserved": [...],
 *                  "areas": [{name,size,base}], "cmdline" },
 *     "strategies": [ { "name", "device_allocs", "device_alloc_failures", "device_alloc_success_rate",
 *                       "latency_ns": {"p50","p99","max"}, "pages_migrated", "pages_discarded",
 *                       "retries", "avail_bytes_avg", "avail_bytes_min", "ordinary_allocs",
 *                       "ordinary_alloc_failures", "largest_free_order", "unusable_order9",
 *                       "iommu": {"buffers", "bytes", "iotlb_entries", "bytes_large_entries",
 *                                 "pt_bytes_peak", "iova_frag_avg", "iova_frag_max"} (zero unless
 *                       buffers went through an IOMMU: strategy iommu)
 *                       [, "events_replayed", "events_skipped" (replay)] } ] }
 */
#include "cmasim.h"

#include <inttypes.h>
#include <string.h>

/* ---- table ------------------------------------------------------------------------------------- */

#define NOTE_COLS 100

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

/* Prints text word-wrapped at `cols` columns (notes under the table). */
static void print_wrapped(FILE *f, const char *text, size_t cols)
{
    size_t col = 0;
    while (*text) {
        size_t n = strcspn(text, " ");
        if (col && col + 1 + n > cols) {
            fputc('\n', f);
            col = 0;
        } else if (col) {
            fputc(' ', f);
            col++;
        }
        fwrite(text, 1, n, f);
        col += n;
        text += n;
        while (*text == ' ')
            text++;
    }
    fputc('\n', f);
}

static void machine_line(FILE *f, const struct sim_machine *m)
{
    char b[64];
    sim_fmt_size(b, sizeof b, sim_machine_bytes(m));
    fprintf(f, "machine: %s in %u range%s, %u KiB pages", b, m->nr_ranges, m->nr_ranges == 1 ? "" : "s",
            (1u << (m->page_shift ? m->page_shift : 12)) >> 10);
    for (unsigned i = 0; i < m->nr_areas; i++) {
        sim_fmt_size(b, sizeof b, m->areas[i].size);
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
    for (unsigned m = 0; m < SIM_NMETRICS; m++) {
        if (!sim_metric_shown((enum sim_metric)m, rep))
            continue;
        pad_right(f, sim_metrics[m].label, lw);
        for (size_t i = 0; i < rep->nresults; i++) {
            sim_metric_text(buf, sizeof buf, (enum sim_metric)m, &rep->results[i]);
            pad_left(f, buf, cw);
        }
        fputc('\n', f);
    }
    char note[512];
    snprintf(note, sizeof note, "latency: wall time of each device allocation call on this host (%s); memory "
             "available: managed pages minus device buffers.",
             rep->machine && rep->machine->backed ? "backed machine: migration copies page contents"
                                                  : "metadata-only machine: no page contents are copied");
    fputc('\n', f);
    print_wrapped(f, note, NOTE_COLS);
    if (sim_metric_shown(SIM_M_SKIPPED, rep)) {
        sim_skipped_note(note, sizeof note, rep);
        print_wrapped(f, note, NOTE_COLS);
    }
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
        fprintf(f,
                ",\n     \"iommu\": {\"buffers\": %" PRIu64 ", \"bytes\": %" PRIu64 ", \"iotlb_entries\": %" PRIu64
                ", \"bytes_large_entries\": %" PRIu64 ", \"pt_bytes_peak\": %" PRIu64
                ", \"iova_frag_avg\": %.6f, \"iova_frag_max\": %.6f}",
                r->iommu_buffers, r->iommu_bytes, r->iotlb_entries, r->iotlb_bytes_large, r->pt_bytes_peak,
                r->iova_frag_avg, r->iova_frag_max);
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
          "ordinary_alloc_failures,largest_free_order,unusable_order9,iommu_buffers,iommu_bytes,"
          "iotlb_entries,iommu_bytes_large_entries,pt_bytes_peak,iova_frag_avg,iova_frag_max",
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
        fprintf(f, ",%" PRIu64 ",%" PRIu64 ",%" PRIu64 ",%" PRIu64 ",%" PRIu64 ",%.6f,%.6f", r->iommu_buffers,
                r->iommu_bytes, r->iotlb_entries, r->iotlb_bytes_large, r->pt_bytes_peak, r->iova_frag_avg,
                r->iova_frag_max);
        if (replay)
            fprintf(f, ",%" PRIu64 ",%" PRIu64, r->events_replayed, r->events_skipped);
        fputc('\n', f);
    }
}
