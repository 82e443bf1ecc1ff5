// Running independent tasks on a few threads (writing files of generated data): the work splits by task index,
// so results that depend only on the index do not depend on the number of threads.
#pragma once
#include <algorithm>
#include <atomic>
#include <cstddef>
#include <exception>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace masnn {

/// Runs task(i) for every i in [0, count) on `workers` threads (0 = one per hardware thread), the calling thread
/// among them. The first exception a task throws is rethrown here once every thread has finished its current
/// task; no task starts after it.
inline void parallel_tasks(size_t count, int workers, const std::function<void(size_t)>& task) {
  if (workers <= 0) workers = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  const size_t threads = std::max<size_t>(1, std::min<size_t>(static_cast<size_t>(workers), count));
  std::atomic<size_t> next{0};
  std::atomic<bool> failed{false};
  std::mutex mutex;
  std::exception_ptr failure;
  const auto work = [&] {
    for (size_t i = next++; i < count && !failed; i = next++) {
      try {
        task(i);
      } catch (...) {
        std::lock_guard<std::mutex> lock(mutex);
        if (!failure) failure = std::current_exception();
        failed = true;
      }
    }
  };
  std::vector<std::thread> pool;
  for (size_t t = 1; t < threads; ++t) pool.emplace_back(work);
  work();
  for (auto& t : pool) t.join();
  if (failure) std::rethrow_exception(failure);
}

}  // namespace masnn
