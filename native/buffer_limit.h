// The largest JS Buffer the embedded runtime can make, and the check that every size from
// Orthanc passes before it becomes one. Asking Node for a bigger Buffer is a fatal V8 check
// (v8::Uint8Array::New: "length exceeds max allowed value") that aborts Orthanc whatever catches
// it, so callers check first, before copying anything. Any thread.
#pragma once

#include "bridge_types.h"

#include <cstddef>
#include <cstdint>

namespace oabs {

// node::Buffer::kMaxLength of the runtime: 2^32 bytes on 64-bit Node 18 and 20 (newer Node
// raises it). The one place the shim reads the limit.
uint64_t MaxJsBufferBytes();

// The largest attachment a create can take: the create input keeps kInputRoom spare bytes
// after the attachment in the same Buffer (bridge_types.h).
uint64_t MaxAttachmentBytes();

// Ok when `size` is at most `limit` (MaxJsBufferBytes or MaxAttachmentBytes); otherwise
// TooLarge with "<what> is N bytes, more than the M bytes the embedded runtime can hold".
Result CheckInputSize(const char* what, uint64_t size, uint64_t limit);

}  // namespace oabs
