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
 * Options may come before or after the positional argument, as `--opt value` or `--opt=value`.
 * Diagnostics go to stderr prefixed "cmasim: "; results go to stdout; the progress bar goes to stderr
 * and only when stderr is a terminal.
 */
#define _POSIX_C_SOURCE 200809L
#include "builtin.h"
#include "cmasim.h"

#include <ctype.h>
#include <errno.h>
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
    "under four strategies, on the same workload and seed:\n"
    "  carveout     the areas are taken away at boot and never lent: instant, lost to everyone else\n"
    "  cma-linux    CMA areas with Linux's policy (lowest window, retry one alignment step further)\n"
    "  cma          CMA areas with libcma's policy (cheapest window, skip busy pages), no discard\n"
    "  cma-discard  as cma, and clean page-cache pages are dropped instead of migrated\n"
    "\n"
    "commands:\n"
    "  run SCENARIO       SCENARIO is a built-in name (see `cmasim scenarios`) or a scenario file\n"
    "  replay TRACE       replay a recorded trace (cmasim's native format or Linux ftrace text)\n"
    "  scenarios [NAME]   list the built-in scenarios, or print one (a starting point for your own)\n"
    "\n"
    "options:\n"
    "  --strategy LIST    comma-separated strategies, or all (default: all four, in this order:\n"
    "                     carveout,cma-linux,cma,cma-discard)\n"
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
    "exit codes: 0 ok, 2 bad command line, 3 scenario or trace unreadable or malformed,\n"
    "            4 the library refused the machine layout, 5 a report could not be written,\n"
    "            6 the invariant checker failed (a libcma bug)\n";

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

struct cli {
    const char *cmd;
    const char *target;
    unsigned strategies;
    uint64_t seed;
    bool have_seed, quick, json, csv;
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
        char name[32];
        const char *val = NULL;
        const char *eq = strchr(a, '=');
        size_t n = eq ? (size_t)(eq - a) : strlen(a);
        if (n >= sizeof name)
            return usage("unknown option '%s'", a);
        memcpy(name, a, n);
        name[n] = '\0';
        bool takes = !strcmp(name, "--strategy") || !strcmp(name, "--seed") ||
                     !strcmp(name, "--report") || !strcmp(name, "--format") ||
                     !strcmp(name, "--mem") || !strcmp(name, "--cmdline");
        bool flag = !strcmp(name, "--quick") || !strcmp(name, "--json") || !strcmp(name, "--csv");
        if (!takes && !flag)
            return usage("unknown option '%s'", a);
        if (takes) {
            if (eq)
                val = eq + 1;
            else if (i + 1 < argc)
                val = argv[++i];
            else
                return usage("option '%s' needs a value", name);
        } else if (eq) {
            return usage("option '%s' takes no value", name);
        }
        if (!strcmp(name, "--strategy")) {
            if (!(c->strategies = sim_strategy_parse(val)))
                return usage("bad --strategy '%s' (comma-separated: carveout, cma-linux, cma, "
                             "cma-discard, or all)", val);
        } else if (!strcmp(name, "--seed")) {
            if (!parse_u64(val, &c->seed))
                return usage("bad --seed '%s' (a non-negative integer)", val);
            c->have_seed = true;
        } else if (!strcmp(name, "--report")) {
            if (!*val)
                return usage("--report needs a file name");
            c->report = val;
        } else if (!strcmp(name, "--format")) {
            if (!strcmp(val, "auto"))
                c->format = SIM_TRACE_AUTO;
            else if (!strcmp(val, "native"))
                c->format = SIM_TRACE_NATIVE;
            else if (!strcmp(val, "ftrace"))
                c->format = SIM_TRACE_FTRACE;
            else
                return usage("bad --format '%s' (auto, native or ftrace)", val);
        } else if (!strcmp(name, "--mem")) {
            if (!sim_parse_size(val, &c->mem) || !c->mem)
                return usage("bad --mem '%s' (a size such as 4G)", val);
        } else if (!strcmp(name, "--cmdline")) {
            c->cmdline = val;
        } else if (!strcmp(name, "--quick")) {
            c->quick = true;
        } else if (!strcmp(name, "--json")) {
            c->json = true;
        } else if (!strcmp(name, "--csv")) {
            c->csv = true;
        }
    }
    if (!c->cmd)
        return usage("%s", "");
    if (c->json && c->csv)
        return usage("--json and --csv are exclusive");
    return 0;
}

static int cmd_scenarios(const struct cli *c)
{
    if (c->target) {
        const char *text = sim_builtin_text(c->target);
        if (!text) {
            fprintf(stderr, "cmasim: no built-in scenario '%s' (see `cmasim scenarios`)\n",
                    c->target);
            return CMASIM_EXIT_INPUT;
        }
        fputs(text, stdout);
        return 0;
    }
    const char *const *names = sim_builtin_names();
    printf("built-in scenarios (cmasim run NAME; cmasim scenarios NAME prints one):\n");
    for (unsigned i = 0; names[i]; i++)
        printf("  %-16s %s\n", names[i], sim_builtin_description(names[i]));
    return 0;
}

/* Runs every selected strategy, prints, writes the report. */
static int run_all(const struct cli *c, const char *kind, const char *title, uint64_t seed,
                   const struct sim_machine *m, const struct sim_trace *t)
{
    struct sim_result res[SIM_NSTRATEGIES];
    size_t nres = 0;
    char err[1024];
    int ret = 0;
    struct sim_options o = {.seed = seed, .quick = c->quick, .progress = isatty(STDERR_FILENO) == 1};
    memset(res, 0, sizeof res);
    for (unsigned s = 0; s < SIM_NSTRATEGIES && !ret; s++) {
        if (!(c->strategies & (1u << s)))
            continue;
        err[0] = '\0';
        int r = sim_run(m, t, (enum sim_strategy)s, &o, &res[nres], err, sizeof err);
        if (r) {
            fprintf(stderr, "cmasim: %s: %s\n", sim_strategy_name((enum sim_strategy)s), err);
            sim_result_free(&res[nres]);
            ret = r;
            break;
        }
        nres++;
    }
    if (!ret) {
        struct sim_report rep = {.title = title, .kind = kind, .seed = seed, .machine = m,
                                 .results = res, .nresults = nres};
        if (c->json)
            report_json(stdout, &rep);
        else if (c->csv)
            report_csv(stdout, &rep);
        else
            report_table(stdout, &rep);
        if (fflush(stdout) || ferror(stdout)) {
            fprintf(stderr, "cmasim: writing the results: %s\n", strerror(errno));
            ret = CMASIM_EXIT_OUTPUT;
        }
        if (!ret && c->report) {
            if (report_html(c->report, &rep)) {
                fprintf(stderr, "cmasim: %s: the HTML report could not be written\n", c->report);
                ret = CMASIM_EXIT_OUTPUT;
            } else if (!c->json && !c->csv) {
                printf("report: %s\n", c->report);
            }
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
    if (!c->target)
        return usage("run needs a SCENARIO (a built-in name or a file)");
    if (c->format || c->mem || c->cmdline)
        return usage("--format, --mem and --cmdline apply to replay only");
    if (sim_scenario_load(c->target, &sc, err, sizeof err)) {
        fprintf(stderr, "cmasim: %s\n", err);
        return CMASIM_EXIT_INPUT;
    }
    uint64_t seed = c->have_seed ? c->seed : sc.seed;
    if (sim_scenario_generate(&sc, seed, c->quick, &t, err, sizeof err)) {
        fprintf(stderr, "cmasim: %s\n", err);
        sim_scenario_free(&sc);
        return CMASIM_EXIT_INPUT;
    }
    int ret = run_all(c, "run", sc.name, seed, &sc.machine, &t);
    sim_trace_free(&t);
    sim_scenario_free(&sc);
    return ret;
}

static int cmd_replay(const struct cli *c)
{
    struct sim_trace t;
    struct sim_machine m;
    char err[1024];
    if (!c->target)
        return usage("replay needs a TRACE file");
    memset(&t, 0, sizeof t);
    memset(&m, 0, sizeof m);
    m.page_shift = 12;
    if (sim_trace_load(c->target, c->format, &t, &m, err, sizeof err)) {
        fprintf(stderr, "cmasim: %s\n", err);
        sim_trace_free(&t);
        return CMASIM_EXIT_INPUT;
    }
    if (c->mem) {
        m.nr_ranges = 1;
        m.ranges[0] = (struct sim_range){0, c->mem};
    }
    if (c->cmdline) {
        if (strlen(c->cmdline) >= sizeof m.cmdline) {
            sim_trace_free(&t);
            return usage("--cmdline longer than 255 characters");
        }
        snprintf(m.cmdline, sizeof m.cmdline, "%s", c->cmdline);
    }
    if (!m.nr_ranges) {
        sim_trace_free(&t);
        return usage("%s does not describe the machine: give --mem SIZE (and --cmdline \"cma=...\")",
                     c->target);
    }
    const char *title = strrchr(c->target, '/');
    title = title ? title + 1 : c->target;
    int ret = run_all(c, "replay", title, c->have_seed ? c->seed : 0, &m, &t);
    sim_trace_free(&t);
    return ret;
}

int main(int argc, char **argv)
{
    struct cli c;
    bool done;
    int r = parse_args(argc, argv, &c, &done);
    if (r || done)
        return r;
    if (!strcmp(c.cmd, "run"))
        return cmd_run(&c);
    if (!strcmp(c.cmd, "replay"))
        return cmd_replay(&c);
    if (!strcmp(c.cmd, "scenarios")) {
        if (c.json || c.csv || c.report || c.quick || c.have_seed)
            return usage("scenarios takes no options");
        return cmd_scenarios(&c);
    }
    return usage("unknown command '%s'", c.cmd);
}
