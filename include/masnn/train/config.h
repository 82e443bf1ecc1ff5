// Run settings read from TOML (configs/*.toml), with `--set key=value` overrides. Every key is checked:
// an unknown key, a wrong type or a bad value is an error naming the file and the key.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "masnn/attention/attention_type.h"
#include "masnn/data/frames.h"
#include "masnn/models/event_driven_synapse.h"
#include "masnn/neuron/lif.h"
#include "masnn/train/schedule.h"

namespace masnn::train {

/// The LIF preset a network starts from (model.lif.neuron): LIFOptions::reference_dvs() or reference_resnet().
enum class NeuronPreset { ReferenceDvs, ReferenceResnet };
/// train.optimizer
enum class OptimizerKind { Adam, Sgd };
/// train.loss: mse between firing rates and the one-hot label (the reference), or cross-entropy.
enum class LossKind { Mse, CrossEntropy };
/// dist.backend: auto is NCCL for a CUDA model when the build has it, else Gloo.
enum class DistBackend { Auto, Gloo, Nccl };
/// The names the config takes and writes: reference-dvs, reference-resnet; adam, sgd; mse, ce; auto, gloo, nccl.
std::string to_string(NeuronPreset preset);
std::string to_string(OptimizerKind optimizer);
std::string to_string(LossKind loss);
std::string to_string(DistBackend backend);

/// [model]
struct ModelConfig {
  std::string name = "dvs-gesture";     ///< registry name: dvs-gesture, dvs-gait, dvs-small
  AttentionType attention;  ///< none, TA, CA, SA, TCA, TSA, CSA, TCSA
  AttentionPlacement placement = AttentionPlacement::ConvPost;  ///< conv-post (reference code), activate-pre (paper)
  int64_t t_ratio = 5;
  int64_t c_ratio = 8;
  int64_t kernel_size = 3;  ///< spatial attention conv
  bool per_step = false;    ///< CA/SA per time step at conv-post
  /// [model.lif]: a preset (reference-dvs or reference-resnet), then any field overridden.
  NeuronPreset neuron = NeuronPreset::ReferenceDvs;
  std::optional<double> threshold, v_reset, decay, bias, surrogate_width;
  std::optional<ResetMode> reset;
  std::optional<SurrogateKind> surrogate;
  std::optional<LIFBackend> backend;
  std::optional<bool> fire_at_equal, detach_reset, learnable_decay;
};

/// [data]
struct DataConfig {
  std::string dataset = "synthetic-gesture";  ///< dvs128-gesture, dvs128-gait, cifar10-dvs, n-mnist, n-caltech101,
                                              ///< n-cars, synthetic-gesture, sim-fashion-mnist, imagefolder (alias
                                              ///< imagenet), fashion-mnist
  std::string root;                           ///< dataset folder (for synthetic-gesture: where it is generated)
  int64_t steps = 60;                         ///< T
  double dt_ms = 25;                          ///< frame window (time-window slicing)
  int64_t ds = 4;                             ///< spatial down-sampling
  data::FrameSlicing slicing = data::FrameSlicing::TimeWindow;  ///< time-window, event-count, time-bins
  bool binary = false;
  data::FrameNormalization normalization = data::FrameNormalization::None;  ///< none, max-per-frame, max-per-sample
  int64_t clips = 10;                       ///< test clips per sample (voting)
  int64_t max_shift = 0;                    ///< random shift augmentation (sensor pixels)
  double flip = 0;                          ///< probability of a horizontal flip
  // Event filters (every sample and stream) and event augmentations (training), masnn/data/event_filters.h.
  double denoise_us = 0;                    ///< background-activity filter window (0 = off)
  double refractory_us = 0;                 ///< refractory period per pixel (0 = off)
  double hot_pixel_factor = 0;              ///< hot-pixel removal threshold, x the mean active-pixel count (0 = off)
  double drop_fraction = 0;                 ///< random event drop probability
  double drop_time_us = 0;                  ///< length of a randomly dropped interval (0 = off)
  int64_t drop_area = 0;                    ///< side of a randomly dropped square (0 = off)
  double time_jitter_us = 0;                ///< Gaussian time jitter (0 = off)
  double spatial_jitter = 0;                ///< Gaussian spatial jitter, pixels (0 = off)
  int64_t workers = 2;                      ///< loader threads
  bool cache = true;                        ///< convert events to a binary cache once
  int64_t synth_users = 6;                  ///< synthetic-gesture: users to generate
  int64_t limit_train = 0, limit_test = 0;  ///< use only the first N samples (0 = all; images: N spread evenly)
  // Static images (imagefolder, alias imagenet; fashion-mnist). data.flip is the flip probability, data.max_shift
  // the padding of fashion-mnist's random crop; data.steps is T (the Res-SNNs repeat an image T times).
  int64_t image_size = 0;     ///< network input side (0 = the dataset's: 224, or 28 for fashion-mnist)
  int64_t resize_size = 0;    ///< evaluation resize of the shorter side before the centre crop (0 = image_size * 8/7)
  double min_scale = 0.08;    ///< RandomResizedCrop: smallest area fraction of a training crop
  bool auto_augment = false;  ///< AutoAugment (ImageNet policy) on training images
};

/// [train]
struct TrainSettings {
  int64_t epochs = 300;
  int64_t batch_size = 128;
  OptimizerKind optimizer = OptimizerKind::Adam;
  double lr = 1e-4;
  double beta1 = 0.9, beta2 = 0.999;
  double momentum = 0.9;
  double weight_decay = 0;
  ScheduleKind scheduler = ScheduleKind::Plateau;  ///< plateau (on the train loss), cosine, step, none
  double plateau_factor = 0.1;
  int64_t plateau_patience = 5;
  int64_t step_size = 30;
  double step_gamma = 0.1;
  int64_t warmup_epochs = 0;   ///< linear warm-up epochs before cosine, step or none (not plateau)
  LossKind loss = LossKind::Mse;
  double label_smoothing = 0;  ///< for ce
  double grad_clip = 0;        ///< max global gradient norm (0 = off)
  uint64_t seed = 0;
  std::string out_dir = "runs/default";
  bool quiet = false;
  int64_t eval_every = 1;  ///< evaluate every N epochs (and at the last)
  /// Where the network trains: "cpu", "cuda" or "cuda:N" (a CUDA build of LibTorch with a visible GPU).
  std::string device = "cpu";
  /// Mixed precision on CUDA: float16 autocast of the forward pass and dynamic loss scaling (GradScaler).
  bool amp = false;
  /// How the spike-input convolutions and linear layers train (masnn/models/event_driven_synapse.h): dense (oneDNN),
  /// sparse (event-driven forward, weight and input gradients) or auto (chosen per layer and step against fixed
  /// crossovers).
  SynapseMode synapses = SynapseMode::Dense;
};

/// [dist]: data-parallel training when the process runs as one rank of a job (masnn/train/distributed.h).
struct DistConfig {
  DistBackend backend = DistBackend::Auto;
  double timeout_s = 300;               ///< rendezvous and collective timeout (env MASNN_DIST_TIMEOUT overrides)
  double bucket_mb = 25;                ///< gradient all-reduce bucket size, MiB
  bool sync_bn = false;                 ///< BatchNorm statistics over the whole job's batch
  bool find_unused_parameters = false;  ///< some parameters get no gradient in some steps
  bool broadcast_buffers = true;        ///< buffers (BN running statistics) from rank 0 before each training step
};

struct TrainConfig {
  ModelConfig model;
  DataConfig data;
  TrainSettings train;
  DistConfig dist;
};

/// Parses TOML text (`name` is used in messages; a key `extends = "base.toml"` loads that file, relative to
/// `name`'s folder, underneath), then applies overrides "section.key=value" where value is
/// a TOML value (strings may be bare). Throws std::invalid_argument naming the source and the key.
TrainConfig parse_config(const std::string& toml_text, const std::string& name,
                         const std::vector<std::string>& overrides = {});
/// The config stored in a checkpoint (`config_toml`, from the file `checkpoint`) with overrides of the data, train
/// and dist keys; an override of a model key is an error naming it (the network is the checkpoint's).
TrainConfig parse_checkpoint_config(const std::string& config_toml, const std::string& checkpoint,
                                    const std::vector<std::string>& overrides = {});
/// Reads and parses a TOML file.
TrainConfig load_config(const std::string& path, const std::vector<std::string>& overrides = {});
/// The complete settings as TOML (every key, resolved), as stored in checkpoints.
std::string to_toml(const TrainConfig& config);

/// One key of the schema that parse_config, its validation, to_toml and the key reference (docs/config.md) share.
struct ConfigKey {
  std::string name;           ///< "train.lr"
  std::string type;           ///< bool, integer, number or string
  std::string default_value;  ///< as TOML writes it; "(preset's)" for the LIF fields a preset sets
  std::string allowed;        ///< "> 0", "in [0, 1)", "one of adam, sgd"; empty = any value of the type
  std::string help;
};
/// Every key, in the order of config.toml.
const std::vector<ConfigKey>& config_keys();
/// The key reference as a Markdown table (docs/config.md holds it; a test keeps the two equal).
std::string config_reference_markdown();
/// An override "key=value" for parse_config with `value` as a TOML string, whatever it holds (quotes, backslashes).
std::string config_assignment(const std::string& key, const std::string& value);

}  // namespace masnn::train
