// TOML settings with strict key checking (toml++). Each key is read through KeyReader, which remembers it;
// whatever the file holds that nobody read is an unknown key.
#include "masnn/train/config.h"

#include <c10/core/Device.h>
#include <toml++/toml.h>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <stdexcept>

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

void apply_override(toml::table& root, const std::string& assignment, const std::string& source) {
  const auto eq = assignment.find('=');
  if (eq == std::string::npos || eq == 0)
    throw std::invalid_argument("--set '" + assignment + "': expected key=value, e.g. train.lr=0.001");
  const std::string key = assignment.substr(0, eq);
  const std::string value = assignment.substr(eq + 1);
  // The value is a TOML value; a bare word is taken as a string.
  toml::table parsed;
  try {
    parsed = toml::parse("v = " + value);
  } catch (const toml::parse_error&) {
    parsed = toml::table{{"v", value}};
  }
  toml::table* table = &root;
  std::string::size_type start = 0, dot;
  while ((dot = key.find('.', start)) != std::string::npos) {
    const std::string part = key.substr(start, dot - start);
    if (!table->contains(part)) table->insert(part, toml::table{});
    table = (*table)[part].as_table();
    if (!table) throw std::invalid_argument(source + ": --set " + key + ": '" + part + "' is not a section");
    start = dot + 1;
  }
  table->insert_or_assign(key.substr(start), *parsed.get("v"));
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
  std::ifstream in(path);
  if (!in) throw std::invalid_argument(path + ": cannot open config file");
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
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

}  // namespace

TrainConfig parse_config(const std::string& text, const std::string& source,
                         const std::vector<std::string>& overrides) {
  toml::table root = resolve_extends(parse_toml(text, source), source, 0);
  for (const auto& o : overrides) apply_override(root, o, source);

  TrainConfig c;
  KeyReader r(root, source);
  ModelConfig& m = c.model;
  r.read("model.name", m.name);
  r.read("model.attention", m.attention);
  r.read("model.placement", m.placement);
  r.read("model.t_ratio", m.t_ratio);
  r.read("model.c_ratio", m.c_ratio);
  r.read("model.kernel_size", m.kernel_size);
  r.read("model.per_step", m.per_step);
  r.read("model.lif.neuron", m.neuron);
  r.read("model.lif.threshold", m.threshold);
  r.read("model.lif.v_reset", m.v_reset);
  r.read("model.lif.decay", m.decay);
  r.read("model.lif.bias", m.bias);
  r.read("model.lif.surrogate_width", m.surrogate_width);
  r.read("model.lif.reset", m.reset);
  r.read("model.lif.surrogate", m.surrogate);
  r.read("model.lif.backend", m.backend);
  r.read("model.lif.fire_at_equal", m.fire_at_equal);
  r.read("model.lif.detach_reset", m.detach_reset);
  r.read("model.lif.learnable_decay", m.learnable_decay);

  DataConfig& d = c.data;
  r.read("data.dataset", d.dataset);
  r.read("data.root", d.root);
  r.read("data.steps", d.steps);
  r.read("data.dt_ms", d.dt_ms);
  r.read("data.ds", d.ds);
  r.read("data.slicing", d.slicing);
  r.read("data.binary", d.binary);
  r.read("data.normalization", d.normalization);
  r.read("data.clips", d.clips);
  r.read("data.max_shift", d.max_shift);
  r.read("data.flip", d.flip);
  r.read("data.workers", d.workers);
  r.read("data.cache", d.cache);
  r.read("data.synth_users", d.synth_users);
  r.read("data.limit_train", d.limit_train);
  r.read("data.limit_test", d.limit_test);
  r.read("data.image_size", d.image_size);
  r.read("data.resize_size", d.resize_size);
  r.read("data.min_scale", d.min_scale);
  r.read("data.auto_augment", d.auto_augment);

  TrainSettings& t = c.train;
  r.read("train.epochs", t.epochs);
  r.read("train.batch_size", t.batch_size);
  r.read("train.optimizer", t.optimizer);
  r.read("train.lr", t.lr);
  r.read("train.beta1", t.beta1);
  r.read("train.beta2", t.beta2);
  r.read("train.momentum", t.momentum);
  r.read("train.weight_decay", t.weight_decay);
  r.read("train.scheduler", t.scheduler);
  r.read("train.plateau_factor", t.plateau_factor);
  r.read("train.plateau_patience", t.plateau_patience);
  r.read("train.step_size", t.step_size);
  r.read("train.step_gamma", t.step_gamma);
  r.read("train.warmup_epochs", t.warmup_epochs);
  r.read("train.loss", t.loss);
  r.read("train.label_smoothing", t.label_smoothing);
  r.read("train.grad_clip", t.grad_clip);
  int64_t seed = static_cast<int64_t>(t.seed);
  r.read("train.seed", seed);
  require(seed >= 0, source, "train.seed", "a non-negative integer");
  t.seed = static_cast<uint64_t>(seed);
  r.read("train.out_dir", t.out_dir);
  r.read("train.quiet", t.quiet);
  r.read("train.eval_every", t.eval_every);
  r.read("train.device", t.device);
  r.read("train.amp", t.amp);
  DistConfig& g = c.dist;
  r.read("dist.backend", g.backend);
  r.read("dist.timeout_s", g.timeout_s);
  r.read("dist.bucket_mb", g.bucket_mb);
  r.read("dist.sync_bn", g.sync_bn);
  r.read("dist.find_unused_parameters", g.find_unused_parameters);
  r.read("dist.broadcast_buffers", g.broadcast_buffers);
  r.check_all_used();

  auto one_of = [&](const std::string& key, const std::string& v, std::initializer_list<const char*> allowed) {
    std::string list;
    for (const char* a : allowed) {
      if (v == a) return;
      list += (list.empty() ? "" : ", ") + std::string(a);
    }
    r.fail(key, "one of " + list + " (got '" + v + "')");
  };
  one_of("model.placement", m.placement, {"conv-post", "activate-pre"});
  one_of("model.lif.neuron", m.neuron, {"reference-dvs", "reference-resnet"});
  one_of("data.dataset", d.dataset,
         {"dvs128-gesture", "dvs128-gait", "cifar10-dvs", "synthetic-gesture", "imagefolder", "imagenet",
          "fashion-mnist"});
  one_of("data.slicing", d.slicing, {"time-window", "event-count", "time-bins"});
  one_of("data.normalization", d.normalization, {"none", "max-per-frame", "max-per-sample"});
  one_of("train.optimizer", t.optimizer, {"adam", "sgd"});
  one_of("train.scheduler", t.scheduler, {"plateau", "cosine", "step", "none"});
  one_of("train.loss", t.loss, {"mse", "ce"});
  require(d.steps >= 1, source, "data.steps", ">= 1");
  require(d.dt_ms > 0, source, "data.dt_ms", "> 0");
  require(d.ds >= 1, source, "data.ds", ">= 1");
  require(d.clips >= 1, source, "data.clips", ">= 1");
  require(d.workers >= 1, source, "data.workers", ">= 1");
  require(d.flip >= 0 && d.flip <= 1, source, "data.flip", "in [0, 1]");
  require(d.max_shift >= 0, source, "data.max_shift", ">= 0");
  require(d.limit_train >= 0 && d.limit_test >= 0, source, "data.limit_train/limit_test", ">= 0 (0 = no limit)");
  {
    // Image keys: ranges, and no key that the dataset would not use.
    const bool folder = d.dataset == "imagefolder" || d.dataset == "imagenet", fmnist = d.dataset == "fashion-mnist";
    require(d.image_size >= 0, source, "data.image_size", ">= 0 (0 = the dataset's size)");
    require(d.resize_size >= 0, source, "data.resize_size", ">= 0 (0 = image_size * 8/7)");
    require(d.min_scale > 0 && d.min_scale <= 1, source, "data.min_scale", "in (0, 1]");
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
  require(t.epochs >= 1, source, "train.epochs", ">= 1");
  require(t.batch_size >= 1, source, "train.batch_size", ">= 1");
  require(t.lr > 0, source, "train.lr", "> 0");
  require(t.grad_clip >= 0, source, "train.grad_clip", ">= 0");
  require(t.momentum >= 0 && t.momentum < 1, source, "train.momentum", "in [0, 1)");
  require(t.weight_decay >= 0, source, "train.weight_decay", ">= 0");
  require(t.plateau_factor > 0 && t.plateau_factor < 1, source, "train.plateau_factor", "in (0, 1)");
  require(t.plateau_patience >= 0, source, "train.plateau_patience", ">= 0");
  require(t.step_size >= 1, source, "train.step_size", ">= 1");
  require(t.step_gamma > 0, source, "train.step_gamma", "> 0");
  require(t.label_smoothing >= 0 && t.label_smoothing < 1, source, "train.label_smoothing", "in [0, 1)");
  require(t.eval_every >= 1, source, "train.eval_every", ">= 1");
  {
    bool valid_device = false;
    try {
      const c10::Device device(t.device);
      valid_device = device.is_cpu() || device.is_cuda();
    } catch (const c10::Error&) {
    }
    require(valid_device, source, "train.device", "cpu, cuda or cuda:N");
    require(!t.amp || t.device.rfind("cuda", 0) == 0, source, "train.amp",
            "false unless train.device is cuda (mixed precision is float16 autocast with loss scaling on a GPU)");
  }
  require(t.warmup_epochs >= 0 && (t.warmup_epochs == 0 || t.warmup_epochs < t.epochs), source, "train.warmup_epochs",
          ">= 0 and less than train.epochs");
  require(t.warmup_epochs == 0 || t.scheduler != "plateau", source, "train.warmup_epochs",
          "0 with the plateau scheduler (warm-up applies to cosine, step and none)");
  one_of("dist.backend", g.backend, {"auto", "gloo", "nccl"});
  require(g.timeout_s > 0, source, "dist.timeout_s", "> 0");
  require(g.bucket_mb > 0, source, "dist.bucket_mb", "> 0");
  require(m.t_ratio >= 1 && m.c_ratio >= 1, source, "model.t_ratio/c_ratio", ">= 1");
  return c;
}

TrainConfig load_config(const std::string& path, const std::vector<std::string>& overrides) {
  return parse_config(read_text(path), path, overrides);
}

std::string to_toml(const TrainConfig& c) {
  const ModelConfig& m = c.model;
  toml::table lif{{"neuron", m.neuron}};
  auto put = [](toml::table& t, const char* k, const auto& opt) {
    if (opt) t.insert(k, *opt);
  };
  put(lif, "threshold", m.threshold);
  put(lif, "v_reset", m.v_reset);
  put(lif, "decay", m.decay);
  put(lif, "bias", m.bias);
  put(lif, "surrogate_width", m.surrogate_width);
  put(lif, "reset", m.reset);
  put(lif, "surrogate", m.surrogate);
  put(lif, "backend", m.backend);
  put(lif, "fire_at_equal", m.fire_at_equal);
  put(lif, "detach_reset", m.detach_reset);
  put(lif, "learnable_decay", m.learnable_decay);
  toml::table model{
      {"name", m.name},       {"attention", m.attention},     {"placement", m.placement}, {"t_ratio", m.t_ratio},
      {"c_ratio", m.c_ratio}, {"kernel_size", m.kernel_size}, {"per_step", m.per_step},   {"lif", lif}};
  const DataConfig& d = c.data;
  toml::table data{{"dataset", d.dataset},
                   {"root", d.root},
                   {"steps", d.steps},
                   {"dt_ms", d.dt_ms},
                   {"ds", d.ds},
                   {"slicing", d.slicing},
                   {"binary", d.binary},
                   {"normalization", d.normalization},
                   {"clips", d.clips},
                   {"max_shift", d.max_shift},
                   {"flip", d.flip},
                   {"workers", d.workers},
                   {"cache", d.cache},
                   {"synth_users", d.synth_users},
                   {"limit_train", d.limit_train},
                   {"limit_test", d.limit_test},
                   {"image_size", d.image_size},
                   {"resize_size", d.resize_size},
                   {"min_scale", d.min_scale},
                   {"auto_augment", d.auto_augment}};
  const TrainSettings& t = c.train;
  toml::table train{{"epochs", t.epochs},
                    {"batch_size", t.batch_size},
                    {"optimizer", t.optimizer},
                    {"lr", t.lr},
                    {"beta1", t.beta1},
                    {"beta2", t.beta2},
                    {"momentum", t.momentum},
                    {"weight_decay", t.weight_decay},
                    {"scheduler", t.scheduler},
                    {"plateau_factor", t.plateau_factor},
                    {"plateau_patience", t.plateau_patience},
                    {"step_size", t.step_size},
                    {"step_gamma", t.step_gamma},
                    {"warmup_epochs", t.warmup_epochs},
                    {"loss", t.loss},
                    {"label_smoothing", t.label_smoothing},
                    {"grad_clip", t.grad_clip},
                    {"seed", static_cast<int64_t>(t.seed)},
                    {"out_dir", t.out_dir},
                    {"quiet", t.quiet},
                    {"eval_every", t.eval_every},
                    {"device", t.device},
                    {"amp", t.amp}};
  const DistConfig& g = c.dist;
  toml::table dist{{"backend", g.backend},
                   {"timeout_s", g.timeout_s},
                   {"bucket_mb", g.bucket_mb},
                   {"sync_bn", g.sync_bn},
                   {"find_unused_parameters", g.find_unused_parameters},
                   {"broadcast_buffers", g.broadcast_buffers}};
  toml::table root{{"model", model}, {"data", data}, {"train", train}, {"dist", dist}};
  std::ostringstream out;
  out << root;
  return out.str();
}

}  // namespace masnn::train
