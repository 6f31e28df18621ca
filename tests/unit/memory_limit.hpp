// Running a piece of a test in a child process under an address-space limit, so that a regression
// that allocates what a hostile input declares fails there instead of exhausting the machine.
#pragma once

#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdint>
#include <functional>

namespace simmatch::test_support {

/// False under AddressSanitizer, which reserves terabytes of address space up front.
constexpr bool can_limit_memory() {
#if defined(__SANITIZE_ADDRESS__)
  return false;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
  return false;
#else
  return true;
#endif
#else
  return true;
#endif
}

/// Runs `f` in a forked child whose address space is limited to `bytes` and returns its result
/// (the child's exit status), or -1 when the child died of a signal.
inline int run_with_memory_limit(std::uint64_t bytes, const std::function<int()>& f) {
  const pid_t pid = ::fork();
  if (pid == 0) {
    const rlimit limit{bytes, bytes};
    if (::setrlimit(RLIMIT_AS, &limit) != 0) ::_exit(125);
    int code = 126;
    try {
      code = f();
    } catch (...) {
      code = 127;
    }
    ::_exit(code);
  }
  int status = 0;
  if (pid < 0 || ::waitpid(pid, &status, 0) != pid) return -2;
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

}  // namespace simmatch::test_support
