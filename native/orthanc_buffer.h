// Writes JS's answer to a read into Orthanc's buffer: the one place that does, for every result
// path (the JS thread for small reads and all ranges, the waiting Orthanc thread for big reads).
#pragma once

#include "bridge_types.h"

#include <cstddef>
#include <cstdint>
#include <string>

namespace oabs {

// The bytes complete() received; `present` is false when it had no data argument.
struct ResultBytes {
  const uint8_t* data = nullptr;
  size_t size = 0;
  bool present = false;
};

// readWhole: allocates request.target (Orthanc frees it) and copies the bytes in.
// readRange: copies into Orthanc's preallocated request.target, which must be exactly filled.
// Returns false with a message when that is not possible; request.target must still be alive.
bool FillOrthancBuffer(const Request& request, const ResultBytes& bytes, std::string* error);

}  // namespace oabs
