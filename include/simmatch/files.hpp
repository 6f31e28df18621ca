// Whole-file I/O shared by every reader and writer: bounded reads and atomic writes (a temporary
// file in the same folder, fsync, rename).
#pragma once

#include <cstdint>
#include <string>

namespace simmatch {

/// Readers refuse any file, archive entry or declared array larger than this (16 GiB), before
/// allocating memory for it: a corrupt header must not be able to exhaust memory.
inline constexpr std::uint64_t kMaxFileBytes = std::uint64_t{16} << 30;

/// Writes `contents` to `path` atomically (temp file in the same folder, fsync, rename): readers
/// see the old file or the new one, never a mix. On failure (IoError naming the path) the
/// temporary file is removed and `path` is left as it was.
void write_file_atomically(const std::string& path, const std::string& contents);
/// Whole file as bytes; IoError naming the path when it cannot be read or is larger than
/// kMaxFileBytes.
std::string read_file(const std::string& path);

}  // namespace simmatch
