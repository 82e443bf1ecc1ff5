// Classification metrics with clip voting (REFERENCE.md 4.1): each test sample is seen as several clips
// (one for static images). Top-1 and top-5 accuracy of the mean output, loss, confusion matrix.
#pragma once

#include <torch/types.h>

#include <cstdint>
#include <vector>

namespace masnn::train {

struct Evaluation {
  int64_t samples = 0;
  int64_t clips = 0;
  double loss = 0;           ///< mean loss per clip
  double clip_accuracy = 0;  ///< fraction of clips classified correctly
  double accuracy = 0;       ///< the reference's rule: a sample is correct when more than half its clips are
  double vote_accuracy = 0;  ///< the class with the highest mean output over the clips is right
  /// The true class is among the 5 highest mean outputs over the clips (top-5 accuracy; all classes count when
  /// there are 5 or fewer). With one clip per sample (images), vote_accuracy is the top-1 accuracy.
  double top5_accuracy = 0;
  torch::Tensor confusion;                 ///< [classes, classes] int64, row = true class, column = voted class
  std::vector<double> per_class_accuracy;  ///< voted accuracy per true class (NaN for absent classes)
};

/// Accumulates batches of clip outputs into an Evaluation.
class EvaluationAccumulator {
 public:
  explicit EvaluationAccumulator(int64_t num_classes);
  /// outputs [S*clips, classes] (clip j of sample s at row s*clips + j), labels [S*clips], loss_sum over the rows.
  void add(const torch::Tensor& outputs, const torch::Tensor& labels, int64_t clips, double loss_sum);
  Evaluation result() const;

 private:
  int64_t classes_;
  int64_t samples_ = 0, clips_ = 0, correct_clips_ = 0, majority_correct_ = 0, vote_correct_ = 0, top5_correct_ = 0;
  double loss_sum_ = 0;
  torch::Tensor confusion_;
};

}  // namespace masnn::train
