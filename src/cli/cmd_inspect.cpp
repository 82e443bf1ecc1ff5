// `masnn inspect FILE`: what an event file holds (format, events, duration, resolution, polarity balance,
// and for a DVS128 Gesture recording its labelled segments).
#include <cstdio>
#include <filesystem>
#include <string>

#include "checks.h"
#include "command.h"
#include "masnn/data/event_file.h"
#include "masnn/data/gesture_labels.h"

namespace {

masnn::cli::RegisterCommand reg([](CLI::App& app) {
  auto file = std::make_shared<std::string>();
  auto read = std::make_shared<masnn::data::EventReadOptions>();
  auto* sub = app.add_subcommand("inspect", "Describe an event file (AEDAT 3.1, AEDAT 2.0, Gait text)");
  sub->add_option("FILE", *file, "Event file")->required();
  sub->add_option("--width", read->width, "Sensor width: events with x >= width are dropped and counted (0 = no check)")
      ->check(masnn::cli::non_negative());
  sub->add_option("--height", read->height,
                  "Sensor height: events with y >= height are dropped and counted (0 = no check)")
      ->check(masnn::cli::non_negative());
  sub->callback([file, read] {
    namespace md = masnn::data;
    const md::EventFormat format = md::detect_format(*file);
    md::EventReadStats stats;
    const md::Events events = md::read_events(*file, format, *read, &stats);
    const md::EventSummary s = md::summarize(events);
    std::printf("file:        %s\n", file->c_str());
    std::printf("format:      %s\n", md::format_name(format).c_str());
    std::printf("events:      %zu\n", s.count);
    if (format == md::EventFormat::Aedat3)
      std::printf("packets:     %zu (%zu of other event types skipped, %zu invalid events dropped)\n", stats.packets,
                  stats.skipped_packets, stats.invalid_dropped);
    if (stats.out_of_range_dropped > 0)
      std::printf("warning:     %zu events outside %d x %d dropped\n", stats.out_of_range_dropped, read->width,
                  read->height);
    if (stats.backwards > 0)
      std::printf("warning:     %zu timestamps went backwards (events sorted by time)\n", stats.backwards);
    if (stats.timestamp_wraps > 0)
      std::printf("note:        %zu timestamp wrap-arounds unwrapped\n", stats.timestamp_wraps);
    if (s.count == 0) return;
    std::printf("time:        %lld .. %lld us (duration %.3f s)\n", static_cast<long long>(s.t_first),
                static_cast<long long>(s.t_last), static_cast<double>(s.duration()) * 1e-6);
    std::printf(
        "rate:        %.1f k events/s\n",
        s.duration() > 0 ? static_cast<double>(s.count) / (static_cast<double>(s.duration()) * 1e-6) / 1e3 : 0.0);
    std::printf("resolution:  %d x %d (max x + 1, max y + 1)\n", s.width_seen, s.height_seen);
    std::printf("polarity:    %zu ON (%.1f%%), %zu OFF (%.1f%%)\n", s.on,
                100.0 * static_cast<double>(s.on) / static_cast<double>(s.count), s.off,
                100.0 * static_cast<double>(s.off) / static_cast<double>(s.count));
    const std::string labels = md::gesture_labels_path(*file);
    if (format == md::EventFormat::Aedat3 && std::filesystem::exists(labels)) {
      const auto segments = md::read_gesture_labels(labels);
      const auto& names = md::gesture_class_names();
      std::printf("segments:    %zu (from %s)\n", segments.size(), labels.c_str());
      std::printf("  %-3s %-31s %12s %12s %8s %9s\n", "#", "class", "start_us", "end_us", "seconds", "events");
      for (size_t k = 0; k < segments.size(); ++k) {
        const auto& seg = segments[k];
        const size_t n = events.lower_bound(seg.end_us) - events.lower_bound(seg.start_us);
        std::printf("  %-3zu %2d %-28s %12lld %12lld %8.3f %9zu\n", k + 1, seg.label + 1,
                    names[static_cast<size_t>(seg.label)].c_str(), static_cast<long long>(seg.start_us),
                    static_cast<long long>(seg.end_us), static_cast<double>(seg.end_us - seg.start_us) * 1e-6, n);
      }
    }
  });
});

}  // namespace
