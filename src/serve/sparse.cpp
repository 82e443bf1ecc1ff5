// Sparse spike inference: both paths of a synaptic layer, the per-layer crossover, and installing them in a network.
#include "masnn/serve/sparse.h"

#include <torch/torch.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <stdexcept>
#include <unordered_set>

#include "compat/torch_module_base.h"
#include "compat/torch_variant.h"
#include "masnn/util/monitor.h"
#include "models/sparse_kernels.h"

namespace masnn::serve {
namespace {

double median_of(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

// The fastest of `repeats` calls after a warm-up: on a shared machine the least disturbed run is the best
// estimate of what a call costs.
template <typename Fn>
double min_ms(int repeats, const Fn& fn) {
  fn();
  double best = 0;
  for (int r = 0; r < std::max(1, repeats); ++r) {
    const auto t0 = std::chrono::steady_clock::now();
    fn();
    const double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
    best = r == 0 ? ms : std::min(best, ms);
  }
  return best;
}

}  // namespace

double crossover_density(const std::vector<PathTiming>& t) {
  if (t.empty()) return 0;
  std::vector<double> dense;
  for (const auto& p : t) dense.push_back(p.dense_ms);
  const double d = median_of(dense);
  // The sparse path does a fixed part plus work per nonzero input: fit sparse_ms = a + b * density.
  double a = 0, b = 0;
  if (t.size() == 1) {
    b = t[0].sparse_ms / t[0].density;
  } else {
    double mx = 0, my = 0;
    for (const auto& p : t) mx += p.density, my += p.sparse_ms;
    mx /= static_cast<double>(t.size());
    my /= static_cast<double>(t.size());
    double sxy = 0, sxx = 0;
    for (const auto& p : t) sxy += (p.density - mx) * (p.sparse_ms - my), sxx += (p.density - mx) * (p.density - mx);
    b = sxx > 0 ? sxy / sxx : 0;
    a = my - b * mx;
  }
  if (!(b > 0)) return a < d ? 1.0 : 0.0;
  return std::clamp((d - a) / b, 0.0, 1.0);
}

SparseSynapse::SparseSynapse(const torch::nn::Conv2dImpl& conv, int64_t height, int64_t width) : conv_(true) {
  const auto& o = conv.options;
  const auto k = o.kernel_size();
  const auto stride = o.stride();
  const auto dil = o.dilation();
  const auto* pad = compat::get_if<torch::ExpandingArray<2>>(&o.padding());
  if (k->at(0) != k->at(1) || stride->at(0) != 1 || stride->at(1) != 1 || dil->at(0) != 1 || dil->at(1) != 1 ||
      o.groups() != 1 || !pad || (*pad)->at(0) != (*pad)->at(1) ||
      !compat::holds_alternative<torch::enumtype::kZeros>(o.padding_mode()))
    throw std::invalid_argument(
        "sparse synapse: only square convolutions with stride 1, zero padding, no dilation or groups are supported");
  if (height < 1 || width < 1) throw std::invalid_argument("sparse synapse: input height and width must be >= 1");
  in_ = o.in_channels();
  out_ = o.out_channels();
  kernel_ = k->at(0);
  pad_ = (*pad)->at(0);
  height_ = height;
  width_ = width;
  weight_ = conv.weight.detach();
  bias_ = conv.bias.defined() ? conv.bias.detach() : torch::Tensor();
  weight_t_ = weight_.permute({1, 2, 3, 0}).contiguous();  // [Cin,K,K,Cout]
}

SparseSynapse::SparseSynapse(const torch::nn::LinearImpl& linear) : conv_(false) {
  in_ = linear.options.in_features();
  out_ = linear.options.out_features();
  weight_ = linear.weight.detach();
  bias_ = linear.bias.defined() ? linear.bias.detach() : torch::Tensor();
  weight_t_ = weight_.t().contiguous();  // [In,Out]
}

std::vector<int64_t> SparseSynapse::input_shape() const {
  return conv_ ? std::vector<int64_t>{in_, height_, width_} : std::vector<int64_t>{in_};
}

int64_t SparseSynapse::macs_per_sample() const {
  if (!conv_) return in_ * out_;
  return out_ * in_ * kernel_ * kernel_ * (height_ + 2 * pad_ - kernel_ + 1) * (width_ + 2 * pad_ - kernel_ + 1);
}

std::string SparseSynapse::describe() const {
  if (!conv_) return "linear " + std::to_string(in_) + "->" + std::to_string(out_);
  return "conv " + std::to_string(in_) + "->" + std::to_string(out_) + " k" + std::to_string(kernel_) + " at " +
         std::to_string(height_) + "x" + std::to_string(width_);
}

torch::Tensor SparseSynapse::dense(const torch::Tensor& x) const {
  // The same calls as the LibTorch modules' forward, so the dense path is the module.
  return conv_ ? torch::conv2d(x, weight_, bias_, 1, pad_) : torch::linear(x, weight_, bias_);
}

torch::Tensor SparseSynapse::sparse(const torch::Tensor& x_in) const {
  const torch::Tensor x = x_in.contiguous();
  TORCH_CHECK(x.scalar_type() == weight_t_.scalar_type(), "sparse synapse: input dtype ", x.scalar_type(),
              " differs from the weights' ", weight_t_.scalar_type());
  TORCH_CHECK(x.device().is_cpu(), "sparse synapse: the event-driven kernels run on the CPU");
  if (conv_) {
    TORCH_CHECK(x.dim() == 4 && x.size(1) == in_, "sparse synapse: input must be [N,", in_, ",H,W], got ", x.sizes());
    kernels::ConvShape s;
    s.batch = x.size(0);
    s.in_channels = in_;
    s.height = x.size(2);
    s.width = x.size(3);
    s.out_channels = out_;
    s.kernel = kernel_;
    s.pad = pad_;
    torch::Tensor out = torch::empty({s.batch, out_, s.out_height(), s.out_width()}, x.options());
    AT_DISPATCH_FLOATING_TYPES(x.scalar_type(), "sparse_conv2d", [&] {
      kernels::sparse_conv2d<scalar_t>(x.data_ptr<scalar_t>(), weight_t_.data_ptr<scalar_t>(),
                                       bias_.defined() ? bias_.data_ptr<scalar_t>() : nullptr, out.data_ptr<scalar_t>(),
                                       s);
    });
    return out;
  }
  TORCH_CHECK(x.dim() == 2 && x.size(1) == in_, "sparse synapse: input must be [N,", in_, "], got ", x.sizes());
  torch::Tensor out = torch::empty({x.size(0), out_}, x.options());
  AT_DISPATCH_FLOATING_TYPES(x.scalar_type(), "sparse_linear", [&] {
    kernels::sparse_linear<scalar_t>(x.data_ptr<scalar_t>(), weight_t_.data_ptr<scalar_t>(),
                                     bias_.defined() ? bias_.data_ptr<scalar_t>() : nullptr, out.data_ptr<scalar_t>(),
                                     x.size(0), in_, out_);
  });
  return out;
}

double SparseSynapse::crossover(int64_t batch) const {
  if (crossovers_.empty()) return 0;
  auto best = crossovers_.begin();
  for (auto it = crossovers_.begin(); it != crossovers_.end(); ++it)
    if (std::abs(std::log(double(it->first) / double(batch))) < std::abs(std::log(double(best->first) / double(batch))))
      best = it;
  return best->second;
}

torch::Tensor SparseSynapse::forward(const torch::Tensor& x) {
  if (mode == SynapseMode::Dense) return dense(x);
  const torch::Tensor xc = x.contiguous();
  int64_t nz = 0;
  AT_DISPATCH_FLOATING_TYPES(xc.scalar_type(), "count_nonzero",
                             [&] { nz = kernels::count_nonzero<scalar_t>(xc.data_ptr<scalar_t>(), xc.numel()); });
  ++calls;
  nonzeros += static_cast<double>(nz);
  inputs += static_cast<double>(xc.numel());
  const double density = xc.numel() > 0 ? static_cast<double>(nz) / static_cast<double>(xc.numel()) : 0.0;
  if (mode == SynapseMode::Sparse || density < crossover(xc.size(0))) {
    ++sparse_calls;
    return sparse(xc);
  }
  return dense(xc);
}

std::vector<PathTiming> SparseSynapse::calibrate(int64_t batch, const std::vector<double>& densities, int repeats) {
  TORCH_CHECK(batch >= 1, "sparse synapse: calibration batch must be >= 1");
  torch::NoGradGuard no_grad;
  std::vector<int64_t> shape{batch};
  for (int64_t d : input_shape()) shape.push_back(d);
  std::vector<PathTiming> timings;
  std::vector<double> sorted = densities;
  std::sort(sorted.begin(), sorted.end());
  torch::Generator gen = at::detail::createCPUGenerator(12345);
  for (double d : sorted) {
    const torch::Tensor x = (torch::rand(shape, gen, weight_t_.options()) < d).to(weight_t_.scalar_type());
    PathTiming t;
    t.density = d;
    t.dense_ms = min_ms(repeats, [&] { dense(x); });
    t.sparse_ms = min_ms(repeats, [&] { sparse(x); });
    timings.push_back(t);
  }
  crossovers_[batch] = crossover_density(timings);
  return timings;
}

void SparseNetwork::clear_counts() {
  for (auto& l : layers) l->clear_counts();
}

namespace {

// The synaptic layers of one forward, in call order, with their input's per-sample shape.
class SynapseInputs : public Monitor {
 public:
  struct Layer {
    std::string name;
    const torch::nn::Module* layer;
    std::vector<int64_t> sample_shape;  // [Cin,H,W] or [In]
  };
  void on_synapse(const std::string& name, const SynapseEvent& e) override {
    // Real-valued inputs gain nothing; a layer replaced already keeps its replacement.
    if (e.kind == SynapseEvent::Kind::Values || dynamic_cast<const LayerReplacement*>(e.layer) ||
        !seen_.insert(e.layer).second)
      return;
    const auto sizes = e.input.sizes().slice(e.time_major ? 2 : 1);
    layers.push_back({name, e.layer, std::vector<int64_t>(sizes.begin(), sizes.end())});
  }
  std::vector<Layer> layers;

 private:
  std::unordered_set<const torch::nn::Module*> seen_;
};

}  // namespace

SparseConv2dImpl::SparseConv2dImpl(const torch::nn::Conv2dImpl& conv, int64_t height, int64_t width)
    : MASNN_COPY_MODULE_BASE(conv) torch::nn::Conv2dImpl(conv),
      synapse(std::make_shared<SparseSynapse>(conv, height, width)) {}

SparseLinearImpl::SparseLinearImpl(const torch::nn::LinearImpl& linear)
    : MASNN_COPY_MODULE_BASE(linear) torch::nn::LinearImpl(linear), synapse(std::make_shared<SparseSynapse>(linear)) {}

void SparseConv2dImpl::pretty_print(std::ostream& stream) const {
  stream << "masnn::serve::SparseConv2d(" << synapse->describe() << ", mode=" << to_string(synapse->mode) << ")";
}

void SparseLinearImpl::pretty_print(std::ostream& stream) const {
  stream << "masnn::serve::SparseLinear(" << synapse->describe() << ", mode=" << to_string(synapse->mode) << ")";
}

SparseNetwork enable_sparse(torch::nn::AnyModule& model, const torch::Tensor& example, const SparseOptions& options) {
  torch::nn::Module& root = *model.ptr();
  SynapseInputs inputs;
  observe_forward(model, example, inputs);
  SparseNetwork result;
  for (const auto& l : inputs.layers) {
    std::shared_ptr<torch::nn::Module> replacement;
    std::shared_ptr<SparseSynapse> synapse;
    try {
      if (const auto* conv = dynamic_cast<const torch::nn::Conv2dImpl*>(l.layer)) {
        if (l.sample_shape.size() != 3) continue;
        auto r = std::make_shared<SparseConv2dImpl>(*conv, l.sample_shape[1], l.sample_shape[2]);
        synapse = r->synapse;
        replacement = r;
      } else if (const auto* linear = dynamic_cast<const torch::nn::LinearImpl*>(l.layer)) {
        auto r = std::make_shared<SparseLinearImpl>(*linear);
        synapse = r->synapse;
        replacement = r;
      } else {
        continue;
      }
    } catch (const std::invalid_argument&) {
      continue;  // a conv the kernels do not cover (a strided one): it stays dense
    }
    replace_layer(root, l.name, replacement);
    result.names.push_back(l.name);
    result.layers.push_back(synapse);
  }
  for (auto& s : result.layers) {
    s->mode = options.mode;
    if (options.mode == SynapseMode::Auto)
      for (int64_t b : options.calibrate_batches) s->calibrate(b, options.densities, options.repeats);
  }
  return result;
}

void disable_sparse(torch::nn::Module& model) {
  std::vector<std::pair<std::string, std::shared_ptr<torch::nn::Module>>> dense;
  for (const auto& item : model.named_modules()) {
    if (const auto* conv = dynamic_cast<const SparseConv2dImpl*>(item.value().get()))
      dense.emplace_back(item.key(), std::make_shared<torch::nn::Conv2dImpl>(*conv));
    else if (const auto* linear = dynamic_cast<const SparseLinearImpl*>(item.value().get()))
      dense.emplace_back(item.key(), std::make_shared<torch::nn::LinearImpl>(*linear));
  }
  for (const auto& [path, layer] : dense) replace_layer(model, path, layer);
}

}  // namespace masnn::serve
