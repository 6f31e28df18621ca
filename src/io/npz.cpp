// NPZ archives (numpy.savez's format): a zip of "<key>.npy" entries, read and written with libzip.
// Writing builds the archive in memory and hands it to write_file_atomically, so a model file on
// disk is always either the old one or the complete new one.
#include <zip.h>

#include <cstdio>
#include <filesystem>
#include <memory>

#include <fmt/format.h>

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

// Decompresses entry `index` and parses it as NPY; `remaining` is the byte budget left for the
// whole archive, checked against the size the zip directory declares before allocating.
NpyArray read_entry(zip_t* za, zip_uint64_t index, const std::string& path, std::uint64_t& remaining) {
  zip_stat_t st;
  zip_stat_init(&st);
  if (zip_stat_index(za, index, 0, &st) != 0 || !(st.valid & ZIP_STAT_NAME) || !(st.valid & ZIP_STAT_SIZE)) {
    throw FormatError(fmt::format("{}: cannot read entry {}: {}", path, index, zip_strerror(za)));
  }
  const std::string what = fmt::format("{}: entry '{}'", path, st.name);
  if (st.size > remaining) {
    throw FormatError(fmt::format("{}: declares {} uncompressed bytes, over the 16 GiB limit", what, st.size));
  }
  remaining -= st.size;
  zip_file_t* file = zip_fopen_index(za, index, 0);
  if (!file) throw FormatError(fmt::format("{}: cannot open: {}", what, zip_strerror(za)));
  std::string bytes(static_cast<std::size_t>(st.size), '\0');
  std::uint64_t done = 0;
  while (done < st.size) {
    const zip_int64_t n = zip_fread(file, bytes.data() + done, st.size - done);
    if (n < 0) {
      const std::string why = zip_file_strerror(file);
      zip_fclose(file);
      throw FormatError(fmt::format("{}: corrupt data after {} of {} bytes: {}", what, done, st.size, why));
    }
    if (n == 0) break;
    done += static_cast<std::uint64_t>(n);
  }
  // libzip checks the CRC only when a read reaches the end of the entry, so ask for one more byte.
  char extra = 0;
  const zip_int64_t tail = done == st.size ? zip_fread(file, &extra, 1) : 0;
  const std::string why = tail < 0 ? zip_file_strerror(file) : "";
  zip_fclose(file);
  if (done != st.size) {
    throw FormatError(fmt::format("{}: truncated: {} of the {} declared bytes could be read", what, done, st.size));
  }
  if (tail < 0) throw FormatError(fmt::format("{}: corrupt data: {}", what, why));
  if (tail > 0) throw FormatError(fmt::format("{}: holds more than the {} bytes it declares", what, st.size));
  return parse_npy(bytes, what);
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

std::map<std::string, NpyArray> read_npz(const std::string& path) {
  Archive za = open_archive(path);
  const zip_int64_t count = zip_get_num_entries(za.get(), 0);
  std::map<std::string, NpyArray> arrays;
  std::uint64_t budget = kMaxFileBytes;
  for (zip_int64_t i = 0; i < count; ++i) {
    const char* name = zip_get_name(za.get(), static_cast<zip_uint64_t>(i), 0);
    if (!name) throw FormatError(fmt::format("{}: cannot read the name of entry {}", path, i));
    const std::string entry = name;
    if (!entry.empty() && entry.back() == '/') continue;  // a folder entry holds no data
    std::string key = key_of(entry, path);
    if (arrays.count(key)) throw FormatError(fmt::format("{}: entry '{}' appears twice", path, entry));
    arrays.emplace(std::move(key), read_entry(za.get(), static_cast<zip_uint64_t>(i), path, budget));
  }
  return arrays;
}

NpyArray read_npz_array(const std::string& path, const std::string& key) {
  Archive za = open_archive(path);
  const zip_int64_t index = zip_name_locate(za.get(), (key + ".npy").c_str(), 0);
  if (index < 0) throw FormatError(fmt::format("{}: array '{}' is missing", path, key));
  std::uint64_t budget = kMaxFileBytes;
  return read_entry(za.get(), static_cast<zip_uint64_t>(index), path, budget);
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
