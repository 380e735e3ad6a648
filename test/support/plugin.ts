/** Helpers for the tests that run the built plugin inside Orthanc. */
import { existsSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "../..");

/** The plugin built by scripts/setup.sh (npm run build). */
export const PLUGIN_PATH = join(ROOT, "build", "OrthancAzureBlobStorage.so");

export function assertPluginBuilt(): void {
  if (!existsSync(PLUGIN_PATH)) {
    throw new Error(
      `Expected the built plugin at ${PLUGIN_PATH}; run scripts/setup.sh (or npm run build) first`,
    );
  }
}

/** A valid "AzureBlobStorage" section for Azurite, with overrides. */
export function pluginSection(
  connectionString: string,
  overrides: Record<string, unknown> = {},
): Record<string, unknown> {
  assertPluginBuilt();
  return {
    EnableStorage: true,
    ConnectionString: connectionString,
    ContainerName: "orthanc",
    ...overrides,
  };
}

async function expectOk(response: Response, what: string): Promise<Response> {
  if (!response.ok) throw new Error(`${what}: HTTP ${response.status} ${await response.text()}`);
  return response;
}

export async function putBuffer(url: string, body: Buffer): Promise<void> {
  await expectOk(await fetch(url, { method: "PUT", body }), `PUT ${url}`);
}

/** Polls until check() returns a value, or fails after timeoutMs. */
export async function waitFor<T>(
  check: () => Promise<T | undefined>,
  timeoutMs: number,
  intervalMs = 200,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`condition not met within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}
