// NPZ archives: round trips, interchange with numpy.savez / numpy.load, and every way an
// archive can be broken (not a zip, truncated, corrupt entry, foreign entries).
#include <gtest/gtest.h>
#include <unistd.h>
#include <zip.h>
#include <zlib.h>

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

// A zip holding the given entries, written with libzip directly (to build foreign archives),
// stored or deflated.
void write_zip(const fs::path& path, const std::vector<std::pair<std::string, std::string>>& entries,
               bool deflate = false) {
  int code = 0;
  zip_t* za = zip_open(path.c_str(), ZIP_CREATE | ZIP_TRUNCATE, &code);
  ASSERT_NE(za, nullptr);
  for (const auto& [name, bytes] : entries) {
    zip_source_t* src = zip_source_buffer(za, bytes.data(), bytes.size(), 0);
    const zip_int64_t index = zip_file_add(za, name.c_str(), src, 0);
    ASSERT_GE(index, 0);
    ASSERT_EQ(zip_set_file_compression(za, static_cast<zip_uint64_t>(index), deflate ? ZIP_CM_DEFLATE : ZIP_CM_STORE, 9),
              0);
  }
  ASSERT_EQ(zip_close(za), 0);
}

std::string le(std::uint32_t v, int bytes) {
  std::string out;
  for (int i = 0; i < bytes; ++i) out += static_cast<char>((v >> (8 * i)) & 0xff);
  return out;
}

// Raw deflate data (no zlib or gzip wrapper), as zip stores it.
std::string deflate_raw(const std::string& bytes) {
  z_stream z{};
  EXPECT_EQ(deflateInit2(&z, 9, Z_DEFLATED, -15, 9, Z_DEFAULT_STRATEGY), Z_OK);
  std::string out(deflateBound(&z, bytes.size()), '\0');
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(bytes.data()));
  z.avail_in = static_cast<uInt>(bytes.size());
  z.next_out = reinterpret_cast<Bytef*>(out.data());
  z.avail_out = static_cast<uInt>(out.size());
  EXPECT_EQ(deflate(&z, Z_FINISH), Z_STREAM_END);
  out.resize(z.total_out);
  deflateEnd(&z);
  return out;
}

// One entry of a zip written byte by byte, so that it can declare an uncompressed size (and a
// CRC) its data do not have: `stored` is what the archive holds (deflated when method is 8).
struct RawEntry {
  std::string name;
  std::uint16_t method;
  std::string stored;
  std::uint32_t crc;
  std::uint32_t declared;
};

std::string raw_zip(const std::vector<RawEntry>& entries) {
  std::string out, directory;
  for (const RawEntry& e : entries) {
    const auto offset = static_cast<std::uint32_t>(out.size());
    const std::string sizes = le(e.crc, 4) + le(static_cast<std::uint32_t>(e.stored.size()), 4) + le(e.declared, 4) +
                              le(static_cast<std::uint32_t>(e.name.size()), 2);
    // Version 2.0, no flags, method, DOS time 0 and date 1980-01-01.
    out += le(0x04034b50, 4) + le(20, 2) + le(0, 2) + le(e.method, 2) + le(0, 2) + le(0x21, 2) + sizes + le(0, 2) +
           e.name + e.stored;
    directory += le(0x02014b50, 4) + le(20, 2) + le(20, 2) + le(0, 2) + le(e.method, 2) + le(0, 2) + le(0x21, 2) +
                 sizes + le(0, 2) + le(0, 2) + le(0, 2) + le(0, 2) + le(0, 4) + le(offset, 4) + e.name;
  }
  const auto directory_offset = static_cast<std::uint32_t>(out.size());
  const auto n = static_cast<std::uint32_t>(entries.size());
  return out + directory + le(0x06054b50, 4) + le(0, 2) + le(0, 2) + le(n, 2) + le(n, 2) +
         le(static_cast<std::uint32_t>(directory.size()), 4) + le(directory_offset, 4) + le(0, 2);
}

std::uint32_t crc_of(const std::string& bytes) {
  return static_cast<std::uint32_t>(
      crc32(crc32(0L, Z_NULL, 0), reinterpret_cast<const Bytef*>(bytes.data()), static_cast<uInt>(bytes.size())));
}

// An NPY of `count` float32 zeros.
std::string zeros_npy(std::size_t count) {
  const std::vector<float> zeros(count, 0.0f);
  return serialize_npy(NpyArray::from_floats(zeros.data(), {static_cast<Index>(count)}));
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

TEST(NpzTest, RawZipHelperWritesArchivesLibzipReads) {
  // The byte-by-byte writer below is what the lying archives are made with: honest, it must work.
  const fs::path dir = test_dir();
  const std::string npy = zeros_npy(1000);
  write_bytes(dir / "honest.npz", raw_zip({{"a.npy", 0, npy, crc_of(npy), static_cast<std::uint32_t>(npy.size())},
                                           {"b.npy", 8, deflate_raw(npy), crc_of(npy),
                                            static_cast<std::uint32_t>(npy.size())}}));
  const auto arrays = read_npz((dir / "honest.npz").string());
  EXPECT_EQ(arrays.at("a").shape, std::vector<Index>{1000});
  EXPECT_EQ(arrays.at("b").to_floats(), std::vector<float>(1000, 0.0f));
}

TEST(NpzTest, EntryDeclaringMoreThanItsBytesCanHoldIsRefusedBeforeAllocating) {
  // A 155 KB model whose directory declared a 3 GiB entry used to allocate 3 GiB, then report a
  // truncation. What a stored entry declares must be what it stores; a deflated one cannot
  // expand more than 1032 times.
  const fs::path dir = test_dir();
  const std::string npy = zeros_npy(16);
  const std::uint32_t three_gib = 3u << 30;
  write_bytes(dir / "stored.npz", raw_zip({{"a.npy", 0, npy, crc_of(npy), three_gib}}));
  expect_error<FormatError>([&] { read_npz((dir / "stored.npz").string()); },
                            {"stored.npz", "'a.npy'", "declares 3221225472 bytes but stores " + std::to_string(npy.size())});
  const std::string deflated = deflate_raw(npy);
  write_bytes(dir / "deflated.npz", raw_zip({{"a.npy", 8, deflated, crc_of(npy), three_gib}}));
  expect_error<FormatError>([&] { read_npz((dir / "deflated.npz").string()); },
                            {"deflated.npz", "'a.npy'", "declares 3221225472 bytes",
                             "more than its " + std::to_string(deflated.size()) + " deflated bytes can hold"});
}

TEST(NpzTest, DeflateRatioBoundAcceptsTheBestRealCompression) {
  // zlib's best compression of zeros, the most compressible input, stays within the 1032:1
  // bound the reader assumes.
  const std::string npy = zeros_npy(std::size_t{8} << 20);  // 32 MiB of zeros
  const std::string deflated = deflate_raw(npy);
  EXPECT_LE(npy.size(), deflated.size() * 1032 + 1024) << deflated.size();
  const fs::path dir = test_dir();
  write_bytes(dir / "zeros.npz", raw_zip({{"z.npy", 8, deflated, crc_of(npy), static_cast<std::uint32_t>(npy.size())}}));
  EXPECT_EQ(read_npz_array((dir / "zeros.npz").string(), "z").shape, std::vector<Index>{std::int64_t{8} << 20});
}

TEST(NpzTest, EntriesNotAskedForAreNeverInflated) {
  // A 32 MiB deflate bomb (32 KiB on disk) next to the array wanted: reading the array under a
  // 4 MiB budget succeeds, which it could not if the bomb were inflated; asking for the bomb is
  // refused before inflating it.
  const fs::path dir = test_dir();
  const std::string small = zeros_npy(10);
  write_zip(dir / "bomb.npz", {{"a.npy", small}, {"bomb.npy", zeros_npy(std::size_t{8} << 20)}}, true);
  const std::string path = (dir / "bomb.npz").string();
  const MemoryBudget budget(std::uint64_t{4} << 20, "a test budget");
  NpzReader reader(path, budget);
  EXPECT_EQ(reader.keys(), (std::vector<std::string>{"a", "bomb"}));
  EXPECT_EQ(reader.read("a").to_floats(), std::vector<float>(10, 0.0f));
  expect_error<FormatError>([&] { reader.read("bomb"); },
                            {path, "'bomb.npy'", "8388608 values of dtype <f4", "needs 33554432 bytes",
                             "memory budget of 4.0 MiB"});
  EXPECT_EQ(read_npz_array(path, "a", budget).shape, std::vector<Index>{10});
  expect_error<FormatError>([&] { read_npz(path, budget); }, {path, "'bomb.npy'", "memory budget"});
}

TEST(NpzTest, BudgetCoversEveryArrayReadThroughOneReader) {
  const fs::path dir = test_dir();
  const std::string npy = zeros_npy(1000);  // 4000 bytes of data each
  write_zip(dir / "two.npz", {{"a.npy", npy}, {"b.npy", npy}});
  const std::string path = (dir / "two.npz").string();
  EXPECT_EQ(read_npz(path, MemoryBudget(8000, "t")).size(), 2u);
  NpzReader reader(path, MemoryBudget(7999, "t"));
  (void)reader.read("a");
  expect_error<FormatError>([&] { reader.read("b"); },
                            {"'b.npy'", "needs 4000 bytes", "over the 3.9 KiB left of the memory budget of 7.8 KiB"});
}

TEST(NpzTest, InflatingStopsOneBytePastTheDeclaredSize) {
  // A deflated entry whose stream holds 1 MiB more than its directory (and NPY header) declare.
  const fs::path dir = test_dir();
  const std::string npy = zeros_npy(16);
  const std::string longer = npy + std::string(1 << 20, '\0');
  write_bytes(dir / "long.npz",
              raw_zip({{"a.npy", 8, deflate_raw(longer), crc_of(npy), static_cast<std::uint32_t>(npy.size())}}));
  expect_error<FormatError>([&] { read_npz((dir / "long.npz").string()); }, {"long.npz", "'a.npy'", "more than"});
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
