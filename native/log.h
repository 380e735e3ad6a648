// Lines into Orthanc's log, prefixed with the plugin's name. Thread-safe (Orthanc's log is).
#pragma once

#include <orthanc/OrthancCPlugin.h>

#include <string>

namespace oabs {

enum class LogLevel { Error, Warning, Info };

void SetLogContext(OrthancPluginContext* context);
void LogAt(LogLevel level, const std::string& message);
inline void LogError(const std::string& message) { LogAt(LogLevel::Error, message); }
inline void LogWarning(const std::string& message) { LogAt(LogLevel::Warning, message); }
inline void LogInfo(const std::string& message) { LogAt(LogLevel::Info, message); }

}  // namespace oabs
