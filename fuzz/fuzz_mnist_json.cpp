// libFuzzer target: the MNIST json digits reader. The input is digit 0's file; digits 1..9 are
// valid empty files, so every input reaches the streaming parser and the split logic.
#include <cstdint>
#include <string>

#include "fuzz_common.hpp"
#include "simmatch/dataset.hpp"
#include "simmatch/error.hpp"

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  simmatch::fuzz::use_fuzzing_memory_budget();
  for (int d = 1; d < 10; ++d) simmatch::fuzz::write_scratch(std::to_string(d) + ".json", R"({"data": []})");
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace simmatch;
  fuzz::write_scratch("0.json", std::string_view(reinterpret_cast<const char*>(data), size));
  const std::string dir = fuzz::scratch_dir().string();
  try {
    const Dataset d = read_mnist_json(dir, size % 2 ? MnistSplit::test : MnistSplit::train, static_cast<Index>(size % 3));
    (void)d;
  } catch (const Error&) {
  }
  return 0;
}
