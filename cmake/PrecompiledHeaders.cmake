# Precompiled headers. Most of a translation unit's compile time here is spent parsing the same
# third-party headers (on this 2-core machine, -fsyntax-only of <Eigen/Sparse> alone takes ~4 s,
# <nlohmann/json.hpp> ~3 s, <CLI/CLI.hpp> ~4 s, <gtest/gtest.h> ~3 s), so each target parses them
# once into a precompiled header that every one of its sources loads (docs/reliability.md, "Build
# time"). Sources still include what they use: .ci/tidy.sh checks them without the header.
option(SIMMATCH_PRECOMPILED_HEADERS "Precompile the third-party headers every target includes" ON)

set(SIMMATCH_PCH_COMMON <algorithm> <cmath> <cstdint> <filesystem> <limits> <memory> <optional>
    <random> <span> <string> <vector> <omp.h> <Eigen/Dense> <Eigen/Sparse> <nlohmann/json.hpp>
    <fmt/format.h>)

# simmatch_precompile(target [extra headers...]): the common headers plus the target's own.
function(simmatch_precompile target)
  if(SIMMATCH_PRECOMPILED_HEADERS)
    target_precompile_headers(${target} PRIVATE ${SIMMATCH_PCH_COMMON} ${ARGN})
  endif()
endfunction()

# simmatch_precompile_reuse(target from): target compiles with the same flags as `from` and
# includes no more than it, so it loads the header `from` precompiled instead of building its own.
function(simmatch_precompile_reuse target from)
  if(SIMMATCH_PRECOMPILED_HEADERS)
    target_precompile_headers(${target} REUSE_FROM ${from})
  endif()
endfunction()
