/**
 * The "AzureKeyVault" section. Keeps the old plugin's keys (baseUrl, clientId, clientSecret,
 * kid) and adds what operators need: tenantId (else discovered from the vault's challenge),
 * algorithm, trustedKeyIds (allow-list for rotations across keys/vaults), keyRefreshSeconds,
 * maxConcurrentRequests, and an explicit emulator mode for local development and tests.
 */

import { describeStringShape, GUID_PATTERN, TENANT_ID_PATTERN } from "../auth/entra-ids.ts";
import { KEY_NAME_PATTERN, type ParsedKeyId, parseKeyId, parseVaultOrigin } from "../crypto/key-id.ts";
import { WRAP_ALGORITHMS } from "../crypto/key-wrapper.ts";
import { LOOPBACK_HOSTS } from "../net/loopback.ts";
import type { KeyVaultCredentialSettings, KeyVaultKeyRef, KeyVaultSettings } from "./types.ts";
import {
  describeReceived,
  expectation,
  type Issues,
  isRecord,
  ownValue,
  parseHttpUrl,
  readInteger,
  readNumber,
  readOneOf,
  readString,
  unknownKeyIssues,
} from "./validators.ts";

/** Keys accepted inside "AzureKeyVault" (the first four are the old plugin's). */
export const KEY_VAULT_KEYS = [
  "baseUrl",
  "clientId",
  "clientSecret",
  "kid",
  "tenantId",
  "algorithm",
  "trustedKeyIds",
  "keyRefreshSeconds",
  "maxConcurrentRequests",
  "emulator",
] as const;
type KeyVaultKey = (typeof KEY_VAULT_KEYS)[number];

export const KEY_VAULT_DEFAULTS = {
  algorithm: "RSA-OAEP-256",
  keyRefreshSeconds: 300,
  maxConcurrentRequests: 8,
} as const;

const EMULATOR_KEYS = ["caFile", "authorityHost"] as const;
const KID_EXPECTATION =
  "a Key Vault key id (https://<vault>/keys/<name>[/<version>]) or a key name with baseUrl";

export function parseKeyVaultSection(
  value: unknown,
  path: string,
  issues: Issues,
): KeyVaultSettings | undefined {
  if (value === undefined) return undefined;
  if (!isRecord(value)) {
    issues.push(expectation("an object", path, describeReceived(value)));
    return undefined;
  }
  const at = (key: KeyVaultKey): string => `${path}.${key}`;
  const text = (key: KeyVaultKey, secret = false): string | undefined =>
    readString(ownValue(value, key), at(key), issues, { secret });
  const before = issues.length;

  const emulator = parseEmulator(ownValue(value, "emulator"), at("emulator"), issues);
  const baseUrl = text("baseUrl");
  const baseOrigin = baseUrl === undefined ? undefined : parseVaultOrigin(baseUrl);
  if (baseUrl !== undefined && baseOrigin === undefined) {
    issues.push(expectation("an https URL of a vault (no path)", at("baseUrl"), describeReceived(baseUrl)));
  }

  const kid = text("kid");
  let key: ParsedKeyId | undefined;
  if (kid === undefined) {
    if (ownValue(value, "kid") === undefined)
      issues.push(`Expected ${KID_EXPECTATION} for ${at("kid")} but received nothing`);
  } else if (KEY_NAME_PATTERN.test(kid)) {
    if (baseOrigin === undefined) {
      // An invalid baseUrl is already reported; only a missing one needs saying here.
      if (ownValue(value, "baseUrl") === undefined) {
        issues.push(`Expected ${at("baseUrl")} when ${at("kid")} is a key name but received none`);
      }
    } else {
      key = { vaultUrl: baseOrigin, keyName: kid };
    }
  } else {
    key = parseKeyId(kid);
    if (key === undefined) {
      issues.push(expectation(KID_EXPECTATION, at("kid"), describeReceived(kid)));
    } else if (baseOrigin !== undefined && key.vaultUrl !== baseOrigin) {
      issues.push(
        `Expected ${at("kid")} to be in the vault of ${at("baseUrl")} (${baseOrigin}) but received a key in ${key.vaultUrl}`,
      );
    }
  }
  if (key !== undefined && emulator === undefined && LOOPBACK_HOSTS.has(new URL(key.vaultUrl).hostname)) {
    issues.push(
      `Expected a real vault for ${at("kid")} but received a loopback address; a local emulator needs ${at("emulator")}`,
    );
  }
  if (key !== undefined && emulator !== undefined && !LOOPBACK_HOSTS.has(new URL(key.vaultUrl).hostname)) {
    issues.push(`Expected a 127.0.0.1/localhost vault with ${at("emulator")} but received ${key.vaultUrl}`);
  }

  const algorithmValue = ownValue(value, "algorithm");
  const algorithm =
    algorithmValue === undefined
      ? KEY_VAULT_DEFAULTS.algorithm
      : readOneOf(algorithmValue, at("algorithm"), issues, WRAP_ALGORITHMS);

  // A clientId of the wrong type is reported once by text(); no follow-up issue about it.
  const clientIdValid =
    ownValue(value, "clientId") === undefined || typeof ownValue(value, "clientId") === "string";
  const clientId = text("clientId");
  const credential = clientIdValid
    ? parseCredential(clientId, text("clientSecret", true), text("tenantId"), at, issues)
    : undefined;
  const trustedKeys = parseTrustedKeys(ownValue(value, "trustedKeyIds"), at("trustedKeyIds"), issues);
  // Emulator mode trusts a private CA and skips Key Vault's challenge check: loopback only, for
  // every vault it touches, trusted ones included.
  const remote = trustedKeys.filter((trusted) => !LOOPBACK_HOSTS.has(new URL(trusted.vaultUrl).hostname));
  if (emulator !== undefined && remote.length > 0) {
    issues.push(
      `Expected only 127.0.0.1/localhost vaults in ${at("trustedKeyIds")} with ${at("emulator")} but received ${remote.map((trusted) => trusted.vaultUrl).join(", ")}`,
    );
  }
  const keyRefreshSeconds =
    readNumber(ownValue(value, "keyRefreshSeconds"), at("keyRefreshSeconds"), issues, {
      min: 1,
      minExclusive: false,
      max: 86_400,
    }) ?? KEY_VAULT_DEFAULTS.keyRefreshSeconds;
  const maxConcurrentRequests =
    readInteger(ownValue(value, "maxConcurrentRequests"), at("maxConcurrentRequests"), issues, {
      min: 1,
      max: 64,
    }) ?? KEY_VAULT_DEFAULTS.maxConcurrentRequests;
  issues.push(...unknownKeyIssues(value, path, KEY_VAULT_KEYS));

  if (issues.length > before || key === undefined || algorithm === undefined || credential === undefined) {
    return undefined;
  }
  const configured: KeyVaultKeyRef = { vaultUrl: key.vaultUrl, keyName: key.keyName };
  const others = trustedKeys.filter(
    (t) => t.vaultUrl !== configured.vaultUrl || t.keyName !== configured.keyName,
  );
  return {
    ...configured,
    ...(key.keyVersion === undefined ? {} : { keyVersion: key.keyVersion }),
    algorithm,
    credential,
    trustedKeys: [configured, ...others],
    keyRefreshMs: Math.round(keyRefreshSeconds * 1000),
    maxConcurrentRequests,
    ...(emulator === undefined ? {} : { emulator }),
  };
}

function parseCredential(
  clientId: string | undefined,
  clientSecret: string | undefined,
  tenantId: string | undefined,
  at: (key: KeyVaultKey) => string,
  issues: Issues,
): KeyVaultCredentialSettings | undefined {
  // Either may be a secret pasted into the wrong key: described by its shape only.
  if (clientId !== undefined && !GUID_PATTERN.test(clientId)) {
    issues.push(expectation("a client id (GUID)", at("clientId"), describeStringShape(clientId, "a GUID")));
    return undefined;
  }
  if (tenantId !== undefined && !TENANT_ID_PATTERN.test(tenantId)) {
    issues.push(
      expectation(
        "a tenant id (GUID or domain)",
        at("tenantId"),
        describeStringShape(tenantId, "a GUID or a domain name"),
      ),
    );
    return undefined;
  }
  if (clientSecret !== undefined && clientSecret !== "") {
    if (clientId === undefined) {
      issues.push(`Expected ${at("clientId")} together with ${at("clientSecret")} but received no clientId`);
      return undefined;
    }
    return { kind: "client-secret", clientId, clientSecret, ...(tenantId === undefined ? {} : { tenantId }) };
  }
  // No secret: environment, workload identity, then managed identity (clientId selects a user-assigned one).
  return { kind: "chain", ...(clientId === undefined ? {} : { managedIdentityClientId: clientId }) };
}

function parseTrustedKeys(value: unknown, path: string, issues: Issues): KeyVaultKeyRef[] {
  if (value === undefined) return [];
  const list = Array.isArray(value) ? value : undefined;
  const parsed = list?.map((entry) => (typeof entry === "string" ? parseKeyId(entry) : undefined));
  if (
    list === undefined ||
    parsed === undefined ||
    parsed.some((p) => p === undefined || p.keyVersion !== undefined)
  ) {
    issues.push(
      expectation(
        "an array of unversioned key ids (https://<vault>/keys/<name>)",
        path,
        describeReceived(value),
      ),
    );
    return [];
  }
  return parsed.flatMap((p) => (p === undefined ? [] : [{ vaultUrl: p.vaultUrl, keyName: p.keyName }]));
}

function parseEmulator(
  value: unknown,
  path: string,
  issues: Issues,
): { caFile: string; authorityHost: string } | undefined {
  if (value === undefined) return undefined;
  if (!isRecord(value)) {
    issues.push(expectation("an object with caFile and authorityHost", path, describeReceived(value)));
    return undefined;
  }
  const caFile = readString(ownValue(value, "caFile"), `${path}.caFile`, issues);
  const authorityHost = readString(ownValue(value, "authorityHost"), `${path}.authorityHost`, issues);
  issues.push(...unknownKeyIssues(value, path, EMULATOR_KEYS));
  if (caFile === undefined || caFile === "") {
    issues.push(`Expected a CA certificate file for ${path}.caFile but received none`);
    return undefined;
  }
  const authority = authorityHost === undefined ? undefined : parseHttpUrl(authorityHost);
  if (authority?.protocol !== "https:" || !LOOPBACK_HOSTS.has(authority.hostname)) {
    issues.push(
      expectation(
        "an https URL on 127.0.0.1 or localhost",
        `${path}.authorityHost`,
        describeReceived(authorityHost),
      ),
    );
    return undefined;
  }
  return { caFile, authorityHost: authority.origin };
}
