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

}  // namespace

int run_app(CLI::App& app, int argc, char** argv) {
  try {
    app.parse(argc, argv);
    return 0;
  } catch (const CLI::Success& e) {  // --help, --version
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    std::cerr << "simmatch: error: " << one_line(e.what()) << " (run with --help for usage)\n";
    return 2;
  } catch (const Error& e) {
    std::cerr << "simmatch: error: " << one_line(e.what()) << '\n';
    return 1;
  } catch (const InternalError& e) {
    std::cerr << "simmatch: internal error: " << one_line(e.what()) << '\n';
    return 3;
  } catch (const std::bad_alloc&) {
    std::cerr << "simmatch: error: out of memory\n";
    return 1;
  } catch (const std::exception& e) {
    std::cerr << "simmatch: internal error: " << one_line(e.what()) << '\n';
    return 3;
  } catch (...) {
    std::cerr << "simmatch: internal error: unknown exception\n";
    return 3;
  }
}

}  // namespace simmatch::cli
