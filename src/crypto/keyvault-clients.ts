/**
 * The only module that touches @azure/keyvault-keys. It exposes the three Key Vault operations
 * the plugin needs behind the injectable KeyVaultClients interface, and mapKeyVaultError() turns
 * every SDK/HTTP/network/identity failure into a one-line StorageError that never contains a
 * token, a secret or key bytes.
 *
 * Clients:
 * - one KeyClient (the configured vault) for getKey;
 * - one CryptographyClient per VERSIONED key id, in a bounded LRU. Each is built from a minimal
 *   KeyVaultKey (id only, no JWK, no attributes), which makes it remote-only: it never sends the
 *   SDK's implicit GET and never applies the SDK's local nbf/exp/key_ops checks. Those checks
 *   refuse to unwrap with an expired or not-yet-valid version before any request, whereas Key
 *   Vault itself allows unwrapKey outside the nbf/exp window (that is how data written under an
 *   expired version stays readable). The wrapper does its own checks before wrapping.
 *   Each client has its own challenge state, so its first call costs one extra unauthenticated
 *   round trip (the challenge); the LRU pays that once per version.
 *
 * Every request goes through core-rest-pipeline's retry policy (exponential with jitter for
 * network errors, 408 and 5xx; its throttling strategy honours 429/503 Retry-After), a per-try
 * timeout policy (../azure/per-try-timeout-policy.ts: a silent connection is retried instead of
 * hanging) and a request counter. Classification and redaction helpers: ../azure/sdk-errors.ts.
 */
import { createPublicKey, type KeyObject } from "node:crypto";
import { Agent } from "node:https";
import type { PipelinePolicy } from "@azure/core-rest-pipeline";
import type { TokenCredential } from "@azure/identity";
import {
  CryptographyClient,
  type CryptographyClientOptions,
  KeyClient,
  type KeyClientOptions,
  type KeyVaultKey,
} from "@azure/keyvault-keys";
import { abortedError, runWithDeadline } from "../async/abort.ts";
import type { OperationOptions } from "../async/operation-options.ts";
import { perTryTimeoutPolicy } from "../azure/per-try-timeout-policy.ts";
import {
  classifyTransportCode,
  field,
  firstLine,
  isCredentialError,
  numberField,
  oneLine,
  redactSecrets,
  safeUrl,
  stringField,
  type TransportClassification,
} from "../azure/sdk-errors.ts";
import { StorageError } from "../errors.ts";
import { isLoopbackUrl } from "../net/loopback.ts";
import { PLUGIN_VERSION } from "../version.ts";
import { zeroize } from "./data-key.ts";
import { MAX_KEY_ID_LENGTH, parseVaultOrigin, parseVersionedKeyId } from "./key-id.ts";
import type { WrapAlgorithm } from "./key-wrapper.ts";

export interface KeyVaultKeyInfo {
  /** Versioned key id: https://<vault>/keys/<name>/<version>. */
  kid: string;
  /** RSA, RSA-HSM, oct-HSM, ... */
  kty: string;
  keyOps: readonly string[];
  /** RSA keys only, from the JWK's n and e. */
  publicKey?: KeyObject;
  enabled: boolean;
  notBefore?: Date;
  expiresOn?: Date;
}

export interface KeyVaultClients {
  /** GET /keys/<name>/<version?>: the latest version when `version` is undefined. */
  getKey(name: string, version: string | undefined, options?: OperationOptions): Promise<KeyVaultKeyInfo>;
  /** Remote wrap (POST .../wrapkey) with exactly this versioned key. */
  wrapKey(
    versionedKid: string,
    algorithm: WrapAlgorithm,
    cek: Buffer,
    options?: OperationOptions,
  ): Promise<Buffer>;
  /** Remote unwrap (POST .../unwrapkey) with exactly this versioned key. Returns a fresh Buffer. */
  unwrapKey(
    versionedKid: string,
    algorithm: WrapAlgorithm,
    encryptedKey: Buffer,
    options?: OperationOptions,
  ): Promise<Buffer>;
  /** HTTP requests issued to Key Vault so far (every try, challenges included). */
  readonly requestCount: number;
}

export interface KeyVaultClientOptions {
  /** https origin of the vault, e.g. https://myvault.vault.azure.net */
  vaultUrl: string;
  credential: TokenCredential;
  maxRetries: number;
  retryDelayMs: number;
  maxRetryDelayMs: number;
  /** Per try, until the response headers arrive. */
  requestTimeoutMs: number;
  /** Bound of the CryptographyClient cache (one client per versioned key id). Default 64. */
  maxClients?: number;
  /**
   * Test/emulator setups only: trusts this CA and skips the check that the challenge resource
   * matches *.vault.azure.net (which 127.0.0.1 can never pass). Never set in production.
   */
  emulator?: { caPem: string } | undefined;
}

export const DEFAULT_MAX_KEYVAULT_CLIENTS = 64;
const USER_AGENT_PREFIX = `OrthancAzureBlobStorage/${PLUGIN_VERSION}`;

// ---------------------------------------------------------------------------------------------
// Key ids (parsed by key-id.ts)

/** A configured URL without user info, query or fragment: safe for messages. */
export function safeKeyVaultUrl(value: unknown): string {
  return safeUrl(value, "<not a URL>");
}

// ---------------------------------------------------------------------------------------------
// Error mapping

/**
 * The code of the error perTryTimeoutPolicy throws here: core-rest-pipeline's exponential retry
 * strategy retries it.
 */
const TRY_TIMEOUT_CODE = "ETIMEDOUT";
/**
 * Timeouts below a request (socket timeouts, including the per-try timeout's ETIMEDOUT) mean
 * Key Vault cannot be reached, as do connection and TLS failures.
 */
const TRANSPORT: TransportClassification = { socketTimeout: "unreachable" };
const ACCESS_HINT =
  "the identity needs the keys/get, keys/wrapKey and keys/unwrapKey permissions (RBAC: Key Vault Crypto Service Encryption User)";

/** The first non-empty line of a message, without secrets, bounded in length. */
function safeFirstLine(text: string): string {
  return firstLine(redactSecrets(text));
}

function originOf(kid: string): string {
  try {
    const url = new URL(kid);
    if (url.protocol === "https:" || url.protocol === "http:") return url.origin;
  } catch {
    // fall through
  }
  return "<invalid url>";
}

/** One line describing an @azure/identity error: the useful part, never the secret. */
function describeCredentialError(error: unknown, name: string, message: string): string {
  if (name === "AuthenticationError") {
    const response = field(error, "errorResponse");
    const code = stringField(response, "error");
    const description = stringField(response, "errorDescription");
    const status = numberField(error, "statusCode");
    if (code !== undefined || description !== undefined) {
      const head = [code, status === undefined ? undefined : `HTTP ${status}`].filter(Boolean).join(", ");
      const detail = description === undefined ? "" : safeFirstLine(withoutMsalNoise(description));
      return oneLine([head, detail].filter((part) => part.length > 0).join(": "));
    }
  }
  if (name === "AggregateAuthenticationError") {
    const errors = field(error, "errors");
    if (Array.isArray(errors) && errors.length > 0) {
      const parts = errors.map((inner: unknown) =>
        safeFirstLine(inner instanceof Error ? inner.message : String(inner)),
      );
      return oneLine(parts.filter((part) => part.length > 0).join("; "));
    }
  }
  return safeFirstLine(withoutMsalNoise(message));
}

/**
 * MSAL formats service errors as "<code>: Error(s): <codes> - Timestamp: ... - Description:
 * <text> - Correlation ID: ... - Trace ID: ..."; keeps "<code>: <text>".
 */
function withoutMsalNoise(text: string): string {
  return text
    .replace(/Error\(s\):[^\r\n]*?- Description:\s*/, "")
    .replace(/\s+-\s+(Correlation ID|Trace ID|Timestamp):[^\r\n]*/g, "");
}

/**
 * Maps anything thrown by @azure/keyvault-keys, @azure/identity or the network below them to a
 * StorageError. `operation` (getKey, wrapKey, unwrapKey) and `kid` start the message.
 */
export function mapKeyVaultError(error: unknown, operation: string, kid: string): StorageError {
  if (error instanceof StorageError) return error;
  const name = stringField(error, "name") ?? "";
  const message = error instanceof Error ? error.message : (stringField(error, "message") ?? String(error));
  const status = numberField(error, "statusCode") ?? numberField(field(error, "response"), "status");
  const code = stringField(error, "code");
  const subject = `${operation} with key ${kid}`;
  const statusSuffix = (): string => {
    const parts: string[] = [];
    if (status !== undefined) parts.push(`HTTP ${status}`);
    if (code !== undefined) parts.push(oneLine(code));
    return parts.length > 0 ? ` (${parts.join(", ")})` : "";
  };
  // No `cause`: SDK errors hold the request, whose headers may carry a bearer token.
  const fail = (storageCode: StorageError["code"], text: string): StorageError =>
    new StorageError(storageCode, text);
  const keyState = (text: string): string | undefined => {
    if (/disabled/i.test(text)) return "is disabled";
    if (/expired/i.test(text)) return "has expired";
    if (/not yet valid|notyetvalid|can't be used before|cannot be used before|not valid before/i.test(text)) {
      return "is not yet valid";
    }
    return undefined;
  };

  if (isCredentialError(error)) {
    return fail(
      "unavailable",
      `${subject}: cannot get a token for Key Vault: ${describeCredentialError(error, name, message)}`,
    );
  }
  if (name === "AbortError") {
    return fail("timeout", `${subject}: the request was aborted (deadline passed or operation cancelled)`);
  }

  if (status !== undefined && status > 0) {
    if (status === 401 || status === 403) {
      const state = keyState(`${code ?? ""} ${message}`);
      if (state !== undefined)
        return fail("unavailable", `${operation}: key ${kid} ${state}${statusSuffix()}`);
      return fail("unavailable", `${subject}: access denied${statusSuffix()}: ${ACCESS_HINT}`);
    }
    if (status === 404) return fail("unavailable", `${operation}: key ${kid} was not found${statusSuffix()}`);
    if (status === 429) return fail("unavailable", `${subject}: Key Vault is throttling requests (HTTP 429)`);
    if (status === 400 && operation === "unwrapKey") {
      return fail("integrity", `${operation}: the wrapped content key does not unwrap with key ${kid}`);
    }
    if (status === 408 || status >= 500) {
      return fail(
        "unavailable",
        `${subject}: cannot reach Key Vault at ${originOf(kid)}: it answered HTTP ${status}${code === undefined ? "" : ` (${oneLine(code)})`}`,
      );
    }
    return fail(
      "internal",
      `${subject}: unexpected answer from Key Vault${statusSuffix()}: ${oneLine(message)}`,
    );
  }

  if (classifyTransportCode(code, TRANSPORT) === "unreachable") {
    return fail("unavailable", `${subject}: cannot reach Key Vault at ${originOf(kid)}: ${oneLine(message)}`);
  }
  // Errors raised by the SDK itself, before or around a request.
  if (/challenge/i.test(message)) {
    return fail(
      "unavailable",
      `${subject}: Key Vault's authentication challenge was refused: ${oneLine(message)}`,
    );
  }
  if (/^Key .* (expired at|can't be used before)/.test(message)) {
    return fail("unavailable", `${operation}: key ${kid} ${keyState(message) ?? "is not usable"}`);
  }
  if (/^Operation \w+ is not supported on key/.test(message)) {
    return fail("unavailable", `${operation}: key ${kid} does not permit the ${operation} operation`);
  }
  return fail("internal", `${subject}: unexpected error: ${oneLine(message) || name || "unknown"}`);
}

// ---------------------------------------------------------------------------------------------
// Real implementation

class AzureKeyVaultClients implements KeyVaultClients {
  readonly #options: KeyVaultClientOptions;
  readonly #vaultOrigin: string;
  readonly #keyClient: KeyClient;
  readonly #cryptoClients = new Map<string, CryptographyClient>();
  readonly #maxClients: number;
  readonly #agent: Agent | undefined;
  readonly #policies: PipelinePolicy[];
  #requests = 0;

  constructor(options: KeyVaultClientOptions, vaultOrigin: string) {
    this.#options = options;
    this.#vaultOrigin = vaultOrigin;
    this.#maxClients = options.maxClients ?? DEFAULT_MAX_KEYVAULT_CLIENTS;
    this.#agent =
      options.emulator === undefined ? undefined : new Agent({ keepAlive: true, ca: options.emulator.caPem });
    const counter: PipelinePolicy = {
      name: "orthancKeyVaultRequestCounterPolicy",
      sendRequest: (request, next) => {
        this.#requests++;
        return next(request);
      },
    };
    this.#policies = [
      counter,
      perTryTimeoutPolicy({
        name: "orthancKeyVaultPerTryTimeoutPolicy",
        timeoutMs: options.requestTimeoutMs,
        errorCode: TRY_TIMEOUT_CODE,
      }),
    ];
    this.#keyClient = new KeyClient(vaultOrigin, options.credential, this.#clientOptions(vaultOrigin));
  }

  get requestCount(): number {
    return this.#requests;
  }

  /**
   * A fresh options object per client (the SDK's constructors mutate userAgentOptions). The
   * emulator's CA and the skipped challenge check apply to loopback vaults only: a client for any
   * other vault verifies as in production, even in emulator mode.
   */
  #clientOptions(vaultOrigin: string): KeyClientOptions & CryptographyClientOptions {
    const { maxRetries, retryDelayMs, maxRetryDelayMs } = this.#options;
    return {
      retryOptions: { maxRetries, retryDelayInMs: retryDelayMs, maxRetryDelayInMs: maxRetryDelayMs },
      userAgentOptions: { userAgentPrefix: USER_AGENT_PREFIX },
      additionalPolicies: this.#policies.map((policy) => ({ policy, position: "perRetry" as const })),
      ...emulatorClientOptions(vaultOrigin, this.#agent),
    };
  }

  /** The remote-only client for a versioned key id (LRU). */
  #cryptoClient(versionedKid: string, operation: string): CryptographyClient {
    const cached = this.#cryptoClients.get(versionedKid);
    if (cached !== undefined) {
      this.#cryptoClients.delete(versionedKid);
      this.#cryptoClients.set(versionedKid, cached);
      return cached;
    }
    const parsed = parseVersionedKeyId(versionedKid);
    if (parsed === undefined) {
      throw new StorageError(
        "invalid-argument",
        `${operation}: expected a versioned https Key Vault key id (https://<vault>/keys/<name>/<version>) but received ${JSON.stringify(versionedKid.slice(0, MAX_KEY_ID_LENGTH))}`,
      );
    }
    // A minimal KeyVaultKey (no JWK, no attributes): remote-only, no implicit GET, no local checks.
    const key: KeyVaultKey = {
      id: versionedKid,
      name: parsed.keyName,
      properties: {
        id: versionedKid,
        name: parsed.keyName,
        vaultUrl: parsed.vaultUrl,
        version: parsed.keyVersion,
      },
    };
    const client = new CryptographyClient(
      key,
      this.#options.credential,
      this.#clientOptions(parsed.vaultUrl),
    );
    this.#cryptoClients.set(versionedKid, client);
    while (this.#cryptoClients.size > this.#maxClients) {
      const oldest = this.#cryptoClients.keys().next();
      if (oldest.done === true) break;
      this.#cryptoClients.delete(oldest.value);
    }
    return client;
  }

  /** Runs one SDK call under the caller's abort signal and deadline; maps every failure. */
  async #call<T>(
    operation: string,
    kid: string,
    options: OperationOptions,
    fn: (abortSignal: AbortSignal) => Promise<T>,
  ): Promise<T> {
    if (options.abortSignal?.aborted) throw abortedError(operation, `with key ${kid}`, options.abortSignal);
    return runWithDeadline(options, fn, (error, signal) =>
      signal.aborted
        ? abortedError(operation, `with key ${kid}`, signal)
        : mapKeyVaultError(error, operation, kid),
    );
  }

  async getKey(
    name: string,
    version: string | undefined,
    options: OperationOptions = {},
  ): Promise<KeyVaultKeyInfo> {
    const requested = `${this.#vaultOrigin}/keys/${name}${version === undefined ? "" : `/${version}`}`;
    const key = await this.#call("getKey", requested, options, (abortSignal) =>
      this.#keyClient.getKey(name, { abortSignal, ...(version === undefined ? {} : { version }) }),
    );
    const kid = key.id ?? key.key?.kid;
    if (kid === undefined || parseVersionedKeyId(kid) === undefined) {
      throw new StorageError(
        "internal",
        `getKey with key ${requested}: Key Vault returned no versioned key id (${JSON.stringify(String(kid).slice(0, MAX_KEY_ID_LENGTH))})`,
      );
    }
    const kty = key.keyType ?? key.key?.kty ?? "";
    const info: KeyVaultKeyInfo = {
      kid,
      kty,
      keyOps: [...(key.keyOperations ?? key.key?.keyOps ?? [])],
      enabled: key.properties.enabled !== false,
      ...(key.properties.notBefore === undefined ? {} : { notBefore: key.properties.notBefore }),
      ...(key.properties.expiresOn === undefined ? {} : { expiresOn: key.properties.expiresOn }),
    };
    if (kty === "RSA" || kty === "RSA-HSM") {
      const n = key.key?.n;
      const e = key.key?.e;
      if (n === undefined || e === undefined || n.length === 0 || e.length === 0) {
        throw new StorageError(
          "internal",
          `getKey with key ${kid}: Key Vault returned an RSA key without n and e`,
        );
      }
      try {
        info.publicKey = createPublicKey({
          key: {
            kty: "RSA",
            n: Buffer.from(n).toString("base64url"),
            e: Buffer.from(e).toString("base64url"),
          },
          format: "jwk",
        });
      } catch {
        throw new StorageError(
          "internal",
          `getKey with key ${kid}: the RSA public key returned by Key Vault does not decode`,
        );
      }
    }
    return info;
  }

  async wrapKey(
    versionedKid: string,
    algorithm: WrapAlgorithm,
    cek: Buffer,
    options: OperationOptions = {},
  ): Promise<Buffer> {
    const client = this.#cryptoClient(versionedKid, "wrapKey");
    const result = await this.#call("wrapKey", versionedKid, options, (abortSignal) =>
      client.wrapKey(algorithm, cek, { abortSignal }),
    );
    return Buffer.from(result.result);
  }

  async unwrapKey(
    versionedKid: string,
    algorithm: WrapAlgorithm,
    encryptedKey: Buffer,
    options: OperationOptions = {},
  ): Promise<Buffer> {
    const client = this.#cryptoClient(versionedKid, "unwrapKey");
    const result = await this.#call("unwrapKey", versionedKid, options, (abortSignal) =>
      client.unwrapKey(algorithm, encryptedKey, { abortSignal }),
    );
    const sdkBytes = result.result;
    const cek = Buffer.alloc(sdkBytes.length);
    cek.set(sdkBytes);
    zeroize(Buffer.from(sdkBytes.buffer, sdkBytes.byteOffset, sdkBytes.byteLength));
    return cek;
  }
}

/**
 * What emulator mode changes in a client's options: the emulator's CA (through `agent`) and no
 * challenge-resource check, which 127.0.0.1 can never pass. Only for a loopback vault: a client
 * for any other vault gets nothing, and verifies exactly as in production.
 */
export function emulatorClientOptions(
  vaultOrigin: string,
  agent: Agent | undefined,
): { disableChallengeResourceVerification?: true; agent?: Agent } {
  if (agent === undefined || !isLoopbackUrl(vaultOrigin)) return {};
  return { disableChallengeResourceVerification: true, agent };
}

/** The real clients over @azure/keyvault-keys. Refuses a vault URL that is not an https origin. */
export function createKeyVaultClients(options: KeyVaultClientOptions): KeyVaultClients {
  const origin = parseVaultOrigin(options.vaultUrl);
  if (origin === undefined) {
    throw new StorageError(
      "invalid-argument",
      `Expected an https vault URL without path, query or credentials (e.g. https://myvault.vault.azure.net) but received ${JSON.stringify(safeKeyVaultUrl(options.vaultUrl))}`,
    );
  }
  const positive = (name: string, value: number, allowZero: boolean): void => {
    if (!Number.isSafeInteger(value) || value < (allowZero ? 0 : 1)) {
      throw new StorageError(
        "invalid-argument",
        `Key Vault client option ${name} must be a ${allowZero ? "non-negative" : "positive"} integer but received ${String(value)}`,
      );
    }
  };
  positive("maxRetries", options.maxRetries, true);
  positive("retryDelayMs", options.retryDelayMs, true);
  positive("maxRetryDelayMs", options.maxRetryDelayMs, true);
  positive("requestTimeoutMs", options.requestTimeoutMs, false);
  if (options.maxClients !== undefined) positive("maxClients", options.maxClients, false);
  return new AzureKeyVaultClients(options, origin);
}
