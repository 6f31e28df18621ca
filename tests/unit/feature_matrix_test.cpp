// FeatureMatrix: float32 NPY files are mapped, not copied; other dtypes and orders are converted;
// malformed files and non-finite values are refused naming the file.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>

#include "test_files.hpp"
#include "simmatch/error.hpp"
#include "simmatch/feature_matrix.hpp"
#include "simmatch/npy.hpp"

namespace simmatch {
namespace {

using test_support::expect_error;
using test_support::test_dir;
using test_support::write_bytes;

// 4 samples of 3 features, sample t = (t, 10 t, 100 t) + 0.5.
std::vector<float> rows() {
  std::vector<float> v;
  for (int t = 0; t < 4; ++t) {
    for (float scale : {1.0f, 10.0f, 100.0f}) v.push_back(scale * static_cast<float>(t) + 0.5f);
  }
  return v;
}

void expect_rows(const FeatureMatrix& m) {
  ASSERT_EQ(m.features(), 3);
  ASSERT_EQ(m.samples(), 4);
  const std::vector<float> v = rows();
  for (Index t = 0; t < 4; ++t) {
    for (Index f = 0; f < 3; ++f) EXPECT_EQ(m.matrix()(f, t), v[static_cast<std::size_t>(t * 3 + f)]);
  }
}

TEST(FeatureMatrix, Float32NpyIsMappedAsFeaturesBySamples) {
  const auto path = (test_dir() / "x.npy").string();
  const std::vector<float> v = rows();
  write_npy(path, NpyArray::from_floats(v.data(), {4, 3}));
  const FeatureMatrix m = FeatureMatrix::from_npy(path);
  EXPECT_TRUE(m.mapped());
  expect_rows(m);
  // Image-shaped samples are flattened: (4, 3, 1) reads as 3 features.
  write_npy(path, NpyArray::from_floats(v.data(), {4, 3, 1}));
  expect_rows(FeatureMatrix::from_npy(path));
}

TEST(FeatureMatrix, TheMappingOutlivesCopiesOfTheObject) {
  const auto path = (test_dir() / "x.npy").string();
  const std::vector<float> v = rows();
  write_npy(path, NpyArray::from_floats(v.data(), {4, 3}));
  FeatureMatrix copy;
  {
    const FeatureMatrix m = FeatureMatrix::from_npy(path);
    copy = m;
  }
  expect_rows(copy);
}

TEST(FeatureMatrix, OtherDtypesAndFortranOrderAreConverted) {
  const auto dir = test_dir();
  std::vector<double> d;
  for (float f : rows()) d.push_back(f);
  write_npy((dir / "f8.npy").string(), NpyArray::from_doubles(d.data(), {4, 3}));
  const FeatureMatrix f8 = FeatureMatrix::from_npy((dir / "f8.npy").string());
  EXPECT_FALSE(f8.mapped());
  expect_rows(f8);
  // The same values stored column by column (Fortran order).
  std::vector<float> fortran;
  const std::vector<float> v = rows();
  for (int f = 0; f < 3; ++f) {
    for (int t = 0; t < 4; ++t) fortran.push_back(v[static_cast<std::size_t>(t * 3 + f)]);
  }
  NpyArray a = NpyArray::from_floats(fortran.data(), {4, 3});
  a.fortran_order = true;
  write_npy((dir / "fortran.npy").string(), a);
  const FeatureMatrix fm = FeatureMatrix::from_npy((dir / "fortran.npy").string());
  EXPECT_FALSE(fm.mapped());
  expect_rows(fm);
}

TEST(FeatureMatrix, OwnedValuesAreKept) {
  Eigen::MatrixXf x = Eigen::MatrixXf::Random(3, 5);
  const Eigen::MatrixXf expected = x;
  const float* data = x.data();
  const FeatureMatrix m(std::move(x));
  EXPECT_FALSE(m.mapped());
  EXPECT_EQ(m.matrix(), expected);
  EXPECT_EQ(m.matrix().data(), data);  // moved, not copied
}

TEST(FeatureMatrix, BadFilesAndValuesAreRefusedNamingTheFile) {
  const auto dir = test_dir();
  const std::string path = (dir / "x.npy").string();
  std::vector<float> v = rows();
  v[7] = std::nanf("");
  write_npy(path, NpyArray::from_floats(v.data(), {4, 3}));
  expect_error<NumericalError>([&] { FeatureMatrix::from_npy(path); }, {path, "sample 2 holds NaN at feature 1"});

  const std::vector<float> ok = rows();
  const std::string bytes = serialize_npy(NpyArray::from_floats(ok.data(), {4, 3}));
  write_bytes(path, bytes.substr(0, bytes.size() - 4));
  expect_error<FormatError>([&] { FeatureMatrix::from_npy(path); }, {path, "truncated"});
  write_bytes(path, "not an npy file at all");
  expect_error<FormatError>([&] { FeatureMatrix::from_npy(path); }, {path, "not an NPY file"});
  write_npy(path, NpyArray::from_floats(ok.data(), {12}));
  expect_error<ShapeError>([&] { FeatureMatrix::from_npy(path); }, {path, "1 dimension"});
  write_npy(path, NpyArray::from_floats(ok.data(), {0, 3}));
  expect_error<FormatError>([&] { FeatureMatrix::from_npy(path); }, {path, "no samples"});
  expect_error<IoError>([&] { FeatureMatrix::from_npy((dir / "missing.npy").string()); }, {"missing.npy"});
  expect_error<IoError>([&] { FeatureMatrix::from_npy(dir.string()); }, {"is a directory"});
}

}  // namespace
}  // namespace simmatch
