#include "masnn/train/trainer.h"

#include <fmt/format.h>
#include <torch/torch.h>

#include <chrono>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <stdexcept>

#include "masnn/models/spiking_blocks.h"
#include "masnn/train/factory.h"
#include "masnn/train/mixed_precision.h"
#include "neuron/lif_kernels_cuda.h"
#include "train/metrics_csv.h"
#include "train/progress.h"
#include "train/sync_batch_norm.h"
#include "train/tensorboard.h"

namespace masnn::train {
namespace {

namespace fs = std::filesystem;

const std::vector<std::string> kCsvColumns = {"epoch",
                                              "lr",
                                              "train_loss",
                                              "train_accuracy",
                                              "test_loss",
                                              "test_accuracy",
                                              "test_vote_accuracy",
                                              "test_clip_accuracy",
                                              "test_top5_accuracy",
                                              "samples_per_second",
                                              "seconds"};

std::unique_ptr<torch::optim::Optimizer> make_optimizer(const TrainSettings& t, std::vector<torch::Tensor> params) {
  if (t.optimizer == OptimizerKind::Adam)
    return std::make_unique<torch::optim::Adam>(
        params, torch::optim::AdamOptions(t.lr).betas({t.beta1, t.beta2}).weight_decay(t.weight_decay));
  return std::make_unique<torch::optim::SGD>(
      params, torch::optim::SGDOptions(t.lr).momentum(t.momentum).weight_decay(t.weight_decay));
}

void set_lr(torch::optim::Optimizer& opt, double lr) {
  for (auto& group : opt.param_groups()) group.options().set_lr(lr);
}

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

// The device of a module's first parameter (CPU for a module without parameters).
torch::Device model_device(const torch::nn::Module& module) {
  const auto params = module.parameters();
  return params.empty() ? torch::Device(torch::kCPU) : params.front().device();
}

// Optimiser state read from a checkpoint lands on the CPU; it must live where the parameters are.
void move_optimizer_state(torch::optim::Optimizer& optimizer, const torch::Device& device) {
  auto move = [&](const torch::Tensor& t) { return t.defined() ? t.to(device) : t; };
  for (auto& entry : optimizer.state()) {
    if (auto* adam = dynamic_cast<torch::optim::AdamParamState*>(entry.second.get())) {
      adam->exp_avg(move(adam->exp_avg()));
      adam->exp_avg_sq(move(adam->exp_avg_sq()));
      adam->max_exp_avg_sq(move(adam->max_exp_avg_sq()));
    } else if (auto* sgd = dynamic_cast<torch::optim::SGDParamState*>(entry.second.get())) {
      sgd->momentum_buffer(move(sgd->momentum_buffer()));
    }
  }
}

}  // namespace

torch::Tensor classification_loss(LossKind kind, const torch::Tensor& outputs, const torch::Tensor& labels,
                                  double label_smoothing) {
  if (kind == LossKind::Mse)
    return torch::mse_loss(outputs, torch::one_hot(labels, outputs.size(1)).to(outputs.scalar_type()));
  return torch::nn::functional::cross_entropy(
      outputs, labels, torch::nn::functional::CrossEntropyFuncOptions().label_smoothing(label_smoothing));
}

Evaluation evaluate_model(torch::nn::AnyModule& model, data::BatchLoader& loader, int64_t num_classes, LossKind loss,
                          bool quiet, int64_t max_samples) {
  torch::nn::Module& module = *model.ptr();
  const bool was_training = module.is_training();
  module.eval();
  torch::NoGradGuard no_grad;
  loader.start_epoch(0);
  const int clips = loader.columns_per_sample();
  const torch::Device device = model_device(module);
  EvaluationAccumulator acc(num_classes);
  ProgressBar bar("eval", static_cast<int64_t>(loader.batches_per_epoch()), quiet);
  data::Batch batch;
  int64_t step = 0, samples = 0;
  while ((max_samples < 0 || samples < max_samples) && loader.next(batch)) {
    torch::Tensor x = batch.x.to(device), labels = batch.labels.to(device);
    const int64_t batch_samples = labels.size(0) / clips;
    if (max_samples >= 0 && samples + batch_samples > max_samples) {
      // Columns of the samples past the limit go (the input is [T,B',...] for event frames, [B',...] else).
      const int64_t keep = (max_samples - samples) * clips;
      x = x.narrow(x.dim() == 5 ? 1 : 0, 0, keep);
      labels = labels.narrow(0, 0, keep);
    }
    const torch::Tensor out = model.forward(x);
    const double loss_sum = classification_loss(loss, out, labels, 0).item<double>() * out.size(0);
    acc.add(out.cpu(), labels.cpu(), clips, loss_sum);
    samples += out.size(0) / clips;
    bar.update(++step, samples, {});
  }
  const Evaluation e = acc.result();
  // A rank's share of a distributed evaluation (max_samples set) is not the accuracy of the split: not shown.
  if (max_samples < 0)
    bar.finish({{"acc%", e.accuracy}});
  else
    bar.finish({});
  if (was_training) module.train();
  return e;
}

Evaluation evaluate_model(torch::nn::AnyModule& model, const std::shared_ptr<const data::EventDataset>& dataset,
                          const data::LoaderOptions& options, LossKind loss, bool quiet) {
  data::EventLoader loader(dataset, options);
  return evaluate_model(model, loader, dataset->num_classes(), loss, quiet);
}

torch::Device training_device(const TrainSettings& t) {
  const torch::Device device(t.device);
  if (device.is_cuda()) {
    if (!torch::cuda::is_available())
      throw std::invalid_argument("train.device = '" + t.device +
                                  "': no CUDA device is visible (this LibTorch is a CPU build, or no GPU is present)");
    if (device.has_index() && device.index() >= static_cast<int64_t>(torch::cuda::device_count()))
      throw std::invalid_argument(
          fmt::format("train.device = '{}': only {} CUDA devices are visible", t.device, torch::cuda::device_count()));
  }
  return device;
}

Shard shard_of(const Communicator* comm) {
  Shard s;
  if (comm) {
    s.rank = comm->rank();
    s.world_size = comm->world_size();
  }
  return s;
}

Trainer::Trainer(TrainConfig config, SplitData train, SplitData test, std::shared_ptr<Communicator> comm)
    : config_(std::move(config)), train_(std::move(train)), test_(std::move(test)), comm_(std::move(comm)) {
  if (train_.input.num_classes != test_.input.num_classes)
    throw std::invalid_argument("train and test splits have different class counts (" + train_.name + ": " +
                                std::to_string(train_.input.num_classes) + ", " + test_.name + ": " +
                                std::to_string(test_.input.num_classes) + ")");
  const Shard shard = shard_of(comm_.get());
  for (const SplitData* split : {&train_, &test_}) {
    const auto* sharded = dynamic_cast<const data::PrefetchingLoader*>(split->loader.get());
    if (sharded && (sharded->sampler().rank != shard.rank || sharded->sampler().world_size != shard.world_size))
      throw std::invalid_argument(fmt::format("{}: the loader is shard {} of {}, but this trainer is rank {} of {}",
                                              split->name, sharded->sampler().rank, sharded->sampler().world_size,
                                              shard.rank, shard.world_size));
  }
  spec_ = model_spec(config_, train_.input);
  device_ = training_device(config_.train);
  if (device_.is_cuda() && lif_options(config_.model).backend() == LIFBackend::Fused && !kernels::cuda_kernels_built())
    throw std::invalid_argument(
        "train.device = '" + config_.train.device +
        "' needs model.lif.backend = \"composed\": this masnn was built without its CUDA kernels (-DMASNN_CUDA=ON)");
  torch::manual_seed(config_.train.seed);
  model_ = build_model(spec_);
  module().to(device_);
  set_synapse_mode(module(), config_.train.synapses);
  scaler_ = std::make_unique<GradScaler>(GradScalerOptions().enabled(config_.train.amp));
  if (comm_) {
    if (config_.dist.sync_bn) convert_sync_batch_norm(module(), comm_);
    start_data_parallel();
  }
  optimizer_ = make_optimizer(config_.train, module().parameters());
  ScheduleSettings s;
  s.kind = config_.train.scheduler;
  s.base_lr = config_.train.lr;
  s.epochs = config_.train.epochs;
  s.plateau_factor = config_.train.plateau_factor;
  s.plateau_patience = config_.train.plateau_patience;
  s.step_size = config_.train.step_size;
  s.step_gamma = config_.train.step_gamma;
  s.warmup_epochs = config_.train.warmup_epochs;
  schedule_ = std::make_unique<LRSchedule>(s);
}

Trainer::Trainer(TrainConfig config, std::shared_ptr<const data::EventDataset> train_set,
                 std::shared_ptr<const data::EventDataset> test_set, std::shared_ptr<Communicator> comm)
    : Trainer(config, event_split(config, std::move(train_set), data::Split::Train, shard_of(comm.get())),
              event_split(config, std::move(test_set), data::Split::Test, shard_of(comm.get())), comm) {}

Trainer::~Trainer() = default;

void Trainer::start_data_parallel() {
  const DistConfig& d = config_.dist;
  data_parallel_.reset();  // its hooks go before the new one's come
  // Synchronised BN keeps the running statistics equal on every rank already.
  data_parallel_ = std::make_unique<DataParallel>(module(), comm_,
                                                  DataParallelOptions()
                                                      .bucket_bytes(static_cast<int64_t>(d.bucket_mb * 1024 * 1024))
                                                      .find_unused_parameters(d.find_unused_parameters)
                                                      .broadcast_buffers(d.broadcast_buffers && !d.sync_bn));
}

void Trainer::resume(const std::string& path) {
  const CheckpointInfo peek = read_checkpoint_info(path);
  if (spec_to_json(peek.spec) != spec_to_json(spec_))
    throw std::invalid_argument(path + ": the checkpoint's network differs from the config's (checkpoint " +
                                spec_to_json(peek.spec) + ", config " + spec_to_json(spec_) + ")");
  const CheckpointInfo info = load_checkpoint(path, module(), optimizer_.get(), /*restore_rng=*/true);
  // Loading puts tensors read for another device on the CPU.
  module().to(device_);
  move_optimizer_state(*optimizer_, device_);
  if (info.loss_scaler) scaler_->load_state(*info.loss_scaler);
  schedule_->set_state(info.schedule);
  next_epoch_ = info.epoch + 1;
  best_accuracy_ = info.best_accuracy;
  best_epoch_ = info.best_epoch;
  repair_best_checkpoint();
  if (data_parallel_) {
    // Every rank read a checkpoint; they must be the same run at the same epoch.
    const auto sums = comm_->all_reduce_sum({static_cast<double>(next_epoch_), 1.0 * next_epoch_ * next_epoch_},
                                            "the check that every rank resumed at the same epoch");
    const double n = comm_->world_size(), mean = sums[0] / n;
    if (sums[1] / n - mean * mean > 1e-9)
      throw std::runtime_error(fmt::format(
          "{}: rank {} resumed at epoch {}, but the ranks' checkpoints are at different epochs (mean {:.2f}); give "
          "every rank the same checkpoint",
          path, comm_->rank(), next_epoch_ + 1, mean + 1));
    // Loading re-pointed the parameters (Module::load): a new DataParallel hooks them, copying rank 0's to all.
    start_data_parallel();
  }
}

void Trainer::repair_best_checkpoint() {
  // last.pt is written before best.pt: a kill between them leaves best.pt behind when the last epoch was the best.
  if (!is_main() || best_epoch_ < 0 || best_epoch_ != next_epoch_ - 1) return;
  const std::string best = (fs::path(config_.train.out_dir) / "best.pt").string();
  std::error_code ec;
  if (fs::exists(best, ec)) {
    try {
      if (read_checkpoint_info(best).epoch == best_epoch_) return;
    } catch (const std::exception&) {  // unreadable: written again below
    }
  }
  save(best);
}

void Trainer::save(const std::string& path) {
  if (!is_main()) return;
  CheckpointInfo info;
  info.epoch = next_epoch_ - 1;
  info.best_accuracy = best_accuracy_;
  info.best_epoch = best_epoch_;
  info.config_toml = to_toml(config_);
  info.spec = spec_;
  info.schedule = schedule_->state();
  info.seed = config_.train.seed;
  if (scaler_->is_enabled()) info.loss_scaler = scaler_->state();
  save_checkpoint(path, module(), optimizer_.get(), info);
}

EpochRecord Trainer::train_epoch(int64_t epoch) {
  const TrainSettings& t = config_.train;
  EpochRecord r;
  r.epoch = epoch;
  r.lr = schedule_->lr_for_epoch(epoch);
  set_lr(*optimizer_, r.lr);
  module().train();
  data::BatchLoader& loader = *train_.loader;
  loader.start_epoch(static_cast<uint64_t>(epoch));
  ProgressBar bar(fmt::format("epoch {}/{}", epoch + 1, t.epochs), static_cast<int64_t>(loader.batches_per_epoch()),
                  t.quiet || !is_main());
  const auto t0 = std::chrono::steady_clock::now();
  double loss_sum = 0;
  int64_t correct = 0, samples = 0, step = 0;
  data::Batch batch;
  while (loader.next(batch)) {
    const torch::Tensor x = batch.x.to(device_), labels = batch.labels.to(device_);
    optimizer_->zero_grad();
    if (data_parallel_) data_parallel_->before_forward();
    torch::Tensor out, loss;
    {
      // Mixed precision (train.amp, CUDA only): float16 where autocast deems it safe, the loss in float32.
      AutocastGuard autocast(device_.type(), t.amp);
      out = model_.forward(x);
      loss = classification_loss(t.loss, out.to(torch::kFloat), labels, t.label_smoothing);
    }
    const torch::Tensor scaled = scaler_->scale(loss);  // the loss itself without amp
    if (data_parallel_)
      data_parallel_->backward(scaled);  // the gradients are the mean over the ranks when it returns
    else
      scaled.backward();
    if (t.grad_clip > 0) {
      scaler_->unscale(*optimizer_);  // clip the true gradients
      torch::nn::utils::clip_grad_norm_(module().parameters(), t.grad_clip);
    }
    scaler_->step(*optimizer_);  // skipped after inf/NaN gradients (amp)
    scaler_->update();
    const int64_t n = out.size(0);
    loss_sum += loss.item<double>() * n;
    correct += out.argmax(1).eq(labels).sum().item<int64_t>();
    samples += n;
    // Rank 0's loss and accuracy so far; samples counted for the whole job (every rank takes as many).
    bar.update(++step, samples * (comm_ ? comm_->world_size() : 1),
               {{"loss", loss_sum / samples}, {"acc%", static_cast<double>(correct) / samples}});
  }
  if (data_parallel_) {
    // This epoch's metrics over every rank's samples; the ranks' BN statistics made equal for evaluation.
    const auto sums = comm_->all_reduce_sum({loss_sum, static_cast<double>(correct), static_cast<double>(samples)},
                                            "the reduction of the train metrics");
    loss_sum = sums[0];
    correct = static_cast<int64_t>(std::llround(sums[1]));
    samples = static_cast<int64_t>(std::llround(sums[2]));
    if (config_.dist.broadcast_buffers && !config_.dist.sync_bn) data_parallel_->broadcast_buffers();
  }
  r.seconds = seconds_since(t0);
  r.train_loss = samples ? loss_sum / samples : 0;
  r.train_accuracy = samples ? static_cast<double>(correct) / samples : 0;
  r.samples_per_second = samples / std::max(r.seconds, 1e-9);
  bar.finish({{"loss", r.train_loss}, {"acc%", r.train_accuracy}});
  return r;
}

Evaluation Trainer::evaluate() {
  if (!comm_)
    return evaluate_model(model_, *test_.loader, test_.input.num_classes, config_.train.loss, config_.train.quiet);
  // Each rank evaluates its own samples of the split (the padding that evens out the shards excluded).
  const int64_t mine = valid_samples(static_cast<int64_t>(test_.samples), comm_->rank(), comm_->world_size());
  const Evaluation local = evaluate_model(model_, *test_.loader, test_.input.num_classes, config_.train.loss,
                                          config_.train.quiet || !is_main(), mine);
  return reduce_evaluation(local, *comm_);
}

TrainSummary Trainer::fit(int64_t stop_after) {
  const TrainSettings& t = config_.train;
  const fs::path out(t.out_dir);
  const bool main = is_main();  // only rank 0 writes the output folder and prints
  std::unique_ptr<MetricsCsv> csv;
  std::unique_ptr<TensorBoardWriter> tb;
  if (main) {
    fs::create_directories(out);
    {
      std::ofstream cfg(out / "config.toml");
      cfg << to_toml(config_);
    }
    const bool resumed = next_epoch_ > 0;
    // Rows of epochs after the checkpoint (a kill between the row and last.pt) are written again: drop them.
    if (resumed) MetricsCsv::drop_rows_after((out / "metrics.csv").string(), static_cast<double>(next_epoch_));
    csv = std::make_unique<MetricsCsv>((out / "metrics.csv").string(), kCsvColumns, /*append=*/resumed);
    tb = std::make_unique<TensorBoardWriter>((out / "tensorboard").string());
  }
  TrainSummary summary;
  for (int64_t run = 0; next_epoch_ < t.epochs && (stop_after < 0 || run < stop_after); ++run) {
    const int64_t epoch = next_epoch_;
    EpochRecord r = train_epoch(epoch);
    const bool last = epoch + 1 == t.epochs;
    if ((epoch + 1) % t.eval_every == 0 || last) r.test = evaluate();
    schedule_->end_epoch(epoch, r.train_loss);
    next_epoch_ = epoch + 1;
    std::map<std::string, double> row = {{"epoch", static_cast<double>(epoch + 1)},
                                         {"lr", r.lr},
                                         {"train_loss", r.train_loss},
                                         {"train_accuracy", r.train_accuracy},
                                         {"samples_per_second", r.samples_per_second},
                                         {"seconds", r.seconds}};
    if (tb) {
      tb->add_scalar("train/loss", r.train_loss, epoch + 1);
      tb->add_scalar("train/accuracy", r.train_accuracy, epoch + 1);
      tb->add_scalar("train/lr", r.lr, epoch + 1);
      tb->add_scalar("train/samples_per_second", r.samples_per_second, epoch + 1);
    }
    if (r.test) {
      row["test_loss"] = r.test->loss;
      row["test_accuracy"] = r.test->accuracy;
      row["test_vote_accuracy"] = r.test->vote_accuracy;
      row["test_clip_accuracy"] = r.test->clip_accuracy;
      row["test_top5_accuracy"] = r.test->top5_accuracy;
      if (tb) {
        tb->add_scalar("test/loss", r.test->loss, epoch + 1);
        tb->add_scalar("test/accuracy", r.test->accuracy, epoch + 1);
        tb->add_scalar("test/clip_accuracy", r.test->clip_accuracy, epoch + 1);
        tb->add_scalar("test/top5_accuracy", r.test->top5_accuracy, epoch + 1);
      }
      if (r.test->accuracy > best_accuracy_) {
        best_accuracy_ = r.test->accuracy;
        best_epoch_ = epoch;
      }
    }
    // The row, then last.pt, then best.pt: a kill anywhere leaves a run that resumes (repair_best_checkpoint,
    // MetricsCsv::drop_rows_after) to the same files as one never killed.
    if (csv) csv->write_row(row);
    if (tb) tb->flush();
    save((out / "last.pt").string());
    if (best_epoch_ == epoch) save((out / "best.pt").string());
    if (!t.quiet && main) {
      std::string line = fmt::format("epoch {}/{}: train loss {:.4f} acc {:.1f}%", epoch + 1, t.epochs, r.train_loss,
                                     100 * r.train_accuracy);
      if (r.test && r.test->clips > r.test->samples)  // several clips per sample: the voting rules
        line += fmt::format(" | test acc {:.1f}% (vote {:.1f}%, clips {:.1f}%, top-5 {:.1f}%)", 100 * r.test->accuracy,
                            100 * r.test->vote_accuracy, 100 * r.test->clip_accuracy, 100 * r.test->top5_accuracy);
      else if (r.test)
        line += fmt::format(" | test top-1 {:.2f}% top-5 {:.2f}%", 100 * r.test->accuracy, 100 * r.test->top5_accuracy);
      std::cerr << line << fmt::format(" | lr {:.3g} | {:.1f} samples/s\n", r.lr, r.samples_per_second);
    }
    summary.epochs.push_back(std::move(r));
  }
  summary.best_accuracy = best_accuracy_;
  summary.best_epoch = best_epoch_;
  // The ranks leave together, once rank 0 has written its last checkpoint.
  if (comm_) comm_->barrier("the barrier at the end of training");
  return summary;
}

}  // namespace masnn::train
