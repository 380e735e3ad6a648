// The C++ -> JS -> C++ hop micro-benchmark behind GET /azure-blob-storage/testing/hop: N
// Orthanc-side threads send no-op Echo requests through CallRuntime, the very path of the
// storage callbacks, and time each round trip. Transport only: JS decides whether it may run.
#pragma once

#include "bridge_types.h"

#include <cstdint>
#include <string>

namespace oabs {

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

// One Echo through JS; Ok only when the JS side allows testing endpoints.
Result ProbeHop();

// Runs `threads` threads of `callsPerThread` sequential Echo calls each.
HopStats MeasureHops(int threads, int callsPerThread);

}  // namespace oabs
