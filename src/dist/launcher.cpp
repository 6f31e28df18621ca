// Choosing the communicator: MPI when built with it and started by an MPI launcher, else one
// process. Compiled with and without MPI; only mpi_communicator.cpp includes <mpi.h>.
#include <algorithm>
#include <cstdlib>
#include <fmt/format.h>
#include <limits>
#include <string>

#include "simmatch/distributed.hpp"
#include "simmatch/error.hpp"

#if SIMMATCH_WITH_MPI
#include "dist/mpi_communicator.hpp"
#endif

namespace simmatch {
namespace {

// A positive integer from the environment, or 0 when unset or not a number.
int env_count(const char* name) {
  const char* text = std::getenv(name);
  if (text == nullptr || *text == '\0') return 0;
  char* end = nullptr;
  const long value = std::strtol(text, &end, 10);
  if (*end != '\0' || value < 0 || value > std::numeric_limits<int>::max()) return 0;
  return static_cast<int>(value);
}

bool env_set(const char* name) { return std::getenv(name) != nullptr; }

}  // namespace

bool built_with_mpi() {
#if SIMMATCH_WITH_MPI
  return true;
#else
  return false;
#endif
}

int launcher_world_size() {
  if (const char* forced = std::getenv("SIMMATCH_MPI")) {
    if (std::string(forced) == "0") return 0;
  }
  // Each launcher announces the job size differently: OpenMPI's mpirun, MPICH/Intel MPI's Hydra
  // (PMI), PMIx launchers (OpenMPI 5, srun --mpi=pmix, which may only give the rank), and Slurm's
  // srun (a job step with several tasks). A batch script's own shell has SLURM_* variables but no
  // step task count above 1, so a plain `simmatch train` inside sbatch stays serial.
  int size = env_count("OMPI_COMM_WORLD_SIZE");
  if (size == 0) size = env_count("PMI_SIZE");
  if (size == 0) size = env_count("PMIX_SIZE");
  if (size == 0 && env_set("PMIX_RANK")) size = 1;  // the true size comes from MPI itself
  if (size == 0 && env_count("SLURM_STEP_NUM_TASKS") > 1) size = env_count("SLURM_STEP_NUM_TASKS");
  if (const char* forced = std::getenv("SIMMATCH_MPI")) {
    if (std::string(forced) == "1") size = std::max(size, 1);
  }
  return size;
}

std::unique_ptr<Communicator> make_communicator() {
  const int launched = launcher_world_size();
#if SIMMATCH_WITH_MPI
  if (launched > 0) return dist::make_mpi_communicator();
#else
  if (launched > 1) {
    throw ConfigError(fmt::format(
        "started as one of {} processes by an MPI launcher, but this simmatch was built without MPI "
        "(rebuild with -DSIMMATCH_WITH_MPI=ON, or run a single process)",
        launched));
  }
#endif
  return std::make_unique<LocalCommunicator>();
}

}  // namespace simmatch
