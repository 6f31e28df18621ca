// libFuzzer target: NPY parsing in memory (parse_npy), element conversion, and the NPY data-set
// reader over a file (which also checks the declared size against the file size).
#include <cstdint>
#include <string>

#include "fuzz_common.hpp"
#include "simmatch/dataset.hpp"
#include "simmatch/error.hpp"
#include "simmatch/npy.hpp"

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  simmatch::fuzz::use_fuzzing_memory_budget();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace simmatch;
  const std::string bytes(reinterpret_cast<const char*>(data), size);
  // Only simmatch::Error is an expected outcome: anything else escaping (std::out_of_range,
  // bad_alloc, a JSON exception) is a finding, as is every sanitizer report.
  try {
    const NpyArray a = parse_npy(bytes, "fuzz.npy");
    if (a.num_elements() < (1 << 20)) {
      const auto values = a.to_doubles();
      (void)values;
      (void)serialize_npy(a);
    }
  } catch (const Error&) {
  }
  try {
    const std::string path = fuzz::write_scratch("data.npy", bytes);
    const Dataset d = read_npy_dataset(path);
    (void)d;
  } catch (const Error&) {
  }
  return 0;
}
