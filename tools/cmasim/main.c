/* SPDX-License-Identifier: MIT */
/*
 * main.c - cmasim's command line: run a scenario or replay a trace against every strategy, print the
 * results, exit with a documented code (cmasim.h).
 *
 *   cmasim run SCENARIO [--strategy LIST] [--seed N] [--quick] [--report FILE] [--json | --csv]
 *   cmasim replay TRACE [--format auto|native|ftrace] [--mem SIZE] [--cmdline "cma=..."]
 *                       [--strategy LIST] [--report FILE] [--json | --csv]
 *   cmasim scenarios [NAME]
 *   cmasim --help | --version
 *
 * Options may come before or after the positional argument, as `--opt value` or `--opt=value`; an
 * option the command does not take is refused (opts[] says which command takes which). Diagnostics
 * go to stderr prefixed "cmasim: " ("cmasim: warning: " when the run goes on); results go to stdout;
 * the progress line goes to stderr and only when stderr is a terminal.
 *
 * Everything that can be checked is checked before the first strategy runs, in this order: the
 * command line, the --report file (can it be written?), the scenario or trace, the machine
 * (machine.c: libcma's limits and layout), and for a replay whether the trace fits the machine (it
 * has events; every CMA area it allocates from is declared, by name).
 */
#define _POSIX_C_SOURCE 200809L
#include "builtin.h"
#include "cmasim.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char usage_text[] =
    "usage: cmasim run SCENARIO [options]\n"
    "       cmasim replay TRACE [--format auto|native|ftrace] [--mem SIZE] [--cmdline \"cma=...\"] "
    "[options]\n"
    "       cmasim scenarios [NAME]\n"
    "       cmasim --help | --version\n";

static const char help_text[] =
    "\n"
    "cmasim drives the real libcma on a simulated machine and compares what contiguous memory costs\n"
    "under five strategies, on the same workload and seed:\n"
    "  carveout     the areas are taken away at boot and never lent: instant, lost to everyone else\n"
    "  cma-linux    CMA areas with Linux's policy (lowest window, retry one alignment step further)\n"
    "  cma          CMA areas with libcma's policy (cheapest window, skip busy pages), no discard\n"
    "  cma-discard  as cma, and clean page-cache pages are dropped instead of migrated\n"
    "  iommu        devices behind an IOMMU (`iommu` on their line; every device of a trace) take\n"
    "               scattered pages mapped by an IOMMU: no area for them; the others as cma\n"
    "\n"
    "commands:\n"
    "  run SCENARIO       SCENARIO is a built-in name (see `cmasim scenarios`) or a scenario file\n"
    "  replay TRACE       replay a recorded trace (cmasim's native format or Linux ftrace text)\n"
    "  scenarios [NAME]   list the built-in scenarios, or print one (a starting point for your own)\n"
    "\n"
    "options:\n"
    "  --strategy LIST    comma-separated strategies, or all (default: all five, in this order:\n"
    "                     carveout,cma-linux,cma,cma-discard,iommu)\n"
    "  --seed N           run only: workload seed (default: the scenario's `seed`, else 1); the same\n"
    "                     seed gives the same allocation decisions and counts\n"
    "  --quick            run only: a short run (the scenario's `quick` duration), for tests\n"
    "  --report FILE      also write a self-contained HTML report\n"
    "  --json             print one JSON document instead of the table\n"
    "  --csv              print CSV (a header and one row per strategy) instead of the table\n"
    "replay only:\n"
    "  --format F         auto (default), native or ftrace\n"
    "  --mem SIZE         memory of the machine (e.g. 4G), when the trace does not describe it\n"
    "  --cmdline STR      a kernel command line declaring the CMA areas, e.g. \"cma=256M\"\n"
    "\n"
    "exit codes: 0 ok; 2 bad command line (including a --mem or --cmdline libcma cannot build);\n"
    "            3 scenario or trace unreadable, malformed, beyond a limit, or not replayable on its\n"
    "            machine; 4 the host cannot hold the machine, or the library refused it; 5 a report\n"
    "            cannot be written; 6 the invariant checker failed (a libcma bug)\n";

/* "cmasim: message" on stderr, after erasing the progress line; returns code. */
__attribute__((format(printf, 2, 3))) static int fail(int code, const char *fmt, ...)
{
    va_list ap;
    sim_progress_clear();
    fputs("cmasim: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    return code;
}

/* "cmasim: warning: message" on stderr; the run goes on. */
__attribute__((format(printf, 1, 2))) static void warn(const char *fmt, ...)
{
    va_list ap;
    sim_progress_clear();
    fputs("cmasim: warning: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}

/* Prints the message (if not empty) and the usage to stderr; returns CMASIM_EXIT_USAGE. */
__attribute__((format(printf, 1, 2))) static int usage(const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (msg[0])
        fprintf(stderr, "cmasim: %s\n", msg);
    fputs(usage_text, stderr);
    fputs("Try 'cmasim --help' for more.\n", stderr);
    return CMASIM_EXIT_USAGE;
}

enum { CMD_RUN = 1, CMD_REPLAY = 2, CMD_SCENARIOS = 4 };

/* Every option, and the commands that take it. */
enum opt_id { O_STRATEGY, O_SEED, O_QUICK, O_REPORT, O_JSON, O_CSV, O_FORMAT, O_MEM, O_CMDLINE, O_N };
static const struct {
    const char *name;
    bool value;
    unsigned cmds;
} opts[O_N] = {
    [O_STRATEGY] = {"--strategy", true, CMD_RUN | CMD_REPLAY},
    [O_SEED] = {"--seed", true, CMD_RUN},
    [O_QUICK] = {"--quick", false, CMD_RUN},
    [O_REPORT] = {"--report", true, CMD_RUN | CMD_REPLAY},
    [O_JSON] = {"--json", false, CMD_RUN | CMD_REPLAY},
    [O_CSV] = {"--csv", false, CMD_RUN | CMD_REPLAY},
    [O_FORMAT] = {"--format", true, CMD_REPLAY},
    [O_MEM] = {"--mem", true, CMD_REPLAY},
    [O_CMDLINE] = {"--cmdline", true, CMD_REPLAY},
};

struct cli {
    const char *cmd;
    unsigned cmd_bit;
    const char *target;
    unsigned given; /* 1 << enum opt_id */
    unsigned strategies;
    uint64_t seed;
    bool quick, json, csv;
    const char *report;
    enum sim_trace_format format;
    uint64_t mem;
    const char *cmdline;
};

static bool parse_u64(const char *s, uint64_t *out)
{
    char *end;
    errno = 0;
    if (!isdigit((unsigned char)*s))
        return false;
    unsigned long long v = strtoull(s, &end, 0);
    if (errno || *end)
        return false;
    *out = v;
    return true;
}

/* One option with its value (NULL for a flag). Returns 0 or CMASIM_EXIT_USAGE. */
static int take_option(struct cli *c, enum opt_id id, const char *val)
{
    c->given |= 1u << id;
    switch (id) {
    case O_STRATEGY:
        if (!(c->strategies = sim_strategy_parse(val)))
            return usage("bad --strategy '%s' (comma-separated: carveout, cma-linux, cma, cma-discard, iommu, "
                         "or all)",
                         val);
        return 0;
    case O_SEED:
        if (!parse_u64(val, &c->seed))
            return usage("bad --seed '%s' (a non-negative integer)", val);
        return 0;
    case O_REPORT:
        if (!*val)
            return usage("--report needs a file name");
        c->report = val;
        return 0;
    case O_FORMAT:
        if (!strcmp(val, "auto"))
            c->format = SIM_TRACE_AUTO;
        else if (!strcmp(val, "native"))
            c->format = SIM_TRACE_NATIVE;
        else if (!strcmp(val, "ftrace"))
            c->format = SIM_TRACE_FTRACE;
        else
            return usage("bad --format '%s' (auto, native or ftrace)", val);
        return 0;
    case O_MEM:
        if (!sim_parse_size(val, &c->mem) || !c->mem)
            return usage("bad --mem '%s' (a size such as 4G)", val);
        return 0;
    case O_CMDLINE:
        if (strlen(val) >= sizeof ((struct sim_machine *)0)->cmdline)
            return usage("--cmdline longer than %zu characters", sizeof ((struct sim_machine *)0)->cmdline - 1);
        c->cmdline = val;
        return 0;
    case O_QUICK: c->quick = true; return 0;
    case O_JSON: c->json = true; return 0;
    case O_CSV: c->csv = true; return 0;
    case O_N: break;
    }
    return 0;
}

static const char *cmds_text(unsigned cmds)
{
    return cmds == CMD_RUN ? "run" : cmds == CMD_REPLAY ? "replay" : "run and replay";
}

/* Returns 0, or an exit code (after printing). Sets *done for --help/--version. */
static int parse_args(int argc, char **argv, struct cli *c, bool *done)
{
    *done = false;
    memset(c, 0, sizeof *c);
    c->strategies = (1u << SIM_NSTRATEGIES) - 1;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (a[0] != '-' || a[1] == '\0') {
            if (!c->cmd)
                c->cmd = a;
            else if (!c->target)
                c->target = a;
            else
                return usage("unexpected argument '%s'", a);
            continue;
        }
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            fputs(usage_text, stdout);
            fputs(help_text, stdout);
            *done = true;
            return 0;
        }
        if (!strcmp(a, "--version") || !strcmp(a, "-V")) {
            printf("cmasim %s (libcma %s)\n", CMASIM_VERSION, cma_version());
            *done = true;
            return 0;
        }
        /* --opt=value or --opt value */
        const char *eq = strchr(a, '=');
        size_t n = eq ? (size_t)(eq - a) : strlen(a);
        int id = -1;
        for (int k = 0; k < O_N; k++)
            if (strlen(opts[k].name) == n && !strncmp(opts[k].name, a, n))
                id = k;
        if (id < 0)
            return usage("unknown option '%s'", a);
        const char *val = NULL;
        if (opts[id].value) {
            if (eq)
                val = eq + 1;
            else if (i + 1 < argc)
                val = argv[++i];
            else
                return usage("option '%s' needs a value", opts[id].name);
        } else if (eq) {
            return usage("option '%s' takes no value", opts[id].name);
        }
        int r = take_option(c, (enum opt_id)id, val);
        if (r)
            return r;
    }
    if (!c->cmd)
        return usage("%s", "");
    c->cmd_bit = !strcmp(c->cmd, "run")         ? CMD_RUN
                 : !strcmp(c->cmd, "replay")    ? CMD_REPLAY
                 : !strcmp(c->cmd, "scenarios") ? CMD_SCENARIOS
                                                : 0;
    if (!c->cmd_bit)
        return usage("unknown command '%s'", c->cmd);
    for (int k = 0; k < O_N; k++)
        if ((c->given & (1u << k)) && !(opts[k].cmds & c->cmd_bit))
            return usage("%s applies to %s only, not to %s", opts[k].name, cmds_text(opts[k].cmds), c->cmd);
    if (c->json && c->csv)
        return usage("--json and --csv are exclusive");
    return 0;
}

static int cmd_scenarios(const struct cli *c)
{
    if (c->target) {
        const char *text = sim_builtin_text(c->target);
        if (!text)
            return fail(CMASIM_EXIT_INPUT, "no built-in scenario '%s' (see `cmasim scenarios`)", c->target);
        fputs(text, stdout);
        return 0;
    }
    const char *const *names = sim_builtin_names();
    printf("built-in scenarios (cmasim run NAME; cmasim scenarios NAME prints one):\n");
    for (unsigned i = 0; names[i]; i++)
        printf("  %-16s %s\n", names[i], sim_builtin_description(names[i]));
    return 0;
}

/*
 * --report FILE: checked before anything runs, so that a long simulation does not end in a report
 * that cannot be written. The file is opened for writing without truncating it; a file created only
 * for the check is removed again (the report is written at the end).
 */
static int check_report(const char *path)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0666);
    if (fd >= 0) {
        close(fd);
        unlink(path);
        return 0;
    }
    if (errno == EEXIST && (fd = open(path, O_WRONLY)) >= 0) {
        close(fd);
        return 0;
    }
    return fail(CMASIM_EXIT_OUTPUT, "--report %s: cannot write it: %s", path, strerror(errno));
}

/* Runs every selected strategy, prints, writes the report. */
static int run_all(const struct cli *c, const char *kind, const char *title, uint64_t seed,
                   const struct sim_machine *m, const struct sim_trace *t)
{
    struct sim_result res[SIM_NSTRATEGIES];
    size_t nres = 0;
    char err[1024];
    int ret = 0;
    struct sim_options o = {.seed = seed, .quick = c->quick};
    for (unsigned s = 0; s < SIM_NSTRATEGIES; s++)
        o.count += (c->strategies >> s) & 1;
    memset(res, 0, sizeof res);
    for (unsigned s = 0; s < SIM_NSTRATEGIES && !ret; s++) {
        if (!(c->strategies & (1u << s)))
            continue;
        err[0] = '\0';
        o.index = (unsigned)nres + 1;
        int r = sim_run(m, t, (enum sim_strategy)s, &o, &res[nres], err, sizeof err);
        if (r) {
            sim_result_free(&res[nres]);
            ret = fail(r, "%s: %s", sim_strategy_name((enum sim_strategy)s), err);
            break;
        }
        nres++;
    }
    sim_progress_clear();
    if (!ret) {
        struct sim_report rep = {.title = title, .kind = kind, .seed = seed, .machine = m,
                                 .results = res, .nresults = nres, .trace_skipped = t->events_skipped};
        if (c->json)
            report_json(stdout, &rep);
        else if (c->csv)
            report_csv(stdout, &rep);
        else
            report_table(stdout, &rep);
        if (fflush(stdout) || ferror(stdout))
            ret = fail(CMASIM_EXIT_OUTPUT, "writing the results: %s", strerror(errno));
        if (!ret && c->report) {
            errno = 0;
            if (report_html(c->report, &rep))
                ret = fail(CMASIM_EXIT_OUTPUT, "--report %s: writing the HTML report: %s", c->report,
                           errno ? strerror(errno) : "failed");
            else if (!c->json && !c->csv)
                printf("report: %s\n", c->report);
        }
    }
    for (size_t i = 0; i < nres; i++)
        sim_result_free(&res[i]);
    return ret;
}

static int cmd_run(const struct cli *c)
{
    struct sim_scenario sc;
    struct sim_trace t;
    char err[1024];
    int r;
    if (!c->target)
        return usage("run needs a SCENARIO (a built-in name or a file)");
    if (c->report && (r = check_report(c->report)))
        return r;
    if ((r = sim_scenario_load(c->target, &sc, err, sizeof err)))
        return fail(r, "%s", err);
    uint64_t seed = (c->given & (1u << O_SEED)) ? c->seed : sc.seed;
    if (sim_scenario_generate(&sc, seed, c->quick, &t, err, sizeof err)) {
        sim_scenario_free(&sc);
        return fail(CMASIM_EXIT_INPUT, "%s", err);
    }
    r = run_all(c, "run", sc.name, seed, &sc.machine, &t);
    sim_trace_free(&t);
    sim_scenario_free(&sc);
    return r;
}

/* Per area index of the trace: how many cma_alloc events, the first one's line, the largest count. */
struct area_use {
    uint64_t n, max_count;
    uint32_t first_line, max_line;
};

static void area_uses(const struct sim_trace *t, struct area_use *u)
{
    memset(u, 0, SIM_MAX_AREAS * sizeof *u);
    for (size_t i = 0; i < t->n; i++) {
        const struct sim_event *e = &t->ev[i];
        if (e->op != SIM_OP_CMA_ALLOC || e->area >= SIM_MAX_AREAS)
            continue;
        struct area_use *a = &u[e->area];
        if (!a->n++)
            a->first_line = e->line;
        if (e->count > a->max_count) {
            a->max_count = e->count;
            a->max_line = e->line;
        }
    }
}

/* A size in cma= syntax, rounded up to whole MiB: "64M", "2G". */
static void cmdline_size(char *out, size_t len, uint64_t bytes)
{
    uint64_t mib = bytes / (1u << 20) + (bytes % (1u << 20) != 0);
    if (mib && mib % 1024 == 0)
        snprintf(out, len, "%" PRIu64 "G", mib / 1024);
    else
        snprintf(out, len, "%" PRIu64 "M", mib ? mib : 1);
}

/*
 * Does the trace fit the machine? It must have events, and every area it allocates from must be
 * declared under that name (traces name their areas; nothing is matched by position). A request
 * larger than its area only warns: the traced kernel may have failed it too.
 */
static int check_replay(const char *path, const struct sim_trace *t, const struct sim_layout *lay,
                        bool have_cmdline_option)
{
    char a[40], b[40], c[40];
    if (!t->n) {
        if (!t->events_skipped)
            return fail(CMASIM_EXIT_INPUT, "%s: no events to replay (an empty trace?)", path);
        sim_fmt_count(a, sizeof a, t->events_skipped);
        return fail(CMASIM_EXIT_INPUT, "%s: no events to replay: all %s events are of kinds cmasim does not "
                    "replay (docs/trace-format.md)", path, a);
    }
    struct area_use use[SIM_MAX_AREAS];
    area_uses(t, use);
    for (unsigned i = 0; i < t->nr_area_names && i < SIM_MAX_AREAS; i++) {
        if (!use[i].n)
            continue;
        const char *name = t->area_names[i];
        unsigned k = 0;
        while (k < lay->nr_areas && strcmp(lay->area_name[k], name))
            k++;
        sim_fmt_count(a, sizeof a, use[i].n);
        sim_fmt_size(b, sizeof b, use[i].max_count * lay->page_size);
        const char *events = use[i].n == 1 ? "event" : "events";
        if (k == lay->nr_areas) {
            char declared[SIM_MAX_AREAS * 66] = "";
            for (unsigned j = 0; j < lay->nr_areas; j++)
                snprintf(declared + strlen(declared), sizeof declared - strlen(declared), "%s%s", j ? ", " : "",
                         lay->area_name[j]);
            char hint[160];
            if (!strcmp(name, "reserved"))
                snprintf(hint, sizeof hint, "--cmdline \"cma=SIZE\"");
            else
                snprintf(hint, sizeof hint, "--cmdline \"cma=%s:SIZE\"", name);
            if (!lay->nr_areas)
                return fail(CMASIM_EXIT_INPUT, "%s:%" PRIu32 ": the trace allocates from CMA area '%s' (%s "
                            "cma_alloc %s, the largest %s) but the machine declares no CMA area: declare it, "
                            "e.g. %s", path, use[i].first_line, name, a, events, b, hint);
            return fail(CMASIM_EXIT_INPUT, "%s:%" PRIu32 ": the trace allocates from CMA area '%s' (%s "
                        "cma_alloc %s, the largest %s) but the machine declares no area of that name (it "
                        "declares: %s); area names must match%s%s", path, use[i].first_line, name, a, events, b,
                        declared, have_cmdline_option ? "" : ", e.g. ", have_cmdline_option ? "" : hint);
        }
        if (use[i].max_count > lay->area_pages[k]) {
            char want[40];
            sim_fmt_size(c, sizeof c, lay->area_pages[k] * lay->page_size);
            cmdline_size(want, sizeof want, use[i].max_count * lay->page_size);
            warn("%s:%" PRIu32 ": cma_alloc of %s from area %s (%s) is larger than the area: it fails under "
                 "every strategy; declare a larger area (e.g. --cmdline \"cma=%s%s%s\")", path, use[i].max_line,
                 b, name, c, strcmp(name, "reserved") ? name : "", strcmp(name, "reserved") ? ":" : "", want);
        }
    }
    if (t->events_lost) {
        sim_fmt_count(a, sizeof a, t->events_lost);
        warn("%s: the kernel lost %s events while tracing (CPU:N [LOST M EVENTS]): some allocations and "
             "frees are missing, so the replay is approximate", path, a);
    }
    return 0;
}

static int cmd_replay(const struct cli *c)
{
    struct sim_trace t;
    struct sim_machine m;
    struct sim_layout lay;
    char err[1024];
    int r;
    if (!c->target)
        return usage("replay needs a TRACE file");
    if (c->report && (r = check_report(c->report)))
        return r;
    memset(&t, 0, sizeof t);
    memset(&m, 0, sizeof m);
    m.page_shift = 12;
    if (sim_trace_load(c->target, c->format, &t, &m, err, sizeof err)) {
        sim_trace_free(&t);
        return fail(CMASIM_EXIT_INPUT, "%s", err);
    }
    if (c->mem) {
        m.nr_ranges = 1;
        m.ranges[0] = (struct sim_range){0, c->mem};
        memset(m.line_ranges, 0, sizeof m.line_ranges); /* messages blame --mem */
    }
    if (c->cmdline) {
        snprintf(m.cmdline, sizeof m.cmdline, "%s", c->cmdline);
        m.line_cmdline = 0;
    }
    if (!m.nr_ranges) {
        sim_trace_free(&t);
        return usage("%s does not describe the machine: give --mem SIZE (and --cmdline \"cma=...\")",
                     c->target);
    }
    if ((r = sim_machine_check(&m, c->target, &lay, err, sizeof err)))
        r = fail(r, "%s", err);
    else
        r = check_replay(c->target, &t, &lay, c->cmdline != NULL);
    if (r) {
        sim_trace_free(&t);
        return r;
    }
    const char *title = strrchr(c->target, '/');
    title = title ? title + 1 : c->target;
    r = run_all(c, "replay", title, 0, &m, &t);
    sim_trace_free(&t);
    return r;
}

int main(int argc, char **argv)
{
    struct cli c;
    bool done;
    int r = parse_args(argc, argv, &c, &done);
    if (r || done)
        return r;
    sim_progress_enable(isatty(STDERR_FILENO) == 1);
    if (c.cmd_bit == CMD_RUN)
        return cmd_run(&c);
    if (c.cmd_bit == CMD_REPLAY)
        return cmd_replay(&c);
    return cmd_scenarios(&c);
}
