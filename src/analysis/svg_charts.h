// Charts as inline SVG for the self-contained HTML pages (the analysis report, the sweep's page): bars, lines and a
// scatter with error bars, on axes from 0 with 1-2-5 ticks. Text is escaped for HTML.
#pragma once

#include <cstddef>
#include <string>
#include <utility>
#include <vector>

namespace masnn::analysis::svg {

/// `text` with &, <, >, " escaped for HTML and SVG.
std::string escape(const std::string& text);
/// The i-th colour of the palette (it repeats after 10).
const char* color(size_t i);
/// The smallest 1, 2 or 5 x 10^k at or above v (v > 0); 1 for v <= 0.
double nice_ceiling(double v);
/// A short label of a number: 3 significant digits, k/M/G for large ones.
std::string short_number(double v);

/// An axis from 0: its end and tick step (1, 2 or 5 x 10^k), at most 5 steps, the end at or above v.
struct Axis {
  double max = 1, step = 0.25;
};
Axis axis_for(double v);

/// An SVG picture built element by element.
class Svg {
 public:
  Svg(double width, double height, const std::string& label);
  void rect(double x, double y, double w, double h, const std::string& fill, const std::string& title = "");
  void line(double x1, double y1, double x2, double y2, const std::string& stroke, double width = 1,
            const std::string& dash = "");
  void text(double x, double y, const std::string& s, const std::string& anchor = "start", int size = 12,
            const std::string& fill = "#222");
  void polyline(const std::vector<std::pair<double, double>>& points, const std::string& stroke, double width = 2,
                const std::string& dash = "");
  void circle(double x, double y, double r, const std::string& fill, const std::string& title = "");
  /// Appends SVG markup as it is.
  void raw(const std::string& s) { body_ += s; }
  std::string str() const { return body_ + "</svg>\n"; }
  double width() const { return width_; }
  double height() const { return height_; }

 private:
  double width_, height_;
  std::string body_;
};

/// A legend swatch: a box, or a line when `dash` is set.
struct LegendItem {
  std::string color, name, dash;
};
/// Lays out the swatches from (x, y) in rows no wider than `width` (drawn into `svg` unless null); returns the rows.
int legend(Svg* svg, double x, double y, double width, const std::vector<LegendItem>& items);

/// One named series of values.
struct Series {
  std::string name, color;
  std::vector<double> values;  ///< NaN: no value
  std::string dash;            ///< lines only
};

/// Horizontal bars, one group per label and one bar per series; values written beside the bars (`value_format`, a
/// fmt format of one number).
std::string bar_chart(const std::string& label, const std::vector<std::string>& labels,
                      const std::vector<Series>& series, const std::string& value_format);

/// Lines over x = x_first .. x_first + n - 1 from y = 0, with axes and a legend; y up to `fixed_max` when given.
std::string line_chart(const std::string& label, const std::vector<Series>& series, const std::string& y_label,
                       double fixed_max = 0, double plot_w = 520, double plot_h = 200,
                       const std::string& x_label = "time step t", int x_first = 0);

/// A point with error bars (half-widths; 0 = none).
struct ScatterPoint {
  std::string name, color;
  double x = 0, y = 0, x_error = 0, y_error = 0;
};
/// Points on axes from 0 (x) and from the smallest y - error rounded down (y), each labelled with its name.
std::string scatter_chart(const std::string& label, const std::vector<ScatterPoint>& points, const std::string& x_label,
                          const std::string& y_label);

}  // namespace masnn::analysis::svg
