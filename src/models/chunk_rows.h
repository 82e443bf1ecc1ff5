// How many rows of a large tensor an operation processes at a time, so that its temporaries stay chunk-sized.
#pragma once

#include <algorithm>
#include <cstdint>

namespace masnn::functional {

/// Rows per chunk of about `chunk_bytes`, for rows of `row_bytes` bytes each (at least 1).
inline int64_t chunk_rows(int64_t chunk_bytes, int64_t row_bytes) {
  return std::max<int64_t>(1, chunk_bytes / std::max<int64_t>(1, row_bytes));
}

}  // namespace masnn::functional
