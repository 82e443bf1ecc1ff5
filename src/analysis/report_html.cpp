// The HTML page of `masnn analyze` (report_html in masnn/analysis/analyze.h): one self-contained file, its charts
// inline SVG and its heat maps PNG data URIs (OpenCV encodes them; a build without OpenCV names each missing
// picture in its place), readable without JavaScript. The one inline script only checks the page: it marks every
// <figure class="fig"> with data-rendered="1" when its pictures have a size (and its images decoded, or are named
// as missing), <body data-figures-rendered="n/total">, and records errors in data-errors.
#include <fmt/format.h>
#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "masnn/analysis/analyze.h"
#include "analysis/svg_charts.h"
#include "masnn/data/image.h"
#include "report_text.h"

namespace masnn::analysis {
namespace {

using namespace svg;

using detail::change_string;
using detail::energy_string;
using detail::html_escape;

const char* const kBaseColor = "#9aa5b1";   // the base of a comparison
const char* const kModelColor = "#3b7dd8";  // the model
const char* const kMacColor = "#e8743b";    // MAC energy
const char* const kAcColor = "#3b7dd8";     // AC energy

// Vertical bars (one per channel, weights in [0,1]) with an optional overlay of dots (a sample's weights).
std::string channel_chart(const std::string& label, const std::vector<double>& mean, const std::vector<double>& dots,
                          const std::string& dots_name) {
  const double left = 52, top = 12, plot_h = 160, n = static_cast<double>(mean.size());
  const double bar_w = std::clamp(560.0 / std::max(n, 1.0), 2.0, 18.0), plot_w = bar_w * n;
  Svg svg(left + std::max(plot_w, 320.0) + 20, top + plot_h + 56, label);
  auto Y = [&](double v) { return top + plot_h * (1 - std::clamp(v, 0.0, 1.0)); };
  for (int k = 0; k <= 4; ++k) {
    svg.line(left, Y(k / 4.0), left + plot_w, Y(k / 4.0), "#e3e3e3");
    svg.text(left - 6, Y(k / 4.0) + 4, fmt::format("{:.2f}", k / 4.0), "end", 11, "#555");
  }
  for (size_t c = 0; c < mean.size(); ++c) {
    const double x = left + bar_w * static_cast<double>(c);
    svg.rect(x + 0.5, Y(mean[c]), std::max(bar_w - 1, 1.0), top + plot_h - Y(mean[c]), kModelColor,
             fmt::format("channel {}: mean {:.4f}", c, mean[c]));
    if (c < dots.size())
      svg.circle(x + bar_w / 2, Y(dots[c]), std::min(3.0, bar_w / 2 + 0.5), "#e8743b",
                 fmt::format("channel {}: {} {:.4f}", c, dots_name, dots[c]));
  }
  const size_t tick = std::max<size_t>(1, static_cast<size_t>(std::ceil(n / 16)));
  for (size_t c = 0; c < mean.size(); c += tick)
    svg.text(left + bar_w * (static_cast<double>(c) + 0.5), top + plot_h + 14, std::to_string(c), "middle", 10, "#555");
  svg.line(left, top + plot_h, left + plot_w, top + plot_h, "#888");
  svg.text(left, top + plot_h + 30, "channel", "start", 12);
  std::vector<LegendItem> items{{kModelColor, "mean over the samples", ""}};
  if (!dots.empty()) items.push_back({"#e8743b", dots_name, ""});
  legend(&svg, left + 70, top + plot_h + 30, 400, items);
  return svg.str();
}

// ---------------------------------------------------------------------------------------------------------------
// Images (PNG data URIs)

std::string base64(const std::vector<uint8_t>& bytes) {
  static const char* const table = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  out.reserve((bytes.size() + 2) / 3 * 4);
  for (size_t i = 0; i < bytes.size(); i += 3) {
    const uint32_t b0 = bytes[i], b1 = i + 1 < bytes.size() ? bytes[i + 1] : 0,
                   b2 = i + 2 < bytes.size() ? bytes[i + 2] : 0;
    const uint32_t v = (b0 << 16) | (b1 << 8) | b2;
    out += table[(v >> 18) & 63];
    out += table[(v >> 12) & 63];
    out += i + 1 < bytes.size() ? table[(v >> 6) & 63] : '=';
    out += i + 2 < bytes.size() ? table[v & 63] : '=';
  }
  return out;
}

// An RGB image enlarged by `scale` (nearest neighbour, so cells stay sharp in any viewer) as a PNG data URI; empty
// in a build without OpenCV.
std::string png_uri(const data::Image& rgb, int scale) {
  if (!data::opencv_built()) return {};
  data::Image big(rgb.height * scale, rgb.width * scale, rgb.channels);
  for (int y = 0; y < big.height; ++y)
    for (int x = 0; x < big.width; ++x)
      for (int c = 0; c < rgb.channels; ++c) big.at(y, x, c) = rgb.at(y / scale, x / scale, c);
  return "data:image/png;base64," + base64(data::encode_image(big, ".png"));
}

int scale_for(int64_t side, int target) {
  return static_cast<int>(std::max<int64_t>(1, target / std::max<int64_t>(side, 1)));
}

// A [H,W] map through the viridis colour map over [lo, hi].
std::string heat_map_uri(const torch::Tensor& map, double lo, double hi, int target = 128) {
  if (!data::opencv_built()) return {};
  const torch::Tensor m = map.to(torch::kDouble).contiguous();
  const int rows = static_cast<int>(m.size(0)), cols = static_cast<int>(m.size(1));
  data::Image grey(rows, cols, 1);
  const double* p = m.data_ptr<double>();
  const double span = hi > lo ? hi - lo : 1;
  for (int r = 0; r < rows; ++r)
    for (int c = 0; c < cols; ++c)
      grey.at(r, c) = static_cast<uint8_t>(std::lround(255 * std::clamp((p[r * cols + c] - lo) / span, 0.0, 1.0)));
  return png_uri(data::apply_viridis(grey), scale_for(std::max(rows, cols), target));
}

// Event frames [C,H,W] (channel 0 OFF, 1 ON) on white: ON red, OFF blue, intensity sqrt(count / frame maximum)
// so that single events stay visible beside busy pixels.
std::string frame_uri(const torch::Tensor& frame, int target = 128) {
  const torch::Tensor f = frame.to(torch::kDouble).clamp_min(0).contiguous();
  const double max = f.numel() > 0 ? f.max().item<double>() : 0;
  const int channels = static_cast<int>(f.size(0)), rows = static_cast<int>(f.size(1)),
            cols = static_cast<int>(f.size(2));
  data::Image rgb(rows, cols, 3);
  const double* p = f.data_ptr<double>();
  const double scale = max > 0 ? max : 1;
  for (int r = 0; r < rows; ++r)
    for (int c = 0; c < cols; ++c) {
      const size_t at = static_cast<size_t>(r * cols + c), plane = static_cast<size_t>(rows * cols);
      const double off = std::sqrt(std::clamp(p[at] / scale, 0.0, 1.0));
      const double on = channels > 1 ? std::sqrt(std::clamp(p[plane + at] / scale, 0.0, 1.0)) : off;
      const double dark = channels > 1 ? 0 : off;  // one channel: grey levels
      auto level = [](double v) { return static_cast<uint8_t>(std::lround(255 * std::clamp(1 - v, 0.0, 1.0))); };
      rgb.at(r, c, 0) = level(channels > 1 ? off : dark);
      rgb.at(r, c, 1) = level(channels > 1 ? std::max(on, off) : dark);
      rgb.at(r, c, 2) = level(channels > 1 ? on : dark);
    }
  return png_uri(rgb, scale_for(std::max(rows, cols), target));
}

// A static image [C,H,W] (normalised values), its range stretched to black..white: grey for one channel, colour
// for three (RGB).
std::string image_uri(const torch::Tensor& image, int target = 128) {
  torch::Tensor f = image.to(torch::kDouble);
  const double lo = f.min().item<double>(), hi = f.max().item<double>();
  f = ((f - lo) / (hi > lo ? hi - lo : 1.0) * 255).round().clamp(0, 255).to(torch::kUInt8);
  f = (f.size(0) == 3 ? f : f[0].unsqueeze(0).expand({3, f.size(1), f.size(2)})).permute({1, 2, 0}).contiguous();
  data::Image rgb(static_cast<int>(f.size(0)), static_cast<int>(f.size(1)), 3);
  std::copy_n(f.data_ptr<uint8_t>(), rgb.pixels.size(), rgb.pixels.data());
  return png_uri(rgb, scale_for(std::max(rgb.height, rgb.width), target));
}

// The viridis scale from lo to hi, as a small image with its end values.
std::string colour_bar(double lo, double hi) {
  if (!data::opencv_built()) return fmt::format("<span class=\"bar\">{:.3f} .. {:.3f}</span>", lo, hi);
  data::Image grey(10, 128, 1);
  for (int y = 0; y < 10; ++y)
    for (int i = 0; i < 128; ++i) grey.at(y, i) = static_cast<uint8_t>(i * 2 + 1);
  return fmt::format(
      "<span class=\"bar\">{:.3f} <img class=\"scale\" src=\"{}\" width=\"128\" height=\"10\" "
      "alt=\"colour scale\"> {:.3f}</span>",
      lo, png_uri(data::apply_viridis(grey), 1), hi);
}

// A picture; in a build without OpenCV (no PNG encoder) its caption in its place.
std::string img(const std::string& uri, int width, int height, const std::string& alt) {
  if (uri.empty())
    return fmt::format("<span class=\"no-picture\">{} (needs a build with OpenCV)</span>", html_escape(alt));
  return fmt::format("<img src=\"{}\" width=\"{}\" height=\"{}\" alt=\"{}\">", uri, width, height, html_escape(alt));
}

// ---------------------------------------------------------------------------------------------------------------
// Figures

struct Page {
  std::string html;
  int figures = 0;
  // Opens a figure with an id and a caption; close with end_figure.
  void figure(const std::string& id, const std::string& caption) {
    ++figures;
    html += fmt::format("<figure class=\"fig\" id=\"{}\">\n<figcaption>{}</figcaption>\n", id, caption);
  }
  void end_figure() { html += "</figure>\n"; }
};

std::vector<double> to_vector(const torch::Tensor& t) {
  const torch::Tensor c = t.to(torch::kDouble).contiguous().flatten();
  return std::vector<double>(c.data_ptr<double>(), c.data_ptr<double>() + c.numel());
}

std::vector<std::string> spiking_names(const Analysis& a) {
  std::vector<std::string> names;
  for (const auto& l : a.spiking) names.push_back(l.name);
  return names;
}

// Stacked horizontal bars: MAC energy then AC energy, per row.
std::string energy_chart(const std::string& label, const std::vector<std::string>& rows, const std::vector<double>& mac,
                         const std::vector<double>& ac) {
  const double left = 170, plot = 400, right = 110, top = 28, bar = 20, gap = 8;
  double total = 0;
  for (size_t i = 0; i < rows.size(); ++i) total = std::max(total, mac[i] + ac[i]);
  const Axis axis = axis_for(total);
  const double max = axis.max;
  const double bottom = top + (bar + gap) * static_cast<double>(rows.size());
  Svg svg(left + plot + right, bottom + 34, label);
  legend(&svg, left, 16, plot + right,
         {{kMacColor, "MACs (real-valued input, attention)", ""}, {kAcColor, "ACs (spike input)", ""}});
  for (double v = 0; v <= max * (1 + 1e-9); v += axis.step) {
    const double x = left + plot * v / max;
    svg.line(x, top, x, bottom, "#e3e3e3");
    svg.text(x, bottom + 14, v == 0 ? "0" : energy_string(v), "middle", 11, "#555");
  }
  for (size_t i = 0; i < rows.size(); ++i) {
    const double y = top + (bar + gap) * static_cast<double>(i);
    const double wm = plot * mac[i] / max, wa = plot * ac[i] / max;
    svg.text(left - 6, y + bar / 2 + 4, rows[i], "end", 12);
    svg.rect(left, y, wm, bar, kMacColor, fmt::format("{}: MAC energy {}", rows[i], energy_string(mac[i])));
    svg.rect(left + wm, y, wa, bar, kAcColor, fmt::format("{}: AC energy {}", rows[i], energy_string(ac[i])));
    svg.text(left + wm + wa + 4, y + bar / 2 + 4, energy_string(mac[i] + ac[i]), "start", 11);
  }
  svg.line(left, top, left, bottom, "#888");
  svg.text(left + plot / 2, bottom + 30, "energy per sample", "middle", 12);
  return svg.str();
}

// One panel per spiking layer: shown neurons (rows) x time steps (columns), a mark per spike.
std::string raster_svg(const SampleRecord& r, int64_t steps) {
  const double panel_h = 320, head = 34, cell_w = std::clamp(200.0 / std::max<int64_t>(steps, 1), 3.0, 12.0);
  const double panel_w = cell_w * static_cast<double>(steps), pad = 46;
  const double width = pad + (panel_w + pad) * static_cast<double>(r.raster.size());
  Svg svg(width, head + panel_h + 34, "spike raster of sample " + std::to_string(r.index));
  for (size_t k = 0; k < r.raster.size(); ++k) {
    const RasterLayer& l = r.raster[k];
    const double x0 = pad + (panel_w + pad) * static_cast<double>(k);
    const double n = static_cast<double>(std::max<size_t>(l.shown.size(), 1));
    const double row = std::min(panel_h / n, 10.0), h = row * n;
    svg.text(x0 + panel_w / 2, 13, l.name, "middle", 12);
    svg.text(x0 + panel_w / 2, 27,
             l.shown.size() < static_cast<size_t>(l.neurons) ? fmt::format("{} of {}", l.shown.size(), l.neurons)
                                                             : fmt::format("all {}", l.neurons),
             "middle", 10, "#555");
    svg.rect(x0, head, panel_w, h, "#f6f6f6");
    // A spike is a tick centred in its time step: narrow enough that a neuron firing on every step still shows
    // separate spikes.
    const double tick_w = std::clamp(cell_w * 0.45, 1.5, 4.0), tick_h = std::max(row - (row > 3 ? 1 : 0), 1.0);
    for (size_t i = 0; i < l.spike_times.size(); ++i)
      for (int64_t t : l.spike_times[i])
        svg.rect(x0 + cell_w * (static_cast<double>(t) + 0.5) - tick_w / 2, head + row * static_cast<double>(i), tick_w,
                 tick_h, "#111", fmt::format("neuron {} at t={}", l.shown[i], t));
    svg.line(x0, head + h, x0 + panel_w, head + h, "#888");
    svg.text(x0 + cell_w / 2, head + h + 13, "0", "middle", 10, "#555");
    svg.text(x0 + panel_w - cell_w / 2, head + h + 13, std::to_string(steps - 1), "middle", 10, "#555");
    svg.text(x0 + panel_w / 2, head + h + 26, fmt::format("{:.0f} spikes", l.spikes), "middle", 10, "#555");
  }
  return svg.str();
}

// The range of the SA maps (of one site) to colour by.
std::pair<double, double> map_range(const std::vector<torch::Tensor>& maps) {
  double lo = 1, hi = 0;
  for (const auto& m : maps)
    if (m.defined() && m.numel() > 0) {
      lo = std::min(lo, m.min().item<double>());
      hi = std::max(hi, m.max().item<double>());
    }
  if (hi < lo) return {0, 1};
  if (hi - lo < 1e-6) return {lo - 0.01, hi + 0.01};
  return {lo, hi};
}

// SA map of `spatial` [S,H,W] at time step t (the one map when S = 1).
torch::Tensor map_at(const torch::Tensor& spatial, int64_t t) {
  return spatial[spatial.size(0) == 1 ? 0 : std::min(t, spatial.size(0) - 1)];
}

std::string attention_sections(Page& page, const Analysis& a, const std::string& prefix) {
  std::string notes;
  // TA over time: a chart per module, its mean over the samples and each chosen sample.
  std::vector<size_t> ta_sites;
  for (size_t i = 0; i < a.attention_weights.size(); ++i)
    if (a.attention_weights[i].temporal.defined()) ta_sites.push_back(i);
  if (!ta_sites.empty()) {
    page.figure(prefix + "ta",
                "Temporal attention, per module: the weight of each time step, mean over the samples (solid) and for "
                "the chosen samples (dashed)");
    page.html += "<div class=\"row\">\n";
    for (size_t i : ta_sites) {
      const auto& w = a.attention_weights[i];
      std::vector<Series> lines{{"mean over the samples", kModelColor, to_vector(w.temporal), ""}};
      for (size_t k = 0; k < a.examples.size(); ++k)
        lines.push_back({fmt::format("sample {}", a.examples[k].index), color(k + 1),
                         to_vector(a.examples[k].attention[i].temporal), "5,3"});
      page.html += fmt::format("<div class=\"sub\"><h4>{} ({})</h4>\n", html_escape(w.name), w.placement) +
                   line_chart("temporal attention weights of " + w.name, lines, "TA weight", 1.0, 400, 160) +
                   "</div>\n";
    }
    page.html += "</div>\n";
    page.end_figure();
  }
  // CA per channel.
  bool any_ca = false;
  for (const auto& w : a.attention_weights) any_ca = any_ca || w.channel.defined();
  if (any_ca) {
    page.figure(prefix + "ca",
                "Channel attention: the weight of each channel, mean over the samples (and over the steps where CA "
                "works per step; bars) and for the first chosen sample (dots); per-step weights as a heat map "
                "(rows: time steps, columns: channels)");
    for (size_t i = 0; i < a.attention_weights.size(); ++i) {
      const auto& w = a.attention_weights[i];
      if (!w.channel.defined()) continue;
      std::vector<double> dots;
      std::string dots_name;
      if (!a.examples.empty() && a.examples[0].attention.at(i).channel.defined()) {
        dots = to_vector(a.examples[0].attention[i].channel.mean(0));
        dots_name = fmt::format("sample {}", a.examples[0].index);
      }
      page.html += fmt::format("<div class=\"sub\"><h4>{} ({})</h4>\n", html_escape(w.name), w.placement);
      page.html +=
          channel_chart("channel attention weights of " + w.name, to_vector(w.channel.mean(0)), dots, dots_name);
      if (w.channel.size(0) > 1) {
        const double lo = w.channel_summary.min, hi = std::max(w.channel_summary.max, lo + 1e-6);
        const int64_t c = w.channel.size(1), t = w.channel.size(0);
        const int cell = static_cast<int>(std::clamp<int64_t>(512 / c, 2, 16));
        page.html += fmt::format(
            "<div class=\"heat\"><small>rows: time steps 0..{} (top to bottom), columns: channels 0..{}</small><br>{} "
            "{}</div>\n",
            t - 1, c - 1,
            img(heat_map_uri(w.channel, lo, hi, static_cast<int>(cell * std::max(c, t))), static_cast<int>(cell * c),
                static_cast<int>(cell * t), "per-step channel weights"),
            colour_bar(lo, hi));
      }
      page.html += "</div>\n";
    }
    page.end_figure();
  }
  // SA maps beside the input frames.
  std::vector<size_t> sa_sites;
  for (size_t i = 0; i < a.attention_weights.size(); ++i)
    if (a.attention_weights[i].spatial.defined()) sa_sites.push_back(i);
  if (!sa_sites.empty()) {
    page.figure(prefix + "sa",
                "Spatial attention maps (viridis: low dark, high yellow; the colour range of each module is shown) "
                "beside the input frames (ON events red, OFF blue): mean over the samples, then each chosen sample "
                "at a few time steps");
    auto site_range = [&](size_t i) {
      std::vector<torch::Tensor> maps{a.attention_weights[i].spatial};
      for (const auto& r : a.examples) maps.push_back(r.attention[i].spatial);
      return map_range(maps);
    };
    page.html += "<table class=\"maps\">\n<tr><th></th><th>input frame</th>";
    for (size_t i : sa_sites) {
      const auto& w = a.attention_weights[i];
      const auto [lo, hi] = site_range(i);
      page.html += fmt::format("<th>SA of {}<br>({}, {}x{}{})<br>{}</th>", html_escape(w.name), w.placement,
                               w.spatial.size(1), w.spatial.size(2),
                               w.spatial.size(0) == 1 ? ", one map for all T" : ", a map per step", colour_bar(lo, hi));
    }
    page.html += "</tr>\n";
    // A block of rows (one per step in `steps`): a map per step, or one map (rowspan) when the module has one.
    auto block = [&](const std::string& head, const std::vector<int64_t>& steps, const SampleRecord* sample,
                     const std::vector<const torch::Tensor*>& spatial, bool show_t) {
      for (size_t k = 0; k < steps.size(); ++k) {
        page.html += show_t ? fmt::format("<tr><th>{}<br>t = {}</th>", head, steps[k])
                            : fmt::format("<tr><th>{}<br>(all T)</th>", head);
        if (sample) {
          const torch::Tensor frame = sample->frames[static_cast<int64_t>(k)];
          const std::string uri = sample->frames_are_events ? frame_uri(frame) : image_uri(frame);
          page.html += "<td>" + img(uri, 112, 112, "input frame") + "</td>";
        } else {
          page.html += "<td>&ndash;</td>";
        }
        for (size_t j = 0; j < sa_sites.size(); ++j) {
          const torch::Tensor& map = *spatial[j];
          if (map.size(0) == 1 && k > 0) continue;  // covered by the rowspan of the first row
          const auto [lo, hi] = site_range(sa_sites[j]);
          const std::string span = map.size(0) == 1 ? fmt::format(" rowspan=\"{}\"", steps.size()) : "";
          page.html += fmt::format("<td{}>{}</td>", span,
                                   img(heat_map_uri(map_at(map, steps[k]), lo, hi), 112, 112, head + " SA map"));
        }
        page.html += "</tr>\n";
      }
    };
    std::vector<int64_t> steps = a.examples.empty() ? std::vector<int64_t>{0} : a.examples[0].frame_steps;
    bool per_step = false;
    for (size_t i : sa_sites) per_step = per_step || a.attention_weights[i].spatial.size(0) > 1;
    std::vector<const torch::Tensor*> mean_maps;
    for (size_t i : sa_sites) mean_maps.push_back(&a.attention_weights[i].spatial);
    block("mean over samples", per_step ? steps : std::vector<int64_t>{0}, nullptr, mean_maps, per_step);
    for (const auto& r : a.examples) {
      std::vector<const torch::Tensor*> maps;
      for (size_t i : sa_sites) maps.push_back(&r.attention[i].spatial);
      block(fmt::format("sample {}", r.index), r.frame_steps, &r, maps, true);
    }
    page.html += "</table>\n";
    page.end_figure();
  }
  if (a.attention_weights.empty()) notes += "<p class=\"note\">This network has no attention modules.</p>\n";
  return notes;
}

void analysis_section(Page& page, const Analysis& a, const std::string& prefix, const std::string& title) {
  page.html += fmt::format("<section id=\"{}section\">\n<h2>{}</h2>\n", prefix, html_escape(title));
  page.html += fmt::format(
      "<p class=\"meta\">{} &mdash; {} ({}, {}), T = {}; {}: {} samples x {} clips = {} inputs (one input = one "
      "\"sample\" below); accuracy {:.2f}% (vote {:.2f}%, clips {:.2f}%)</p>\n",
      html_escape(a.checkpoint), html_escape(a.model), html_escape(a.attention), html_escape(a.placement), a.steps,
      html_escape(a.dataset), a.dataset_samples, a.clips, a.samples, 100 * a.accuracy, 100 * a.vote_accuracy,
      100 * a.clip_accuracy);
  const auto& t = a.energy.total;
  page.html += fmt::format(
      "<p class=\"meta\">Per sample: {:.1f} spikes, network firing rate {:.5f}; SNN energy, compute only (the paper's "
      "model) {} ({} MACs + {} ACs), same network as an ANN {} ({:.2f}x); with memory accesses (Lemaire et al. 2022) "
      "SNN {}, ANN {} ({:.2f}x).</p>\n",
      a.spiking_total.spikes_per_sample, a.spiking_total.firing_rate, energy_string(t.snn_energy_pj),
      human_count(t.macs), human_count(t.synaptic_ops), energy_string(t.ann_energy_pj), t.ann_to_snn,
      energy_string(t.snn_with_memory_pj), energy_string(t.ann_with_memory_pj), t.ann_to_snn_with_memory);

  // Firing rate per layer.
  std::vector<std::string> names = spiking_names(a);
  std::vector<double> rates;
  for (const auto& l : a.spiking) rates.push_back(l.firing_rate);
  names.push_back("total");
  rates.push_back(a.spiking_total.firing_rate);
  page.figure(prefix + "firing-rate", "Firing rate per spiking layer: spikes / (neurons x T), mean over the samples");
  page.html += bar_chart("firing rate per layer", names, {{"firing rate", kModelColor, rates, ""}}, "{:.4f}");
  page.end_figure();

  // Spikes over time.
  std::vector<Series> lines;
  for (size_t i = 0; i < a.spiking.size(); ++i) {
    lines.push_back({a.spiking[i].name, color(i), a.spiking[i].firing_rate_per_step, ""});
  }
  page.figure(prefix + "spikes-time",
              "Spikes over time: the fraction of each layer's neurons that fire at each time step, mean over the "
              "samples (spikes per step / neurons)");
  page.html += line_chart("firing rate per time step", lines, "spikes / neurons");
  page.end_figure();

  // Rasters.
  for (size_t k = 0; k < a.examples.size(); ++k) {
    const auto& r = a.examples[k];
    page.figure(fmt::format("{}raster-{}", prefix, k),
                fmt::format("Spike raster of test sample {} ({}), clip {}: label {}, predicted {}. Rows: neurons "
                            "(a fixed random subset where the layer is larger, ordered by index), columns: time steps",
                            r.index, html_escape(r.description), r.clip, r.label, r.prediction));
    page.html += raster_svg(r, a.steps);
    page.end_figure();
  }

  page.html += attention_sections(page, a, prefix);

  // Membrane statistics.
  if (!a.membrane.empty()) {
    std::vector<std::string> sites;
    std::vector<double> before, after;
    for (const auto& m : a.membrane) {
      sites.push_back(m.name);
      before.push_back(m.before.above_threshold);
      after.push_back(m.after.above_threshold);
    }
    page.figure(prefix + "membrane",
                "Membrane values without and with the attention: the fraction at or above the threshold V_th "
                "(conv-post: the membrane input X before the attention and X' after it; activate-pre: the potential "
                "U_t before the neuron's CA/SA and U'_t after), over every neuron, step and sample");
    page.html += bar_chart("fraction of membrane values above threshold", sites,
                           {{"without attention", kBaseColor, before, ""}, {"with attention", kModelColor, after, ""}},
                           "{:.4f}");
    page.html +=
        "<table><tr><th>module</th><th>attention</th><th>quantity</th><th>V_th</th><th>mean before</th>"
        "<th>std before</th><th>above before</th><th>mean after</th><th>std after</th><th>above after</th></tr>\n";
    for (const auto& m : a.membrane)
      page.html += fmt::format(
          "<tr><td>{}</td><td>{}</td><td>{}</td><td>{:.2f}</td><td>{:.4f}</td><td>{:.4f}</td><td>{:.2f}%</td>"
          "<td>{:.4f}</td><td>{:.4f}</td><td>{:.2f}%</td></tr>\n",
          html_escape(m.name), m.attention, m.quantity, m.threshold, m.before.mean, m.before.std,
          100 * m.before.above_threshold, m.after.mean, m.after.std, 100 * m.after.above_threshold);
    page.html += "</table>\n";
    page.end_figure();
  }

  // Energy.
  std::vector<std::string> blocks;
  std::vector<double> mac, ac;
  for (const auto& b : a.energy_blocks) {
    blocks.push_back(b.block);
    mac.push_back(b.mac_energy_pj);
    ac.push_back(b.ac_energy_pj);
  }
  page.figure(prefix + "energy",
              fmt::format("Energy per sample by block: MACs x {} pJ (attention, real-valued inputs) and ACs x {} pJ "
                          "(synaptic operations of spike inputs, counted exactly)",
                          a.energy.options.e_mac_pj, a.energy.options.e_ac_pj));
  page.html += energy_chart("energy per block", blocks, mac, ac);
  page.html +=
      "<table><tr><th>layer</th><th>kind</th><th>op</th><th>dense MACs</th><th>input rate</th><th>synaptic ops</th>"
      "<th>estimate</th><th>SNN compute</th><th>ANN compute</th><th>SNN memory</th><th>ANN memory</th></tr>\n";
  for (const auto& e : a.energy.layers)
    page.html += fmt::format(
        "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td>"
        "<td>{}</td><td>{}</td></tr>\n",
        html_escape(e.name), e.kind, e.spike_input ? "AC" : "MAC", human_count(e.dense_macs),
        std::isfinite(e.input_firing_rate) ? fmt::format("{:.5f}", e.input_firing_rate) : "-",
        e.spike_input ? human_count(e.synaptic_ops) : "-", e.spike_input ? human_count(e.estimated_ops) : "-",
        energy_string(e.snn_energy_pj), energy_string(e.ann_energy_pj), energy_string(e.snn_memory.energy_pj),
        energy_string(e.ann_memory.energy_pj));
  page.html += fmt::format(
      "<tr class=\"total\"><td>total</td><td></td><td></td><td>{}</td><td></td><td>{}</td><td>{}</td><td>{}</td>"
      "<td>{}</td><td>{}</td><td>{}</td></tr>\n</table>\n",
      human_count(t.dense_macs), human_count(t.synaptic_ops), human_count(t.estimated_ops),
      energy_string(t.snn_energy_pj), energy_string(t.ann_energy_pj), energy_string(t.snn_memory_pj),
      energy_string(t.ann_memory_pj));
  page.html += fmt::format(
      "<p class=\"meta\">Compute: the paper's model (E_MAC {} pJ, E_AC {} pJ). Memory: Lemaire et al. 2022's accesses "
      "(weights per synaptic operation or MAC, membrane potentials, spikes, activations), each at the energy of a "
      "memory of that data's size (Horowitz 2014: SRAM 8 KB {} pJ, 32 KB {} pJ, 1 MB {} pJ; DRAM {} pJ).</p>\n",
      a.energy.options.e_mac_pj, a.energy.options.e_ac_pj, a.energy.options.sram_8kb_pj,
      a.energy.options.sram_32kb_pj, a.energy.options.sram_1mb_pj, a.energy.options.dram_pj);
  page.end_figure();
  page.html += "</section>\n";
}

void comparison_section(Page& page, const Analysis& b, const Analysis& m, const Comparison& c) {
  page.html += "<section id=\"comparison\">\n<h2>Base vs model</h2>\n";
  page.html += fmt::format(
      "<p class=\"meta\">Base: {} ({}, {}) &mdash; model: {} ({}, {}); both on {}, {} inputs; per sample.</p>\n",
      html_escape(b.checkpoint), html_escape(b.attention), html_escape(b.placement), html_escape(m.checkpoint),
      html_escape(m.attention), html_escape(m.placement), html_escape(m.dataset), m.samples);
  const EnergyTotals &bt = b.energy.total, &mt = m.energy.total;
  page.html += fmt::format(
      "<table class=\"compare\"><tr><th></th><th>base ({})</th><th>model ({})</th><th>change</th></tr>\n"
      "<tr><td>accuracy</td><td>{:.2f}%</td><td>{:.2f}%</td><td>{:+.2f} points</td></tr>\n"
      "<tr><td>spikes per sample</td><td>{:.1f}</td><td>{:.1f}</td><td>{}</td></tr>\n"
      "<tr><td>firing rate</td><td>{:.5f}</td><td>{:.5f}</td><td>{}</td></tr>\n"
      "<tr><td>ACs (synaptic operations)</td><td>{}</td><td>{}</td><td>{}</td></tr>\n"
      "<tr><td>MACs</td><td>{}</td><td>{}</td><td>{}{}</td></tr>\n"
      "<tr><td>SNN energy (compute)</td><td>{}</td><td>{}</td><td>{}</td></tr>\n"
      "<tr><td>SNN energy (+ memory)</td><td>{}</td><td>{}</td><td>{}</td></tr>\n"
      "<tr><td>ANN energy (compute)</td><td>{}</td><td>{}</td><td></td></tr>\n"
      "<tr><td>ANN energy (+ memory)</td><td>{}</td><td>{}</td><td></td></tr>\n"
      "<tr class=\"total\"><td>energy efficiency rEE</td><td>1x</td><td>{:.3f}x</td><td>paper's estimate {:.3f}x</td>"
      "</tr>\n</table>\n",
      html_escape(b.attention), html_escape(m.attention), 100 * b.accuracy, 100 * m.accuracy, 100 * c.accuracy_change,
      b.spiking_total.spikes_per_sample, m.spiking_total.spikes_per_sample, change_string(c.spikes_reduction),
      b.spiking_total.firing_rate, m.spiking_total.firing_rate, change_string(c.firing_rate_reduction),
      human_count(bt.synaptic_ops), human_count(mt.synaptic_ops), change_string(c.synaptic_ops_reduction),
      human_count(bt.macs), human_count(mt.macs), c.energy.delta_macs >= 0 ? "+" : "", human_count(c.energy.delta_macs),
      energy_string(bt.snn_energy_pj), energy_string(mt.snn_energy_pj), change_string(c.energy_reduction),
      energy_string(bt.snn_with_memory_pj), energy_string(mt.snn_with_memory_pj),
      change_string(c.energy_with_memory_reduction), energy_string(bt.ann_energy_pj), energy_string(mt.ann_energy_pj),
      energy_string(bt.ann_with_memory_pj), energy_string(mt.ann_with_memory_pj), c.energy.relative_efficiency,
      c.energy.relative_efficiency_estimate);
  page.html += fmt::format(
      "<p class=\"meta\">rEE = E_base / (E_base + dE), dE = E_MAC x dMAC - E_AC x dAC = {} (dMAC {} added, dAC {} "
      "removed; E_MAC {} pJ, E_AC {} pJ).</p>\n",
      energy_string(c.energy.delta_energy_pj), human_count(c.energy.delta_macs), human_count(c.energy.delta_acs),
      m.energy.options.e_mac_pj, m.energy.options.e_ac_pj);

  std::vector<std::string> names;
  std::vector<double> br, mr;
  for (const auto& l : c.layers) {
    names.push_back(l.name);
    br.push_back(l.base_firing_rate);
    mr.push_back(l.model_firing_rate);
  }
  names.push_back("total");
  br.push_back(b.spiking_total.firing_rate);
  mr.push_back(m.spiking_total.firing_rate);
  page.figure("compare-firing-rate", "Firing rate per spiking layer, base and model");
  page.html += bar_chart(
      "firing rate per layer, base vs model", names,
      {{"base (" + b.attention + ")", kBaseColor, br, ""}, {"model (" + m.attention + ")", kModelColor, mr, ""}},
      "{:.4f}");
  page.html += "<table><tr><th>layer</th><th>base spikes</th><th>model spikes</th><th>change</th></tr>\n";
  for (const auto& l : c.layers)
    page.html += fmt::format("<tr><td>{}</td><td>{:.1f}</td><td>{:.1f}</td><td>{}</td></tr>\n", html_escape(l.name),
                             l.base_spikes, l.model_spikes, change_string(l.spikes_reduction));
  page.html += "</table>\n";
  page.end_figure();

  page.figure("compare-spikes-time", "Network firing rate at each time step (all spiking layers), base and model");
  page.html += line_chart("network firing rate per time step, base vs model",
                          {{"base (" + b.attention + ")", kBaseColor, b.spiking_total.firing_rate_per_step, ""},
                           {"model (" + m.attention + ")", kModelColor, m.spiking_total.firing_rate_per_step, ""}},
                          "spikes / neurons");
  page.end_figure();

  std::vector<std::string> rows;
  std::vector<double> mac, ac;
  double bm = 0, ba = 0, mm = 0, ma = 0;
  for (const auto& x : b.energy_blocks) {
    bm += x.mac_energy_pj;
    ba += x.ac_energy_pj;
  }
  for (const auto& x : m.energy_blocks) {
    mm += x.mac_energy_pj;
    ma += x.ac_energy_pj;
    for (const auto& y : b.energy_blocks)
      if (y.block == x.block) {
        rows.push_back(y.block + " base");
        mac.push_back(y.mac_energy_pj);
        ac.push_back(y.ac_energy_pj);
      }
    rows.push_back(x.block + " model");
    mac.push_back(x.mac_energy_pj);
    ac.push_back(x.ac_energy_pj);
  }
  rows.insert(rows.end(), {"total base", "total model"});
  mac.insert(mac.end(), {bm, mm});
  ac.insert(ac.end(), {ba, ma});
  page.figure("compare-energy", "Energy per sample by block, base and model: MAC part and AC part");
  page.html += energy_chart("energy per block, base vs model", rows, mac, ac);
  page.end_figure();
  page.html += "</section>\n";
}

const char* const kStyle = R"(<style>
body{font-family:sans-serif;margin:1.5em 2em;color:#222;max-width:1200px}
h1{font-size:1.5em}h2{border-bottom:2px solid #ddd;padding-bottom:4px;margin-top:2em}h4{margin:.6em 0 .2em}
figure.fig{margin:1.2em 0;padding:.6em .8em;border:1px solid #e2e2e2;border-radius:6px;overflow-x:auto}
figcaption{font-size:.92em;color:#444;margin-bottom:.5em}
table{border-collapse:collapse;margin:.6em 0;font-size:.9em}
td,th{border:1px solid #ccc;padding:2px 8px;text-align:right}td:first-child{text-align:left}
tr.total td{font-weight:bold}
table.maps td,table.maps th{text-align:center;vertical-align:middle;font-weight:normal}
img{image-rendering:pixelated;image-rendering:crisp-edges}
img.scale{vertical-align:middle}.bar{font-size:.85em;white-space:nowrap}
.meta{color:#333}.note{color:#666}
.row{display:flex;flex-wrap:wrap;gap:8px 24px}.heat{margin:.4em 0 .8em}
</style>
)";

// Marks every figure whose pictures have a size (and whose images decoded); errors go to data-errors.
const char* const kCheckScript = R"(<script>
(function () {
  var errors = [];
  window.addEventListener('error', function (e) {
    errors.push(String(e.message || e));
    document.body.setAttribute('data-errors', errors.join(' | '));
  }, true);
  window.addEventListener('load', function () {
    var figures = document.querySelectorAll('figure.fig'), good = 0;
    for (var i = 0; i < figures.length; ++i) {
      var f = figures[i], ok = true, pictures = 0, k, r;
      var svgs = f.querySelectorAll('svg'), imgs = f.querySelectorAll('img');
      for (k = 0; k < svgs.length; ++k) { ++pictures; r = svgs[k].getBoundingClientRect(); if (!(r.width > 0 && r.height > 0)) ok = false; }
      for (k = 0; k < imgs.length; ++k) { ++pictures; if (!(imgs[k].complete && imgs[k].naturalWidth > 0)) ok = false; }
      pictures += f.querySelectorAll('.no-picture').length;  // a build without OpenCV names its pictures
      if (pictures === 0) ok = false;
      f.setAttribute('data-rendered', ok ? '1' : '0');
      if (ok) ++good;
    }
    document.body.setAttribute('data-figures-rendered', good + '/' + figures.length);
  });
})();
</script>
)";

}  // namespace

std::string report_html(const Report& report) {
  const Analysis& m = report.model;
  Page page;
  page.html = "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n<title>masnn analyze: " +
              html_escape(m.model + " " + m.attention) + "</title>\n" + kStyle + "</head>\n";
  const bool compare = report.base && report.comparison;
  page.html += "<body>\n";
  page.html +=
      fmt::format("<h1>masnn analyze: {} ({}, {}), T = {}{}</h1>\n", html_escape(m.model), html_escape(m.attention),
                  html_escape(m.placement), m.steps, compare ? " vs base " + html_escape(report.base->attention) : "");
  page.html +=
      "<p class=\"note\">Every number here is in analysis.json beside this page. Energy model: REFERENCE.md 5 "
      "(a MAC for every real-valued input and attention operation, an AC for every spike reaching a synapse).</p>\n";
  if (compare) comparison_section(page, *report.base, m, *report.comparison);
  analysis_section(page, m, compare ? "model-" : "", compare ? "Model: " + m.attention : "Analysis");
  if (compare) analysis_section(page, *report.base, "base-", "Base: " + report.base->attention);
  page.html += kCheckScript;
  page.html += fmt::format("<p class=\"note\">{} figures.</p>\n</body></html>\n", page.figures);
  // The number of figures, for checkers that read the page without running it.
  const std::string body = "<body>";
  page.html.replace(page.html.find(body), body.size(), fmt::format("<body data-figures=\"{}\">", page.figures));
  return page.html;
}

}  // namespace masnn::analysis
