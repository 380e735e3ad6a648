// The C++ -> JS -> C++ hop micro-benchmark behind GET /azure-blob-storage/testing/hop: N
// Orthanc-side threads send no-op Echo requests through CallRuntime, the very path of the
// storage callbacks, and time each round trip. Transport only: JS decides whether it may run.
#pragma once

#include <orthanc/OrthancCPlugin.h>

namespace oabs {

// The route under /azure-blob-storage/ that the plugin's REST callback hands to AnswerHopRoute.
constexpr const char* kHopRoute = "testing/hop";

// GET testing/hop?threads=N&calls=M: the round trip, measured in-process (no HTTP per call).
// The testing-endpoints switch lives in JS, which refuses the first Echo when it is off; the
// route then answers 403 with JS's message. May throw; the REST callback catches.
void AnswerHopRoute(OrthancPluginRestOutput* output, const OrthancPluginHttpRequest* http);

}  // namespace oabs
