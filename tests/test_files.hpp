// File helpers shared by the tests that read and write files: a fresh folder per test (removed
// when the test passes), raw bytes to disk, and an expectation that an error of a given type
// names given parts.
#pragma once

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <initializer_list>
#include <string>
#include <system_error>
#include <vector>

namespace simmatch::test_support {

/// Removes the folders test_dir() made once their test has passed. A failed test's folder stays
/// for inspection. ctest runs every test in a process of its own, so folders named by process
/// id were never reused: each run left ~90 of them behind in the temporary directory.
class TestDirRemover : public ::testing::EmptyTestEventListener {
public:
  void add(const std::filesystem::path& dir) { dirs_.push_back(dir); }
  void OnTestEnd(const ::testing::TestInfo& info) override {
    if (!info.result()->Failed()) {
      std::error_code ignored;  // a folder the test removed itself is not an error
      for (const auto& dir : dirs_) std::filesystem::remove_all(dir, ignored);
    }
    dirs_.clear();
  }

private:
  std::vector<std::filesystem::path> dirs_;
};

/// The process's remover, appended to gtest's listeners (which own it) on first use.
inline TestDirRemover& test_dir_remover() {
  static TestDirRemover* remover = [] {
    auto* made = new TestDirRemover;
    ::testing::UnitTest::GetInstance()->listeners().Append(made);
    return made;
  }();
  return *remover;
}

/// A fresh, empty folder for the running test (unique per test and process), removed when the
/// test ends if it passed.
inline std::filesystem::path test_dir() {
  const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
  std::filesystem::path dir = std::filesystem::path(::testing::TempDir()) /
                              (std::string("simmatch_") + info->test_suite_name() + "_" + info->name() + "_" +
                               std::to_string(::getpid()));
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  test_dir_remover().add(dir);
  return dir;
}

inline void write_bytes(const std::filesystem::path& path, const std::string& bytes) {
  std::ofstream(path, std::ios::binary).write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

/// Runs `f`, expecting an exception of type E whose message contains every one of `parts`.
template <typename E, typename F>
void expect_error(F&& f, std::initializer_list<std::string> parts) {
  try {
    f();
    ADD_FAILURE() << "no exception thrown";
  } catch (const E& e) {
    for (const auto& part : parts) EXPECT_NE(std::string(e.what()).find(part), std::string::npos) << e.what();
  }
}

}  // namespace simmatch::test_support
