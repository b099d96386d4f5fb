/* SPDX-License-Identifier: MIT */
/*
 * progress.c - the progress line cmasim draws on stderr while it works, so that a long run is never
 * silent on a terminal: reading a trace, generating a workload, and per strategy building the
 * machine, replaying the events and checking the machine at the end.
 *
 * One line, redrawn in place ("\r" and erase to the end of the line): the phase, then a bar and a
 * percentage when the total is known, or a count when it is not (a trace read from a pipe). A phase is
 * drawn as soon as it starts - phases that take long are single library calls (onlining a 1 TiB
 * machine) during which nothing could be updated - and updates are drawn at most every
 * REDRAW_NS and only when the percentage changed. The line is cut to the terminal's width (a wrapped
 * line could not be redrawn in place). Enabled by main.c only when stderr is a terminal; otherwise
 * every call returns at once. Single-threaded, like cmasim.
 */
#define _POSIX_C_SOURCE 200809L
#include "cmasim.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

#define REDRAW_NS 100000000ull /* 10 redraws a second at most */
#define BAR 20

static struct {
    bool on, shown;
    char phase[160];
    uint64_t last_ns;
    unsigned last_pct;
} P;

static uint64_t mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

void sim_progress_enable(bool on)
{
    P.on = on;
}

/* Columns of the terminal on stderr (80 when unknown). */
static size_t columns(void)
{
#ifdef TIOCGWINSZ
    struct winsize ws;
    if (ioctl(STDERR_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 20)
        return ws.ws_col;
#endif
    const char *c = getenv("COLUMNS");
    long v = c ? strtol(c, NULL, 10) : 0;
    return v > 20 ? (size_t)v : 80;
}

static void draw(const char *tail)
{
    const char *pre = "cmasim: ";
    size_t room = columns() - 1, used = strlen(pre) + strlen(tail);
    int n = used < room ? (int)(room - used) : 0;
    fprintf(stderr, "\r\033[K%s%.*s%s", pre, n, P.phase, tail);
    fflush(stderr);
    P.shown = true;
    P.last_ns = mono_ns();
}

void sim_progress_phase(const char *fmt, ...)
{
    if (!P.on)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(P.phase, sizeof P.phase, fmt, ap);
    va_end(ap);
    P.last_pct = ~0u;
    draw("");
}

void sim_progress_update(uint64_t done, uint64_t total)
{
    if (!P.on)
        return;
    unsigned pct = total ? (unsigned)((long double)(done < total ? done : total) * 100 / total) : 0;
    if (total && pct == P.last_pct)
        return;
    if (mono_ns() - P.last_ns < REDRAW_NS)
        return;
    char tail[80];
    if (total) {
        char bar[BAR + 1];
        unsigned fill = pct * BAR / 100;
        for (unsigned i = 0; i < BAR; i++)
            bar[i] = i < fill ? '#' : '.';
        bar[BAR] = '\0';
        snprintf(tail, sizeof tail, " [%s] %3u%%", bar, pct);
    } else {
        char c[40];
        sim_fmt_count(c, sizeof c, done);
        snprintf(tail, sizeof tail, " %s", c);
    }
    P.last_pct = pct;
    draw(tail);
}

void sim_progress_clear(void)
{
    if (P.on && P.shown) {
        fputs("\r\033[K", stderr);
        fflush(stderr);
    }
    P.shown = false;
}
