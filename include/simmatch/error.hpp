// Typed errors of simmatch: the library never prints or exits, it throws one of these.
// `Error` and its subclasses mean bad input (a file, key or value); `InternalError` means a bug.
#pragma once

#include <stdexcept>
#include <string>

namespace simmatch {

/// Root of every error caused by the user's input: files, configs, arrays, values.
class Error : public std::runtime_error {
public:
  using std::runtime_error::runtime_error;
};

/// A configuration key is unknown, has the wrong type or an out-of-range value.
class ConfigError : public Error {
public:
  using Error::Error;
};

/// A file is malformed: bad magic, header, dtype, truncated data, unreadable archive.
class FormatError : public Error {
public:
  using Error::Error;
};

/// Array shapes or sizes do not fit together (data vs model, structure vs layer).
class ShapeError : public Error {
public:
  using Error::Error;
};

/// A file cannot be opened, read or written.
class IoError : public Error {
public:
  using Error::Error;
};

/// NaN/Inf in activities or weights, or a solver failure the policy treats as fatal.
class NumericalError : public Error {
public:
  using Error::Error;
};

/// Training was asked to stop (e.g. Ctrl-C from Python) between batches.
class Interrupted : public Error {
public:
  using Error::Error;
};

/// A broken invariant inside simmatch: always a bug, never the user's fault.
class InternalError : public std::logic_error {
public:
  using std::logic_error::logic_error;
};

}  // namespace simmatch
