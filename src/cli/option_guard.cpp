// One check of every option's values, added after the commands made their options (see checks.h).
#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <string>

#include "checks.h"

namespace masnn::cli {

namespace {

std::string check_value(const std::string& type, const std::string& text) {
  if (text.empty()) return "expected a value, got an empty one";
  char* end = nullptr;
  errno = 0;
  if (type == "INT" || type == "UINT") {
    if (type == "UINT" && text.find('-') != std::string::npos)
      return "expected an integer >= 0, got '" + text + "'";
    (void)std::strtoll(text.c_str(), &end, 0);
    if (errno == ERANGE && end == text.c_str() + text.size())
      return "expected an integer, got '" + text + "', which is out of range";
  } else if (type == "FLOAT") {
    const double x = std::strtod(text.c_str(), &end);
    if (end == text.c_str() + text.size() && !std::isfinite(x))
      return "expected a finite number, got '" + text + "'";
  }
  return {};  // anything else is the conversion's and the command's own checks' to judge
}

}  // namespace

void guard_option_values(CLI::App& app) {
  for (CLI::Option* option : app.get_options()) {
    if (option->get_type_size_max() == 0) continue;  // a flag
    const std::string full = option->get_type_name();
    const std::string type = full.substr(0, full.find(':'));
    option->check(CLI::Validator([type](std::string& text) { return check_value(type, text); }, ""));
  }
  for (CLI::App* sub : app.get_subcommands([](CLI::App*) { return true; })) guard_option_values(*sub);
}

}  // namespace masnn::cli
