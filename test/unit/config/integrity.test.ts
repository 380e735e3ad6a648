import { describe, expect, it } from "vitest";
import { parseIntegrity } from "../../../src/config/integrity.ts";
import type { ConfigurationKey } from "../../../src/config/keys.ts";
import { issuesOf, orthanc, parseEnabled } from "../../support/config-fixtures.ts";

const WRAPPED = {
  KeyId: "local:rsa:0123456789abcdef0123456789abcdef",
  EncryptedKey: Buffer.alloc(256, 7).toString("base64"),
  Algorithm: "RSA-OAEP-256",
};
const ID = "ik-0123456789abcdef0123456789abcdef";
const ENCRYPTED = { EncryptionEnabled: true, LocalKeyFile: "/etc/orthanc/kek.pem" };

describe("integrity settings", () => {
  it("reads file and wrapped entries, in order, and makes StrictIntegrity the default with them", () => {
    const { integrity } = parseEnabled(
      orthanc({
        ...ENCRYPTED,
        IntegrityKeys: [{ ...WRAPPED, Id: ID }, { File: "/etc/orthanc/ik-2025.key" }],
      }),
    ).encryption;
    expect(integrity.strict).toBe(true);
    expect(integrity.legacyBlobsModifiedBefore).toBeUndefined();
    expect(integrity.keys).toEqual([
      {
        kind: "wrapped",
        id: ID,
        wrapped: {
          keyId: WRAPPED.KeyId,
          algorithm: "RSA-OAEP-256",
          encryptedKeyBase64: WRAPPED.EncryptedKey,
        },
      },
      { kind: "file", path: "/etc/orthanc/ik-2025.key" },
    ]);
  });

  it("is off without integrity keys, and can be turned off with them", () => {
    expect(parseEnabled(orthanc(ENCRYPTED)).encryption.integrity).toEqual({ keys: [], strict: false });
    const lenient = parseEnabled(
      orthanc({ ...ENCRYPTED, IntegrityKeys: [{ File: "/k" }], StrictIntegrity: false }),
    ).encryption.integrity;
    expect(lenient.strict).toBe(false);
    // With encryption off, integrity keys still verify version 2 blobs, and nothing is strict.
    const off = parseEnabled(orthanc({ IntegrityKeys: [{ File: "/k" }], LocalKeyFile: "/kek" })).encryption
      .integrity;
    expect(off.strict).toBe(false);
  });

  it("reads LegacyBlobsModifiedBefore as a time with its zone", () => {
    const { integrity } = parseEnabled(
      orthanc({
        ...ENCRYPTED,
        IntegrityKeys: [{ File: "/k" }],
        LegacyBlobsModifiedBefore: "2026-01-02T03:04:05+01:00",
      }),
    ).encryption;
    expect(integrity.legacyBlobsModifiedBefore?.toISOString()).toBe("2026-01-02T02:04:05.000Z");
  });

  it.each([
    [
      { IntegrityKeys: {} },
      "Expected an array of integrity keys for AzureBlobStorage.IntegrityKeys but received an object",
    ],
    [{ IntegrityKeys: ["/k"] }, "for AzureBlobStorage.IntegrityKeys[0] but received a string"],
    [
      { IntegrityKeys: [{ File: "" }] },
      'Expected a file path for AzureBlobStorage.IntegrityKeys[0].File but received "" (a string)',
    ],
    [
      { IntegrityKeys: [{ File: "/k", KeyId: "x" }] },
      'for AzureBlobStorage.IntegrityKeys[0] but received also "KeyId"',
    ],
    [
      { IntegrityKeys: [{ Id: ID }] },
      "for AzureBlobStorage.IntegrityKeys[0] but received neither File nor KeyId",
    ],
    [
      { IntegrityKeys: [{ File: "/k", Id: "ik-XYZ" }] },
      "Expected an integrity key id (ik- and 32 lowercase hex digits) for AzureBlobStorage.IntegrityKeys[0].Id",
    ],
    [
      { IntegrityKeys: [{ ...WRAPPED, EncryptedKey: "not base64!" }] },
      "Expected the wrapped key, in padded base64 for AzureBlobStorage.IntegrityKeys[0].EncryptedKey but received a string",
    ],
    [
      { IntegrityKeys: [{ ...WRAPPED, Algorithm: "RSA1_5" }] },
      "Expected one of RSA-OAEP-256, RSA-OAEP, A256KW for AzureBlobStorage.IntegrityKeys[0].Algorithm",
    ],
    [
      { IntegrityKeys: [{ ...WRAPPED, KeyId: 4 }] },
      "for AzureBlobStorage.IntegrityKeys[0].KeyId but received 4",
    ],
    [
      { StrictIntegrity: "yes" },
      'Expected a boolean for AzureBlobStorage.StrictIntegrity but received "yes" (a string)',
    ],
    [
      { StrictIntegrity: true },
      "Expected AzureBlobStorage.IntegrityKeys and AzureBlobStorage.EncryptionEnabled true when AzureBlobStorage.StrictIntegrity is true but received no integrity key",
    ],
    [
      { IntegrityKeys: [{ File: "/k" }], LegacyBlobsModifiedBefore: "2026-01-02" },
      "Expected a UTC time in ISO 8601 with its zone",
    ],
    [
      { IntegrityKeys: [{ File: "/k" }], LegacyBlobsModifiedBefore: "2026-13-40T00:00:00Z" },
      "for AzureBlobStorage.LegacyBlobsModifiedBefore",
    ],
    [
      { IntegrityKeys: [{ File: "/k" }], LegacyBlobsModifiedBefore: "2999-01-01T00:00:00Z" },
      "Expected a time that has passed",
    ],
    [
      {
        IntegrityKeys: [{ File: "/k" }],
        StrictIntegrity: false,
        LegacyBlobsModifiedBefore: "2020-01-01T00:00:00Z",
      },
      "Expected AzureBlobStorage.LegacyBlobsModifiedBefore only with AzureBlobStorage.StrictIntegrity true",
    ],
  ])("refuses %j, naming the key", (section, message) => {
    expect(issuesOf(orthanc({ ...ENCRYPTED, ...section })).join("\n")).toContain(message);
  });

  it("shows a misspelt field of an entry escaped, so that a configuration cannot forge a log line", () => {
    const issues = issuesOf(orthanc({ ...ENCRYPTED, IntegrityKeys: [{ File: "/k", "Id\nE1206 fake": 1 }] }));
    expect(issues.join("\n")).toContain('but received also "Id\\nE1206 fake"');
  });

  it("refuses StrictIntegrity with encryption off", () => {
    const issues = issuesOf(
      orthanc({ LocalKeyFile: "/kek", IntegrityKeys: [{ File: "/k" }], StrictIntegrity: true }),
    );
    expect(issues.join("\n")).toContain("but received EncryptionEnabled false");
  });

  it("takes the clock as a parameter: a cutoff up to 5 minutes ahead is clock skew", () => {
    const now = new Date("2026-12-06T12:00:00Z");
    const section: Record<string, unknown> = {
      IntegrityKeys: [{ File: "/k" }],
      LegacyBlobsModifiedBefore: "2026-12-06T12:04:00Z",
    };
    const get = (key: ConfigurationKey): unknown => section[key];
    const issues: string[] = [];
    expect(parseIntegrity(get, true, issues, now).legacyBlobsModifiedBefore?.toISOString()).toBe(
      "2026-12-06T12:04:00.000Z",
    );
    expect(issues).toEqual([]);
    section.LegacyBlobsModifiedBefore = "2026-12-06T12:06:00Z";
    parseIntegrity(get, true, issues, now);
    expect(issues.join("\n")).toContain("Expected a time that has passed");
  });
});
