// Checkpoints: a model NPZ (model_io's arrays) plus one "checkpoint" array holding the training
// state as JSON. Keeping the model layout means `simmatch encode` and numpy.load read a
// checkpoint like any model, and one atomic write covers weights and position together.
#include "simmatch/checkpoint.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <map>

#include <fmt/format.h>
#include <nlohmann/json.hpp>
#include <zlib.h>

#include "simmatch/error.hpp"
#include "simmatch/model_io.hpp"
#include "simmatch/npy.hpp"

namespace simmatch {
namespace {

using Json = nlohmann::json;

constexpr const char* kFormatName = "simmatch-checkpoint";
constexpr int kFormatVersion = 1;
constexpr const char* kStateKey = "checkpoint";

template <typename T>
bool finite_values(const SparseWeights<T>& m) {
  const T* v = m.valuePtr();
  return std::all_of(v, v + m.nonZeros(), [](T x) { return std::isfinite(x); });
}

template <typename T>
bool weights_finite(const Network<T>& network) {
  return std::all_of(network.layers().begin(), network.layers().end(),
                     [](const Layer<T>& layer) { return finite_values(layer.W()) && finite_values(layer.L()); });
}

Json state_to_json(const CheckpointState& s) {
  // The seed and checksum are stored as strings: JSON readers (and numpy users) commonly parse
  // numbers as doubles, which would round seeds above 2^53.
  return {{"format", kFormatName},
          {"version", kFormatVersion},
          {"epoch", s.position.epoch},
          {"batch", s.position.batch},
          {"epochs", s.epochs},
          {"seed", std::to_string(s.seed)},
          {"shuffle", s.shuffle},
          {"batch_size", s.batch_size},
          {"samples_per_epoch", s.samples_per_epoch},
          {"batches_per_epoch", s.batches_per_epoch},
          {"learning_rate", s.learning_rate},
          {"epoch_tally",
           {{"iterations", s.position.tally.iterations},
            {"converged", s.position.tally.converged},
            {"samples", s.position.tally.samples},
            {"skipped", s.position.tally.skipped},
            {"seconds", s.position.tally.seconds},
            {"continued", s.position.tally.continued},
            {"followed", s.position.tally.followed}}},
          {"data", {{"samples", s.data.samples}, {"features", s.data.features}, {"crc32", s.data.crc32}}},
          {"metrics", s.metrics_jsonl}};
}

// Reads the "checkpoint" JSON back, naming the file and field in every error.
class StateReader {
public:
  StateReader(const std::string& path, const Json& json) : path_(path), json_(json) {}

  [[noreturn]] void fail(const std::string& field, const std::string& why) const {
    throw FormatError(fmt::format("{}: checkpoint field '{}': {}", path_, field, why));
  }

  const Json& field(const Json& object, const std::string& name, const std::string& where) const {
    if (!object.is_object() || !object.contains(name)) fail(where + name, "missing");
    return object.at(name);
  }
  Index integer(const std::string& name, Index lo, Index hi, const Json* object = nullptr,
                const std::string& where = "") const {
    const Json& v = field(object ? *object : json_, name, where);
    if (!v.is_number_integer()) fail(where + name, "is not an integer");
    const auto x = v.get<std::int64_t>();
    if (v.is_number_unsigned() && v.get<std::uint64_t>() > static_cast<std::uint64_t>(INT64_MAX)) {
      fail(where + name, fmt::format("{} is out of range [{}, {}]", v.dump(), lo, hi));
    }
    if (x < lo || x > hi) fail(where + name, fmt::format("{} is out of range [{}, {}]", x, lo, hi));
    return static_cast<Index>(x);
  }
  std::string string(const std::string& name) const {
    const Json& v = field(json_, name, "");
    if (!v.is_string()) fail(name, "is not a string");
    return v.get<std::string>();
  }

  CheckpointState read() const {
    if (!json_.is_object()) fail("", "is not a JSON object");
    if (json_.value("format", "") != kFormatName) fail("format", fmt::format("is not \"{}\"", kFormatName));
    const Json& version = field(json_, "version", "");
    if (!version.is_number_integer() || version.get<int>() != kFormatVersion) {
      fail("version", fmt::format("unsupported version {} (this build reads version {})", version.dump(),
                                  kFormatVersion));
    }
    constexpr Index kMaxIndex = std::numeric_limits<Index>::max();
    constexpr Index kMaxInt = std::numeric_limits<int>::max();
    CheckpointState s;
    s.epochs = static_cast<int>(integer("epochs", 0, kMaxInt));
    s.position.epoch = static_cast<int>(integer("epoch", 0, s.epochs));
    s.batch_size = integer("batch_size", 1, kMaxIndex);
    s.samples_per_epoch = integer("samples_per_epoch", 0, kMaxIndex);
    s.batches_per_epoch = integer("batches_per_epoch", 1, kMaxIndex);
    // A position never names the end of an epoch: that is (epoch + 1, 0).
    s.position.batch = integer("batch", 0, s.batches_per_epoch - 1);
    const std::string seed = string("seed");
    if (seed.empty() || seed.size() > 20 || !std::all_of(seed.begin(), seed.end(), [](char c) { return c >= '0' && c <= '9'; })) {
      fail("seed", fmt::format("\"{}\" is not an unsigned 64-bit integer", seed));
    }
    try {
      s.seed = std::stoull(seed);
    } catch (const std::exception&) {
      fail("seed", fmt::format("\"{}\" is not an unsigned 64-bit integer", seed));
    }
    const Json& shuffle = field(json_, "shuffle", "");
    if (!shuffle.is_boolean()) fail("shuffle", "is not true or false");
    s.shuffle = shuffle.get<bool>();
    const Json& rate = field(json_, "learning_rate", "");
    if (!rate.is_number() || !std::isfinite(rate.get<double>())) fail("learning_rate", "is not a finite number");
    s.learning_rate = rate.get<double>();
    const Json& data = field(json_, "data", "");
    if (!data.is_object()) fail("data", "is not a JSON object");
    s.data.samples = integer("samples", 1, kMaxIndex, &data, "data.");
    s.data.features = integer("features", 1, kMaxIndex, &data, "data.");
    s.data.crc32 = static_cast<std::uint32_t>(integer("crc32", 0, 0xffffffffLL, &data, "data."));
    s.metrics_jsonl = string("metrics");
    // Absent in checkpoints written before it existed: the resumed epoch then reports only the
    // batches after the checkpoint, as those builds did.
    if (json_.contains("epoch_tally")) {
      const Json& tally = json_.at("epoch_tally");
      if (!tally.is_object()) fail("epoch_tally", "is not a JSON object");
      auto count = [&](const char* name) {
        const Json& v = field(tally, name, "epoch_tally.");
        if (!v.is_number() || !std::isfinite(v.get<double>()) || v.get<double>() < 0) {
          fail(std::string("epoch_tally.") + name, fmt::format("{} is not a finite number >= 0", v.dump()));
        }
        return v.get<double>();
      };
      // The solver paths were added later: absent, the resumed epoch counts only its later samples.
      auto optional_count = [&](const char* name) { return tally.contains(name) ? count(name) : 0.0; };
      s.position.tally = EpochTally{count("iterations"), count("converged"), count("samples"),      count("skipped"),
                                    count("seconds"),    optional_count("continued"), optional_count("followed")};
    }
    return s;
  }

private:
  const std::string& path_;
  const Json& json_;
};

void flatten(const Json& j, const std::string& prefix, std::map<std::string, Json>& out) {
  if (j.is_object()) {
    for (const auto& [key, value] : j.items()) flatten(value, prefix.empty() ? key : prefix + "." + key, out);
  } else if (j.is_array() && !j.empty() && std::all_of(j.begin(), j.end(), [](const Json& e) { return e.is_object(); })) {
    // Lists of tables ([[layers]]) compare entry by entry, so the message names layers.1.stride.
    for (std::size_t i = 0; i < j.size(); ++i) flatten(j[i], fmt::format("{}.{}", prefix, i), out);
    out[prefix + ".#"] = j.size();
  } else {
    out[prefix] = j;
  }
}

bool is_ignored(const std::string& key, const std::vector<std::string>& ignored) {
  return std::any_of(ignored.begin(), ignored.end(), [&](const std::string& i) {
    return key == i || (key.size() > i.size() && key.compare(0, i.size(), i) == 0 && key[i.size()] == '.');
  });
}

}  // namespace

DatasetFingerprint fingerprint(const Dataset& data) {
  DatasetFingerprint f;
  f.samples = data.size();
  f.features = data.dim();
  uLong crc = ::crc32(0L, Z_NULL, 0);
  const auto* bytes = reinterpret_cast<const Bytef*>(data.x.data());
  std::size_t left = static_cast<std::size_t>(data.x.size()) * sizeof(float);
  // crc32 takes a uInt length; feed large data sets in pieces.
  constexpr std::size_t kChunk = std::size_t{1} << 30;
  while (left > 0) {
    const std::size_t n = std::min(left, kChunk);
    crc = ::crc32(crc, bytes, static_cast<uInt>(n));
    bytes += n;
    left -= n;
  }
  f.crc32 = static_cast<std::uint32_t>(crc);
  return f;
}

CheckpointState checkpoint_state(const TrainOptions& options, const Dataset& data, const TrainPosition& position,
                                 const std::string& config_json) {
  CheckpointState s;
  s.position = position;
  s.epochs = options.epochs;
  s.seed = options.seed;
  s.shuffle = options.shuffle;
  s.batch_size = options.batch_size;
  s.samples_per_epoch = options.samples_per_epoch;
  const Index per_epoch = options.samples_per_epoch > 0 ? options.samples_per_epoch : data.size();
  check_sample_positions(options, per_epoch);
  s.batches_per_epoch = std::max<Index>(1, batch_count(per_epoch, std::max(kMinBatchSize, options.batch_size)));
  s.learning_rate = options.schedule.at(static_cast<double>(position.epoch));
  s.data = fingerprint(data);
  s.config_json = config_json;
  return s;
}

template <typename T>
void save_checkpoint(const std::string& path, const Network<T>& network, const CheckpointState& state) {
  if (!weights_finite(network)) {
    throw NumericalError(fmt::format("checkpoint {}: not written because the weights hold NaN/Inf (epoch {}, batch {}); "
                                     "the previous checkpoint is kept",
                                     path, state.position.epoch, state.position.batch));
  }
  if (!nlohmann::json::accept(state.config_json)) {
    throw InternalError(fmt::format("checkpoint {}: the config is not valid JSON", path));
  }
  auto arrays = model_arrays(network, state.config_json);
  arrays[kStateKey] = NpyArray::from_bytes(state_to_json(state).dump(2));
  write_npz(path, arrays);
}

template <typename T>
LoadedCheckpoint<T> load_checkpoint(const std::string& path, const MemoryBudget& budget) {
  NpzReader npz(path, budget);
  if (!npz.contains(kStateKey)) {
    throw FormatError(fmt::format("{}: not a checkpoint (no '{}' array; is it a model file?)", path, kStateKey));
  }
  const NpyArray raw = npz.read(kStateKey);
  if (raw.dtype != "|u1" || raw.shape.size() != 1) {
    throw FormatError(fmt::format("{}: array '{}' must be 1-D |u1 JSON text", path, kStateKey));
  }
  Json json;
  try {
    json = Json::parse(raw.as_text());
  } catch (const Json::exception& e) {
    throw FormatError(fmt::format("{}: array '{}': invalid JSON: {}", path, kStateKey, e.what()));
  }
  CheckpointState state = StateReader(path, json).read();
  // model_from_arrays refuses weights that are not finite, naming the array and entry.
  LoadedModel<T> model = model_from_arrays<T>(path, read_model_arrays(npz));
  state.config_json = std::move(model.config_json);
  return LoadedCheckpoint<T>{std::move(model.network), std::move(state)};
}

template <typename T>
void check_resumable(const std::string& path, const LoadedCheckpoint<T>& saved, const CheckpointState& current,
                     const Network<T>& network) {
  const CheckpointState& s = saved.state;
  std::vector<std::string> problems;
  auto differ = [&](const char* what, const auto& was, const auto& now) {
    if (was != now) problems.push_back(fmt::format("{} was {}, is now {}", what, was, now));
  };
  differ("seed", s.seed, current.seed);
  differ("shuffle", s.shuffle, current.shuffle);
  differ("batch size", s.batch_size, current.batch_size);
  differ("samples per epoch", s.samples_per_epoch, current.samples_per_epoch);
  differ("batches per epoch", s.batches_per_epoch, current.batches_per_epoch);
  differ("data samples", s.data.samples, current.data.samples);
  differ("data features", s.data.features, current.data.features);
  if (s.data.crc32 != current.data.crc32) {
    problems.push_back(fmt::format("data checksum was {:08x}, is now {:08x} (other data or preprocessing)",
                                   s.data.crc32, current.data.crc32));
  }
  const Network<T>& n = saved.network;
  if (n.input_size() != network.input_size() || n.num_layers() != network.num_layers()) {
    problems.push_back(fmt::format("network was {} inputs and {} layer(s), is now {} inputs and {} layer(s)",
                                   n.input_size(), n.num_layers(), network.input_size(), network.num_layers()));
  } else {
    if (n.gamma() != network.gamma()) problems.push_back(fmt::format("gamma was {}, is now {}", n.gamma(), network.gamma()));
    for (Index p = 0; p < n.num_layers(); ++p) {
      const Layer<T>& a = n.layer(p);
      const Layer<T>& b = network.layer(p);
      if (!(a.cw() == b.cw()) || !(a.cl() == b.cl())) {
        problems.push_back(fmt::format("layer {}: its structure (C^W or C^L) differs", p + 1));
      }
      if (a.activation().name() != b.activation().name() || a.activation().gain() != b.activation().gain() ||
          a.activation().clip() != b.activation().clip()) {
        problems.push_back(fmt::format("layer {}: its activation differs", p + 1));
      }
    }
  }
  if (!problems.empty()) {
    std::string text;
    for (const auto& p : problems) text += (text.empty() ? "" : "; ") + p;
    throw ConfigError(fmt::format("{}: cannot resume: the run differs from the checkpointed one: {}", path, text));
  }
}

std::vector<std::string> config_differences(const std::string& saved_json, const std::string& current_json,
                                            const std::vector<std::string>& ignored, const std::string& defaults_json) {
  Json a, b, d;
  try {
    a = Json::parse(saved_json);
    b = Json::parse(current_json);
    if (!defaults_json.empty()) d = Json::parse(defaults_json);
  } catch (const Json::exception& e) {
    throw FormatError(fmt::format("config_differences: invalid JSON: {}", e.what()));
  }
  std::map<std::string, Json> fa, fb, fd;
  flatten(a, "", fa);
  flatten(b, "", fb);
  if (!defaults_json.empty()) flatten(d, "", fd);
  const auto added_at_default = [&](const std::string& key, const Json& value) {
    const auto def = fd.find(key);
    return def != fd.end() && def->second == value;
  };
  std::vector<std::string> keys;
  for (const auto& [key, value] : fa) {
    const auto other = fb.find(key);
    if ((other == fb.end() || other->second != value) && !is_ignored(key, ignored)) keys.push_back(key);
  }
  for (const auto& [key, value] : fb) {
    if (!fa.contains(key) && !is_ignored(key, ignored) && !added_at_default(key, value)) keys.push_back(key);
  }
  std::sort(keys.begin(), keys.end());
  return keys;
}

template void save_checkpoint<float>(const std::string&, const Network<float>&, const CheckpointState&);
template void save_checkpoint<double>(const std::string&, const Network<double>&, const CheckpointState&);
template LoadedCheckpoint<float> load_checkpoint<float>(const std::string&, const MemoryBudget&);
template LoadedCheckpoint<double> load_checkpoint<double>(const std::string&, const MemoryBudget&);
template void check_resumable<float>(const std::string&, const LoadedCheckpoint<float>&, const CheckpointState&,
                                     const Network<float>&);
template void check_resumable<double>(const std::string&, const LoadedCheckpoint<double>&, const CheckpointState&,
                                      const Network<double>&);

}  // namespace simmatch
