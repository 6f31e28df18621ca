// NPZ archives (numpy.savez's format): a zip of "<key>.npy" entries, read and written with libzip.
// Reading decompresses only the entries asked for, each streamed into an array sized by its own
// NPY header and bounded by the declared entry size and the memory budget. Writing builds the
// archive in memory and hands it to write_file_atomically, so a model file on disk is always
// either the old one or the complete new one.
#include <zip.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <memory>
#include <string_view>

#include <fmt/format.h>

#include "io/npy_parts.hpp"
#include "simmatch/error.hpp"
#include "simmatch/npy.hpp"

namespace simmatch {
namespace {

struct ArchiveCloser {
  void operator()(zip_t* za) const { zip_discard(za); }  // read-only: nothing to write back
};
using Archive = std::unique_ptr<zip_t, ArchiveCloser>;

std::string zip_error_text(int code) {
  zip_error_t error;
  zip_error_init_with_code(&error, code);
  std::string text = zip_error_strerror(&error);
  zip_error_fini(&error);
  return text;
}

Archive open_archive(const std::string& path) {
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) throw IoError(fmt::format("{}: cannot open: no such file", path));
  if (std::filesystem::is_directory(path, ec)) throw IoError(fmt::format("{}: cannot read: is a directory", path));
  int code = 0;
  zip_t* za = zip_open(path.c_str(), ZIP_RDONLY | ZIP_CHECKCONS, &code);
  if (!za) {
    if (code == ZIP_ER_OPEN || code == ZIP_ER_READ || code == ZIP_ER_NOENT || code == ZIP_ER_MEMORY) {
      throw IoError(fmt::format("{}: cannot open: {}", path, zip_error_text(code)));
    }
    throw FormatError(fmt::format("{}: not a valid NPZ (zip) archive: {}", path, zip_error_text(code)));
  }
  return Archive(za);
}

// Deflate encodes at most 258 repeated bytes in about two bits, so a deflated stream expands at
// most 1032 times (plus its block headers): an entry declaring more than that is lying.
constexpr std::uint64_t kMaxDeflateRatio = 1032;

// Reads up to `n` bytes of an open entry; FormatError naming the entry when its data are corrupt.
std::uint64_t read_some(zip_file_t* file, char* out, std::uint64_t n, std::uint64_t done, std::uint64_t declared,
                        const std::string& what) {
  std::uint64_t got = 0;
  while (got < n) {
    const zip_int64_t r = zip_fread(file, out + got, n - got);
    if (r < 0) {
      throw FormatError(fmt::format("{}: corrupt data after {} of {} bytes: {}", what, done + got, declared,
                                    zip_file_strerror(file)));
    }
    if (r == 0) break;
    got += static_cast<std::uint64_t>(r);
  }
  return got;
}

struct EntryCloser {
  void operator()(zip_file_t* file) const { zip_fclose(file); }
};

// What the zip directory declares for an entry, checked against what its compressed bytes can
// hold before anything is allocated for it.
void check_declared_size(const zip_stat_t& st, const std::string& what) {
  if (st.comp_method == ZIP_CM_STORE && st.size != st.comp_size) {
    throw FormatError(fmt::format("{}: declares {} bytes but stores {} (an uncompressed entry holds exactly its size)",
                                  what, st.size, st.comp_size));
  }
  if (st.comp_method == ZIP_CM_DEFLATE && st.size > saturating_add(saturating_mul(st.comp_size, kMaxDeflateRatio), 1024)) {
    throw FormatError(fmt::format("{}: declares {} bytes, more than its {} deflated bytes can hold (deflate expands at "
                                  "most {} times)",
                                  what, st.size, st.comp_size, kMaxDeflateRatio));
  }
}

// Reads an entry's NPY preamble and header (the first bytes of an entry of `size` bytes), so that
// its array is sized from its own header, checked against the entry size.
npy_detail::Layout read_layout(zip_file_t* file, std::uint64_t size, const std::string& what) {
  char prefix[npy_detail::kPreambleBytes];
  const std::uint64_t prefix_len = read_some(file, prefix, std::min<std::uint64_t>(sizeof prefix, size), 0, size, what);
  const npy_detail::Preamble p = npy_detail::parse_preamble(std::string_view(prefix, prefix_len), what);
  if (size < p.header_start + p.header_len) {
    throw FormatError(fmt::format("{}: truncated: NPY header declares {} bytes but only {} remain after offset {}",
                                  what, p.header_len, size - std::min<std::uint64_t>(size, p.header_start),
                                  p.header_start));
  }
  std::string header(p.header_start + p.header_len, '\0');
  std::memcpy(header.data(), prefix, prefix_len);
  const std::uint64_t rest = header.size() - prefix_len;
  if (read_some(file, header.data() + prefix_len, rest, prefix_len, size, what) != rest) {
    throw FormatError(fmt::format("{}: truncated: the NPY header ends before its {} declared bytes", what, p.header_len));
  }
  const npy_detail::Layout layout = npy_detail::parse_layout(p, std::string_view(header).substr(p.header_start), what);
  npy_detail::check_data_length(layout, size - layout.data_start, what);
  return layout;
}

// "<key>.npy" -> "<key>"; an entry of another kind cannot be an array.
std::string key_of(const std::string& name, const std::string& path) {
  constexpr std::string_view suffix = ".npy";
  if (name.size() <= suffix.size() || name.compare(name.size() - suffix.size(), suffix.size(), suffix) != 0) {
    throw FormatError(fmt::format("{}: entry '{}' is not an .npy array", path, name));
  }
  return name.substr(0, name.size() - suffix.size());
}

// The finished archive's bytes, read back from libzip's in-memory source.
std::string source_bytes(zip_source_t* src) {
  if (zip_source_open(src) != 0) throw InternalError("npz: cannot reopen the in-memory archive");
  std::string out;
  if (zip_source_seek(src, 0, SEEK_END) == 0) {
    const zip_int64_t size = zip_source_tell(src);
    if (size >= 0 && zip_source_seek(src, 0, SEEK_SET) == 0) {
      out.resize(static_cast<std::size_t>(size));
      const zip_int64_t n = zip_source_read(src, out.data(), out.size());
      if (n != size) out.clear();
    }
  }
  zip_source_close(src);
  return out;
}

}  // namespace

struct NpzReader::Impl {
  std::string path;
  Archive archive;
  std::vector<std::string> keys;
  std::map<std::string, zip_uint64_t> index;
  MemoryBudget remaining;
};

NpzReader::NpzReader(const std::string& path, const MemoryBudget& budget)
    : impl_(new Impl{path, open_archive(path), {}, {}, budget}) {
  // Only the directory is read here: names are checked, no entry is decompressed.
  zip_t* za = impl_->archive.get();
  const zip_int64_t count = zip_get_num_entries(za, 0);
  for (zip_int64_t i = 0; i < count; ++i) {
    const char* name = zip_get_name(za, static_cast<zip_uint64_t>(i), 0);
    if (!name) throw FormatError(fmt::format("{}: cannot read the name of entry {}", path, i));
    const std::string entry = name;
    if (!entry.empty() && entry.back() == '/') continue;  // a folder entry holds no data
    std::string key = key_of(entry, path);
    if (impl_->index.count(key)) throw FormatError(fmt::format("{}: entry '{}' appears twice", path, entry));
    impl_->index.emplace(key, static_cast<zip_uint64_t>(i));
    impl_->keys.push_back(std::move(key));
  }
}

NpzReader::~NpzReader() = default;

const std::string& NpzReader::path() const { return impl_->path; }
const std::vector<std::string>& NpzReader::keys() const { return impl_->keys; }
bool NpzReader::contains(const std::string& key) const { return impl_->index.count(key) != 0; }

NpyArray NpzReader::read(const std::string& key) {
  const auto found = impl_->index.find(key);
  if (found == impl_->index.end()) throw FormatError(fmt::format("{}: array '{}' is missing", impl_->path, key));
  zip_t* za = impl_->archive.get();
  zip_stat_t st;
  zip_stat_init(&st);
  if (zip_stat_index(za, found->second, 0, &st) != 0 || !(st.valid & ZIP_STAT_NAME) || !(st.valid & ZIP_STAT_SIZE) ||
      !(st.valid & ZIP_STAT_COMP_SIZE) || !(st.valid & ZIP_STAT_COMP_METHOD)) {
    throw FormatError(fmt::format("{}: cannot read entry '{}.npy': {}", impl_->path, key, zip_strerror(za)));
  }
  const std::string what = fmt::format("{}: entry '{}'", impl_->path, st.name);
  check_declared_size(st, what);
  std::unique_ptr<zip_file_t, EntryCloser> file(zip_fopen_index(za, found->second, 0));
  if (!file) throw FormatError(fmt::format("{}: cannot open: {}", what, zip_strerror(za)));
  const npy_detail::Layout layout = read_layout(file.get(), st.size, what);
  impl_->remaining.require<FormatError>(
      layout.data_bytes, fmt::format("{}: an array of {} values of dtype {}", what, layout.data_bytes / layout.dtype.size,
                                     layout.header.dtype));

  // Reserved, not filled: pages are touched only as inflated data arrive, so a declared size
  // that the stream does not deliver costs address space, not memory.
  std::vector<char> data;
  data.reserve(static_cast<std::size_t>(layout.data_bytes));
  constexpr std::uint64_t kChunk = std::uint64_t{16} << 20;
  while (data.size() < layout.data_bytes) {
    const std::size_t old = data.size();
    const std::uint64_t want = std::min<std::uint64_t>(kChunk, layout.data_bytes - old);
    data.resize(old + static_cast<std::size_t>(want));
    const std::uint64_t got = read_some(file.get(), data.data() + old, want, layout.data_start + old, st.size, what);
    if (got < want) {
      throw FormatError(fmt::format("{}: truncated: {} of the {} declared bytes could be read", what,
                                    layout.data_start + old + got, st.size));
    }
  }
  // libzip checks the CRC only when a read reaches the end of the entry, so ask for one more byte.
  char extra = 0;
  const zip_int64_t tail = zip_fread(file.get(), &extra, 1);
  if (tail < 0) throw FormatError(fmt::format("{}: corrupt data: {}", what, zip_file_strerror(file.get())));
  if (tail > 0) throw FormatError(fmt::format("{}: holds more than the {} bytes it declares", what, st.size));
  impl_->remaining = impl_->remaining.minus(layout.data_bytes);
  return npy_detail::make_array(layout, std::move(data));
}

std::map<std::string, NpyArray> read_npz(const std::string& path, const MemoryBudget& budget) {
  NpzReader reader(path, budget);
  std::map<std::string, NpyArray> arrays;
  for (const std::string& key : reader.keys()) arrays.emplace(key, reader.read(key));
  return arrays;
}

NpyArray read_npz_array(const std::string& path, const std::string& key, const MemoryBudget& budget) {
  return NpzReader(path, budget).read(key);
}

void write_npz(const std::string& path, const std::map<std::string, NpyArray>& arrays) {
  // Serialise everything first: an invalid array throws here, before any file is touched.
  std::vector<std::pair<std::string, std::string>> entries;
  entries.reserve(arrays.size());
  for (const auto& [key, array] : arrays) {
    if (key.empty()) throw FormatError(fmt::format("{}: an array key is empty", path));
    entries.emplace_back(key + ".npy", serialize_npy(array));
  }

  if (entries.empty()) {
    // libzip writes nothing for an archive without entries; a zip needs at least its end record.
    write_file_atomically(path, std::string("PK\x05\x06", 4) + std::string(18, '\0'));
    return;
  }
  zip_error_t error;
  zip_error_init(&error);
  zip_source_t* src = zip_source_buffer_create(nullptr, 0, 0, &error);
  if (!src) throw InternalError(fmt::format("npz: cannot create an in-memory archive: {}", zip_error_strerror(&error)));
  zip_source_keep(src);  // keep the buffer alive after zip_close so its bytes can be read back
  std::unique_ptr<zip_source_t, decltype(&zip_source_free)> src_owner(src, &zip_source_free);
  zip_t* za = zip_open_from_source(src, ZIP_TRUNCATE, &error);
  if (!za) throw InternalError(fmt::format("npz: cannot open an in-memory archive: {}", zip_error_strerror(&error)));

  auto fail = [&](const std::string& what) {
    const std::string why = zip_strerror(za);
    zip_discard(za);
    throw IoError(fmt::format("{}: cannot add {} to the archive: {}", path, what, why));
  };
  // A fixed time stamp keeps the bytes of a saved model reproducible.
  constexpr time_t kTimestamp = 1577836800;  // 2020-01-01
  for (const auto& [name, bytes] : entries) {
    zip_source_t* entry = zip_source_buffer(za, bytes.data(), bytes.size(), 0);
    if (!entry) fail(name);
    const zip_int64_t index = zip_file_add(za, name.c_str(), entry, ZIP_FL_ENC_UTF_8);
    if (index < 0) {
      zip_source_free(entry);
      fail(name);
    }
    // Stored, not deflated: the arrays are mostly incompressible floats and numpy.savez does the same.
    if (zip_set_file_compression(za, static_cast<zip_uint64_t>(index), ZIP_CM_STORE, 0) != 0 ||
        zip_file_set_mtime(za, static_cast<zip_uint64_t>(index), kTimestamp, 0) != 0)
      fail(name);
  }
  if (zip_close(za) != 0) fail("the directory");
  const std::string bytes = source_bytes(src);
  if (bytes.empty()) throw InternalError("npz: cannot read back the in-memory archive");
  write_file_atomically(path, bytes);
}

}  // namespace simmatch
