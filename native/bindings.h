// The Node-API binding that JS reaches with process._linkedBinding(kBindingName): bundleSource,
// configuration, log, ready, startupFailed, complete and runtimeInfo. JS thread only.
#pragma once

#include <node_api.h>

namespace oabs {

// Keep in step with NATIVE_BINDING_NAME in src/bridge/native-binding.ts.
constexpr const char* kBindingName = "orthanc_azure_blob_storage";

// The binding's registration function, for node::AddLinkedBinding.
napi_value RegisterBinding(napi_env env, napi_value exports);

}  // namespace oabs
