// Header collection and record carry-over for fixed-record event formats.
#include "record_decoder.h"

#include <algorithm>
#include <cstring>
#include <stdexcept>

namespace masnn::data {

void RecordDecoder::feed(const uint8_t* data, size_t size, Events& out) {
  const size_t before = out.size();
  if (!header_done_) {
    // Parse in place when the whole header is in this piece (the mapped-file case); else collect it.
    const bool collected = !head_.empty();
    if (collected) head_.insert(head_.end(), data, data + size);
    const uint8_t* head = collected ? head_.data() : data;
    const size_t head_size = collected ? head_.size() : size;
    const size_t length = parse_header(head, head_size, false);
    if (length == kNeedMore) {
      if (head_size > kMaxHeaderBytes) fail(0, "no end of the header within " + std::to_string(kMaxHeaderBytes) + " bytes");
      if (!collected) head_.assign(data, data + size);
      offset_ += size;
      return;
    }
    header_done_ = true;
    const uint64_t start = offset_ + size - head_size;  // offset of head[0]
    offset_ = start + length;
    if (!collected) {
      feed_records(data + length, size - length, out);  // in place: no copy of a mapped file
    } else {
      std::vector<uint8_t> rest(head + length, head + head_size);
      head_.clear();
      head_.shrink_to_fit();
      feed_records(rest.data(), rest.size(), out);
    }
  } else {
    feed_records(data, size, out);
  }
  stats_.events += out.size() - before;
}

void RecordDecoder::feed_records(const uint8_t* data, size_t size, Events& out) {
  carry_.resize(record_size_);
  if (carry_fill_ > 0) {
    const size_t take = std::min(record_size_ - carry_fill_, size);
    if (take == 0) return;
    std::memcpy(carry_.data() + carry_fill_, data, take);
    carry_fill_ += take;
    data += take;
    size -= take;
    offset_ += take;
    if (carry_fill_ < record_size_) return;
    decode(carry_.data(), 1, offset_ - record_size_, out);
    carry_fill_ = 0;
  }
  const size_t count = size / record_size_;
  for (size_t done = 0; done < count; done += kChunkRecords)
    decode(data + done * record_size_, std::min(kChunkRecords, count - done), offset_ + done * record_size_, out);
  offset_ += count * record_size_;
  carry_fill_ = size - count * record_size_;
  if (carry_fill_ > 0) std::memcpy(carry_.data(), data + count * record_size_, carry_fill_);
  offset_ += carry_fill_;
}

void RecordDecoder::finish(Events& out) {
  const size_t before = out.size();
  if (!header_done_) {
    const size_t length = parse_header(head_.data(), head_.size(), true);
    if (length == kNeedMore) fail(offset_, "the input ended inside the header");
    header_done_ = true;
    std::vector<uint8_t> rest(head_.begin() + static_cast<std::ptrdiff_t>(length), head_.end());
    offset_ = length;
    head_.clear();
    feed_records(rest.data(), rest.size(), out);
  }
  stats_.events += out.size() - before;
  if (carry_fill_ > 0)
    fail(offset_ - carry_fill_, "truncated record (" + std::to_string(carry_fill_) + " bytes, " +
                                    std::to_string(record_size_) + " expected)");
}

}  // namespace masnn::data
