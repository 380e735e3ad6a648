/**
 * Orthanc configurations for the configuration parser's tests (test/unit/config): a minimal
 * valid "AzureBlobStorage" section to change key by key, secrets that must never be shown, and
 * the helpers that parse a configuration and return its issues or its config.
 */
import { expect } from "vitest";
import { ConfigurationError, parsePluginConfiguration } from "../../src/config/parse.ts";
import type { PluginConfig } from "../../src/config/types.ts";

export const ACCOUNT_KEY = "c2VjcmV0LXNob3VsZC1uZXZlci1hcHBlYXI=";
export const CLIENT_SECRET = "s3cr3t-value-xyz";
export const CLIENT_ID = "0f0e0d0c-0b0a-0908-0706-050403020100";
/** Shaped like an Entra client secret (40 characters with "~"): what gets pasted into the wrong key. */
export const ENTRA_SECRET = "Xq8Q~abcDEFghiJKLmnoPQRstuVWXyz012345678";
/** A complete, valid seed-style AzureKeyVault section. */
export const VAULT = {
  baseUrl: "https://vault.vault.azure.net",
  clientId: CLIENT_ID,
  clientSecret: CLIENT_SECRET,
  kid: "orthanc-kek",
};
export const SAS_SIGNATURE = "SIGNATUREvalue123xyz";
export const SAS_TOKEN = `sv=2022-11-02&ss=b&srt=sco&sp=rwdlac&se=2030-01-01T00:00:00Z&sig=${SAS_SIGNATURE}`;
/** Fragments of the secrets above that must never show up anywhere. */
export const SECRET_NEEDLES = [
  ACCOUNT_KEY,
  ACCOUNT_KEY.slice(0, 20),
  ACCOUNT_KEY.slice(-20),
  "secret-should-never-appear",
  CLIENT_SECRET,
  SAS_SIGNATURE,
  ENTRA_SECRET.slice(0, 20),
  ENTRA_SECRET.slice(-20),
];

export const CONNECTION_STRING = `DefaultEndpointsProtocol=https;AccountName=myaccount;AccountKey=${ACCOUNT_KEY};EndpointSuffix=core.windows.net`;
export const ACCOUNT_URL = "https://myaccount.blob.core.windows.net";

export const CONTAINER_EXPECTATION =
  "a container name of 3 to 63 lowercase letters, digits and hyphens, starting and ending with a letter or digit, without consecutive hyphens";
export const CONNECTION_STRING_EXPECTATION =
  "a connection string with AccountName and AccountKey, or BlobEndpoint and SharedAccessSignature, or UseDevelopmentStorage=true";

export type Section = Record<string, unknown>;

/** A whole Orthanc configuration whose section is a minimal valid one, changed by `changes` (undefined removes a key). */
export function orthanc(
  changes: Section = {},
  base: Section = { ConnectionString: CONNECTION_STRING },
): unknown {
  const section: Section = { EnableStorage: true, ContainerName: "orthanc", ...base };
  for (const [key, value] of Object.entries(changes)) {
    if (value === undefined) delete section[key];
    else section[key] = value;
  }
  return { StorageDirectory: "/var/lib/orthanc/db", AzureBlobStorage: section };
}

/** Same, authenticated with AccountUrl instead of a connection string. */
export function orthancWithUrl(changes: Section = {}): unknown {
  return orthanc(changes, { AccountUrl: ACCOUNT_URL });
}

export function catchError(configuration: unknown): ConfigurationError {
  try {
    parsePluginConfiguration(configuration);
  } catch (error) {
    if (error instanceof ConfigurationError) return error;
    throw error;
  }
  throw new Error("expected a ConfigurationError");
}

export function issuesOf(configuration: unknown): readonly string[] {
  return catchError(configuration).issues;
}

export function parseEnabled(configuration: unknown): PluginConfig {
  const result = parsePluginConfiguration(configuration);
  if (!result.enabled) throw new Error("expected an enabled configuration");
  return result.config;
}

export function expectNoSecret(text: string): void {
  for (const needle of SECRET_NEEDLES) expect(text).not.toContain(needle);
}

/** A ConfigurationError's message, issues and stack all keep every secret out. */
export function expectErrorWithoutSecret(configuration: unknown): void {
  const error = catchError(configuration);
  expectNoSecret(error.message);
  expectNoSecret(error.issues.join("\n"));
  expectNoSecret(String(error.stack));
}
