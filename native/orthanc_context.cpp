#include "orthanc_context.h"

#include <atomic>

namespace oabs {
namespace {

std::atomic<OrthancPluginContext*> g_context{nullptr};

}  // namespace

void SetOrthancContext(OrthancPluginContext* context) { g_context.store(context); }

OrthancPluginContext* OrthancContext() { return g_context.load(); }

}  // namespace oabs
