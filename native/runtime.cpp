// The runtime's lifecycle: process-wide V8 initialisation (once), one JS thread that runs an
// Environment and restarts it when it stops, and a supervisor thread that watches the JS
// thread (watchdog, heap limit). Calls reach the current session through session.h.

// node.h first: its node_version.h sets NAPI_VERSION, which napi.h would otherwise default.
#include <node.h>
#include <v8.h>

#include <napi.h>

#include "bindings.h"
#include "lifecycle.h"
#include "log.h"
#include "runtime.h"
#include "session.h"

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <mutex>
#include <thread>
#include <vector>

namespace oabs {
namespace {

using std::chrono::milliseconds;

// How long a new call waits for a restarting runtime before failing.
constexpr milliseconds kWaitForRuntime{15000};
constexpr milliseconds kSupervisorTick{500};
// At most this, within StopRuntime's drain timeout, for JS to release its keys and workers.
constexpr milliseconds kDisposeTimeout{3000};

// Runs as an embedder "main script": loads the bundle linked into the .so as CommonJS.
std::string BootstrapScript() {
  return std::string("'use strict';\nconst binding = process._linkedBinding('") + kBindingName + "');\n" + R"JS(
const { createRequire } = require('module');
const { compileFunction } = require('vm');
const filename = '/orthanc-azure-blob-storage/plugin.js';
const wrapper = compileFunction(binding.bundleSource(),
  ['exports', 'require', 'module', '__filename', '__dirname'], { filename });
const mod = { exports: {} };
wrapper.call(mod.exports, mod.exports, createRequire(filename), mod, filename, '/orthanc-azure-blob-storage');
)JS";
}

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

    node::LoadEnvironment(setup->env(), BootstrapScript().c_str());
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

// One supervisor tick: stops a session past its heap limit or silent for longer than its
// watchdog timeout; otherwise pings it, so that a JS thread that answers keeps it alive.
void Supervise(Session& session) {
  if (session.heapLimitHit) {
    StopSession(session, "the JavaScript heap limit was reached");
    return;
  }
  int64_t silentMs = 0;
  bool unresponsive = false;
  {
    std::lock_guard<std::mutex> lock(session.mutex);
    if (!session.accepting || session.stopIssued) return;
    silentMs = NowMs() - session.lastActivityMs.load();
    unresponsive = silentMs > session.watchdogTimeout.count();
  }
  if (!unresponsive) {
    PingSession(session);
    return;
  }
  LogError("the JavaScript thread has not answered for " + std::to_string(silentMs / 1000) +
           " s; terminating it so that it restarts");
  StopSession(session, "the JavaScript thread was unresponsive");
}

void SupervisorMain() {
  std::unique_lock<std::mutex> lock(g.mutex);
  while (!g.stopping) {
    g.cv.wait_for(lock, kSupervisorTick);
    if (g.stopping) break;
    std::shared_ptr<Session> session = g.session;
    lock.unlock();
    if (session) Supervise(*session);
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

// Lets calls in flight finish until `deadline`.
void Drain(Session& session, Clock::time_point deadline) {
  while (session.pending.Size() > 0) {
    if (Clock::now() >= deadline) {
      LogWarning("stopping with storage calls still in flight; they fail");
      return;
    }
    std::this_thread::sleep_for(milliseconds(10));
  }
}

// Asks JS to release what it holds (keys, workers, store) before its environment stops, for
// at most kDisposeTimeout and never past `deadline`.
void AskJsToDispose(Session& session, Clock::time_point deadline) {
  {
    std::lock_guard<std::mutex> lock(session.mutex);
    if (!session.open) return;  // never ready, or already closing: JS holds nothing to release
  }
  const auto left = std::chrono::duration_cast<milliseconds>(deadline - Clock::now());
  const milliseconds budget = std::min(kDisposeTimeout, left);
  if (budget <= milliseconds(0)) return;  // the drain used it all, and said so
  const Result result = ShutdownSession(session, budget);
  if (result.status != BridgeStatus::Ok) {
    LogWarning("JavaScript did not finish releasing its keys, workers and store before stopping: " + result.message);
  }
}

}  // namespace

std::shared_ptr<Session> SessionOfThisThread() {
  std::lock_guard<std::mutex> lock(g.mutex);
  if (g.session && g.session->jsThread == std::this_thread::get_id()) return g.session;
  return nullptr;
}

std::string ConfigurationJson() {
  std::lock_guard<std::mutex> lock(g.mutex);
  return g.options.configurationJson;
}

uint64_t RestartCount() {
  std::lock_guard<std::mutex> lock(g.mutex);
  return g.restarts;
}

void ReportReady() {
  {
    std::lock_guard<std::mutex> lock(g.mutex);
    g.cv.notify_all();
  }
  ReportInitialOutcome(true, "");
}

void ReportStartupFailure(const std::string& message) {
  bool first = false;
  {
    std::lock_guard<std::mutex> lock(g.mutex);
    first = !g.initialOutcomeKnown;
  }
  if (first) {
    ReportInitialOutcome(false, message);
  } else {
    LogError("the restarted JavaScript runtime failed to start: " + message);
  }
}

bool StartRuntime(const RuntimeOptions& options, std::string* error) {
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
    const auto deadline = Clock::now() + drainTimeout;
    StopAccepting(*session);  // new calls fail fast; in-flight ones may still complete
    Drain(*session, deadline);
    AskJsToDispose(*session, deadline);
    StopSession(*session, "the plugin is stopping");
  }
  if (g.jsThread.joinable()) g.jsThread.join();
  if (g.supervisor.joinable()) g.supervisor.join();
  std::lock_guard<std::mutex> lock(g.mutex);
  g.session.reset();
  g.running = false;
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
  return CallSession(*session, request);
}

}  // namespace oabs
