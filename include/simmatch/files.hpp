// Whole-file I/O shared by every reader and writer: bounded reads (devices and pipes included) and
// atomic writes (a temporary file in the same folder, fsync, rename).
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace simmatch {

/// The whole file as bytes. The limit is enforced while reading, so a device or pipe that never
/// ends (/dev/zero, /dev/stdin) is refused as fast as a large file: IoError naming the path and
/// `limit_text` (e.g. "the 1.0 MiB limit of config files") when it holds more than `max_bytes`,
/// and when it cannot be opened or read.
std::string read_file(const std::string& path, std::uint64_t max_bytes, const std::string& limit_text);
/// read_file under MemoryBudget::from_environment().
std::string read_file(const std::string& path);

/// Writes `contents` to `path` atomically (temp file in the same folder, fsync, rename): readers
/// see the old file or the new one, never a mix. On failure (IoError naming the path) the
/// temporary file is removed and `path` is left as it was. The temporary file is named
/// `<name>.tmp-<pid>-<n>-<random>`, with `<name>` shortened when needed so that the temporary
/// name stays within the file system's NAME_MAX: any legal target name can be written.
void write_file_atomically(const std::string& path, const std::string& contents);
/// The same for the concatenation of `parts`, written one after the other without joining them in
/// memory first (a header and gigabytes of data that live elsewhere).
void write_file_atomically(const std::string& path, std::span<const std::string_view> parts);

/// A temporary file that write_file_atomically left behind (a write cut short by a kill).
struct TemporaryFile {
  std::string path;
  long writer_pid = 0;  // the process that wrote it (from its name)
};
/// The temporary files next to `path` that write_file_atomically(path, ...) names, shortened
/// names included, with the pid of their writer: any process's, finished or not. Files of other
/// targets are not listed, even those whose name begins like `path`'s. Empty when the folder
/// cannot be read.
std::vector<TemporaryFile> temporary_files_of(const std::string& path);

}  // namespace simmatch
