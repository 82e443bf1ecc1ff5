// Dataset lookup by name (no tensors here).
#include "masnn/data/dataset_factory.h"

#include <filesystem>
#include <stdexcept>

#include "data/dataset_cache.h"
#include "masnn/data/event_simulation.h"
#include "masnn/data/folder_dataset.h"
#include "masnn/data/gesture_dataset.h"

namespace masnn::data {

DatasetKind parse_dataset_kind(const std::string& name) {
  if (name == "dvs128-gesture" || name == "gesture" || name == "synth") return DatasetKind::Gesture;
  if (name == "dvs128-gait" || name == "gait") return DatasetKind::Gait;
  if (name == "cifar10-dvs" || name == "cifar10dvs") return DatasetKind::Cifar10Dvs;
  if (name == "n-mnist" || name == "nmnist") return DatasetKind::NMnist;
  if (name == "n-caltech101" || name == "ncaltech101") return DatasetKind::NCaltech101;
  if (name == "n-cars" || name == "ncars") return DatasetKind::NCars;
  if (name == "sim-fashion-mnist") return DatasetKind::SimFashionMnist;
  throw std::invalid_argument("unknown dataset '" + name +
                              "' (expected dvs128-gesture, dvs128-gait, cifar10-dvs, n-mnist, n-caltech101, n-cars or "
                              "sim-fashion-mnist)");
}

std::string dataset_kind_name(DatasetKind kind) {
  switch (kind) {
    case DatasetKind::Gesture: return "dvs128-gesture";
    case DatasetKind::Gait: return "dvs128-gait";
    case DatasetKind::Cifar10Dvs: return "cifar10-dvs";
    case DatasetKind::NMnist: return "n-mnist";
    case DatasetKind::NCaltech101: return "n-caltech101";
    case DatasetKind::NCars: return "n-cars";
    case DatasetKind::SimFashionMnist: return "sim-fashion-mnist";
  }
  return "unknown";
}

std::shared_ptr<const EventDataset> open_event_dataset(DatasetKind kind, const std::string& root, Split split,
                                                       const std::string& cache_dir) {
  std::shared_ptr<const EventDataset> ds;
  switch (kind) {
    case DatasetKind::Gesture: {
      GestureOptions o;
      o.root = root;
      o.split = split;
      ds = std::make_shared<GestureDataset>(o);
      break;
    }
    case DatasetKind::Gait: ds = std::make_shared<FolderDataset>(make_gait_dataset(root, split)); break;
    case DatasetKind::Cifar10Dvs: ds = std::make_shared<FolderDataset>(make_cifar10dvs_dataset(root, split)); break;
    case DatasetKind::NMnist: ds = std::make_shared<FolderDataset>(make_nmnist_dataset(root, split)); break;
    case DatasetKind::NCaltech101:
      ds = std::make_shared<FolderDataset>(make_ncaltech101_dataset(root, split));
      break;
    case DatasetKind::NCars: ds = std::make_shared<FolderDataset>(make_ncars_dataset(root, split)); break;
    case DatasetKind::SimFashionMnist: return make_sim_fashion_mnist(root, split);
  }
  if (cache_dir.empty()) return ds;
  const std::string path =
      (std::filesystem::path(cache_dir) / (dataset_kind_name(kind) + "-" + split_name(split) + ".mev")).string();
  return std::make_shared<CachedDataset>(ds, path);
}

}  // namespace masnn::data
