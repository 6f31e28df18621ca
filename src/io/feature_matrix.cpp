// FeatureMatrix: an owned matrix, or an NPY file's data mapped read-only with mmap.
#include "simmatch/feature_matrix.hpp"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string_view>

#include <fmt/format.h>

#include "io/npy_parts.hpp"
#include "simmatch/dataset.hpp"
#include "simmatch/error.hpp"

namespace simmatch {

namespace {

std::string errno_text() { return std::strerror(errno); }

// Closes the descriptor on every path out.
struct Descriptor {
  int fd = -1;
  ~Descriptor() {
    if (fd >= 0) ::close(fd);
  }
};

void read_exactly(int fd, char* out, std::size_t bytes, std::uint64_t offset, const std::string& path) {
  std::size_t done = 0;
  while (done < bytes) {
    const ssize_t got = ::pread(fd, out + done, bytes - done, static_cast<off_t>(offset + done));
    if (got < 0 && errno == EINTR) continue;
    if (got <= 0) throw IoError(fmt::format("{}: read failed at offset {}: {}", path, offset + done, got < 0 ? errno_text() : "end of file"));
    done += static_cast<std::size_t>(got);
  }
}

}  // namespace

FeatureMatrix::FeatureMatrix(Eigen::MatrixXf values) {
  auto owned = std::make_shared<const Eigen::MatrixXf>(std::move(values));
  data_ = owned->data();
  rows_ = owned->rows();
  cols_ = owned->cols();
  storage_ = std::move(owned);
}

FeatureMatrix FeatureMatrix::from_npy(const std::string& path, const MemoryBudget& budget) {
  Descriptor file{::open(path.c_str(), O_RDONLY | O_CLOEXEC)};
  if (file.fd < 0) throw IoError(fmt::format("{}: cannot open: {}", path, errno_text()));
  struct stat info {};
  if (::fstat(file.fd, &info) != 0) throw IoError(fmt::format("{}: cannot read its size: {}", path, errno_text()));
  if (S_ISDIR(info.st_mode)) throw IoError(fmt::format("{}: cannot read: is a directory", path));
  const auto size = static_cast<std::uint64_t>(info.st_size);

  // The header, checked against the file size before anything is mapped (the NPY reader's steps).
  std::string prefix(static_cast<std::size_t>(std::min<std::uint64_t>(size, npy_detail::kPreambleBytes)), '\0');
  read_exactly(file.fd, prefix.data(), prefix.size(), 0, path);
  const npy_detail::Preamble p = npy_detail::parse_preamble(prefix, path);
  if (size < p.header_start + p.header_len) {
    throw FormatError(fmt::format("{}: truncated: NPY header declares {} bytes but only {} remain after offset {}",
                                  path, p.header_len, size - p.header_start, p.header_start));
  }
  std::string header(p.header_len, '\0');
  read_exactly(file.fd, header.data(), header.size(), p.header_start, path);
  const npy_detail::Layout layout = npy_detail::parse_layout(p, header, path);
  npy_detail::check_data_length(layout, size - layout.data_start, path);

  const auto& shape = layout.header.shape;
  if (shape.size() < 2) {
    throw ShapeError(fmt::format("{}: features need a (samples, features...) array, got {} dimension(s)", path, shape.size()));
  }
  Index features = 1;
  for (std::size_t d = 1; d < shape.size(); ++d) features *= shape[d];
  if (shape[0] == 0 || features == 0) throw FormatError(fmt::format("{}: no samples or no features", path));

  FeatureMatrix out;
  const bool mappable = layout.dtype.kind == 'f' && layout.dtype.size == 4 && !layout.dtype.big_endian &&
                        !layout.header.fortran_order && layout.data_start % alignof(float) == 0;
  if (mappable) {
    void* base = ::mmap(nullptr, static_cast<std::size_t>(size), PROT_READ, MAP_PRIVATE, file.fd, 0);
    if (base == MAP_FAILED) throw IoError(fmt::format("{}: cannot map {} bytes: {}", path, size, errno_text()));
    const std::size_t length = static_cast<std::size_t>(size);
    out.storage_ = std::shared_ptr<const void>(base, [length](const void* b) { ::munmap(const_cast<void*>(b), length); });
    out.data_ = reinterpret_cast<const float*>(static_cast<const char*>(base) + layout.data_start);
    out.rows_ = features;
    out.cols_ = shape[0];
    out.mapped_ = true;
  } else {
    Dataset data = read_npy_dataset(path, "", budget);
    out = FeatureMatrix(std::move(data.x));
  }
  check_finite(out.matrix(), path);
  return out;
}

}  // namespace simmatch
