# SPDX-License-Identifier: MIT
# tests/cmasim/trace_tests.cmake - tests of cmasim's trace parsers and HTML report. They compile
# tools/cmasim/trace.c and tools/cmasim/html.c directly with the small modules they use (format.c,
# progress.c) but no engine and no main, so they can be included
# from tests/cmasim/CMakeLists.txt with:
#   include(${CMAKE_CURRENT_SOURCE_DIR}/trace_tests.cmake)
# (needs the cma_test_harness target and CMA_WARN_FLAGS from tests/CMakeLists.txt).
set(_cmasim_src ${PROJECT_SOURCE_DIR}/tools/cmasim)
set(_cmasim_test_dir ${CMAKE_CURRENT_LIST_DIR})

function(cmasim_unit_test name)
  add_executable(${name} ${ARGN})
  target_include_directories(${name} PRIVATE ${_cmasim_src})
  target_link_libraries(${name} PRIVATE cma_test_harness)
  target_compile_options(${name} PRIVATE ${CMA_WARN_FLAGS})
  target_compile_definitions(${name} PRIVATE _GNU_SOURCE
    CMASIM_TRACES_DIR="${_cmasim_test_dir}/traces")
  add_test(NAME ${name} COMMAND ${name})
  set_tests_properties(${name} PROPERTIES SKIP_RETURN_CODE 77 LABELS cmasim TIMEOUT 600)
endfunction()

# trace.c draws its progress through progress.c; both share format.c's number formatter
cmasim_unit_test(cmasim_test_trace ${_cmasim_test_dir}/test_trace.c ${_cmasim_src}/trace.c
                 ${_cmasim_src}/progress.c ${_cmasim_src}/format.c)
# html.c alone with the formatter it shares with report.c (and report.c, to compare the two tables)
cmasim_unit_test(cmasim_test_html ${_cmasim_test_dir}/test_html.c ${_cmasim_src}/html.c
                 ${_cmasim_src}/format.c ${_cmasim_src}/report.c)
