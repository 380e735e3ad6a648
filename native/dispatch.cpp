// The JS thread's side of the thread-safe function: every Task that an Orthanc thread or the
// supervisor posts to a session arrives here (session.h declares CallJs).

// node.h first: its node_version.h sets NAPI_VERSION, which napi.h would otherwise default.
#include <node.h>

#include <napi.h>

#include "movable_input.h"
#include "session.h"

#include <memory>
#include <string>
#include <utility>

namespace oabs {
namespace {

// The body a call carries, as a Buffer that JS owns from now on; undefined for calls without one.
Napi::Value InputOf(Napi::Env env, Session& session, Request& request) {
  switch (request.op) {
    case Operation::Create:
      // A create's input may move on to a crypto worker (MovableInput explains why it is special).
      if (request.inputSize > 0) {
        return MovableInput(env, session.isolate, std::move(request.input), request.inputSize,
                            request.inputSize + kInputRoom);
      }
      return Napi::Buffer<uint8_t>::New(env, 0);
    case Operation::Rest:
    case Operation::Echo: {
      if (request.inputSize == 0) return Napi::Buffer<uint8_t>::New(env, 0);
      // The copy made on the Orthanc thread becomes JS-owned; freed by the GC.
      Napi::Value buffer = Napi::Buffer<uint8_t>::New(env, request.input.get(), request.inputSize,
                                                      [](Napi::Env, uint8_t* owned) { delete[] owned; });
      request.input.release();
      return buffer;
    }
    default:
      return env.Undefined();
  }
}

// Rest: {method, path}, the route under /azure-blob-storage/; undefined for every other call.
Napi::Value RouteOf(Napi::Env env, const Request& request) {
  if (request.op != Operation::Rest) return env.Undefined();
  Napi::Object route = Napi::Object::New(env);
  route.Set("method", Napi::Number::New(env, request.restMethod));
  route.Set("path", Napi::String::New(env, request.restPath));
  return route;
}

// Fails a request that did not reach the handler. noexcept: it runs in catch blocks.
void FailDispatch(Session& session, Request& request, const Napi::Error* error) noexcept {
  session.pending.Forget(request.id);
  Result result{BridgeStatus::Failure, {}};
  try {
    result.message =
        error != nullptr ? "the JavaScript handler threw: " + error->Message() : "the JavaScript handler failed";
  } catch (...) {
    // Out of memory for the message: the status alone still fails the call.
  }
  SettleRequest(request, std::move(result));
}

}  // namespace

void CallJs(Napi::Env env, Napi::Function /*unused*/, Session* session, Task* rawTask) {
  std::unique_ptr<Task> task(rawTask);
  if (env == nullptr || session == nullptr) return;  // teardown: CloseSession has failed the request
  session->lastActivityMs = NowMs();
  switch (task->kind) {
    case Task::Kind::Ping:
      return;
    case Task::Kind::Release:
      napi_delete_reference(env, static_cast<napi_ref>(task->request->keepAlive));
      return;
    case Task::Kind::Dispatch:
      break;
  }

  Request& request = *task->request;
  try {
    Napi::Value data = InputOf(env, *session, request);
    session->handler.Call({
        Napi::Number::New(env, static_cast<double>(request.id)),
        Napi::Number::New(env, static_cast<int>(request.op)),
        Napi::String::New(env, request.uuid),
        Napi::Number::New(env, request.contentType),
        Napi::Number::New(env, static_cast<double>(request.offset)),
        Napi::Number::New(env, static_cast<double>(request.length)),
        data,
        RouteOf(env, request),
    });
  } catch (const Napi::Error& error) {
    FailDispatch(*session, request, &error);
  } catch (...) {
    FailDispatch(*session, request, nullptr);
  }
}

}  // namespace oabs
