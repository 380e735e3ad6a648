/**
 * A KeyWrapper over an Azure Key Vault (or Managed HSM) key. Key Vault calls go through the
 * injected KeyVaultClients (keyvault-clients.ts), so tests never need Azure.
 *
 * What costs a network call:
 * - startup: one GET of the configured key (latest version, or the pinned one);
 * - each refresh (only when no version is pinned, every keyRefreshMs): one GET of the latest version;
 * - each new CEK: none for RSA keys (wrapped locally with the cached public key, RSA-OAEP or
 *   RSA-OAEP-256), one POST wrapkey for A256KW (oct-HSM keys: the secret never leaves the HSM);
 * - each unwrap (one per CEK per key-cache pool miss): one POST unwrapkey, always remote, by
 *   exactly the versioned kid stored with the blob;
 * - each SDK client's first call adds one unauthenticated challenge round trip (plus a token
 *   request when the credential's cache is cold); clients are cached per versioned kid, so this
 *   is paid once per key version.
 * Every request runs inside a ConcurrencyLimiter (maxConcurrentRequests in flight at once).
 *
 * Rotation: the versioned kid is what is stored with each blob and what unwraps it, so a
 * rotated key never breaks reads; new writes pick up the latest version at the next refresh.
 *
 * Allow-list: a kid read from blob metadata is attacker-controlled. unwrapKey first checks that
 * it is `https://<host>/keys/<name>/<version>` with an origin and key name from trustedKeys, and
 * refuses anything else before a single request (or token) leaves the process.
 *
 * Hygiene: CEKs are never logged or kept; the unwrapped CEK is copied into a fresh Buffer and the
 * intermediate bytes are zeroed; messages name key ids, never key material, tokens or secrets.
 */
import { constants, publicEncrypt } from "node:crypto";
import { abortedError, combineAbortSignals } from "../async/abort.ts";
import { ConcurrencyLimiter } from "../async/concurrency-limiter.ts";
import type { OperationOptions } from "../async/operation-options.ts";
import { redactSecrets } from "../azure/sdk-errors.ts";
import { StorageError } from "../errors.ts";
import type { Logger } from "../logging/logger.ts";
import { showUntrusted } from "../logging/untrusted.ts";
import { checkCekToWrap, copyUnwrappedCek } from "./data-key.ts";
import { KEY_NAME_PATTERN, KEY_VERSION_PATTERN, parseVaultOrigin, parseVersionedKeyId } from "./key-id.ts";
import {
  type KeyWrapper,
  oaepHash,
  WRAP_ALGORITHMS,
  type WrapAlgorithm,
  type WrappedKey,
} from "./key-wrapper.ts";
import { type KeyVaultClients, type KeyVaultKeyInfo, safeKeyVaultUrl } from "./keyvault-clients.ts";

export interface KeyVaultKeyWrapperOptions {
  /** Origin, e.g. https://myvault.vault.azure.net */
  vaultUrl: string;
  keyName: string;
  /** Pinned version (kid configured with a version); else the latest, refreshed on a timer. */
  keyVersion?: string;
  /** RSA-OAEP-256 (default upstream) or RSA-OAEP for RSA keys; A256KW for oct-HSM keys. */
  algorithm: WrapAlgorithm;
  /** Allow-list for kids read from blobs (the configured key is always included). */
  trustedKeys: ReadonlyArray<{ vaultUrl: string; keyName: string }>;
  /** How often the current version is re-read (rotation pickup). */
  keyRefreshMs: number;
  /** Key Vault requests in flight at once. */
  maxConcurrentRequests: number;
  clients: KeyVaultClients;
  logger?: Logger;
  now?: () => number;
}

const MIN_RSA_BITS = 2048;
/** FORMAT.md's metadata size budget assumes wrapped keys of at most 512 bytes. */
const MAX_RSA_BITS = 4096;
const MAX_WRAPPED_LENGTH = 512;
const RSA_KEY_TYPES = new Set(["RSA", "RSA-HSM"]);
const AES_KEY_TYPES = new Set(["oct", "oct-HSM"]);
const CONFIG_NAME = "AzureBlobStorage.AzureKeyVault";
/** Node runs a longer setInterval delay after 1 ms instead. */
const MAX_TIMER_MS = 2_147_483_647;

interface TrustedKey {
  readonly origin: string;
  /** Key Vault key names are case-insensitive. */
  readonly name: string;
}

export class KeyVaultKeyWrapper implements KeyWrapper {
  /** The algorithm wrapKey uses. */
  readonly algorithm: WrapAlgorithm;
  /** The configured key, unversioned (https://<vault>/keys/<name>). */
  readonly keyName: string;
  readonly vaultOrigin: string;
  /** The pinned version, if any. */
  readonly keyVersion: string | undefined;

  readonly #clients: KeyVaultClients;
  readonly #limiter: ConcurrencyLimiter;
  readonly #trusted: readonly TrustedKey[];
  readonly #logger: Logger | undefined;
  readonly #now: () => number;
  #current: KeyVaultKeyInfo;
  #timer: ReturnType<typeof setInterval> | undefined;
  #refreshing: Promise<void> | undefined;
  #lastRefreshProblem: string | undefined;

  private constructor(
    options: KeyVaultKeyWrapperOptions,
    vaultOrigin: string,
    trusted: readonly TrustedKey[],
    limiter: ConcurrencyLimiter,
    current: KeyVaultKeyInfo,
  ) {
    this.algorithm = options.algorithm;
    this.keyName = options.keyName;
    this.vaultOrigin = vaultOrigin;
    this.keyVersion = options.keyVersion;
    this.#clients = options.clients;
    this.#limiter = limiter;
    this.#trusted = trusted;
    this.#logger = options.logger;
    this.#now = options.now ?? Date.now;
    this.#current = current;
  }

  /**
   * Checks the options, reads the current key once (failing with a clear error if it cannot)
   * and, when no version is pinned, starts the refresh timer (call dispose() to stop it).
   */
  static async create(options: KeyVaultKeyWrapperOptions): Promise<KeyVaultKeyWrapper> {
    const vaultOrigin = parseVaultOrigin(options.vaultUrl);
    if (vaultOrigin === undefined) {
      throw new StorageError(
        "invalid-argument",
        `${CONFIG_NAME}: expected an https vault URL without path, query or credentials (e.g. https://myvault.vault.azure.net) but received ${JSON.stringify(safeKeyVaultUrl(options.vaultUrl))}`,
      );
    }
    if (typeof options.keyName !== "string" || !KEY_NAME_PATTERN.test(options.keyName)) {
      throw new StorageError(
        "invalid-argument",
        `${CONFIG_NAME}: expected a key name of 1 to 127 letters, digits and dashes but received ${JSON.stringify(String(options.keyName))}`,
      );
    }
    if (options.keyVersion !== undefined && !KEY_VERSION_PATTERN.test(options.keyVersion)) {
      throw new StorageError(
        "invalid-argument",
        `${CONFIG_NAME}: expected a key version of letters and digits (32 hex digits in Azure) but received ${JSON.stringify(String(options.keyVersion))}`,
      );
    }
    if (!WRAP_ALGORITHMS.includes(options.algorithm)) {
      throw new StorageError(
        "invalid-argument",
        `Expected one of ${WRAP_ALGORITHMS.join(", ")} for the key wrapping algorithm but received ${JSON.stringify(options.algorithm)}`,
      );
    }
    if (
      !Number.isSafeInteger(options.keyRefreshMs) ||
      options.keyRefreshMs < 1 ||
      options.keyRefreshMs > MAX_TIMER_MS
    ) {
      throw new StorageError(
        "invalid-argument",
        `${CONFIG_NAME}: the key refresh interval must be 1 to ${MAX_TIMER_MS} milliseconds but received ${String(options.keyRefreshMs)}`,
      );
    }
    const limiter = new ConcurrencyLimiter(options.maxConcurrentRequests);
    const trusted: TrustedKey[] = [{ origin: vaultOrigin, name: options.keyName.toLowerCase() }];
    for (const entry of options.trustedKeys) {
      const origin = parseVaultOrigin(entry.vaultUrl);
      if (
        origin === undefined ||
        typeof entry.keyName !== "string" ||
        !KEY_NAME_PATTERN.test(entry.keyName)
      ) {
        throw new StorageError(
          "invalid-argument",
          `${CONFIG_NAME}: a trusted key needs an https vault URL and a key name but received ${JSON.stringify({ vaultUrl: safeKeyVaultUrl(entry.vaultUrl), keyName: String(entry.keyName) })}`,
        );
      }
      const name = entry.keyName.toLowerCase();
      if (!trusted.some((key) => key.origin === origin && key.name === name)) trusted.push({ origin, name });
    }

    const requested = `${vaultOrigin}/keys/${options.keyName}${options.keyVersion === undefined ? "" : `/${options.keyVersion}`}`;
    let current: KeyVaultKeyInfo;
    try {
      current = await limiter.run(() => options.clients.getKey(options.keyName, options.keyVersion));
    } catch (error) {
      const cause = toStorageError(error, "getKey", requested);
      throw new StorageError(cause.code, `cannot read Azure Key Vault key ${requested}: ${cause.message}`);
    }
    const wrapper = new KeyVaultKeyWrapper(options, vaultOrigin, trusted, limiter, current);
    const problem = wrapper.#checkKey(current);
    if (problem !== undefined) {
      throw new StorageError("invalid-argument", `cannot use Azure Key Vault key ${requested}: ${problem}`);
    }
    const unusable = wrapper.#writeProblem(current);
    if (unusable !== undefined) {
      options.logger?.warning(`Key Vault key ${current.kid} cannot wrap new content keys: ${unusable}`);
    }
    if (options.keyVersion === undefined) {
      wrapper.#timer = setInterval(() => {
        void wrapper.refresh();
      }, options.keyRefreshMs);
      wrapper.#timer.unref?.();
    }
    return wrapper;
  }

  /** The versioned kid new CEKs are wrapped with. */
  get keyId(): string {
    return this.#current.kid;
  }

  get description(): string {
    const where = this.algorithm === "A256KW" ? "wraps in the vault" : "wraps locally";
    const version = this.keyVersion === undefined ? "latest version" : "pinned version";
    return `Azure Key Vault key ${this.#current.kid} (${this.algorithm}, ${where}, ${version})`;
  }

  /** Allow-list: a versioned https kid whose vault and key name are trusted. */
  trusts(keyId: string): boolean {
    const parsed = parseVersionedKeyId(keyId);
    if (parsed === undefined) return false;
    const name = parsed.keyName.toLowerCase();
    return this.#trusted.some((key) => key.origin === parsed.vaultUrl && key.name === name);
  }

  async wrapKey(cek: Buffer, options: OperationOptions = {}): Promise<WrappedKey> {
    if (options.abortSignal?.aborted) throw abortedError("wrap", "content key", options.abortSignal);
    checkCekToWrap(cek);
    const key = this.#current;
    const problem = this.#writeProblem(key);
    if (problem !== undefined) {
      throw new StorageError(
        "unavailable",
        `cannot wrap a content key with Key Vault key ${key.kid}: ${problem}`,
      );
    }
    const algorithm = this.algorithm;
    let encryptedKey: Buffer;
    if (algorithm === "A256KW") {
      try {
        encryptedKey = await this.#request(options, (requestOptions) =>
          this.#clients.wrapKey(key.kid, algorithm, cek, requestOptions),
        );
      } catch (error) {
        throw toStorageError(error, "wrapKey", key.kid);
      }
    } else {
      const publicKey = key.publicKey;
      if (publicKey === undefined) {
        throw new StorageError("internal", `Key Vault key ${key.kid} has no cached RSA public key`);
      }
      encryptedKey = publicEncrypt(
        { key: publicKey, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: oaepHash(algorithm) },
        cek,
      );
    }
    return { keyId: key.kid, algorithm, encryptedKey };
  }

  async unwrapKey(wrapped: WrappedKey, options: OperationOptions = {}): Promise<Buffer> {
    const kid = wrapped.keyId;
    if (!this.trusts(kid)) {
      throw new StorageError(
        "unavailable",
        `key id ${showUntrusted(kid)} is not trusted: its vault or key name is not ${CONFIG_NAME}'s (no request was sent)`,
      );
    }
    if (!WRAP_ALGORITHMS.includes(wrapped.algorithm)) {
      throw new StorageError(
        "integrity",
        `the wrapped content key names algorithm ${JSON.stringify(String(wrapped.algorithm))}, which Key Vault key ${kid} cannot unwrap with`,
      );
    }
    const encryptedKey = wrapped.encryptedKey;
    if (
      !Buffer.isBuffer(encryptedKey) ||
      encryptedKey.length === 0 ||
      encryptedKey.length > MAX_WRAPPED_LENGTH
    ) {
      throw new StorageError("integrity", `the wrapped content key does not unwrap with key ${kid}`);
    }
    if (options.abortSignal?.aborted) throw abortedError("unwrap", "content key", options.abortSignal);
    let unwrapped: Buffer;
    try {
      unwrapped = await this.#request(options, (requestOptions) =>
        this.#clients.unwrapKey(kid, wrapped.algorithm, encryptedKey, requestOptions),
      );
    } catch (error) {
      throw toStorageError(error, "unwrapKey", kid);
    }
    return copyUnwrappedCek(unwrapped, kid);
  }

  /**
   * Re-reads the latest version (no-op when a version is pinned). A new, usable version becomes
   * current; a failure or an unusable new version logs a warning and keeps the current key.
   * Concurrent calls share one request. Never throws.
   */
  refresh(): Promise<void> {
    if (this.keyVersion !== undefined) return Promise.resolve();
    if (this.#refreshing === undefined) {
      this.#refreshing = this.#refresh().finally(() => {
        this.#refreshing = undefined;
      });
    }
    return this.#refreshing;
  }

  async #refresh(): Promise<void> {
    const previous = this.#current;
    let latest: KeyVaultKeyInfo;
    try {
      latest = await this.#limiter.run(() => this.#clients.getKey(this.keyName, undefined));
    } catch (error) {
      const mapped = toStorageError(error, "getKey", `${this.vaultOrigin}/keys/${this.keyName}`);
      this.#warnOnce(
        `cannot refresh Key Vault key ${this.keyName}, new writes keep using ${previous.kid}: ${mapped.message}`,
      );
      return;
    }
    const problem =
      this.#checkKey(latest) ?? (latest.kid === previous.kid ? undefined : this.#writeProblem(latest));
    if (problem !== undefined) {
      this.#warnOnce(
        `the latest version ${latest.kid} of Key Vault key ${this.keyName} is not usable (${problem}): new writes keep using ${previous.kid}`,
      );
      return;
    }
    this.#lastRefreshProblem = undefined;
    this.#current = latest;
    // Loud on purpose (SECURITY.md): whoever can create a version of an unpinned key chooses the
    // KEK of new CEKs, so every change of version must stand out in the log.
    if (latest.kid !== previous.kid) {
      this.#logger?.warning(
        `Key Vault key rotated: new writes use ${latest.kid} (was ${previous.kid}); pin a version in AzureKeyVault.kid to rule out changes you did not make`,
      );
    }
  }

  /**
   * Runs one Key Vault request in a limiter slot. The caller's deadline (timeoutInMs) covers the
   * wait for a slot too: it becomes an abort signal shared by the wait and the request.
   */
  async #request<T>(options: OperationOptions, fn: (options: OperationOptions) => Promise<T>): Promise<T> {
    if (options.timeoutInMs === undefined) {
      const signal = options.abortSignal;
      return this.#limiter.run(() => fn(options), signal === undefined ? {} : { abortSignal: signal });
    }
    const combined = combineAbortSignals([options.abortSignal], options.timeoutInMs);
    try {
      return await this.#limiter.run(() => fn({ abortSignal: combined.signal }), {
        abortSignal: combined.signal,
      });
    } finally {
      combined.dispose();
    }
  }

  /** Stops the refresh timer. */
  dispose(): void {
    if (this.#timer !== undefined) clearInterval(this.#timer);
    this.#timer = undefined;
  }

  #warnOnce(message: string): void {
    if (message === this.#lastRefreshProblem) return;
    this.#lastRefreshProblem = message;
    this.#logger?.warning(message);
  }

  /** Why this key cannot be the configured key at all (wrong identity, type or size), if it cannot. */
  #checkKey(key: KeyVaultKeyInfo): string | undefined {
    const parsed = parseVersionedKeyId(key.kid);
    if (parsed === undefined)
      return `Key Vault returned key id ${JSON.stringify(key.kid)}, which is not a versioned https key id`;
    if (parsed.vaultUrl !== this.vaultOrigin || parsed.keyName.toLowerCase() !== this.keyName.toLowerCase()) {
      return `Key Vault returned key id ${key.kid}, which does not name the configured vault and key (is the vault URL the vault's canonical URL?)`;
    }
    if (this.keyVersion !== undefined && parsed.keyVersion !== this.keyVersion) {
      return `Key Vault returned version ${parsed.keyVersion} instead of the pinned version ${this.keyVersion}`;
    }
    if (this.algorithm === "A256KW") {
      if (!AES_KEY_TYPES.has(key.kty)) {
        return `A256KW needs an AES key (oct-HSM, Managed HSM) but key ${key.kid} is of type ${key.kty || "unknown"}`;
      }
      return undefined;
    }
    if (!RSA_KEY_TYPES.has(key.kty)) {
      return `${this.algorithm} needs an RSA key but key ${key.kid} is of type ${key.kty || "unknown"} (use A256KW for oct-HSM keys)`;
    }
    const bits = key.publicKey?.asymmetricKeyDetails?.modulusLength;
    if (key.publicKey === undefined || key.publicKey.asymmetricKeyType !== "rsa" || bits === undefined) {
      return `key ${key.kid} came without a usable RSA public key`;
    }
    if (bits < MIN_RSA_BITS || bits > MAX_RSA_BITS) {
      return `key ${key.kid} is a ${bits}-bit RSA key, but ${MIN_RSA_BITS} to ${MAX_RSA_BITS} bits are supported`;
    }
    return undefined;
  }

  /** Why this key version cannot wrap new CEKs now (state, dates, permitted operations), if it cannot. */
  #writeProblem(key: KeyVaultKeyInfo): string | undefined {
    if (!key.enabled) return "the key version is disabled";
    const now = this.#now();
    if (key.notBefore !== undefined && now < key.notBefore.getTime()) {
      return `the key version is not valid before ${key.notBefore.toISOString()}`;
    }
    if (key.expiresOn !== undefined && now >= key.expiresOn.getTime()) {
      return `the key version expired at ${key.expiresOn.toISOString()}`;
    }
    if (!key.keyOps.includes("wrapKey")) {
      return `the key's permitted operations (${key.keyOps.join(", ") || "none"}) do not include wrapKey`;
    }
    return undefined;
  }
}

/** A key id read from blob metadata, safe to put in a one-line message. */

/** StorageErrors pass through unchanged; anything else (a broken clients implementation) is internal. */
function toStorageError(error: unknown, operation: string, kid: string): StorageError {
  if (error instanceof StorageError) return error;
  const text = error instanceof Error ? error.message : String(error);
  const message = redactSecrets(text.split(/\r?\n/)[0] ?? "").slice(0, 300);
  return new StorageError("internal", `${operation} with key ${kid}: unexpected error: ${message}`);
}
