/* SPDX-License-Identifier: MIT */
/*
 * format.c - how cmasim prints a figure, in one place: the terminal table (report.c), the HTML
 * report (html.c) and the messages (machine.c, scenario.c, main.c) all go through these, so the same
 * result reads the same everywhere.
 *
 * Two kinds of byte counts: measured ones (memory available) in a unit chosen for comparison between
 * strategies - KiB below 1 MiB, whole MiB below 64 GiB (differences of a few MiB matter on a phone),
 * then GiB with one decimal - and configured sizes (machine, areas, limits), printed exactly in the
 * largest unit that divides them (2 GiB, 1,536 MiB, 4,095 B). Counts get thousands separators,
 * latencies three significant digits or so (850 ns, 12.3 µs, 4.56 ms), shares one decimal percent.
 *
 * The metric rows (label, text, value, which way is better) are defined once here; report_table and
 * the HTML table print the same rows with the same texts. The pageblock map's merge rank lives here
 * too: sim.c and html.c both reduce groups of pageblocks to their most telling letter.
 *
 * No locale, no libm: html.c's test build links this file and html.c alone.
 */
#include "cmasim.h"

#include <inttypes.h>
#include <string.h>

/* ---- the data model's names and sums (every module prints them) ---------------------------------- */

uint64_t sim_machine_bytes(const struct sim_machine *m)
{
    uint64_t b = 0;
    for (unsigned i = 0; i < m->nr_ranges && i < SIM_MAX_RANGES; i++)
        b += m->ranges[i].size;
    return b;
}

static const char *const strategy_names[SIM_NSTRATEGIES] = {"carveout", "cma-linux", "cma", "cma-discard",
                                                             "iommu"};

bool sim_area_iommu(const struct sim_machine *m, const char *name, unsigned *dma_bits)
{
    *dma_bits = 64;
    if (!m->nr_area_devs)
        return true; /* a trace says nothing about devices: all of them, 64-bit */
    for (unsigned i = 0; i < m->nr_area_devs && i < SIM_MAX_AREAS; i++)
        if (!strcmp(m->area_devs[i].area, name)) {
            *dma_bits = m->area_devs[i].dma_bits;
            return m->area_devs[i].iommu;
        }
    return false;
}

const char *sim_strategy_name(enum sim_strategy s)
{
    return (unsigned)s < SIM_NSTRATEGIES ? strategy_names[s] : "?";
}

/* ---- numbers ---------------------------------------------------------------------------------- */

void sim_fmt_count(char *out, size_t len, uint64_t v)
{
    char digits[32];
    int n = snprintf(digits, sizeof digits, "%" PRIu64, v);
    size_t o = 0;
    if (!len)
        return;
    for (int i = 0; i < n && o + 2 < len; i++) {
        out[o++] = digits[i];
        if ((n - i - 1) % 3 == 0 && i != n - 1)
            out[o++] = ',';
    }
    out[o] = '\0';
}

void sim_fmt_bytes(char *out, size_t len, uint64_t b)
{
    char c[40];
    if (b >= (64ull << 30)) {
        uint64_t tenths = (uint64_t)((long double)b * 10 / (long double)(1ull << 30) + 0.5L);
        sim_fmt_count(c, sizeof c, tenths / 10);
        snprintf(out, len, "%s.%u GiB", c, (unsigned)(tenths % 10));
    } else if (b >= (1ull << 20)) {
        sim_fmt_count(c, sizeof c, b >> 20);
        snprintf(out, len, "%s MiB", c);
    } else {
        snprintf(out, len, "%" PRIu64 " KiB", b >> 10);
    }
}

void sim_fmt_size(char *out, size_t len, uint64_t b)
{
    static const char *const unit[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
    unsigned u = 0;
    char c[40];
    while (u < 6 && b && (b & ((1ull << (10 * (u + 1))) - 1)) == 0)
        u++;
    sim_fmt_count(c, sizeof c, b >> (10 * u));
    snprintf(out, len, "%s %s", c, unit[u]);
}

void sim_fmt_ns(char *out, size_t len, uint64_t ns)
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

void sim_fmt_pct(char *out, size_t len, double share)
{
    snprintf(out, len, "%.1f%%", share * 100);
}

void sim_bytes_axis(uint64_t max, double *div, const char **unit)
{
    if (max >= (4ull << 40)) {
        *div = (double)(1ull << 40);
        *unit = "TiB";
    } else if (max >= (4ull << 30)) {
        *div = (double)(1ull << 30);
        *unit = "GiB";
    } else {
        *div = (double)(1ull << 20);
        *unit = "MiB";
    }
}

/* ---- the metric rows -------------------------------------------------------------------------- */

const struct sim_metric_info sim_metrics[SIM_NMETRICS] = {
    [SIM_M_AVAIL_AVG] = {"memory available, average", +1, false, false},
    [SIM_M_AVAIL_MIN] = {"memory available, minimum", +1, false, false},
    [SIM_M_ORD_FAIL] = {"ordinary allocations failed", -1, false, false},
    [SIM_M_DEV_OK] = {"device allocations ok", +1, false, false},
    [SIM_M_DEV_RATE] = {"device allocation success", +1, false, false},
    [SIM_M_P50] = {"allocation latency p50", -1, false, false},
    [SIM_M_P99] = {"allocation latency p99", -1, false, false},
    [SIM_M_MAX] = {"allocation latency max", -1, false, false},
    [SIM_M_MIGRATED] = {"pages migrated", -1, false, false},
    [SIM_M_DISCARDED] = {"pages discarded", 0, false, false},
    [SIM_M_RETRIES] = {"retries", -1, false, false},
    [SIM_M_LFO] = {"largest free order (end)", +1, false, false},
    [SIM_M_UNUSABLE] = {"free memory unusable at order 9", -1, false, false},
    [SIM_M_PT_PEAK] = {"IO page tables, peak", -1, false, true},
    [SIM_M_IOTLB_PER_BUF] = {"IOTLB entries per buffer", -1, false, true},
    [SIM_M_IOTLB_LARGE] = {"mapped by 2 MiB+ entries", +1, false, true},
    [SIM_M_IOTLB_REACH] = {"reach of 64 IOTLB entries", +1, false, true},
    [SIM_M_IOVA_FRAG] = {"IOVA fragmentation, max", -1, false, true},
    [SIM_M_REPLAYED] = {"events replayed", 0, true, false},
    [SIM_M_SKIPPED] = {"events skipped", 0, true, false},
};

/* Bytes one entry covers on average, over the buffers mapped through an IOMMU. */
static double entry_bytes(const struct sim_result *r)
{
    return r->iotlb_entries ? (double)r->iommu_bytes / (double)r->iotlb_entries : 0;
}

static double dev_rate(const struct sim_result *r)
{
    return r->device_allocs ? (double)(r->device_allocs - r->device_alloc_failures) / (double)r->device_allocs
                            : 0;
}

double sim_metric_value(enum sim_metric m, const struct sim_result *r)
{
    switch (m) {
    case SIM_M_AVAIL_AVG: return (double)r->avail_bytes_avg;
    case SIM_M_AVAIL_MIN: return (double)r->avail_bytes_min;
    case SIM_M_ORD_FAIL: return (double)r->ordinary_alloc_failures;
    case SIM_M_DEV_OK: return (double)(r->device_allocs - r->device_alloc_failures);
    case SIM_M_DEV_RATE: return dev_rate(r);
    case SIM_M_P50: return (double)r->lat_p50;
    case SIM_M_P99: return (double)r->lat_p99;
    case SIM_M_MAX: return (double)r->lat_max;
    case SIM_M_MIGRATED: return (double)r->pages_migrated;
    case SIM_M_DISCARDED: return (double)r->pages_discarded;
    case SIM_M_RETRIES: return (double)r->retries;
    case SIM_M_LFO: return (double)r->largest_free_order;
    case SIM_M_UNUSABLE: return r->unusable_order9;
    case SIM_M_PT_PEAK: return (double)r->pt_bytes_peak;
    case SIM_M_IOTLB_PER_BUF:
        return r->iommu_buffers ? (double)r->iotlb_entries / (double)r->iommu_buffers : 0;
    case SIM_M_IOTLB_LARGE: return r->iommu_bytes ? (double)r->iotlb_bytes_large / (double)r->iommu_bytes : 0;
    case SIM_M_IOTLB_REACH: return 64 * entry_bytes(r);
    case SIM_M_IOVA_FRAG: return r->iova_frag_max;
    case SIM_M_REPLAYED: return (double)r->events_replayed;
    case SIM_M_SKIPPED: return (double)r->events_skipped;
    case SIM_NMETRICS: break;
    }
    return 0;
}

/* "A of B" with separators */
static void fmt_of(char *out, size_t len, uint64_t a, uint64_t b)
{
    char x[40], y[40];
    sim_fmt_count(x, sizeof x, a);
    sim_fmt_count(y, sizeof y, b);
    snprintf(out, len, "%s of %s", x, y);
}

void sim_metric_text(char *out, size_t len, enum sim_metric m, const struct sim_result *r)
{
    switch (m) {
    case SIM_M_AVAIL_AVG: sim_fmt_bytes(out, len, r->avail_bytes_avg); break;
    case SIM_M_AVAIL_MIN: sim_fmt_bytes(out, len, r->avail_bytes_min); break;
    case SIM_M_ORD_FAIL: fmt_of(out, len, r->ordinary_alloc_failures, r->ordinary_allocs); break;
    case SIM_M_DEV_OK: fmt_of(out, len, r->device_allocs - r->device_alloc_failures, r->device_allocs); break;
    case SIM_M_DEV_RATE:
        if (r->device_allocs)
            sim_fmt_pct(out, len, dev_rate(r));
        else
            snprintf(out, len, "-");
        break;
    case SIM_M_P50: sim_fmt_ns(out, len, r->lat_p50); break;
    case SIM_M_P99: sim_fmt_ns(out, len, r->lat_p99); break;
    case SIM_M_MAX: sim_fmt_ns(out, len, r->lat_max); break;
    case SIM_M_MIGRATED: sim_fmt_count(out, len, r->pages_migrated); break;
    case SIM_M_DISCARDED: sim_fmt_count(out, len, r->pages_discarded); break;
    case SIM_M_RETRIES: sim_fmt_count(out, len, r->retries); break;
    case SIM_M_LFO: snprintf(out, len, "%u", r->largest_free_order); break;
    case SIM_M_UNUSABLE: sim_fmt_pct(out, len, r->unusable_order9); break;
    case SIM_M_PT_PEAK:
    case SIM_M_IOTLB_PER_BUF:
    case SIM_M_IOTLB_LARGE:
    case SIM_M_IOTLB_REACH:
    case SIM_M_IOVA_FRAG:
        if (!r->iommu_buffers)
            snprintf(out, len, "-"); /* no buffer went through an IOMMU: nothing to translate */
        else if (m == SIM_M_PT_PEAK)
            sim_fmt_bytes(out, len, r->pt_bytes_peak);
        else if (m == SIM_M_IOTLB_PER_BUF)
            snprintf(out, len, "%.1f", sim_metric_value(m, r));
        else if (m == SIM_M_IOTLB_REACH)
            sim_fmt_bytes(out, len, (uint64_t)sim_metric_value(m, r));
        else
            sim_fmt_pct(out, len, sim_metric_value(m, r));
        break;
    case SIM_M_REPLAYED: sim_fmt_count(out, len, r->events_replayed); break;
    case SIM_M_SKIPPED: sim_fmt_count(out, len, r->events_skipped); break;
    default: out[0] = '\0'; break;
    }
}

bool sim_metric_shown(enum sim_metric m, const struct sim_report *rep)
{
    bool replay = rep->kind && !strcmp(rep->kind, "replay"), iommu = false;
    for (size_t i = 0; i < rep->nresults; i++)
        iommu |= rep->results[i].iommu_buffers > 0;
    return (!sim_metrics[m].replay_only || replay) && (!sim_metrics[m].iommu_only || iommu);
}

void sim_skipped_note(char *out, size_t len, const struct sim_report *rep)
{
    char a[40];
    sim_fmt_count(a, sizeof a, rep->trace_skipped);
    snprintf(out, len,
             "events skipped: events not replayed. %s the trace parser set aside (event types cmasim "
             "does not replay, cma_alloc_start, frees of pages allocated before tracing began: "
             "docs/trace-format.md); above that, per strategy, events on objects whose allocation "
             "failed on the simulated machine.",
             a);
}

/* ---- pageblock map letters -------------------------------------------------------------------- */

int sim_pb_rank(char c)
{
    switch (c) {
    case 'I': return 20;
    case 'U': return 19;
    case 'R': return 18;
    case 'H': return 17;
    case 'M': return 16;
    case 'C': return 15;
    case 'i': return 10;
    case 'u': return 9;
    case 'r': return 8;
    case 'h': return 7;
    case 'm': return 6;
    case 'c': return 5;
    default: return 0; /* '.' hole */
    }
}
