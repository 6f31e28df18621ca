// How the solvers split a batch over the OpenMP threads (src/core/batch_solver.hpp): every sample
// in exactly one chunk, an error in one chunk reported after all have run, and a lone chunk run
// outside any parallel region, so that the parallel regions inside it draw on the thread pool.
#include <gtest/gtest.h>

#include <atomic>
#include <omp.h>
#include <stdexcept>
#include <vector>

#include "core/batch_solver.hpp"

using namespace simmatch;
using simmatch::detail::for_each_chunk;
using simmatch::detail::split_into_chunks;

namespace {

// Restores the thread count a test changed.
class ThreadCount {
public:
  explicit ThreadCount(int n) : before_(omp_get_max_threads()) { omp_set_num_threads(n); }
  ~ThreadCount() { omp_set_num_threads(before_); }
  ThreadCount(const ThreadCount&) = delete;
  ThreadCount& operator=(const ThreadCount&) = delete;

private:
  int before_;
};

}  // namespace

TEST(SampleChunksTest, ChunksCoverTheBatchInEqualSharesOfAtMost64) {
  for (const Index threads : {1, 2, 3, 8}) {
    for (const Index batch : {1, 2, 5, 63, 64, 65, 100, 1000}) {
      const auto split = split_into_chunks(batch, threads);
      ASSERT_GE(split.count, 1);
      EXPECT_LE(split.per, 64) << batch << " samples, " << threads << " threads";
      EXPECT_GE(split.count * split.per, batch);
      EXPECT_LT((split.count - 1) * split.per, batch) << "an empty chunk";
      if (batch >= threads) {
        EXPECT_GE(split.count, threads) << "a thread left without a chunk";
      }
    }
  }
  EXPECT_EQ(split_into_chunks(1, 8).count, 1);
}

TEST(SampleChunksTest, EverySampleIsSolvedOnce) {
  ThreadCount two(2);
  for (const Index batch : {1, 2, 7, 130}) {
    std::vector<std::atomic<int>> seen(static_cast<std::size_t>(batch));
    for_each_chunk(batch, [&](Index first, Index count) {
      for (Index b = first; b < first + count; ++b) seen[static_cast<std::size_t>(b)]++;
    });
    for (Index b = 0; b < batch; ++b) EXPECT_EQ(seen[static_cast<std::size_t>(b)].load(), 1) << b << " of " << batch;
  }
}

TEST(SampleChunksTest, AChunksErrorIsRethrownAfterEveryChunkHasRun) {
  ThreadCount two(2);
  std::atomic<Index> solved{0};
  EXPECT_THROW(for_each_chunk(130,
                              [&](Index first, Index count) {
                                solved += count;
                                if (first == 0) throw std::runtime_error("chunk 0");
                              }),
               std::runtime_error);
  EXPECT_EQ(solved.load(), 130);
  EXPECT_THROW(for_each_chunk(1, [](Index, Index) { throw std::runtime_error("lone"); }), std::runtime_error);
}

// An inactive region (`parallel if (false)`) around the lone chunk would put it at level 1, and a
// parallel region inside it would be a nested team that libgomp starts on new threads each time.
TEST(SampleChunksTest, ALoneChunkRunsOutsideAnyParallelRegion) {
  ThreadCount two(2);
  int level = -1;
  int inner_team = 0;
  for_each_chunk(1, [&](Index, Index) {
    level = omp_get_level();
#pragma omp parallel num_threads(2)
    {
#pragma omp single
      inner_team = omp_get_num_threads();
    }
  });
  EXPECT_EQ(level, 0);
  EXPECT_EQ(inner_team, 2);
  // With several chunks each runs on a thread of the team, one level down.
  std::vector<int> levels(4, -1);
  for_each_chunk(4, [&](Index first, Index count) {
    for (Index b = first; b < first + count; ++b) levels[static_cast<std::size_t>(b)] = omp_get_level();
  });
  for (const int l : levels) EXPECT_EQ(l, 1);
}
