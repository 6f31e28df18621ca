// Parsing the command line and reporting every failure as one line with a meaningful exit code:
// bad input 1, command-line syntax 2, internal error 3. Nothing escapes as a crash.
#include <iostream>
#include <new>

#include "cli/commands.hpp"
#include "simmatch/error.hpp"

namespace simmatch::cli {
namespace {

// One line, whatever the message holds.
std::string one_line(std::string text) {
  for (char& c : text)
    if (c == '\n' || c == '\r') c = ' ';
  return text;
}

// One write per line: with several MPI ranks failing at once, lines written piecewise interleave.
void report(const std::string& line) {
  const std::string text = line + '\n';
  std::cerr.write(text.data(), static_cast<std::streamsize>(text.size()));
  std::cerr.flush();
}

}  // namespace

int run_app(CLI::App& app, int argc, char** argv) {
  try {
    app.parse(argc, argv);
    return 0;
  } catch (const CLI::Success& e) {  // --help, --version
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    report("simmatch: error: " + one_line(e.what()) + " (run with --help for usage)");
    return 2;
  } catch (const Error& e) {
    report("simmatch: error: " + one_line(e.what()));
    return 1;
  } catch (const InternalError& e) {
    report("simmatch: internal error: " + one_line(e.what()));
    return 3;
  } catch (const std::bad_alloc&) {
    report("simmatch: error: out of memory");
    return 1;
  } catch (const std::exception& e) {
    report("simmatch: internal error: " + one_line(e.what()));
    return 3;
  } catch (...) {
    report("simmatch: internal error: unknown exception");
    return 3;
  }
}

}  // namespace simmatch::cli
