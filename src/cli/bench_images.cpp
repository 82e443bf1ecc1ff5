// `masnn bench images`: images/s of the image loader (decode + RandomResizedCrop + flip + AutoAugment + normalise)
// per worker thread, on JPEGs it generates.
#include <fmt/format.h>
#include <torch/torch.h>

#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>
#include <thread>

#include "bench/images_bench.h"
#include "command.h"
#include "json_output.h"

namespace masnn::cli {
namespace {

void run_bench_images(const bench::ImagesBenchConfig& c, const std::string& json_path) {
  const JsonOutput json_out(json_path, "bench images");  // checked before the measuring
  const bench::ImagesBenchResult r = bench::run_images_bench(c);
  std::cout << fmt::format(
      "bench images: {} JPEGs {}x{} (quality {}, mean {:.0f} KiB), training transform RandomResizedCrop({}) + flip{} "
      "+ normalise, batch {}, best of {} epochs; {} hardware threads\n",
      c.images, c.width, c.height, c.quality, r.stages.mean_file_kib, c.image_size,
      c.auto_augment ? " + AutoAugment(ImageNet)" : "", c.batch, c.epochs, std::thread::hardware_concurrency());
  std::cout << fmt::format(
      "one thread, per image (median): decode {:.2f} ms, crop+flip {:.2f} ms, AutoAugment {:.2f} ms, normalise "
      "{:.2f} ms; evaluation resize+centre crop {:.2f} ms\n",
      r.stages.decode_ms, r.stages.crop_flip_ms, r.stages.auto_augment_ms, r.stages.normalize_ms, r.stages.eval_ms);
  std::cout << fmt::format("{:>8} {:>10} {:>12} {:>10}\n", "workers", "images/s", "per worker", "epoch s");
  for (const auto& l : r.loaders)
    std::cout << fmt::format("{:>8} {:>10.1f} {:>12.1f} {:>10.2f}\n", l.workers, l.images_per_s,
                             l.images_per_s_per_worker, l.epoch_s);
  if (r.loaders.size() > 1)
    std::cout << fmt::format("{} workers / {} worker: {:.2f}x the images/s\n", r.loaders.back().workers,
                             r.loaders.front().workers, r.loaders.back().images_per_s / r.loaders.front().images_per_s);
  if (!json_path.empty()) {
    nlohmann::json j;
    j["config"] = {{"images", c.images},
                   {"width", c.width},
                   {"height", c.height},
                   {"quality", c.quality},
                   {"image_size", c.image_size},
                   {"batch", c.batch},
                   {"epochs", c.epochs},
                   {"auto_augment", c.auto_augment},
                   {"seed", c.seed}};
    j["stages_ms"] = {{"decode", r.stages.decode_ms},
                      {"crop_flip", r.stages.crop_flip_ms},
                      {"auto_augment", r.stages.auto_augment_ms},
                      {"normalize", r.stages.normalize_ms},
                      {"eval_transform", r.stages.eval_ms}};
    j["mean_file_kib"] = r.stages.mean_file_kib;
    for (const auto& l : r.loaders)
      j["loader"].push_back({{"workers", l.workers},
                             {"images_per_s", l.images_per_s},
                             {"images_per_s_per_worker", l.images_per_s_per_worker},
                             {"epoch_s", l.epoch_s}});
    json_out.write(j);
  }
}

RegisterBench reg([](CLI::App& bench) {
  auto* cmd = bench.add_subcommand(
      "images", "image loader: images/s of decode + RandomResizedCrop + flip + AutoAugment + normalise per worker");
  auto c = std::make_shared<bench::ImagesBenchConfig>();
  auto json_path = std::make_shared<std::string>();
  cmd->add_option("--images", c->images, "JPEGs to generate (one epoch reads each once)")->capture_default_str();
  cmd->add_option("--width", c->width, "their width")->capture_default_str();
  cmd->add_option("--height", c->height, "their height")->capture_default_str();
  cmd->add_option("--quality", c->quality, "JPEG quality")->capture_default_str();
  cmd->add_option("--size", c->image_size, "crop side")->capture_default_str();
  cmd->add_option("--batch,-B", c->batch, "loader batch size")->capture_default_str();
  cmd->add_option("--workers", c->workers, "worker threads to measure (repeatable, e.g. --workers 1 --workers 2)")
      ->capture_default_str();
  cmd->add_option("--epochs", c->epochs, "timed epochs per worker count (best reported)")->capture_default_str();
  cmd->add_flag("!--no-auto-augment", c->auto_augment, "leave AutoAugment out of the transform");
  cmd->add_option("--dir", c->dir, "write the JPEGs here and keep them (default: a temporary folder)");
  cmd->add_option("--seed", c->seed, "seed of the images and the augmentation")->capture_default_str();
  cmd->add_option("--json", *json_path, "also write the figures to this JSON file");
  cmd->callback([c, json_path] { run_bench_images(*c, *json_path); });
});

}  // namespace
}  // namespace masnn::cli
