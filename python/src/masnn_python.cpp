// The Python module `masnn._masnn` (wrapped by python/masnn/__init__.py): event files, the fused spiking
// kernels as autograd functions on PyTorch tensors, MA attention as a module, and trained checkpoints.
// Tensors cross as torch.Tensor without a copy (torch/extension.h's casters): the C++ autograd nodes these
// functions create are part of the caller's PyTorch graph.
#include <torch/extension.h>

#include <pybind11/numpy.h>
#include <pybind11/stl.h>

#include <cstring>
#include <map>
#include <optional>
#include <string>

#include "masnn/analysis/spike_monitor.h"
#include "masnn/attention/multi_attention.h"
#include "masnn/data/event_file.h"
#include "masnn/data/event_format.h"
#include "masnn/data/frames.h"
#include "masnn/models/pytorch_state_dict.h"
#include "masnn/models/reference_names.h"
#include "masnn/models/registry.h"
#include "masnn/neuron/lif.h"
#include "masnn/train/checkpoint.h"
#include "masnn/util/monitor.h"

namespace py = pybind11;

namespace masnn::python {
namespace {

// ---- event files ----------------------------------------------------------------------------------------------

template <typename Out, typename In>
py::array_t<Out> column(const In* values, size_t n) {
  py::array_t<Out> a(static_cast<py::ssize_t>(n));
  Out* out = a.mutable_data();
  if constexpr (std::is_same_v<In, Out>) {
    if (n) std::memcpy(out, values, n * sizeof(Out));
  } else {
    for (size_t i = 0; i < n; ++i) out[i] = static_cast<Out>(values[i]);
  }
  return a;
}

// The four columns (t, x, y, p) of a file's events and what the reader found; __init__.py makes the structured array.
py::tuple read_event_columns(const std::string& path, const std::string& format) {
  data::EventReadStats stats;
  data::Events e;
  data::EventFormat f{};
  {
    py::gil_scoped_release no_gil;
    f = format.empty() ? data::detect_format(path) : data::parse_format_key(format);
    e = data::read_events(path, f, {}, &stats);
  }
  py::dict info;
  info["format"] = data::format_key(f);
  info["format_name"] = data::format_name(f);
  info["sensor_width"] = stats.sensor_width;
  info["sensor_height"] = stats.sensor_height;
  info["events"] = stats.events;
  info["backwards"] = stats.backwards;
  info["invalid_dropped"] = stats.invalid_dropped;
  info["triggers"] = stats.triggers;
  info["timestamp_wraps"] = stats.timestamp_wraps;
  info["source"] = stats.source;
  const size_t n = e.size();
  return py::make_tuple(column<int64_t>(e.t.data(), n), column<int16_t>(e.x.data(), n),
                        column<int16_t>(e.y.data(), n), column<uint8_t>(e.p.data(), n), info);
}

torch::Tensor frames_of_columns(py::array_t<int64_t, py::array::c_style | py::array::forcecast> t,
                                py::array_t<int64_t, py::array::c_style | py::array::forcecast> x,
                                py::array_t<int64_t, py::array::c_style | py::array::forcecast> y,
                                py::array_t<int64_t, py::array::c_style | py::array::forcecast> p, int64_t steps,
                                int64_t width, int64_t height, const std::string& slicing, int64_t dt_us, int64_t ds,
                                bool binary, int64_t start_us) {
  const size_t n = static_cast<size_t>(t.size());
  if (static_cast<size_t>(x.size()) != n || static_cast<size_t>(y.size()) != n || static_cast<size_t>(p.size()) != n)
    throw std::invalid_argument("events: the fields t, x, y and p must have the same length");
  data::Events e;
  e.reserve(n);
  const int64_t *tt = t.data(), *xx = x.data(), *yy = y.data(), *pp = p.data();
  for (size_t i = 0; i < n; ++i) {
    if (xx[i] < 0 || yy[i] < 0 || xx[i] >= width || yy[i] >= height)
      throw std::invalid_argument("events: event " + std::to_string(i) + " at (" + std::to_string(xx[i]) + ", " +
                                  std::to_string(yy[i]) + ") lies outside the " + std::to_string(width) + "x" +
                                  std::to_string(height) + " sensor");
    if (i > 0 && tt[i] < tt[i - 1])
      throw std::invalid_argument("events: timestamps must not decrease (event " + std::to_string(i) + ")");
    e.push_back(tt[i], static_cast<uint16_t>(xx[i]), static_cast<uint16_t>(yy[i]), pp[i] ? 1 : 0);
  }
  data::FrameOptions o;
  o.steps(steps).width(width).height(height).slicing(data::parse_frame_slicing(slicing)).dt_us(dt_us).ds(ds).binary(binary);
  o.validate();
  const int64_t start = start_us >= 0 ? start_us : (n ? tt[0] : 0);
  py::gil_scoped_release no_gil;
  return data::events_to_frames(e, o, start);
}

// ---- the fused neuron ----------------------------------------------------------------------------------------

// The neuron's settings as Python passes them (masnn/__init__.py: one dict, the DVS neuron's defaults).
LIFOptions lif_options(const py::dict& d) {
  LIFOptions o;
  o.threshold(d["threshold"].cast<double>()).v_reset(d["v_reset"].cast<double>()).decay(d["decay"].cast<double>())
      .fire_at_equal(d["fire_at_equal"].cast<bool>()).surrogate(parse_surrogate(d["surrogate"].cast<std::string>()))
      .surrogate_width(d["surrogate_width"].cast<double>()).reset(parse_reset_mode(d["reset"].cast<std::string>()))
      .detach_reset(d["detach_reset"].cast<bool>()).backend(LIFBackend::Fused);
  o.validate();
  return o;
}

void check_time_major(const torch::Tensor& x, const char* what) {
  if (x.dim() < 2) throw std::invalid_argument(std::string(what) + ": expected a time-major tensor [T,B,...]");
  if (!x.is_floating_point()) throw std::invalid_argument(std::string(what) + ": expected a float tensor");
}

// ---- MA attention as a module ------------------------------------------------------------------------------

// The C++ module behind masnn.MultiDimAttention: Python registers its parameters (the same tensors) as its own.
struct Attention {
  MultiDimAttention module{nullptr};
};

// ---- trained networks ----------------------------------------------------------------------------------------

struct Network {
  torch::nn::AnyModule model;
  train::CheckpointInfo info;
  std::string path;
};

Network load_network(const std::string& path) {
  Network n;
  n.path = path;
  {
    py::gil_scoped_release no_gil;
    n.model = train::load_model(path, &n.info);
  }
  n.model.ptr()->eval();
  return n;
}

torch::Tensor network_forward(Network& n, const torch::Tensor& x) {
  torch::NoGradGuard no_grad;
  py::gil_scoped_release no_gil;
  return n.model.forward(x);
}

// Outputs and the spikes of every neuron layer (by module name) for one input.
py::tuple network_run(Network& n, const torch::Tensor& x) {
  analysis::SpikeMonitor monitor;
  torch::Tensor out;
  {
    torch::NoGradGuard no_grad;
    py::gil_scoped_release no_gil;
    MonitorScope scope(monitor, *n.model.ptr());
    out = n.model.forward(x);
  }
  py::dict layers;
  for (const auto& l : monitor.layers()) {
    py::dict d;
    d["spikes"] = l.spikes;
    d["spikes_per_sample"] = l.spikes_per_sample();
    d["firing_rate"] = l.firing_rate();
    d["neurons"] = l.neurons;
    d["steps"] = l.steps;
    d["spikes_per_step"] = l.spikes_per_step;
    layers[py::str(l.name)] = d;
  }
  return py::make_tuple(out, layers);
}

py::dict state_of(const std::map<std::string, torch::Tensor>& state) {
  py::dict d;
  for (const auto& [k, v] : state) d[py::str(k)] = v;
  return d;
}

}  // namespace
}  // namespace masnn::python

PYBIND11_MODULE(_masnn, m) {
  using namespace masnn;
  using namespace masnn::python;
  m.doc() = "masnn's C++ library: event files, fused spiking kernels, MA attention, checkpoints";
  m.attr("__version__") = MASNN_VERSION;

  m.def("_read_event_columns", &read_event_columns, py::arg("path"), py::arg("format") = "");
  m.def("_frames_of_columns", &frames_of_columns, py::arg("t"), py::arg("x"), py::arg("y"), py::arg("p"),
        py::arg("steps"), py::arg("width"), py::arg("height"), py::arg("slicing"), py::arg("dt_us"), py::arg("ds"),
        py::arg("binary"), py::arg("start_us"));
  m.def("event_formats", [] {
    std::vector<std::string> keys;
    for (auto f : data::all_event_formats()) keys.push_back(data::format_key(f));
    return keys;
  });

  m.def(
      "lif",
      [](const torch::Tensor& x, const py::dict& neuron, const std::optional<torch::Tensor>& state_or_none) {
        check_time_major(x, "lif: x");
        const torch::Tensor state = state_or_none.value_or(torch::Tensor());
        if (state.defined() && state.sizes() != x.sizes().slice(1))
          throw std::invalid_argument("lif: state must be [B,...] = " + c10::str(x.sizes().slice(1)) + ", got " +
                                      c10::str(state.sizes()));
        const auto r = functional::lif_fused(x, lif_options(neuron), state);
        return py::make_tuple(r.spikes, r.state);
      },
      py::arg("x"), py::arg("neuron"), py::arg("state") = py::none());
  m.def(
      "scaled_lif",
      [](const torch::Tensor& x, const torch::Tensor& a, const std::optional<torch::Tensor>& w_or_none, bool relu,
         const py::dict& neuron) {
        check_time_major(x, "scaled_lif: x");
        const torch::Tensor w = w_or_none.value_or(torch::Tensor());
        const LIFOptions o = lif_options(neuron);
        if (!functional::scaled_lif_supports(x, o))
          throw std::invalid_argument("scaled_lif: x must be a CPU float or double tensor [T,B,C,H,W]");
        if (!a.defined() || a.dim() != 3 || a.size(0) != x.size(0) || a.size(1) != x.size(1) || a.size(2) != x.size(2))
          throw std::invalid_argument("scaled_lif: a must be [T,B,C] for x " + c10::str(x.sizes()));
        if (w.defined() && (w.dim() != 3 || w.size(0) != x.size(1) || w.size(1) != x.size(3) || w.size(2) != x.size(4)))
          throw std::invalid_argument("scaled_lif: w must be [B,H,W] for x " + c10::str(x.sizes()));
        return functional::scaled_lif(x, a, w, relu, o);
      },
      py::arg("x"), py::arg("a"), py::arg("w"), py::arg("relu"), py::arg("neuron"));

  py::class_<Attention>(m, "_Attention")
      .def(py::init([](const std::string& type, int64_t steps, int64_t channels, int64_t t_ratio, int64_t c_ratio,
                       int64_t kernel_size, bool per_step, bool relu) {
             MultiDimAttentionOptions o(AttentionType::parse(type), steps, channels);
             o.t_ratio(t_ratio).c_ratio(c_ratio).kernel_size(kernel_size).per_step(per_step).relu(relu);
             return Attention{MultiDimAttention(o)};
           }),
           py::arg("type"), py::arg("steps"), py::arg("channels"), py::arg("t_ratio"), py::arg("c_ratio"),
           py::arg("kernel_size"), py::arg("per_step"), py::arg("relu"))
      .def("named_parameters",
           [](Attention& a) {
             std::vector<std::pair<std::string, torch::Tensor>> out;
             for (const auto& p : a.module->named_parameters()) out.emplace_back(p.key(), p.value());
             return out;
           })
      .def("forward",
           [](Attention& a, const torch::Tensor& x) {
             if (x.dim() != 5) throw std::invalid_argument("MultiDimAttention: x must be [T,B,C,H,W]");
             return a.module->forward(x);
           })
      .def("__repr__", [](Attention& a) {
        std::ostringstream s;
        a.module->pretty_print(s);
        return s.str();
      });

  py::class_<Network>(m, "_Network")
      .def(py::init(&load_network), py::arg("path"))
      .def("forward", &network_forward)
      .def("run", &network_run)
      .def("spec",
           [](const Network& n) {
             const ModelSpec& s = n.info.spec;
             py::dict d;
             d["name"] = s.name;
             d["attention"] = s.attention.name();
             d["steps"] = s.steps;
             d["in_channels"] = s.in_channels;
             d["input_size"] = s.input_size;
             d["num_classes"] = s.num_classes;
             d["time_major_input"] = !is_res_snn(s.name);
             return d;
           })
      .def("config_toml", [](const Network& n) { return n.info.config_toml; })
      .def("state_dict",
           [](Network& n) {
             std::map<std::string, torch::Tensor> state;
             for (const auto& p : n.model.ptr()->named_parameters()) state[p.key()] = p.value().detach();
             for (const auto& b : n.model.ptr()->named_buffers()) state[b.key()] = b.value();
             return state_of(state);
           })
      .def("reference_state_dict",
           [](Network& n) { return state_of(to_reference_state(*n.model.ptr(), n.path)); })
      .def("export_reference_state_dict", [](Network& n, const std::string& out) {
        write_pytorch_state_dict(to_reference_state(*n.model.ptr(), n.path), out);
      });
}
