// libFuzzer target: IDX images (plain or gzipped) and, when the input holds a separator, an IDX
// labels file checked against them.
#include <cstdint>
#include <string>

#include "fuzz_common.hpp"
#include "simmatch/dataset.hpp"
#include "simmatch/error.hpp"

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  simmatch::fuzz::use_fuzzing_memory_budget();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace simmatch;
  const auto parts = fuzz::split_input(data, size, 2);
  const std::string images = fuzz::write_scratch("images.idx", parts[0]);
  const std::string labels = parts.size() > 1 ? fuzz::write_scratch("labels.idx", parts[1]) : "";
  try {
    const Dataset d = read_idx(images, labels);
    (void)d;
  } catch (const Error&) {
  }
  return 0;
}
