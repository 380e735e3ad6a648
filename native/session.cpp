#include "session.h"

#include "orthanc_buffer.h"

#include <utility>

namespace oabs {
namespace {

using std::chrono::milliseconds;

// A call's deadline is the JS operation deadline plus this, so JS normally reports its own,
// clearer timeout first; this deadline only catches Promises that never settle.
constexpr milliseconds kGracePeriod{5000};

std::atomic<uint64_t> g_nextId{1};

std::string Describe(milliseconds duration) {
  const auto ms = duration.count();
  return ms % 1000 == 0 ? std::to_string(ms / 1000) + " s" : std::to_string(ms) + " ms";
}

// Caller holds session.mutex and has checked session.open. False when the tsfn refused the Task.
bool PostLocked(Session& session, Task::Kind kind, const std::shared_ptr<Request>& request) {
  auto task = std::make_unique<Task>(Task{kind, request});
  if (session.tsfn.NonBlockingCall(task.get()) != napi_ok) return false;
  task.release();  // CallJs owns it now
  return true;
}

// Caller holds session.mutex and has checked that the session admits the request (accepting,
// or open for a Shutdown; accepting implies open).
bool DispatchLocked(Session& session, const std::shared_ptr<Request>& request) {
  request->id = g_nextId.fetch_add(1);
  session.pending.Add(request);
  if (PostLocked(session, Task::Kind::Dispatch, request)) return true;
  session.pending.Forget(request->id);
  return false;
}

// Copies a big readWhole result out of JS memory (kept alive by keepAlive, and the environment
// by copiesInFlight), then has the JS thread drop the reference.
Result CopyResultOut(Session& session, const std::shared_ptr<Request>& request) {
  Result result = request->result;
  std::string error;
  if (!FillOrthancBuffer(*request, ResultBytes{request->resultData, request->resultSize, true}, &error)) {
    result = Result{BridgeStatus::Failure, error};
  }
  {
    std::lock_guard<std::mutex> lock(session.mutex);
    // A closed session frees its references with the environment.
    if (!session.open || !PostLocked(session, Task::Kind::Release, request)) request->keepAlive = nullptr;
  }
  session.copiesInFlight.fetch_sub(1);
  return result;
}

// Waits for a dispatched request until `deadline` has passed.
Result Await(Session& session, const std::shared_ptr<Request>& request, milliseconds deadline) {
  std::unique_lock<std::mutex> lock(request->mutex);
  if (!request->cv.wait_for(lock, deadline, [&] { return request->done; })) {
    request->abandoned = true;
    lock.unlock();
    session.pending.Forget(request->id);
    return Result{BridgeStatus::Timeout, "no answer from the JavaScript runtime within " + Describe(deadline)};
  }
  if (request->keepAlive == nullptr) return request->result;
  lock.unlock();
  return CopyResultOut(session, request);
}

}  // namespace

void StopSession(Session& session, const std::string& reason) {
  std::lock_guard<std::mutex> lock(session.mutex);
  if (session.stopReason.empty()) session.stopReason = reason;
  if (session.env != nullptr && !session.stopIssued) {
    session.stopIssued = true;
    node::Stop(session.env);
  }
}

void StopAccepting(Session& session) {
  std::lock_guard<std::mutex> lock(session.mutex);
  session.accepting = false;
  session.acceptingFlag = false;
}

void CloseSession(Session& session) {
  PendingRequests::Map pending;
  std::string reason;
  {
    std::lock_guard<std::mutex> lock(session.mutex);
    session.open = false;
    session.accepting = false;
    session.acceptingFlag = false;
    pending = session.pending.TakeAll();
    reason = session.stopReason.empty() ? "the JavaScript runtime stopped" : session.stopReason;
  }
  for (auto& entry : pending) {
    SettleRequest(*entry.second, Result{BridgeStatus::Failure,
                                        "the JavaScript runtime stopped while the call was in flight (" + reason + ")"});
  }
}

void PingSession(Session& session) {
  std::lock_guard<std::mutex> lock(session.mutex);
  if (session.open) PostLocked(session, Task::Kind::Ping, nullptr);
}

Result CallSession(Session& session, const std::shared_ptr<Request>& request) {
  milliseconds deadline;
  {
    std::lock_guard<std::mutex> lock(session.mutex);
    if (!session.accepting) return Result{BridgeStatus::Failure, "the JavaScript runtime is restarting"};
    if (!DispatchLocked(session, request)) {
      return Result{BridgeStatus::Failure, "the JavaScript runtime is not accepting calls"};
    }
    deadline = session.operationTimeout + kGracePeriod;
  }
  return Await(session, request, deadline);
}

Result ShutdownSession(Session& session, milliseconds budget) {
  auto request = std::make_shared<Request>();
  request->op = Operation::Shutdown;
  {
    std::lock_guard<std::mutex> lock(session.mutex);
    if (!session.open) return Result{BridgeStatus::Failure, "the JavaScript runtime is not running"};
    if (!DispatchLocked(session, request)) {
      return Result{BridgeStatus::Failure, "the JavaScript runtime is not accepting calls"};
    }
  }
  return Await(session, request, budget);
}

}  // namespace oabs
