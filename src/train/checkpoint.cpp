#include "masnn/train/checkpoint.h"

#include <torch/serialize.h>
#include <torch/torch.h>

#include <fmt/format.h>

#include <filesystem>
#include <nlohmann/json.hpp>
#include <stdexcept>

#include "masnn/models/torch_archive.h"
#include "masnn/util/file_io.h"
#include "util/sha256.h"
#include "util/zip_archive.h"

namespace masnn::train {
namespace {

constexpr int64_t kFormatVersion = 1;

nlohmann::json lif_to_json(const LIFOptions& o) {
  return {{"threshold", o.threshold()},
          {"v_reset", o.v_reset()},
          {"decay", o.decay()},
          {"bias", o.bias()},
          {"fire_at_equal", o.fire_at_equal()},
          {"reset", masnn::to_string(o.reset())},
          {"detach_reset", o.detach_reset()},
          {"surrogate", masnn::to_string(o.surrogate())},
          {"surrogate_width", o.surrogate_width()},
          {"learnable_decay", o.learnable_decay()},
          {"backend", to_string(o.backend())}};
}

LIFOptions lif_from_json(const nlohmann::json& j) {
  return LIFOptions()
      .threshold(j.at("threshold"))
      .v_reset(j.at("v_reset"))
      .decay(j.at("decay"))
      .bias(j.at("bias"))
      .fire_at_equal(j.at("fire_at_equal"))
      .reset(parse_reset_mode(j.at("reset")))
      .detach_reset(j.at("detach_reset"))
      .surrogate(parse_surrogate(j.at("surrogate")))
      .surrogate_width(j.at("surrogate_width"))
      .learnable_decay(j.at("learnable_decay"))
      .backend(parse_lif_backend(j.at("backend")));
}

// The SHA-256 of every parameter and buffer of the model, by name: a checkpoint states what its weights are, so a
// damaged or altered file is refused naming the tensor (the zip CRC-32s catch accidents, not edits).
std::map<std::string, std::string> tensor_hashes(torch::nn::Module& model) {
  std::vector<std::pair<std::string, torch::Tensor>> tensors;
  for (const auto& p : model.named_parameters()) tensors.emplace_back(p.key(), p.value().detach().to(torch::kCPU));
  for (const auto& b : model.named_buffers()) tensors.emplace_back(b.key(), b.value().detach().to(torch::kCPU));
  std::vector<std::string> digests(tensors.size());
  at::parallel_for(0, static_cast<int64_t>(tensors.size()), 1, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) {
      const torch::Tensor c = tensors[static_cast<size_t>(i)].second.contiguous();
      digests[static_cast<size_t>(i)] = sha256_hex(c.data_ptr(), c.nbytes());
    }
  });
  std::map<std::string, std::string> hashes;
  for (size_t i = 0; i < tensors.size(); ++i) hashes[tensors[i].first] = std::move(digests[i]);
  return hashes;
}

void verify_tensor_hashes(torch::nn::Module& model, const std::map<std::string, std::string>& expected,
                          const std::string& path) {
  if (expected.empty()) {
    fmt::print(stderr,
               "masnn: note: {}: written by an earlier masnn without tensor checksums; its zip CRC-32s were checked\n",
               path);
    return;
  }
  const auto actual = tensor_hashes(model);
  for (const auto& [name, hash] : actual) {
    auto it = expected.find(name);
    if (it == expected.end())
      throw std::runtime_error(path + ": tensor '" + name + "' has no checksum in the checkpoint; the file was altered");
    if (it->second != hash)
      throw std::runtime_error(path + ": tensor '" + name +
                               "' does not match its SHA-256 in the checkpoint; the file is damaged or was altered");
  }
}

std::string info_to_json(const CheckpointInfo& info) {
  nlohmann::json j = {{"format_version", kFormatVersion},
                      {"epoch", info.epoch},
                      {"best_accuracy", info.best_accuracy},
                      {"best_epoch", info.best_epoch},
                      {"config_toml", info.config_toml},
                      {"spec", nlohmann::json::parse(spec_to_json(info.spec))},
                      {"seed", info.seed},
                      {"schedule",
                       {{"lr", info.schedule.lr},
                        {"best", info.schedule.best},
                        {"has_best", info.schedule.has_best},
                        {"bad_epochs", info.schedule.bad_epochs}}}};
  if (!info.tensor_sha256.empty()) j["tensor_sha256"] = info.tensor_sha256;
  if (info.loss_scaler)
    j["loss_scaler"] = {{"scale", info.loss_scaler->scale}, {"growth_tracker", info.loss_scaler->growth_tracker}};
  return j.dump();
}

CheckpointInfo info_from_json(const std::string& text, const std::string& path) {
  try {
    const auto j = nlohmann::json::parse(text);
    if (j.at("format_version").get<int64_t>() != kFormatVersion)
      throw std::runtime_error("format version " + j.at("format_version").dump() + ", expected " +
                               std::to_string(kFormatVersion));
    CheckpointInfo info;
    info.epoch = j.at("epoch");
    info.best_accuracy = j.at("best_accuracy");
    info.best_epoch = j.at("best_epoch");
    info.config_toml = j.at("config_toml");
    info.spec = spec_from_json(j.at("spec").dump());
    info.seed = j.at("seed");
    const auto& s = j.at("schedule");
    info.schedule = {s.at("lr"), s.at("best"), s.at("has_best"), s.at("bad_epochs")};
    if (j.contains("tensor_sha256"))  // absent in checkpoints of earlier builds
      info.tensor_sha256 = j["tensor_sha256"].get<std::map<std::string, std::string>>();
    if (j.contains("loss_scaler")) {  // mixed-precision runs only
      info.loss_scaler = GradScaler::State{j["loss_scaler"].at("scale"), j["loss_scaler"].at("growth_tracker")};
    }
    return info;
  } catch (const std::exception& e) {
    throw std::runtime_error(path + ": not a masnn checkpoint (" + e.what() + ")");
  }
}

// The file is read once and checked (zip CRC-32s, pickles, declared sizes: masnn/models/torch_archive.h) before
// LibTorch parses those same bytes, through a reader that never reads past them.
void read_archive(const std::string& path, torch::serialize::InputArchive& archive) {
  const std::vector<uint8_t> bytes = read_file_bytes(path);  // a missing file, a folder or a FIFO: named
  if (!starts_like_zip(bytes.data(), bytes.size()))
    throw std::runtime_error(path + ": not a masnn checkpoint (a checkpoint is a zip archive; this file is not one)");
  check_torch_archive(path, bytes);
  try {
    // On the CPU: a run trained on a GPU loads anywhere; the trainer moves it back.
    load_archive_bytes(archive, bytes);
  } catch (const c10::Error& e) {
    throw std::runtime_error(path + ": cannot read checkpoint (" + e.what_without_backtrace() + ")");
  }
}

std::string read_info_text(torch::serialize::InputArchive& archive, const std::string& path) {
  c10::IValue v;
  if (!archive.try_read("masnn_info", v) || !v.isString())
    throw std::runtime_error(path + ": not a masnn checkpoint (no masnn_info record)");
  return v.toStringRef();
}

}  // namespace

std::string spec_to_json(const ModelSpec& s) {
  return nlohmann::json{{"name", s.name},
                        {"attention", s.attention.name()},
                        {"placement", to_string(s.placement)},
                        {"t_ratio", s.t_ratio},
                        {"c_ratio", s.c_ratio},
                        {"kernel_size", s.kernel_size},
                        {"per_step", s.per_step},
                        {"lif", lif_to_json(s.lif)},
                        {"steps", s.steps},
                        {"in_channels", s.in_channels},
                        {"input_size", s.input_size},
                        {"num_classes", s.num_classes}}
      .dump();
}

ModelSpec spec_from_json(const std::string& text) {
  const auto j = nlohmann::json::parse(text);
  ModelSpec s;
  s.name = j.at("name");
  s.attention = AttentionType::parse(j.at("attention"));
  s.placement = parse_attention_placement(j.at("placement"));
  s.t_ratio = j.at("t_ratio");
  s.c_ratio = j.at("c_ratio");
  s.kernel_size = j.at("kernel_size");
  s.per_step = j.at("per_step");
  s.lif = lif_from_json(j.at("lif"));
  s.steps = j.at("steps");
  s.in_channels = j.at("in_channels");
  s.input_size = j.at("input_size");
  s.num_classes = j.at("num_classes");
  return s;
}

void save_checkpoint(const std::string& path, torch::nn::Module& model, torch::optim::Optimizer* optimizer,
                     const CheckpointInfo& info) {
  const std::filesystem::path target(path);
  if (target.has_parent_path()) std::filesystem::create_directories(target.parent_path());
  torch::serialize::OutputArchive archive;
  CheckpointInfo stated = info;
  stated.tensor_sha256 = tensor_hashes(model);
  archive.write("masnn_info", c10::IValue(info_to_json(stated)));
  torch::serialize::OutputArchive model_archive;
  model.save(model_archive);
  archive.write("model", model_archive);
  if (optimizer) {
    torch::serialize::OutputArchive opt_archive;
    optimizer->save(opt_archive);
    archive.write("optimizer", opt_archive);
  }
  {
    auto gen = at::detail::getDefaultCPUGenerator();
    std::lock_guard<std::mutex> lock(gen.mutex());
    archive.write("rng", gen.get_state(), /*is_buffer=*/true);
  }
  // Serialised in memory first: LibTorch's file writer aborts the process when a write fails (it throws again in
  // its destructor); write_file_atomic reports a full disk as one error and leaves no temporary file.
  std::vector<uint8_t> bytes;
  archive.save_to([&bytes](const void* data, size_t size) {
    const auto* p = static_cast<const uint8_t*>(data);
    bytes.insert(bytes.end(), p, p + size);
    return size;
  });
  write_file_atomic(path, bytes);
  remove_stale_temporaries(path);
}

CheckpointInfo read_checkpoint_info(const std::string& path) {
  torch::serialize::InputArchive archive;
  read_archive(path, archive);
  return info_from_json(read_info_text(archive, path), path);
}

namespace {

// One tensor of a module from its archive, copied into the module's (whose shape stays): LibTorch's Module::load
// swaps in whatever shape the file holds and says only "Argument passed to at() was not in the map." when one is
// missing.
void load_tensor(torch::serialize::InputArchive& archive, const std::string& key, const std::string& full_name,
                 torch::Tensor& value, bool is_buffer, const std::string& path) {
  torch::Tensor stored;
  if (!archive.try_read(key, stored, is_buffer))
    throw std::runtime_error(path + ": tensor '" + full_name + "' of this network is missing from the checkpoint");
  if (stored.sizes() != value.sizes())
    throw std::runtime_error(path + ": tensor '" + full_name + "' has shape " + c10::str(stored.sizes()) +
                             " in the checkpoint, the network expects " + c10::str(value.sizes()));
  value.copy_(stored);
}

// The parameters and buffers of `module` as Module::save wrote them: its own, then a nested archive per child.
void load_module(torch::nn::Module& module, torch::serialize::InputArchive& archive, const std::string& prefix,
                 const std::string& path) {
  torch::NoGradGuard no_grad;
  for (auto& p : module.named_parameters(/*recurse=*/false)) load_tensor(archive, p.key(), prefix + p.key(), p.value(), false, path);
  for (auto& b : module.named_buffers(/*recurse=*/false)) load_tensor(archive, b.key(), prefix + b.key(), b.value(), true, path);
  for (const auto& child : module.named_children()) {
    torch::serialize::InputArchive child_archive;
    if (!archive.try_read(child.key(), child_archive))
      throw std::runtime_error(path + ": module '" + prefix + child.key() +
                               "' of this network is missing from the checkpoint");
    load_module(*child.value(), child_archive, prefix + child.key() + ".", path);
  }
}

// The model (verified against its hashes), optimiser and RNG state from an archive read_archive checked.
void load_states(torch::serialize::InputArchive& archive, const std::string& path, const CheckpointInfo& info,
                 torch::nn::Module& model, torch::optim::Optimizer* optimizer, bool restore_rng) {
  try {
    torch::serialize::InputArchive model_archive;
    if (!archive.try_read("model", model_archive))
      throw std::runtime_error(path + ": not a masnn checkpoint (no model record)");
    load_module(model, model_archive, "", path);
    verify_tensor_hashes(model, info.tensor_sha256, path);
    if (optimizer) {
      torch::serialize::InputArchive opt_archive;
      if (!archive.try_read("optimizer", opt_archive))
        throw std::runtime_error(path + ": it holds no optimiser state, so the run cannot be resumed from it");
      optimizer->load(opt_archive);
    }
    if (restore_rng) {
      torch::Tensor state;
      archive.read("rng", state, /*is_buffer=*/true);
      auto gen = at::detail::getDefaultCPUGenerator();
      std::lock_guard<std::mutex> lock(gen.mutex());
      gen.set_state(state);
    }
  } catch (const c10::Error& e) {
    throw std::runtime_error(path + ": " + e.what_without_backtrace());
  }
}

}  // namespace

CheckpointInfo load_checkpoint(const std::string& path, torch::nn::Module& model, torch::optim::Optimizer* optimizer,
                               bool restore_rng) {
  torch::serialize::InputArchive archive;
  read_archive(path, archive);
  const CheckpointInfo info = info_from_json(read_info_text(archive, path), path);
  load_states(archive, path, info, model, optimizer, restore_rng);
  return info;
}

torch::nn::AnyModule load_model(const std::string& path, CheckpointInfo* info_out) {
  torch::serialize::InputArchive archive;  // read and checked once
  read_archive(path, archive);
  const CheckpointInfo info = info_from_json(read_info_text(archive, path), path);
  torch::nn::AnyModule model = build_model(info.spec);
  load_states(archive, path, info, *model.ptr(), nullptr, /*restore_rng=*/false);
  model.ptr()->eval();
  if (info_out) *info_out = info;
  return model;
}

}  // namespace masnn::train
