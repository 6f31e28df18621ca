// PNG writing, heatmaps and mosaics, checked by reading the files back through the image reader.
#include <gtest/gtest.h>

#include <filesystem>


#include "simmatch/error.hpp"
#include "simmatch/npy.hpp"
#include "simmatch/image_folder.hpp"
#include "simmatch/png.hpp"
#include "test_files.hpp"

namespace simmatch {
namespace {

TEST(Png, GreyImageRoundTripsThroughTheReader) {
  const auto dir = test_support::test_dir();
  Image image(5, 3, 1);
  for (Index y = 0; y < 3; ++y)
    for (Index x = 0; x < 5; ++x) image.at(y, x) = static_cast<std::uint8_t>(y * 50 + x * 10);
  write_png((dir / "a.png").string(), image);
  const GrayImage back = read_gray_image((dir / "a.png").string());
  ASSERT_EQ(back.height(), 3);
  ASSERT_EQ(back.width(), 5);
  for (Index y = 0; y < 3; ++y)
    for (Index x = 0; x < 5; ++x) EXPECT_NEAR(back.pixels(y, x) * 255.0f, image.at(y, x), 1e-3);
}

TEST(Png, EmptyOrMisshapenImagesAreRefused) {
  Image empty;
  EXPECT_THROW(encode_png(empty), ShapeError);
  Image bad(2, 2, 1);
  bad.pixels.pop_back();
  EXPECT_THROW(encode_png(bad), ShapeError);
  EXPECT_THROW(Image(2, 2, 2), ShapeError);
}

TEST(Png, WritingIntoAMissingFolderIsAnIoError) {
  EXPECT_THROW(write_png("/nonexistent/folder/x.png", Image(2, 2, 1)), IoError);
}

TEST(Heatmap, SignedGreyMapsZeroToMidGreyAndExtremesToBlackAndWhite) {
  Eigen::MatrixXd m(1, 3);
  m << -2, 0, 2;
  const Image im = heatmap(m, {Colormap::signed_gray, 0, 1});
  EXPECT_EQ(im.at(0, 0), 0);
  EXPECT_EQ(im.at(0, 1), 128);
  EXPECT_EQ(im.at(0, 2), 255);
}

TEST(Heatmap, DivergingMapIsWhiteAtZeroRedForPositiveBlueForNegative) {
  Eigen::MatrixXd m(1, 3);
  m << -1, 0, 1;
  const Image im = heatmap(m, {Colormap::diverging, 0, 2});
  ASSERT_EQ(im.channels, 3);
  ASSERT_EQ(im.width, 6);
  EXPECT_GT(im.at(0, 0, 2), im.at(0, 0, 0));  // blue
  EXPECT_EQ(im.at(0, 2, 0), 255);
  EXPECT_EQ(im.at(0, 2, 1), 255);
  EXPECT_EQ(im.at(0, 2, 2), 255);
  EXPECT_GT(im.at(1, 5, 0), im.at(1, 5, 2));  // red
}

TEST(Mosaic, TilesAreScaledEachByItsOwnLargestValueWithGreyForZero) {
  Eigen::MatrixXd tiles(2, 4);
  tiles << 0, 1, -1, 0,   //
      0, 10, 0, 0;
  const Image im = mosaic(tiles, 2, 2, {2, 1, 1, true});
  ASSERT_EQ(im.width, 2 * 2 + 3);
  ASSERT_EQ(im.height, 2 + 2);
  EXPECT_EQ(im.at(1, 1), 128);  // tile 0, value 0
  EXPECT_EQ(im.at(1, 2), 255);  // tile 0, +max
  EXPECT_EQ(im.at(2, 1), 0);    // tile 0, -max
  EXPECT_EQ(im.at(1, 5), 255);  // tile 1, its own max
  EXPECT_EQ(im.at(0, 0), 0);    // border
}

TEST(Mosaic, AllZeroTileIsUniformGrey) {
  const Image im = mosaic(Eigen::MatrixXd::Zero(1, 9), 3, 3, {1, 1, 0, true});
  for (auto v : im.pixels) EXPECT_EQ(v, 128);
}

TEST(Mosaic, WrongTileSizeIsAShapeError) {
  EXPECT_THROW(mosaic(Eigen::MatrixXd::Zero(2, 5), 2, 2), ShapeError);
}

TEST(ImageFolder, ListsOnlyImagesSortedAndCutsSeededPatches) {
  const auto dir = test_support::test_dir();
  Image a(20, 10, 1, 0), b(8, 8, 3, 255);
  for (Index y = 0; y < 10; ++y)
    for (Index x = 0; x < 20; ++x) a.at(y, x) = static_cast<std::uint8_t>(x * 10);
  write_png((dir / "b.png").string(), a);
  write_png((dir / "a.PNG").string(), b);
  write_png((dir / "notes.txt").string(), b);
  const auto files = list_images(dir.string());
  ASSERT_EQ(files.size(), 2u);
  EXPECT_EQ(std::filesystem::path(files[0]).filename(), "a.PNG");
  PatchOptions opt;
  opt.height = opt.width = 9;  // only b.png (10 x 20) is large enough
  opt.count = 50;
  opt.seed = 3;
  const Dataset patches = image_patches(files, opt);
  EXPECT_EQ(patches.size(), 50);
  EXPECT_EQ(patches.shape, (Grid{9, 9, 1}));
  for (int label : patches.labels) EXPECT_EQ(label, 1);
  // Horizontal ramp: within each patch, pixel (y, x+1) - (y, x) = 10/255.
  EXPECT_NEAR(patches.x(1, 0) - patches.x(0, 0), 10.0f / 255.0f, 1e-5);
  const Dataset again = image_patches(files, opt);
  EXPECT_EQ(patches.x, again.x);
  opt.height = 30;
  EXPECT_THROW(image_patches(files, opt), ConfigError);
}

TEST(ImageFolder, DownsamplingAveragesBoxes) {
  GrayImage im;
  im.pixels.resize(2, 4);
  im.pixels << 0, 1, 2, 3, 1, 2, 3, 4;
  const GrayImage half = downsample(im, 2);
  ASSERT_EQ(half.height(), 1);
  ASSERT_EQ(half.width(), 2);
  EXPECT_FLOAT_EQ(half.pixels(0, 0), 1.0f);
  EXPECT_FLOAT_EQ(half.pixels(0, 1), 3.0f);
  EXPECT_THROW(downsample(im, 0), ConfigError);
}

TEST(ImageFolder, MissingFolderAndNonImagesAreClearErrors) {
  EXPECT_THROW(list_images("/nonexistent/folder"), IoError);
  const auto dir = test_support::test_dir();
  write_file_atomically((dir / "x.png").string(), "not a png");
  EXPECT_THROW(read_gray_image((dir / "x.png").string()), FormatError);
  write_png((dir / "y.png").string(), Image(4, 4, 1, 9));
  const std::vector<std::string> files{(dir / "x.png").string(), (dir / "y.png").string()};
  PatchOptions opt;
  opt.height = opt.width = 2;
  opt.count = 3;
  EXPECT_THROW(image_patches(files, opt), FormatError);
  opt.skip_unreadable = true;
  std::vector<std::string> skipped;
  EXPECT_EQ(image_patches(files, opt, &skipped).size(), 3);
  EXPECT_EQ(skipped, std::vector<std::string>{files[0]});
}

}  // namespace
}  // namespace simmatch
