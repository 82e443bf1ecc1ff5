// Where clips of T*dt microseconds are cut from a sample (REFERENCE.md 4.1): a random start for training, N
// starts spread over the sample for testing (the reference code's `sample_test`, so evaluation can vote).
#pragma once

#include <cstdint>
#include <vector>

namespace masnn::data {

/// Start times (absolute, microseconds) of `clips` test windows of `window_us` over a sample whose events
/// span [t_first, t_last], exactly as the reference code places them. With D = t_last - t_first and
/// L = window_us, relative starts are:
///   - if clips * L > D (short sample, clips overlap): o = floor((clips*L - D) / clips), s_j = j * (L - o);
///   - else (long sample, gaps between clips):          o = floor((D - clips*L) / clips), s_j = j * (L + o);
/// and a clip that would end after D is moved back to end at D (s_j = D - L, negative when D < L).
/// Each start is returned as t_first + s_j. Throws std::invalid_argument for clips < 1 or window_us < 1.
std::vector<int64_t> test_clip_starts(int64_t t_first, int64_t t_last, int64_t window_us, int clips);

/// A training start drawn uniformly from [t_first, max(t_first, t_last - window_us)] (inclusive, as the
/// reference's randint), using the 64 random bits `random_bits` (from a seeded generator).
int64_t random_clip_start(int64_t t_first, int64_t t_last, int64_t window_us, uint64_t random_bits);

}  // namespace masnn::data
