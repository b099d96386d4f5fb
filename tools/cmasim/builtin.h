/* SPDX-License-Identifier: MIT */
/*
 * builtin.h - the built-in scenario files, compiled into cmasim.
 *
 * builtin_scenarios.c is generated at build time from the .scn files in scenarios/
 * (embed_scenarios.cmake), so the binary works without the source tree. Private to scenario.c and
 * main.c.
 */
#ifndef CMASIM_BUILTIN_H
#define CMASIM_BUILTIN_H

struct sim_builtin_file {
    const char *name; /* file name without .scn */
    const char *text; /* the whole file */
};
extern const struct sim_builtin_file sim_builtin_files[];
extern const unsigned sim_builtin_nfiles;

/* The text of a built-in scenario file (for `cmasim scenarios NAME`), or NULL. */
const char *sim_builtin_text(const char *name);

#endif /* CMASIM_BUILTIN_H */
