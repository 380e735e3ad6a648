/**
 * The emulator's state: keys (every version, with its private material) and the access tokens
 * it issued. Persisted as JSON on every change and loaded at start, so blobs stay readable and
 * clients keep their cached tokens across emulator restarts.
 *
 * THIS IS A TEST EMULATOR: private keys are written to the state file in clear (RSA keys as
 * PKCS#8 PEM, AES keys as hex). Never point it at anything but throwaway test data.
 */
import { createPrivateKey, generateKeyPairSync, randomBytes } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { dirname } from "node:path";
import { isRecord, nowSeconds, randomHex } from "./util.ts";

export type KeyType = "RSA" | "RSA-HSM" | "oct-HSM";
export const KEY_TYPES: readonly KeyType[] = ["RSA", "RSA-HSM", "oct-HSM"];
export const RSA_SIZES: readonly number[] = [2048, 3072, 4096];
export const AES_SIZES: readonly number[] = [128, 192, 256];

export interface KeyAttributes {
  enabled: boolean;
  /** Epoch seconds. */
  created: number;
  updated: number;
  /** Expiry (epoch seconds) when set. */
  exp?: number;
  /** Not-before (epoch seconds) when set. */
  nbf?: number;
}

export interface KeyVersionRecord {
  readonly version: string;
  readonly kty: KeyType;
  /** RSA private key, PKCS#8 PEM (RSA and RSA-HSM). */
  readonly privateKeyPem?: string;
  /** AES key bytes, hex (oct-HSM). */
  readonly octHex?: string;
  attributes: KeyAttributes;
}

export interface TokenRecord {
  readonly tenantId: string;
  /** The resource the token is for, without a trailing slash (https://vault.azure.net). */
  readonly audience: string;
  /** Client id or managed identity the token was issued to. */
  readonly subject: string;
  /** Epoch seconds. */
  readonly expiresOn: number;
}

const STATE_FORMAT = "orthanc-azure-blob-storage/keyvault-emulator-state";
const STATE_VERSION = 1;

interface StateDocument {
  format: typeof STATE_FORMAT;
  version: typeof STATE_VERSION;
  warning: string;
  keys: Record<string, KeyVersionRecord[]>;
  tokens: Record<string, TokenRecord>;
}

export class EmulatorError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly innerCode?: string,
  ) {
    super(message);
  }
}

function isKeyType(value: unknown): value is KeyType {
  return typeof value === "string" && (KEY_TYPES as readonly string[]).includes(value);
}

function parseAttributes(value: unknown): KeyAttributes | undefined {
  if (!isRecord(value)) return undefined;
  const { enabled, created, updated, exp, nbf } = value;
  if (typeof enabled !== "boolean" || typeof created !== "number" || typeof updated !== "number") {
    return undefined;
  }
  return {
    enabled,
    created,
    updated,
    ...(typeof exp === "number" ? { exp } : {}),
    ...(typeof nbf === "number" ? { nbf } : {}),
  };
}

function parseVersion(value: unknown): KeyVersionRecord | undefined {
  if (!isRecord(value)) return undefined;
  const { version, kty, privateKeyPem, octHex } = value;
  const attributes = parseAttributes(value.attributes);
  if (typeof version !== "string" || !isKeyType(kty) || attributes === undefined) return undefined;
  if (kty === "oct-HSM") {
    return typeof octHex === "string" ? { version, kty, octHex, attributes } : undefined;
  }
  return typeof privateKeyPem === "string" ? { version, kty, privateKeyPem, attributes } : undefined;
}

function parseToken(value: unknown): TokenRecord | undefined {
  if (!isRecord(value)) return undefined;
  const { tenantId, audience, subject, expiresOn } = value;
  if (
    typeof tenantId !== "string" ||
    typeof audience !== "string" ||
    typeof subject !== "string" ||
    typeof expiresOn !== "number"
  ) {
    return undefined;
  }
  return { tenantId, audience, subject, expiresOn };
}

/** Key size in bits of a stored version (RSA modulus or AES key). */
export function keySize(record: KeyVersionRecord): number {
  if (record.octHex !== undefined) return (record.octHex.length / 2) * 8;
  const details = createPrivateKey(record.privateKeyPem ?? "").asymmetricKeyDetails;
  return details?.modulusLength ?? 2048;
}

export class EmulatorState {
  private readonly keys = new Map<string, KeyVersionRecord[]>();
  private readonly tokens = new Map<string, TokenRecord>();

  constructor(private readonly stateFile: string | undefined) {
    if (stateFile !== undefined && existsSync(stateFile)) this.load(stateFile);
  }

  private load(stateFile: string): void {
    let document: unknown;
    try {
      document = JSON.parse(readFileSync(stateFile, "utf8"));
    } catch (error) {
      throw new Error(`cannot read the key vault emulator state ${stateFile}: ${String(error)}`);
    }
    if (!isRecord(document) || document.format !== STATE_FORMAT || document.version !== STATE_VERSION) {
      throw new Error(`${stateFile} is not a key vault emulator state file (version ${STATE_VERSION})`);
    }
    for (const [name, versions] of Object.entries(isRecord(document.keys) ? document.keys : {})) {
      const parsed = Array.isArray(versions) ? versions.map(parseVersion) : [];
      if (parsed.length === 0 || parsed.some((entry) => entry === undefined)) {
        throw new Error(`${stateFile}: key "${name}" is malformed`);
      }
      this.keys.set(name, parsed as KeyVersionRecord[]);
    }
    const now = nowSeconds();
    for (const [token, value] of Object.entries(isRecord(document.tokens) ? document.tokens : {})) {
      const parsed = parseToken(value);
      if (parsed !== undefined && parsed.expiresOn > now) this.tokens.set(token, parsed);
    }
  }

  /** Writes the state file atomically (temp file + rename); a no-op without a state file. */
  private persist(): void {
    if (this.stateFile === undefined) return;
    const now = nowSeconds();
    for (const [token, record] of this.tokens) {
      if (record.expiresOn <= now) this.tokens.delete(token);
    }
    const document: StateDocument = {
      format: STATE_FORMAT,
      version: STATE_VERSION,
      warning: "Test emulator state: private keys in clear. Never use for real data.",
      keys: Object.fromEntries(this.keys),
      tokens: Object.fromEntries(this.tokens),
    };
    mkdirSync(dirname(this.stateFile), { recursive: true });
    const temporary = `${this.stateFile}.${randomHex(4)}.tmp`;
    writeFileSync(temporary, `${JSON.stringify(document, null, 2)}\n`, { mode: 0o600 });
    renameSync(temporary, this.stateFile);
  }

  keyNames(): string[] {
    return [...this.keys.keys()];
  }

  /** The version (latest when `version` is empty or undefined), or undefined. */
  findKey(name: string, version?: string): KeyVersionRecord | undefined {
    const versions = this.keys.get(name);
    if (versions === undefined) return undefined;
    if (version === undefined || version === "") return versions[versions.length - 1];
    return versions.find((entry) => entry.version === version);
  }

  /** Adds a new version of `name` (creating the key when new) and returns it. */
  createVersion(
    name: string,
    kty: KeyType,
    size: number | undefined,
    attributes: Partial<Omit<KeyAttributes, "created" | "updated">> = {},
  ): KeyVersionRecord {
    const now = nowSeconds();
    const version = randomHex(16);
    const keyAttributes: KeyAttributes = { enabled: true, ...attributes, created: now, updated: now };
    let record: KeyVersionRecord;
    if (kty === "oct-HSM") {
      const bits = size ?? 256;
      if (!AES_SIZES.includes(bits)) {
        throw new EmulatorError(
          400,
          "BadParameter",
          `Invalid key size ${bits} for oct-HSM (128, 192 or 256).`,
        );
      }
      record = { version, kty, octHex: randomBytes(bits / 8).toString("hex"), attributes: keyAttributes };
    } else {
      const bits = size ?? 2048;
      if (!RSA_SIZES.includes(bits)) {
        throw new EmulatorError(
          400,
          "BadParameter",
          `Invalid key size ${bits} for RSA (2048, 3072 or 4096).`,
        );
      }
      const { privateKey } = generateKeyPairSync("rsa", { modulusLength: bits, publicExponent: 0x10001 });
      const privateKeyPem = privateKey.export({ format: "pem", type: "pkcs8" }).toString();
      record = { version, kty, privateKeyPem, attributes: keyAttributes };
    }
    const versions = this.keys.get(name) ?? [];
    versions.push(record);
    this.keys.set(name, versions);
    this.persist();
    return record;
  }

  /** A new version with the type and size of the latest one. */
  rotate(name: string): KeyVersionRecord {
    const latest = this.findKey(name);
    if (latest === undefined) {
      throw new EmulatorError(
        404,
        "KeyNotFound",
        `A key with (name/id) ${name} was not found in this key vault.`,
      );
    }
    return this.createVersion(name, latest.kty, keySize(latest));
  }

  /** Updates attributes of one version (null clears exp/nbf). */
  updateAttributes(
    record: KeyVersionRecord,
    changes: { enabled?: boolean; exp?: number | null; nbf?: number | null },
  ): void {
    const next: KeyAttributes = { ...record.attributes, updated: nowSeconds() };
    if (changes.enabled !== undefined) next.enabled = changes.enabled;
    if (changes.exp === null) delete next.exp;
    else if (changes.exp !== undefined) next.exp = changes.exp;
    if (changes.nbf === null) delete next.nbf;
    else if (changes.nbf !== undefined) next.nbf = changes.nbf;
    record.attributes = next;
    this.persist();
  }

  issueToken(
    tenantId: string,
    audience: string,
    subject: string,
    lifetimeSeconds: number,
  ): {
    token: string;
    expiresOn: number;
  } {
    const token = `emulator.${randomHex(32)}`;
    const expiresOn = nowSeconds() + lifetimeSeconds;
    this.tokens.set(token, { tenantId, audience, subject, expiresOn });
    this.persist();
    return { token, expiresOn };
  }

  /** The token's record while it is valid, else undefined. */
  validToken(token: string): TokenRecord | undefined {
    const record = this.tokens.get(token);
    return record !== undefined && record.expiresOn > nowSeconds() ? record : undefined;
  }
}
