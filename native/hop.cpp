#include "hop.h"

#include "runtime.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstring>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

namespace oabs {
namespace {

using Clock = std::chrono::steady_clock;

// One call carrying 8 bytes that JS must send back unchanged, so a hop is a real round trip
// of data through complete() and not just a status.
Result Echo(uint64_t token) {
  auto request = std::make_shared<Request>();
  request->op = Operation::Echo;
  request->uuid = "hop";
  request->inputSize = sizeof(token);
  request->input.reset(new uint8_t[sizeof(token)]);
  std::memcpy(request->input.get(), &token, sizeof(token));
  Result result = CallRuntime(request);
  if (result.status == BridgeStatus::Ok &&
      (request->restOutput.size() != sizeof(token) ||
       std::memcmp(request->restOutput.data(), &token, sizeof(token)) != 0)) {
    result = Result{BridgeStatus::Failure, "the echo came back with other bytes than were sent"};
  }
  return result;
}

double PercentileUs(const std::vector<int64_t>& sortedNs, double p) {
  if (sortedNs.empty()) return 0;
  // Nearest rank, as bench/ingest.ts computes its percentiles.
  const double rank = std::ceil(p * static_cast<double>(sortedNs.size())) - 1;
  const auto index = static_cast<size_t>(std::max(0.0, rank));
  return static_cast<double>(sortedNs[std::min(index, sortedNs.size() - 1)]) / 1000.0;
}

}  // namespace

Result ProbeHop() { return Echo(0); }

HopStats MeasureHops(int threads, int callsPerThread) {
  HopStats stats;
  stats.threads = threads;
  std::vector<std::vector<int64_t>> latencies(static_cast<size_t>(threads));
  std::vector<int64_t> failures(static_cast<size_t>(threads), 0);
  std::mutex errorMutex;
  std::string firstError;

  auto work = [&](int index) {
    auto& mine = latencies[static_cast<size_t>(index)];
    try {
      mine.reserve(static_cast<size_t>(callsPerThread));
      for (int i = 0; i < callsPerThread; ++i) {
        const uint64_t token = (static_cast<uint64_t>(index + 1) << 32) | static_cast<uint64_t>(i);
        const auto t0 = Clock::now();
        const Result result = Echo(token);
        const auto elapsed = std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now() - t0).count();
        if (result.status == BridgeStatus::Ok) {
          mine.push_back(elapsed);
        } else {
          ++failures[static_cast<size_t>(index)];
          std::lock_guard<std::mutex> lock(errorMutex);
          if (firstError.empty()) firstError = result.message;
        }
      }
    } catch (...) {
      // A thread must never let an exception escape (std::terminate would end Orthanc).
      ++failures[static_cast<size_t>(index)];
      std::lock_guard<std::mutex> lock(errorMutex);
      if (firstError.empty()) firstError = "unexpected exception in a hop thread";
    }
  };

  const auto started = Clock::now();
  std::vector<std::thread> pool;
  pool.reserve(static_cast<size_t>(threads));
  try {
    for (int t = 0; t < threads; ++t) pool.emplace_back(work, t);
  } catch (...) {
    for (auto& thread : pool) thread.join();
    throw;
  }
  for (auto& thread : pool) thread.join();
  const double wallSeconds = std::chrono::duration<double>(Clock::now() - started).count();

  std::vector<int64_t> all;
  for (const auto& mine : latencies) all.insert(all.end(), mine.begin(), mine.end());
  std::sort(all.begin(), all.end());
  stats.calls = static_cast<int64_t>(all.size());
  for (int64_t f : failures) stats.failures += f;
  stats.wallMs = wallSeconds * 1000.0;
  stats.callsPerSecond = wallSeconds > 0 ? static_cast<double>(stats.calls) / wallSeconds : 0;
  stats.p50Us = PercentileUs(all, 0.50);
  stats.p99Us = PercentileUs(all, 0.99);
  stats.maxUs = all.empty() ? 0 : static_cast<double>(all.back()) / 1000.0;
  stats.firstError = firstError;
  return stats;
}

}  // namespace oabs
