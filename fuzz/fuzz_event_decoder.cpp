// libFuzzer target, one per incrementally decoded format (MASNN_FUZZ_FORMAT names it: fuzz_evt2, fuzz_evt3,
// fuzz_dat, fuzz_nmnist_bin, fuzz_aedat4): any bytes give events or one clear exception, never a crash; and bytes
// fed in pieces (sizes drawn from the input's first byte), or with AEDAT 4 packets decompressed in batches, give
// exactly the events of one feed.
#include <cstddef>
#include <cstdint>
#include <stdexcept>

#include "masnn/data/event_decoder.h"

namespace {

bool decode(const uint8_t* data, size_t size, size_t piece, masnn::data::Events& out, int threads = 1) {
  try {
    masnn::data::EventReadOptions options;
    options.threads = threads;
    auto decoder = masnn::data::make_event_decoder(masnn::data::EventFormat::MASNN_FUZZ_FORMAT, "fuzz input", options);
    for (size_t i = 0; i < size; i += piece) decoder->feed(data + i, std::min(piece, size - i), out);
    decoder->finish(out);
    return true;
  } catch (const std::runtime_error&) {
  } catch (const std::invalid_argument&) {
  }
  return false;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const size_t piece = 1 + data[0] % 61;
  masnn::data::Events whole, pieces, batched;
  const bool ok_whole = decode(data + 1, size - 1, size, whole);
  const bool ok_pieces = decode(data + 1, size - 1, piece, pieces);
  const bool ok_batched = decode(data + 1, size - 1, size, batched, 2);  // AEDAT 4: packets decompressed at once
  const auto same = [&](const masnn::data::Events& e) {
    return e.t == whole.t && e.x == whole.x && e.y == whole.y && e.p == whole.p;
  };
  if (ok_whole != ok_pieces || ok_whole != ok_batched || (ok_whole && (!same(pieces) || !same(batched))))
    __builtin_trap();  // decoding in pieces or with threads must not change the result
  return 0;
}
