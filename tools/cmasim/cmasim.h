/* SPDX-License-Identifier: MIT */
/*
 * cmasim.h - the simulator's data model, shared by its modules. cmasim uses only libcma's public
 * API (<cma/cma.h>): it drives the real library on a simulated machine.
 *
 * Flow: a scenario (scenario.c) or a trace (trace.c) becomes a machine description plus one list of
 * workload events. Before anything runs, the machine is checked against libcma's limits and its
 * boot layout built once on a probe (machine.c), so a bad input is reported with the line or option
 * that caused it. The engine (sim.c) replays that same list once per strategy, each on a fresh
 * machine, measuring the wall time of every device allocation and sampling memory over simulated
 * time. The reports (report.c: table, JSON, CSV; html.c: one self-contained HTML file with SVG)
 * print the results side by side.
 *
 * Modules:
 *   main.c      command line (run, replay, scenarios, --help, --version), exit codes, input checks
 *   scenario.c  scenario file format + built-in scenarios, and the seeded workload generator
 *   trace.c     trace parsers: cmasim's native line format and Linux ftrace text
 *   machine.c   machine limits, boot layout with explained refusals, the probe
 *   sim.c       the engine: machine setup per strategy, event replay, owners, metrics (the iommu
 *               strategy's domains and devices through libcma's DMA API)
 *   report.c    terminal table, JSON and CSV
 *   html.c      the HTML report
 *   format.c    the one number formatter and metric rows of report.c and html.c
 *   progress.c  the progress line on a terminal
 */
#ifndef CMASIM_H
#define CMASIM_H

#include <cma/cma.h>
#include <stdio.h>

#define CMASIM_VERSION "0.1.0"

/* Exit codes (documented in docs/cmasim.md, EXIT STATUS). */
enum {
    CMASIM_EXIT_OK = 0,
    CMASIM_EXIT_USAGE = 2,   /* bad command line, including a machine --mem/--cmdline cannot build */
    CMASIM_EXIT_INPUT = 3,   /* scenario or trace unreadable, malformed, beyond a limit, or not
                                replayable on its machine (no events, areas that do not match) */
    CMASIM_EXIT_SETUP = 4,   /* the machine cannot be built on this host (memory), or the library
                                refused it while building it for a strategy */
    CMASIM_EXIT_OUTPUT = 5,  /* a report could not be written */
    CMASIM_EXIT_INTERNAL = 6 /* invariant checker failed: a libcma bug */
};

/* Events one run may hold: about 40 bytes each, so at most ~2 GiB (docs/cmasim.md, LIMITS). A
 * scenario that would generate more is refused before generating, a trace that holds more while it
 * loads. */
#define SIM_MAX_EVENTS 50000000ull

/* ---- strategies --------------------------------------------------------------------------------- */
enum sim_strategy {
    SIM_CARVEOUT,    /* area reserved at boot and never lent: instant, memory lost to others */
    SIM_CMA_LINUX,   /* CMA_POLICY_LINUX: lowest window, step one alignment unit, no discard */
    SIM_CMA,         /* CMA_POLICY_DEFAULT with discard disabled */
    SIM_CMA_DISCARD, /* CMA_POLICY_DEFAULT with clean page-cache pages dropped (GCMA-style) */
    SIM_IOMMU,       /* devices behind an IOMMU take scattered pages through the DMA API (dma.h):
                        no area for them; the others keep theirs (as SIM_CMA) */
    SIM_NSTRATEGIES
};
const char *sim_strategy_name(enum sim_strategy s);
/* Parses "carveout,cma-linux,cma,cma-discard,iommu" into a mask of (1 << strategy). 0 on error. */
unsigned sim_strategy_parse(const char *list);

/* ---- the machine ------------------------------------------------------------------------------- */
#define SIM_MAX_RANGES 16
#define SIM_MAX_AREAS 8

struct sim_range {
    uint64_t base, size; /* bytes */
};

struct sim_area {
    char name[64];
    uint64_t size;       /* bytes */
    uint64_t base;       /* 0 = anywhere */
};

/* What the devices that use an area say about themselves (scenario `device` lines). */
struct sim_area_dev {
    char area[64];
    bool iommu;               /* every device using the area sits behind an IOMMU */
    unsigned dma_bits;        /* the smallest addressing limit among them (default 64) */
};

struct sim_machine {
    unsigned page_shift;                      /* 12 */
    unsigned nr_ranges;
    struct sim_range ranges[SIM_MAX_RANGES];  /* memory (holes between them) */
    unsigned nr_reserved;
    struct sim_range reserved[SIM_MAX_RANGES];
    unsigned nr_areas;                        /* explicit areas ... */
    struct sim_area areas[SIM_MAX_AREAS];
    char cmdline[256];                        /* ... and/or a cma= string */
    bool backed;                              /* page contents exist (migration copies bytes) */
    /* where each setting was written, for messages: a line of the scenario or trace file; 0 when
     * it came from the command line (--mem, --cmdline) or is a default */
    unsigned line_ranges[SIM_MAX_RANGES], line_reserved[SIM_MAX_RANGES], line_areas[SIM_MAX_AREAS];
    unsigned line_cmdline, line_page_size;
    /* per area, its devices (scenarios; none for traces: under `iommu` every area of a trace is a
     * device behind an IOMMU, 64-bit) */
    unsigned nr_area_devs;
    struct sim_area_dev area_devs[SIM_MAX_AREAS];
};
/* Is the device of area `name` behind an IOMMU (strategy iommu), and its addressing limit in bits. */
bool sim_area_iommu(const struct sim_machine *m, const char *name, unsigned *dma_bits);
uint64_t sim_machine_bytes(const struct sim_machine *m);

/* ---- workload events --------------------------------------------------------------------------- */
enum sim_op {
    SIM_OP_ALLOC,       /* id order gfp [movable] [clean]: an ordinary page allocation */
    SIM_OP_FREE,        /* id */
    SIM_OP_MOVABLE,     /* id: register movable ops (page cache, anon) */
    SIM_OP_CLEAN,       /* id: contents clean (droppable when discard is allowed) */
    SIM_OP_DIRTY,       /* id */
    SIM_OP_PIN,         /* id: long-term pin (moves out of CMA first) */
    SIM_OP_UNPIN,       /* id */
    SIM_OP_GET,         /* id: short-term reference held until SIM_OP_PUT (a driver pinning) */
    SIM_OP_PUT,         /* id */
    SIM_OP_CMA_ALLOC,   /* id area count align_order: a device buffer */
    SIM_OP_CMA_RELEASE, /* id */
};

/* Object classes, for ordinary allocations (what the pages stand for). */
enum sim_class { SIM_CLASS_OTHER, SIM_CLASS_PAGECACHE, SIM_CLASS_ANON, SIM_CLASS_KERNEL,
                 SIM_CLASS_PINNED, SIM_NCLASSES };

struct sim_event {
    uint64_t t_ns;          /* simulated time, non-decreasing */
    enum sim_op op;
    uint8_t order;          /* ALLOC */
    uint8_t gfp;            /* ALLOC: CMA_GFP_UNMOVABLE / MOVABLE / RECLAIMABLE */
    uint8_t cls;            /* ALLOC: enum sim_class */
    uint8_t flags;          /* ALLOC: SIM_EV_MOVABLE | SIM_EV_CLEAN */
    uint8_t area;           /* CMA_ALLOC: index into sim_machine areas as declared (cmdline areas
                               come first in declaration order) */
    uint8_t align_order;    /* CMA_ALLOC */
    uint32_t line;          /* source line (traces), 0 for generated events */
    uint64_t id;            /* object id: ties FREE/PIN/... to their ALLOC, RELEASE to CMA_ALLOC */
    uint64_t count;         /* CMA_ALLOC: pages */
};
#define SIM_EV_MOVABLE 0x1
#define SIM_EV_CLEAN 0x2

struct sim_trace {
    struct sim_event *ev;
    size_t n, cap;
    uint64_t events_skipped;  /* unknown or unsupported events, counted and skipped */
    uint64_t max_id;
    char area_names[SIM_MAX_AREAS][64]; /* for traces: areas named by the trace, in index order */
    unsigned nr_area_names;
    uint64_t events_lost;     /* ftrace: events the kernel reported lost ("CPU:N [LOST M EVENTS]") */
};
/* Appends an event (grows the array); returns 0 or -1 on out of memory. */
int sim_trace_push(struct sim_trace *t, const struct sim_event *ev);
void sim_trace_free(struct sim_trace *t);

/* ---- results ------------------------------------------------------------------------------------ */
struct sim_sample {
    uint64_t t_ns;
    uint64_t avail_bytes;   /* memory available to the rest of the system at that time */
};

struct sim_result {
    enum sim_strategy strategy;
    uint64_t device_allocs;          /* device allocation attempts */
    uint64_t device_alloc_failures;
    uint64_t *lat_ns;                /* wall time of every device allocation attempt */
    size_t nlat;
    uint64_t lat_p50, lat_p99, lat_max;
    uint64_t pages_migrated, pages_discarded, retries;
    uint64_t avail_bytes_avg, avail_bytes_min;
    uint64_t ordinary_allocs, ordinary_alloc_failures;
    unsigned largest_free_order;     /* at the end of the run */
    double unusable_order9;          /* share of free memory in blocks below order 9, end of run */
    uint64_t events_replayed, events_skipped;
    struct sim_sample *samples;
    size_t nsamples;
    /* pageblock map snapshots: nsnap rows of npb characters (cma_mm_dump map letters); each cell
     * stands for pb_total / npb pageblocks of pb_bytes (sim.c merges big machines' pageblocks) */
    char *pbmap;
    uint64_t *snap_t_ns;
    size_t nsnap, npb;
    uint64_t pb_total, pb_bytes;
    /* buffers mapped through an IOMMU (strategy iommu; zero otherwise) */
    uint64_t iommu_buffers;          /* successful cma_dma_alloc calls through an IOMMU */
    uint64_t iommu_bytes;            /* bytes they mapped */
    uint64_t iotlb_entries;          /* page-table leaves they needed: one IOTLB entry each */
    uint64_t iotlb_bytes_large;      /* bytes mapped by 2 MiB or larger leaves */
    uint64_t pt_bytes_peak;          /* IO page tables of every domain at their largest (sum) */
    double iova_frag_avg, iova_frag_max; /* 1 - largest free IOVA gap / free IOVA, after each one */
};
void sim_result_free(struct sim_result *r);

/* ---- scenario.c --------------------------------------------------------------------------------- */
struct sim_scenario {
    char name[64];
    char description[256];
    struct sim_machine machine;
    /* generator parameters: see scenarios/README and docs/cmasim.md */
    uint64_t duration_ns, step_ns;
    uint64_t seed;
    /* ... further fields are scenario.c's own business */
    void *gen;  /* private generator state/parameters */
};
/* Loads a built-in scenario by name, or a scenario file by path, and checks its machine
 * (sim_machine_check) and devices against it. Returns 0, or an exit code (CMASIM_EXIT_INPUT, or
 * CMASIM_EXIT_SETUP when the host cannot hold the machine) with "file:line: what is wrong" in err. */
int sim_scenario_load(const char *name_or_path, struct sim_scenario *sc, char *err, size_t errlen);
void sim_scenario_free(struct sim_scenario *sc);
/* Names of the built-ins, NULL-terminated, with one-line descriptions. */
const char *const *sim_builtin_names(void);
const char *sim_builtin_description(const char *name);
/* Generates the workload deterministically from seed (quick: shorter run for tests/demo). Refuses,
 * before generating, a workload above SIM_MAX_EVENTS, naming the line that produces the most.
 * Returns 0 or -1 with "file:line: what is wrong" in err. */
int sim_scenario_generate(const struct sim_scenario *sc, uint64_t seed, bool quick,
                          struct sim_trace *out, char *err, size_t errlen);

/* ---- machine.c ----------------------------------------------------------------------------------- */
/* What the library makes of a machine description. */
struct sim_layout {
    uint64_t page_size;
    unsigned nr_areas;                 /* in declaration order: cmdline areas first */
    char area_name[SIM_MAX_AREAS][64];
    uint64_t area_pages[SIM_MAX_AREAS]; /* after the library's rounding to the CMA alignment */
};
/* Checks m against libcma's limits and builds its boot layout on a throw-away machine. file names
 * the file m's line numbers refer to (NULL: none). Returns 0, or an exit code with the message in
 * err, starting "FILE:LINE:" (CMASIM_EXIT_INPUT) or "--mem:" / "--cmdline:" (CMASIM_EXIT_USAGE). */
int sim_machine_check(const struct sim_machine *m, const char *file, struct sim_layout *lay, char *err,
                      size_t errlen);
/* A machine for m's page size and backing, one CPU. Returns 0 or a negative errno (message in err). */
int sim_machine_create(const struct sim_machine *m, struct cma_mm **mmp, char *err, size_t errlen);
/* memblock ranges and reservations, then (declare_areas) the cma= string and the areas, in that
 * order, each refusal explained as sim_machine_check does. Returns 0 or an exit code. */
int sim_machine_boot(struct cma_mm *mm, const struct sim_machine *m, const char *file, bool declare_areas,
                     char *err, size_t errlen);

/* ---- trace.c ------------------------------------------------------------------------------------ */
enum sim_trace_format { SIM_TRACE_AUTO, SIM_TRACE_NATIVE, SIM_TRACE_FTRACE };
/* Parses a trace file. Malformed lines: returns -1 with "file:line: what is wrong" in err.
 * Unknown events are counted in t->events_skipped. The machine is left untouched unless the
 * native trace carries `machine` lines (then it is filled). */
int sim_trace_load(const char *path, enum sim_trace_format fmt, struct sim_trace *t,
                   struct sim_machine *m, char *err, size_t errlen);
/* Parses a size: decimal with an optional binary suffix K M G T P E (optionally followed by "B" or
 * "iB"), or 0x hex. The one size syntax of traces, scenario files and the command line. */
bool sim_parse_size(const char *s, uint64_t *v);

/* ---- sim.c -------------------------------------------------------------------------------------- */
struct sim_options {
    unsigned index, count;  /* this strategy is number index (1-based) of count, for the progress line */
    uint64_t seed;
    bool quick;
    uint64_t sample_every_ns; /* memory sampling period in simulated time (0: auto) */
    unsigned max_snapshots;   /* pageblock map snapshots (0: auto, 60) */
};
/* Replays t on a fresh machine built from m for one strategy. Returns 0, or an exit code. */
int sim_run(const struct sim_machine *m, const struct sim_trace *t, enum sim_strategy s,
            const struct sim_options *o, struct sim_result *r, char *err, size_t errlen);

/* ---- report.c / html.c ----------------------------------------------------------------------- */
struct sim_report {
    const char *title;        /* scenario or trace name */
    const char *kind;         /* "run" or "replay" */
    uint64_t seed;
    const struct sim_machine *machine;
    const struct sim_result *results;
    size_t nresults;
    uint64_t trace_skipped;   /* replay: events the trace parser set aside (part of events_skipped) */
};
void report_table(FILE *f, const struct sim_report *rep);
void report_json(FILE *f, const struct sim_report *rep);
void report_csv(FILE *f, const struct sim_report *rep);
int report_html(const char *path, const struct sim_report *rep);

/* ---- format.c: the one way figures are printed ------------------------------------------------- */
void sim_fmt_count(char *out, size_t len, uint64_t v);   /* 1,234,567 */
void sim_fmt_bytes(char *out, size_t len, uint64_t b);   /* measured: 812 KiB, 1,803 MiB, 1,023.5 GiB */
void sim_fmt_size(char *out, size_t len, uint64_t b);    /* configured, exact: 2 GiB, 1,536 MiB, 4,095 B */
void sim_fmt_ns(char *out, size_t len, uint64_t ns);     /* 850 ns, 12.3 µs, 4.56 ms, 1.20 s */
void sim_fmt_pct(char *out, size_t len, double share);   /* 0.125 -> 12.5% */
/* Unit of a chart axis of bytes up to max: MiB, GiB from 4 GiB, TiB from 4 TiB. */
void sim_bytes_axis(uint64_t max, double *div, const char **unit);

enum sim_metric {
    SIM_M_AVAIL_AVG, SIM_M_AVAIL_MIN, SIM_M_ORD_FAIL, SIM_M_DEV_OK, SIM_M_DEV_RATE, SIM_M_P50, SIM_M_P99,
    SIM_M_MAX, SIM_M_MIGRATED, SIM_M_DISCARDED, SIM_M_RETRIES, SIM_M_LFO, SIM_M_UNUSABLE,
    SIM_M_PT_PEAK, SIM_M_IOTLB_PER_BUF, SIM_M_IOTLB_LARGE, SIM_M_IOTLB_REACH, SIM_M_IOVA_FRAG,
    SIM_M_REPLAYED, SIM_M_SKIPPED, SIM_NMETRICS
};
struct sim_metric_info {
    const char *label;
    int better;        /* +1 higher is better, -1 lower, 0 neither */
    bool replay_only;  /* shown for replays only */
    bool iommu_only;   /* shown when some strategy mapped buffers through an IOMMU */
};
extern const struct sim_metric_info sim_metrics[SIM_NMETRICS];
void sim_metric_text(char *out, size_t len, enum sim_metric m, const struct sim_result *r);
double sim_metric_value(enum sim_metric m, const struct sim_result *r);
bool sim_metric_shown(enum sim_metric m, const struct sim_report *rep);
/* The explanation printed under a table that shows the events-skipped row. */
void sim_skipped_note(char *out, size_t len, const struct sim_report *rep);
/* Rank of a pageblock map letter when a group of pageblocks is shown as one: the most telling wins
 * (isolated > unmovable > reclaimable > highatomic > movable > CMA, then the same free, then hole). */
int sim_pb_rank(char c);

/* ---- progress.c: one line on stderr while cmasim works (only when enabled: stderr a terminal) -- */
void sim_progress_enable(bool on);
/* Starts a phase ("strategy 2 of 4 (cma-linux): building the machine"), drawn at once. */
__attribute__((format(printf, 1, 2))) void sim_progress_phase(const char *fmt, ...);
/* done of total in the current phase (total 0: unknown, done is shown as a count). */
void sim_progress_update(uint64_t done, uint64_t total);
/* Erases the line (before results or messages are printed). */
void sim_progress_clear(void);

#endif /* CMASIM_H */
