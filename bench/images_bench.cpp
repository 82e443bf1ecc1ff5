#include "images_bench.h"

#include <torch/torch.h>

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <memory>
#include <random>
#include <stdexcept>
#include <string>

#include "bench_util.h"
#include "masnn/data/image.h"
#include "masnn/data/image_folder.h"
#include "masnn/data/image_loader.h"
#include "masnn/data/image_transforms.h"
#include "masnn/util/file_io.h"

namespace masnn::bench {
namespace {

namespace fs = std::filesystem;

// A photo-like picture: smooth colour fields (a few random waves per channel) plus fine-grained noise, so that
// a JPEG of it is about as large and as costly to decode as a natural photo of that size.
data::Image synthetic_photo(int height, int width, std::mt19937_64& rng) {
  std::normal_distribution<double> noise(0.0, 1.0);
  std::uniform_real_distribution<double> u(0.0, 1.0);
  data::Image img(height, width, 3);
  for (int c = 0; c < 3; ++c) {
    std::vector<double> row(static_cast<size_t>(width)), col(static_cast<size_t>(height));
    for (int k = 0; k < 3; ++k) {
      const double fx = 0.005 + 0.04 * u(rng), fy = 0.005 + 0.04 * u(rng), px = 6.3 * u(rng), py = 6.3 * u(rng);
      for (int x = 0; x < width; ++x) row[static_cast<size_t>(x)] += 25 * std::sin(fx * x + px);
      for (int y = 0; y < height; ++y) col[static_cast<size_t>(y)] += 25 * std::sin(fy * y + py);
    }
    const double base = 60 + 130 * u(rng);
    for (int y = 0; y < height; ++y)
      for (int x = 0; x < width; ++x) {
        const double v = base + row[static_cast<size_t>(x)] + col[static_cast<size_t>(y)] + 24 * noise(rng);
        img.at(y, x, c) = static_cast<uint8_t>(std::min(255.0, std::max(0.0, v)));
      }
  }
  return img;
}

// A folder removed when the benchmark ends (unless the user named it).
struct Scratch {
  fs::path path;
  bool remove = false;
  ~Scratch() {
    std::error_code ec;
    if (remove) fs::remove_all(path, ec);
  }
};

}  // namespace

ImagesBenchResult run_images_bench(const ImagesBenchConfig& c) {
  auto bad = [](const std::string& what) { throw std::invalid_argument("bench images: " + what); };
  if (c.images < 1) bad("--images must be >= 1");
  if (c.width < 8 || c.height < 8) bad("--width and --height must be >= 8");
  if (c.quality < 1 || c.quality > 100) bad("--quality must be in [1, 100]");
  if (c.image_size < 1) bad("--size must be >= 1");
  if (c.batch < 1) bad("--batch must be >= 1");
  if (c.epochs < 1) bad("--epochs must be >= 1");
  if (c.workers.empty()) bad("--workers needs at least one value");
  for (int w : c.workers)
    if (w < 1) bad("--workers values must be >= 1");

  Scratch scratch;
  if (c.dir.empty()) {
    scratch.path = fs::temp_directory_path() / ("masnn_bench_images_" + std::to_string(::getpid()));
    scratch.remove = true;
  } else {
    scratch.path = c.dir;
  }
  const fs::path class_dir = scratch.path / "train" / "generated";
  fs::create_directories(class_dir);
  std::mt19937_64 rng(c.seed);
  double bytes = 0;
  std::vector<std::string> files;
  for (int i = 0; i < c.images; ++i) {
    const std::string path = (class_dir / ("img" + std::to_string(i) + ".JPEG")).string();
    data::write_image(path, synthetic_photo(c.height, c.width, rng), c.quality);
    bytes += static_cast<double>(fs::file_size(path));
    files.push_back(path);
  }

  ImagesBenchResult result;
  data::ImageTransformOptions t;
  t.image_size(c.image_size)
      .resize_size(static_cast<int64_t>(std::llround(static_cast<double>(c.image_size) * 8.0 / 7.0)))
      .auto_augment(c.auto_augment);
  // Stages, one thread.
  {
    std::vector<double> dec, crop, aa, norm, eval;
    std::vector<float> out(static_cast<size_t>(3 * c.image_size * c.image_size));
    for (size_t i = 0; i < files.size(); ++i) {
      std::mt19937_64 r(data::mix_seed(c.seed, i));
      auto t0 = std::chrono::steady_clock::now();
      const std::vector<uint8_t> raw = read_file_bytes(files[i]);
      const data::Image img = data::decode_image(raw.data(), raw.size());
      dec.push_back(ms_since(t0));
      t0 = std::chrono::steady_clock::now();
      data::Image x = data::train_transform(img, data::ImageTransformOptions(t).auto_augment(false), r);
      crop.push_back(ms_since(t0));
      t0 = std::chrono::steady_clock::now();
      x = data::auto_augment(x, r);
      aa.push_back(ms_since(t0));
      t0 = std::chrono::steady_clock::now();
      data::normalize_into(x, t.mean(), t.std(), out.data());
      norm.push_back(ms_since(t0));
      t0 = std::chrono::steady_clock::now();
      const data::Image e = data::eval_transform(img, t);
      eval.push_back(ms_since(t0));
      if (e.height != c.image_size) throw std::logic_error("bench images: evaluation crop of the wrong size");
    }
    result.stages = {median(dec),  median(crop), median(aa),
                     median(norm), median(eval), bytes / static_cast<double>(c.images) / 1024.0};
  }
  // The loader in training mode, per number of workers.
  const auto dataset = std::make_shared<data::ImageFolder>(scratch.path.string(), data::Split::Train, false);
  for (int w : c.workers) {
    data::ImageLoaderOptions o;
    o.batch_size(c.batch).workers(w).prefetch(std::max(2, 2 * w)).seed(c.seed).train(true).transform(t);
    data::ImageLoader loader(dataset, o);
    ImagesBenchLoaderResult r;
    r.workers = w;
    r.epoch_s = 1e30;
    for (int e = 0; e < c.epochs; ++e) {
      const auto t0 = std::chrono::steady_clock::now();
      loader.start_epoch(static_cast<uint64_t>(e));
      data::Batch b;
      int64_t n = 0;
      while (loader.next(b)) n += b.x.size(0);
      const double s = ms_since(t0) / 1000.0;
      if (n != c.images) throw std::runtime_error("bench images: the loader gave " + std::to_string(n) + " images");
      r.epoch_s = std::min(r.epoch_s, s);
    }
    r.images_per_s = c.images / r.epoch_s;
    r.images_per_s_per_worker = r.images_per_s / w;
    result.loaders.push_back(r);
  }
  return result;
}

}  // namespace masnn::bench
