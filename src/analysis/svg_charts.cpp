// Inline SVG charts (svg_charts.h).
#include "analysis/svg_charts.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "masnn/analysis/operation_count.h"
#include "report_text.h"

namespace masnn::analysis::svg {

using detail::html_escape;

std::string escape(const std::string& text) { return html_escape(text); }

const char* const kPalette[] = {"#3b7dd8", "#e8743b", "#19a979", "#ed4a7b", "#945ecf",
                                "#13a4b4", "#525df4", "#bf399e", "#6c8893", "#ee6868"};

const char* color(size_t i) {
  return kPalette[i % (sizeof(kPalette) / sizeof(kPalette[0]))];
}

// ---------------------------------------------------------------------------------------------------------------
// Numbers and axes

// The smallest 1, 2 or 5 x 10^k at or above v (v > 0); 1 for v <= 0.
double nice_ceiling(double v) {
  if (!(v > 0) || !std::isfinite(v)) return 1;
  const double p = std::pow(10.0, std::floor(std::log10(v)));
  for (double m : {1.0, 2.0, 5.0, 10.0})
    if (m * p >= v * (1 - 1e-12)) return m * p;
  return 10 * p;
}

// A short label of a number: 3 significant digits, k/M/G for large ones.
std::string short_number(double v) {
  if (v == 0) return "0";
  if (std::abs(v) >= 1000) return human_count(v);
  return fmt::format("{:.3g}", v);
}

Axis axis_for(double v) {
  if (!(v > 0) || !std::isfinite(v)) return {};
  const double step = nice_ceiling(v / 5);
  return {step * std::max(1.0, std::ceil(v / step - 1e-9)), step};
}

// ---------------------------------------------------------------------------------------------------------------
// SVG

Svg::Svg(double width, double height, const std::string& label) : width_(width), height_(height) {
  body_ = fmt::format(
      "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{:.0f}\" height=\"{:.0f}\" viewBox=\"0 0 {:.0f} {:.0f}\" "
      "role=\"img\" aria-label=\"{}\" font-family=\"sans-serif\">\n",
      width, height, width, height, html_escape(label));
}

void Svg::rect(double x, double y, double w, double h, const std::string& fill, const std::string& title) {
  body_ += fmt::format("<rect x=\"{:.2f}\" y=\"{:.2f}\" width=\"{:.2f}\" height=\"{:.2f}\" fill=\"{}\"", x, y,
                       std::max(w, 0.0), std::max(h, 0.0), fill);
  body_ += title.empty() ? "/>\n" : "><title>" + html_escape(title) + "</title></rect>\n";
}

void Svg::line(double x1, double y1, double x2, double y2, const std::string& stroke, double width,
               const std::string& dash) {
  body_ += fmt::format(
      "<line x1=\"{:.2f}\" y1=\"{:.2f}\" x2=\"{:.2f}\" y2=\"{:.2f}\" stroke=\"{}\" "
      "stroke-width=\"{}\"{}/>\n",
      x1, y1, x2, y2, stroke, width, dash.empty() ? "" : " stroke-dasharray=\"" + dash + "\"");
}

void Svg::text(double x, double y, const std::string& s, const std::string& anchor, int size, const std::string& fill) {
  body_ += fmt::format("<text x=\"{:.2f}\" y=\"{:.2f}\" text-anchor=\"{}\" font-size=\"{}\" fill=\"{}\">{}</text>\n",
                       x, y, anchor, size, fill, html_escape(s));
}

void Svg::polyline(const std::vector<std::pair<double, double>>& points, const std::string& stroke, double width,
                   const std::string& dash) {
  std::string p;
  for (const auto& [x, y] : points) p += fmt::format("{:.2f},{:.2f} ", x, y);
  body_ += fmt::format("<polyline points=\"{}\" fill=\"none\" stroke=\"{}\" stroke-width=\"{}\"{}/>\n", p, stroke,
                       width, dash.empty() ? "" : " stroke-dasharray=\"" + dash + "\"");
}

void Svg::circle(double x, double y, double r, const std::string& fill, const std::string& title) {
  body_ += fmt::format("<circle cx=\"{:.2f}\" cy=\"{:.2f}\" r=\"{}\" fill=\"{}\"", x, y, r, fill);
  body_ += title.empty() ? "/>\n" : "><title>" + html_escape(title) + "</title></circle>\n";
}

int legend(Svg* svg, double x, double y, double width, const std::vector<LegendItem>& items) {
  double at = x;
  int rows = 1;
  for (const auto& item : items) {
    const double w = 30 + 6.6 * static_cast<double>(item.name.size());
    if (at > x && at + w > x + width) {
      at = x;
      y += 18;
      ++rows;
    }
    if (svg) {
      if (item.dash.empty())
        svg->rect(at, y - 9, 14, 10, item.color);
      else
        svg->line(at, y - 4, at + 16, y - 4, item.color, 2, item.dash);
      svg->text(at + 20, y, item.name, "start", 12);
    }
    at += w + 10;
  }
  return rows;
}

namespace {

// The axes' lines and titles of a plot area (x title below, y title turned along the left edge).
void axis_lines(Svg& svg, double left, double top, double plot_w, double plot_h, const std::string& x_label,
                const std::string& y_label) {
  svg.text(left + plot_w / 2, top + plot_h + 30, x_label, "middle", 12);
  svg.raw(
      fmt::format("<text x=\"14\" y=\"{:.1f}\" transform=\"rotate(-90 14 {:.1f})\" text-anchor=\"middle\" "
                  "font-size=\"12\">{}</text>\n",
                  top + plot_h / 2, top + plot_h / 2, html_escape(y_label)));
  svg.line(left, top, left, top + plot_h, "#888");
  svg.line(left, top + plot_h, left + plot_w, top + plot_h, "#888");
}

}  // namespace

// Horizontal bars, one group per label and one bar per series; values written beside the bars.
std::string bar_chart(const std::string& label, const std::vector<std::string>& labels,
                      const std::vector<Series>& series, const std::string& value_format) {
  const double left = 150, right = 90, plot = 420;
  std::vector<LegendItem> items;
  for (const auto& s : series) items.push_back({s.color, s.name, ""});
  // Room above the bars for every row of the legend (many series wrap it onto several rows).
  const double top = series.size() > 1 ? 10 + 18.0 * legend(nullptr, left, 0, plot + right, items) : 8;
  const double bar = 16, gap = 8, group = bar * static_cast<double>(series.size()) + gap;
  double max = 0;
  for (const auto& s : series)
    for (double v : s.values)
      if (std::isfinite(v)) max = std::max(max, v);
  const Axis axis = axis_for(max);
  const double height = top + group * static_cast<double>(labels.size()) + 28;
  Svg svg(left + plot + right, height, label);
  if (series.size() > 1) {
    legend(&svg, left, 16, plot + right, items);
  }
  const double bottom = top + group * static_cast<double>(labels.size());
  for (double v = 0; v <= axis.max * (1 + 1e-9); v += axis.step) {
    const double x = left + plot * v / axis.max;
    svg.line(x, top, x, bottom, "#e3e3e3");
    svg.text(x, bottom + 14, short_number(v), "middle", 11, "#555");
  }
  for (size_t i = 0; i < labels.size(); ++i) {
    const double y0 = top + group * static_cast<double>(i);
    svg.text(left - 6, y0 + bar * static_cast<double>(series.size()) / 2 + 4, labels[i], "end", 12);
    for (size_t k = 0; k < series.size(); ++k) {
      const double v = i < series[k].values.size() ? series[k].values[i] : NAN;
      const double y = y0 + bar * static_cast<double>(k);
      const double w = std::isfinite(v) ? plot * std::clamp(v / axis.max, 0.0, 1.0) : 0;
      const std::string text = std::isfinite(v) ? fmt::format(fmt::runtime(value_format), v) : "-";
      svg.rect(left, y + 1, w, bar - 2, series[k].color, series[k].name + " " + labels[i] + ": " + text);
      svg.text(left + w + 4, y + bar - 4, text, "start", 11);
    }
  }
  svg.line(left, top, left, bottom, "#888");
  return svg.str();
}

// Lines over x = 0..n-1 (time steps) from y = 0, with axes and a legend; y up to `fixed_max` when given.
std::string line_chart(const std::string& label, const std::vector<Series>& series, const std::string& y_label,
                       double fixed_max, double plot_w, double plot_h, const std::string& x_label, int x_first) {
  const double left = 64, right = 16, top = 12;
  size_t n = 1;
  double max = 0;
  for (const auto& s : series) {
    n = std::max(n, s.values.size());
    for (double v : s.values)
      if (std::isfinite(v)) max = std::max(max, v);
  }
  const Axis axis = axis_for(std::max(max, fixed_max));
  std::vector<LegendItem> items;
  for (const auto& s : series) items.push_back({s.color, s.name, s.dash});
  const int legend_rows = legend(nullptr, left, 0, plot_w, items);
  Svg svg(left + plot_w + right, top + plot_h + 44 + 18 * legend_rows, label);
  auto X = [&](double i) { return left + (n > 1 ? plot_w * i / static_cast<double>(n - 1) : plot_w / 2); };
  auto Y = [&](double v) { return top + plot_h * (1 - v / axis.max); };
  for (double v = 0; v <= axis.max * (1 + 1e-9); v += axis.step) {
    svg.line(left, Y(v), left + plot_w, Y(v), "#e3e3e3");
    svg.text(left - 6, Y(v) + 4, short_number(v), "end", 11, "#555");
  }
  const size_t tick = std::max<size_t>(1, (n + 15) / 16);
  for (size_t i = 0; i < n; i += tick)
    svg.text(X(static_cast<double>(i)), top + plot_h + 14, std::to_string(static_cast<int>(i) + x_first), "middle", 11,
             "#555");
  axis_lines(svg, left, top, plot_w, plot_h, x_label, y_label);
  for (const auto& s : series) {
    std::vector<std::pair<double, double>> points;
    for (size_t i = 0; i < s.values.size(); ++i)
      if (std::isfinite(s.values[i])) points.emplace_back(X(static_cast<double>(i)), Y(s.values[i]));
    svg.polyline(points, s.color, 2, s.dash);
    for (size_t i = 0; i < s.values.size(); ++i)
      if (std::isfinite(s.values[i]))
        svg.circle(X(static_cast<double>(i)), Y(s.values[i]), 2.5, s.color,
                   fmt::format("{} {}: {:.5g}", s.name, static_cast<int>(i) + x_first, s.values[i]));
  }
  legend(&svg, left, top + plot_h + 52, plot_w, items);
  return svg.str();
}

// Points with error bars; x from 0, y from below the lowest point.
std::string scatter_chart(const std::string& label, const std::vector<ScatterPoint>& points, const std::string& x_label,
                          const std::string& y_label) {
  const double left = 64, right = 120, top = 12, plot_w = 480, plot_h = 260;
  double x_max = 0, y_low = INFINITY, y_high = -INFINITY;
  for (const auto& p : points) {
    x_max = std::max(x_max, p.x + p.x_error);
    y_low = std::min(y_low, p.y - p.y_error);
    y_high = std::max(y_high, p.y + p.y_error);
  }
  if (points.empty()) y_low = 0, y_high = 1;
  const Axis x_axis = axis_for(x_max);
  const double y_step = nice_ceiling(std::max(y_high - y_low, 1e-12) / 5);
  const double y0 = std::floor(y_low / y_step) * y_step, y1 = std::max(y0 + y_step, std::ceil(y_high / y_step) * y_step);
  Svg svg(left + plot_w + right, top + plot_h + 44, label);
  auto X = [&](double v) { return left + plot_w * v / x_axis.max; };
  auto Y = [&](double v) { return top + plot_h * (1 - (v - y0) / (y1 - y0)); };
  for (double v = 0; v <= x_axis.max * (1 + 1e-9); v += x_axis.step) {
    svg.line(X(v), top, X(v), top + plot_h, "#e3e3e3");
    svg.text(X(v), top + plot_h + 14, short_number(v), "middle", 11, "#555");
  }
  for (double v = y0; v <= y1 * (1 + 1e-9) + 1e-12; v += y_step) {
    svg.line(left, Y(v), left + plot_w, Y(v), "#e3e3e3");
    svg.text(left - 6, Y(v) + 4, short_number(v), "end", 11, "#555");
  }
  axis_lines(svg, left, top, plot_w, plot_h, x_label, y_label);
  for (const auto& p : points) {
    if (p.x_error > 0)  // clipped at the x axis's 0 (a count's interval from few runs can reach below it)
      svg.line(X(std::max(0.0, p.x - p.x_error)), Y(p.y), X(p.x + p.x_error), Y(p.y), p.color, 1.5);
    if (p.y_error > 0) svg.line(X(p.x), Y(p.y - p.y_error), X(p.x), Y(p.y + p.y_error), p.color, 1.5);
    svg.circle(X(p.x), Y(p.y), 4, p.color, fmt::format("{}: {:.5g}, {:.5g}", p.name, p.x, p.y));
    svg.text(X(p.x) + 7, Y(p.y) - 5, p.name, "start", 11, p.color);
  }
  return svg.str();
}

}  // namespace masnn::analysis::svg
