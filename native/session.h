// One JS Environment's lifetime, seen from both sides: the thread-safe function that carries
// Tasks to its JS thread, the requests it holds, and the flags that say what it admits.
// Created by the environment loop (runtime.cpp), made ready by the binding (bindings.cpp).
#pragma once

// node.h first: its node_version.h sets NAPI_VERSION, which napi.h would otherwise default.
#include <node.h>
#include <v8.h>

#include <napi.h>

#include "bridge_types.h"
#include "pending_requests.h"

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

namespace oabs {

using Clock = std::chrono::steady_clock;

inline int64_t NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now().time_since_epoch()).count();
}

struct Session;

struct Task {
  // Dispatch: hand `request` to the JS handler. Ping: the supervisor's liveness probe.
  // Release: delete a readWhole result's keepAlive reference once its copy is done.
  enum class Kind { Dispatch, Ping, Release } kind;
  std::shared_ptr<Request> request;
};

// On the JS thread, for every Task (dispatch.cpp).
void CallJs(Napi::Env env, Napi::Function unused, Session* session, Task* task);
using Tsfn = Napi::TypedThreadSafeFunction<Session, Task, CallJs>;

struct Session {
  uint64_t generation = 0;
  std::thread::id jsThread;
  v8::Isolate* isolate = nullptr;

  std::mutex mutex;
  node::Environment* env = nullptr;  // guarded by mutex; null once torn down
  bool open = false;       // guarded by mutex; tsfn callable: from ready() until CloseSession
  bool accepting = false;  // guarded by mutex; new calls admitted: from ready() until the plugin stops or CloseSession
  bool stopIssued = false;            // guarded by mutex
  std::string stopReason;             // guarded by mutex
  Tsfn tsfn;                          // guarded by mutex; set by ready()
  std::chrono::milliseconds operationTimeout{120000};  // guarded by mutex; set by ready()
  std::chrono::milliseconds watchdogTimeout{30000};    // guarded by mutex; set by ready()

  PendingRequests pending;

  std::atomic<bool> acceptingFlag{false};  // lock-free copy of accepting, for waiters
  std::atomic<int64_t> lastActivityMs{0};  // NowMs() of the JS thread's last sign of life
  std::atomic<bool> heapLimitHit{false};
  // readWhole results that Orthanc threads are copying out of JS memory: the environment (and
  // with it that memory) is not freed while this is above zero.
  std::atomic<int> copiesInFlight{0};

  Napi::FunctionReference handler;  // JS thread only
};

// Thread-safe: asks the environment to stop (node::Stop: TerminateExecution and loop stop).
// The first reason given is the one logged.
void StopSession(Session& session, const std::string& reason);

// Stops new calls; in-flight ones may still complete.
void StopAccepting(Session& session);

// JS thread, once its event loop has ended: closes the tsfn to new Tasks and fails every
// request still pending.
void CloseSession(Session& session);

// Posts a Ping for the supervisor unless the session is closed.
void PingSession(Session& session);

// Orthanc thread: sends a storage, REST or Echo call and waits for its result, at most the
// operation timeout plus a grace period. Fails at once unless the session admits new calls.
Result CallSession(Session& session, const std::shared_ptr<Request>& request);

// Orthanc thread: sends Operation::Shutdown, also once the session no longer admits calls (it
// must still be open), and waits at most `budget` for JS to release what it holds.
Result ShutdownSession(Session& session, std::chrono::milliseconds budget);

}  // namespace oabs
