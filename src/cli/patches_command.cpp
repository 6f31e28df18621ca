// `simmatch patches FOLDER OUT.npy`: seeded random grayscale patches of the images (PNG, JPEG, ...)
// in a folder, as a (T, H, W) float32 NPY in [0, 1] that `simmatch train` reads with data.format=npy;
// optionally ZCA-whitened (then zero mean, unit mean variance per pixel).
#include <iostream>
#include <memory>

#include <fmt/format.h>

#include "cli/commands.hpp"
#include "simmatch/image_folder.hpp"
#include "simmatch/npy.hpp"
#include "simmatch/whitening.hpp"

namespace simmatch::cli {
namespace {

struct PatchArgs {
  std::string folder;
  std::string out_path;
  std::string labels_path;
  Index size = 16;
  bool whiten = false;
  double whiten_epsilon = 0.01;
  PatchOptions options;
};

void run_patches(PatchArgs args) {
  args.options.height = args.options.width = args.size;
  const std::vector<std::string> files = list_images(args.folder);
  std::vector<std::string> skipped;
  Dataset d = image_patches(files, args.options, &skipped);
  for (const std::string& path : skipped) std::cerr << "simmatch: skipped " << path << " (not a readable image)\n";
  if (args.whiten) {
    // The local luminance (each patch's mean) would be the dominant direction and set epsilon.
    subtract_sample_mean(d);
    const WhiteningSummary w = zca_whiten(d, args.whiten_epsilon);
    std::cout << fmt::format("ZCA-whitened: largest covariance eigenvalue {:.4g}, epsilon {:.4g}, {} of {} directions above it\n",
                             w.largest_eigenvalue, w.epsilon, w.effective_rank, d.dim());
  }
  write_npy(args.out_path, NpyArray::from_floats(d.x.data(), {d.size(), d.shape.height, d.shape.width}));
  if (!args.labels_path.empty()) write_npy(args.labels_path, NpyArray::from_ints(d.labels.data(), {d.size()}));
  std::cout << fmt::format("wrote {} patches of {}x{} from {} images in {} to {}\n", d.size(), d.shape.height,
                           d.shape.width, files.size(), args.folder, args.out_path);
}

}  // namespace

void register_patches(CLI::App& app) {
  auto args = std::make_shared<PatchArgs>();
  CLI::App* cmd = app.add_subcommand("patches", "Cut random grayscale patches from a folder of images into an NPY");
  cmd->add_option("folder", args->folder, "Folder of PNG/JPEG/BMP/PNM images")->required();
  cmd->add_option("out", args->out_path, "Output NPY, shape (count, size, size), float32 in [0, 1] (unless --whiten)")->required();
  cmd->add_option("--size", args->size, "Patch side in pixels")->capture_default_str()->check(CLI::PositiveNumber);
  cmd->add_option("--count", args->options.count, "Number of patches")->capture_default_str()->check(CLI::PositiveNumber);
  cmd->add_option("--downsample", args->options.downsample, "Box-downsample every image by this factor first")
      ->capture_default_str()->check(CLI::PositiveNumber);
  cmd->add_option("--seed", args->options.seed, "Seed of the patch positions")->capture_default_str();
  cmd->add_flag("--skip-unreadable", args->options.skip_unreadable, "Skip files that are not readable images");
  cmd->add_flag("--whiten", args->whiten,
                "Remove each patch's mean, then ZCA-whiten the patches (computed from these patches): edges "
                "instead of smooth gradients dominate");
  cmd->add_option("--whiten-epsilon", args->whiten_epsilon,
                  "Whitening regulariser, as a fraction of the largest covariance eigenvalue")
      ->capture_default_str()->check(CLI::PositiveNumber);
  cmd->add_option("--labels-out", args->labels_path, "Also write each patch's source image index as an int32 NPY");
  cmd->footer("Images smaller than a patch are skipped; colour images are converted to luma.");
  cmd->callback([args] { run_patches(*args); });
}

}  // namespace simmatch::cli
