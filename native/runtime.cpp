// Embedded Node.js runtime: process-wide V8 initialisation (once), one JS thread that runs
// an Environment and restarts it when it stops, and a supervisor thread that watches the JS
// thread (watchdog, heap limit). Requests reach JS through a thread-safe function and come
// back through binding.complete().

// node.h first: its node_version.h sets NAPI_VERSION, which napi.h would otherwise default.
#include <node.h>
#include <node_buffer.h>
#include <v8.h>

#include <napi.h>

#include "error_map.h"
#include "log.h"
#include "runtime.h"

#include <atomic>
#include <cstring>
#include <thread>
#include <unordered_map>
#include <vector>

extern "C" const char oabs_bundle_start[];
extern "C" const char oabs_bundle_end[];

namespace oabs {

const char* OperationName(Operation op) {
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
  }
  return "unknown";
}

namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

constexpr const char* kBindingName = "orthanc_azure_blob_storage";
// The shim's deadline is the JS operation deadline plus this, so JS normally reports its
// own, clearer timeout first; the shim's deadline only catches Promises that never settle.
constexpr milliseconds kGracePeriod{5000};
// How long a new call waits for a restarting runtime before failing.
constexpr milliseconds kWaitForRuntime{15000};
constexpr milliseconds kSupervisorTick{500};
// readWhole results from this size on are copied into Orthanc's buffer by the waiting Orthanc
// thread, not by the JS thread, which serves every other call meanwhile.
constexpr size_t kOffThreadCopyMinBytes = 256 * 1024;

// Runs as an embedder "main script": loads the bundle linked into the .so as CommonJS.
constexpr const char* kBootstrap = R"JS(
'use strict';
const binding = process._linkedBinding('orthanc_azure_blob_storage');
const { createRequire } = require('module');
const { compileFunction } = require('vm');
const filename = '/orthanc-azure-blob-storage/plugin.js';
const wrapper = compileFunction(binding.bundleSource(),
  ['exports', 'require', 'module', '__filename', '__dirname'], { filename });
const mod = { exports: {} };
wrapper.call(mod.exports, mod.exports, createRequire(filename), mod, filename, '/orthanc-azure-blob-storage');
)JS";

int64_t NowMs() {
  return std::chrono::duration_cast<milliseconds>(Clock::now().time_since_epoch()).count();
}

struct Session;

struct Task {
  // Release: delete a readWhole result's keepAlive reference once its copy is done.
  enum class Kind { Dispatch, Ping, Release } kind;
  std::shared_ptr<Request> request;
};

void CallJs(Napi::Env env, Napi::Function unused, Session* session, Task* task);
using Tsfn = Napi::TypedThreadSafeFunction<Session, Task, CallJs>;

// One JS Environment's lifetime.
struct Session {
  uint64_t generation = 0;
  std::thread::id jsThread;
  v8::Isolate* isolate = nullptr;

  std::mutex mutex;
  node::Environment* env = nullptr;  // guarded by mutex; null once torn down
  bool accepting = false;            // guarded by mutex; tsfn usable while true
  bool stopIssued = false;           // guarded by mutex
  std::string stopReason;            // guarded by mutex
  Tsfn tsfn;
  std::unordered_map<uint64_t, std::shared_ptr<Request>> pending;  // guarded by mutex
  milliseconds operationTimeout{120000};
  milliseconds watchdogTimeout{30000};

  std::atomic<bool> acceptingFlag{false};  // lock-free hint for waiters
  std::atomic<int64_t> lastActivityMs{0};
  std::atomic<bool> heapLimitHit{false};
  // readWhole results that Orthanc threads are copying out of JS memory: the environment (and
  // with it that memory) is not freed while this is above zero.
  std::atomic<int> copiesInFlight{0};

  Napi::FunctionReference handler;  // JS thread only
};

struct RuntimeState {
  std::mutex mutex;
  std::condition_variable cv;
  bool running = false;
  bool stopping = false;
  std::shared_ptr<Session> session;
  uint64_t generation = 0;
  uint64_t restarts = 0;
  RuntimeOptions options;
  bool initialOutcomeKnown = false;
  bool initialOk = false;
  std::string initialError;
  std::thread jsThread;
  std::thread supervisor;
};

RuntimeState g;
std::atomic<uint64_t> g_nextId{1};
OrthancPluginContext* g_context = nullptr;
bool g_processInitialised = false;
std::unique_ptr<node::MultiIsolatePlatform> g_platform;  // never disposed: V8 cannot start twice

void ReportInitialOutcome(bool ok, const std::string& error) {
  std::lock_guard<std::mutex> lock(g.mutex);
  if (g.initialOutcomeKnown) return;
  g.initialOutcomeKnown = true;
  g.initialOk = ok;
  g.initialError = error;
  g.cv.notify_all();
}

bool InitialOutcomeKnown() {
  std::lock_guard<std::mutex> lock(g.mutex);
  return g.initialOutcomeKnown;
}

void CompleteRequest(Request& request, BridgeStatus status, const std::string& message) {
  std::lock_guard<std::mutex> lock(request.mutex);
  if (request.done || request.abandoned) return;
  request.result = Result{status, message};
  request.done = true;
  request.cv.notify_all();
}

// Stops the session accepting work and fails what it still holds.
void CloseSession(Session& session) {
  std::unordered_map<uint64_t, std::shared_ptr<Request>> pending;
  std::string reason;
  {
    std::lock_guard<std::mutex> lock(session.mutex);
    session.accepting = false;
    session.acceptingFlag = false;
    pending.swap(session.pending);
    reason = session.stopReason.empty() ? "the JavaScript runtime stopped" : session.stopReason;
  }
  for (auto& entry : pending) {
    CompleteRequest(*entry.second, BridgeStatus::Failure,
                    "the JavaScript runtime stopped while the call was in flight (" + reason + ")");
  }
}

// Thread-safe: asks the environment to stop (TerminateExecution + loop stop).
void StopSession(Session& session, const std::string& reason) {
  std::lock_guard<std::mutex> lock(session.mutex);
  if (session.stopReason.empty()) session.stopReason = reason;
  if (session.env != nullptr && !session.stopIssued) {
    session.stopIssued = true;
    node::Stop(session.env);
  }
}

std::shared_ptr<Session>& SessionOf(Napi::Env env) {
  auto* holder = env.GetInstanceData<std::shared_ptr<Session>>();
  if (holder == nullptr) {
    throw Napi::Error::New(env, "this binding function is only available on the plugin's main JavaScript thread");
  }
  return *holder;
}

// ---- Binding functions (JS thread) ----------------------------------------------------

Napi::Value BundleSource(const Napi::CallbackInfo& info) {
  return Napi::String::New(info.Env(), oabs_bundle_start,
                           static_cast<size_t>(oabs_bundle_end - oabs_bundle_start));
}

Napi::Value Configuration(const Napi::CallbackInfo& info) {
  std::lock_guard<std::mutex> lock(g.mutex);
  return Napi::String::New(info.Env(), g.options.configurationJson);
}

Napi::Value LogFromJs(const Napi::CallbackInfo& info) {
  if (info.Length() < 2 || !info[0].IsNumber() || !info[1].IsString()) {
    throw Napi::TypeError::New(info.Env(), "log(level: number, message: string)");
  }
  const int level = info[0].As<Napi::Number>().Int32Value();
  const std::string message = info[1].As<Napi::String>().Utf8Value();
  LogAt(level == 0 ? LogLevel::Error : level == 1 ? LogLevel::Warning : LogLevel::Info, message);
  return info.Env().Undefined();
}

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
    session->accepting = true;
    session->acceptingFlag = true;
  }
  {
    std::lock_guard<std::mutex> lock(g.mutex);
    g.cv.notify_all();
  }
  ReportInitialOutcome(true, "");
  return env.Undefined();
}

Napi::Value StartupFailed(const Napi::CallbackInfo& info) {
  auto session = SessionOf(info.Env());
  const std::string message =
      info.Length() > 0 && info[0].IsString() ? info[0].As<Napi::String>().Utf8Value() : "unknown error";
  if (!InitialOutcomeKnown()) {
    ReportInitialOutcome(false, message);
  } else {
    LogError("the restarted JavaScript runtime failed to start: " + message);
  }
  StopSession(*session, "startup failed: " + message);
  return info.Env().Undefined();
}

// complete(id, status, message, data?) -> boolean (false when the caller already gave up)
Napi::Value Complete(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto session = SessionOf(env);
  if (info.Length() < 3 || !info[0].IsNumber() || !info[1].IsNumber() || !info[2].IsString()) {
    throw Napi::TypeError::New(env, "complete(id: number, status: number, message: string, data?: Buffer)");
  }
  const auto id = static_cast<uint64_t>(info[0].As<Napi::Number>().Int64Value());
  BridgeStatus status = BridgeStatusFromInt(info[1].As<Napi::Number>().Int32Value());
  std::string message = info[2].As<Napi::String>().Utf8Value();
  const uint8_t* data = nullptr;
  size_t size = 0;
  bool hasData = false;
  if (info.Length() > 3 && info[3].IsBuffer()) {
    auto buffer = info[3].As<Napi::Buffer<uint8_t>>();
    data = buffer.Data();
    size = buffer.Length();
    hasData = true;
  }
  session->lastActivityMs = NowMs();

  std::shared_ptr<Request> request;
  {
    std::lock_guard<std::mutex> lock(session->mutex);
    auto it = session->pending.find(id);
    if (it == session->pending.end()) return Napi::Boolean::New(env, false);
    request = it->second;
    session->pending.erase(it);
  }

  std::lock_guard<std::mutex> lock(request->mutex);
  if (request->done || request->abandoned) return Napi::Boolean::New(env, false);
  if (status == BridgeStatus::Ok) {
    switch (request->op) {
      case Operation::ReadWhole:
        if (hasData && size >= kOffThreadCopyMinBytes) {
          // The waiting Orthanc thread copies it (CallRuntime); the JS thread moves on.
          napi_ref keepAlive = nullptr;
          if (napi_create_reference(env, info[3], 1, &keepAlive) == napi_ok) {
            request->resultData = data;
            request->resultSize = size;
            request->keepAlive = keepAlive;
            session->copiesInFlight.fetch_add(1);
            break;
          }
        }
        if (!hasData) {
          status = BridgeStatus::Failure;
          message = "internal error: readWhole completed without data";
        } else if (OrthancPluginCreateMemoryBuffer64(g_context, request->target, size) !=
                   OrthancPluginErrorCode_Success) {
          status = BridgeStatus::Failure;
          message = "cannot allocate " + std::to_string(size) + " bytes for the attachment";
        } else if (size > 0) {
          std::memcpy(request->target->data, data, size);
        }
        break;
      case Operation::ReadRange:
        /* Precondition: exactly the requested length, or Orthanc would read garbage. */
        if (!hasData || size != request->target->size) {
          status = BridgeStatus::Failure;
          message = "readRange returned " + std::to_string(hasData ? size : 0) + " bytes instead of the " +
                    std::to_string(request->target->size) + " requested";
        } else if (size > 0) {
          std::memcpy(request->target->data, data, size);
        }
        break;
      case Operation::Rest:
      case Operation::Echo:
        if (hasData) request->restOutput.assign(reinterpret_cast<const char*>(data), size);
        break;
      default:
        break;
    }
  }
  request->result = Result{status, message};
  request->done = true;
  request->cv.notify_all();
  return Napi::Boolean::New(env, true);
}

Napi::Value RuntimeInfo(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto session = SessionOf(env);
  Napi::Object result = Napi::Object::New(env);
  {
    std::lock_guard<std::mutex> lock(g.mutex);
    result.Set("restarts", Napi::Number::New(env, static_cast<double>(g.restarts)));
  }
  std::lock_guard<std::mutex> lock(session->mutex);
  result.Set("generation", Napi::Number::New(env, static_cast<double>(session->generation)));
  result.Set("pending", Napi::Number::New(env, static_cast<double>(session->pending.size())));
  return result;
}

napi_value RegisterBinding(napi_env rawEnv, napi_value rawExports) {
  Napi::Env env(rawEnv);
  Napi::Object exports(rawEnv, rawExports);
  try {
    std::shared_ptr<Session> session;
    {
      std::lock_guard<std::mutex> lock(g.mutex);
      if (g.session && g.session->jsThread == std::this_thread::get_id()) session = g.session;
    }
    // Worker threads get log() only; storage traffic belongs to the main JS thread.
    if (session) env.SetInstanceData<std::shared_ptr<Session>>(new std::shared_ptr<Session>(session));
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
  }
}

// ---- JS thread --------------------------------------------------------------------------

// A Buffer over a create input copied on the Orthanc thread (`owned`, capacity bytes), which JS
// may move to a crypto worker: a Node-API external buffer is marked untransferable by Node, so
// this one is a plain V8 backing store instead. V8 frees it with delete[] once unreferenced.
Napi::Value MovableInput(Napi::Env env, v8::Isolate* isolate, uint8_t* owned, size_t size, size_t capacity) {
  std::shared_ptr<v8::BackingStore> store = v8::ArrayBuffer::NewBackingStore(
      owned, capacity, [](void* bytes, size_t, void*) { delete[] static_cast<uint8_t*>(bytes); }, nullptr);
  v8::Local<v8::ArrayBuffer> buffer = v8::ArrayBuffer::New(isolate, std::move(store));
  v8::Local<v8::Uint8Array> view;
  if (!node::Buffer::New(isolate, buffer, 0, size).ToLocal(&view)) {
    throw Napi::Error::New(env, "cannot wrap the attachment in a Buffer");
  }
  // A Node-API value is the address of a V8 local (v8impl::JsValueFromV8LocalValue in Node).
  return Napi::Value(env, reinterpret_cast<napi_value>(*view));
}

void CallJs(Napi::Env env, Napi::Function /*unused*/, Session* session, Task* rawTask) {
  std::unique_ptr<Task> task(rawTask);
  if (env == nullptr || session == nullptr) return;  // teardown: CloseSession fails the request
  session->lastActivityMs = NowMs();
  if (task->kind == Task::Kind::Ping) return;
  if (task->kind == Task::Kind::Release) {
    napi_delete_reference(env, static_cast<napi_ref>(task->request->keepAlive));
    return;
  }

  Request& request = *task->request;
  try {
    Napi::Value data = env.Undefined();
    if (request.op == Operation::Create && request.inputSize > 0) {
      data = MovableInput(env, session->isolate, request.input.release(), request.inputSize,
                          request.inputSize + kInputRoom);
    } else if (request.op == Operation::Create || request.op == Operation::Rest || request.op == Operation::Echo) {
      if (request.inputSize > 0) {
        // The copy made on the Orthanc thread becomes JS-owned; freed by the GC.
        uint8_t* bytes = request.input.release();
        data = Napi::Buffer<uint8_t>::New(env, bytes, request.inputSize,
                                          [](Napi::Env, uint8_t* owned) { delete[] owned; });
      } else {
        data = Napi::Buffer<uint8_t>::New(env, 0);
      }
    }
    session->handler.Call({
        Napi::Number::New(env, static_cast<double>(request.id)),
        Napi::Number::New(env, static_cast<int>(request.op)),
        Napi::String::New(env, request.uuid),
        Napi::Number::New(env, request.contentType),
        Napi::Number::New(env, static_cast<double>(request.offset)),
        Napi::Number::New(env, static_cast<double>(request.length)),
        data,
    });
  } catch (const Napi::Error& error) {
    {
      std::lock_guard<std::mutex> lock(session->mutex);
      session->pending.erase(request.id);
    }
    CompleteRequest(request, BridgeStatus::Failure, std::string("the JavaScript handler threw: ") + error.Message());
  } catch (...) {
    {
      std::lock_guard<std::mutex> lock(session->mutex);
      session->pending.erase(request.id);
    }
    CompleteRequest(request, BridgeStatus::Failure, "the JavaScript handler failed");
  }
}

size_t NearHeapLimit(void* data, size_t currentLimit, size_t /*initialLimit*/) {
  auto* session = static_cast<Session*>(data);
  if (!session->heapLimitHit.exchange(true)) {
    LogError("the JavaScript runtime is near its heap limit (" + std::to_string(currentLimit >> 20) +
             " MB); terminating it so that it restarts (raise AzureBlobStorage.JavaScriptHeapLimitMB if this repeats)");
    session->isolate->TerminateExecution();
    std::lock_guard<std::mutex> lock(g.mutex);
    g.cv.notify_all();  // wake the supervisor, which stops the environment
  }
  // Headroom so that termination can finish instead of V8 aborting the whole process.
  return currentLimit + currentLimit / 2;
}

void RunEnvironment() {
  std::vector<std::string> errors;
  std::vector<std::string> args{"orthanc-azure-blob-storage"};
  std::vector<std::string> execArgs;
  // Not kOwnsProcessState: JS must not change Orthanc's cwd/umask or own its signals.
  const auto flags = static_cast<node::EnvironmentFlags::Flags>(
      node::EnvironmentFlags::kNoCreateInspector | node::EnvironmentFlags::kNoGlobalSearchPaths |
      node::EnvironmentFlags::kNoNativeAddons | node::EnvironmentFlags::kTrackUnmanagedFds);
  std::unique_ptr<node::CommonEnvironmentSetup> setup =
      node::CommonEnvironmentSetup::Create(g_platform.get(), &errors, args, execArgs, flags);
  if (!setup) {
    std::string joined;
    for (const auto& e : errors) joined += (joined.empty() ? "" : "; ") + e;
    LogError("cannot create the JavaScript environment: " + joined);
    ReportInitialOutcome(false, "cannot create the JavaScript environment: " + joined);
    return;
  }

  auto session = std::make_shared<Session>();
  session->jsThread = std::this_thread::get_id();
  session->isolate = setup->isolate();
  session->env = setup->env();
  {
    std::lock_guard<std::mutex> lock(g.mutex);
    if (g.stopping) return;
    session->generation = ++g.generation;
    g.session = session;
  }

  v8::Isolate* isolate = setup->isolate();
  {
    v8::Locker locker(isolate);
    v8::Isolate::Scope isolateScope(isolate);
    v8::HandleScope handleScope(isolate);
    v8::Context::Scope contextScope(setup->context());

    node::AddLinkedBinding(setup->env(), kBindingName, RegisterBinding, NAPI_VERSION);
    std::weak_ptr<Session> weak = session;
    node::SetProcessExitHandler(setup->env(), [weak](node::Environment* env, int code) {
      // process.exit() and uncaught exceptions end the JS environment, never Orthanc.
      if (auto s = weak.lock()) {
        std::lock_guard<std::mutex> lock(s->mutex);
        if (s->stopReason.empty()) s->stopReason = "JavaScript exited with code " + std::to_string(code);
        s->stopIssued = true;
      }
      node::Stop(env);
    });
    isolate->AddNearHeapLimitCallback(NearHeapLimit, session.get());

    node::LoadEnvironment(setup->env(), kBootstrap);
    node::SpinEventLoop(setup->env());

    CloseSession(*session);
    session->handler.Reset();
    node::Stop(setup->env());
    isolate->RemoveNearHeapLimitCallback(NearHeapLimit, 0);
  }

  std::string reason;
  {
    std::lock_guard<std::mutex> lock(session->mutex);
    session->env = nullptr;
    reason = session->stopReason.empty() ? "the JavaScript event loop ended" : session->stopReason;
  }
  {
    std::lock_guard<std::mutex> lock(g.mutex);
    if (g.session == session) g.session.reset();
  }
  ReportInitialOutcome(false, "the JavaScript runtime stopped before it was ready: " + reason);
  if (!g.stopping) LogWarning("the JavaScript runtime stopped: " + reason);
  // Orthanc threads may still be copying results out of this environment's memory.
  while (session->copiesInFlight.load() > 0) std::this_thread::sleep_for(milliseconds(1));
  setup.reset();
}

void JsThreadMain() {
  int consecutiveFailures = 0;
  for (;;) {
    const auto started = Clock::now();
    RunEnvironment();
    std::unique_lock<std::mutex> lock(g.mutex);
    if (g.stopping || !g.initialOk) break;  // a failed first start is reported, not retried
    if (Clock::now() - started > std::chrono::seconds(60)) consecutiveFailures = 0;
    const milliseconds delay =
        std::min(milliseconds(30000), milliseconds(250) * (1 << std::min(consecutiveFailures, 7)));
    ++consecutiveFailures;
    LogWarning("restarting the JavaScript runtime in " + std::to_string(delay.count()) + " ms");
    g.cv.wait_for(lock, delay, [] { return g.stopping; });
    if (g.stopping) break;
    ++g.restarts;
  }
}

void SupervisorMain() {
  std::unique_lock<std::mutex> lock(g.mutex);
  while (!g.stopping) {
    g.cv.wait_for(lock, kSupervisorTick);
    if (g.stopping) break;
    std::shared_ptr<Session> session = g.session;
    lock.unlock();
    if (session) {
      if (session->heapLimitHit) {
        StopSession(*session, "the JavaScript heap limit was reached");
      } else {
        std::lock_guard<std::mutex> sessionLock(session->mutex);
        if (session->accepting && !session->stopIssued) {
          const int64_t silentMs = NowMs() - session->lastActivityMs.load();
          if (silentMs > session->watchdogTimeout.count()) {
            LogError("the JavaScript thread has not answered for " + std::to_string(silentMs / 1000) +
                     " s; terminating it so that it restarts");
            if (session->stopReason.empty()) session->stopReason = "the JavaScript thread was unresponsive";
            session->stopIssued = true;
            node::Stop(session->env);
          } else {
            session->tsfn.NonBlockingCall(new Task{Task::Kind::Ping, nullptr});
          }
        }
      }
    }
    lock.lock();
  }
}

bool InitializeProcessOnce(int heapLimitMb, std::string* error) {
  if (g_processInitialised) return true;
  // --expose-gc: JS asks for a collection after a big attachment (src/memory-release.ts), so that
  // its off-heap buffers are freed at once instead of piling up until V8's next heap-driven GC.
  std::vector<std::string> args{"orthanc-azure-blob-storage", "--max-old-space-size=" + std::to_string(heapLimitMb),
                                "--expose-gc"};
  // No signal handlers, no stdio changes, no NODE_OPTIONS from the environment: Orthanc owns the process.
  const auto flags = static_cast<node::ProcessInitializationFlags::Flags>(
      node::ProcessInitializationFlags::kNoInitializeV8 |
      node::ProcessInitializationFlags::kNoInitializeNodeV8Platform |
      node::ProcessInitializationFlags::kDisableNodeOptionsEnv |
      node::ProcessInitializationFlags::kNoPrintHelpOrVersionOutput |
      node::ProcessInitializationFlags::kNoStdioInitialization |
      node::ProcessInitializationFlags::kNoDefaultSignalHandling |
      node::ProcessInitializationFlags::kNoAdjustResourceLimits |
      node::ProcessInitializationFlags::kNoUseLargePages | node::ProcessInitializationFlags::kNoInitOpenSSL);
  std::unique_ptr<node::InitializationResult> result = node::InitializeOncePerProcess(args, flags);
  if (result->early_return() || result->exit_code() != 0) {
    std::string joined;
    for (const auto& e : result->errors()) joined += (joined.empty() ? "" : "; ") + e;
    *error = "cannot initialise Node.js: " + joined;
    return false;
  }
  g_platform = node::MultiIsolatePlatform::Create(2);
  v8::V8::InitializePlatform(g_platform.get());
  v8::V8::Initialize();
  g_processInitialised = true;
  return true;
}

}  // namespace

bool StartRuntime(OrthancPluginContext* context, const RuntimeOptions& options, std::string* error) {
  g_context = context;
  if (!InitializeProcessOnce(options.heapLimitMb, error)) return false;
  {
    std::lock_guard<std::mutex> lock(g.mutex);
    if (g.running) {
      *error = "the JavaScript runtime is already running";
      return false;
    }
    g.running = true;
    g.stopping = false;
    g.options = options;
    g.initialOutcomeKnown = false;
    g.initialOk = false;
    g.initialError.clear();
    g.restarts = 0;
  }
  g.jsThread = std::thread(JsThreadMain);
  g.supervisor = std::thread(SupervisorMain);

  bool ok = false;
  {
    std::unique_lock<std::mutex> lock(g.mutex);
    if (!g.cv.wait_for(lock, options.readyTimeout, [] { return g.initialOutcomeKnown; })) {
      *error = "the JavaScript side did not report ready within " +
               std::to_string(options.readyTimeout.count() / 1000) + " s";
    } else if (!g.initialOk) {
      *error = g.initialError;
    } else {
      ok = true;
    }
  }
  if (!ok) StopRuntime(milliseconds(0));
  return ok;
}

void StopRuntime(milliseconds drainTimeout) {
  std::shared_ptr<Session> session;
  {
    std::lock_guard<std::mutex> lock(g.mutex);
    if (!g.running) return;
    g.stopping = true;
    session = g.session;
    g.cv.notify_all();
  }
  if (session) {
    {
      std::lock_guard<std::mutex> lock(session->mutex);
      session->accepting = false;  // new calls fail fast; in-flight ones may still complete
      session->acceptingFlag = false;
    }
    const auto deadline = Clock::now() + drainTimeout;
    for (;;) {
      {
        std::lock_guard<std::mutex> lock(session->mutex);
        if (session->pending.empty()) break;
      }
      if (Clock::now() >= deadline) {
        LogWarning("stopping with storage calls still in flight; they fail");
        break;
      }
      std::this_thread::sleep_for(milliseconds(10));
    }
    StopSession(*session, "the plugin is stopping");
  }
  if (g.jsThread.joinable()) g.jsThread.join();
  if (g.supervisor.joinable()) g.supervisor.join();
  std::lock_guard<std::mutex> lock(g.mutex);
  g.session.reset();
  g.running = false;
}

// On the Orthanc thread: copies a big readWhole result out of JS memory (kept alive by
// keepAlive, and the environment by copiesInFlight), then has the JS thread drop the reference.
Result CopyResultOut(const std::shared_ptr<Session>& session, const std::shared_ptr<Request>& request) {
  Result result = request->result;
  if (OrthancPluginCreateMemoryBuffer64(g_context, request->target, request->resultSize) !=
      OrthancPluginErrorCode_Success) {
    result = Result{BridgeStatus::Failure,
                    "cannot allocate " + std::to_string(request->resultSize) + " bytes for the attachment"};
  } else {
    std::memcpy(request->target->data, request->resultData, request->resultSize);
  }
  {
    std::lock_guard<std::mutex> lock(session->mutex);
    // A closed session frees its references with the environment.
    if (!session->accepting || session->tsfn.NonBlockingCall(new Task{Task::Kind::Release, request}) != napi_ok) {
      request->keepAlive = nullptr;
    }
  }
  session->copiesInFlight.fetch_sub(1);
  return result;
}

Result CallRuntime(const std::shared_ptr<Request>& request) {
  std::shared_ptr<Session> session;
  {
    std::unique_lock<std::mutex> lock(g.mutex);
    auto usable = [] { return g.stopping || (g.session && g.session->acceptingFlag.load()); };
    if (!usable()) g.cv.wait_for(lock, kWaitForRuntime, usable);
    if (g.stopping) return Result{BridgeStatus::Failure, "the plugin is stopping"};
    session = g.session;
  }
  if (!session) {
    return Result{BridgeStatus::Failure, "the JavaScript runtime is not running (it is restarting; see earlier errors)"};
  }

  milliseconds deadline;
  request->id = g_nextId.fetch_add(1);
  {
    std::lock_guard<std::mutex> lock(session->mutex);
    if (!session->accepting) {
      return Result{BridgeStatus::Failure, "the JavaScript runtime is restarting"};
    }
    session->pending.emplace(request->id, request);
    auto* task = new Task{Task::Kind::Dispatch, request};
    if (session->tsfn.NonBlockingCall(task) != napi_ok) {
      session->pending.erase(request->id);
      delete task;
      return Result{BridgeStatus::Failure, "the JavaScript runtime is not accepting calls"};
    }
    deadline = session->operationTimeout + kGracePeriod;
  }

  std::unique_lock<std::mutex> lock(request->mutex);
  if (!request->cv.wait_for(lock, deadline, [&] { return request->done; })) {
    request->abandoned = true;
    lock.unlock();
    {
      std::lock_guard<std::mutex> sessionLock(session->mutex);
      session->pending.erase(request->id);
    }
    return Result{BridgeStatus::Timeout,
                  "no answer from the JavaScript runtime within " + std::to_string(deadline.count() / 1000) + " s"};
  }
  if (request->keepAlive == nullptr) return request->result;
  lock.unlock();
  return CopyResultOut(session, request);
}

}  // namespace oabs
