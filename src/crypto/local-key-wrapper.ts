/**
 * A KeyWrapper over local key files, for development, tests and air-gapped sites.
 *
 * A key file holds either an RSA private key in PEM (PKCS#8 or PKCS#1, 2048 to 4096 bits) or
 * an AES-256 key as 64 hex digits or 44 base64 characters. One key wraps new CEKs (the write
 * key); older keys stay configured read-only so that blobs written under them still unwrap.
 * Key ids follow FORMAT.md: `local:rsa:<fp>` / `local:aes:<fp>`, where `<fp>` is the first 32
 * hex digits of SHA-256 over the DER SubjectPublicKeyInfo (RSA) or the raw key bytes (AES).
 *
 * Hygiene: keys are held as KeyObjects (their bytes live outside the JS heap and never print);
 * file contents are parsed from Buffers that are zeroed afterwards and never turned into
 * strings; error messages name the file and what was expected, never what the file holds.
 */
import {
  constants,
  createCipheriv,
  createDecipheriv,
  createHash,
  createPrivateKey,
  createPublicKey,
  createSecretKey,
  type KeyObject,
  privateDecrypt,
  publicEncrypt,
  randomBytes,
} from "node:crypto";
import { readFile } from "node:fs/promises";
import { abortedError } from "../async/abort.ts";
import type { OperationOptions } from "../async/operation-options.ts";
import { StorageError } from "../errors.ts";
import { showUntrusted } from "../logging/untrusted.ts";
import { CEK_LENGTH, checkCekToWrap, copyUnwrappedCek, zeroize } from "./data-key.ts";
import { decodeKeyText32, isAll, isAllHex, trimWhitespace } from "./key-text.ts";
import {
  type KeyWrapper,
  oaepHash,
  WRAP_ALGORITHMS,
  type WrapAlgorithm,
  type WrappedKey,
} from "./key-wrapper.ts";

export type LocalKeyKind = "rsa" | "aes";

/**
 * In-memory key material (for tests): a string is parsed like a key file's text (PEM, or hex /
 * base64 for AES); a Buffer is the raw 32 bytes of an AES-256 key (copied, not kept).
 */
export type LocalKeyMaterial = string | Buffer;

export interface LocalKeyFilesOptions {
  /** The key that wraps new CEKs (AzureBlobStorage.LocalKeyFile). */
  writeKeyFile: string;
  /** Defaults to RSA-OAEP-256 for RSA keys and A256KW for AES keys. */
  algorithm?: WrapAlgorithm;
  /** Older keys that only unwrap (AzureBlobStorage.LocalKeyFilesForReading). */
  readOnlyKeyFiles?: readonly string[];
}

export interface LocalKeyMaterialOptions {
  writeKey: LocalKeyMaterial;
  algorithm?: WrapAlgorithm;
  readOnlyKeys?: readonly LocalKeyMaterial[];
}

/** RFC 3394 default initial value. */
const AES_KW_IV = Buffer.from("A6A6A6A6A6A6A6A6", "hex");
const AES_KW_CIPHER = "id-aes256-wrap";
const AES_KEY_LENGTH = 32;
const AES_WRAPPED_LENGTH = CEK_LENGTH + 8;
const MIN_RSA_BITS = 2048;
/** FORMAT.md's metadata size budget assumes wrapped keys of at most 512 bytes. */
const MAX_RSA_BITS = 4096;
const MAX_KEY_FILE_BYTES = 64 * 1024;
const FINGERPRINT_HEX_DIGITS = 32;

const EXPECTED_KEY =
  "expected an RSA private key in PEM (BEGIN PRIVATE KEY or BEGIN RSA PRIVATE KEY, " +
  `${MIN_RSA_BITS} to ${MAX_RSA_BITS} bits) or an AES-256 key ` +
  "(64 hex digits, or 44 base64 characters encoding 32 bytes)";

const ALGORITHMS_BY_KIND: Readonly<Record<LocalKeyKind, readonly WrapAlgorithm[]>> = {
  rsa: ["RSA-OAEP-256", "RSA-OAEP"],
  aes: ["A256KW"],
};

/** PEM labels worth naming in an error (they say what the file is without revealing it). */
const KNOWN_PEM_LABELS = new Set([
  "PUBLIC KEY",
  "RSA PUBLIC KEY",
  "ENCRYPTED PRIVATE KEY",
  "EC PRIVATE KEY",
  "DSA PRIVATE KEY",
  "OPENSSH PRIVATE KEY",
  "CERTIFICATE",
  "CERTIFICATE REQUEST",
  "X509 CRL",
  "PKCS7",
  "EC PARAMETERS",
  "DH PARAMETERS",
]);

interface LocalKey {
  readonly kind: LocalKeyKind;
  readonly keyId: string;
  /** RSA: the private key; AES: the secret key. */
  readonly key: KeyObject;
  /** RSA only. */
  readonly publicKey: KeyObject | undefined;
  /** "local key file <path>" or "in-memory key <name>", for messages. */
  readonly source: string;
}

/**
 * The FORMAT.md key id of a local key: an RSA key (private or public KeyObject) or an AES-256
 * key (a secret KeyObject or the raw 32 bytes).
 */
export function localKeyId(key: KeyObject | Buffer): string {
  if (Buffer.isBuffer(key)) {
    if (key.length !== AES_KEY_LENGTH) {
      throw new StorageError(
        "invalid-argument",
        `Expected ${AES_KEY_LENGTH} bytes for an AES-256 key but received ${key.length}`,
      );
    }
    return `local:aes:${fingerprint(key)}`;
  }
  if (key.type === "secret") {
    const raw = key.export();
    try {
      return localKeyId(raw);
    } finally {
      zeroize(raw);
    }
  }
  if (key.asymmetricKeyType !== "rsa") {
    throw new StorageError(
      "invalid-argument",
      `Expected an RSA or AES-256 key but received a ${String(key.asymmetricKeyType)} key`,
    );
  }
  const publicKey = key.type === "private" ? createPublicKey(key) : key;
  const spki = publicKey.export({ type: "spki", format: "der" });
  return `local:rsa:${fingerprint(spki)}`;
}

function fingerprint(bytes: Buffer): string {
  return createHash("sha256").update(bytes).digest("hex").slice(0, FINGERPRINT_HEX_DIGITS);
}

export class LocalKeyWrapper implements KeyWrapper {
  readonly description: string;
  /** The write key's id (what wrapKey stores with each blob). */
  readonly keyId: string;
  readonly kind: LocalKeyKind;
  /** The algorithm wrapKey uses. */
  readonly algorithm: WrapAlgorithm;
  /** Every key id this wrapper can unwrap with, the write key first. */
  readonly keyIds: readonly string[];

  readonly #writeKey: LocalKey;
  readonly #keys: ReadonlyMap<string, LocalKey>;

  private constructor(
    origin: string,
    writeKey: LocalKey,
    readOnlyKeys: readonly LocalKey[],
    algorithm: WrapAlgorithm | undefined,
  ) {
    this.#writeKey = writeKey;
    this.kind = writeKey.kind;
    this.keyId = writeKey.keyId;
    this.algorithm = chooseAlgorithm(writeKey, algorithm);
    const keys = new Map<string, LocalKey>([[writeKey.keyId, writeKey]]);
    for (const key of readOnlyKeys) {
      if (!keys.has(key.keyId)) keys.set(key.keyId, key);
    }
    this.#keys = keys;
    this.keyIds = [...keys.keys()];
    const readOnly = keys.size - 1;
    const extra = readOnly === 0 ? "" : `, plus ${readOnly} read-only key${readOnly === 1 ? "" : "s"}`;
    this.description = `${origin} (${writeKey.kind}, ${writeKey.keyId}, ${this.algorithm}${extra})`;
  }

  /** Reads and checks the key files (AzureBlobStorage.LocalKeyFile and LocalKeyFilesForReading). */
  static async fromFiles(options: LocalKeyFilesOptions): Promise<LocalKeyWrapper> {
    const writeKey = await loadKeyFile(options.writeKeyFile);
    const readOnlyKeys: LocalKey[] = [];
    for (const path of options.readOnlyKeyFiles ?? []) readOnlyKeys.push(await loadKeyFile(path));
    return new LocalKeyWrapper("local key file", writeKey, readOnlyKeys, options.algorithm);
  }

  /** The same from in-memory material (tests). */
  static fromKeyMaterial(options: LocalKeyMaterialOptions): LocalKeyWrapper {
    const writeKey = keyFromMaterial(options.writeKey, "in-memory key (write key)");
    const readOnlyKeys = (options.readOnlyKeys ?? []).map((material, index) =>
      keyFromMaterial(material, `in-memory key (read-only key ${index + 1})`),
    );
    return new LocalKeyWrapper("in-memory local key", writeKey, readOnlyKeys, options.algorithm);
  }

  trusts(keyId: string): boolean {
    return this.#keys.has(keyId);
  }

  async wrapKey(cek: Buffer, options: OperationOptions = {}): Promise<WrappedKey> {
    const key = this.#writeKey;
    if (options.abortSignal?.aborted) throw abortedError("wrap", "content key", options.abortSignal);
    checkCekToWrap(cek);
    const algorithm = this.algorithm;
    let encryptedKey: Buffer;
    if (algorithm === "A256KW") {
      const cipher = createCipheriv(AES_KW_CIPHER, key.key, AES_KW_IV);
      encryptedKey = Buffer.concat([cipher.update(cek), cipher.final()]);
    } else {
      encryptedKey = publicEncrypt(
        {
          key: key.publicKey ?? key.key,
          padding: constants.RSA_PKCS1_OAEP_PADDING,
          oaepHash: oaepHash(algorithm),
        },
        cek,
      );
    }
    return { keyId: key.keyId, algorithm, encryptedKey };
  }

  async unwrapKey(wrapped: WrappedKey, options: OperationOptions = {}): Promise<Buffer> {
    const key = this.#keys.get(wrapped.keyId);
    if (key === undefined) {
      throw new StorageError(
        "unavailable",
        `no local key with id ${showUntrusted(wrapped.keyId)} is configured (AzureBlobStorage.LocalKeyFile / LocalKeyFilesForReading)`,
      );
    }
    if (options.abortSignal?.aborted) throw abortedError("unwrap", "content key", options.abortSignal);
    if (!ALGORITHMS_BY_KIND[key.kind].includes(wrapped.algorithm)) {
      throw new StorageError(
        "integrity",
        `the wrapped content key names algorithm ${showUntrusted(wrapped.algorithm)}, which key ${key.keyId} (${key.kind}) does not support`,
      );
    }
    const unwrapped = unwrapWith(key, wrapped);
    if (unwrapped === undefined) {
      throw new StorageError("integrity", `the wrapped content key does not unwrap with key ${key.keyId}`);
    }
    return copyUnwrappedCek(unwrapped, key.keyId);
  }
}

/** The unwrapped bytes, or undefined when they do not unwrap (padding / integrity check). */
function unwrapWith(key: LocalKey, wrapped: WrappedKey): Buffer | undefined {
  const encryptedKey = wrapped.encryptedKey;
  if (!Buffer.isBuffer(encryptedKey)) return undefined;
  try {
    if (wrapped.algorithm === "A256KW") {
      if (encryptedKey.length !== AES_WRAPPED_LENGTH) return undefined;
      const decipher = createDecipheriv(AES_KW_CIPHER, key.key, AES_KW_IV);
      const head = decipher.update(encryptedKey);
      const tail = decipher.final();
      const result = Buffer.concat([head, tail]);
      zeroize(head);
      zeroize(tail);
      return result;
    }
    return privateDecrypt(
      { key: key.key, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: oaepHash(wrapped.algorithm) },
      encryptedKey,
    );
  } catch {
    return undefined;
  }
}

function chooseAlgorithm(key: LocalKey, requested: WrapAlgorithm | undefined): WrapAlgorithm {
  const supported = ALGORITHMS_BY_KIND[key.kind];
  if (requested === undefined) return supported[0] ?? "A256KW";
  if (!WRAP_ALGORITHMS.includes(requested)) {
    throw new StorageError(
      "invalid-argument",
      `Expected one of ${WRAP_ALGORITHMS.join(", ")} for the key wrapping algorithm but received ${JSON.stringify(requested)}`,
    );
  }
  if (!supported.includes(requested)) {
    throw new StorageError(
      "invalid-argument",
      `Expected ${supported.join(" or ")} for the key wrapping algorithm of ${key.source} (an ${key.kind.toUpperCase()} key) but received ${requested}`,
    );
  }
  return requested;
}

async function loadKeyFile(path: string): Promise<LocalKey> {
  const source = `local key file ${path}`;
  let bytes: Buffer;
  try {
    bytes = await readFile(path);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException | undefined)?.code;
    throw new StorageError("invalid-argument", `cannot read ${source}: ${code ?? "read failed"}`);
  }
  try {
    return parseKeyBytes(bytes, source);
  } finally {
    zeroize(bytes);
  }
}

function keyFromMaterial(material: LocalKeyMaterial, source: string): LocalKey {
  if (Buffer.isBuffer(material)) {
    if (material.length !== AES_KEY_LENGTH) {
      throw new StorageError(
        "invalid-argument",
        `${source}: expected the ${AES_KEY_LENGTH} raw bytes of an AES-256 key but received ${material.length} bytes`,
      );
    }
    return aesKey(material, source);
  }
  if (typeof material !== "string") {
    throw new StorageError(
      "invalid-argument",
      `${source}: ${EXPECTED_KEY}, but received a ${typeof material}`,
    );
  }
  const bytes = Buffer.from(material, "utf8");
  try {
    return parseKeyBytes(bytes, source);
  } finally {
    zeroize(bytes);
  }
}

/** Parses a key file's bytes. Does not keep or zero `bytes` (the caller does). */
function parseKeyBytes(bytes: Buffer, source: string): LocalKey {
  const invalid = (found: string): StorageError =>
    new StorageError("invalid-argument", `${source}: ${EXPECTED_KEY}, but ${found}`);

  if (bytes.length > MAX_KEY_FILE_BYTES) throw invalid(`it holds more than ${MAX_KEY_FILE_BYTES} bytes`);
  const text = trimWhitespace(bytes);
  if (text.length === 0) throw invalid("it is empty");

  if (bytes.includes("-----BEGIN ")) return rsaKeyFromPem(bytes, source, invalid);

  const aes = decodeKeyText32(text);
  if (aes !== undefined) {
    try {
      return aesKey(aes, source);
    } finally {
      zeroize(aes);
    }
  }

  if (isAllHex(text)) {
    throw invalid(`it holds ${text.length} hex digits instead of ${2 * AES_KEY_LENGTH}`);
  }
  throw invalid(`its ${text.length} characters are neither`);
}

function rsaKeyFromPem(bytes: Buffer, source: string, invalid: (found: string) => StorageError): LocalKey {
  const label = firstPemLabel(bytes);
  if (label !== "PRIVATE KEY" && label !== "RSA PRIVATE KEY") {
    if (label === "ENCRYPTED PRIVATE KEY") {
      throw invalid("it holds a passphrase-protected private key, which is not supported");
    }
    throw invalid(
      label !== undefined && KNOWN_PEM_LABELS.has(label)
        ? `it holds a PEM block labelled ${label}`
        : "it holds a PEM block of another kind",
    );
  }
  let privateKey: KeyObject;
  try {
    privateKey = createPrivateKey({ key: bytes, format: "pem" });
  } catch {
    throw invalid(`its ${label} block does not decode as a private key`);
  }
  if (privateKey.asymmetricKeyType !== "rsa") {
    throw invalid(`it holds a ${String(privateKey.asymmetricKeyType)} private key, not an RSA key`);
  }
  const bits = privateKey.asymmetricKeyDetails?.modulusLength;
  if (bits === undefined || bits < MIN_RSA_BITS || bits > MAX_RSA_BITS) {
    throw new StorageError(
      "invalid-argument",
      `${source}: holds a ${String(bits)}-bit RSA key, but RSA key files must have ${MIN_RSA_BITS} to ${MAX_RSA_BITS} bits`,
    );
  }
  const publicKey = createPublicKey(privateKey);
  if (!rsaSelfTestPasses(privateKey, publicKey)) {
    throw invalid(
      `its ${label} block decodes, but the key fails a wrap/unwrap self-test (the file is damaged)`,
    );
  }
  return { kind: "rsa", keyId: localKeyId(publicKey), key: privateKey, publicKey, source };
}

/** OpenSSL loads an RSA key without checking that its parts agree; one OAEP round trip does. */
function rsaSelfTestPasses(privateKey: KeyObject, publicKey: KeyObject): boolean {
  const probe = randomBytes(CEK_LENGTH);
  let decrypted: Buffer | undefined;
  try {
    const padding = constants.RSA_PKCS1_OAEP_PADDING;
    const hash = oaepHash("RSA-OAEP-256");
    const encrypted = publicEncrypt({ key: publicKey, padding, oaepHash: hash }, probe);
    decrypted = privateDecrypt({ key: privateKey, padding, oaepHash: hash }, encrypted);
    return decrypted.equals(probe);
  } catch {
    return false;
  } finally {
    zeroize(probe);
    zeroize(decrypted);
  }
}

/** Copies the raw key into a KeyObject; the caller keeps (and zeroes) `raw`. */
function aesKey(raw: Buffer, source: string): LocalKey {
  return { kind: "aes", keyId: localKeyId(raw), key: createSecretKey(raw), publicKey: undefined, source };
}

/** The label of the first `-----BEGIN <label>-----` line, when it is plain upper-case text. */
function firstPemLabel(bytes: Buffer): string | undefined {
  const marker = "-----BEGIN ";
  const start = bytes.indexOf(marker);
  if (start < 0) return undefined;
  const labelStart = start + marker.length;
  const end = bytes.indexOf("-----", labelStart);
  if (end < 0 || end - labelStart > 40) return undefined;
  const label = bytes.subarray(labelStart, end);
  if (!isAll(label, (c) => (c >= 0x41 && c <= 0x5a) || (c >= 0x30 && c <= 0x39) || c === 0x20)) {
    return undefined;
  }
  return label.toString("latin1");
}
