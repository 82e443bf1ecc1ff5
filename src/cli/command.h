// How subcommands join the `masnn` command: each src/cli/cmd_*.cpp registers a setup function that adds
// its subcommand (options and callback) to the CLI11 app. The CLI stays thin: parse, call the library, print.
#pragma once

#include <CLI/CLI.hpp>

#include <functional>
#include <vector>

namespace masnn::cli {

using CommandSetup = std::function<void(CLI::App& app)>;

/// All registered setups, in registration order.
std::vector<CommandSetup>& command_setups();

/// A static instance of this in a cmd_*.cpp file registers its subcommand.
struct RegisterCommand {
  explicit RegisterCommand(CommandSetup setup) { command_setups().push_back(std::move(setup)); }
};

/// Setups of the `masnn bench` subcommands: each adds one subcommand to the given `bench` app. A static
/// RegisterBench in any src/cli/*.cpp file adds a benchmark without touching the others.
std::vector<CommandSetup>& bench_setups();

struct RegisterBench {
  explicit RegisterBench(CommandSetup setup) { bench_setups().push_back(std::move(setup)); }
};

}  // namespace masnn::cli
