// libFuzzer target: NPZ archives (libzip), and the model and checkpoint readers on top of them.
#include <cstdint>
#include <string>

#include "fuzz_common.hpp"
#include "simmatch/checkpoint.hpp"
#include "simmatch/error.hpp"
#include "simmatch/model_io.hpp"
#include "simmatch/npy.hpp"

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  simmatch::fuzz::use_fuzzing_memory_budget();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace simmatch;
  const std::string path =
      fuzz::write_scratch("archive.npz", std::string_view(reinterpret_cast<const char*>(data), size));
  try {
    auto arrays = read_npz(path);
    for (const auto& [key, array] : arrays) {
      if (array.num_elements() < (1 << 20)) (void)array.to_floats();
    }
    (void)model_from_arrays<float>(path, std::move(arrays));
  } catch (const Error&) {
  }
  try {
    (void)load_checkpoint<double>(path);
  } catch (const Error&) {
  }
  return 0;
}
