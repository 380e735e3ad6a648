/**
 * Helpers shared by the Azure adapters (src/storage, keyvault-clients.ts) to look at the
 * errors the Azure SDKs throw: which codes are network, timeout or TLS failures, which errors come
 * from @azure/identity, and how to put an error text or a URL in a message without a secret.
 *
 * This module classifies and redacts only. Mapping an error to a StorageError stays in each
 * adapter (mapAzureError, mapKeyVaultError): only the adapter knows its service's answers.
 */

/** Longest reason taken from an error text into a message. */
export const MAX_REASON_LENGTH = 300;

// ---------------------------------------------------------------------------------------------
// Reading fields of unknown values

/** A property of anything, undefined for primitives or when the getter throws. */
export function field(value: unknown, key: string): unknown {
  if (value === null || (typeof value !== "object" && typeof value !== "function")) return undefined;
  try {
    return Reflect.get(value, key);
  } catch {
    return undefined;
  }
}

/** A non-empty string property, or undefined. */
export function stringField(value: unknown, key: string): string | undefined {
  const result = field(value, key);
  return typeof result === "string" && result.length > 0 ? result : undefined;
}

/** A finite number property, or undefined. */
export function numberField(value: unknown, key: string): number | undefined {
  const result = field(value, key);
  return typeof result === "number" && Number.isFinite(result) ? result : undefined;
}

// ---------------------------------------------------------------------------------------------
// Classification

/** Node/undici codes of a connection that could not be made or broke. */
const CONNECTION_ERROR_CODES: ReadonlySet<string> = new Set([
  "REQUEST_SEND_ERROR",
  "ECONNREFUSED",
  "ECONNRESET",
  "ECONNABORTED",
  "ENOTFOUND",
  "EAI_AGAIN",
  "EPIPE",
  "EHOSTUNREACH",
  "EHOSTDOWN",
  "ENETUNREACH",
  "ENETDOWN",
  "EADDRNOTAVAIL",
  "ENOENT",
  "UND_ERR_SOCKET",
  "ERR_STREAM_PREMATURE_CLOSE",
]);
/** Node codes of a socket that timed out. */
const SOCKET_TIMEOUT_CODES: ReadonlySet<string> = new Set([
  "ETIMEDOUT",
  "ESOCKETTIMEDOUT",
  "ERR_SOCKET_CONNECTION_TIMEOUT",
]);
/** Certificate and TLS handshake failures (CERT_HAS_EXPIRED, SELF_SIGNED_CERT_IN_CHAIN, ...). */
const TLS_CODE_PATTERN = /CERT|SSL|TLS|SELF_SIGNED|UNABLE_TO_VERIFY|ERR_TLS/;

/** What a network or system error code says: the request timed out, or the service is unreachable. */
export type TransportFailure = "timeout" | "unreachable";

export interface TransportClassification {
  /** What a socket timeout (ETIMEDOUT, ESOCKETTIMEDOUT, ERR_SOCKET_CONNECTION_TIMEOUT) counts as. */
  readonly socketTimeout: TransportFailure;
  /** Further codes that count as a timeout, e.g. the code of the adapter's per-try timeout policy. */
  readonly timeoutCodes?: readonly string[];
}

/**
 * Classifies a network/system error code: "timeout" for `how.timeoutCodes`, `how.socketTimeout`
 * for a socket timeout, "unreachable" for a refused, reset or unresolvable connection or a TLS
 * failure, undefined for any other code (an HTTP/service error code, for instance).
 */
export function classifyTransportCode(
  code: string | undefined,
  how: TransportClassification,
): TransportFailure | undefined {
  if (code === undefined) return undefined;
  if (how.timeoutCodes?.includes(code) === true) return "timeout";
  if (SOCKET_TIMEOUT_CODES.has(code)) return how.socketTimeout;
  if (CONNECTION_ERROR_CODES.has(code) || TLS_CODE_PATTERN.test(code)) return "unreachable";
  return undefined;
}

const CREDENTIAL_ERROR_NAMES: ReadonlySet<string> = new Set([
  "CredentialUnavailableError",
  "AuthenticationError",
  "AggregateAuthenticationError",
  "AuthenticationRequiredError",
]);

/** Whether an error comes from @azure/identity failing to get a token (judged by its name). */
export function isCredentialError(error: unknown): boolean {
  return CREDENTIAL_ERROR_NAMES.has(stringField(error, "name") ?? "");
}

// ---------------------------------------------------------------------------------------------
// Redaction

/**
 * Removes anything that could be a secret from a text meant for a log or a message: URL query
 * strings (SAS tokens), AccountKey / SharedAccessSignature / sig values, Authorization header
 * values, Bearer and SharedKey credentials, client_secret / access_token / refresh_token /
 * assertion values, JWTs.
 */
export function redactSecrets(text: string): string {
  return text
    .replace(/(\bhttps?:\/\/[^\s?#"'<>]*)\?[^\s"'<>]*/gi, "$1?<redacted>")
    .replace(
      /\b(AccountKey|SharedAccessSignature|sig|signature|code|client_secret)=[^;&\s"'<>]*/gi,
      "$1=<redacted>",
    )
    .replace(
      /\b(Authorization|x-ms-authorization|Ocp-Apim-Subscription-Key)(["']?\s*[:=]\s*["']?)[^"'\r\n,;}]*/gi,
      "$1$2<redacted>",
    )
    .replace(
      /\b(client_secret|clientSecret|access_token|accessToken|refresh_token|id_token|client_assertion|assertion|code)(["']?\s*[:=]\s*["']?)[^"'&;,\s}]*/gi,
      "$1$2<redacted>",
    )
    .replace(/\bBearer\s+[^\s"',;]+/gi, "Bearer <redacted>")
    .replace(/\b(SharedKey|SharedKeyLite)\s+[^\s"',;]+/g, "$1 <redacted>")
    .replace(/\beyJ[A-Za-z0-9_-]{8,}(\.[A-Za-z0-9_-]*){1,2}/g, "<redacted-token>");
}

function bounded(line: string): string {
  return line.length > MAX_REASON_LENGTH ? `${line.slice(0, MAX_REASON_LENGTH)}...` : line;
}

/** The meaningful lines of a text joined into one, without secrets, bounded in length. */
export function oneLine(text: string): string {
  return bounded(
    redactSecrets(text)
      .split(/\r?\n/)
      .map((part) => part.trim())
      .filter((part) => part.length > 0)
      .join(" "),
  );
}

/** The first non-empty line of a text, trimmed and bounded in length. Does not redact. */
export function firstLine(text: string): string {
  return bounded(
    text
      .split(/\r?\n/)
      .map((part) => part.trim())
      .find((part) => part.length > 0) ?? "",
  );
}

/**
 * A URL without user info, query string or fragment: safe for logs and messages.
 * `invalid` is returned for anything that does not parse as a URL.
 */
export function safeUrl(value: unknown, invalid = "<invalid url>"): string {
  try {
    const url = new URL(String(value));
    return `${url.protocol}//${url.host}${url.pathname}`;
  } catch {
    return invalid;
  }
}
