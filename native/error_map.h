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
    // A limit of this storage area, not of the host: NotEnoughMemory ("the server hosting
    // Orthanc is running out of memory") would send the operator to add RAM, which cannot help,
    // and ParameterOutOfRange (HTTP 400) would blame a client whose file is valid.
    case BridgeStatus::TooLarge:
      return OrthancPluginErrorCode_StorageAreaPlugin;
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
    case BridgeStatus::TooLarge:
      return status;
  }
  return BridgeStatus::Failure;
}

}  // namespace oabs
