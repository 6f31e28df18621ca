// NPY parsing and writing: bit-exact round trips, every supported dtype and header version,
// big-endian and Fortran-order input, every malformed case, and the memory budget.
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>

#include "test_files.hpp"
#include "simmatch/error.hpp"
#include "simmatch/npy.hpp"

namespace simmatch {
namespace {

namespace fs = std::filesystem;
using test_support::expect_error;
using test_support::test_dir;
using test_support::write_bytes;

// An NPY file by hand: version, header dict text and data bytes (the header padded like NumPy's).
std::string make_npy(const std::string& dict, const std::string& data, int major = 1) {
  std::string header = dict;
  const std::size_t preamble = major == 1 ? 10 : 12;
  while ((preamble + header.size() + 1) % 64 != 0) header += ' ';
  header += '\n';
  std::string out = "\x93NUMPY";
  out += static_cast<char>(major);
  out += '\0';
  const std::size_t n = header.size();
  out += static_cast<char>(n & 0xff);
  out += static_cast<char>(n >> 8);
  if (major != 1) out += std::string(2, '\0');
  return out + header + data;
}

template <typename T>
std::string raw(std::initializer_list<T> values) {
  std::string out(values.size() * sizeof(T), '\0');
  std::memcpy(out.data(), values.begin(), out.size());
  return out;
}

// Expects `f` to throw E with a message containing every one of `parts`.
bool python_with_numpy() {
  return fs::exists("/usr/bin/python3") && std::system("/usr/bin/python3 -c 'import numpy' >/dev/null 2>&1") == 0;
}

std::vector<std::string> files_in(const fs::path& dir) {
  std::vector<std::string> names;
  for (const auto& entry : fs::directory_iterator(dir)) names.push_back(entry.path().filename().string());
  std::sort(names.begin(), names.end());
  return names;
}

TEST(NpyTest, RoundTripIsBitExactForFloats) {
  const fs::path dir = test_dir();
  const float values[6] = {1.5f, -0.0f, std::numeric_limits<float>::denorm_min(), std::nanf(""),
                           std::numeric_limits<float>::infinity(), 3.4e38f};
  write_npy((dir / "a.npy").string(), NpyArray::from_floats(values, {2, 3}));
  const NpyArray back = read_npy((dir / "a.npy").string());
  EXPECT_EQ(back.dtype, "<f4");
  EXPECT_EQ(back.shape, (std::vector<Index>{2, 3}));
  EXPECT_FALSE(back.fortran_order);
  ASSERT_EQ(back.bytes.size(), sizeof(values));
  EXPECT_EQ(std::memcmp(back.bytes.data(), values, sizeof(values)), 0);
}

// The encoder writes its features straight from its own matrix: the same file, byte for byte, as
// the copying path, also for an empty array.
TEST(NpyTest, FloatsWrittenWithoutACopyMakeTheSameFile) {
  const fs::path dir = test_dir();
  std::vector<float> values(3 * 1000);
  for (std::size_t i = 0; i < values.size(); ++i) values[i] = std::sin(static_cast<float>(i)) * 1e3f;
  for (const std::vector<Index>& shape : {std::vector<Index>{1000, 3}, std::vector<Index>{3000}, std::vector<Index>{0, 7}}) {
    write_npy((dir / "copied.npy").string(), NpyArray::from_floats(values.data(), shape));
    write_npy_floats((dir / "direct.npy").string(), values.data(), shape);
    EXPECT_EQ(read_file((dir / "direct.npy").string()), read_file((dir / "copied.npy").string())) << shape.size();
  }
  EXPECT_THROW(write_npy_floats((dir / "bad.npy").string(), values.data(), {-1, 3}), Error);
  EXPECT_FALSE(fs::exists(dir / "bad.npy"));
}

TEST(NpyTest, RoundTripIsBitExactForDoubles) {
  const fs::path dir = test_dir();
  const double values[4] = {0.1, -1e-310, std::nan(""), 1.0 / 3.0};
  write_npy((dir / "a.npy").string(), NpyArray::from_doubles(values, {4}));
  const NpyArray back = read_npy((dir / "a.npy").string());
  EXPECT_EQ(back.dtype, "<f8");
  const std::vector<double> d = back.to_doubles();
  ASSERT_EQ(d.size(), 4u);
  EXPECT_EQ(std::memcmp(d.data(), values, sizeof(values)), 0);
}

TEST(NpyTest, RoundTripKeepsIntegersTextAndScalars) {
  const int ints[3] = {-7, 0, 2147483647};
  const std::int64_t longs[2] = {-(std::int64_t{1} << 62), 5};
  const NpyArray a = parse_npy(serialize_npy(NpyArray::from_ints(ints, {3})), "ints");
  EXPECT_EQ(a.dtype, "<i4");
  EXPECT_EQ(a.to_doubles(), (std::vector<double>{-7, 0, 2147483647}));
  const NpyArray b = parse_npy(serialize_npy(NpyArray::from_int64s(longs, {2})), "longs");
  EXPECT_EQ(b.dtype, "<i8");
  EXPECT_EQ(std::memcmp(b.bytes.data(), longs, sizeof(longs)), 0);
  const NpyArray text = parse_npy(serialize_npy(NpyArray::from_bytes("{\"a\": 1}")), "text");
  EXPECT_EQ(text.dtype, "|u1");
  EXPECT_EQ(text.as_text(), "{\"a\": 1}");
  const double one = 4.0;
  const NpyArray scalar = parse_npy(serialize_npy(NpyArray::from_doubles(&one, {})), "scalar");
  EXPECT_TRUE(scalar.shape.empty());
  EXPECT_EQ(scalar.to_doubles(), std::vector<double>{4.0});
  const NpyArray empty = parse_npy(serialize_npy(NpyArray::from_floats(nullptr, {0, 3})), "empty");
  EXPECT_EQ(empty.num_elements(), 0);
}

TEST(NpyTest, HeaderIsPaddedToSixtyFourBytes) {
  const float v = 1.0f;
  const std::string bytes = serialize_npy(NpyArray::from_floats(&v, {1}));
  EXPECT_EQ((bytes.size() - 4) % 64, 0u);
  EXPECT_EQ(bytes[bytes.size() - 5], '\n');
  EXPECT_NE(bytes.find("'shape': (1,)"), std::string::npos);
}

TEST(NpyTest, ReadsEverySupportedDtype) {
  struct Case {
    std::string descr, data;
    std::vector<double> expected;
  };
  const std::vector<Case> cases = {
      {"|u1", raw<std::uint8_t>({0, 255}), {0, 255}},
      {"|i1", raw<std::int8_t>({-128, 127}), {-128, 127}},
      {"<i2", raw<std::int16_t>({-300, 300}), {-300, 300}},
      {"<u2", raw<std::uint16_t>({65535, 1}), {65535, 1}},
      {"<i4", raw<std::int32_t>({-70000, 70000}), {-70000, 70000}},
      {"<u4", raw<std::uint32_t>({4000000000u, 2}), {4000000000.0, 2}},
      {"<i8", raw<std::int64_t>({-5, 1ll << 40}), {-5, 1099511627776.0}},
      {"<u8", raw<std::uint64_t>({7, 1ull << 63}), {7, 9223372036854775808.0}},
      {"|b1", raw<std::uint8_t>({1, 0}), {1, 0}},
      {"<f4", raw<float>({0.5f, -2.0f}), {0.5, -2.0}},
      {"<f8", raw<double>({0.25, 1e300}), {0.25, 1e300}},
  };
  for (const Case& c : cases) {
    const std::string dict = "{'descr': '" + c.descr + "', 'fortran_order': False, 'shape': (2,), }";
    const NpyArray a = parse_npy(make_npy(dict, c.data), c.descr);
    EXPECT_EQ(a.dtype, c.descr);
    EXPECT_EQ(a.to_doubles(), c.expected) << c.descr;
  }
}

TEST(NpyTest, ReadsFormatVersionsTwoAndThree) {
  const std::string dict = "{\"descr\": \"<f8\", \"fortran_order\": False, \"shape\": (1, 2)}";
  for (int major : {2, 3}) {
    const NpyArray a = parse_npy(make_npy(dict, raw<double>({1.0, 2.0}), major), "v");
    EXPECT_EQ(a.shape, (std::vector<Index>{1, 2}));
    EXPECT_EQ(a.to_doubles(), (std::vector<double>{1.0, 2.0}));
  }
}

TEST(NpyTest, ConvertsBigEndianToLittleEndian) {
  std::string be_double = raw<double>({1.5});
  std::reverse(be_double.begin(), be_double.end());
  const NpyArray a = parse_npy(make_npy("{'descr': '>f8', 'fortran_order': False, 'shape': (1,), }", be_double), "be");
  EXPECT_EQ(a.dtype, "<f8");
  EXPECT_EQ(a.to_doubles(), std::vector<double>{1.5});
  const std::string be_int = std::string("\xff\xff\xff\xfe", 4);  // -2 in big-endian int32
  const NpyArray b = parse_npy(make_npy("{'descr': '>i4', 'fortran_order': False, 'shape': (1,), }", be_int), "be");
  EXPECT_EQ(b.to_doubles(), std::vector<double>{-2});
}

TEST(NpyTest, FortranOrderIsTransposedToCOrder) {
  // The 2 x 3 matrix [[1 2 3] [4 5 6]] stored column by column.
  const NpyArray a = parse_npy(make_npy("{'descr': '<f4', 'fortran_order': True, 'shape': (2, 3), }",
                                        raw<float>({1, 4, 2, 5, 3, 6})),
                               "f");
  EXPECT_TRUE(a.fortran_order);
  EXPECT_EQ(a.to_floats(), (std::vector<float>{1, 2, 3, 4, 5, 6}));
  // 2 x 2 x 2: element (i, j, k) = 100 i + 10 j + k, stored with i fastest.
  std::vector<double> fortran;
  for (int k = 0; k < 2; ++k)
    for (int j = 0; j < 2; ++j)
      for (int i = 0; i < 2; ++i) fortran.push_back(100 * i + 10 * j + k);
  std::string data(fortran.size() * 8, '\0');
  std::memcpy(data.data(), fortran.data(), data.size());
  const NpyArray b = parse_npy(make_npy("{'descr': '<f8', 'fortran_order': True, 'shape': (2, 2, 2), }", data), "f3");
  EXPECT_EQ(b.to_doubles(), (std::vector<double>{0, 1, 10, 11, 100, 101, 110, 111}));
}

TEST(NpyTest, RejectsBadMagicAndVersion) {
  expect_error<FormatError>([] { parse_npy("PK\x03\x04 not npy at all", "x.npy"); }, {"x.npy", "magic"});
  expect_error<FormatError>([] { parse_npy("", "empty.npy"); }, {"empty.npy", "magic"});
  expect_error<FormatError>([] { parse_npy(std::string("\x93NUMPY\x01", 7), "short.npy"); }, {"short.npy", "truncated"});
  std::string v9 = make_npy("{'descr': '<f4', 'fortran_order': False, 'shape': (), }", raw<float>({1}));
  v9[6] = 9;
  expect_error<FormatError>([&] { parse_npy(v9, "v9.npy"); }, {"v9.npy", "version 9"});
}

TEST(NpyTest, RefusesMinorVersionsNumpyDoesNotWrite) {
  // NumPy reads and writes 1.0, 2.0 and 3.0 only; 1.1, 2.2 and 3.1 used to be accepted.
  const fs::path dir = test_dir();
  const std::string dict = "{'descr': '<f4', 'fortran_order': False, 'shape': (1,), }";
  for (const auto& [major, minor] : {std::pair{1, 1}, std::pair{2, 2}, std::pair{3, 1}}) {
    std::string bytes = make_npy(dict, raw<float>({1}), major);
    bytes[7] = static_cast<char>(minor);
    const std::string version = std::to_string(major) + "." + std::to_string(minor);
    expect_error<FormatError>([&] { parse_npy(bytes, "v.npy"); }, {"v.npy", "version " + version});
    write_bytes(dir / "v.npy", bytes);
    expect_error<FormatError>([&] { read_npy((dir / "v.npy").string()); }, {"v.npy", "version " + version});
  }
}

TEST(NpyTest, RejectsMalformedHeaders) {
  const std::string data = raw<float>({1});
  const std::vector<std::string> bad = {
      "{'descr': '<f4', 'fortran_order': False}",                        // no shape
      "{'descr': '<f4', 'fortran_order': Maybe, 'shape': (1,), }",       // not a bool
      "{'descr': '<f4', 'fortran_order': False, 'shape': (-1,), }",      // negative
      "{'descr': '<f4', 'fortran_order': False, 'shape': [1], }",        // not a tuple
      "{'descr': '<f4', 'fortran_order': False, 'shape': (1,), 'x': 1}", // unknown key
      "{'descr': '<f4', 'fortran_order': False, 'shape': (1,)} junk",    // trailing text
      "{'descr': '<f4', 'fortran_order': False, 'shape': (1,",           // unterminated
      "{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (1,), }",  // structured
  };
  for (const std::string& dict : bad) {
    expect_error<FormatError>([&] { parse_npy(make_npy(dict, data), "h.npy"); }, {"h.npy"});
  }
  expect_error<FormatError>(
      [&] { parse_npy(make_npy("{'descr': '<f4', 'fortran_order': False, 'shape': (1,), 'x': 1}", data), "h.npy"); },
      {"h.npy", "unexpected key 'x'"});
}

TEST(NpyTest, RejectsUnsupportedDtypes) {
  for (const std::string descr : {"<c8", "<U4", "|O", "<f2", "<f16", "<V8", "f", "<b2"}) {
    const std::string dict = "{'descr': '" + descr + "', 'fortran_order': False, 'shape': (1,), }";
    expect_error<FormatError>([&] { parse_npy(make_npy(dict, std::string(8, '\0')), "d.npy"); },
                              {"d.npy", "unsupported dtype '" + descr + "'"});
  }
}

TEST(NpyTest, TruncatedDataNamesSizesAndOffset) {
  const std::string bytes =
      make_npy("{'descr': '<f8', 'fortran_order': False, 'shape': (10, 3), }", std::string(100, '\0'));
  const std::string offset = std::to_string(bytes.size() - 100);
  expect_error<FormatError>([&] { parse_npy(bytes, "t.npy"); },
                            {"t.npy", "truncated", "10 x 3", "240 bytes", "only 100 remain after offset " + offset});
  // The header itself cut short.
  expect_error<FormatError>([&] { parse_npy(bytes.substr(0, 30), "t.npy"); }, {"t.npy", "truncated", "offset 10"});
  // Extra bytes after the data are an error too: the header and the file disagree.
  const std::string long_bytes =
      make_npy("{'descr': '<f4', 'fortran_order': False, 'shape': (1,), }", std::string(8, '\0'));
  expect_error<FormatError>([&] { parse_npy(long_bytes, "l.npy"); }, {"l.npy", "4 unexpected bytes"});
}

TEST(NpyTest, ReadNpyChecksDeclaredSizeAgainstFile) {
  const fs::path dir = test_dir();
  const fs::path path = dir / "cut.npy";
  const std::string bytes =
      make_npy("{'descr': '<f4', 'fortran_order': False, 'shape': (1000, 1000), }", std::string(16, 'x'));
  write_bytes(path, bytes);
  expect_error<FormatError>([&] { read_npy(path.string()); },
                            {path.string(), "truncated", "1000 x 1000",
                             "only 16 remain after offset " + std::to_string(bytes.size() - 16)});
}

TEST(NpyTest, RefusesShapesBeyondAnyMemoryWhateverTheData) {
  // 2^62 + 4 bytes: no size computed from such a shape may overflow, so it is refused outright.
  const std::string overflow =
      make_npy("{'descr': '<f8', 'fortran_order': False, 'shape': (4611686018427387904, 4), }", "");
  expect_error<FormatError>([&] { parse_npy(overflow, "o.npy"); }, {"o.npy", "exceeds 2^62 bytes"});
  // Within 2^62 bytes, the data must be there.
  const std::string huge = make_npy("{'descr': '<f8', 'fortran_order': False, 'shape': (100000, 100000, 1000), }", "");
  expect_error<FormatError>([&] { parse_npy(huge, "huge.npy"); }, {"huge.npy", "truncated", "80000000000000 bytes"});
}

TEST(NpyTest, ReadNpyRefusesArraysOverTheBudgetBeforeReadingThem) {
  const fs::path dir = test_dir();
  const std::vector<float> values(1000, 0.5f);
  write_npy((dir / "a.npy").string(), NpyArray::from_floats(values.data(), {10, 100}));
  const MemoryBudget budget(3999, "a test budget");
  expect_error<FormatError>([&] { read_npy((dir / "a.npy").string(), budget); },
                            {"a.npy", "10 x 100 values of dtype <f4", "needs 4000 bytes", "memory budget of 3.9 KiB",
                             "a test budget", "SIMMATCH_MEMORY_BUDGET"});
  EXPECT_EQ(read_npy((dir / "a.npy").string(), MemoryBudget(4000, "a test budget")).to_floats(), values);
  // The header alone is read without the data.
  const NpyArray header = read_npy_header((dir / "a.npy").string());
  EXPECT_EQ(header.shape, (std::vector<Index>{10, 100}));
  EXPECT_EQ(header.dtype, "<f4");
  EXPECT_TRUE(header.bytes.empty());
}

TEST(NpyTest, MissingFileIsAnIoErrorNamingThePath) {
  const fs::path dir = test_dir();
  expect_error<IoError>([&] { read_npy((dir / "nope.npy").string()); }, {"nope.npy"});
}

TEST(NpyTest, SerializeRejectsInconsistentArrays) {
  NpyArray a;
  a.dtype = "<f4";
  a.shape = {3};
  a.bytes.resize(8);
  EXPECT_THROW(serialize_npy(a), ShapeError);
  EXPECT_THROW(a.to_doubles(), ShapeError);
  a.dtype = "<c8";
  EXPECT_THROW(serialize_npy(a), FormatError);
  a.dtype = ">f4";
  a.bytes.resize(12);
  EXPECT_THROW(serialize_npy(a), FormatError);
  const float v = 1;
  EXPECT_THROW(NpyArray::from_floats(&v, {1}).as_text(), FormatError);
}

TEST(NpyTest, FailedWriteLeavesTargetAndNoTemporaryFiles) {
  const fs::path dir = test_dir();
  const std::string path = (dir / "model.npy").string();
  const float v = 2.0f;
  write_npy(path, NpyArray::from_floats(&v, {1}));
  const std::string before = read_file(path);
  // A failed serialisation must not touch the target.
  NpyArray broken;
  broken.dtype = "<f4";
  broken.shape = {5};
  EXPECT_THROW(write_npy(path, broken), ShapeError);
  EXPECT_EQ(read_file(path), before);
  EXPECT_EQ(files_in(dir), (std::vector<std::string>{"model.npy"}));
}

TEST(NpyTest, AgreesWithNumpyBothWays) {
  if (!python_with_numpy()) GTEST_SKIP() << "/usr/bin/python3 with numpy is not available";
  const fs::path dir = test_dir();
  const double values[6] = {0.1, 0.2, 0.3, -4, 5e-300, 6};
  write_npy((dir / "ours.npy").string(), NpyArray::from_doubles(values, {2, 3}));
  const std::string script =
      "import numpy as np, sys\n"
      "d = sys.argv[1]\n"
      "a = np.load(d + '/ours.npy')\n"
      "assert a.dtype == np.float64 and a.shape == (2, 3), (a.dtype, a.shape)\n"
      "assert a.tolist() == [[0.1, 0.2, 0.3], [-4, 5e-300, 6]], a\n"
      "m = np.arange(24, dtype='>i4').reshape(2, 3, 4)\n"
      "np.save(d + '/fortran.npy', np.asfortranarray(m.astype('>f8')))\n"
      "np.save(d + '/bytes.npy', m.astype(np.uint8))\n"
      "np.save(d + '/bools.npy', m % 2 == 0)\n";
  write_bytes(dir / "check.py", script);
  ASSERT_EQ(std::system(("/usr/bin/python3 " + (dir / "check.py").string() + " " + dir.string()).c_str()), 0);
  std::vector<double> expected(24);
  for (int i = 0; i < 24; ++i) expected[static_cast<std::size_t>(i)] = i;
  const NpyArray f = read_npy((dir / "fortran.npy").string());
  EXPECT_TRUE(f.fortran_order);
  EXPECT_EQ(f.dtype, "<f8");
  EXPECT_EQ(f.shape, (std::vector<Index>{2, 3, 4}));
  EXPECT_EQ(f.to_doubles(), expected);
  EXPECT_EQ(read_npy((dir / "bytes.npy").string()).to_doubles(), expected);
  const std::vector<float> bools = read_npy((dir / "bools.npy").string()).to_floats();
  for (int i = 0; i < 24; ++i) EXPECT_EQ(bools[static_cast<std::size_t>(i)], i % 2 == 0 ? 1.0f : 0.0f);
}

}  // namespace
}  // namespace simmatch
