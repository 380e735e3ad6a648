#include "hop.h"

#include "bridge_types.h"
#include "orthanc_context.h"
#include "runtime.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace oabs {
namespace {

using Clock = std::chrono::steady_clock;

struct HopStats {
  int threads = 0;
  int64_t calls = 0;     // completed round trips, all threads
  int64_t failures = 0;  // calls that did not come back Ok with the bytes sent
  double wallMs = 0;
  double callsPerSecond = 0;
  double p50Us = 0;
  double p99Us = 0;
  double maxUs = 0;
  std::string firstError;
};

// One call carrying 8 bytes that JS must send back unchanged, so a hop is a real round trip
// of data through complete() and not just a status.
Result Echo(uint64_t token) {
  auto request = std::make_shared<Request>();
  request->op = Operation::Echo;
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

// One Echo through JS; Ok only when the JS side allows testing endpoints.
Result ProbeHop() { return Echo(0); }

// Runs `threads` threads of `callsPerThread` sequential Echo calls each.
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

void SendText(OrthancPluginRestOutput* output, uint16_t status, const std::string& message) {
  OrthancPluginSendHttpStatus(OrthancContext(), output, status, message.data(), static_cast<uint32_t>(message.size()));
}

// An integer GET argument within [min, max]; `fallback` when absent.
bool QueryInteger(const OrthancPluginHttpRequest* http, const char* key, int fallback, int min, int max, int* value,
                  std::string* error) {
  *value = fallback;
  for (uint32_t i = 0; i < http->getCount; ++i) {
    if (std::strcmp(http->getKeys[i], key) != 0) continue;
    const char* text = http->getValues[i];
    char* end = nullptr;
    const long parsed = std::strtol(text, &end, 10);
    if (end == text || *end != '\0' || parsed < min || parsed > max) {
      *error = std::string("Expected an integer from ") + std::to_string(min) + " to " + std::to_string(max) +
               " for " + key + " but received \"" + text + "\"";
      return false;
    }
    *value = static_cast<int>(parsed);
  }
  return true;
}

}  // namespace

void AnswerHopRoute(OrthancPluginRestOutput* output, const OrthancPluginHttpRequest* http) {
  OrthancPluginContext* context = OrthancContext();
  if (http->method != OrthancPluginHttpMethod_Get) {
    OrthancPluginSendMethodNotAllowed(context, output, "GET");
    return;
  }
  int threads = 1;
  int calls = 1000;
  std::string error;
  if (!QueryInteger(http, "threads", 1, 1, 64, &threads, &error) ||
      !QueryInteger(http, "calls", 1000, 1, 100000, &calls, &error)) {
    SendText(output, 400, error);
    return;
  }
  const Result probe = ProbeHop();
  if (probe.status != BridgeStatus::Ok) {
    SendText(output, probe.status == BridgeStatus::Failure ? 403 : 503, "hop benchmark refused: " + probe.message);
    return;
  }
  const HopStats stats = MeasureHops(threads, calls);
  nlohmann::json body = {
      {"threads", stats.threads},       {"callsPerThread", calls}, {"calls", stats.calls},
      {"failures", stats.failures},     {"wallMs", stats.wallMs},  {"callsPerSecond", stats.callsPerSecond},
      {"p50Us", stats.p50Us},           {"p99Us", stats.p99Us},    {"maxUs", stats.maxUs},
  };
  if (!stats.firstError.empty()) body["firstError"] = stats.firstError;
  const std::string text = body.dump(2);
  OrthancPluginAnswerBuffer(context, output, text.data(), static_cast<uint32_t>(text.size()), "application/json");
}

}  // namespace oabs
