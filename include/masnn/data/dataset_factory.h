// Opening an event dataset by name, optionally through its cache: what the trainer and the CLI call.
#pragma once

#include <memory>
#include <string>

#include "masnn/data/event_dataset.h"

namespace masnn::data {

/// The event datasets masnn knows.
enum class DatasetKind {
  Gesture,     ///< DVS128 Gesture (and `masnn synth` output), 11 classes
  Gait,        ///< DVS128 Gait, 21 classes
  Cifar10Dvs,  ///< CIFAR10-DVS, 10 classes
  NMnist,      ///< N-MNIST, 10 classes
  NCaltech101, ///< N-Caltech101, 101 classes
  NCars,       ///< N-CARS, 2 classes
  SimFashionMnist,  ///< Fashion-MNIST as simulated event recordings (event_simulation.h), 10 classes
};

/// Parses "dvs128-gesture" (also "gesture", "synth"), "dvs128-gait" ("gait"), "cifar10-dvs" ("cifar10dvs"),
/// "n-mnist", "n-caltech101", "n-cars" or "sim-fashion-mnist"; throws std::invalid_argument listing the accepted
/// names otherwise.
DatasetKind parse_dataset_kind(const std::string& name);

/// The canonical name ("dvs128-gesture", "dvs128-gait", "cifar10-dvs", "n-mnist", "n-caltech101", "n-cars").
std::string dataset_kind_name(DatasetKind kind);

/// Opens the `split` of the dataset under `root`. With a non-empty `cache_dir`, the samples are served
/// from `<cache_dir>/<kind>-<split>.mev` (built on first use, rebuilt when stale or corrupt; see
/// docs/data.md#cache). sim-fashion-mnist: `root` is Fashion-MNIST's folder ("" = Debian's); its recordings are made
/// when read, never cached (making one takes about 1.1 ms, under a tenth of training on it, and a cache could not
/// see a change in the simulator).
std::shared_ptr<const EventDataset> open_event_dataset(DatasetKind kind, const std::string& root, Split split,
                                                       const std::string& cache_dir = "");

}  // namespace masnn::data
