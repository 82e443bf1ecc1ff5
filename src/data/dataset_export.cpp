// Writing an event dataset's samples to files in N-MNIST's folder layout, on several threads.
#include "masnn/data/dataset_export.h"

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <mutex>

#include "util/parallel.h"

namespace masnn::data {

ExportReport export_event_dataset(const EventDataset& dataset, const std::string& folder, const ExportOptions& options) {
  namespace fs = std::filesystem;
  const size_t total = options.limit > 0 ? std::min(options.limit, dataset.size()) : dataset.size();
  const std::string extension = output_extension(options.format);
  for (int label = 0; label < dataset.num_classes(); ++label) fs::create_directories(fs::path(folder) / std::to_string(label));
  ExportReport report;
  std::mutex mutex;
  parallel_tasks(total, std::max(1, options.workers), [&](size_t i) {
    char name[32];
    std::snprintf(name, sizeof name, "%05zu", i + 1);
    const fs::path path = fs::path(folder) / std::to_string(dataset.label(i)) / (name + extension);
    const Events events = dataset.events(i);
    EventWriterOptions stated;
    stated.width = dataset.width();
    stated.height = dataset.height();
    const uint64_t bytes = write_event_file(path.string(), events, options.format, stated);
    std::lock_guard<std::mutex> lock(mutex);
    report.add(events.size(), bytes);
    if (options.progress) options.progress(report.files, total);
  });
  return report;
}

}  // namespace masnn::data
