/* SPDX-License-Identifier: MIT */
/*
 * cma/cma.h - the whole libcma API.
 *
 * libcma gives physically contiguous memory to whoever needs it without wasting that memory while it
 * is idle: a buddy page allocator with pageblocks and migrate types, boot-time regions (memblock),
 * and (growing) CMA areas, migration and contiguous allocation; and, beside CMA, IOMMU domains and
 * a DMA API that picks CMA or the IOMMU per device (dma.h).
 *
 * Conventions: every command returns 0 or a negative CMA_E* code (Linux errno numbers); a call that
 * fails changes nothing; results come back through out-parameters; all functions are thread-safe
 * unless their comment says otherwise. The library never prints: diagnostics go to the host log hook.
 */
#ifndef CMA_CMA_H
#define CMA_CMA_H

#include <cma/base.h>
#include <cma/mm.h>
#include <cma/stats.h>
#include <cma/contig.h>
#include <cma/dma.h>

#endif /* CMA_CMA_H */
