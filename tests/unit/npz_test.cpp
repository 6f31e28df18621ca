// NPZ archives: round trips, interchange with numpy.savez / numpy.load, and every way an
// archive can be broken (not a zip, truncated, corrupt entry, foreign entries).
#include <gtest/gtest.h>
#include <unistd.h>
#include <zip.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>

#include "test_files.hpp"
#include "simmatch/error.hpp"
#include "simmatch/npy.hpp"

namespace simmatch {
namespace {

namespace fs = std::filesystem;
using test_support::expect_error;
using test_support::test_dir;
using test_support::write_bytes;

bool python_with_numpy() {
  return fs::exists("/usr/bin/python3") && std::system("/usr/bin/python3 -c 'import numpy' >/dev/null 2>&1") == 0;
}

std::map<std::string, NpyArray> sample_arrays() {
  const float f[4] = {1.5f, -2.5f, 0.0f, 1e-30f};
  const double d[3] = {0.1, 0.2, 0.3};
  const int i[2] = {7, -7};
  std::map<std::string, NpyArray> arrays;
  arrays["W1_data"] = NpyArray::from_floats(f, {2, 2});
  arrays["CW1_data"] = NpyArray::from_doubles(d, {3});
  arrays["W1_indices"] = NpyArray::from_ints(i, {2});
  arrays["network"] = NpyArray::from_bytes("{\"format\": \"test\"}");
  return arrays;
}

void expect_same(const std::map<std::string, NpyArray>& a, const std::map<std::string, NpyArray>& b) {
  ASSERT_EQ(a.size(), b.size());
  for (const auto& [key, array] : a) {
    ASSERT_TRUE(b.count(key)) << key;
    EXPECT_EQ(b.at(key).dtype, array.dtype) << key;
    EXPECT_EQ(b.at(key).shape, array.shape) << key;
    EXPECT_EQ(b.at(key).bytes, array.bytes) << key;
  }
}

// A zip holding the given entries, written with libzip directly (to build foreign archives).
void write_zip(const fs::path& path, const std::vector<std::pair<std::string, std::string>>& entries) {
  int code = 0;
  zip_t* za = zip_open(path.c_str(), ZIP_CREATE | ZIP_TRUNCATE, &code);
  ASSERT_NE(za, nullptr);
  for (const auto& [name, bytes] : entries) {
    zip_source_t* src = zip_source_buffer(za, bytes.data(), bytes.size(), 0);
    ASSERT_GE(zip_file_add(za, name.c_str(), src, 0), 0);
  }
  ASSERT_EQ(zip_close(za), 0);
}

TEST(NpzTest, RoundTripKeepsEveryArrayBitExact) {
  const fs::path dir = test_dir();
  const std::string path = (dir / "a.npz").string();
  write_npz(path, sample_arrays());
  expect_same(sample_arrays(), read_npz(path));
  EXPECT_EQ(read_npz_array(path, "network").as_text(), "{\"format\": \"test\"}");
}

TEST(NpzTest, SavingTwiceGivesIdenticalBytes) {
  const fs::path dir = test_dir();
  write_npz((dir / "a.npz").string(), sample_arrays());
  write_npz((dir / "b.npz").string(), sample_arrays());
  EXPECT_EQ(read_file((dir / "a.npz").string()), read_file((dir / "b.npz").string()));
}

TEST(NpzTest, EmptyArchiveRoundTrips) {
  const fs::path dir = test_dir();
  write_npz((dir / "e.npz").string(), {});
  EXPECT_TRUE(read_npz((dir / "e.npz").string()).empty());
}

TEST(NpzTest, MissingKeyIsNamed) {
  const fs::path dir = test_dir();
  const std::string path = (dir / "a.npz").string();
  write_npz(path, sample_arrays());
  expect_error<FormatError>([&] { read_npz_array(path, "L7_data"); }, {path, "'L7_data'", "missing"});
}

TEST(NpzTest, RejectsFilesThatAreNotZipArchives) {
  const fs::path dir = test_dir();
  write_bytes(dir / "text.npz", "this is not a zip archive, just text");
  expect_error<FormatError>([&] { read_npz((dir / "text.npz").string()); }, {"text.npz", "not a valid NPZ"});
  write_bytes(dir / "empty.npz", "");
  EXPECT_THROW(read_npz((dir / "empty.npz").string()), Error);
  expect_error<IoError>([&] { read_npz((dir / "missing.npz").string()); }, {"missing.npz"});
}

TEST(NpzTest, RejectsTruncatedArchives) {
  const fs::path dir = test_dir();
  const std::string path = (dir / "a.npz").string();
  write_npz(path, sample_arrays());
  const std::string bytes = read_file(path);
  for (std::size_t keep : {bytes.size() / 2, bytes.size() - 10, std::size_t{30}}) {
    write_bytes(dir / "cut.npz", bytes.substr(0, keep));
    expect_error<FormatError>([&] { read_npz((dir / "cut.npz").string()); }, {"cut.npz"});
  }
}

TEST(NpzTest, CorruptEntryNamesTheEntry) {
  const fs::path dir = test_dir();
  const std::string path = (dir / "a.npz").string();
  auto arrays = sample_arrays();
  arrays["marker"] = NpyArray::from_bytes("MARKER-MARKER-MARKER");
  write_npz(path, arrays);
  std::string bytes = read_file(path);
  const std::size_t at = bytes.find("MARKER-MARKER");
  ASSERT_NE(at, std::string::npos);  // entries are stored, so the text is in the file
  bytes[at + 3] = 'X';               // the CRC no longer matches
  write_bytes(path, bytes);
  expect_error<FormatError>([&] { read_npz(path); }, {path, "marker.npy"});
}

TEST(NpzTest, RejectsEntriesThatAreNotArrays) {
  const fs::path dir = test_dir();
  const float v = 1;
  const std::string npy = serialize_npy(NpyArray::from_floats(&v, {1}));
  write_zip(dir / "foreign.npz", {{"a.npy", npy}, {"readme.txt", "hello"}});
  expect_error<FormatError>([&] { read_npz((dir / "foreign.npz").string()); }, {"foreign.npz", "readme.txt"});
  write_zip(dir / "badnpy.npz", {{"a.npy", "not an npy"}});
  expect_error<FormatError>([&] { read_npz((dir / "badnpy.npz").string()); }, {"badnpy.npz", "a.npy", "magic"});
}

TEST(NpzTest, FailedWriteLeavesTargetUntouched) {
  const fs::path dir = test_dir();
  const std::string path = (dir / "model.npz").string();
  write_npz(path, sample_arrays());
  const std::string before = read_file(path);
  auto arrays = sample_arrays();
  arrays["broken"].dtype = "<f8";
  arrays["broken"].shape = {4};  // 32 bytes declared, none held
  EXPECT_THROW(write_npz(path, arrays), ShapeError);
  EXPECT_EQ(read_file(path), before);
  std::vector<std::string> names;
  for (const auto& entry : fs::directory_iterator(dir)) names.push_back(entry.path().filename().string());
  EXPECT_EQ(names, std::vector<std::string>{"model.npz"});
}

TEST(NpzTest, NumpyLoadsOurArchive) {
  if (!python_with_numpy()) GTEST_SKIP() << "/usr/bin/python3 with numpy is not available";
  const fs::path dir = test_dir();
  write_npz((dir / "ours.npz").string(), sample_arrays());
  const std::string script =
      "import numpy as np, sys, json\n"
      "with np.load(sys.argv[1]) as m:\n"
      "    assert sorted(m.files) == ['CW1_data', 'W1_data', 'W1_indices', 'network'], m.files\n"
      "    assert m['W1_data'].dtype == np.float32 and m['W1_data'].tolist() == [[1.5, -2.5], [0.0, np.float32(1e-30)]]\n"
      "    assert m['CW1_data'].tolist() == [0.1, 0.2, 0.3]\n"
      "    assert m['W1_indices'].dtype == np.int32 and m['W1_indices'].tolist() == [7, -7]\n"
      "    assert json.loads(m['network'].tobytes().decode()) == {'format': 'test'}\n";
  write_bytes(dir / "check.py", script);
  EXPECT_EQ(std::system(("/usr/bin/python3 " + (dir / "check.py").string() + " " + (dir / "ours.npz").string()).c_str()),
            0);
}

TEST(NpzTest, ReadsNumpySavezAndSavezCompressed) {
  if (!python_with_numpy()) GTEST_SKIP() << "/usr/bin/python3 with numpy is not available";
  const fs::path dir = test_dir();
  const std::string script =
      "import numpy as np, sys\n"
      "d = sys.argv[1]\n"
      "a = np.linspace(0, 1, 1000).reshape(10, 100)\n"
      "b = np.arange(6, dtype=np.int64)\n"
      "np.savez(d + '/plain.npz', a=a, b=b)\n"
      "np.savez_compressed(d + '/deflated.npz', a=a, b=b)\n";
  write_bytes(dir / "make.py", script);
  ASSERT_EQ(std::system(("/usr/bin/python3 " + (dir / "make.py").string() + " " + dir.string()).c_str()), 0);
  for (const char* name : {"plain.npz", "deflated.npz"}) {
    const auto arrays = read_npz((dir / name).string());
    ASSERT_EQ(arrays.size(), 2u) << name;
    const std::vector<double> a = arrays.at("a").to_doubles();
    ASSERT_EQ(a.size(), 1000u);
    EXPECT_EQ(a[999], 1.0);
    EXPECT_EQ(arrays.at("a").shape, (std::vector<Index>{10, 100}));
    EXPECT_EQ(arrays.at("b").to_doubles(), (std::vector<double>{0, 1, 2, 3, 4, 5}));
  }
}

}  // namespace
}  // namespace simmatch
