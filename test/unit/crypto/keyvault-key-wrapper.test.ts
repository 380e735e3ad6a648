import {
  constants,
  createCipheriv,
  createDecipheriv,
  createSecretKey,
  generateKeyPairSync,
  type KeyObject,
  privateDecrypt,
  publicEncrypt,
  randomBytes,
} from "node:crypto";
import { afterEach, beforeAll, describe, expect, it, vi } from "vitest";
import type { OperationOptions } from "../../../src/async/operation-options.ts";
import { parseVersionedKeyId } from "../../../src/crypto/key-id.ts";
import type { WrapAlgorithm, WrappedKey } from "../../../src/crypto/key-wrapper.ts";
import type { KeyVaultClients, KeyVaultKeyInfo } from "../../../src/crypto/keyvault-clients.ts";
import {
  KeyVaultKeyWrapper,
  type KeyVaultKeyWrapperOptions,
} from "../../../src/crypto/keyvault-key-wrapper.ts";
import { StorageError } from "../../../src/errors.ts";
import type { Logger } from "../../../src/logging/logger.ts";
import { storageFailure } from "../../support/assertions.ts";

const VAULT = "https://myvault.vault.azure.net";
const OTHER_VAULT = "https://archive.vault.azure.net";
const V1 = "0123456789abcdef0123456789abcdef";
const V2 = "fedcba9876543210fedcba9876543210";
const KEY = "orthanc-kek";

function kid(name: string, version: string, vault = VAULT): string {
  return `${vault}/keys/${name}/${version}`;
}

interface Call {
  op: "getKey" | "wrapKey" | "unwrapKey";
  name?: string;
  version?: string | undefined;
  kid?: string;
  algorithm?: WrapAlgorithm;
}

interface FakeKey {
  info: KeyVaultKeyInfo;
  privateKey?: KeyObject;
  secretKey?: KeyObject;
}

const AES_KW_IV = Buffer.from("A6A6A6A6A6A6A6A6", "hex");

/** An in-memory Key Vault behind the KeyVaultClients interface, recording every call. */
class FakeClients implements KeyVaultClients {
  readonly calls: Call[] = [];
  readonly keys = new Map<string, FakeKey>();
  /** key name (lower case) -> kid of the latest version */
  readonly latest = new Map<string, string>();
  getKeyError: unknown;
  unwrapError: unknown;
  wrapError: unknown;
  /** Replaces the unwrap implementation (e.g. to hold requests open). */
  unwrapHook: ((kid: string) => Promise<void>) | undefined;
  /** The last Buffer handed out by unwrapKey (to check that the wrapper zeroes it). */
  lastUnwrapped: Buffer | undefined;
  unwrapLength: number | undefined;

  get requestCount(): number {
    return this.calls.length;
  }

  add(key: FakeKey, latest = true): void {
    this.keys.set(key.info.kid, key);
    const parsed = parseVersionedKeyId(key.info.kid);
    if (parsed !== undefined && latest)
      this.latest.set(`${parsed.vaultUrl}|${parsed.keyName.toLowerCase()}`, key.info.kid);
  }

  async getKey(
    name: string,
    version: string | undefined,
    _options?: OperationOptions,
  ): Promise<KeyVaultKeyInfo> {
    this.calls.push({ op: "getKey", name, version });
    if (this.getKeyError !== undefined) throw this.getKeyError;
    const id = version === undefined ? this.latest.get(`${VAULT}|${name.toLowerCase()}`) : kid(name, version);
    const key = id === undefined ? undefined : this.keys.get(id);
    if (key === undefined)
      throw new StorageError("unavailable", `getKey: key ${VAULT}/keys/${name} was not found`);
    return key.info;
  }

  async wrapKey(versionedKid: string, algorithm: WrapAlgorithm, cek: Buffer): Promise<Buffer> {
    this.calls.push({ op: "wrapKey", kid: versionedKid, algorithm });
    if (this.wrapError !== undefined) throw this.wrapError;
    const key = this.keys.get(versionedKid);
    if (key?.secretKey === undefined) throw new StorageError("unavailable", "no such AES key");
    const cipher = createCipheriv("id-aes256-wrap", key.secretKey, AES_KW_IV);
    return Buffer.concat([cipher.update(cek), cipher.final()]);
  }

  async unwrapKey(versionedKid: string, algorithm: WrapAlgorithm, encryptedKey: Buffer): Promise<Buffer> {
    this.calls.push({ op: "unwrapKey", kid: versionedKid, algorithm });
    if (this.unwrapHook !== undefined) await this.unwrapHook(versionedKid);
    if (this.unwrapError !== undefined) throw this.unwrapError;
    if (this.unwrapLength !== undefined) {
      this.lastUnwrapped = randomBytes(this.unwrapLength);
      return this.lastUnwrapped;
    }
    const key = this.keys.get(versionedKid);
    if (key === undefined)
      throw new StorageError("unavailable", `unwrapKey: key ${versionedKid} was not found`);
    let result: Buffer;
    if (key.secretKey !== undefined) {
      const decipher = createDecipheriv("id-aes256-wrap", key.secretKey, AES_KW_IV);
      result = Buffer.concat([decipher.update(encryptedKey), decipher.final()]);
    } else if (key.privateKey !== undefined) {
      result = privateDecrypt(
        {
          key: key.privateKey,
          padding: constants.RSA_PKCS1_OAEP_PADDING,
          oaepHash: algorithm === "RSA-OAEP" ? "sha1" : "sha256",
        },
        encryptedKey,
      );
    } else {
      throw new StorageError("internal", "fake key without material");
    }
    this.lastUnwrapped = result;
    return result;
  }

  countOf(op: Call["op"]): number {
    return this.calls.filter((call) => call.op === op).length;
  }
}

interface RsaPair {
  privateKey: KeyObject;
  publicKey: KeyObject;
}

let rsaA: RsaPair;
let rsaB: RsaPair;

beforeAll(() => {
  rsaA = generateKeyPairSync("rsa", { modulusLength: 2048 });
  rsaB = generateKeyPairSync("rsa", { modulusLength: 2048 });
});

afterEach(() => {
  vi.useRealTimers();
});

function rsaKey(id: string, pair: RsaPair, overrides: Partial<KeyVaultKeyInfo> = {}): FakeKey {
  return {
    info: {
      kid: id,
      kty: "RSA-HSM",
      keyOps: ["wrapKey", "unwrapKey"],
      publicKey: pair.publicKey,
      enabled: true,
      ...overrides,
    },
    privateKey: pair.privateKey,
  };
}

function aesKey(id: string): FakeKey {
  return {
    info: { kid: id, kty: "oct-HSM", keyOps: ["wrapKey", "unwrapKey"], enabled: true },
    secretKey: createSecretKey(randomBytes(32)),
  };
}

interface RecordingLogger extends Logger {
  lines: Array<{ level: string; message: string }>;
}

function recordingLogger(): RecordingLogger {
  const lines: Array<{ level: string; message: string }> = [];
  return {
    lines,
    error: (message) => lines.push({ level: "error", message }),
    warning: (message) => lines.push({ level: "warning", message }),
    info: (message) => lines.push({ level: "info", message }),
  };
}

function options(
  clients: FakeClients,
  overrides: Partial<KeyVaultKeyWrapperOptions> = {},
): KeyVaultKeyWrapperOptions {
  return {
    vaultUrl: VAULT,
    keyName: KEY,
    algorithm: "RSA-OAEP-256",
    trustedKeys: [],
    keyRefreshMs: 60_000,
    maxConcurrentRequests: 4,
    clients,
    ...overrides,
  };
}

const wrappers: KeyVaultKeyWrapper[] = [];

async function create(clients: FakeClients, overrides: Partial<KeyVaultKeyWrapperOptions> = {}) {
  const wrapper = await KeyVaultKeyWrapper.create(options(clients, overrides));
  wrappers.push(wrapper);
  return wrapper;
}

afterEach(() => {
  for (const wrapper of wrappers.splice(0)) wrapper.dispose();
});

function rsaSetup(overrides: Partial<KeyVaultKeyInfo> = {}): FakeClients {
  const clients = new FakeClients();
  clients.add(rsaKey(kid(KEY, V1), rsaA, overrides));
  return clients;
}

describe("KeyVaultKeyWrapper: wrapping", () => {
  it.each([
    ["RSA-OAEP-256", "sha256", "sha1"],
    ["RSA-OAEP", "sha1", "sha256"],
  ] as const)(
    "wraps locally with %s (no Key Vault call) and returns the versioned kid",
    async (algorithm, hash, wrongHash) => {
      const clients = rsaSetup();
      const wrapper = await create(clients, { algorithm });
      expect(clients.calls).toEqual([{ op: "getKey", name: KEY, version: undefined }]);

      const cek = randomBytes(32);
      const wrapped = await wrapper.wrapKey(cek);
      expect(clients.calls).toHaveLength(1);
      expect(wrapped.keyId).toBe(kid(KEY, V1));
      expect(wrapped.algorithm).toBe(algorithm);
      expect(wrapped.encryptedKey).toHaveLength(256);

      const decrypted = privateDecrypt(
        { key: rsaA.privateKey, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: hash },
        wrapped.encryptedKey,
      );
      expect(decrypted.equals(cek)).toBe(true);
      expect(() =>
        privateDecrypt(
          { key: rsaA.privateKey, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: wrongHash },
          wrapped.encryptedKey,
        ),
      ).toThrow();
    },
  );

  it("wraps A256KW remotely with the versioned kid", async () => {
    const hsm = new FakeClients();
    hsm.add(aesKey(kid(KEY, V1)));
    const wrapper = await create(hsm, { algorithm: "A256KW" });
    const cek = randomBytes(32);
    const wrapped = await wrapper.wrapKey(cek);
    expect(hsm.calls.map((call) => call.op)).toEqual(["getKey", "wrapKey"]);
    expect(hsm.calls[1]).toEqual({ op: "wrapKey", kid: kid(KEY, V1), algorithm: "A256KW" });
    expect(wrapped).toMatchObject({ keyId: kid(KEY, V1), algorithm: "A256KW" });
    expect(wrapped.encryptedKey).toHaveLength(40);
    const unwrapped = await wrapper.unwrapKey(wrapped);
    expect(unwrapped.equals(cek)).toBe(true);
    expect(wrapper.description).toContain("wraps in the vault");
  });

  it("describes the key without secrets", async () => {
    const wrapper = await create(rsaSetup());
    expect(wrapper.description).toBe(
      `Azure Key Vault key ${kid(KEY, V1)} (RSA-OAEP-256, wraps locally, latest version)`,
    );
    expect(wrapper.keyId).toBe(kid(KEY, V1));
  });

  it("refuses a content key of the wrong size", async () => {
    const wrapper = await create(rsaSetup());
    const error = await storageFailure(wrapper.wrapKey(randomBytes(16)));
    expect(error.code).toBe("invalid-argument");
  });

  it.each([
    ["disabled", { enabled: false }, "disabled"],
    ["expired", { expiresOn: new Date(Date.UTC(2020, 0, 1)) }, "expired at 2020-01-01T00:00:00.000Z"],
    [
      "not yet valid",
      { notBefore: new Date(Date.UTC(2030, 0, 1)) },
      "not valid before 2030-01-01T00:00:00.000Z",
    ],
    ["without the wrapKey operation", { keyOps: ["unwrapKey"] }, "do not include wrapKey"],
  ] as const)("refuses to wrap when the current version is %s", async (_label, overrides, reason) => {
    const clients = rsaSetup(overrides);
    const logger = recordingLogger();
    const wrapper = await create(clients, { logger, now: () => Date.UTC(2025, 5, 1) });
    expect(logger.lines.some((line) => line.level === "warning" && line.message.includes(reason))).toBe(true);
    const error = await storageFailure(wrapper.wrapKey(randomBytes(32)));
    expect(error.code).toBe("unavailable");
    expect(error.message).toContain(kid(KEY, V1));
    expect(error.message).toContain(reason);
    expect(clients.calls).toHaveLength(1);
  });
});

describe("KeyVaultKeyWrapper: startup", () => {
  it("reads a pinned version and starts no refresh timer", async () => {
    vi.useFakeTimers();
    const clients = rsaSetup();
    const wrapper = await create(clients, { keyVersion: V1 });
    expect(clients.calls).toEqual([{ op: "getKey", name: KEY, version: V1 }]);
    expect(wrapper.description).toContain("pinned version");
    await vi.advanceTimersByTimeAsync(10 * 60_000);
    expect(clients.calls).toHaveLength(1);
  });

  it("fails with a clear error, keeping the code, when the key cannot be read", async () => {
    const clients = new FakeClients();
    clients.getKeyError = new StorageError(
      "unavailable",
      "getKey with key x: access denied (HTTP 403, Forbidden)",
    );
    const error = await storageFailure(KeyVaultKeyWrapper.create(options(clients)));
    expect(error.code).toBe("unavailable");
    expect(error.message).toBe(
      `cannot read Azure Key Vault key ${VAULT}/keys/${KEY}: getKey with key x: access denied (HTTP 403, Forbidden)`,
    );
  });

  it.each([
    ["an RSA key for A256KW", () => rsaSetup(), "A256KW" as const, "needs an AES key"],
    [
      "an AES key for RSA-OAEP-256",
      () => {
        const clients = new FakeClients();
        clients.add(aesKey(kid(KEY, V1)));
        return clients;
      },
      "RSA-OAEP-256" as const,
      "needs an RSA key",
    ],
    [
      "a kid from another vault",
      () => {
        const clients = new FakeClients();
        clients.add(rsaKey(kid(KEY, V1, OTHER_VAULT), rsaA));
        clients.latest.set(`${VAULT}|${KEY}`, kid(KEY, V1, OTHER_VAULT));
        return clients;
      },
      "RSA-OAEP-256" as const,
      "does not name the configured vault and key",
    ],
    [
      "a 1024-bit RSA key",
      () => {
        const clients = new FakeClients();
        clients.add(rsaKey(kid(KEY, V1), generateKeyPairSync("rsa", { modulusLength: 1024 })));
        return clients;
      },
      "RSA-OAEP-256" as const,
      "1024-bit",
    ],
  ])("refuses %s", async (_label, setup, algorithm, reason) => {
    const error = await storageFailure(KeyVaultKeyWrapper.create(options(setup(), { algorithm })));
    expect(error.code).toBe("invalid-argument");
    expect(error.message).toContain(reason);
  });

  it.each([
    ["an http vault URL", { vaultUrl: "http://myvault.vault.azure.net" }],
    ["a vault URL with a path", { vaultUrl: `${VAULT}/keys` }],
    ["a bad key name", { keyName: "no/slash" }],
    ["a bad version", { keyVersion: "../x" }],
    ["a trusted key over http", { trustedKeys: [{ vaultUrl: "http://x.vault.azure.net", keyName: "k" }] }],
    ["a zero refresh interval", { keyRefreshMs: 0 }],
    ["a refresh interval beyond Node's timer range", { keyRefreshMs: 2 ** 31 }],
    ["a vault URL with credentials", { vaultUrl: "https://user:pa55word@myvault.vault.azure.net" }],
    ["a zero request limit", { maxConcurrentRequests: 0 }],
  ])("refuses %s before any request", async (_label, overrides) => {
    const clients = rsaSetup();
    const error = await storageFailure(KeyVaultKeyWrapper.create(options(clients, overrides)));
    expect(error.code).toBe("invalid-argument");
    expect(error.message).not.toContain("pa55word");
    expect(clients.calls).toHaveLength(0);
  });
});

describe("KeyVaultKeyWrapper: unwrapping and the allow-list", () => {
  it("unwraps remotely by exactly the stored versioned kid and returns a fresh buffer", async () => {
    const clients = rsaSetup();
    const wrapper = await create(clients);
    const cek = randomBytes(32);
    const wrapped = await wrapper.wrapKey(cek);
    const unwrapped = await wrapper.unwrapKey(wrapped);
    expect(unwrapped.equals(cek)).toBe(true);
    expect(clients.calls.at(-1)).toEqual({ op: "unwrapKey", kid: kid(KEY, V1), algorithm: "RSA-OAEP-256" });
    expect(unwrapped).not.toBe(clients.lastUnwrapped);
    expect(clients.lastUnwrapped?.equals(Buffer.alloc(32))).toBe(true);
  });

  it("unwraps with an older version after a rotation", async () => {
    const clients = rsaSetup();
    clients.add(rsaKey(kid(KEY, V2), rsaB));
    const wrapper = await create(clients);
    expect(wrapper.keyId).toBe(kid(KEY, V2));
    const cek = randomBytes(32);
    const encryptedKey = publicEncrypt(
      { key: rsaA.publicKey, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: "sha256" },
      cek,
    );
    const unwrapped = await wrapper.unwrapKey({
      keyId: kid(KEY, V1),
      algorithm: "RSA-OAEP-256",
      encryptedKey,
    });
    expect(unwrapped.equals(cek)).toBe(true);
    expect(clients.calls.at(-1)?.kid).toBe(kid(KEY, V1));
  });

  const untrusted: Array<[string, string]> = [
    ["a foreign host", kid(KEY, V1, "https://evil.example.com")],
    ["a look-alike host", kid(KEY, V1, "https://myvault.vault.azure.net.evil.example.com")],
    ["another port", kid(KEY, V1, "https://myvault.vault.azure.net:8443")],
    ["another key name", kid("other-key", V1)],
    ["an unversioned kid", `${VAULT}/keys/${KEY}`],
    ["an unversioned kid with a trailing slash", `${VAULT}/keys/${KEY}/`],
    ["a malformed kid", "not a key id"],
    ["an empty kid", ""],
    ["an extra path segment", `${kid(KEY, V1)}/unwrapkey`],
    ["a query string", `${kid(KEY, V1)}?api-version=7.4`],
    ["a fragment", `${kid(KEY, V1)}#x`],
    ["user info", kid(KEY, V1, "https://user@myvault.vault.azure.net")],
    ["a secrets path", `${VAULT}/secrets/${KEY}/${V1}`],
    ["a dot segment", `${VAULT}/keys/../keys/${KEY}/${V1}`],
    ["an encoded name", `${VAULT}/keys/orthanc%2Dkek/${V1}`],
    ["the http scheme", kid(KEY, V1, "http://myvault.vault.azure.net")],
    ["a local key id", "local:rsa:0123456789abcdef0123456789abcdef"],
  ];

  it.each(untrusted)("refuses %s without sending any request", async (_label, keyId) => {
    const clients = rsaSetup();
    const wrapper = await create(clients);
    const before = clients.calls.length;
    expect(wrapper.trusts(keyId)).toBe(false);
    const wrapped: WrappedKey = { keyId, algorithm: "RSA-OAEP-256", encryptedKey: randomBytes(256) };
    const error = await storageFailure(wrapper.unwrapKey(wrapped));
    expect(error.code).toBe("unavailable");
    expect(error.message).toContain("is not trusted");
    expect(error.message).toContain("(no request was sent)");
    expect(error.message).not.toContain("\n");
    expect(clients.calls).toHaveLength(before);
  });

  it("names the refused kid in the message", async () => {
    const wrapper = await create(rsaSetup());
    const keyId = kid(KEY, V1, "https://evil.example.com");
    const error = await storageFailure(
      wrapper.unwrapKey({ keyId, algorithm: "RSA-OAEP-256", encryptedKey: randomBytes(256) }),
    );
    expect(error.message).toBe(
      `key id ${keyId} is not trusted: its vault or key name is not AzureBlobStorage.AzureKeyVault's (no request was sent)`,
    );
  });

  it("accepts a trusted second key (another vault and name, any case) and the configured key", async () => {
    const clients = rsaSetup();
    const archived = kid("Archive-Key", V2, OTHER_VAULT);
    clients.add(rsaKey(archived, rsaB), false);
    const wrapper = await create(clients, {
      trustedKeys: [{ vaultUrl: `${OTHER_VAULT}/`, keyName: "archive-key" }],
    });
    expect(wrapper.trusts(archived)).toBe(true);
    expect(wrapper.trusts(kid(KEY, V2))).toBe(true);
    expect(wrapper.trusts(kid("Archive-Key", V2))).toBe(false);

    const cek = randomBytes(32);
    const encryptedKey = publicEncrypt(
      { key: rsaB.publicKey, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: "sha1" },
      cek,
    );
    const unwrapped = await wrapper.unwrapKey({ keyId: archived, algorithm: "RSA-OAEP", encryptedKey });
    expect(unwrapped.equals(cek)).toBe(true);
    expect(clients.calls.at(-1)).toEqual({ op: "unwrapKey", kid: archived, algorithm: "RSA-OAEP" });
  });

  it("refuses an unknown algorithm or an oversized wrapped key as integrity errors, without a request", async () => {
    const clients = rsaSetup();
    const wrapper = await create(clients);
    const badAlgorithm = await storageFailure(
      wrapper.unwrapKey({
        keyId: kid(KEY, V1),
        algorithm: "RSA1_5" as WrapAlgorithm,
        encryptedKey: randomBytes(256),
      }),
    );
    expect(badAlgorithm.code).toBe("integrity");
    const oversized = await storageFailure(
      wrapper.unwrapKey({ keyId: kid(KEY, V1), algorithm: "RSA-OAEP-256", encryptedKey: randomBytes(513) }),
    );
    expect(oversized.code).toBe("integrity");
    expect(clients.calls).toHaveLength(1);
  });

  it("treats an unwrapped key of the wrong length as an integrity error and zeroes it", async () => {
    const clients = rsaSetup();
    const wrapper = await create(clients);
    clients.unwrapLength = 16;
    const error = await storageFailure(
      wrapper.unwrapKey({ keyId: kid(KEY, V1), algorithm: "RSA-OAEP-256", encryptedKey: randomBytes(256) }),
    );
    expect(error.code).toBe("integrity");
    expect(clients.lastUnwrapped?.equals(Buffer.alloc(16))).toBe(true);
  });

  it("passes StorageErrors from the clients through unchanged", async () => {
    const clients = rsaSetup();
    const wrapper = await create(clients);
    const wrapped: WrappedKey = {
      keyId: kid(KEY, V1),
      algorithm: "RSA-OAEP-256",
      encryptedKey: randomBytes(256),
    };
    for (const thrown of [
      new StorageError(
        "integrity",
        `unwrapKey: the wrapped content key does not unwrap with key ${kid(KEY, V1)}`,
      ),
      new StorageError("unavailable", "unwrapKey with key x: Key Vault is throttling requests (HTTP 429)"),
      new StorageError("timeout", "unwrapKey with key x: deadline of 5 ms passed"),
    ]) {
      clients.unwrapError = thrown;
      const error = await wrapper.unwrapKey(wrapped).catch((e: unknown) => e);
      expect(error).toBe(thrown);
    }
    clients.unwrapError = new Error("boom\nsecond line");
    const internal = await storageFailure(wrapper.unwrapKey(wrapped));
    expect(internal.code).toBe("internal");
    expect(internal.message).not.toContain("\n");
  });

  it("passes remote wrap errors through unchanged", async () => {
    const clients = new FakeClients();
    clients.add(aesKey(kid(KEY, V1)));
    const wrapper = await create(clients, { algorithm: "A256KW" });
    const thrown = new StorageError("unavailable", "wrapKey with key x: access denied (HTTP 403, Forbidden)");
    clients.wrapError = thrown;
    expect(await wrapper.wrapKey(randomBytes(32)).catch((e: unknown) => e)).toBe(thrown);
  });

  it("bounds concurrent unwraps with maxConcurrentRequests", async () => {
    const clients = rsaSetup();
    const wrapper = await create(clients, { maxConcurrentRequests: 2 });
    const cek = randomBytes(32);
    const wrapped = await wrapper.wrapKey(cek);
    let inFlight = 0;
    let maxInFlight = 0;
    const releases: Array<() => void> = [];
    clients.unwrapHook = async () => {
      inFlight++;
      maxInFlight = Math.max(maxInFlight, inFlight);
      await new Promise<void>((resolve) => releases.push(resolve));
      inFlight--;
    };
    const results = Array.from({ length: 5 }, () => wrapper.unwrapKey(wrapped));
    await new Promise((resolve) => setImmediate(resolve));
    expect(inFlight).toBe(2);
    while (releases.length > 0 || inFlight > 0) {
      releases.shift()?.();
      await new Promise((resolve) => setImmediate(resolve));
    }
    const unwrapped = await Promise.all(results);
    expect(unwrapped.every((buffer) => buffer.equals(cek))).toBe(true);
    expect(maxInFlight).toBe(2);
    expect(clients.countOf("unwrapKey")).toBe(5);
  });

  it("gives up waiting for a request slot when the caller aborts", async () => {
    const clients = rsaSetup();
    const wrapper = await create(clients, { maxConcurrentRequests: 1 });
    const wrapped = await wrapper.wrapKey(randomBytes(32));
    let release: () => void = () => {};
    clients.unwrapHook = () =>
      new Promise<void>((resolve) => {
        release = resolve;
      });
    const first = wrapper.unwrapKey(wrapped);
    const controller = new AbortController();
    const second = wrapper.unwrapKey(wrapped, { abortSignal: controller.signal });
    controller.abort();
    const error = await storageFailure(second);
    expect(error.code).toBe("timeout");
    clients.unwrapHook = undefined;
    release();
    await first;
    expect(clients.countOf("unwrapKey")).toBe(1);
  });
  it("counts the wait for a request slot against the caller's deadline", async () => {
    const clients = rsaSetup();
    const wrapper = await create(clients, { maxConcurrentRequests: 1 });
    const wrapped = await wrapper.wrapKey(randomBytes(32));
    let release: () => void = () => {};
    clients.unwrapHook = () =>
      new Promise<void>((resolve) => {
        release = resolve;
      });
    const first = wrapper.unwrapKey(wrapped);
    const error = await storageFailure(wrapper.unwrapKey(wrapped, { timeoutInMs: 20 }));
    expect(error.code).toBe("timeout");
    expect(error.message).toContain("deadline of 20 ms passed");
    clients.unwrapHook = undefined;
    release();
    await first;
    expect(clients.countOf("unwrapKey")).toBe(1);
  });
});

describe("KeyVaultKeyWrapper: rotation", () => {
  it("picks up a new version on the refresh timer and keeps the key when a refresh fails", async () => {
    vi.useFakeTimers();
    const clients = rsaSetup();
    const logger = recordingLogger();
    const wrapper = await create(clients, { logger, keyRefreshMs: 60_000 });
    expect(wrapper.keyId).toBe(kid(KEY, V1));

    await vi.advanceTimersByTimeAsync(60_000);
    expect(clients.countOf("getKey")).toBe(2);
    expect(wrapper.keyId).toBe(kid(KEY, V1));
    expect(logger.lines).toEqual([]);

    clients.add(rsaKey(kid(KEY, V2), rsaB));
    await vi.advanceTimersByTimeAsync(60_000);
    expect(wrapper.keyId).toBe(kid(KEY, V2));
    expect(logger.lines).toEqual([
      {
        level: "warning",
        message: `Key Vault key rotated: new writes use ${kid(KEY, V2)} (was ${kid(KEY, V1)}); pin a version in AzureKeyVault.kid to rule out changes you did not make`,
      },
    ]);
    const cek = randomBytes(32);
    const wrapped = await wrapper.wrapKey(cek);
    expect(wrapped.keyId).toBe(kid(KEY, V2));
    expect(
      privateDecrypt(
        { key: rsaB.privateKey, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: "sha256" },
        wrapped.encryptedKey,
      ).equals(cek),
    ).toBe(true);

    clients.getKeyError = new StorageError("unavailable", "getKey with key x: cannot reach Key Vault");
    const linesBefore = logger.lines.length;
    await vi.advanceTimersByTimeAsync(60_000);
    expect(wrapper.keyId).toBe(kid(KEY, V2));
    const warnings = logger.lines.slice(linesBefore).filter((line) => line.level === "warning");
    expect(warnings).toHaveLength(1);
    expect(warnings[0]?.message).toContain(`new writes keep using ${kid(KEY, V2)}`);
    expect(warnings[0]?.message).toContain("cannot reach Key Vault");
    expect((await wrapper.wrapKey(randomBytes(32))).keyId).toBe(kid(KEY, V2));

    const requests = clients.countOf("getKey");
    wrapper.dispose();
    await vi.advanceTimersByTimeAsync(5 * 60_000);
    expect(clients.countOf("getKey")).toBe(requests);
  });

  it("keeps the current key when the latest version cannot wrap", async () => {
    vi.useFakeTimers();
    const clients = rsaSetup();
    const logger = recordingLogger();
    const wrapper = await create(clients, { logger });
    clients.add(rsaKey(kid(KEY, V2), rsaB, { enabled: false }));
    await vi.advanceTimersByTimeAsync(60_000);
    await vi.advanceTimersByTimeAsync(60_000);
    expect(wrapper.keyId).toBe(kid(KEY, V1));
    const warnings = logger.lines.filter((line) => line.level === "warning");
    expect(warnings).toHaveLength(1);
    expect(warnings[0]?.message).toContain(`latest version ${kid(KEY, V2)}`);
    expect(warnings[0]?.message).toContain("disabled");
  });

  it("stops wrapping when a refresh finds the current version disabled", async () => {
    vi.useFakeTimers();
    const clients = rsaSetup();
    const wrapper = await create(clients);
    clients.add(rsaKey(kid(KEY, V1), rsaA, { enabled: false }));
    await vi.advanceTimersByTimeAsync(60_000);
    const error = await storageFailure(wrapper.wrapKey(randomBytes(32)));
    expect(error.code).toBe("unavailable");
    expect(error.message).toContain("disabled");
  });
});
