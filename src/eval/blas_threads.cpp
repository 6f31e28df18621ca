// The process-wide holder count behind SingleThreadedBlas. This is the one piece of global mutable
// state in the read-out, and it exists only because OpenBLAS's thread count is global itself.
#include "eval/blas_threads.hpp"

#include <dlfcn.h>

#include <mutex>

namespace simmatch::readout_detail {

namespace {

struct BlasState {
  std::mutex mutex;
  int holders = 0;
  int saved_threads = 1;
  void (*set)(int) = nullptr;
  int (*get)() = nullptr;

  BlasState() {
    // liblinear calls ddot, daxpy and dnrm2 of the system BLAS; only OpenBLAS splits them over
    // threads (which changes their sums with the machine's thread count).
    set = reinterpret_cast<void (*)(int)>(::dlsym(RTLD_DEFAULT, "openblas_set_num_threads"));
    get = reinterpret_cast<int (*)()>(::dlsym(RTLD_DEFAULT, "openblas_get_num_threads"));
    if (set == nullptr || get == nullptr) set = nullptr, get = nullptr;
  }
};

BlasState& state() {
  static BlasState s;  // built on first use, thread-safely (C++11 static initialisation)
  return s;
}

}  // namespace

SingleThreadedBlas::SingleThreadedBlas() {
  BlasState& s = state();
  const std::lock_guard<std::mutex> lock(s.mutex);
  if (s.holders++ == 0 && s.set != nullptr) {
    s.saved_threads = s.get();
    s.set(1);
  }
}

SingleThreadedBlas::~SingleThreadedBlas() {
  BlasState& s = state();
  const std::lock_guard<std::mutex> lock(s.mutex);
  if (--s.holders == 0 && s.set != nullptr) s.set(s.saved_threads);
}

int SingleThreadedBlas::holders() {
  BlasState& s = state();
  const std::lock_guard<std::mutex> lock(s.mutex);
  return s.holders;
}

}  // namespace simmatch::readout_detail
