// The Orthanc plugin: entry points, startup order, and the storage and REST callbacks.
// Every callback copies Orthanc's arguments into a plain Request, hands it to the JS
// runtime, waits, and maps the result through the one table in error_map.h.

#include "buffer_limit.h"
#include "error_map.h"
#include "hop.h"
#include "log.h"
#include "orthanc_context.h"
#include "runtime.h"

#include <orthanc/OrthancCPlugin.h>

#include <nlohmann/json.hpp>

#include <chrono>
#include <cstring>
#include <memory>
#include <new>
#include <string>
#include <sys/stat.h>
#include <vector>

#ifndef OABS_PLUGIN_VERSION
#define OABS_PLUGIN_VERSION "0.0.0"
#endif

namespace oabs {
namespace {

bool g_active = false;

constexpr const char* kSection = "AzureBlobStorage";
// How long OrthancPluginFinalize lets in-flight calls finish and JS release its keys.
constexpr std::chrono::milliseconds kDrainTimeout{10000};

// The only settings the shim reads itself: whether to start at all, and the heap size V8
// needs before it starts. JS validates the whole section again, with the same messages.
struct ShimSettings {
  bool enabled = false;
  int heapLimitMb = 2048;
};

std::string Describe(const nlohmann::json& value) {
  if (value.is_string()) {
    std::string s = value.get<std::string>();
    if (s.size() > 60) s = s.substr(0, 60) + "...";
    return nlohmann::json(s).dump() + " (a string)";
  }
  if (value.is_array()) return "an array";
  if (value.is_object()) return "an object";
  return value.dump();
}

bool ReadShimSettings(const std::string& configurationJson, ShimSettings* settings, std::string* error) {
  nlohmann::json root;
  try {
    root = nlohmann::json::parse(configurationJson);
  } catch (const std::exception& e) {
    *error = std::string("cannot parse Orthanc's configuration: ") + e.what();
    return false;
  }
  if (!root.is_object() || !root.contains(kSection)) return true;  // no section: disabled
  const nlohmann::json& section = root[kSection];
  if (!section.is_object()) {
    *error = std::string("Expected an object for AzureBlobStorage but received ") + Describe(section);
    return false;
  }
  if (section.contains("EnableStorage")) {
    const auto& value = section["EnableStorage"];
    if (!value.is_boolean()) {
      *error = "Expected a boolean for AzureBlobStorage.EnableStorage but received " + Describe(value);
      return false;
    }
    settings->enabled = value.get<bool>();
  }
  if (section.contains("JavaScriptHeapLimitMB")) {
    const auto& value = section["JavaScriptHeapLimitMB"];
    if (!value.is_number_integer() || value.get<int64_t>() < 256 || value.get<int64_t>() > 65536) {
      *error = "Expected an integer from 256 to 65536 for AzureBlobStorage.JavaScriptHeapLimitMB but received " +
               Describe(value);
      return false;
    }
    settings->heapLimitMb = static_cast<int>(value.get<int64_t>());
  }
  return true;
}

// libnode aborts the whole process when these are missing, so look before starting it.
bool CheckLibnodeDependencies(std::string* error) {
  static const char* const kFiles[] = {
      "/usr/share/nodejs/acorn/dist/acorn.js",          "/usr/share/nodejs/acorn-walk/dist/walk.js",
      "/usr/share/nodejs/cjs-module-lexer/lexer.js",    "/usr/share/nodejs/cjs-module-lexer/dist/lexer.js",
      "/usr/share/nodejs/undici/undici-fetch.js",
  };
  std::vector<std::string> missing;
  for (const char* file : kFiles) {
    struct stat info;
    if (stat(file, &info) != 0) missing.emplace_back(file);
  }
  if (missing.empty()) return true;
  std::string list;
  for (const auto& m : missing) list += (list.empty() ? "" : ", ") + m;
  *error = "libnode's JavaScript dependencies are missing: " + list +
           " (install the Debian packages node-acorn, node-cjs-module-lexer and node-undici)";
  return false;
}

OrthancPluginErrorCode Finish(const Request& request, const Result& result) {
  if (result.status != BridgeStatus::Ok) {
    LogError(std::string(OperationName(request.op)) + " failed for attachment " + request.uuid + " (content type " +
             std::to_string(request.contentType) + "): " + result.message);
  }
  return ToOrthancError(result.status);
}

// The catch blocks' answer: logs "<op> failed for attachment <uuid>: <what>" (without the
// attachment when `uuid` is null) and returns `code` to Orthanc. noexcept: with no memory left
// for that line, it logs a fixed one.
OrthancPluginErrorCode OnUnexpected(OrthancPluginErrorCode code, const char* op, const char* uuid,
                                    const char* what) noexcept {
  try {
    std::string line = op;
    line += uuid != nullptr ? std::string(" failed for attachment ") + uuid + ": " : std::string(" failed: ");
    LogError(line + what);
  } catch (...) {
    LogAt(LogLevel::Error, "a callback failed, and there is no memory left to log which");
  }
  return code;
}

std::shared_ptr<Request> NewRequest(Operation op, const char* uuid, OrthancPluginContentType type) {
  auto request = std::make_shared<Request>();
  request->op = op;
  request->uuid = uuid != nullptr ? uuid : "";
  request->contentType = static_cast<int>(type);
  return request;
}

OrthancPluginErrorCode StorageCreate(const char* uuid, const void* content, int64_t size,
                                     OrthancPluginContentType type) {
  try {
    auto request = NewRequest(Operation::Create, uuid, type);
    if (size < 0 || (size > 0 && content == nullptr)) {
      return Finish(*request, Result{BridgeStatus::Failure, "invalid content from Orthanc"});
    }
    // Before the copy: JS could not take it (buffer_limit.h), and Orthanc must not wait for it.
    const Result fits = CheckInputSize("the attachment", static_cast<uint64_t>(size), MaxAttachmentBytes());
    if (fits.status != BridgeStatus::Ok) return Finish(*request, fits);
    // Orthanc's buffer is only valid during this call, and a timed-out call cannot take
    // it back from JS, so JS gets a private copy.
    request->inputSize = static_cast<size_t>(size);
    if (size > 0) {
      request->input.reset(new uint8_t[request->inputSize + kInputRoom]);
      std::memcpy(request->input.get(), content, request->inputSize);
    }
    return Finish(*request, CallRuntime(request));
  } catch (const std::bad_alloc&) {
    return OnUnexpected(OrthancPluginErrorCode_NotEnoughMemory, "create", uuid, "out of memory");
  } catch (const std::exception& e) {
    return OnUnexpected(OrthancPluginErrorCode_StorageAreaPlugin, "create", uuid, e.what());
  } catch (...) {
    return OnUnexpected(OrthancPluginErrorCode_StorageAreaPlugin, "create", uuid, "unknown exception");
  }
}

OrthancPluginErrorCode StorageReadWhole(OrthancPluginMemoryBuffer64* target, const char* uuid,
                                        OrthancPluginContentType type) {
  try {
    auto request = NewRequest(Operation::ReadWhole, uuid, type);
    request->target = target;
    return Finish(*request, CallRuntime(request));
  } catch (const std::bad_alloc&) {
    return OnUnexpected(OrthancPluginErrorCode_NotEnoughMemory, "readWhole", uuid, "out of memory");
  } catch (const std::exception& e) {
    return OnUnexpected(OrthancPluginErrorCode_StorageAreaPlugin, "readWhole", uuid, e.what());
  } catch (...) {
    return OnUnexpected(OrthancPluginErrorCode_StorageAreaPlugin, "readWhole", uuid, "unknown exception");
  }
}

OrthancPluginErrorCode StorageReadRange(OrthancPluginMemoryBuffer64* target, const char* uuid,
                                        OrthancPluginContentType type, uint64_t rangeStart) {
  try {
    auto request = NewRequest(Operation::ReadRange, uuid, type);
    request->target = target;
    request->offset = rangeStart;
    request->length = target != nullptr ? target->size : 0;
    // JS answers with a Buffer of exactly this length, which it could not make.
    const Result fits = CheckInputSize("the range", request->length, MaxJsBufferBytes());
    if (fits.status != BridgeStatus::Ok) return Finish(*request, fits);
    return Finish(*request, CallRuntime(request));
  } catch (const std::bad_alloc&) {
    return OnUnexpected(OrthancPluginErrorCode_NotEnoughMemory, "readRange", uuid, "out of memory");
  } catch (const std::exception& e) {
    return OnUnexpected(OrthancPluginErrorCode_StorageAreaPlugin, "readRange", uuid, e.what());
  } catch (...) {
    return OnUnexpected(OrthancPluginErrorCode_StorageAreaPlugin, "readRange", uuid, "unknown exception");
  }
}

OrthancPluginErrorCode StorageRemove(const char* uuid, OrthancPluginContentType type) {
  try {
    auto request = NewRequest(Operation::Remove, uuid, type);
    return Finish(*request, CallRuntime(request));
  } catch (const std::bad_alloc&) {
    return OnUnexpected(OrthancPluginErrorCode_NotEnoughMemory, "remove", uuid, "out of memory");
  } catch (const std::exception& e) {
    return OnUnexpected(OrthancPluginErrorCode_StorageAreaPlugin, "remove", uuid, e.what());
  } catch (...) {
    return OnUnexpected(OrthancPluginErrorCode_StorageAreaPlugin, "remove", uuid, "unknown exception");
  }
}

// /azure-blob-storage/{path}: the hop benchmark (hop.h) here; every other route (status, and
// the testing routes when the configuration enables them) in JS.
OrthancPluginErrorCode RestCallback(OrthancPluginRestOutput* output, const char* /*url*/,
                                    const OrthancPluginHttpRequest* http) {
  try {
    const char* path = http->groupsCount > 0 ? http->groups[0] : "";
    if (std::strcmp(path, kHopRoute) == 0) {
      AnswerHopRoute(output, http);
      return OrthancPluginErrorCode_Success;
    }
    auto request = std::make_shared<Request>();
    request->op = Operation::Rest;
    request->restPath = path;
    request->restMethod = static_cast<int>(http->method);
    Result result = CheckInputSize("the request body", http->bodySize, MaxJsBufferBytes());
    if (result.status == BridgeStatus::Ok) {
      if (http->bodySize > 0 && http->body != nullptr) {
        request->inputSize = http->bodySize;
        request->input.reset(new uint8_t[http->bodySize]);
        std::memcpy(request->input.get(), http->body, http->bodySize);
      }
      result = CallRuntime(request);
    }
    OrthancPluginContext* context = OrthancContext();
    switch (result.status) {
      case BridgeStatus::Ok:
        OrthancPluginAnswerBuffer(context, output, request->restOutput.data(),
                                  static_cast<uint32_t>(request->restOutput.size()), "application/json");
        break;
      case BridgeStatus::NotFound:
        OrthancPluginSendHttpStatusCode(context, output, 404);
        break;
      case BridgeStatus::TooLarge:
        OrthancPluginSendHttpStatus(context, output, 413, result.message.data(),
                                    static_cast<uint32_t>(result.message.size()));
        break;
      default:
        OrthancPluginSendHttpStatus(context, output, 500, result.message.data(),
                                    static_cast<uint32_t>(result.message.size()));
        break;
    }
    return OrthancPluginErrorCode_Success;
  } catch (const std::bad_alloc&) {
    return OnUnexpected(OrthancPluginErrorCode_NotEnoughMemory, "REST call", nullptr, "out of memory");
  } catch (const std::exception& e) {
    return OnUnexpected(OrthancPluginErrorCode_Plugin, "REST call", nullptr, e.what());
  } catch (...) {
    return OnUnexpected(OrthancPluginErrorCode_Plugin, "REST call", nullptr, "unknown exception");
  }
}

int32_t Initialize(OrthancPluginContext* context) {
  SetOrthancContext(context);

  // 1. Orthanc version: StorageArea2 (readRange) needs 1.9.0.
  if (!OrthancPluginCheckVersionAdvanced(context, 1, 9, 0)) {
    LogError(std::string("this plugin needs Orthanc 1.9.0 or newer; this is Orthanc ") + context->orthancVersion);
    return -1;
  }
  OrthancPluginSetDescription(context, "Stores Orthanc's attachments in Azure Blob Storage.");

  // 2. Configuration.
  char* raw = OrthancPluginGetConfiguration(context);
  if (raw == nullptr) {
    LogError("cannot read Orthanc's configuration");
    return -1;
  }
  const std::string configurationJson(raw);
  OrthancPluginFreeString(context, raw);
  ShimSettings settings;
  std::string error;
  if (!ReadShimSettings(configurationJson, &settings, &error)) {
    LogError("invalid configuration: " + error);
    return -1;
  }
  if (!settings.enabled) {
    LogWarning(
        "AzureBlobStorage.EnableStorage is not true: the plugin is loaded but inactive, and Orthanc keeps using its "
        "own storage area");
    return 0;
  }

  // 3. libnode's own JavaScript files.
  if (!CheckLibnodeDependencies(&error)) {
    LogError(error);
    return -1;
  }

  // 4-5. The embedded runtime, ready within a deadline.
  RuntimeOptions options;
  options.configurationJson = configurationJson;
  options.heapLimitMb = settings.heapLimitMb;
  if (!StartRuntime(options, &error)) {
    LogError("cannot start: " + error);
    return -1;
  }

  // 6. Callbacks, only once JS is ready.
  OrthancPluginRegisterStorageArea2(context, StorageCreate, StorageReadWhole, StorageReadRange, StorageRemove);
  OrthancPluginRegisterRestCallbackNoLock(context, "/azure-blob-storage/(.*)", RestCallback);
  g_active = true;
  LogWarning(std::string("version ") + OABS_PLUGIN_VERSION + " is storing attachments in Azure Blob Storage");
  return 0;
}

}  // namespace
}  // namespace oabs

extern "C" {

ORTHANC_PLUGINS_API int32_t OrthancPluginInitialize(OrthancPluginContext* context) {
  try {
    return oabs::Initialize(context);
  } catch (const std::bad_alloc&) {
    oabs::LogAt(oabs::LogLevel::Error, "cannot start: out of memory");
    return -1;
  } catch (const std::exception& e) {
    try {
      oabs::LogError(std::string("cannot start: ") + e.what());
    } catch (...) {
      oabs::LogAt(oabs::LogLevel::Error, "cannot start: an exception, and no memory left to log it");
    }
    return -1;
  } catch (...) {
    oabs::LogAt(oabs::LogLevel::Error, "cannot start: unknown exception");
    return -1;
  }
}

ORTHANC_PLUGINS_API void OrthancPluginFinalize() {
  try {
    if (oabs::g_active) {
      oabs::LogWarning("stopping");
      oabs::StopRuntime(oabs::kDrainTimeout);
      oabs::g_active = false;
    }
  } catch (...) {
    oabs::LogAt(oabs::LogLevel::Error, "unexpected exception while stopping");
  }
}

ORTHANC_PLUGINS_API const char* OrthancPluginGetName() { return "azure-blob-storage"; }

ORTHANC_PLUGINS_API const char* OrthancPluginGetVersion() { return OABS_PLUGIN_VERSION; }
}
