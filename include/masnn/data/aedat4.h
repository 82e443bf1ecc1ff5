// AEDAT 4.0, the format of iniVation's DV software and cameras (DVXplorer, DAVIS346; REFERENCE.md 4.6).
//
// File: the line `#!AER-DAT4.0\r\n`; a size-prefixed FlatBuffer header (IOHeader: the packet compression, the
// position of the data table, and an XML description of the streams: id, type such as EVTS/FRME/IMUS/TRIG, sensor
// size, camera name); then packets, each an 8-byte header (int32 stream id, int32 body size) and a body compressed
// as one LZ4 or Zstd frame (or stored) holding a size-prefixed FlatBuffer; then, optionally, the data table (one
// entry per packet, compressed likewise). Polarity events are 16-byte structs: int64 t (us, Unix time), int16 x,
// int16 y, bool on. masnn reads the polarity events of the event stream with the lowest id; frames, IMU samples,
// triggers and other event streams are skipped by their size and reported.
#pragma once

#include <memory>
#include <string>

#include "masnn/data/event_decoder.h"
#include "masnn/data/event_writer.h"

namespace masnn::data {

/// A decoder of AEDAT 4.0 bytes (see make_event_decoder). Packets are decoded whole, as their last byte arrives.
std::unique_ptr<EventDecoder> make_aedat4_decoder(const std::string& name, const EventReadOptions& options = {});

/// A writer of AEDAT 4.0 files: one polarity-event stream, packets of up to 8192 events compressed as
/// options.compression says, and a data table. Timestamps are written as given (AEDAT 4 files hold Unix time).
std::unique_ptr<EventFileWriter> make_aedat4_event_writer(const std::string& path, const EventWriterOptions& options = {});

/// Most bytes one packet may inflate to; a packet stating more is refused before it is inflated.
constexpr size_t kAedat4MaxPacketBytes = size_t{256} << 20;

}  // namespace masnn::data
