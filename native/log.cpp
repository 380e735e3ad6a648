#include "log.h"

#include "orthanc_context.h"

#include <orthanc/OrthancCPlugin.h>

namespace oabs {
namespace {

constexpr const char* kPrefix = "AzureBlobStorage: ";

void Emit(OrthancPluginContext* context, LogLevel level, const char* line) {
  switch (level) {
    case LogLevel::Error:
      OrthancPluginLogError(context, line);
      break;
    case LogLevel::Warning:
      OrthancPluginLogWarning(context, line);
      break;
    case LogLevel::Info:
      OrthancPluginLogInfo(context, line);
      break;
  }
}

}  // namespace

void LogAt(LogLevel level, const char* message) noexcept {
  OrthancPluginContext* context = OrthancContext();
  if (context == nullptr) return;
  try {
    Emit(context, level, (kPrefix + std::string(message)).c_str());
  } catch (...) {
    // Out of memory for the prefixed copy: the message alone still says what happened.
    Emit(context, level, message);
  }
}

void LogAt(LogLevel level, const std::string& message) noexcept { LogAt(level, message.c_str()); }

}  // namespace oabs
