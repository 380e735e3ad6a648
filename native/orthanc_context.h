// The OrthancPluginContext that Orthanc hands to OrthancPluginInitialize: set there, read by
// every file that calls the Orthanc SDK (logging, result buffers, REST answers).
#pragma once

#include <orthanc/OrthancCPlugin.h>

namespace oabs {

void SetOrthancContext(OrthancPluginContext* context);

// Null before OrthancPluginInitialize.
OrthancPluginContext* OrthancContext();

}  // namespace oabs
