// Checkpoints: bit-exact round trip of weights and state, exact resumption through a file, a
// refusal to write NaN weights or to resume a different run, and a FormatError naming the file and
// field for each broken part of a checkpoint.
#include <gtest/gtest.h>
#include <zip.h>
#include <unistd.h>

#include <filesystem>
#include <limits>
#include <map>

#include <nlohmann/json.hpp>

#include "simmatch/checkpoint.hpp"
#include "simmatch/error.hpp"
#include "simmatch/model_io.hpp"
#include "simmatch/npy.hpp"
#include "test_files.hpp"
#include "test_networks.hpp"

namespace simmatch {
namespace {

using test_support::random_dataset;

namespace fs = std::filesystem;
using test_support::expect_error;
using test_support::test_dir;
using test_support::write_bytes;
using Json = nlohmann::json;

template <typename T>
bool same_weights(const Network<T>& a, const Network<T>& b) {
  if (a.num_layers() != b.num_layers()) return false;
  for (Index p = 0; p < a.num_layers(); ++p) {
    for (const auto& [x, y] : {std::pair{&a.layer(p).W(), &b.layer(p).W()}, std::pair{&a.layer(p).L(), &b.layer(p).L()}}) {
      if (x->nonZeros() != y->nonZeros()) return false;
      for (Index s = 0; s < x->nonZeros(); ++s) {
        if (x->valuePtr()[s] != y->valuePtr()[s]) return false;
      }
    }
  }
  return true;
}

TrainOptions small_options() {
  TrainOptions o;
  o.epochs = 3;
  o.samples_per_epoch = 30;
  o.batch_size = 4;
  o.seed = 9;
  o.cost_samples = 0;
  o.schedule = LearningRateSchedule::inverse_decay(0.05, 0.5, 1e-3);
  return o;
}

// A checkpoint file as arrays, to break one part at a time.
std::map<std::string, NpyArray> saved_arrays(const fs::path& dir) {
  Network<float> net = test_support::random_network<float>({5, 3}, 0.0, Activation::tanh(), 2);
  const Dataset data = random_dataset(5, 12, 1);
  const std::string path = (dir / "base.npz").string();
  save_checkpoint(path, net, checkpoint_state(small_options(), data, TrainPosition{1, 2, {}}, R"({"seed": 9})"));
  return read_npz(path);
}

Json state_of(const std::map<std::string, NpyArray>& arrays) { return Json::parse(arrays.at("checkpoint").as_text()); }

}  // namespace

TEST(CheckpointTest, RoundTripIsBitExactWithTheWholeState) {
  const fs::path dir = test_dir();
  const std::string path = (dir / "run.ckpt.npz").string();
  Network<double> net = test_support::random_network<double>({6, 4, 3}, 0.5, Activation::tanh(), 4);
  const Dataset data = random_dataset(6, 25, 3);
  TrainOptions o = small_options();
  o.seed = std::numeric_limits<std::uint64_t>::max() - 1;  // beyond 2^53: must survive JSON
  CheckpointState state = checkpoint_state(o, data, TrainPosition{2, 5, EpochTally{123.25, 19, 20, 1, 0.1 + 0.2, 7, 2}},
                                           R"({"train": {"eta": 0.05}})");
  state.metrics_jsonl = "{\"epoch\":1}\n{\"epoch\":2}\n";
  save_checkpoint(path, net, state);

  const auto loaded = load_checkpoint<double>(path);
  EXPECT_TRUE(same_weights(net, loaded.network));
  const CheckpointState& s = loaded.state;
  EXPECT_EQ(s.position.epoch, 2);
  EXPECT_EQ(s.position.batch, 5);
  EXPECT_EQ(s.position.tally.iterations, 123.25);
  EXPECT_EQ(s.position.tally.converged, 19);
  EXPECT_EQ(s.position.tally.samples, 20);
  EXPECT_EQ(s.position.tally.skipped, 1);
  EXPECT_EQ(s.position.tally.seconds, 0.1 + 0.2);  // bit-exact through JSON
  EXPECT_EQ(s.position.tally.continued, 7);
  EXPECT_EQ(s.position.tally.followed, 2);
  EXPECT_EQ(s.epochs, 3);
  EXPECT_EQ(s.seed, o.seed);
  EXPECT_EQ(s.batch_size, 4);
  EXPECT_EQ(s.samples_per_epoch, 30);
  EXPECT_EQ(s.batches_per_epoch, 8);
  EXPECT_DOUBLE_EQ(s.learning_rate, o.schedule.at(2.0));
  EXPECT_EQ(s.data, fingerprint(data));
  EXPECT_EQ(s.metrics_jsonl, state.metrics_jsonl);
  EXPECT_EQ(Json::parse(s.config_json), Json::parse(state.config_json));
  // A checkpoint is a model file as well.
  EXPECT_TRUE(same_weights(net, load_model<double>(path).network));
  // And loads in the other precision.
  EXPECT_EQ(load_checkpoint<float>(path).network.num_layers(), 2);
}

TEST(CheckpointTest, CheckpointsWithoutAnEpochTallyStillLoad) {
  const fs::path dir = test_dir();
  auto arrays = saved_arrays(dir);
  Json state = state_of(arrays);
  state.erase("epoch_tally");  // written before the tally existed
  arrays["checkpoint"] = NpyArray::from_bytes(state.dump());
  const std::string path = (dir / "old.npz").string();
  write_npz(path, arrays);
  const auto loaded = load_checkpoint<double>(path);
  EXPECT_EQ(loaded.state.position.tally.samples, 0);
  EXPECT_EQ(loaded.state.position.tally.seconds, 0);
}

TEST(CheckpointTest, ResumingThroughAFileGivesTheUninterruptedModel) {
  const fs::path dir = test_dir();
  const std::string path = (dir / "run.ckpt.npz").string();
  const Dataset data = random_dataset(6, 25, 3);
  EulerSolver<float> solver;
  const Network<float> initial = test_support::random_network<float>({6, 4, 3}, 0.5, Activation::tanh(), 4);

  Network<float> full = initial;
  Trainer<float>(full, solver, small_options()).fit(data);

  // A run that checkpoints every 3 batches and "dies" in the middle of epoch 2.
  TrainOptions o = small_options();
  o.checkpoint_every = 3;
  Network<float> killed = initial;
  TrainCallbacks cb;
  cb.on_checkpoint = [&](const TrainPosition& pos) {
    save_checkpoint(path, killed, checkpoint_state(o, data, pos));
    if (pos.epoch == 1 && pos.batch == 6) throw Interrupted("simulated kill");
  };
  EXPECT_THROW(Trainer<float>(killed, solver, o).fit(data, cb), Interrupted);

  auto resumed = load_checkpoint<float>(path);
  EXPECT_EQ(resumed.state.position.epoch, 1);
  EXPECT_EQ(resumed.state.position.batch, 6);
  Network<float> fresh = initial;
  check_resumable(path, resumed, checkpoint_state(o, data, {}), fresh);
  Trainer<float>(resumed.network, solver, o).fit(data, {}, resumed.state.position);
  EXPECT_TRUE(same_weights(full, resumed.network));
}

TEST(CheckpointTest, NanWeightsAreNeverWrittenAndTheOldCheckpointStays) {
  const fs::path dir = test_dir();
  const std::string path = (dir / "run.ckpt.npz").string();
  Network<double> net = test_support::random_network<double>({4, 3}, 0.0, Activation::tanh(), 1);
  const Dataset data = random_dataset(4, 10, 1);
  save_checkpoint(path, net, checkpoint_state(small_options(), data, TrainPosition{1, 0, {}}));
  const std::string before = read_file(path);
  net.layer(0).W().valuePtr()[0] = std::numeric_limits<double>::quiet_NaN();
  expect_error<NumericalError>([&] { save_checkpoint(path, net, checkpoint_state(small_options(), data, {2, 0, {}})); },
                               {path, "NaN/Inf", "previous checkpoint is kept"});
  EXPECT_EQ(read_file(path), before);
  // No temporary files left behind.
  EXPECT_EQ(std::distance(fs::directory_iterator(dir), fs::directory_iterator{}), 1);
}

TEST(CheckpointTest, ResumingADifferentRunIsRefusedWithEveryDifference) {
  const fs::path dir = test_dir();
  const std::string path = (dir / "run.ckpt.npz").string();
  Network<float> net = test_support::random_network<float>({6, 4}, 0.0, Activation::tanh(), 4);
  const Dataset data = random_dataset(6, 25, 3);
  save_checkpoint(path, net, checkpoint_state(small_options(), data, TrainPosition{1, 0, {}}));
  const auto saved = load_checkpoint<float>(path);

  // The same run (more epochs are fine) resumes.
  TrainOptions longer = small_options();
  longer.epochs = 10;
  EXPECT_NO_THROW(check_resumable(path, saved, checkpoint_state(longer, data, {}), net));

  TrainOptions other = small_options();
  other.seed = 10;
  other.batch_size = 5;
  Dataset changed = data;
  changed.x(0, 0) += 1.0f;
  expect_error<ConfigError>([&] { check_resumable(path, saved, checkpoint_state(other, changed, {}), net); },
                            {path, "cannot resume", "seed was 9, is now 10", "batch size was 4, is now 5",
                             "data checksum"});
  Network<float> wider = test_support::random_network<float>({6, 5}, 0.0, Activation::tanh(), 4);
  expect_error<ConfigError>([&] { check_resumable(path, saved, checkpoint_state(small_options(), data, {}), wider); },
                            {"layer 1: its structure"});
}

TEST(CheckpointTest, ConfigDifferencesNameDottedKeys) {
  const std::string a = R"({"train": {"eta": 0.1, "epochs": 3}, "output": {"dir": "a"},
                            "layers": [{"stride": 2}, {"stride": 1}], "seed": 1})";
  const std::string b = R"({"train": {"eta": 0.2, "epochs": 9}, "output": {"dir": "b"},
                            "layers": [{"stride": 2}, {"stride": 3}], "seed": 1, "extra": true})";
  EXPECT_EQ(config_differences(a, b, {"train.epochs", "output"}),
            (std::vector<std::string>{"extra", "layers.1.stride", "train.eta"}));
  EXPECT_TRUE(config_differences(a, a).empty());
}

TEST(CheckpointTest, ConfigDifferencesPassKeysAddedSinceAtTheirDefault) {
  const std::string saved = R"({"solver": {"tolerance": 0}})";
  const std::string defaults = R"({"solver": {"tolerance": 0, "added": 0.001}})";
  EXPECT_TRUE(config_differences(saved, R"({"solver": {"tolerance": 0, "added": 0.001}})", {}, defaults).empty());
  EXPECT_EQ(config_differences(saved, R"({"solver": {"tolerance": 0, "added": 0.01}})", {}, defaults),
            (std::vector<std::string>{"solver.added"}));
  // Without the defaults every added key differs; a key the saved config has is compared as ever.
  EXPECT_EQ(config_differences(saved, R"({"solver": {"tolerance": 0, "added": 0.001}})"),
            (std::vector<std::string>{"solver.added"}));
  EXPECT_EQ(config_differences(R"({"solver": {"tolerance": 0, "added": 0.01}})",
                               R"({"solver": {"tolerance": 0, "added": 0.001}})", {}, defaults),
            (std::vector<std::string>{"solver.added"}));
}

TEST(CheckpointTest, ModelFilesAreNotCheckpoints) {
  const fs::path dir = test_dir();
  const std::string path = (dir / "model.npz").string();
  save_model(path, test_support::random_network<float>({4, 3}, 0.0, Activation::tanh(), 1));
  expect_error<FormatError>([&] { load_checkpoint<float>(path); }, {path, "not a checkpoint"});
  expect_error<IoError>([&] { load_checkpoint<float>((dir / "missing.npz").string()); }, {"missing.npz"});
}

TEST(CheckpointTest, BrokenStateNamesTheFileAndField) {
  const fs::path dir = test_dir();
  const auto base = saved_arrays(dir);
  const std::string path = (dir / "broken.npz").string();
  auto with_state = [&](const std::function<void(Json&)>& edit) {
    auto arrays = base;
    Json state = state_of(arrays);
    edit(state);
    arrays["checkpoint"] = NpyArray::from_bytes(state.dump());
    write_npz(path, arrays);
  };
  struct Case {
    std::function<void(Json&)> edit;
    std::string field;
    std::string why;
  };
  const std::vector<Case> cases = {
      {[](Json& s) { s["format"] = "simmatch-model"; }, "'format'", "simmatch-checkpoint"},
      {[](Json& s) { s["version"] = 2; }, "'version'", "unsupported version 2"},
      {[](Json& s) { s.erase("epoch"); }, "'epoch'", "missing"},
      {[](Json& s) { s["epoch"] = 7; }, "'epoch'", "out of range [0, 3]"},
      {[](Json& s) { s["batch"] = 8; }, "'batch'", "out of range [0, 7]"},
      {[](Json& s) { s["batch"] = -1; }, "'batch'", "out of range"},
      {[](Json& s) { s["batch_size"] = 0; }, "'batch_size'", "out of range"},
      {[](Json& s) { s["batch_size"] = 1.5; }, "'batch_size'", "not an integer"},
      {[](Json& s) { s["seed"] = 9; }, "'seed'", "not a string"},
      {[](Json& s) { s["seed"] = "-9"; }, "'seed'", "not an unsigned 64-bit integer"},
      {[](Json& s) { s["seed"] = "99999999999999999999"; }, "'seed'", "not an unsigned 64-bit integer"},
      {[](Json& s) { s["shuffle"] = 1; }, "'shuffle'", "not true or false"},
      {[](Json& s) { s["learning_rate"] = "fast"; }, "'learning_rate'", "not a finite number"},
      {[](Json& s) { s["data"]["samples"] = 0; }, "'data.samples'", "out of range"},
      {[](Json& s) { s["data"]["crc32"] = 1LL << 33; }, "'data.crc32'", "out of range"},
      {[](Json& s) { s["data"] = 3; }, "'data'", "not a JSON object"},
      {[](Json& s) { s["metrics"] = Json::array(); }, "'metrics'", "not a string"},
      {[](Json& s) { s["epoch_tally"] = 3; }, "'epoch_tally'", "not a JSON object"},
      {[](Json& s) { s["epoch_tally"].erase("samples"); }, "'epoch_tally.samples'", "missing"},
      {[](Json& s) { s["epoch_tally"]["seconds"] = -1.0; }, "'epoch_tally.seconds'", "not a finite number >= 0"},
      {[](Json& s) { s["epoch_tally"]["iterations"] = "many"; }, "'epoch_tally.iterations'", "not a finite number"},
      {[](Json& s) { s = Json::array(); }, "checkpoint field", "not a JSON object"},
  };
  for (const Case& c : cases) {
    with_state(c.edit);
    expect_error<FormatError>([&] { load_checkpoint<float>(path); }, {path, c.field, c.why});
  }

  auto arrays = base;
  arrays["checkpoint"] = NpyArray::from_bytes("{not json");
  write_npz(path, arrays);
  expect_error<FormatError>([&] { load_checkpoint<float>(path); }, {path, "'checkpoint'", "invalid JSON"});

  arrays = base;
  const float nan = std::numeric_limits<float>::quiet_NaN();
  std::memcpy(arrays.at("W1_data").bytes.data(), &nan, sizeof nan);
  write_npz(path, arrays);
  expect_error<FormatError>([&] { load_checkpoint<float>(path); }, {path, "'W1_data'", "entry 0 is nan"});

  arrays = base;
  arrays.erase("L1_data");
  write_npz(path, arrays);
  expect_error<FormatError>([&] { load_checkpoint<float>(path); }, {path, "'L1_data'", "missing"});
}

TEST(CheckpointTest, SamplePositionsThatOverflowAreRefused) {
  // train.batch_size = 2^63 - 1 made the batch count overflow to 0: the run trained on nothing
  // and wrote a model.
  const Dataset data = random_dataset(5, 12, 1);
  TrainOptions o = small_options();
  o.batch_size = std::numeric_limits<Index>::max();
  expect_error<ConfigError>([&] { checkpoint_state(o, data, {}); }, {"batch_size 9223372036854775807", "overflows"});
  o = small_options();
  o.samples_per_epoch = std::numeric_limits<Index>::max() / 2;
  expect_error<ConfigError>([&] { check_sample_positions(o, o.samples_per_epoch); }, {"train.samples_per_epoch"});
  // A batch larger than the data is one batch of everything, not an overflow.
  o = small_options();
  o.samples_per_epoch = 0;
  o.batch_size = std::numeric_limits<Index>::max() / 4;
  EXPECT_EQ(checkpoint_state(o, data, {}).batches_per_epoch, 1);
  o.batch_size = 5;
  EXPECT_EQ(checkpoint_state(o, data, {}).batches_per_epoch, 3);
}

TEST(CheckpointTest, OnlyTheStateAndTheModelArraysAreRead) {
  // An unused 32 MiB deflated entry beside them is left alone under a 4 MiB budget.
  const fs::path dir = test_dir();
  auto arrays = saved_arrays(dir);
  const std::string path = (dir / "c.npz").string();
  write_npz(path, arrays);
  const std::vector<float> zeros(std::size_t{8} << 20, 0.0f);
  const std::string bomb = serialize_npy(NpyArray::from_floats(zeros.data(), {static_cast<Index>(zeros.size())}));
  int code = 0;
  zip_t* za = zip_open(path.c_str(), 0, &code);
  ASSERT_NE(za, nullptr);
  const zip_int64_t index = zip_file_add(za, "junk.npy", zip_source_buffer(za, bomb.data(), bomb.size(), 0), 0);
  ASSERT_GE(index, 0);
  ASSERT_EQ(zip_set_file_compression(za, static_cast<zip_uint64_t>(index), ZIP_CM_DEFLATE, 9), 0);
  ASSERT_EQ(zip_close(za), 0);
  const MemoryBudget budget(std::uint64_t{4} << 20, "a test budget");
  const LoadedCheckpoint<float> loaded = load_checkpoint<float>(path, budget);
  EXPECT_EQ(loaded.state.position.epoch, 1);
  expect_error<FormatError>([&] { read_npz(path, budget); }, {"'junk.npy'", "memory budget"});
}

}  // namespace simmatch
