// The one table from bridge statuses to Orthanc error codes.
#pragma once

#include "bridge_types.h"

namespace oabs {

inline OrthancPluginErrorCode ToOrthancError(BridgeStatus status) {
  switch (status) {
    case BridgeStatus::Ok:
      return OrthancPluginErrorCode_Success;
    case BridgeStatus::NotFound:
      return OrthancPluginErrorCode_InexistentFile;
    case BridgeStatus::Integrity:
      return OrthancPluginErrorCode_CorruptedFile;
    case BridgeStatus::Timeout:
      return OrthancPluginErrorCode_Timeout;
    case BridgeStatus::Failure:
    default:
      return OrthancPluginErrorCode_StorageAreaPlugin;
  }
}

// A status number from JS; anything that is not a BridgeStatus is a Failure.
inline BridgeStatus BridgeStatusFromInt(int value) {
  const auto status = static_cast<BridgeStatus>(value);  // defined for any int: the enum is `: int`
  switch (status) {
    case BridgeStatus::Ok:
    case BridgeStatus::NotFound:
    case BridgeStatus::Integrity:
    case BridgeStatus::Timeout:
    case BridgeStatus::Failure:
      return status;
  }
  return BridgeStatus::Failure;
}

}  // namespace oabs
