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

inline BridgeStatus BridgeStatusFromInt(int value) {
  switch (value) {
    case 0:
      return BridgeStatus::Ok;
    case 1:
      return BridgeStatus::NotFound;
    case 2:
      return BridgeStatus::Integrity;
    case 3:
      return BridgeStatus::Timeout;
    default:
      return BridgeStatus::Failure;
  }
}

}  // namespace oabs
