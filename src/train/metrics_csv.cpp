// Per-epoch metrics CSV (see the header).
#include "train/metrics_csv.h"

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <limits>
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

size_t MetricsTable::column(const std::string& name) const {
  for (size_t c = 0; c < columns.size(); ++c)
    if (columns[c] == name) return c;
  throw std::runtime_error(fmt::format("{}: no column '{}' (columns: {})", path, name, join(columns)));
}

MetricsTable MetricsCsv::read(const std::string& path) {
  const std::vector<uint8_t> bytes = read_file_bytes(path);
  std::istringstream in(std::string(bytes.begin(), bytes.end()));
  MetricsTable table;
  table.path = path;
  std::string line;
  size_t number = 0;
  const auto fields = [](const std::string& text) {
    std::vector<std::string> out(1);
    for (char ch : text) {
      if (ch == ',')
        out.emplace_back();
      else
        out.back().push_back(ch);
    }
    return out;
  };
  while (std::getline(in, line)) {
    ++number;
    if (line.empty()) continue;
    if (table.columns.empty()) {
      table.columns = fields(line);
      continue;
    }
    const std::vector<std::string> cells = fields(line);
    if (cells.size() != table.columns.size())
      throw std::runtime_error(fmt::format("{}: line {} has {} fields, the header {}", path, number, cells.size(),
                                           table.columns.size()));
    std::vector<double>& row = table.rows.emplace_back();
    for (const std::string& cell : cells) {
      if (cell.empty()) {
        row.push_back(std::numeric_limits<double>::quiet_NaN());
        continue;
      }
      char* end = nullptr;
      row.push_back(std::strtod(cell.c_str(), &end));
      if (end != cell.c_str() + cell.size())
        throw std::runtime_error(fmt::format("{}: line {}: '{}' is not a number", path, number, cell));
    }
  }
  if (table.columns.empty()) throw std::runtime_error(path + ": empty (no header line)");
  return table;
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
