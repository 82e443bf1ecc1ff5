// Training and evaluation of a network on event data, as a config describes (REFERENCE.md 3 and 4.1).
// Output folder (train.out_dir): last.pt and best.pt checkpoints, metrics.csv (one row per epoch),
// tensorboard/ (event files), config.toml (the resolved settings).
//
// Distributed (data-parallel) training: given a Communicator, the trainer is one rank of a job. Its splits must be
// this rank's shards (open_split(config, split, shard_of(comm))); train.batch_size is per rank, so a step sees
// batch_size x world_size samples in all. Every rank starts from rank 0's weights, gradients are averaged across
// the ranks in the backward pass (DataParallel), dist.sync_bn synchronises BatchNorm, the train and test metrics
// are summed over the ranks (each evaluates its part of the test split, padding dropped), and only rank 0 writes
// the output folder and prints progress.
#pragma once

#include <torch/nn/modules/container/any.h>
#include <torch/optim/optimizer.h>

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "masnn/data/batch_loader.h"
#include "masnn/data/event_dataset.h"
#include "masnn/data/loader.h"
#include "masnn/train/checkpoint.h"
#include "masnn/train/config.h"
#include "masnn/train/distributed.h"
#include "masnn/train/metrics.h"
#include "masnn/train/mixed_precision.h"
#include "masnn/train/schedule.h"
#include "masnn/train/train_data.h"

namespace masnn::train {

struct EpochRecord {
  int64_t epoch = 0;  ///< 0-based
  double lr = 0;
  double train_loss = 0;
  double train_accuracy = 0;
  double samples_per_second = 0;
  double seconds = 0;
  std::optional<Evaluation> test;
};

struct TrainSummary {
  std::vector<EpochRecord> epochs;  ///< the epochs run by this call
  double best_accuracy = -1;
  int64_t best_epoch = -1;
};

/// The loss of a batch: mse between the output (firing rates) and the one-hot label (the reference), or
/// cross-entropy on the outputs with label smoothing.
torch::Tensor classification_loss(LossKind kind, const torch::Tensor& outputs, const torch::Tensor& labels,
                                  double label_smoothing);

/// Evaluates a network on one epoch of a loader (epoch 0), voting over its columns_per_sample() columns per
/// sample; when max_samples >= 0, only the first max_samples samples count (the rest of the epoch is skipped:
/// a rank's padding in a distributed job). Restores train mode.
Evaluation evaluate_model(torch::nn::AnyModule& model, data::BatchLoader& loader, int64_t num_classes, LossKind loss,
                          bool quiet, int64_t max_samples = -1);
/// The same on an event dataset with the loader's test clips.
Evaluation evaluate_model(torch::nn::AnyModule& model, const std::shared_ptr<const data::EventDataset>& dataset,
                          const data::LoaderOptions& loader_options, LossKind loss, bool quiet);

/// train.device as a device this process can use; throws std::invalid_argument naming the key otherwise (CUDA
/// asked of a CPU build of LibTorch, or a GPU number past the visible ones).
torch::Device training_device(const TrainSettings& settings);

/// The shard a rank of `comm` loads (the whole data without a communicator).
Shard shard_of(const Communicator* comm);

class Trainer {
 public:
  /// Builds the network (seeded with train.seed) for the train split's input, the optimiser and the schedule.
  /// With `comm`, one rank of a distributed job: the splits must be the shards of this rank (checked for the
  /// loaders that shard), rank 0's weights are copied to every rank, and [dist] sets the gradient buckets and
  /// synchronised BN. Throws for bad settings.
  Trainer(TrainConfig config, SplitData train, SplitData test, std::shared_ptr<Communicator> comm = nullptr);
  /// The same for event datasets already open (each rank loads its shard).
  Trainer(TrainConfig config, std::shared_ptr<const data::EventDataset> train_set,
          std::shared_ptr<const data::EventDataset> test_set, std::shared_ptr<Communicator> comm = nullptr);
  ~Trainer();

  /// Continues a run from its checkpoint: weights, optimiser, schedule, epoch and RNG. The checkpoint's network
  /// spec must equal this config's. In a distributed job every rank resumes from the same checkpoint (rank 0's
  /// weights are then copied to all; ranks at different epochs are an error).
  void resume(const std::string& checkpoint_path);

  /// Runs epochs until train.epochs (or, when stop_after >= 0, until that many epochs have run in this call).
  TrainSummary fit(int64_t stop_after = -1);

  /// Evaluates the current weights on the test set.
  Evaluation evaluate();

  torch::nn::AnyModule& model() { return model_; }
  torch::nn::Module& module() { return *model_.ptr(); }
  const ModelSpec& spec() const { return spec_; }
  /// The next epoch to run (0-based).
  int64_t next_epoch() const { return next_epoch_; }
  /// The job this trainer is a rank of (null: a single process).
  const std::shared_ptr<Communicator>& communicator() const { return comm_; }
  /// True for the process that writes the output folder (rank 0, or the only one).
  bool is_main() const { return !comm_ || comm_->is_main(); }

 private:
  EpochRecord train_epoch(int64_t epoch);
  void save(const std::string& path);
  /// After resume: writes best.pt again when the resumed epoch is the best one and best.pt is not of it.
  void repair_best_checkpoint();
  void start_data_parallel();

  TrainConfig config_;
  SplitData train_, test_;
  ModelSpec spec_;
  torch::nn::AnyModule model_;
  std::unique_ptr<torch::optim::Optimizer> optimizer_;
  std::unique_ptr<LRSchedule> schedule_;
  int64_t next_epoch_ = 0;
  double best_accuracy_ = -1;
  int64_t best_epoch_ = -1;
  std::shared_ptr<Communicator> comm_;
  std::unique_ptr<DataParallel> data_parallel_;
  torch::Device device_ = torch::kCPU;  ///< train.device
  std::unique_ptr<GradScaler> scaler_;  ///< loss scaling for train.amp (disabled: a pass-through)
};

}  // namespace masnn::train
