/** The plugin's version, as shown in logs, the status route and encrypted blobs' metadata. */
export const PLUGIN_VERSION = "0.1.0";
export const PLUGIN_LIBRARY = `OrthancAzureBlobStorage ${PLUGIN_VERSION}`;
