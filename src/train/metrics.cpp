#include "masnn/train/metrics.h"

#include <torch/torch.h>

#include <algorithm>
#include <limits>

namespace masnn::train {

EvaluationAccumulator::EvaluationAccumulator(int64_t num_classes)
    : classes_(num_classes), confusion_(torch::zeros({num_classes, num_classes}, torch::kLong)) {}

void EvaluationAccumulator::add(const torch::Tensor& outputs, const torch::Tensor& labels, int64_t clips,
                                double loss_sum) {
  TORCH_CHECK(outputs.dim() == 2 && outputs.size(1) == classes_ && outputs.size(0) % clips == 0,
              "evaluation: outputs must be [samples*clips, ", classes_, "], got ", outputs.sizes());
  const auto out = outputs.detach().to(torch::kCPU).to(torch::kFloat);
  const auto lab = labels.to(torch::kCPU).to(torch::kLong);
  const int64_t samples = out.size(0) / clips;
  const auto correct = out.argmax(1).eq(lab).view({samples, clips}).to(torch::kLong).sum(1);  // [S]
  const auto mean = out.view({samples, clips, classes_}).mean(1);                             // [S, classes]
  const auto voted = mean.argmax(1);                                                          // [S]
  const auto truth = lab.view({samples, clips}).select(1, 0);
  samples_ += samples;
  clips_ += out.size(0);
  correct_clips_ += correct.sum().item<int64_t>();
  majority_correct_ += (correct * 2 > clips).sum().item<int64_t>();
  vote_correct_ += voted.eq(truth).sum().item<int64_t>();
  const auto top5 = std::get<1>(mean.topk(std::min<int64_t>(5, classes_), 1));  // [S, k]
  top5_correct_ += top5.eq(truth.unsqueeze(1)).any(1).sum().item<int64_t>();
  loss_sum_ += loss_sum;
  confusion_.index_put_({truth, voted}, torch::ones({samples}, torch::kLong), /*accumulate=*/true);
}

Evaluation EvaluationAccumulator::result() const {
  Evaluation e;
  e.samples = samples_;
  e.clips = clips_;
  const double nan = std::numeric_limits<double>::quiet_NaN();
  e.loss = clips_ ? loss_sum_ / clips_ : nan;
  e.clip_accuracy = clips_ ? static_cast<double>(correct_clips_) / clips_ : nan;
  e.accuracy = samples_ ? static_cast<double>(majority_correct_) / samples_ : nan;
  e.vote_accuracy = samples_ ? static_cast<double>(vote_correct_) / samples_ : nan;
  e.top5_accuracy = samples_ ? static_cast<double>(top5_correct_) / samples_ : nan;
  e.confusion = confusion_.clone();
  for (int64_t c = 0; c < classes_; ++c) {
    const int64_t total = confusion_[c].sum().item<int64_t>();
    e.per_class_accuracy.push_back(total ? static_cast<double>(confusion_[c][c].item<int64_t>()) / total : nan);
  }
  return e;
}

}  // namespace masnn::train
