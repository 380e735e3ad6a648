#include "pending_requests.h"

#include <utility>

namespace oabs {

void PendingRequests::Add(const std::shared_ptr<Request>& request) {
  std::lock_guard<std::mutex> lock(mutex_);
  requests_.emplace(request->id, request);
}

std::shared_ptr<Request> PendingRequests::Take(uint64_t id) {
  std::lock_guard<std::mutex> lock(mutex_);
  auto it = requests_.find(id);
  if (it == requests_.end()) return nullptr;
  std::shared_ptr<Request> request = std::move(it->second);
  requests_.erase(it);
  return request;
}

void PendingRequests::Forget(uint64_t id) {
  std::lock_guard<std::mutex> lock(mutex_);
  requests_.erase(id);
}

PendingRequests::Map PendingRequests::TakeAll() {
  Map all;
  std::lock_guard<std::mutex> lock(mutex_);
  all.swap(requests_);
  return all;
}

size_t PendingRequests::Size() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return requests_.size();
}

void SettleRequest(Request& request, Result result) {
  std::lock_guard<std::mutex> lock(request.mutex);
  if (request.done || request.abandoned) return;
  request.result = std::move(result);
  request.done = true;
  request.cv.notify_all();
}

}  // namespace oabs
