// Whole-file reads bounded while reading, and atomic writes whose temporary names fit NAME_MAX.
#include "simmatch/files.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <climits>
#include <cstring>
#include <filesystem>
#include <random>
#include <string_view>
#include <utility>

#include <fmt/format.h>

#include "simmatch/error.hpp"
#include "simmatch/memory_budget.hpp"

namespace simmatch {
namespace {

std::string errno_text() { return std::strerror(errno); }

// Closes a descriptor on every path out of a function.
class Descriptor {
public:
  explicit Descriptor(int fd) : fd_(fd) {}
  ~Descriptor() {
    if (fd_ >= 0) ::close(fd_);
  }
  Descriptor(const Descriptor&) = delete;
  Descriptor& operator=(const Descriptor&) = delete;
  int get() const { return fd_; }
  int release() { return std::exchange(fd_, -1); }

private:
  int fd_;
};

// The longest file name the folder of `path` takes (NAME_MAX, 255 on Linux file systems).
std::size_t name_max(const std::string& folder) {
  const long n = ::pathconf(folder.empty() ? "." : folder.c_str(), _PC_NAME_MAX);
  return n > 0 ? static_cast<std::size_t>(n) : std::size_t{NAME_MAX};
}

// `path` as its folder ("" or ending in '/') and its file name.
std::pair<std::string, std::string> split_path(const std::string& path) {
  const std::size_t slash = path.rfind('/');
  if (slash == std::string::npos) return {"", path};
  return {path.substr(0, slash + 1), path.substr(slash + 1)};
}

// The naming scheme of temporary files: `<name>.tmp-<pid>-<n>-<8 hex digits>`, where a target
// name near NAME_MAX (`limit`) leaves no room for the suffix and keeps only a prefix of itself.
constexpr std::string_view kTemporaryMark = ".tmp-";

std::string temporary_suffix(long pid, unsigned n, unsigned random) {
  return fmt::format("{}{}-{}-{:08x}", kTemporaryMark, pid, n, random);
}

std::string temporary_name(const std::string& name, const std::string& suffix, std::size_t limit) {
  const std::size_t keep = std::min(name.size(), limit > suffix.size() ? limit - suffix.size() : 0);
  return name.substr(0, keep) + suffix;
}

bool all_of_class(std::string_view text, bool (*member)(char)) {
  return !text.empty() && std::all_of(text.begin(), text.end(), member);
}
bool is_digit(char c) { return c >= '0' && c <= '9'; }
bool is_hex(char c) { return is_digit(c) || (c >= 'a' && c <= 'f'); }

// The pid in `file` when it is a temporary name of target `name` (temporary_name), else 0.
long temporary_writer(std::string_view file, const std::string& name, std::size_t limit) {
  const std::size_t mark = file.rfind(kTemporaryMark);
  if (mark == std::string_view::npos) return 0;
  const std::string_view kept = file.substr(0, mark);
  // The whole name, or a shortened one: a proper prefix that filled the name to the limit.
  const bool whole = kept == name;
  const bool shortened = kept.size() < name.size() && name.compare(0, kept.size(), kept) == 0 && file.size() == limit;
  if (!whole && !shortened) return 0;
  // <pid>-<n>-<8 hex digits>
  const std::string_view rest = file.substr(mark + kTemporaryMark.size());
  const std::size_t dash1 = rest.find('-');
  const std::size_t dash2 = dash1 == std::string_view::npos ? dash1 : rest.find('-', dash1 + 1);
  if (dash2 == std::string_view::npos) return 0;
  const std::string_view pid = rest.substr(0, dash1);
  const std::string_view count = rest.substr(dash1 + 1, dash2 - dash1 - 1);
  const std::string_view random = rest.substr(dash2 + 1);
  if (!all_of_class(pid, is_digit) || !all_of_class(count, is_digit) || random.size() != 8 ||
      !all_of_class(random, is_hex) || pid.size() > 9) {
    return 0;
  }
  return std::stol(std::string(pid));
}

}  // namespace

std::string read_file(const std::string& path, std::uint64_t max_bytes, const std::string& limit_text) {
  Descriptor fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (fd.get() < 0) throw IoError(fmt::format("{}: cannot open: {}", path, errno_text()));
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0) throw IoError(fmt::format("{}: cannot read its size: {}", path, errno_text()));
  if (S_ISDIR(st.st_mode)) throw IoError(fmt::format("{}: cannot read: is a directory", path));
  const auto too_large = [&] { return IoError(fmt::format("{}: larger than {}", path, limit_text)); };
  // A regular file's size is known: refuse before reading. Other files (devices, pipes, /proc)
  // report 0 or nothing useful, so the limit is also checked as the bytes arrive.
  const bool regular = S_ISREG(st.st_mode);
  if (regular && static_cast<std::uint64_t>(st.st_size) > max_bytes) throw too_large();
  std::string bytes;
  if (regular) bytes.reserve(static_cast<std::size_t>(st.st_size) + 1);
  constexpr std::uint64_t kChunk = std::uint64_t{1} << 20;
  while (true) {
    const std::size_t old = bytes.size();
    // One byte beyond the limit is enough to know the file is over it. A regular file is read in
    // one go, its size and one byte more; after that (and for other files) the reads grow with
    // what has arrived, since each read's room is zero-filled first.
    const std::uint64_t room = max_bytes - std::min<std::uint64_t>(old, max_bytes) + 1;
    const std::uint64_t chunk = regular && old == 0 ? static_cast<std::uint64_t>(st.st_size) + 1
                                                    : std::clamp<std::uint64_t>(old, 4096, kChunk);
    const std::size_t want = static_cast<std::size_t>(std::min(chunk, room));
    bytes.resize(old + want);
    const ssize_t n = ::read(fd.get(), bytes.data() + old, want);
    if (n < 0) {
      if (errno == EINTR) {
        bytes.resize(old);
        continue;
      }
      throw IoError(fmt::format("{}: read failed after {} bytes: {}", path, old, errno_text()));
    }
    bytes.resize(old + static_cast<std::size_t>(n));
    if (n == 0) break;
    if (bytes.size() > max_bytes) throw too_large();
  }
  return bytes;
}

std::string read_file(const std::string& path) {
  const MemoryBudget budget = MemoryBudget::from_environment();
  return read_file(path, budget.bytes(), budget.describe());
}

void write_file_atomically(const std::string& path, const std::string& contents) {
  const std::string_view whole(contents);
  write_file_atomically(path, std::span<const std::string_view>(&whole, 1));
}

void write_file_atomically(const std::string& path, std::span<const std::string_view> parts) {
  // A unique name in the same folder (so rename is atomic on the same file system); O_EXCL
  // guards against collisions with other writers, and mode 0666 lets the umask decide.
  static std::atomic<unsigned> counter{0};
  std::random_device entropy;
  const auto [folder, name] = split_path(path);
  const std::size_t limit = name_max(folder);
  std::string temp;
  int raw_fd = -1;
  for (int attempt = 0; attempt < 16 && raw_fd < 0; ++attempt) {
    temp = folder + temporary_name(name, temporary_suffix(::getpid(), counter++, entropy()), limit);
    raw_fd = ::open(temp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
    if (raw_fd < 0 && errno != EEXIST) break;
  }
  if (raw_fd < 0) throw IoError(fmt::format("{}: cannot create a temporary file next to it: {}", path, errno_text()));
  Descriptor fd(raw_fd);

  auto abandon = [&](const std::string& step) {
    const std::string why = errno_text();
    if (fd.get() >= 0) ::close(fd.release());
    ::unlink(temp.c_str());
    throw IoError(fmt::format("{}: write failed ({}): {}; the file was left unchanged", path, step, why));
  };
  for (const std::string_view part : parts) {
    const char* p = part.data();
    std::size_t left = part.size();
    while (left > 0) {
      const ssize_t n = ::write(fd.get(), p, std::min<std::size_t>(left, std::size_t{1} << 30));
      if (n < 0) {
        if (errno == EINTR) continue;
        abandon("write");
      }
      p += n;
      left -= static_cast<std::size_t>(n);
    }
  }
  if (::fsync(fd.get()) != 0) abandon("fsync");
  if (::close(fd.release()) != 0) abandon("close");
  if (::rename(temp.c_str(), path.c_str()) != 0) abandon("rename");
  // Persist the rename itself; failure here cannot un-write the file, so it is not an error.
  const int dfd = ::open(folder.empty() ? "." : folder.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd >= 0) {
    ::fsync(dfd);
    ::close(dfd);
  }
}

std::vector<TemporaryFile> temporary_files_of(const std::string& path) {
  const auto [folder, name] = split_path(path);
  const std::size_t limit = name_max(folder);
  std::vector<TemporaryFile> found;
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator(folder.empty() ? "." : folder, ec)) {
    const std::string file = entry.path().filename().string();
    if (const long pid = temporary_writer(file, name, limit); pid > 0) found.push_back({folder + file, pid});
  }
  return found;
}

}  // namespace simmatch
