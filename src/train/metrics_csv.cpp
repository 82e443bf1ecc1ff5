// Per-epoch metrics CSV (see the header).
#include "masnn/train/metrics_csv.h"

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <set>
#include <stdexcept>
#include <system_error>

#include <fmt/format.h>

#include <sstream>

#include "masnn/util/file_io.h"

namespace masnn::train {

namespace {

std::string join(const std::vector<std::string>& columns) {
  std::string line;
  for (size_t i = 0; i < columns.size(); ++i) {
    if (i > 0) line += ',';
    line += columns[i];
  }
  return line;
}

}  // namespace

MetricsCsv::MetricsCsv(const std::string& path, std::vector<std::string> columns, bool append)
    : path_(path), columns_(std::move(columns)) {
  namespace fs = std::filesystem;
  if (columns_.empty()) throw std::invalid_argument(fmt::format("metrics CSV {}: no columns given", path_));
  std::set<std::string> seen;
  for (const auto& column : columns_) {
    if (column.empty() || column.find_first_of(",\"\r\n") != std::string::npos) {
      throw std::invalid_argument(
          fmt::format("metrics CSV {}: column name '{}' must be non-empty and free of commas, quotes and line breaks",
                      path_, column));
    }
    if (!seen.insert(column).second) {
      throw std::invalid_argument(fmt::format("metrics CSV {}: column '{}' given twice", path_, column));
    }
  }
  const std::string header = join(columns_);

  const fs::path parent = fs::path(path_).parent_path();
  if (!parent.empty()) {
    std::error_code ec;
    fs::create_directories(parent, ec);
    if (ec) {
      throw std::runtime_error(
          fmt::format("metrics CSV {}: cannot create directory {} ({})", path_, parent.string(), ec.message()));
    }
  }

  bool write_header = true;
  bool needs_newline = false;
  std::error_code ec;
  if (append && fs::is_regular_file(path_, ec) && fs::file_size(path_, ec) > 0 && !ec) {
    std::ifstream in(path_, std::ios::binary);
    if (!in) throw std::runtime_error(fmt::format("metrics CSV {}: cannot read it ({})", path_, std::strerror(errno)));
    std::string first;
    std::getline(in, first);
    if (!first.empty() && first.back() == '\r') first.pop_back();
    if (first != header) {
      throw std::runtime_error(
          fmt::format("metrics CSV {}: cannot append, its header '{}' differs from the expected columns '{}'; "
                      "use a new file or the same columns",
                      path_, first, header));
    }
    // A run killed in the middle of a row leaves no final newline; start the next row on a line of its own.
    in.clear();
    in.seekg(-1, std::ios::end);
    char last = '\n';
    in.get(last);
    needs_newline = last != '\n';
    write_header = false;
  }

  file_.open(path_, append ? std::ios::binary | std::ios::out | std::ios::app
                           : std::ios::binary | std::ios::out | std::ios::trunc);
  if (!file_) throw std::runtime_error(fmt::format("metrics CSV {}: cannot open it ({})", path_, std::strerror(errno)));
  if (needs_newline) file_ << '\n';
  if (write_header) file_ << header << '\n';
  file_.flush();
  if (!file_) throw std::runtime_error(fmt::format("metrics CSV {}: write failed", path_));
}

void MetricsCsv::drop_rows_after(const std::string& path, double last) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return;
  std::string kept, line;
  bool header = true, dropped = false;
  while (std::getline(in, line)) {
    if (line.empty()) continue;
    bool keep = header;
    if (!header) {
      std::istringstream field(line.substr(0, line.find(',')));
      double epoch = 0;
      keep = !(field >> epoch) || epoch <= last;  // a row that does not parse is kept, not judged
    }
    header = false;
    if (keep)
      kept += line + "\n";
    else
      dropped = true;
  }
  if (dropped) write_file_atomic(path, std::vector<uint8_t>(kept.begin(), kept.end()));
}

void MetricsCsv::write_row(const std::map<std::string, double>& values) {
  for (const auto& entry : values) {
    bool known = false;
    for (const auto& column : columns_) known = known || column == entry.first;
    if (!known) {
      throw std::invalid_argument(
          fmt::format("metrics CSV {}: unknown metric '{}' (columns: {})", path_, entry.first, join(columns_)));
    }
  }
  std::string line;
  for (size_t i = 0; i < columns_.size(); ++i) {
    if (i > 0) line += ',';
    const auto it = values.find(columns_[i]);
    if (it != values.end()) line += fmt::format("{}", it->second);
  }
  line += '\n';
  file_.write(line.data(), static_cast<std::streamsize>(line.size()));
  file_.flush();
  if (!file_) throw std::runtime_error(fmt::format("metrics CSV {}: write failed ({})", path_, std::strerror(errno)));
}

}  // namespace masnn::train
