// docs/parameters.md and the public view of the parameter table, generated from the table.
#include <sstream>

#include "config/param_table.hpp"

namespace simmatch {
namespace {

std::string escape_cell(const std::string& text) {
  std::string out;
  for (char c : text) {
    if (c == '|') out += "\\|";
    else out += c;
  }
  return out;
}

std::string type_cell(const ParamInfo& info) {
  if (info.type != ParamType::choice) return param_type_name(info.type);
  std::string text;
  for (const std::string& c : info.choices) text += (text.empty() ? "" : ", ") + ("`" + (c.empty() ? "\"\"" : c) + "`");
  return "one of " + text;
}

std::string section_of(const ParamInfo& info) {
  const auto dot = info.key.find('.');
  return dot == std::string::npos ? std::string("top level") : info.key.substr(0, dot);
}

}  // namespace

std::string param_type_name(ParamType type) {
  switch (type) {
    case ParamType::boolean: return "boolean";
    case ParamType::integer: return "integer";
    case ParamType::real: return "real";
    case ParamType::string: return "string";
    case ParamType::choice: return "choice";
  }
  return "?";
}

const std::vector<ParamInfo>& parameters() {
  static const std::vector<ParamInfo> infos = [] {
    std::vector<ParamInfo> list;
    for (const auto& p : config_detail::table()) list.push_back(p.info);
    return list;
  }();
  return infos;
}

std::string parameters_markdown() {
  std::ostringstream md;
  md << "# Configuration parameters\n\n"
     << "<!-- Generated from the parameter table in src/config/params.cpp by "
        "`simmatch params --markdown > docs/parameters.md`; do not edit by hand. -->\n\n"
     << "Every key below can be set in a TOML config file and overridden on the command line as\n"
     << "`key=value`, e.g. `simmatch train experiments/mnist_local.toml train.epochs=5 seed=3`.\n"
     << "Keys `section.name` live in a `[section]` table of the file; `seed` is at the top level.\n"
     << "Layers are an array of tables, one `[[layers]]` entry per layer, input side first; on the\n"
     << "command line `layers.0.neurons_per_site=8` sets a key of layer 0, `layers.neurons_per_site=8`\n"
     << "sets it for every layer, and an index equal to the number of layers appends a layer.\n"
     << "Without `[[layers]]` the config has one layer with the defaults below (the reference\n"
     << "locally connected layer).\n\n"
     << "Relative paths (data files, constants files, `output.dir`) are resolved against the current\n"
     << "working directory, not against the config file's folder.\n\n"
     << "Unknown keys, values of the wrong type and values outside their range are errors that name\n"
     << "the file and the key. Integers are accepted where a real is expected, not the reverse.\n";
  std::string section;
  for (const ParamInfo& info : parameters()) {
    const std::string s = section_of(info);
    if (s != section) {
      section = s;
      md << "\n## " << (s == "layers" ? "layers (`[[layers]]`, one entry per layer)" : s) << "\n\n"
         << "| Key | Type | Default | Check | Description |\n"
         << "|---|---|---|---|---|\n";
    }
    const std::string check = info.check.empty() ? "" : "`" + info.check + "`";
    md << "| `" << info.key << "` | " << escape_cell(type_cell(info)) << " | `"
       << escape_cell(config_detail::show(info.default_value)) << "` | " << escape_cell(check) << " | "
       << escape_cell(info.doc) << " |\n";
  }
  return md.str();
}

}  // namespace simmatch
