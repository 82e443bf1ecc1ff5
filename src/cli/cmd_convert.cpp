// `masnn convert IN OUT`: an event file of any readable format to .npy (for Python tools), AEDAT 3.1, AEDAT 4.0 or
// N-MNIST binary, optionally cut to a time range and rebased.
#include <cstdio>
#include <limits>
#include <string>

#include "checks.h"
#include "command.h"
#include "masnn/data/event_convert.h"

namespace {

struct ConvertArgs {
  std::string input, output, format, to, compression = "lz4";
  int64_t from_us = std::numeric_limits<int64_t>::min(), to_us = std::numeric_limits<int64_t>::max();
  bool rebase = false;
  int width = 0, height = 0;
};

void convert(const ConvertArgs& a) {
  namespace md = masnn::data;
  md::ConvertOptions o;
  if (!a.format.empty()) o.input_format = md::parse_format_key(a.format);
  if (!a.to.empty()) o.output = md::parse_output_format(a.to);
  o.from_us = a.from_us;
  o.to_us = a.to_us;
  o.rebase = a.rebase;
  o.writer.width = a.width;
  o.writer.height = a.height;
  o.writer.compression = a.compression;
  const md::ConvertSummary s = md::convert_events(a.input, a.output, o);
  std::printf("%s (%s) -> %s: %zu of %zu events written", a.input.c_str(), md::format_name(s.input_format).c_str(),
              a.output.c_str(), s.events_written, s.events_read);
  if (s.events_written > 0)
    std::printf(", t %lld .. %lld us", static_cast<long long>(s.t_first), static_cast<long long>(s.t_last));
  std::printf("\n");
  if (s.read.triggers > 0) std::printf("note: %zu trigger events not converted\n", s.read.triggers);
  for (const auto& [stream, packets] : s.read.other_streams)
    std::printf("note: %s not converted (%zu packets)\n", stream.c_str(), packets);
}

masnn::cli::RegisterCommand reg([](CLI::App& app) {
  auto a = std::make_shared<ConvertArgs>();
  auto* sub = app.add_subcommand("convert", "Convert an event file to .npy (t, x, y, p), AEDAT 3.1, AEDAT 4.0 or N-MNIST .bin");
  sub->add_option("IN", a->input, "Event file of any readable format (see `masnn inspect`)")->required();
  sub->add_option("OUT", a->output, "Output file: .npy, .aedat4, .aedat (AEDAT 3.1) or .bin (N-MNIST)")->required();
  sub->add_option("--format", a->format, "The input's format when it cannot be detected (see `masnn inspect --help`)");
  sub->add_option("--to", a->to, "Output format, instead of the output's extension: npy, aedat3, aedat4, nmnist-bin");
  sub->add_option("--from-us", a->from_us, "Keep events with t >= this (microseconds, as the file encodes them)");
  sub->add_option("--to-us", a->to_us, "Keep events with t < this (microseconds)");
  sub->add_flag("--rebase", a->rebase, "Subtract the first kept event's timestamp (the output starts at t = 0)");
  sub->add_option("--width", a->width, "Sensor width stated in an AEDAT 4 output (default: the input's)")
      ->check(masnn::cli::non_negative());
  sub->add_option("--height", a->height, "Sensor height stated in an AEDAT 4 output (default: the input's)")
      ->check(masnn::cli::non_negative());
  sub->add_option("--compression", a->compression, "AEDAT 4 packet compression: none, lz4, lz4-high, zstd, zstd-high")
      ->check(CLI::IsMember({"none", "lz4", "lz4-high", "zstd", "zstd-high"}));
  sub->callback([a] { convert(*a); });
});

}  // namespace
