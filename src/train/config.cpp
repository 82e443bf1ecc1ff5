// TOML settings with strict key checking (toml++). Each key is read through KeyReader, which remembers it;
// whatever the file holds that nobody read is an unknown key.
#include "masnn/train/config.h"

#include <c10/core/Device.h>
#include <toml++/toml.h>
#include <algorithm>
#include <cmath>
#include <functional>
#include <filesystem>
#include <set>
#include <sstream>
#include <stdexcept>

#include "masnn/util/file_io.h"

namespace masnn::train {
namespace {

class KeyReader {
 public:
  KeyReader(toml::table& root, std::string source) : root_(root), source_(std::move(source)) {}

  template <typename T>
  void read(const std::string& key, T& out) {
    used_.insert(key);
    const toml::node* node = root_.at_path(key).node();
    if (!node) return;
    if constexpr (std::is_same_v<T, bool>) {
      if (auto v = node->value_exact<bool>())
        out = *v;
      else
        fail(key, "true or false");
    } else if constexpr (std::is_same_v<T, std::string>) {
      if (auto v = node->value_exact<std::string>())
        out = *v;
      else
        fail(key, "a string");
    } else if constexpr (std::is_floating_point_v<T>) {
      // TOML has inf and nan literals; no setting of masnn takes them.
      if (auto v = node->value<double>(); v && std::isfinite(*v))
        out = static_cast<T>(*v);
      else
        fail(key, "a finite number");
    } else {
      if (auto v = node->value_exact<int64_t>())
        out = static_cast<T>(*v);
      else
        fail(key, "an integer");
    }
  }

  template <typename T>
  void read(const std::string& key, std::optional<T>& out) {
    if (!root_.at_path(key).node()) {
      used_.insert(key);
      return;
    }
    T value{};
    read(key, value);
    out = value;
  }

  // Every leaf key of the document must have been read.
  void check_all_used() const {
    std::vector<std::string> unknown;
    collect(root_, "", unknown);
    if (!unknown.empty()) {
      std::string list;
      for (const auto& k : unknown) list += (list.empty() ? "" : ", ") + k;
      throw std::invalid_argument(source_ + ": unknown key " + list);
    }
  }

  [[noreturn]] void fail(const std::string& key, const std::string& expected) const {
    throw std::invalid_argument(source_ + ": key '" + key + "' must be " + expected);
  }

 private:
  void collect(const toml::table& t, const std::string& prefix, std::vector<std::string>& unknown) const {
    for (const auto& [k, v] : t) {
      const std::string key = prefix.empty() ? std::string(k.str()) : prefix + "." + std::string(k.str());
      if (const toml::table* sub = v.as_table()) {
        collect(*sub, key, unknown);
      } else if (!used_.count(key)) {
        unknown.push_back("'" + key + "'");
      }
    }
  }

  toml::table& root_;
  std::string source_;
  std::set<std::string> used_;
};

void require(bool ok, const std::string& source, const std::string& key, const std::string& expected) {
  if (!ok) throw std::invalid_argument(source + ": key '" + key + "' must be " + expected);
}

// The table a dotted key's leaf goes in ("model.lif.decay" -> root.model.lif), its sections made on first use.
// Throws std::invalid_argument naming the key when a part of it is a value, not a section.
toml::table* section_of(toml::table& root, const std::string& key, const std::string& source) {
  toml::table* table = &root;
  std::string::size_type start = 0, dot;
  while ((dot = key.find('.', start)) != std::string::npos) {
    const std::string part = key.substr(start, dot - start);
    if (!table->contains(part)) table->insert(part, toml::table{});
    table = (*table)[part].as_table();
    if (!table) throw std::invalid_argument(source + ": --set " + key + ": '" + part + "' is not a section");
    start = dot + 1;
  }
  return table;
}

// Whether `s` is UTF-8 (TOML holds nothing else): well-formed sequences, no overlong forms, no surrogates.
bool is_utf8(const std::string& s) {
  for (size_t i = 0; i < s.size();) {
    const auto b = static_cast<unsigned char>(s[i]);
    const size_t n = b < 0x80 ? 1 : (b >> 5) == 6 ? 2 : (b >> 4) == 14 ? 3 : (b >> 3) == 30 ? 4 : 0;
    if (n == 0 || i + n > s.size()) return false;
    uint32_t cp = n == 1 ? b : b & (0x7f >> n);
    for (size_t k = 1; k < n; ++k) {
      const auto c = static_cast<unsigned char>(s[i + k]);
      if ((c >> 6) != 2) return false;
      cp = (cp << 6) | (c & 0x3f);
    }
    static const uint32_t least[] = {0, 0, 0x80, 0x800, 0x10000};
    if (cp < least[n] || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return false;
    i += n;
  }
  return true;
}

void apply_override(toml::table& root, const std::string& assignment, const std::string& source) {
  const auto eq = assignment.find('=');
  if (eq == std::string::npos || eq == 0)
    throw std::invalid_argument("--set '" + assignment + "': expected key=value, e.g. train.lr=0.001");
  const std::string key = assignment.substr(0, eq);
  const std::string value = assignment.substr(eq + 1);
  if (!is_utf8(value))  // it would be mangled in the run's config.toml, and a later eval could not find the path
    throw std::invalid_argument("key '" + key +
                                "': the value is not UTF-8 text (a config holds UTF-8 only); rename the folder or "
                                "link it under a UTF-8 name");
  // The value is a TOML value; a bare word is taken as a string.
  toml::table parsed;
  try {
    parsed = toml::parse("v = " + value);
  } catch (const toml::parse_error&) {
    parsed = toml::table{{"v", value}};
  }
  section_of(root, key, source)->insert_or_assign(key.substr(key.rfind('.') + 1), *parsed.get("v"));
}

// Copies every key of `over` into `base`, descending into tables present in both.
void merge_into(toml::table& base, const toml::table& over) {
  for (const auto& [k, v] : over) {
    const toml::table* sub = v.as_table();
    toml::table* target = base[k].as_table();
    if (sub && target)
      merge_into(*target, *sub);
    else
      base.insert_or_assign(k, v);
  }
}

toml::table parse_toml(const std::string& text, const std::string& source) {
  try {
    return toml::parse(text, source);
  } catch (const toml::parse_error& e) {
    std::ostringstream msg;
    msg << source << ":" << e.source().begin.line << ":" << e.source().begin.column << ": " << e.description();
    throw std::invalid_argument(msg.str());
  }
}

std::string read_text(const std::string& path) {
  // Through read_file_bytes: a folder, FIFO or device is refused by the descriptor it opened (a folder would read as
  // an empty config, a FIFO would block), never by a check that the file could change after.
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) throw std::invalid_argument(path + ": no such config file");
  try {
    const std::vector<uint8_t> bytes = read_file_bytes(path);
    return std::string(bytes.begin(), bytes.end());
  } catch (const std::runtime_error& e) {
    throw std::invalid_argument(std::string(e.what()) + " (a config is a TOML file)");
  }
}

// `extends = "base.toml"` (relative to the file) loads the base first; this file's keys win. Chains are
// followed up to a small depth, so a cycle is an error rather than a hang.
toml::table resolve_extends(toml::table table, const std::string& source, int depth) {
  const toml::node* ext = table.get("extends");
  if (!ext) return table;
  const auto name = ext->value_exact<std::string>();
  if (!name) throw std::invalid_argument(source + ": key 'extends' must be a file name");
  if (depth > 8) throw std::invalid_argument(source + ": 'extends' is nested too deeply (a cycle?)");
  const std::string base_path = (std::filesystem::path(source).parent_path() / *name).string();
  toml::table base = resolve_extends(parse_toml(read_text(base_path), base_path), base_path, depth + 1);
  table.erase("extends");
  merge_into(base, table);
  return base;
}

// ---------------------------------------------------------------------------------------------------
// The schema: every key once, with its type, rule and help. Parsing, validation, to_toml and the key reference
// (config_keys, docs/config.md) all walk this table.

// "0.08", "1", "1e-06": a rule's bound as the messages write it.
std::string fmt_number(double v) {
  std::ostringstream s;
  s << v;
  return s.str();
}

template <typename T>
struct optional_value {
  using type = T;
  static constexpr bool optional = false;
};
template <typename T>
struct optional_value<std::optional<T>> {
  using type = T;
  static constexpr bool optional = true;
};

// What a key's value must satisfy: a numeric range or a list of choices (text for messages and the docs).
struct Rule {
  std::string text;                              // "> 0", "in [0, 1)", "one of adam, sgd"; empty = any value
  std::function<bool(double)> number;            // numeric keys
  std::vector<std::string> choices;              // string keys
  bool accepts(double v) const { return !number || number(v); }
  bool accepts(const std::string& v) const {
    return choices.empty() || std::find(choices.begin(), choices.end(), v) != choices.end();
  }
};

Rule any() { return {}; }
Rule at_least(double lo) {
  return {">= " + fmt_number(lo), [lo](double v) { return v >= lo; }, {}};
}
Rule above(double lo) {
  return {"> " + fmt_number(lo), [lo](double v) { return v > lo; }, {}};
}
Rule within(double lo, double hi, bool lo_open, bool hi_open) {
  return {std::string("in ") + (lo_open ? "(" : "[") + fmt_number(lo) + ", " + fmt_number(hi) + (hi_open ? ")" : "]"),
          [=](double v) { return (lo_open ? v > lo : v >= lo) && (hi_open ? v < hi : v <= hi); },
          {}};
}
Rule one_of(std::vector<std::string> choices) {
  std::string text = "one of ";
  for (size_t i = 0; i < choices.size(); ++i) text += (i ? ", " : "") + choices[i];
  return {text, nullptr, std::move(choices)};
}

// The values of a choice key (an enum, or AttentionType) and their names: the canonical names are what the docs
// list and config.toml holds; `lenient` accepts other spellings of a value (attention: tcsa, MA, no).
template <typename E>
struct Choices {
  std::vector<std::pair<std::string, E>> named;
  std::function<std::optional<E>(const std::string&)> lenient;

  std::optional<E> parse(const std::string& name) const {
    for (const auto& [n, v] : named)
      if (n == name) return v;
    return lenient ? lenient(name) : std::nullopt;
  }
  std::string name_of(const E& value) const {
    for (const auto& [n, v] : named)
      if (v == value) return n;
    throw std::invalid_argument("to_toml: a choice without a name");  // a value added to an enum but not here
  }
  Rule rule() const {
    std::vector<std::string> names;
    for (const auto& nv : named) names.push_back(nv.first);
    return one_of(std::move(names));
  }
};

// Every to_string of the enums the keys hold (masnn, masnn::data and this namespace), so that choices_of finds them.
using masnn::to_string;
using masnn::data::to_string;
using masnn::train::to_string;

// The choices of an enum, named by its to_string, in the order given.
template <typename E>
Choices<E> choices_of(std::initializer_list<E> values) {
  Choices<E> c;
  for (E v : values) c.named.emplace_back(to_string(v), v);
  return c;
}

Choices<AttentionType> attention_choices() {
  Choices<AttentionType> c;
  for (const char* name : {"none", "TA", "CA", "SA", "TCA", "TSA", "CSA", "TCSA"})
    c.named.emplace_back(name, AttentionType::parse(name));
  c.lenient = [](const std::string& name) -> std::optional<AttentionType> {
    try {
      return AttentionType::parse(name);
    } catch (const std::invalid_argument&) {
      return std::nullopt;
    }
  };
  return c;
}

struct KeySpec {
  ConfigKey key;  // key.allowed is the rule's text
  std::function<void(KeyReader&, TrainConfig&)> read;
  std::function<std::optional<std::string>(const TrainConfig&)> violation;  // the value breaking the rule, as text
  std::function<void(const TrainConfig&, toml::table&)> write;  // into the section's table; absent optionals skip
};

template <typename T>
const char* type_name() {
  if constexpr (std::is_same_v<T, bool>) return "bool";
  else if constexpr (std::is_same_v<T, std::string>) return "string";
  else if constexpr (std::is_floating_point_v<T>) return "number";
  else return "integer";
}

// The value as text when it breaks the rule.
template <typename T>
std::optional<std::string> violation_of(const Rule& rule, const T& v) {
  if constexpr (std::is_same_v<T, bool>) {
    return std::nullopt;
  } else if constexpr (std::is_same_v<T, std::string>) {
    if (rule.accepts(v)) return std::nullopt;
    return "'" + v + "'";
  } else {
    if (rule.accepts(static_cast<double>(v))) return std::nullopt;
    return fmt_number(static_cast<double>(v));
  }
}

// The value as TOML stores it (seed: uint64 kept as a non-negative int64).
template <typename T>
auto to_toml_value(const T& v) {
  if constexpr (std::is_same_v<T, uint64_t>) return static_cast<int64_t>(v);
  else return v;
}

// What a key's table entry says of it.
KeySpec key_spec(const char* name, const char* type, const std::string& allowed, const char* help) {
  KeySpec k;
  k.key.name = name;
  k.key.type = type;
  k.key.allowed = allowed;
  k.key.help = help;
  return k;
}

// Writes `section.*member` under the key's last name, as `as_toml` gives it; an unset std::optional is left out.
template <typename Section, typename T, typename ToToml>
auto field_writer(const char* name, Section TrainConfig::*section, T Section::*member, ToToml as_toml) {
  const std::string leaf = std::string(name).substr(std::string(name).rfind('.') + 1);
  return [leaf, section, member, as_toml](const TrainConfig& c, toml::table& t) {
    const T& v = c.*section.*member;
    if constexpr (optional_value<T>::optional) {
      if (v) t.insert(leaf, as_toml(*v));
    } else {
      t.insert(leaf, as_toml(v));
    }
  };
}

// A key bound to a field: `section.*field` of TrainConfig; std::optional fields are absent unless set.
template <typename Section, typename T>
KeySpec field(const char* name, Section TrainConfig::*section, T Section::*member, Rule rule, const char* help) {
  using Value = typename optional_value<T>::type;
  KeySpec k = key_spec(name, type_name<Value>(), rule.text, help);
  k.read = [name = std::string(name), section, member](KeyReader& r, TrainConfig& c) {
    if constexpr (std::is_same_v<T, uint64_t>) {
      int64_t v = static_cast<int64_t>(c.*section.*member);
      r.read(name, v);
      if (v < 0) r.fail(name, "a non-negative integer");
      c.*section.*member = static_cast<uint64_t>(v);
    } else {
      r.read(name, c.*section.*member);
    }
  };
  k.violation = [section, member, rule](const TrainConfig& c) -> std::optional<std::string> {
    const T& v = c.*section.*member;
    if constexpr (optional_value<T>::optional) {
      if (!v) return std::nullopt;
      return violation_of(rule, *v);
    } else {
      return violation_of(rule, v);
    }
  };
  k.write = field_writer(name, section, member, [](const Value& v) { return to_toml_value(v); });
  return k;
}

// A key whose value is one of `choices`: read as a string and parsed here, once; written as its canonical name.
template <typename Section, typename T, typename E>
KeySpec choice(const char* name, Section TrainConfig::*section, T Section::*member, Choices<E> choices,
               const char* help) {
  const Rule rule = choices.rule();
  KeySpec k = key_spec(name, "string", rule.text, help);
  auto shared = std::make_shared<const Choices<E>>(std::move(choices));
  k.read = [name = std::string(name), section, member, shared, allowed = rule.text](KeyReader& r, TrainConfig& c) {
    std::optional<std::string> text;
    r.read(name, text);
    if (!text) return;
    const std::optional<E> value = shared->parse(*text);
    if (!value) r.fail(name, allowed + " (got '" + *text + "')");
    c.*section.*member = *value;
  };
  k.violation = [](const TrainConfig&) -> std::optional<std::string> { return std::nullopt; };  // checked in read
  k.write = field_writer(name, section, member, [shared](const E& v) { return shared->name_of(v); });
  return k;
}

const std::vector<KeySpec>& schema() {
  using C = TrainConfig;
  static const std::vector<KeySpec> keys = [] {
    std::vector<KeySpec> k;
    const auto M = &C::model;
    const auto D = &C::data;
    const auto T = &C::train;
    const auto G = &C::dist;
    // [model]
    k.push_back(field("model.name", M, &ModelConfig::name, any(),
                      "network: dvs-gesture, dvs-gait, dvs-small, res-snn-18, res-snn-34, res-snn-104, res-snn-mini"));
    k.push_back(choice("model.attention", M, &ModelConfig::attention, attention_choices(),
                       "temporal, channel, spatial attention and their combinations (any case; MA = TCSA)"));
    k.push_back(choice("model.placement", M, &ModelConfig::placement,
                       choices_of({AttentionPlacement::ConvPost, AttentionPlacement::ActivatePre}),
                       "where CA/SA act: on the membrane input (reference code) or inside the neuron (paper)"));
    k.push_back(field("model.t_ratio", M, &ModelConfig::t_ratio, at_least(1), "temporal attention's reduction ratio"));
    k.push_back(field("model.c_ratio", M, &ModelConfig::c_ratio, at_least(1), "channel attention's reduction ratio"));
    k.push_back(field("model.kernel_size", M, &ModelConfig::kernel_size, at_least(1), "spatial attention's conv size"));
    k.push_back(field("model.per_step", M, &ModelConfig::per_step, any(), "CA/SA per time step at conv-post"));
    k.push_back(choice("model.lif.neuron", M, &ModelConfig::neuron,
                       choices_of({NeuronPreset::ReferenceDvs, NeuronPreset::ReferenceResnet}),
                       "LIF preset; the model.lif keys below override its fields"));
    k.push_back(field("model.lif.threshold", M, &ModelConfig::threshold, any(), "firing threshold"));
    k.push_back(field("model.lif.v_reset", M, &ModelConfig::v_reset, any(), "reset potential"));
    k.push_back(field("model.lif.decay", M, &ModelConfig::decay, any(), "membrane decay per step"));
    k.push_back(field("model.lif.bias", M, &ModelConfig::bias, any(), "constant input per step"));
    k.push_back(field("model.lif.surrogate_width", M, &ModelConfig::surrogate_width, any(),
                      "surrogate gradient's width"));
    k.push_back(choice("model.lif.reset", M, &ModelConfig::reset,
                       choices_of({ResetMode::Hard, ResetMode::Soft, ResetMode::None}),
                       "reset after a spike"));
    k.push_back(choice("model.lif.surrogate", M, &ModelConfig::surrogate,
                       choices_of({SurrogateKind::Rectangular, SurrogateKind::Sigmoid, SurrogateKind::Arctan}),
                       "surrogate gradient"));
    k.push_back(choice("model.lif.backend", M, &ModelConfig::backend,
                       choices_of({LIFBackend::Fused, LIFBackend::Composed}),
                       "fused kernel or LibTorch ops (the oracle)"));
    k.push_back(field("model.lif.fire_at_equal", M, &ModelConfig::fire_at_equal, any(),
                      "a spike when the potential equals the threshold"));
    k.push_back(field("model.lif.detach_reset", M, &ModelConfig::detach_reset, any(),
                      "no gradient through the reset"));
    k.push_back(field("model.lif.learnable_decay", M, &ModelConfig::learnable_decay, any(),
                      "the decay is a trained parameter"));
    // [data]
    k.push_back(field("data.dataset", D, &DataConfig::dataset,
                      one_of({"dvs128-gesture", "dvs128-gait", "cifar10-dvs", "n-mnist", "n-caltech101", "n-cars",
                              "synthetic-gesture", "sim-fashion-mnist", "imagefolder", "imagenet", "fashion-mnist"}),
                      "event datasets (sim-fashion-mnist: simulated recordings of Fashion-MNIST), or images: "
                      "imagefolder (alias imagenet), fashion-mnist"));
    k.push_back(field("data.root", D, &DataConfig::root, any(),
                      "dataset folder (synthetic-gesture: generated there on first use, default "
                      "<out_dir>/synthetic-gesture; fashion-mnist and sim-fashion-mnist: default "
                      "/usr/share/datasets/fashion-mnist)"));
    k.push_back(field("data.steps", D, &DataConfig::steps, at_least(1),
                      "T (the Res-SNNs repeat a static image T times)"));
    k.push_back(field("data.dt_ms", D, &DataConfig::dt_ms, within(0.001, 3.6e6, false, false),
                      "frame window, ms (time-window slicing; 1 us to 1 hour)"));
    k.push_back(field("data.ds", D, &DataConfig::ds, at_least(1), "spatial down-sampling of the sensor"));
    k.push_back(choice("data.slicing", D, &DataConfig::slicing,
                       choices_of({data::FrameSlicing::TimeWindow, data::FrameSlicing::EventCount,
                                   data::FrameSlicing::TimeBins}),
                       "frames of dt_ms, of equal event counts, or T equal bins over the sample"));
    k.push_back(field("data.binary", D, &DataConfig::binary, any(), "0/1 frames instead of event counts"));
    k.push_back(choice("data.normalization", D, &DataConfig::normalization,
                       choices_of({data::FrameNormalization::None, data::FrameNormalization::MaxPerFrame,
                                   data::FrameNormalization::MaxPerSample}),
                       "frame scaling"));
    k.push_back(field("data.clips", D, &DataConfig::clips, within(1, 10000, false, false),
                      "test clips per sample (voting)"));
    k.push_back(field("data.max_shift", D, &DataConfig::max_shift, at_least(0),
                      "training augmentation: random shift in sensor pixels (fashion-mnist: the padding of its random "
                      "28x28 crop; 0 for imagefolder)"));
    k.push_back(field("data.flip", D, &DataConfig::flip, within(0, 1, false, false),
                      "training augmentation: horizontal flip probability"));
    k.push_back(field("data.denoise_us", D, &DataConfig::denoise_us, within(0, 3.6e9, false, false),
                      "event filter: keep an event only when a neighbouring pixel fired this many us before (0 = off)"));
    k.push_back(field("data.refractory_us", D, &DataConfig::refractory_us, within(0, 3.6e9, false, false),
                      "event filter: drop events of a pixel within this many us of its last kept one (0 = off)"));
    k.push_back(field("data.hot_pixel_factor", D, &DataConfig::hot_pixel_factor, within(0, 1e9, false, false),
                      "event filter: remove pixels firing over this many times the mean active pixel (0 = off)"));
    k.push_back(field("data.drop_fraction", D, &DataConfig::drop_fraction, within(0, 1, false, true),
                      "training augmentation: probability of dropping each event"));
    k.push_back(field("data.drop_time_us", D, &DataConfig::drop_time_us, within(0, 3.6e9, false, false),
                      "training augmentation: drop one random interval of this many us (0 = off)"));
    k.push_back(field("data.drop_area", D, &DataConfig::drop_area, at_least(0),
                      "training augmentation: drop one random square of this side, sensor pixels (0 = off)"));
    k.push_back(field("data.time_jitter_us", D, &DataConfig::time_jitter_us, within(0, 3.6e9, false, false),
                      "training augmentation: Gaussian jitter of timestamps, us (0 = off)"));
    k.push_back(field("data.spatial_jitter", D, &DataConfig::spatial_jitter, within(0, 1e4, false, false),
                      "training augmentation: Gaussian jitter of x and y, pixels (0 = off)"));
    k.push_back(field("data.workers", D, &DataConfig::workers, at_least(1),
                      "loader (decoding) threads (results do not depend on it)"));
    k.push_back(field("data.cache", D, &DataConfig::cache, any(),
                      "convert the events once into a checksummed binary cache in <data.root>/.masnn-cache"));
    k.push_back(field("data.synth_users", D, &DataConfig::synth_users, at_least(1),
                      "synthetic-gesture: users to generate"));
    k.push_back(field("data.limit_train", D, &DataConfig::limit_train, at_least(0),
                      "use only the first N training samples, 0 = all (images: N spread evenly over the classes)"));
    k.push_back(field("data.limit_test", D, &DataConfig::limit_test, at_least(0),
                      "use only the first N test samples, 0 = all"));
    k.push_back(field("data.image_size", D, &DataConfig::image_size, at_least(0),
                      "images: network input side, 0 = the dataset's (224 for imagefolder, 28 for fashion-mnist)"));
    k.push_back(field("data.resize_size", D, &DataConfig::resize_size, at_least(0),
                      "imagefolder: evaluation resize of the shorter side before the centre crop, 0 = image_size x 8/7"));
    k.push_back(field("data.min_scale", D, &DataConfig::min_scale, within(0, 1, true, false),
                      "imagefolder: RandomResizedCrop's smallest area fraction"));
    k.push_back(field("data.auto_augment", D, &DataConfig::auto_augment, any(),
                      "images: AutoAugment (ImageNet policy) on training images"));
    // [train]
    k.push_back(field("train.epochs", T, &TrainSettings::epochs, at_least(1), "epochs"));
    k.push_back(field("train.batch_size", T, &TrainSettings::batch_size, at_least(1),
                      "samples per step (per rank in a distributed job)"));
    k.push_back(choice("train.optimizer", T, &TrainSettings::optimizer,
                       choices_of({OptimizerKind::Adam, OptimizerKind::Sgd}), "optimizer"));
    k.push_back(field("train.lr", T, &TrainSettings::lr, above(0), "learning rate"));
    k.push_back(field("train.beta1", T, &TrainSettings::beta1, within(0, 1, false, true), "Adam's beta1"));
    k.push_back(field("train.beta2", T, &TrainSettings::beta2, within(0, 1, false, true), "Adam's beta2"));
    k.push_back(field("train.momentum", T, &TrainSettings::momentum, within(0, 1, false, true), "SGD's momentum"));
    k.push_back(field("train.weight_decay", T, &TrainSettings::weight_decay, at_least(0), "weight decay"));
    k.push_back(choice("train.scheduler", T, &TrainSettings::scheduler,
                       choices_of({ScheduleKind::Plateau, ScheduleKind::Cosine, ScheduleKind::Step,
                                   ScheduleKind::None}),
                       "learning-rate schedule: plateau (on the train loss), cosine, step, none; the last three after "
                       "warmup_epochs of linear warm-up"));
    k.push_back(field("train.plateau_factor", T, &TrainSettings::plateau_factor, within(0, 1, true, true),
                      "plateau: factor on the learning rate"));
    k.push_back(field("train.plateau_patience", T, &TrainSettings::plateau_patience, at_least(0),
                      "plateau: epochs without improvement before it acts"));
    k.push_back(field("train.step_size", T, &TrainSettings::step_size, at_least(1), "step: epochs per step"));
    k.push_back(field("train.step_gamma", T, &TrainSettings::step_gamma, above(0), "step: factor per step"));
    k.push_back(field("train.warmup_epochs", T, &TrainSettings::warmup_epochs, at_least(0),
                      "linear warm-up epochs (cosine, step, none): lr = base x (e + 1) / (warmup + 1) in epoch e"));
    k.push_back(choice("train.loss", T, &TrainSettings::loss, choices_of({LossKind::Mse, LossKind::CrossEntropy}),
                       "mse on firing rates vs one-hot (reference) or ce"));
    k.push_back(field("train.label_smoothing", T, &TrainSettings::label_smoothing, within(0, 1, false, true),
                      "ce: label smoothing"));
    k.push_back(field("train.grad_clip", T, &TrainSettings::grad_clip, at_least(0),
                      "max global gradient norm (0 = off)"));
    k.push_back(field("train.seed", T, &TrainSettings::seed, at_least(0),
                      "fixes initialisation, shuffling, clips and augmentation"));
    k.push_back(field("train.out_dir", T, &TrainSettings::out_dir, any(), "run folder (checkpoints, logs)"));
    k.push_back(field("train.quiet", T, &TrainSettings::quiet, any(), "no progress output"));
    k.push_back(field("train.eval_every", T, &TrainSettings::eval_every, at_least(1),
                      "evaluate every N epochs (and at the last)"));
    k.push_back(field("train.device", T, &TrainSettings::device, any(),
                      "cpu, cuda or cuda:N (a CUDA build of LibTorch)"));
    k.push_back(field("train.amp", T, &TrainSettings::amp, any(),
                      "mixed precision: float16 autocast with loss scaling (CUDA only)"));
    k.push_back(choice("train.synapses", T, &TrainSettings::synapses,
                       choices_of({SynapseMode::Dense, SynapseMode::Sparse, SynapseMode::Auto}),
                       "spike-input convolutions and linear layers (DVS networks, CPU): dense, sparse "
                       "(event-driven forward and gradients) or auto (per layer and step by density against fixed "
                       "crossovers)"));
    // [dist]
    k.push_back(choice("dist.backend", G, &DistConfig::backend,
                       choices_of({DistBackend::Auto, DistBackend::Gloo, DistBackend::Nccl}),
                       "in a job of more than one process: auto (NCCL for a CUDA model when built with it, else "
                       "Gloo)"));
    k.push_back(field("dist.timeout_s", G, &DistConfig::timeout_s, above(0),
                      "rendezvous and collective timeout, seconds (env MASNN_DIST_TIMEOUT overrides)"));
    k.push_back(field("dist.bucket_mb", G, &DistConfig::bucket_mb, above(0), "gradient all-reduce bucket size, MiB"));
    k.push_back(field("dist.sync_bn", G, &DistConfig::sync_bn, any(), "synchronised BatchNorm across the ranks"));
    k.push_back(field("dist.find_unused_parameters", G, &DistConfig::find_unused_parameters, any(),
                      "allow parameters that get no gradient in a step (slower)"));
    k.push_back(field("dist.broadcast_buffers", G, &DistConfig::broadcast_buffers, any(),
                      "copy rank 0's BN running statistics to every rank before each step (off with sync_bn)"));
    // Defaults as TOML text, from a default TrainConfig.
    const TrainConfig defaults;
    for (auto& spec : k) {
      toml::table t;
      spec.write(defaults, t);
      if (t.empty()) {
        spec.key.default_value = "(preset's)";
      } else {
        std::ostringstream text;
        text << t;  // "leaf = value"
        const std::string line = text.str();
        spec.key.default_value = line.substr(line.find(" = ") + 3);
      }
    }
    return k;
  }();
  return keys;
}

}  // namespace

std::string to_string(NeuronPreset preset) {
  return preset == NeuronPreset::ReferenceDvs ? "reference-dvs" : "reference-resnet";
}
std::string to_string(OptimizerKind optimizer) { return optimizer == OptimizerKind::Adam ? "adam" : "sgd"; }
std::string to_string(LossKind loss) { return loss == LossKind::Mse ? "mse" : "ce"; }
std::string to_string(DistBackend backend) {
  switch (backend) {
    case DistBackend::Auto: return "auto";
    case DistBackend::Gloo: return "gloo";
    case DistBackend::Nccl: return "nccl";
  }
  return "?";
}

TrainConfig parse_config(const std::string& text, const std::string& source,
                         const std::vector<std::string>& overrides) {
  toml::table root = resolve_extends(parse_toml(text, source), source, 0);
  for (const auto& o : overrides) apply_override(root, o, source);

  TrainConfig c;
  KeyReader r(root, source);
  for (const auto& spec : schema()) spec.read(r, c);
  r.check_all_used();
  for (const auto& spec : schema())
    if (const auto got = spec.violation(c)) r.fail(spec.key.name, spec.key.allowed + " (got " + *got + ")");

  // Rules that join several keys.
  const DataConfig& d = c.data;
  const TrainSettings& t = c.train;
  {
    // Image keys: no key that the dataset would not use.
    const bool folder = d.dataset == "imagefolder" || d.dataset == "imagenet", fmnist = d.dataset == "fashion-mnist";
    if (!folder && !fmnist) {
      require(d.image_size == 0 && d.resize_size == 0 && !d.auto_augment && d.min_scale == 0.08, source,
              "data.image_size/resize_size/auto_augment/min_scale", "left unset: they apply to image datasets");
    }
    if (folder) require(d.max_shift == 0, source, "data.max_shift", "0 for imagefolder (its crop is random-resized)");
    if (fmnist) {
      require(d.image_size == 0 || d.image_size == 28, source, "data.image_size", "28 (or 0) for fashion-mnist");
      require(d.resize_size == 0, source, "data.resize_size", "0 for fashion-mnist (its images are not resized)");
      require(d.min_scale == 0.08, source, "data.min_scale",
              "left unset for fashion-mnist (its crop is padded by data.max_shift, not random-resized)");
    }
  }
  {
    bool valid_device = false, on_cpu = false;
    try {
      const c10::Device device(t.device);
      valid_device = device.is_cpu() || device.is_cuda();
      on_cpu = device.is_cpu();  // "cpu" or "cpu:0"
    } catch (const c10::Error&) {
    }
    require(valid_device, source, "train.device", "cpu, cuda or cuda:N");
    require(!t.amp || t.device.rfind("cuda", 0) == 0, source, "train.amp",
            "false unless train.device is cuda (mixed precision is float16 autocast with loss scaling on a GPU)");
    require(t.synapses == SynapseMode::Dense || on_cpu, source, "train.synapses",
            "dense unless train.device is cpu (the event-driven synapses are CPU kernels)");
  }
  require(t.synapses == SynapseMode::Dense || c.model.name.rfind("res-snn", 0) != 0, source, "train.synapses",
          "dense for the Res-SNNs (event-driven synapses train the DVS networks' spike-input layers)");
  require(t.warmup_epochs == 0 || t.warmup_epochs < t.epochs, source, "train.warmup_epochs",
          "less than train.epochs");
  require(t.warmup_epochs == 0 || t.scheduler != ScheduleKind::Plateau, source, "train.warmup_epochs",
          "0 with the plateau scheduler (warm-up applies to cosine, step and none)");
  return c;
}

TrainConfig parse_checkpoint_config(const std::string& config_toml, const std::string& checkpoint,
                                    const std::vector<std::string>& overrides) {
  for (const auto& o : overrides)
    if (o.rfind("model.", 0) == 0)
      throw std::invalid_argument("--set " + o.substr(0, o.find('=')) + ": the network is the one " + checkpoint +
                                  " holds; its model keys cannot be changed (train a new one, or use --set for "
                                  "data, train and dist keys)");
  return parse_config(config_toml, checkpoint + " (its config)", overrides);
}

TrainConfig load_config(const std::string& path, const std::vector<std::string>& overrides) {
  return parse_config(read_text(path), path, overrides);
}

std::string to_toml(const TrainConfig& c) {
  toml::table root;
  for (const auto& spec : schema()) spec.write(c, *section_of(root, spec.key.name, "to_toml"));
  std::ostringstream out;
  out << root;
  return out.str();
}

const std::vector<ConfigKey>& config_keys() {
  static const std::vector<ConfigKey> keys = [] {
    std::vector<ConfigKey> k;
    for (const auto& spec : schema()) k.push_back(spec.key);
    return k;
  }();
  return keys;
}

std::string config_reference_markdown() {
  std::ostringstream out;
  out << "| key | type | default | allowed | meaning |\n|---|---|---|---|---|\n";
  for (const auto& k : config_keys())
    out << "| `" << k.name << "` | " << k.type << " | " << k.default_value << " | " << k.allowed << " | " << k.help
        << " |\n";
  return out.str();
}

std::string config_assignment(const std::string& key, const std::string& value) {
  std::ostringstream out;
  out << key << "=" << toml::value<std::string>(value);  // TOML's own quoting and escapes
  return out.str();
}

}  // namespace masnn::train
