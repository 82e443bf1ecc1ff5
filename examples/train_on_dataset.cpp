// Trains a network on a dataset as `masnn train` does: a config (a preset of configs/ with key=value overrides),
// the dataset's splits, the trainer. It writes checkpoints (best.pt, last.pt), metrics.csv and TensorBoard files
// into train.out_dir.
//
//   train_on_dataset configs/demo.toml train.epochs=2 train.out_dir=runs/example
#include <cstdio>
#include <iostream>

#include <masnn/train/config.h>
#include <masnn/train/factory.h>
#include <masnn/train/trainer.h>

int main(int argc, char** argv) try {
  if (argc < 2) {
    std::cerr << "usage: train_on_dataset CONFIG.toml [key=value ...]\n";
    return 2;
  }
  // Every key is checked: a misspelt one or a bad value is an error naming it.
  const masnn::train::TrainConfig config = masnn::train::load_config(argv[1], {argv + 2, argv + argc});

  // The splits (the synthetic gestures are generated on first use) and the network that config.model names.
  auto train_set = masnn::train::make_dataset(config, masnn::data::Split::Train);
  auto test_set = masnn::train::make_dataset(config, masnn::data::Split::Test);
  masnn::train::Trainer trainer(config, train_set, test_set);

  const masnn::train::TrainSummary summary = trainer.fit();
  for (const auto& e : summary.epochs)
    std::printf("epoch %lld: train loss %.4f, test accuracy %.2f%%\n", static_cast<long long>(e.epoch + 1),
                e.train_loss, e.test ? 100 * e.test->accuracy : 0.0);
  std::printf("best test accuracy %.2f%% (epoch %lld); checkpoints in %s\n", 100 * summary.best_accuracy,
              static_cast<long long>(summary.best_epoch + 1), config.train.out_dir.c_str());
  return 0;
} catch (const std::exception& e) {
  std::cerr << "train_on_dataset: " << e.what() << "\n";
  return 1;
}
