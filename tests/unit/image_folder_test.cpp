// Image folders as data under the memory budget: an image whose header declares more pixels than
// the budget allows is refused before it is decoded, and so are more patches than it holds.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <string>

#include "simmatch/error.hpp"
#include "simmatch/files.hpp"
#include "simmatch/image_folder.hpp"
#include "simmatch/png.hpp"
#include "test_files.hpp"

namespace simmatch {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;
using test_support::expect_error;
using test_support::test_dir;
using test_support::write_bytes;

// A real 4 x 4 PNG whose IHDR is edited to declare `width` x `height` pixels (stb_image does
// not check chunk CRCs, so the header is all a reader sees before decoding).
std::string png_declaring(const fs::path& dir, std::uint32_t width, std::uint32_t height) {
  write_png((dir / "small.png").string(), Image(4, 4, 1, 7));
  std::string bytes = read_file((dir / "small.png").string());
  for (int i = 0; i < 4; ++i) {
    bytes[16 + i] = static_cast<char>((width >> (24 - 8 * i)) & 0xff);
    bytes[20 + i] = static_cast<char>((height >> (24 - 8 * i)) & 0xff);
  }
  return bytes;
}

TEST(ImageFolderBudget, DeclaredImageSizeIsCheckedBeforeDecoding) {
  const fs::path dir = test_dir();
  write_bytes(dir / "huge.png", png_declaring(dir, 16000, 16000));
  const MemoryBudget budget(std::uint64_t{64} << 20, "a test budget");
  // 2.56e8 pixels of 1 channel: 4 + 1 + 4 bytes each for stb_image's buffers and our floats.
  expect_error<FormatError>([&] { read_gray_image((dir / "huge.png").string(), budget); },
                            {"huge.png", "16000 x 16000 image of 1 channel(s)", "needs 2304000000 bytes",
                             "memory budget of 64.0 MiB"});
  EXPECT_EQ(read_gray_image((dir / "small.png").string(), budget).height(), 4);
}

TEST(ImageFolderBudget, PatchesOverTheBudgetAreAConfigError) {
  const fs::path dir = test_dir();
  write_png((dir / "a.png").string(), Image(20, 20, 1, 1));
  PatchOptions options;
  options.height = options.width = 16;
  options.count = 1000000;  // 1 GB of float32 patches
  try {
    image_patches({(dir / "a.png").string()}, options, nullptr, MemoryBudget(std::uint64_t{64} << 20, "t"));
    ADD_FAILURE() << "no exception";
  } catch (const ConfigError& e) {
    EXPECT_THAT(e.what(), HasSubstr("patches: 1000000 patches of 16 x 16 pixels needs 1028000000 bytes"));
  }
  options.count = 10;
  EXPECT_EQ(image_patches({(dir / "a.png").string()}, options, nullptr, MemoryBudget(20000, "t")).size(), 10);
}

}  // namespace
}  // namespace simmatch
