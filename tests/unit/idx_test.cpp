// IDX readers: plain and gzipped files of every value type, labels, and each malformed case
// (magic, type, dimensions, truncation, gzip corruption and trailing bytes, memory budget), plus the real
// Fashion-MNIST files when the system has them.
#include <gtest/gtest.h>
#include <unistd.h>
#include <zlib.h>

#include <cstring>
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

// An IDX file: magic 0 0 type ndims, big-endian sizes, then `data` (already big-endian).
std::string make_idx(unsigned char type, const std::vector<std::uint32_t>& dims, const std::string& data) {
  std::string out = {0, 0, static_cast<char>(type), static_cast<char>(dims.size())};
  for (std::uint32_t d : dims) {
    for (int shift = 24; shift >= 0; shift -= 8) out += static_cast<char>((d >> shift) & 0xff);
  }
  return out + data;
}

// Big-endian bytes of each value.
template <typename T>
std::string big_endian(std::initializer_list<T> values) {
  std::string out;
  for (T v : values) {
    char bytes[sizeof(T)];
    std::memcpy(bytes, &v, sizeof(T));
    for (std::size_t i = sizeof(T); i-- > 0;) out += bytes[i];
  }
  return out;
}

void write_plain(const fs::path& path, const std::string& bytes) {
  std::ofstream(path, std::ios::binary).write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

void write_gz(const fs::path& path, const std::string& bytes) {
  gzFile f = gzopen(path.c_str(), "wb");
  ASSERT_NE(f, nullptr);
  ASSERT_EQ(gzwrite(f, bytes.data(), static_cast<unsigned>(bytes.size())), static_cast<int>(bytes.size()));
  ASSERT_EQ(gzclose(f), Z_OK);
}

std::string read_all(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

// Three 2 x 2 images whose pixel k of image t is 10 t + k, and labels 4 5 6.
std::string images_idx() {
  std::string pixels;
  for (int t = 0; t < 3; ++t)
    for (int k = 0; k < 4; ++k) pixels += static_cast<char>(10 * t + k);
  return make_idx(0x08, {3, 2, 2}, pixels);
}
std::string labels_idx() { return make_idx(0x08, {3}, std::string("\x04\x05\x06", 3)); }

void expect_images(const Dataset& data) {
  EXPECT_EQ(data.size(), 3);
  EXPECT_EQ(data.dim(), 4);
  EXPECT_EQ(data.shape, (Grid{2, 2, 1}));
  for (int t = 0; t < 3; ++t)
    for (int k = 0; k < 4; ++k) EXPECT_EQ(data.x(k, t), 10.0f * t + k);
  EXPECT_EQ(data.labels, (std::vector<int>{4, 5, 6}));
}

TEST(IdxTest, ReadsUbyteImagesAndLabels) {
  const fs::path dir = test_dir();
  write_plain(dir / "images.idx", images_idx());
  write_plain(dir / "labels.idx", labels_idx());
  expect_images(read_idx((dir / "images.idx").string(), (dir / "labels.idx").string()));
  EXPECT_FALSE(read_idx((dir / "images.idx").string()).has_labels());
}

TEST(IdxTest, ReadsGzippedFilesLikePlainOnes) {
  const fs::path dir = test_dir();
  write_gz(dir / "images.idx.gz", images_idx());
  write_gz(dir / "labels.idx.gz", labels_idx());
  expect_images(read_idx((dir / "images.idx.gz").string(), (dir / "labels.idx.gz").string()));
}

TEST(IdxTest, DecodesBigEndianValueTypes) {
  const fs::path dir = test_dir();
  struct Case {
    unsigned char type;
    std::string data;
    std::vector<float> expected;
  };
  const std::vector<Case> cases = {
      {0x09, std::string("\xff\x05", 2), {-1, 5}},
      {0x0B, big_endian<std::int16_t>({-300, 300}), {-300, 300}},
      {0x0C, big_endian<std::int32_t>({-70000, 123456}), {-70000, 123456}},
      {0x0D, big_endian<float>({0.25f, -1.5f}), {0.25f, -1.5f}},
      {0x0E, big_endian<double>({0.125, 1e10}), {0.125f, 1e10f}},
  };
  for (const Case& c : cases) {
    write_plain(dir / "v.idx", make_idx(c.type, {2, 1}, c.data));
    const Dataset data = read_idx((dir / "v.idx").string());
    EXPECT_EQ(data.shape, (Grid{1, 1, 1}));
    ASSERT_EQ(data.size(), 2);
    EXPECT_EQ(data.x(0, 0), c.expected[0]) << int(c.type);
    EXPECT_EQ(data.x(0, 1), c.expected[1]) << int(c.type);
  }
}

TEST(IdxTest, FourDimensionsGiveChannels) {
  const fs::path dir = test_dir();
  write_plain(dir / "rgb.idx", make_idx(0x08, {1, 2, 3, 3}, std::string(18, '\x01')));
  const Dataset data = read_idx((dir / "rgb.idx").string());
  EXPECT_EQ(data.shape, (Grid{2, 3, 3}));
  EXPECT_EQ(data.dim(), 18);
}

TEST(IdxTest, TruncatedFileNamesOffset) {
  const fs::path dir = test_dir();
  write_plain(dir / "x.idx", make_idx(0x08, {60000, 28, 28}, std::string(1000, '\0')));
  const std::string path = (dir / "x.idx").string();
  expect_error<FormatError>([&] { read_idx(path); },
                            {path + ": truncated: header declares 60000 x 28 x 28 bytes but only 1000 remain after "
                                    "offset 16"});
  // The same through gzip, where the size is only found out while decompressing.
  write_gz(dir / "x.idx.gz", make_idx(0x08, {60000, 28, 28}, std::string(1000, '\0')));
  expect_error<FormatError>([&] { read_idx((dir / "x.idx.gz").string()); },
                            {"x.idx.gz: truncated", "60000 x 28 x 28 bytes", "only 1000 remain after offset 16"});
  // Non-byte values name their type and byte count.
  write_plain(dir / "f.idx", make_idx(0x0D, {10, 3}, std::string(8, '\0')));
  expect_error<FormatError>([&] { read_idx((dir / "f.idx").string()); },
                            {"10 x 3 float32 values (120 bytes)", "only 8 remain after offset 12"});
  // A header cut short.
  write_plain(dir / "h.idx", images_idx().substr(0, 9));
  expect_error<FormatError>([&] { read_idx((dir / "h.idx").string()); }, {"h.idx: truncated", "3 dimensions"});
  write_plain(dir / "m.idx", std::string("\0\0", 2));
  expect_error<FormatError>([&] { read_idx((dir / "m.idx").string()); }, {"m.idx: truncated", "magic"});
}

TEST(IdxTest, RejectsBadMagicTypeAndDimensions) {
  const fs::path dir = test_dir();
  auto check = [&](const std::string& bytes, const std::string& part) {
    write_plain(dir / "bad.idx", bytes);
    expect_error<FormatError>([&] { read_idx((dir / "bad.idx").string()); }, {"bad.idx", part});
  };
  check("\x50\x4b\x03\x04 zip?", "not an IDX file");
  check(make_idx(0x07, {1}, "\x01"), "unknown IDX value type 0x07");
  check(make_idx(0x08, {}, ""), "0 dimensions");
  check(make_idx(0x08, {1, 1, 1, 1, 1}, "\x01"), "5 dimensions");
  check(make_idx(0x08, {3, 0}, ""), "is zero");
  check(make_idx(0x08, {1, 2}, "\x01\x02\x03"), "unexpected data");
}

TEST(IdxTest, RefusesHeadersOverTheBudgetBeforeAllocating) {
  const fs::path dir = test_dir();
  const MemoryBudget budget(std::uint64_t{64} << 20, "a test budget");
  // (4e9)^3 float64 values: the product saturates instead of wrapping.
  write_plain(dir / "huge.idx", make_idx(0x0E, {4000000000u, 4000000000u, 4000000000u}, "tiny"));
  expect_error<FormatError>([&] { read_idx((dir / "huge.idx").string(), "", budget); },
                            {"huge.idx", "4000000000 x 4000000000 x 4000000000 float64", "more than 2^64 bytes",
                             "memory budget of 64.0 MiB"});
  // A gzip bomb: 12 GB of zeros declared, 100 bytes there; refused before inflating anything.
  // What is held: the float32 values and one 16 MiB chunk of raw bytes.
  write_gz(dir / "big.idx.gz", make_idx(0x08, {60000, 200000}, std::string(100, '\0')));
  expect_error<FormatError>([&] { read_idx((dir / "big.idx.gz").string(), "", budget); },
                            {"big.idx.gz", "60000 x 200000 ubyte", "needs 48016777216 bytes", "a test budget"});
  // 10 x 10 x 10 ubyte images: their 4000 bytes of float32 and a chunk of all 1000 raw bytes.
  write_plain(dir / "small.idx", make_idx(0x08, {10, 10, 10}, std::string(1000, '\1')));
  expect_error<FormatError>([&] { read_idx((dir / "small.idx").string(), "", MemoryBudget(4999, "b")); },
                            {"small.idx", "needs 5000 bytes"});
  EXPECT_EQ(read_idx((dir / "small.idx").string(), "", MemoryBudget(5000, "b")).size(), 10);
}

TEST(IdxTest, GzipInflatesOnlyWhatExistsUpToTheDeclaredSize) {
  // Within the budget, a header declaring more than the stream holds is a truncation found while
  // inflating (memory grows with the real data), and a stream holding more is refused one byte
  // past the declared size.
  const fs::path dir = test_dir();
  write_gz(dir / "short.idx.gz", make_idx(0x08, {1000, 1000}, std::string(100, '\0')));
  expect_error<FormatError>([&] { read_idx((dir / "short.idx.gz").string()); },
                            {"short.idx.gz: truncated", "1000 x 1000 bytes", "only 100 remain"});
  write_gz(dir / "long.idx.gz", make_idx(0x08, {2, 2}, std::string(1 << 20, '\0')));
  expect_error<FormatError>([&] { read_idx((dir / "long.idx.gz").string()); },
                            {"long.idx.gz", "unexpected data after the 2 x 2 declared values"});
}

TEST(IdxTest, BytesAfterTheGzipStreamAreAnError) {
  // zlib's gzread ignores them; simmatch used to read such a file as if they were not there.
  const fs::path dir = test_dir();
  write_gz(dir / "ok.idx.gz", images_idx());
  const std::string gz = read_all(dir / "ok.idx.gz");
  write_plain(dir / "junk.idx.gz", gz + "trailing garbage");
  expect_error<FormatError>([&] { read_idx((dir / "junk.idx.gz").string()); },
                            {"junk.idx.gz", "unexpected bytes after the gzip stream", "offset " + std::to_string(gz.size())});
  write_plain(dir / "zeros.idx.gz", gz + std::string(3, '\0'));
  EXPECT_THROW(read_idx((dir / "zeros.idx.gz").string()), FormatError);
  // Several gzip members one after the other (`cat a.gz b.gz`) are one valid stream.
  const std::string whole = images_idx();
  write_gz(dir / "a.gz", whole.substr(0, 10));
  write_gz(dir / "b.gz", whole.substr(10));
  write_plain(dir / "two.idx.gz", read_all(dir / "a.gz") + read_all(dir / "b.gz"));
  write_gz(dir / "labels.idx.gz", labels_idx());
  expect_images(read_idx((dir / "two.idx.gz").string(), (dir / "labels.idx.gz").string()));
}

TEST(IdxTest, CorruptGzipIsAFormatError) {
  const fs::path dir = test_dir();
  write_gz(dir / "ok.idx.gz", images_idx());
  std::string gz = read_all(dir / "ok.idx.gz");
  // Cut the compressed stream short.
  write_plain(dir / "cut.idx.gz", gz.substr(0, gz.size() - 12));
  EXPECT_THROW(read_idx((dir / "cut.idx.gz").string()), FormatError);
  // Damage the deflate data after the gzip header.
  for (std::size_t i = 12; i < gz.size() - 8; ++i) gz[i] = static_cast<char>(gz[i] ^ 0x5a);
  write_plain(dir / "bad.idx.gz", gz);
  expect_error<FormatError>([&] { read_idx((dir / "bad.idx.gz").string()); }, {"bad.idx.gz"});
}

TEST(IdxTest, LabelsMustMatchImages) {
  const fs::path dir = test_dir();
  write_plain(dir / "images.idx", images_idx());
  write_plain(dir / "two.idx", make_idx(0x08, {2}, "\x01\x02"));
  expect_error<ShapeError>([&] { read_idx((dir / "images.idx").string(), (dir / "two.idx").string()); },
                           {"two.idx", "2 labels", "3 images"});
  write_plain(dir / "matrix.idx", make_idx(0x08, {3, 1}, "\x01\x02\x03"));
  expect_error<FormatError>([&] { read_idx((dir / "images.idx").string(), (dir / "matrix.idx").string()); },
                            {"matrix.idx", "1-D"});
  write_plain(dir / "floats.idx", make_idx(0x0D, {3}, big_endian<float>({1, 2, 3})));
  expect_error<FormatError>([&] { read_idx((dir / "images.idx").string(), (dir / "floats.idx").string()); },
                            {"floats.idx", "integers"});
  expect_error<IoError>([&] { read_idx((dir / "images.idx").string(), (dir / "none.idx").string()); }, {"none.idx"});
}

TEST(IdxTest, ReadsRealFashionMnist) {
  const fs::path root = "/usr/share/datasets/fashion-mnist";
  if (!fs::exists(root / "t10k-images-idx3-ubyte.gz")) GTEST_SKIP() << "Fashion-MNIST is not installed";
  const Dataset test = read_idx((root / "t10k-images-idx3-ubyte.gz").string(), (root / "t10k-labels-idx1-ubyte.gz").string());
  EXPECT_EQ(test.size(), 10000);
  EXPECT_EQ(test.shape, (Grid{28, 28, 1}));
  EXPECT_EQ(test.x.minCoeff(), 0.0f);
  EXPECT_EQ(test.x.maxCoeff(), 255.0f);
  std::vector<int> per_class(10, 0);
  for (int label : test.labels) {
    ASSERT_GE(label, 0);
    ASSERT_LE(label, 9);
    ++per_class[static_cast<std::size_t>(label)];
  }
  EXPECT_EQ(per_class, std::vector<int>(10, 1000));
  const Dataset train =
      read_idx((root / "train-images-idx3-ubyte.gz").string(), (root / "train-labels-idx1-ubyte.gz").string());
  EXPECT_EQ(train.size(), 60000);
  EXPECT_EQ(train.labels.size(), 60000u);
}

}  // namespace
}  // namespace simmatch
