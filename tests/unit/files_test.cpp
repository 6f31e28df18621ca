// Whole-file I/O: reads bounded while reading (pipes and devices too), atomic writes that leave
// the old file or the new one, and temporary names that fit NAME_MAX for any legal target name.
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <climits>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include "simmatch/error.hpp"
#include "simmatch/files.hpp"
#include "test_files.hpp"

namespace simmatch {
namespace {

namespace fs = std::filesystem;
using test_support::expect_error;
using test_support::test_dir;
using test_support::write_bytes;

std::vector<std::string> files_in(const fs::path& dir) {
  std::vector<std::string> names;
  for (const auto& entry : fs::directory_iterator(dir)) names.push_back(entry.path().filename().string());
  std::sort(names.begin(), names.end());
  return names;
}

TEST(FilesTest, ReadFileReturnsTheWholeFileWithinItsLimit) {
  const fs::path dir = test_dir();
  const std::string bytes(3 << 20, 'x');  // more than one read chunk
  write_bytes(dir / "f", bytes);
  EXPECT_EQ(read_file((dir / "f").string(), bytes.size(), "the test limit"), bytes);
  EXPECT_EQ(read_file((dir / "f").string()), bytes);
  write_bytes(dir / "empty", "");
  EXPECT_EQ(read_file((dir / "empty").string(), 0, "the test limit"), "");
}

TEST(FilesTest, ReadFileRefusesALargerRegularFileNamingPathAndLimit) {
  const fs::path dir = test_dir();
  write_bytes(dir / "f", std::string(1001, 'x'));
  expect_error<IoError>([&] { read_file((dir / "f").string(), 1000, "the test limit"); },
                        {(dir / "f").string(), "larger than the test limit"});
}

TEST(FilesTest, ReadFileStopsAPipeThatGoesOnPastTheLimit) {
  // A pipe reports no size: the limit must hold while reading, or a writer (or /dev/zero) could
  // make read_file take all memory. The writer offers twice the limit.
  int fds[2];
  ASSERT_EQ(::pipe(fds), 0);
  constexpr std::size_t kLimit = std::size_t{1} << 20;
  std::thread writer([&] {
    const std::string block(1 << 16, 'z');
    for (std::size_t sent = 0; sent < 2 * kLimit; sent += block.size()) {
      if (::write(fds[1], block.data(), block.size()) < 0) break;
    }
    ::close(fds[1]);
  });
  const std::string path = "/proc/self/fd/" + std::to_string(fds[0]);
  expect_error<IoError>([&] { read_file(path, kLimit, "the test limit"); }, {path, "larger than the test limit"});
  // Drain what the writer still has to say, so that it can finish.
  char sink[1 << 16];
  while (::read(fds[0], sink, sizeof sink) > 0) {
  }
  writer.join();
  ::close(fds[0]);
}

TEST(FilesTest, ReadFileRefusesDevZeroAtTheLimit) {
  expect_error<IoError>([] { read_file("/dev/zero", 4096, "the test limit"); }, {"/dev/zero", "larger than"});
}

TEST(FilesTest, ReadFileNamesMissingFilesAndFolders) {
  const fs::path dir = test_dir();
  expect_error<IoError>([&] { read_file((dir / "nope.txt").string()); }, {"nope.txt", "cannot open"});
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

TEST(FilesTest, TargetNamesUpToNameMaxCanBeWritten) {
  // The temporary file adds ".tmp-<pid>-<n>-<random>" (about 25 bytes): a legal 254-byte name
  // used to fail with "File name too long".
  const fs::path dir = test_dir();
  const long name_max = ::pathconf(dir.c_str(), _PC_NAME_MAX);
  ASSERT_GT(name_max, 30);
  for (const long length : {name_max - 24, name_max - 1, name_max}) {
    const std::string name(static_cast<std::size_t>(length), 'n');
    const std::string path = (dir / name).string();
    write_file_atomically(path, "first");
    write_file_atomically(path, "second");
    EXPECT_EQ(read_file(path), "second") << length;
    EXPECT_EQ(files_in(dir), std::vector<std::string>{name}) << length;
    fs::remove(path);
  }
  // One byte more is not a legal name: the error names the path.
  const std::string too_long = (dir / std::string(static_cast<std::size_t>(name_max) + 1, 'n')).string();
  EXPECT_THROW(write_file_atomically(too_long, "x"), IoError);
  EXPECT_TRUE(files_in(dir).empty());
}

}  // namespace
}  // namespace simmatch
