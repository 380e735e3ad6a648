// Every line the plugin writes into Orthanc's log, from C++ and (through the binding's log())
// from JS, goes through LogAt: prefixed with the plugin's name. Thread-safe (Orthanc's log is)
// and noexcept, so that it may be called from any catch block.
#pragma once

#include <string>

namespace oabs {

enum class LogLevel { Error, Warning, Info };

void LogAt(LogLevel level, const std::string& message) noexcept;
void LogAt(LogLevel level, const char* message) noexcept;  // allocates nothing to build the line it is given
inline void LogError(const std::string& message) noexcept { LogAt(LogLevel::Error, message); }
inline void LogWarning(const std::string& message) noexcept { LogAt(LogLevel::Warning, message); }
inline void LogInfo(const std::string& message) noexcept { LogAt(LogLevel::Info, message); }

}  // namespace oabs
