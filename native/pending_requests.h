// The requests one JS environment holds: posted to its JS thread and not yet completed, failed
// or given up by their Orthanc thread. Thread-safe.
#pragma once

#include "bridge_types.h"

#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <unordered_map>

namespace oabs {

class PendingRequests {
 public:
  using Map = std::unordered_map<uint64_t, std::shared_ptr<Request>>;

  void Add(const std::shared_ptr<Request>& request);
  // Removes and returns the request; null when it is no longer pending.
  std::shared_ptr<Request> Take(uint64_t id);
  void Forget(uint64_t id);
  Map TakeAll();  // no allocation: safe when memory is short
  size_t Size() const;

 private:
  mutable std::mutex mutex_;
  Map requests_;
};

// Wakes the waiting Orthanc thread with `result`, unless the request is already done or abandoned.
void SettleRequest(Request& request, Result result);

}  // namespace oabs
