#include "movable_input.h"

#include "buffer_limit.h"

#include <node_buffer.h>

#include <utility>

namespace oabs {

Napi::Value MovableInput(Napi::Env env, v8::Isolate* isolate, std::unique_ptr<uint8_t[]> owned, size_t size,
                         size_t capacity) {
  // The create callback refused bigger attachments already; this guards the fatal call below.
  const Result fits = CheckInputSize("the attachment", size, MaxJsBufferBytes());
  if (fits.status != BridgeStatus::Ok) throw Napi::Error::New(env, fits.message);
  std::shared_ptr<v8::BackingStore> store = v8::ArrayBuffer::NewBackingStore(
      owned.release(), capacity, [](void* bytes, size_t, void*) { delete[] static_cast<uint8_t*>(bytes); },
      nullptr);
  v8::Local<v8::ArrayBuffer> buffer = v8::ArrayBuffer::New(isolate, std::move(store));
  v8::Local<v8::Uint8Array> view;
  if (!node::Buffer::New(isolate, buffer, 0, size).ToLocal(&view)) {
    throw Napi::Error::New(env, "cannot wrap the attachment in a Buffer");
  }
  // A Node-API value is the address of a V8 local (v8impl::JsValueFromV8LocalValue in Node),
  // which the caller's HandleScope (the thread-safe function's call) keeps alive.
  return Napi::Value(env, reinterpret_cast<napi_value>(*view));
}

}  // namespace oabs
