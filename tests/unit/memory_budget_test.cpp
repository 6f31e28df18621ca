// The memory budget: its default from the machine's limits, SIMMATCH_MEMORY_BUDGET and the config
// key, the wording of a refusal, and the saturating arithmetic sizes are computed in.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdlib>
#include <limits>
#include <string>

#include "memory_limit.hpp"
#include "simmatch/error.hpp"
#include "simmatch/memory_budget.hpp"

namespace simmatch {
namespace {

using ::testing::HasSubstr;
constexpr std::uint64_t kGiB = std::uint64_t{1} << 30;
constexpr std::uint64_t kMax = std::numeric_limits<std::uint64_t>::max();

// Sets SIMMATCH_MEMORY_BUDGET for one scope.
class BudgetVariable {
public:
  explicit BudgetVariable(const char* value) { ::setenv(MemoryBudget::kEnvironmentVariable, value, 1); }
  ~BudgetVariable() { ::unsetenv(MemoryBudget::kEnvironmentVariable); }
  BudgetVariable(const BudgetVariable&) = delete;
  BudgetVariable& operator=(const BudgetVariable&) = delete;
};

TEST(MemoryBudgetTest, DefaultIsAQuarterOfTheSmallestLimit) {
  MemoryLimits limits;
  limits.physical = 16 * kGiB;
  EXPECT_EQ(MemoryBudget::default_for(limits).bytes(), 4 * kGiB);
  EXPECT_EQ(MemoryBudget::default_for(limits).origin(), "a quarter of the 16.0 GiB physical memory");
  limits.cgroup = 8 * kGiB;
  EXPECT_EQ(MemoryBudget::default_for(limits).bytes(), 2 * kGiB);
  EXPECT_THAT(MemoryBudget::default_for(limits).origin(), HasSubstr("cgroup memory limit"));
  limits.address_space = 2 * kGiB;
  EXPECT_EQ(MemoryBudget::default_for(limits).bytes(), kGiB / 2);
  EXPECT_THAT(MemoryBudget::default_for(limits).origin(), HasSubstr("address-space limit (ulimit -v)"));
  EXPECT_EQ(MemoryBudget::default_for(MemoryLimits{}).bytes(), kGiB / 4);
}

TEST(MemoryBudgetTest, ThisProcessHasAPhysicalMemoryAndADefaultBelowIt) {
  ::unsetenv(MemoryBudget::kEnvironmentVariable);
  const MemoryLimits limits = MemoryLimits::of_this_process();
  ASSERT_GT(limits.physical, 0u);
  EXPECT_LE(MemoryBudget::from_environment().bytes(), limits.physical / 4);
}

TEST(MemoryBudgetTest, AnAddressSpaceLimitLowersTheDefault) {
  if (!test_support::can_limit_memory()) GTEST_SKIP() << "no address-space limit under AddressSanitizer";
  ::unsetenv(MemoryBudget::kEnvironmentVariable);
  // The child's exit status says whether its default budget is a quarter of its 1 GiB limit.
  const int status = test_support::run_with_memory_limit(kGiB, [] {
    const MemoryBudget budget = MemoryBudget::from_environment();
    return budget.bytes() == kGiB / 4 && budget.origin() == "a quarter of the 1.0 GiB address-space limit (ulimit -v)"
               ? 0
               : 1;
  });
  EXPECT_EQ(status, 0);
}

TEST(MemoryBudgetTest, EnvironmentVariableTakesGibOrAUnit) {
  const std::pair<const char*, std::uint64_t> cases[] = {
      {"2", 2 * kGiB},        {"0.5", kGiB / 2},        {"512M", 512u << 20}, {"512MiB", 512u << 20},
      {"512mb", 512u << 20},  {"1.5GiB", 3 * kGiB / 2}, {"1T", 1024 * kGiB},  {"65536K", 64u << 20},
      {"100B", 100},          {" 3 ", 3 * kGiB},        {"1e30", kMax},
  };
  for (const auto& [text, bytes] : cases) {
    const BudgetVariable variable(text);
    const MemoryBudget budget = MemoryBudget::from_environment();
    EXPECT_EQ(budget.bytes(), bytes) << text;
    EXPECT_EQ(budget.origin(), std::string("SIMMATCH_MEMORY_BUDGET=") + text);
  }
  for (const char* bad : {"", "lots", "0", "-1", "5X", "2 G", "nan", "inf", "0.1B"}) {
    const BudgetVariable variable(bad);
    try {
      MemoryBudget::from_environment();
      ADD_FAILURE() << "accepted '" << bad << "'";
    } catch (const ConfigError& e) {
      EXPECT_THAT(e.what(), HasSubstr(std::string("SIMMATCH_MEMORY_BUDGET='") + bad + "'"));
    }
  }
}

TEST(MemoryBudgetTest, ConfigKeyReplacesTheDefaultWhenPositive) {
  const BudgetVariable variable("3G");
  EXPECT_EQ(MemoryBudget::resolve(0.25, "x.toml: memory_budget_gib").bytes(), kGiB / 4);
  EXPECT_EQ(MemoryBudget::resolve(0.25, "x.toml: memory_budget_gib").origin(), "x.toml: memory_budget_gib = 0.25");
  EXPECT_EQ(MemoryBudget::resolve(0).bytes(), 3 * kGiB);
  EXPECT_EQ(MemoryBudget::resolve(1e30).bytes(), kMax);
}

TEST(MemoryBudgetTest, RefusalNamesWhatTheSizeAndHowToChangeIt) {
  const MemoryBudget budget(kGiB, "a test budget");
  EXPECT_TRUE(budget.allows(kGiB));
  EXPECT_FALSE(budget.allows(kGiB + 1));
  EXPECT_EQ(budget.refusal(3 * kGiB, "x.npz: entry 'a.npy'"),
            "x.npz: entry 'a.npy' needs 3221225472 bytes (3.0 GiB), over the memory budget of 1.0 GiB (a test "
            "budget; change it with SIMMATCH_MEMORY_BUDGET or memory_budget_gib)");
  EXPECT_THAT(budget.refusal(kMax, "x"), HasSubstr("x needs more than 2^64 bytes"));
  try {
    budget.require<FormatError>(kGiB + 1, "y");
    ADD_FAILURE() << "no exception";
  } catch (const FormatError& e) {
    EXPECT_THAT(e.what(), HasSubstr("y needs 1073741825 bytes"));
  }
  EXPECT_NO_THROW(budget.require<FormatError>(kGiB, "y"));
  EXPECT_EQ(budget.minus(kGiB / 4).bytes(), 3 * kGiB / 4);
  EXPECT_EQ(budget.minus(2 * kGiB).bytes(), 0u);
  EXPECT_EQ(budget.minus(1).origin(), "a test budget");
  EXPECT_THAT(budget.minus(kGiB / 4).refusal(kGiB, "z"),
              HasSubstr("z needs 1073741824 bytes (1.0 GiB), over the 768.0 MiB left of the memory budget of 1.0 GiB "
                        "(a test budget;"));
}

TEST(MemoryBudgetTest, SizesSaturateInsteadOfWrapping) {
  EXPECT_EQ(saturating_mul(std::uint64_t{1} << 62, 4), kMax);  // wraps to 0 in plain arithmetic
  EXPECT_EQ(saturating_mul((std::uint64_t{1} << 62) + 196, 4), kMax);
  EXPECT_EQ(saturating_mul(0, kMax), 0u);
  EXPECT_EQ(saturating_mul(3, 5), 15u);
  EXPECT_EQ(saturating_add(kMax - 1, 2), kMax);
  EXPECT_EQ(saturating_add(2, 3), 5u);
}

TEST(MemoryBudgetTest, FormatBytes) {
  EXPECT_EQ(format_bytes(0), "0 bytes");
  EXPECT_EQ(format_bytes(1023), "1023 bytes");
  EXPECT_EQ(format_bytes(1536), "1.5 KiB");
  EXPECT_EQ(format_bytes(3 * kGiB), "3.0 GiB");
  EXPECT_EQ(format_bytes(kMax), "16.0 EiB");
}

}  // namespace
}  // namespace simmatch
