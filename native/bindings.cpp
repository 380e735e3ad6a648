// node.h first: its node_version.h sets NAPI_VERSION, which napi.h would otherwise default.
#include <node.h>

#include <napi.h>

#include "bindings.h"
#include "buffer_limit.h"
#include "error_map.h"
#include "lifecycle.h"
#include "log.h"
#include "orthanc_buffer.h"
#include "session.h"

#include <memory>
#include <string>

extern "C" const char oabs_bundle_start[];
extern "C" const char oabs_bundle_end[];

namespace oabs {
namespace {

using std::chrono::milliseconds;

// readWhole results from this size on are copied into Orthanc's buffer by the waiting Orthanc
// thread, not by the JS thread, which serves every other call meanwhile.
constexpr size_t kOffThreadCopyMinBytes = 256 * 1024;

std::shared_ptr<Session>& SessionOf(Napi::Env env) {
  auto* holder = env.GetInstanceData<std::shared_ptr<Session>>();
  if (holder == nullptr) {
    throw Napi::Error::New(env, "this binding function is only available on the plugin's main JavaScript thread");
  }
  return *holder;
}

// bundleSource() -> string: the JS bundle linked into the .so (embedded_bundle.S.in).
Napi::Value BundleSource(const Napi::CallbackInfo& info) {
  return Napi::String::New(info.Env(), oabs_bundle_start, static_cast<size_t>(oabs_bundle_end - oabs_bundle_start));
}

// configuration() -> string: Orthanc's whole configuration as JSON; JS parses and validates it.
Napi::Value Configuration(const Napi::CallbackInfo& info) {
  return Napi::String::New(info.Env(), ConfigurationJson());
}

// log(level: 0 error | 1 warning | 2 info, message): a line in Orthanc's log (log.h).
Napi::Value LogFromJs(const Napi::CallbackInfo& info) {
  if (info.Length() < 2 || !info[0].IsNumber() || !info[1].IsString()) {
    throw Napi::TypeError::New(info.Env(), "log(level: number, message: string)");
  }
  const int level = info[0].As<Napi::Number>().Int32Value();
  const std::string message = info[1].As<Napi::String>().Utf8Value();
  LogAt(level == 0 ? LogLevel::Error : level == 1 ? LogLevel::Warning : LogLevel::Info, message);
  return info.Env().Undefined();
}

// ready(handler, {operationTimeoutMs, watchdogTimeoutMs}): JS takes calls from now on.
Napi::Value Ready(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto session = SessionOf(env);
  if (info.Length() < 2 || !info[0].IsFunction() || !info[1].IsObject()) {
    throw Napi::TypeError::New(env, "ready(handler: Function, settings: {operationTimeoutMs, watchdogTimeoutMs})");
  }
  Napi::Object settings = info[1].As<Napi::Object>();
  const double operationTimeoutMs = settings.Get("operationTimeoutMs").ToNumber().DoubleValue();
  const double watchdogTimeoutMs = settings.Get("watchdogTimeoutMs").ToNumber().DoubleValue();
  /* Precondition: positive, finite deadlines (JS validated them; this guards the boundary). */
  if (!(operationTimeoutMs > 0 && operationTimeoutMs < 1e9) || !(watchdogTimeoutMs > 0 && watchdogTimeoutMs < 1e9)) {
    throw Napi::RangeError::New(env, "ready(): operationTimeoutMs and watchdogTimeoutMs must be positive");
  }
  session->handler = Napi::Persistent(info[0].As<Napi::Function>());
  Tsfn tsfn = Tsfn::New(env, "orthanc-azure-blob-storage", 0, 1, session.get());
  {
    std::lock_guard<std::mutex> lock(session->mutex);
    session->tsfn = tsfn;
    session->operationTimeout = milliseconds(static_cast<int64_t>(operationTimeoutMs));
    session->watchdogTimeout = milliseconds(static_cast<int64_t>(watchdogTimeoutMs));
    session->lastActivityMs = NowMs();
    session->open = true;
    session->accepting = true;
    session->acceptingFlag = true;
  }
  ReportReady();
  return env.Undefined();
}

// startupFailed(message): JS cannot serve; the session stops.
Napi::Value StartupFailed(const Napi::CallbackInfo& info) {
  auto session = SessionOf(info.Env());
  const std::string message =
      info.Length() > 0 && info[0].IsString() ? info[0].As<Napi::String>().Utf8Value() : "unknown error";
  ReportStartupFailure(message);
  StopSession(*session, "startup failed: " + message);
  return info.Env().Undefined();
}

// A big readWhole result stays in JS memory for the waiting Orthanc thread to copy
// (session.cpp); false when no reference could be made, and the JS thread copies it.
bool KeepForOffThreadCopy(Napi::Env env, Napi::Value buffer, const ResultBytes& bytes, Session& session,
                          Request& request) {
  napi_ref keepAlive = nullptr;
  if (napi_create_reference(env, buffer, 1, &keepAlive) != napi_ok) return false;
  request.resultData = bytes.data;
  request.resultSize = bytes.size;
  request.keepAlive = keepAlive;
  session.copiesInFlight.fetch_add(1);
  return true;
}

// complete(id, status, message, data?) -> boolean: false when the call is no longer pending
// (its Orthanc thread gave up, or the runtime failed it).
Napi::Value Complete(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto session = SessionOf(env);
  if (info.Length() < 3 || !info[0].IsNumber() || !info[1].IsNumber() || !info[2].IsString()) {
    throw Napi::TypeError::New(env, "complete(id: number, status: number, message: string, data?: Buffer)");
  }
  const auto id = static_cast<uint64_t>(info[0].As<Napi::Number>().Int64Value());
  Result result{BridgeStatusFromInt(info[1].As<Napi::Number>().Int32Value()), info[2].As<Napi::String>().Utf8Value()};
  ResultBytes bytes;
  if (info.Length() > 3 && info[3].IsBuffer()) {
    auto buffer = info[3].As<Napi::Buffer<uint8_t>>();
    bytes = ResultBytes{buffer.Data(), buffer.Length(), true};
  }
  session->lastActivityMs = NowMs();

  std::shared_ptr<Request> request = session->pending.Take(id);
  if (!request) return Napi::Boolean::New(env, false);
  std::lock_guard<std::mutex> lock(request->mutex);
  if (request->done || request->abandoned) return Napi::Boolean::New(env, false);
  if (result.status == BridgeStatus::Ok) {
    std::string error;
    switch (request->op) {
      case Operation::ReadWhole:
        if (bytes.present && bytes.size >= kOffThreadCopyMinBytes &&
            KeepForOffThreadCopy(env, info[3], bytes, *session, *request)) {
          break;
        }
        if (!FillOrthancBuffer(*request, bytes, &error)) result = Result{BridgeStatus::Failure, error};
        break;
      case Operation::ReadRange:
        if (!FillOrthancBuffer(*request, bytes, &error)) result = Result{BridgeStatus::Failure, error};
        break;
      case Operation::Rest:
      case Operation::Echo:
        if (bytes.present) request->restOutput.assign(reinterpret_cast<const char*>(bytes.data), bytes.size);
        break;
      default:
        break;
    }
  }
  request->result = std::move(result);
  request->done = true;
  request->cv.notify_all();
  return Napi::Boolean::New(env, true);
}

// runtimeInfo() -> {restarts, generation, pending, maxAttachmentBytes}: for the status route.
Napi::Value RuntimeInfo(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto session = SessionOf(env);
  Napi::Object result = Napi::Object::New(env);
  result.Set("restarts", Napi::Number::New(env, static_cast<double>(RestartCount())));
  result.Set("generation", Napi::Number::New(env, static_cast<double>(session->generation)));
  result.Set("pending", Napi::Number::New(env, static_cast<double>(session->pending.Size())));
  result.Set("maxAttachmentBytes", Napi::Number::New(env, static_cast<double>(MaxAttachmentBytes())));
  return result;
}

}  // namespace

napi_value RegisterBinding(napi_env rawEnv, napi_value rawExports) {
  Napi::Env env(rawEnv);
  Napi::Object exports(rawEnv, rawExports);
  try {
    // Storage traffic belongs to the session's JS thread. Anywhere else (a JS worker that loads
    // the binding) there is no session, and the functions that need one throw.
    if (std::shared_ptr<Session> session = SessionOfThisThread()) {
      env.SetInstanceData<std::shared_ptr<Session>>(new std::shared_ptr<Session>(session));
    }
    exports.Set("log", Napi::Function::New(env, LogFromJs, "log"));
    exports.Set("bundleSource", Napi::Function::New(env, BundleSource, "bundleSource"));
    exports.Set("configuration", Napi::Function::New(env, Configuration, "configuration"));
    exports.Set("ready", Napi::Function::New(env, Ready, "ready"));
    exports.Set("startupFailed", Napi::Function::New(env, StartupFailed, "startupFailed"));
    exports.Set("complete", Napi::Function::New(env, Complete, "complete"));
    exports.Set("runtimeInfo", Napi::Function::New(env, RuntimeInfo, "runtimeInfo"));
    return exports;
  } catch (const Napi::Error& error) {
    error.ThrowAsJavaScriptException();
    return nullptr;
  } catch (const std::exception& error) {
    napi_throw_error(rawEnv, nullptr, error.what());
    return nullptr;
  } catch (...) {
    napi_throw_error(rawEnv, nullptr, "cannot register the plugin's binding");
    return nullptr;
  }
}

}  // namespace oabs
