// The MPI communicator's factory, declared without <mpi.h> so that the code choosing a communicator
// (src/dist/launcher.cpp) compiles the same with and without MPI. Built only with SIMMATCH_WITH_MPI.
#pragma once

#include <memory>

#include "simmatch/communicator.hpp"

namespace simmatch::dist {

/// A communicator over a duplicate of MPI_COMM_WORLD (our traffic cannot mix with another
/// library's). Initialises MPI (MPI_THREAD_FUNNELED: only the thread that trains calls MPI; the
/// kernels' OpenMP threads never do) unless it already is, and finalises it when destroyed if it
/// initialised it. Throws Error when MPI cannot be initialised or was already finalised.
std::unique_ptr<Communicator> make_mpi_communicator();

}  // namespace simmatch::dist
