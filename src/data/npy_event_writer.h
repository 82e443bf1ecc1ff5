// The .npy event writer (see masnn/data/event_writer.h).
#pragma once

#include <memory>
#include <string>

#include "masnn/data/event_writer.h"

namespace masnn::data {

std::unique_ptr<EventFileWriter> make_npy_event_writer(const std::string& path);

}  // namespace masnn::data
