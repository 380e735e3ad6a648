// What the binding (bindings.cpp) asks of the runtime's lifecycle (runtime.cpp). JS thread.
#pragma once

#include "session.h"

#include <cstdint>
#include <memory>
#include <string>

namespace oabs {

// The session whose JS thread is the calling thread; null on any other thread (JS workers).
std::shared_ptr<Session> SessionOfThisThread();

// Orthanc's whole configuration, as JSON.
std::string ConfigurationJson();

// How often the runtime has been restarted since the plugin started.
uint64_t RestartCount();

// JS is ready: wakes callers waiting for a runtime, and reports a first start as successful.
void ReportReady();

// JS could not start: a first start fails with `message` (Orthanc then refuses to start); a
// restart only logs it. The caller stops the session.
void ReportStartupFailure(const std::string& message);

}  // namespace oabs
