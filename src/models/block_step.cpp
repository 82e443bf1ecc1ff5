// The recurrent state of a block for step-at-a-time inference: the causal attention's rings and the rows' windows.
#include "models/block_step.h"

#include <torch/torch.h>

#include <algorithm>

namespace masnn {

namespace {

// A ring of `capacity` steps stored twice, [2*capacity, ...]: the last n steps are one slice. Writes `v` as the
// step in slot `next` (allocating the ring when missing or of another shape; undefined `v` = nothing to keep).
void ring_write(torch::Tensor& ring, const torch::Tensor& v, int64_t capacity, int64_t next) {
  if (!v.defined()) {
    ring = torch::Tensor();
    return;
  }
  std::vector<int64_t> shape{2 * capacity};
  shape.insert(shape.end(), v.sizes().begin(), v.sizes().end());
  if (!ring.defined() || ring.sizes() != c10::IntArrayRef(shape) || ring.scalar_type() != v.scalar_type())
    ring = torch::zeros(shape, v.options());
  ring[next].copy_(v);
  ring[next + capacity].copy_(v);
}

// The last n steps of a ring (ending one before `end`), rows `rows` (all when undefined).
torch::Tensor ring_window(const torch::Tensor& ring, int64_t end, int64_t n, const torch::Tensor& rows) {
  if (!ring.defined()) return ring;
  const torch::Tensor w = ring.slice(0, end - n, end);
  return rows.defined() ? w.index_select(1, rows) : w;
}

}  // namespace

// Step-at-a-time inference: keeps the attention input y [B,...] of this step and its statistics in the rings of
// `st` and returns the attended step, MultiDimAttention::forward_causal over each row's window (computed from the
// kept statistics; rows grouped by window length).
torch::Tensor attend_causal(MultiDimAttentionImpl& attention, BlockStepState& st, const torch::Tensor& y,
                            int64_t capacity) {
  const int64_t B = y.size(0);
  if (st.capacity != capacity) {
    st.history = st.stat_mean = st.stat_max = st.stat_channel_sum = st.stat_channel_max = torch::Tensor();
    st.capacity = capacity;
    st.next = 0;
  }
  // The inputs themselves are needed only by SA pooled over time (its maps use the current CA weights).
  const bool keep_inputs = attention.sa && !attention.options.per_step();
  const CausalStepStatistics stats = attention.causal_statistics(y);
  ring_write(st.history, keep_inputs ? y : torch::Tensor(), capacity, st.next);
  ring_write(st.stat_mean, stats.mean, capacity, st.next);
  ring_write(st.stat_max, stats.max, capacity, st.next);
  ring_write(st.stat_channel_sum, stats.channel_sum, capacity, st.next);
  ring_write(st.stat_channel_max, stats.channel_max, capacity, st.next);
  const int64_t end = st.next + capacity + 1;  // one past the current step: [end - n, end) = the last n steps
  st.next = (st.next + 1) % capacity;
  auto attend = [&](int64_t n, const torch::Tensor& rows) {
    torch::Tensor window;
    if (keep_inputs) {
      window = ring_window(st.history, end, n, rows);
    } else {  // only the current step is read: a view repeating it n times
      const torch::Tensor cur = rows.defined() ? y.index_select(0, rows) : y;
      std::vector<int64_t> shape{n};
      shape.insert(shape.end(), cur.sizes().begin(), cur.sizes().end());
      window = cur.unsqueeze(0).expand(shape);
    }
    return attention.forward_causal_cached(
        window, ring_window(st.stat_mean, end, n, rows), ring_window(st.stat_max, end, n, rows),
        ring_window(st.stat_channel_sum, end, n, rows), ring_window(st.stat_channel_max, end, n, rows));
  };
  std::vector<int64_t> lengths(static_cast<size_t>(B));
  for (int64_t b = 0; b < B; ++b) lengths[b] = std::min(st.seen[b], capacity);
  if (std::all_of(lengths.begin(), lengths.end(), [&](int64_t n) { return n == lengths[0]; }))
    return attend(lengths[0], torch::Tensor());
  torch::Tensor out;
  std::vector<int64_t> done(static_cast<size_t>(B), 0);
  for (int64_t b = 0; b < B; ++b) {
    if (done[b]) continue;
    std::vector<int64_t> rows;
    for (int64_t r = b; r < B; ++r) {
      if (lengths[r] != lengths[b]) continue;
      rows.push_back(r);
      done[r] = 1;
    }
    const auto index = torch::tensor(rows, torch::kLong);
    const torch::Tensor part = attend(lengths[b], index);
    if (!out.defined()) {
      std::vector<int64_t> shape{B};
      shape.insert(shape.end(), part.sizes().begin() + 1, part.sizes().end());
      out = torch::empty(shape, part.options());
    }
    out.index_copy_(0, index, part);
  }
  return out;
}

// Counts the step in every row's window; a state made for another batch size is an error.
void begin_step(BlockStepState& st, int64_t batch, const char* what) {
  if (st.seen.empty()) st.seen.assign(static_cast<size_t>(batch), 0);
  TORCH_CHECK(static_cast<int64_t>(st.seen.size()) == batch, what, ": the step state holds ", st.seen.size(),
              " rows, the step has ", batch, " (reset the state to change the batch size)");
  for (auto& n : st.seen) ++n;
}

void BlockStepState::reset(int64_t row) {
  if (row < 0) {
    membrane = torch::Tensor();
    history = stat_mean = stat_max = stat_channel_sum = stat_channel_max = torch::Tensor();
    capacity = 0;
    next = 0;
    seen.clear();
    return;
  }
  TORCH_CHECK(seen.empty() || row < static_cast<int64_t>(seen.size()), "step state: row ", row, " of ", seen.size());
  if (membrane.defined()) membrane[row].zero_();
  if (!seen.empty()) seen[row] = 0;
}

}  // namespace masnn
