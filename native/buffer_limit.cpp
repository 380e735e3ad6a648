#include "buffer_limit.h"

#include <node_buffer.h>

#include <string>

namespace oabs {

// node::Buffer::kMaxLength is v8::TypedArray::kMaxLength, the bound of the fatal check in
// v8::Uint8Array::New. V8 exposes it only as a constant of its headers, which CMakeLists.txt takes
// from the same package (and ABI version) as the libnode it links, so it is the running library's.
uint64_t MaxJsBufferBytes() { return static_cast<uint64_t>(node::Buffer::kMaxLength); }

uint64_t MaxAttachmentBytes() { return MaxJsBufferBytes() - kInputRoom; }

Result CheckInputSize(const char* what, uint64_t size, uint64_t limit) {
  if (size <= limit) return Result{BridgeStatus::Ok, {}};
  return Result{BridgeStatus::TooLarge, std::string(what) + " is " + std::to_string(size) + " bytes, more than the " +
                                            std::to_string(limit) + " bytes the embedded runtime can hold"};
}

}  // namespace oabs
