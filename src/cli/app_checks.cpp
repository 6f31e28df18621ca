// Command-line checks CLI11 does not make itself: a first word that names no subcommand, and
// integer option values outside their type's range.
#include <cerrno>
#include <cstdlib>
#include <string>

#include "cli/commands.hpp"

namespace simmatch::cli {
namespace {

// CLI11 2.1 converts integers with strtoll/strtoull without looking at errno, so
// "99999999999999999999" becomes INT64_MAX and "-1" a huge unsigned value, silently.
std::string integer_in_range(const std::string& text, bool is_unsigned) {
  const char* begin = text.c_str();
  while (*begin == ' ' || *begin == '\t') ++begin;
  if (is_unsigned && *begin == '-') return "must not be negative, got " + text;
  errno = 0;
  char* end = nullptr;
  if (is_unsigned) {
    (void)std::strtoull(begin, &end, 0);
  } else {
    (void)std::strtoll(begin, &end, 0);
  }
  if (errno == ERANGE) return "out of range for a " + std::string(is_unsigned ? "64-bit unsigned" : "64-bit") + " integer: " + text;
  return "";  // other malformed text is CLI11's own conversion error
}

// The type of an option without the validators' descriptions ("INT:POSITIVE" -> "INT").
std::string base_type(const CLI::Option& option) {
  const std::string full = option.get_type_name();
  return full.substr(0, full.find(':'));
}

void check_integers(CLI::App& app) {
  for (CLI::Option* option : app.get_options()) {
    const std::string type = base_type(*option);
    if (type != "INT" && type != "UINT") continue;
    const bool is_unsigned = type == "UINT";
    // An empty description keeps --help unchanged.
    option->check(CLI::Validator([is_unsigned](std::string& text) { return integer_in_range(text, is_unsigned); }, ""));
  }
  for (CLI::App* sub : app.get_subcommands([](CLI::App*) { return true; })) check_integers(*sub);
}

}  // namespace

void add_strict_checks(CLI::App& app, int argc, char** argv) {
  check_integers(app);
  // Before parsing, and so before --help is acted on: `simmatch classify --help` must not print
  // the main help as if `classify` existed, and `simmatch nonsense` must name `nonsense`.
  app.preparse_callback([&app, argc, argv](std::size_t) {
    if (argc < 2 || argv[1][0] == '-') return;
    const std::string word = argv[1];
    std::string known;
    for (const CLI::App* sub : app.get_subcommands([](const CLI::App*) { return true; })) {
      if (sub->check_name(word)) return;
      known += (known.empty() ? "" : ", ") + sub->get_name();
    }
    throw CLI::ExtrasError("unknown subcommand '" + word + "' (subcommands: " + known + ")",
                           CLI::ExitCodes::ExtrasError);
  });
}

}  // namespace simmatch::cli
