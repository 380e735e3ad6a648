/**
 * How the plugin authenticates to Blob Storage: exactly one of a connection string
 * (connection-string.ts) or an AccountUrl, the latter with a SAS token, a user-assigned managed
 * identity (ManagedIdentityClientId) or the credential chain. Connection strings and SAS tokens
 * are secrets: a problem with one is described by what is wrong, never by its value.
 */

import { describeStringShape, GUID_PATTERN } from "../auth/entra-ids.ts";
import { LOOPBACK_HOSTS } from "../net/loopback.ts";
import { CONNECTION_STRING_EXPECTATION, checkConnectionString } from "./connection-string.ts";
import { type ConfigurationKey, keyPath, type SectionReader } from "./keys.ts";
import type { StorageAuth } from "./types.ts";
import { describeReceived, expectation, type Issues, parseHttpUrl, readString } from "./validators.ts";

const ACCOUNT_URL_EXPECTATION = "an https URL (http only for 127.0.0.1, localhost or [::1])";
const SAS_TOKEN_EXPECTATION = "a SAS token (the query string of a SAS URL, with a sig= signature)";
const CLIENT_ID_EXPECTATION = "a client ID (a GUID such as 00000000-0000-0000-0000-000000000000)";

/**
 * The storage authentication of the section (ConnectionString, AccountUrl, SasToken,
 * ManagedIdentityClientId); undefined, with the problems added to `issues`, when it is invalid.
 */
export function parseStorageAuth(get: SectionReader, issues: Issues): StorageAuth | undefined {
  const before = issues.length;
  const has = (key: ConfigurationKey): boolean => get(key) !== undefined;

  const connectionString = parseConnectionString(get("ConnectionString"), issues);
  const accountUrl = parseAccountUrl(get("AccountUrl"), issues);
  const sasToken = parseSasToken(get("SasToken"), issues);
  const managedIdentityClientId = parseManagedIdentityClientId(get("ManagedIdentityClientId"), issues);

  const eitherKeys = `${keyPath("ConnectionString")} or ${keyPath("AccountUrl")}`;
  if (has("ConnectionString") && has("AccountUrl")) {
    issues.push(`Expected a value for exactly one of ${eitherKeys} but received both`);
  } else if (!has("ConnectionString") && !has("AccountUrl")) {
    issues.push(`Expected a value for exactly one of ${eitherKeys} but received neither`);
  }
  for (const key of ["SasToken", "ManagedIdentityClientId"] as const) {
    if (has(key) && !has("AccountUrl")) {
      issues.push(
        `Expected ${keyPath(key)} only together with ${keyPath("AccountUrl")} but received it without ${keyPath("AccountUrl")}`,
      );
    }
  }
  if (has("SasToken") && has("ManagedIdentityClientId")) {
    issues.push(
      `Expected at most one of ${keyPath("SasToken")} or ${keyPath("ManagedIdentityClientId")} but received both`,
    );
  }

  if (issues.length > before) return undefined;
  if (connectionString !== undefined) return { kind: "connection-string", connectionString };
  if (accountUrl === undefined) return undefined;
  if (sasToken !== undefined) return { kind: "sas", accountUrl, sasToken };
  return {
    kind: "token-credential",
    accountUrl,
    ...(managedIdentityClientId === undefined ? {} : { managedIdentityClientId }),
  };
}

/** The canonical form of a valid connection string. */
function parseConnectionString(value: unknown, issues: Issues): string | undefined {
  const path = keyPath("ConnectionString");
  const text = readString(value, path, issues, { secret: true });
  if (text === undefined) return undefined;
  const check = checkConnectionString(text);
  if (check.ok) return check.canonical;
  issues.push(expectation(CONNECTION_STRING_EXPECTATION, path, check.received));
  return undefined;
}

/** Describes a URL that failed a check, without echoing a query string or credentials it may carry. */
function describeUrlValue(url: URL | undefined, value: string): string {
  if (url?.search || url?.hash) return "a URL with a query string (not shown)";
  if (url?.username || url?.password) return "a URL with a user name or password (not shown)";
  return describeReceived(value);
}

function parseAccountUrl(value: unknown, issues: Issues): string | undefined {
  const path = keyPath("AccountUrl");
  const text = readString(value, path, issues);
  if (text === undefined) return undefined;
  const url = parseHttpUrl(text);
  if (url?.search || url?.hash) {
    issues.push(
      expectation(ACCOUNT_URL_EXPECTATION, path, describeUrlValue(url, text)) +
        `; put a SAS token in ${keyPath("SasToken")}`,
    );
    return undefined;
  }
  const secure =
    url?.protocol === "https:" || (url?.protocol === "http:" && LOOPBACK_HOSTS.has(url.hostname));
  if (url === undefined || !secure || url.username !== "" || url.password !== "") {
    issues.push(expectation(ACCOUNT_URL_EXPECTATION, path, describeUrlValue(url, text)));
    return undefined;
  }
  return text.trim();
}

function parseSasToken(value: unknown, issues: Issues): string | undefined {
  const path = keyPath("SasToken");
  const text = readString(value, path, issues, { secret: true });
  if (text === undefined) return undefined;
  const token = text.trim().replace(/^\?/, "");
  let problem: string | undefined;
  if (token === "") problem = "an empty string";
  else if (/^[a-z][a-z0-9+.-]*:\/\//i.test(token)) {
    problem = `a whole URL (not shown); put the URL in ${keyPath("AccountUrl")} and only its query string here`;
  } else if (!new URLSearchParams(token).get("sig"))
    problem = "a string without a sig= signature (not shown)";
  if (problem === undefined) return token;
  issues.push(expectation(SAS_TOKEN_EXPECTATION, path, problem));
  return undefined;
}

/** A GUID; anything else is described by its shape only (it may be a secret pasted in the wrong key). */
function parseManagedIdentityClientId(value: unknown, issues: Issues): string | undefined {
  const path = keyPath("ManagedIdentityClientId");
  const text = readString(value, path, issues);
  if (text === undefined || GUID_PATTERN.test(text)) return text;
  issues.push(expectation(CLIENT_ID_EXPECTATION, path, describeStringShape(text, "a GUID")));
  return undefined;
}
