// Whole-file primitives every reader and writer shares: bounded whole-file reads and atomic writes.
#include "simmatch/files.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>

#include <fmt/format.h>

#include "simmatch/error.hpp"

namespace simmatch {
namespace {

std::string errno_text() { return std::strerror(errno); }

}  // namespace

std::string read_file(const std::string& path) {
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec)) throw IoError(fmt::format("{}: cannot read: is a directory", path));
  std::ifstream in(path, std::ios::binary);
  if (!in) throw IoError(fmt::format("{}: cannot open: {}", path, errno_text()));
  const std::uint64_t size = std::filesystem::file_size(path, ec);
  if (ec) throw IoError(fmt::format("{}: cannot read its size: {}", path, ec.message()));
  if (size > kMaxFileBytes) {
    throw IoError(fmt::format("{}: file is {} bytes, over the 16 GiB limit", path, size));
  }
  std::string bytes(static_cast<std::size_t>(size), '\0');
  in.read(bytes.data(), static_cast<std::streamsize>(size));
  if (static_cast<std::uint64_t>(in.gcount()) != size) {
    throw IoError(fmt::format("{}: read failed after {} of {} bytes", path, in.gcount(), size));
  }
  return bytes;
}

void write_file_atomically(const std::string& path, const std::string& contents) {
  // A unique name in the same folder (so rename is atomic on the same file system); O_EXCL
  // guards against collisions with other writers, and mode 0666 lets the umask decide.
  static std::atomic<unsigned> counter{0};
  std::random_device entropy;
  std::string temp;
  int fd = -1;
  for (int attempt = 0; attempt < 16 && fd < 0; ++attempt) {
    temp = fmt::format("{}.tmp-{}-{}-{:08x}", path, ::getpid(), counter++, entropy());
    fd = ::open(temp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
    if (fd < 0 && errno != EEXIST) break;
  }
  if (fd < 0) throw IoError(fmt::format("{}: cannot create a temporary file next to it: {}", path, errno_text()));

  auto abandon = [&](const std::string& step) {
    const std::string why = errno_text();
    if (fd >= 0) ::close(fd);
    ::unlink(temp.c_str());
    throw IoError(fmt::format("{}: write failed ({}): {}; the file was left unchanged", path, step, why));
  };
  const char* p = contents.data();
  std::size_t left = contents.size();
  while (left > 0) {
    const ssize_t n = ::write(fd, p, std::min<std::size_t>(left, std::size_t{1} << 30));
    if (n < 0) {
      if (errno == EINTR) continue;
      abandon("write");
    }
    p += n;
    left -= static_cast<std::size_t>(n);
  }
  if (::fsync(fd) != 0) abandon("fsync");
  const int closed = ::close(fd);
  fd = -1;
  if (closed != 0) abandon("close");
  if (::rename(temp.c_str(), path.c_str()) != 0) abandon("rename");
  // Persist the rename itself; failure here cannot un-write the file, so it is not an error.
  const std::string dir = std::filesystem::path(path).parent_path().string();
  const int dfd = ::open(dir.empty() ? "." : dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd >= 0) {
    ::fsync(dfd);
    ::close(dfd);
  }
}

}  // namespace simmatch
