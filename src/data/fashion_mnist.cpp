// Fashion-MNIST from its IDX files.
#include "masnn/data/fashion_mnist.h"

#include <fmt/format.h>

#include <algorithm>
#include <filesystem>
#include <stdexcept>

#include "data/idx.h"

namespace masnn::data {

std::string FashionMnist::find_file(const std::string& root, const std::string& stem) {
  const std::filesystem::path plain = std::filesystem::path(root) / stem;
  std::error_code ec;
  if (std::filesystem::is_regular_file(plain, ec)) return plain.string();
  const std::string gz = plain.string() + ".gz";
  if (std::filesystem::is_regular_file(gz, ec)) return gz;
  throw std::runtime_error(
      fmt::format("{}: missing ({} neither; Debian's dataset-fashion-mnist package installs the files in {})", gz,
                  plain.string(), kFashionMnistDebianRoot));
}

FashionMnist::FashionMnist(const std::string& root, Split split) : split_(split) {
  const std::string prefix = split == Split::Train ? "train" : "t10k";
  images_path_ = find_file(root, prefix + "-images-idx3-ubyte");
  const std::string labels_path = find_file(root, prefix + "-labels-idx1-ubyte");
  IdxArray images = read_idx(images_path_);
  const IdxArray labels = read_idx(labels_path);
  if (images.dims.size() != 3)
    throw std::runtime_error(fmt::format("{}: expected images of dimensions [N, height, width], got {} dimensions",
                                         images_path_, images.dims.size()));
  if (labels.dims.size() != 1)
    throw std::runtime_error(
        fmt::format("{}: expected labels of dimensions [N], got {} dimensions", labels_path, labels.dims.size()));
  if (images.dims[0] != labels.dims[0])
    throw std::runtime_error(fmt::format("{} holds {} images but {} holds {} labels", images_path_, images.dims[0],
                                         labels_path, labels.dims[0]));
  if (images.dims[0] == 0) throw std::runtime_error(images_path_ + ": holds no images");
  if (images.dims[1] < 1 || images.dims[2] < 1 || images.dims[1] > 65536 || images.dims[2] > 65536)
    throw std::runtime_error(
        fmt::format("{}: implausible image size {}x{}", images_path_, images.dims[1], images.dims[2]));
  height_ = static_cast<int>(images.dims[1]);
  width_ = static_cast<int>(images.dims[2]);
  labels_.reserve(labels.data.size());
  for (size_t i = 0; i < labels.data.size(); ++i) {
    if (labels.data[i] > 9)
      throw std::runtime_error(
          fmt::format("{}: label {} of sample {} is outside 0..9", labels_path, labels.data[i], i));
    labels_.push_back(labels.data[i]);
  }
  pixels_ = std::move(images.data);
}

Image FashionMnist::image(size_t i) const {
  if (i >= labels_.size()) throw std::out_of_range(fmt::format("{}: no sample {}", name(), i));
  Image out(height_, width_, 1);
  const size_t plane = static_cast<size_t>(height_) * width_;
  std::copy_n(pixels_.begin() + static_cast<std::ptrdiff_t>(i * plane), plane, out.pixels.begin());
  return out;
}

std::string FashionMnist::describe(size_t i) const {
  return fmt::format("{} (image {})", images_path_, i);
}

std::vector<std::string> FashionMnist::class_names() const {
  return {"T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"};
}

}  // namespace masnn::data
