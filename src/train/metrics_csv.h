// Per-epoch metrics as a CSV file: one header line with the column names, then one row per write_row call.
// Each row is flushed as written, so a killed run keeps every finished row.
#pragma once

#include <fstream>
#include <map>
#include <string>
#include <vector>

namespace masnn::train {

/// A metrics CSV read back (MetricsCsv::read).
struct MetricsTable {
  std::string path;
  std::vector<std::string> columns;
  /// One value per column and row; NaN for an empty field (a metric the epoch did not measure) or `nan`.
  std::vector<std::vector<double>> rows;
  /// The index of column `name`. Throws std::runtime_error naming the file and the column when there is none.
  size_t column(const std::string& name) const;
};

/// Appends rows of named numbers to a CSV file with a fixed set of columns.
class MetricsCsv {
 public:
  /// Opens `path` (creating parent directories). `columns` must be non-empty, unique and free of ',', '"' and
  /// line breaks (else std::invalid_argument naming the column). With `append` false the file is truncated and
  /// the header written; with `append` true an existing non-empty file keeps its rows and its first line must
  /// equal the header of `columns` (else std::runtime_error naming the file and both headers), and a missing or
  /// empty file gets the header. Throws std::runtime_error naming the file when it cannot be opened or written.
  MetricsCsv(const std::string& path, std::vector<std::string> columns, bool append);

  /// Writes one row: each column's value from `values` (printed with the shortest text that reads back to the
  /// same double; NaN as `nan`), an empty field for a column missing from `values`. A key that is not a column
  /// throws std::invalid_argument naming the key, and nothing is written.
  void write_row(const std::map<std::string, double>& values);

  /// Keeps the header and the rows whose first field (the epoch) is at most `last`, rewriting `path` atomically;
  /// nothing when the file is missing. A resumed run calls it so that rows of epochs its checkpoint does not hold
  /// (written before a kill) are not kept twice.
  static void drop_rows_after(const std::string& path, double last);

  /// Reads a file that MetricsCsv wrote. Throws std::runtime_error naming the file (and the line) when it cannot
  /// be read, is empty, or has a row whose field count differs from the header's or a field that is not a number.
  static MetricsTable read(const std::string& path);

  /// The file's path.
  const std::string& path() const { return path_; }
  /// The columns, in file order.
  const std::vector<std::string>& columns() const { return columns_; }

 private:
  std::string path_;
  std::vector<std::string> columns_;
  std::ofstream file_;
};

}  // namespace masnn::train
