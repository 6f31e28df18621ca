// Whole-file I/O: reads that name what they cannot read, and atomic writes that leave the old
// file or the new one.
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <string>
#include <vector>

#include "simmatch/error.hpp"
#include "simmatch/files.hpp"
#include "test_files.hpp"

namespace simmatch {
namespace {

namespace fs = std::filesystem;
using test_support::expect_error;
using test_support::test_dir;

std::vector<std::string> files_in(const fs::path& dir) {
  std::vector<std::string> names;
  for (const auto& entry : fs::directory_iterator(dir)) names.push_back(entry.path().filename().string());
  std::sort(names.begin(), names.end());
  return names;
}

TEST(FilesTest, ReadFileNamesMissingFilesAndFolders) {
  const fs::path dir = test_dir();
  expect_error<IoError>([&] { read_file((dir / "nope.txt").string()); }, {"nope.txt"});
  expect_error<IoError>([&] { read_file(dir.string()); }, {"is a directory"});
}

TEST(FilesTest, AtomicWriteReplacesTheWholeFile) {
  const fs::path dir = test_dir();
  const std::string path = (dir / "f.txt").string();
  write_file_atomically(path, std::string(10000, 'a'));
  write_file_atomically(path, "short");
  EXPECT_EQ(read_file(path), "short");
  EXPECT_EQ(files_in(dir), std::vector<std::string>{"f.txt"});
}

TEST(FilesTest, FailedWriteLeavesTargetAndNoTemporaryFiles) {
  const fs::path dir = test_dir();
  const std::string path = (dir / "f.txt").string();
  write_file_atomically(path, "before");
  // A rename that fails (the target is a non-empty folder) must remove its temporary file.
  fs::create_directories(dir / "busy" / "inside");
  expect_error<IoError>([&] { write_file_atomically((dir / "busy").string(), "data"); }, {"busy", "rename"});
  EXPECT_TRUE(fs::is_directory(dir / "busy" / "inside"));
  // Writing into a folder that does not exist fails before creating anything.
  EXPECT_THROW(write_file_atomically((dir / "no" / "such" / "f").string(), "x"), IoError);
  EXPECT_EQ(files_in(dir), (std::vector<std::string>{"busy", "f.txt"}));
  EXPECT_EQ(read_file(path), "before");
}

}  // namespace
}  // namespace simmatch
