#include "orthanc_buffer.h"

#include "orthanc_context.h"

#include <cstring>

namespace oabs {

bool FillOrthancBuffer(const Request& request, const ResultBytes& bytes, std::string* error) {
  OrthancPluginMemoryBuffer64* target = request.target;
  if (target == nullptr) {
    *error = std::string("internal error: ") + OperationName(request.op) + " has no Orthanc buffer";
    return false;
  }
  switch (request.op) {
    case Operation::ReadWhole:
      if (!bytes.present) {
        *error = "internal error: readWhole completed without data";
        return false;
      }
      if (OrthancPluginCreateMemoryBuffer64(OrthancContext(), target, bytes.size) != OrthancPluginErrorCode_Success) {
        *error = "cannot allocate " + std::to_string(bytes.size) + " bytes for the attachment";
        return false;
      }
      break;
    case Operation::ReadRange:
      /* Precondition: exactly the requested length, or Orthanc would read garbage. */
      if (!bytes.present || bytes.size != target->size) {
        *error = "readRange returned " + std::to_string(bytes.present ? bytes.size : 0) + " bytes instead of the " +
                 std::to_string(target->size) + " requested";
        return false;
      }
      break;
    default:
      *error = std::string("internal error: ") + OperationName(request.op) + " has no Orthanc buffer";
      return false;
  }
  if (bytes.size > 0) std::memcpy(target->data, bytes.data, bytes.size);
  return true;
}

}  // namespace oabs
