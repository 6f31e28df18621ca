// Internal: keeps the system BLAS (OpenBLAS on Debian) single-threaded while liblinear read-outs
// train, and safe when several read-outs overlap in one process (Python threads).
#pragma once

namespace simmatch::readout_detail {

/// While at least one SingleThreadedBlas exists anywhere in the process, OpenBLAS runs on one
/// thread; when the last one ends, the thread count seen when the first began is restored.
///
/// OpenBLAS's thread count is one process-wide setting (0.3.21 has no per-call or per-thread
/// variant), so overlapping read-outs cannot each save and restore it: the second would save the
/// first's 1 and the first would restore the caller's count while the second still trains. A
/// process-wide count of holders under a mutex makes the first holder save and the last restore.
/// A change of the thread count by other code while a read-out trains is undone when it ends.
/// Without OpenBLAS (looked up at run time) this does nothing.
class SingleThreadedBlas {
public:
  SingleThreadedBlas();
  ~SingleThreadedBlas();
  SingleThreadedBlas(const SingleThreadedBlas&) = delete;
  SingleThreadedBlas& operator=(const SingleThreadedBlas&) = delete;

  /// Holders alive now (for tests).
  static int holders();
};

}  // namespace simmatch::readout_detail
