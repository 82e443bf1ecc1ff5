// `masnn inspect FILE [--format F] [--json OUT]`: what an event file holds (format, camera and sensor, events,
// duration, resolution, polarity balance, triggers and other streams skipped, and for a DVS128 Gesture recording
// its labelled segments).
#include <cstdio>
#include <filesystem>
#include <string>

#include "checks.h"
#include "command.h"
#include "json_output.h"
#include "masnn/data/event_file.h"
#include "masnn/data/gesture_labels.h"

namespace {

struct InspectArgs {
  InspectArgs() { read.threads = 0; }  // one file read alone: compressed packets decompressed on every thread
  std::string file, format, json;
  masnn::data::EventReadOptions read;
};

void inspect(const InspectArgs& a) {
  namespace md = masnn::data;
  const masnn::cli::JsonOutput json_out(a.json, "inspect");
  const md::EventFormat format = a.format.empty() ? md::detect_format(a.file) : md::parse_format_key(a.format);
  md::EventReadStats stats;
  const md::Events events = md::read_events(a.file, format, a.read, &stats);
  const md::EventSummary s = md::summarize(events);
  nlohmann::json j = {{"file", a.file},
                      {"format", md::format_name(format)},
                      {"events", s.count},
                      {"on", s.on},
                      {"off", s.off},
                      {"t_first_us", s.t_first},
                      {"t_last_us", s.t_last},
                      {"duration_us", s.duration()},
                      {"width_seen", s.width_seen},
                      {"height_seen", s.height_seen},
                      {"sensor_width", stats.sensor_width},
                      {"sensor_height", stats.sensor_height},
                      {"camera", stats.source},
                      {"backwards", stats.backwards},
                      {"timestamp_wraps", stats.timestamp_wraps},
                      {"triggers", stats.triggers},
                      {"invalid_dropped", stats.invalid_dropped},
                      {"out_of_range_dropped", stats.out_of_range_dropped},
                      {"packets", stats.packets},
                      {"other_streams", stats.other_streams}};
  std::printf("file:        %s\n", a.file.c_str());
  std::printf("format:      %s\n", md::format_name(format).c_str());
  if (!stats.source.empty()) std::printf("camera:      %s\n", stats.source.c_str());
  if (stats.sensor_width > 0)
    std::printf("sensor:      %d x %d (stated by the file)\n", stats.sensor_width, stats.sensor_height);
  std::printf("events:      %zu\n", s.count);
  if (format == md::EventFormat::Aedat3 || format == md::EventFormat::Aedat4)
    std::printf("packets:     %zu (%zu of other streams or event types skipped)\n", stats.packets,
                stats.skipped_packets);
  for (const auto& [stream, packets] : stats.other_streams)
    std::printf("skipped:     %s, %zu packets\n", stream.c_str(), packets);
  if (stats.triggers > 0) std::printf("triggers:    %zu (counted, not read as events)\n", stats.triggers);
  if (stats.invalid_dropped > 0)
    std::printf("dropped:     %zu events marked invalid or before the first time base\n", stats.invalid_dropped);
  if (stats.other_words > 0) std::printf("skipped:     %zu words of other kinds\n", stats.other_words);
  if (stats.out_of_range_dropped > 0)
    std::printf("warning:     %zu events outside %d x %d dropped\n", stats.out_of_range_dropped, a.read.width,
                a.read.height);
  if (stats.backwards > 0)
    std::printf("warning:     %zu timestamps went backwards (events sorted by time)\n", stats.backwards);
  if (stats.timestamp_wraps > 0) std::printf("note:        %zu timestamp wrap-arounds unwrapped\n", stats.timestamp_wraps);
  if (s.count > 0) {
    std::printf("time:        %lld .. %lld us (duration %.3f s)\n", static_cast<long long>(s.t_first),
                static_cast<long long>(s.t_last), static_cast<double>(s.duration()) * 1e-6);
    std::printf(
        "rate:        %.1f k events/s\n",
        s.duration() > 0 ? static_cast<double>(s.count) / (static_cast<double>(s.duration()) * 1e-6) / 1e3 : 0.0);
    std::printf("resolution:  %d x %d (max x + 1, max y + 1)\n", s.width_seen, s.height_seen);
    std::printf("polarity:    %zu ON (%.1f%%), %zu OFF (%.1f%%)\n", s.on,
                100.0 * static_cast<double>(s.on) / static_cast<double>(s.count), s.off,
                100.0 * static_cast<double>(s.off) / static_cast<double>(s.count));
  }
  const std::string labels = md::gesture_labels_path(a.file);
  if (s.count > 0 && format == md::EventFormat::Aedat3 && std::filesystem::exists(labels)) {
    const auto segments = md::read_gesture_labels(labels);
    const auto& names = md::gesture_class_names();
    std::printf("segments:    %zu (from %s)\n", segments.size(), labels.c_str());
    std::printf("  %-3s %-31s %12s %12s %8s %9s\n", "#", "class", "start_us", "end_us", "seconds", "events");
    nlohmann::json js = nlohmann::json::array();
    for (size_t k = 0; k < segments.size(); ++k) {
      const auto& seg = segments[k];
      const size_t n = events.lower_bound(seg.end_us) - events.lower_bound(seg.start_us);
      std::printf("  %-3zu %2d %-28s %12lld %12lld %8.3f %9zu\n", k + 1, seg.label + 1,
                  names[static_cast<size_t>(seg.label)].c_str(), static_cast<long long>(seg.start_us),
                  static_cast<long long>(seg.end_us), static_cast<double>(seg.end_us - seg.start_us) * 1e-6, n);
      js.push_back({{"class", names[static_cast<size_t>(seg.label)]},
                    {"start_us", seg.start_us},
                    {"end_us", seg.end_us},
                    {"events", n}});
    }
    j["segments"] = js;
  }
  json_out.write(j);
}

masnn::cli::RegisterCommand reg([](CLI::App& app) {
  auto a = std::make_shared<InspectArgs>();
  auto* sub = app.add_subcommand(
      "inspect", "Describe an event file (AEDAT 2.0/3.1/4.0, Prophesee EVT 2.0/3.0 and DAT, N-MNIST .bin, Gait text)");
  sub->add_option("FILE", a->file, "Event file")->required();
  sub->add_option("--format", a->format,
                  "The file's format when it cannot be detected: aedat3, aedat2, gait-text, aedat4, evt2, evt3, dat, "
                  "nmnist-bin (default: detected from the first bytes, or a .bin name)");
  sub->add_option("--json", a->json, "Also write what is printed to this JSON file");
  sub->add_option("--width", a->read.width,
                  "Sensor width: events with x >= width are dropped and counted (0 = no check)")
      ->check(masnn::cli::non_negative());
  sub->add_option("--height", a->read.height,
                  "Sensor height: events with y >= height are dropped and counted (0 = no check)")
      ->check(masnn::cli::non_negative());
  sub->callback([a] { inspect(*a); });
});

}  // namespace
