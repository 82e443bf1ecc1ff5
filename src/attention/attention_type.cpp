#include "masnn/attention/attention_type.h"
#include "util/parse_named.h"

#include <algorithm>
#include <cctype>
#include <stdexcept>

namespace masnn {

AttentionType AttentionType::parse(const std::string& name) {
  std::string n = name;
  std::transform(n.begin(), n.end(), n.begin(), [](unsigned char c) { return std::toupper(c); });
  AttentionType a;
  if (n == "NONE" || n == "NO") return a;
  if (n == "MA") n = "TCSA";
  const bool known = n == "TA" || n == "CA" || n == "SA" || n == "TCA" || n == "TSA" || n == "CSA" || n == "TCSA";
  if (!known)
    throw std::invalid_argument("attention: expected one of none, TA, CA, SA, TCA, TSA, CSA, TCSA (or MA); got '" +
                                name + "'");
  const std::string dims = n.substr(0, n.size() - 1);  // drop the trailing 'A'
  a.temporal = dims.find('T') != std::string::npos;
  a.channel = dims.find('C') != std::string::npos;
  a.spatial = dims.find('S') != std::string::npos;
  return a;
}

std::string AttentionType::name() const {
  if (!any()) return "none";
  std::string n;
  if (temporal) n += 'T';
  if (channel) n += 'C';
  if (spatial) n += 'S';
  return n + "A";
}

AttentionPlacement parse_attention_placement(const std::string& name) {
  return parse_named(name, {AttentionPlacement::ConvPost, AttentionPlacement::ActivatePre}, "attention placement");
}

std::string to_string(AttentionPlacement placement) {
  return placement == AttentionPlacement::ConvPost ? "conv-post" : "activate-pre";
}

}  // namespace masnn
