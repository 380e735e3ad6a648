// A create input as a JS Buffer that JS can move (transfer) to a crypto worker without a copy.
// JS thread only.
#pragma once

// node.h first: its node_version.h sets NAPI_VERSION, which napi.h would otherwise default.
#include <node.h>
#include <v8.h>

#include <napi.h>

#include <cstddef>
#include <cstdint>
#include <memory>

namespace oabs {

// A Buffer of `size` bytes over `owned` (`capacity` bytes, allocated with new[]). A Node-API
// external buffer is marked untransferable by Node, so this one is a plain V8 backing store
// instead; V8 frees it with delete[] once unreferenced.
Napi::Value MovableInput(Napi::Env env, v8::Isolate* isolate, std::unique_ptr<uint8_t[]> owned, size_t size,
                         size_t capacity);

}  // namespace oabs
