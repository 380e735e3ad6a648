/**
 * Integrity settings (FORMAT.md, envelope version 2 and "Read policy"; SECURITY.md):
 * IntegrityKeys (where the deployment integrity keys come from), StrictIntegrity and
 * LegacyBlobsModifiedBefore. Only the settings are checked here; key files are read, and
 * wrapped keys unwrapped, at startup (crypto/integrity-key-loader.ts).
 */
import { decodeCanonicalBase64 } from "../crypto/envelope-metadata.ts";
import { INTEGRITY_KEY_ID_PATTERN } from "../crypto/integrity-key.ts";
import { WRAP_ALGORITHMS, type WrapAlgorithm } from "../crypto/key-wrapper.ts";
import { quoteUntrusted } from "../logging/untrusted.ts";
import { keyPath, type SectionReader } from "./keys.ts";
import type { IntegrityKeySource, IntegritySettings } from "./types.ts";
import {
  describeReceived,
  describeShape,
  expectation,
  type Issues,
  isRecord,
  ownValue,
  readBoolean,
} from "./validators.ts";

const ENTRY_EXPECTATION =
  'an object with either "File" (a path) or "KeyId", "EncryptedKey" and "Algorithm" (a key wrapped by the key-encryption key), and an optional "Id"';
const FILE_FIELDS = ["File", "Id"];
const WRAPPED_FIELDS = ["KeyId", "EncryptedKey", "Algorithm", "Id"];
/** A cutoff this far ahead of the host's clock is refused (it would accept new legacy blobs). */
const MAX_CLOCK_SKEW_MS = 5 * 60_000;
const ISO_8601_WITH_ZONE = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:\d{2})$/;

function parseEntry(value: unknown, path: string, issues: Issues): IntegrityKeySource | undefined {
  if (!isRecord(value)) {
    issues.push(expectation(ENTRY_EXPECTATION, path, describeShape(value)));
    return undefined;
  }
  const idValue = ownValue(value, "Id");
  let id: string | undefined;
  if (idValue !== undefined) {
    if (typeof idValue === "string" && INTEGRITY_KEY_ID_PATTERN.test(idValue)) id = idValue;
    else
      issues.push(
        expectation(
          "an integrity key id (ik- and 32 lowercase hex digits)",
          `${path}.Id`,
          describeReceived(idValue),
        ),
      );
  }
  const fields = Object.keys(value);
  if (ownValue(value, "File") !== undefined) {
    const unexpected = fields.filter((field) => !FILE_FIELDS.includes(field));
    const file = ownValue(value, "File");
    if (typeof file !== "string" || file === "") {
      issues.push(expectation("a file path", `${path}.File`, describeReceived(file)));
      return undefined;
    }
    if (unexpected.length > 0) {
      issues.push(
        expectation(
          ENTRY_EXPECTATION,
          path,
          `also ${unexpected.map((field) => quoteUntrusted(field, 40)).join(", ")}`,
        ),
      );
      return undefined;
    }
    return { kind: "file", path: file, ...(id === undefined ? {} : { id }) };
  }
  const unexpected = fields.filter((field) => !WRAPPED_FIELDS.includes(field));
  if (unexpected.length > 0 || ownValue(value, "KeyId") === undefined) {
    issues.push(
      expectation(
        ENTRY_EXPECTATION,
        path,
        unexpected.length > 0
          ? `also ${unexpected.map((field) => quoteUntrusted(field, 40)).join(", ")}`
          : "neither File nor KeyId",
      ),
    );
    return undefined;
  }
  const keyId = ownValue(value, "KeyId");
  const encryptedKeyValue = ownValue(value, "EncryptedKey");
  const encryptedKey =
    typeof encryptedKeyValue === "string" && encryptedKeyValue !== ""
      ? decodeCanonicalBase64(encryptedKeyValue)
      : undefined;
  const algorithm = ownValue(value, "Algorithm");
  let ok = true;
  if (typeof keyId !== "string" || keyId === "") {
    issues.push(
      expectation(
        "the key id of the key-encryption key that wrapped it",
        `${path}.KeyId`,
        describeReceived(keyId),
      ),
    );
    ok = false;
  }
  if (encryptedKey === undefined) {
    // A wrapped key is not secret, but it is long: describe its shape only.
    issues.push(
      expectation(
        "the wrapped key, in padded base64",
        `${path}.EncryptedKey`,
        describeShape(ownValue(value, "EncryptedKey")),
      ),
    );
    ok = false;
  }
  if (typeof algorithm !== "string" || !(WRAP_ALGORITHMS as readonly string[]).includes(algorithm)) {
    issues.push(
      expectation(`one of ${WRAP_ALGORITHMS.join(", ")}`, `${path}.Algorithm`, describeReceived(algorithm)),
    );
    ok = false;
  }
  if (!ok || typeof keyId !== "string" || encryptedKey === undefined) return undefined;
  return {
    kind: "wrapped",
    wrapped: {
      keyId,
      algorithm: algorithm as WrapAlgorithm,
      encryptedKeyBase64: encryptedKey.toString("base64"),
    },
    ...(id === undefined ? {} : { id }),
  };
}

function parseCutoff(value: unknown, issues: Issues, now: Date): Date | undefined {
  if (value === undefined) return undefined;
  const path = keyPath("LegacyBlobsModifiedBefore");
  const expected = 'a UTC time in ISO 8601 with its zone, e.g. "2026-12-06T12:00:00Z"';
  if (typeof value !== "string" || !ISO_8601_WITH_ZONE.test(value) || Number.isNaN(Date.parse(value))) {
    issues.push(expectation(expected, path, describeReceived(value)));
    return undefined;
  }
  const cutoff = new Date(value);
  if (cutoff.getTime() > now.getTime() + MAX_CLOCK_SKEW_MS) {
    issues.push(
      expectation(
        `a time that has passed (a future cutoff would accept legacy blobs written until then); now is ${now.toISOString()}`,
        path,
        describeReceived(value),
      ),
    );
    return undefined;
  }
  return cutoff;
}

/**
 * IntegrityKeys, StrictIntegrity (default: true when IntegrityKeys is set and EncryptionEnabled is
 * true) and LegacyBlobsModifiedBefore.
 */
export function parseIntegrity(
  get: SectionReader,
  encryptionEnabled: boolean,
  issues: Issues,
  now: Date = new Date(),
): IntegritySettings {
  const keysValue = get("IntegrityKeys");
  const keys: IntegrityKeySource[] = [];
  if (keysValue !== undefined) {
    if (!Array.isArray(keysValue)) {
      issues.push(
        expectation("an array of integrity keys", keyPath("IntegrityKeys"), describeShape(keysValue)),
      );
    } else {
      keysValue.forEach((entry, index) => {
        const parsed = parseEntry(entry, `${keyPath("IntegrityKeys")}[${index}]`, issues);
        if (parsed !== undefined) keys.push(parsed);
      });
    }
  }
  const configured = Array.isArray(keysValue) && keysValue.length > 0;
  const strictValue = readBoolean(get("StrictIntegrity"), keyPath("StrictIntegrity"), issues);
  const strict = strictValue ?? (configured && encryptionEnabled);
  if (strict && (!configured || !encryptionEnabled)) {
    issues.push(
      `Expected ${keyPath("IntegrityKeys")} and ${keyPath("EncryptionEnabled")} true when ${keyPath("StrictIntegrity")} is true but received ${configured ? "EncryptionEnabled false" : "no integrity key"}`,
    );
  }
  const cutoffValue = get("LegacyBlobsModifiedBefore");
  const legacyBlobsModifiedBefore = parseCutoff(cutoffValue, issues, now);
  if (cutoffValue !== undefined && !strict) {
    issues.push(
      `Expected ${keyPath("LegacyBlobsModifiedBefore")} only with ${keyPath("StrictIntegrity")} true (without it, legacy blobs are read anyway) but received it with StrictIntegrity false`,
    );
  }
  return {
    keys,
    strict,
    ...(legacyBlobsModifiedBefore === undefined ? {} : { legacyBlobsModifiedBefore }),
  };
}
