// Plain data that crosses from Orthanc's threads to the JS thread. Nothing here points into
// Orthanc's memory except `target`: the JS thread writes it only under `mutex` while the call
// is neither done nor abandoned; once done, only the waiting Orthanc thread touches it.
#pragma once

#include <orthanc/OrthancCPlugin.h>

#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>

namespace oabs {

// Echo: a no-op that JS answers at once with the bytes it was sent (the hop benchmark,
// native/hop.h); JS refuses it unless testing endpoints are enabled.
// Shutdown: sent once when the plugin stops, before the environment does: JS releases what it
// holds (zeroes keys, stops its workers, closes the store) and answers.
// Keep in step with `Operation` in src/bridge/native-binding.ts (test/unit/bridge/native-enums.test.ts).
enum class Operation : int {
  Create = 0,
  ReadWhole = 1,
  ReadRange = 2,
  Remove = 3,
  Rest = 4,
  Echo = 5,
  Shutdown = 6,
};

// For log lines; the same names as the JS side's operation counters.
inline const char* OperationName(Operation op) {
  switch (op) {
    case Operation::Create:
      return "create";
    case Operation::ReadWhole:
      return "readWhole";
    case Operation::ReadRange:
      return "readRange";
    case Operation::Remove:
      return "remove";
    case Operation::Rest:
      return "rest";
    case Operation::Echo:
      return "echo";
    case Operation::Shutdown:
      return "shutdown";
  }
  return "unknown";
}

// Status values that cross the boundary with every result; error_map.h maps them to Orthanc.
// TooLarge is the shim's own: an input bigger than the runtime's largest Buffer (buffer_limit.h),
// refused before it is copied or sent to JS.
// Keep in step with `BridgeStatus` in src/bridge/status-codes.ts (test/unit/bridge/native-enums.test.ts).
enum class BridgeStatus : int { Ok = 0, NotFound = 1, Integrity = 2, Timeout = 3, Failure = 4, TooLarge = 5 };

// Spare bytes after a create input: room for the AES-CBC padding (one block).
constexpr size_t kInputRoom = 16;

struct Result {
  BridgeStatus status = BridgeStatus::Failure;
  std::string message;
};

struct Request {
  Operation op = Operation::Create;

  // Storage calls (create, readWhole, readRange, remove): the attachment.
  std::string uuid;
  int contentType = 0;  // OrthancPluginContentType
  uint64_t offset = 0;  // readRange: first byte wanted
  uint64_t length = 0;  // readRange: bytes wanted (== target->size)

  // Rest: the route under /azure-blob-storage/.
  std::string restPath;  // e.g. "status" or "testing/faults"
  int restMethod = 0;    // OrthancPluginHttpMethod

  // Create / Rest / Echo body: a private copy, handed to JS as a Buffer. A create input has
  // kInputRoom spare bytes after it, so that a crypto worker can encrypt it in place.
  std::unique_ptr<uint8_t[]> input;
  size_t inputSize = 0;

  // readWhole / readRange destination; Orthanc-owned.
  OrthancPluginMemoryBuffer64* target = nullptr;
  // Rest answer body, or the bytes an Echo sent back (small, copied).
  std::string restOutput;
  // readWhole of a big attachment: JS's result buffer, which the Orthanc thread copies into
  // `target` itself so that the JS thread is not held by a blob-sized memcpy. `keepAlive` (an
  // opaque napi_ref) holds the buffer until then; only the JS thread may delete it.
  const uint8_t* resultData = nullptr;
  size_t resultSize = 0;
  void* keepAlive = nullptr;

  // Completion, guarded by mutex.
  uint64_t id = 0;
  std::mutex mutex;
  std::condition_variable cv;
  bool done = false;
  bool abandoned = false;  // the Orthanc thread gave up (deadline); target is dead
  Result result;
};

}  // namespace oabs
