import { describe, expect, it } from "vitest";
import { issuesOf, orthanc, parseEnabled } from "../../support/config-fixtures.ts";

describe("local key settings", () => {
  it("accepts true with a local key file and reads the key settings", () => {
    const encryption = parseEnabled(
      orthanc({
        EncryptionEnabled: true,
        LocalKeyFile: "/etc/orthanc/kek.pem",
        LocalKeyAlgorithm: "RSA-OAEP",
        LocalKeyFilesForReading: ["/etc/orthanc/kek-2025.pem"],
        KeyDecayCount: 50,
        KeyMaxAgeSeconds: 600,
        KeyPoolSize: 0,
        KeyPoolTtlSeconds: 60,
        AllowUnencryptedReads: true,
      }),
    ).encryption;
    expect(encryption).toEqual({
      enabled: true,
      keyDecayCount: 50,
      keyMaxAgeMs: 600_000,
      keyPoolSize: 0,
      keyPoolTtlMs: 60_000,
      allowUnencryptedReads: true,
      integrity: { keys: [], strict: false },
      localKey: {
        writeKeyFile: "/etc/orthanc/kek.pem",
        algorithm: "RSA-OAEP",
        readOnlyKeyFiles: ["/etc/orthanc/kek-2025.pem"],
      },
    });
  });

  it("keeps a key file configured with encryption off, so existing encrypted blobs stay readable", () => {
    const encryption = parseEnabled(orthanc({ EncryptionEnabled: false, LocalKeyFile: "/k.pem" })).encryption;
    expect(encryption.enabled).toBe(false);
    expect(encryption.localKey).toEqual({ writeKeyFile: "/k.pem", readOnlyKeyFiles: [] });
  });

  it.each([
    [
      { LocalKeyFile: "/k.pem", LocalKeyAlgorithm: "RSA1_5" },
      'Expected one of "RSA-OAEP-256", "RSA-OAEP", "A256KW" for AzureBlobStorage.LocalKeyAlgorithm but received "RSA1_5" (a string)',
    ],
    [
      { LocalKeyFile: "/k.pem", LocalKeyFilesForReading: "/old.pem" },
      'Expected an array of file paths for AzureBlobStorage.LocalKeyFilesForReading but received "/old.pem" (a string)',
    ],
    [
      { LocalKeyFilesForReading: ["/old.pem"] },
      "Expected AzureBlobStorage.LocalKeyAlgorithm and AzureBlobStorage.LocalKeyFilesForReading only together with AzureBlobStorage.LocalKeyFile but received them without it",
    ],
    [{ LocalKeyFile: "" }, 'Expected a file path for AzureBlobStorage.LocalKeyFile but received ""'],
  ])("rejects %j", (section, message) => {
    expect(issuesOf(orthanc(section))).toEqual([message]);
  });
});
