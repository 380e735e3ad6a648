// Plain data that crosses from Orthanc's threads to the JS thread. Nothing here points
// into Orthanc's memory except `target`, which is only touched under `mutex` while the
// Orthanc thread is still waiting (abandoned == false).
#pragma once

#include <orthanc/OrthancCPlugin.h>

#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>

namespace oabs {

// Echo: a no-op that JS answers at once with the bytes it was sent (the hop benchmark,
// native/hop.h); JS refuses it unless testing endpoints are enabled.
// Keep in step with src/bridge/native-binding.ts.
enum class Operation : int { Create = 0, ReadWhole = 1, ReadRange = 2, Remove = 3, Rest = 4, Echo = 5 };

const char* OperationName(Operation op);

// Status values that cross the boundary with every result.
// Keep in step with src/bridge/status.ts.
enum class BridgeStatus : int { Ok = 0, NotFound = 1, Integrity = 2, Timeout = 3, Failure = 4 };

// Spare bytes after a create input: room for the AES-CBC padding (one block).
constexpr size_t kInputRoom = 16;

struct Result {
  BridgeStatus status = BridgeStatus::Failure;
  std::string message;
};

struct Request {
  Operation op = Operation::Create;
  std::string uuid;  // for Rest: the sub-path after /azure-blob-storage/
  int contentType = 0;  // for Rest: HTTP method (see RestMethod in plugin.cpp)
  uint64_t offset = 0;
  uint64_t length = 0;  // readRange: bytes wanted (== target->size)

  // create / Rest / Echo body: a private copy, handed to JS as a Buffer. A create input has
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
