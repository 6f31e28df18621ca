// Shared helpers of the libFuzzer targets: a private scratch folder for readers that take paths,
// and splitting one input into several files.
#pragma once

#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <string_view>
#include <unistd.h>
#include <vector>

namespace simmatch::fuzz {

/// A folder of this process (several fuzzing jobs may run at once), on a RAM disk when there is
/// one: the readers under test take paths, so every input is written to a file first.
inline const std::filesystem::path& scratch_dir() {
  static const std::filesystem::path dir = [] {
    const char* base = std::filesystem::is_directory("/dev/shm") ? "/dev/shm" : "/tmp";
    std::filesystem::path d = std::filesystem::path(base) / ("simmatch-fuzz-" + std::to_string(::getpid()));
    std::filesystem::create_directories(d);
    return d;
  }();
  return dir;
}

inline std::string write_scratch(const std::string& name, std::string_view bytes) {
  const std::string path = (scratch_dir() / name).string();
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  return path;
}

/// Readers refuse sizes over the memory budget; one well under libFuzzer's -malloc_limit_mb
/// (1 GiB in run.sh) makes an input declaring gigabytes an expected Error instead of a finding.
/// Called from each target's LLVMFuzzerInitialize; an explicit SIMMATCH_MEMORY_BUDGET is kept.
inline void use_fuzzing_memory_budget() { ::setenv("SIMMATCH_MEMORY_BUDGET", "256M", 0); }

/// Parts of `data` separated by kSeparator (at most `max_parts`; the last takes the rest), so one
/// input can describe an images file and its labels, or a config and its overrides.
inline constexpr std::string_view kSeparator = "\n@@\n";
inline std::vector<std::string_view> split_input(const std::uint8_t* data, std::size_t size, std::size_t max_parts) {
  std::string_view rest(reinterpret_cast<const char*>(data), size);
  std::vector<std::string_view> parts;
  while (parts.size() + 1 < max_parts) {
    const auto at = rest.find(kSeparator);
    if (at == std::string_view::npos) break;
    parts.push_back(rest.substr(0, at));
    rest.remove_prefix(at + kSeparator.size());
  }
  parts.push_back(rest);
  return parts;
}

}  // namespace simmatch::fuzz
