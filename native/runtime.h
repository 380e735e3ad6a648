// The embedded Node.js runtime: one JS thread inside the Orthanc process, restarted when
// JS exits, crashes, hangs or nears its heap limit. Orthanc threads hand it Requests and
// wait, with a deadline, for the result. Transport only: no storage logic here.
#pragma once

#include "bridge_types.h"

#include <chrono>
#include <memory>
#include <string>

namespace oabs {

struct RuntimeOptions {
  std::string configurationJson;  // Orthanc's whole configuration, parsed by JS
  int heapLimitMb = 2048;
  std::chrono::milliseconds readyTimeout{120000};
};

// Starts the runtime and waits until JS reports ready (or failure). Returns false with
// a message on failure; the runtime is then stopped again.
bool StartRuntime(const RuntimeOptions& options, std::string* error);

// Stops accepting work, lets in-flight calls finish and then asks JS to release its keys,
// workers and store (Operation::Shutdown), all within drainTimeout; then stops the JS
// environment and joins its thread. V8 stays initialised, so StartRuntime can run again
// (Orthanc's /tools/reset calls Finalize then Initialize in the same process).
void StopRuntime(std::chrono::milliseconds drainTimeout);

// Sends the request to JS and blocks until it completes or the deadline passes.
Result CallRuntime(const std::shared_ptr<Request>& request);

}  // namespace oabs
