import { describe, expect, it } from "vitest";
import {
  blobNameFor,
  contentTypeName,
  isOrthancUuid,
  OrthancContentType,
} from "../../../src/attachments/naming.ts";
import { StorageError } from "../../../src/errors.ts";

const UUID = "0a1b2c3d-4e5f-6789-abcd-ef0123456789";

function invalidArgument(fn: () => unknown): StorageError {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(StorageError);
    expect((error as StorageError).code).toBe("invalid-argument");
    return error as StorageError;
  }
  throw new Error("expected a StorageError");
}

describe("blobNameFor", () => {
  it.each([
    [OrthancContentType.Dicom, ".dcm"],
    [OrthancContentType.DicomAsJson, ".json"],
    [OrthancContentType.DicomUntilPixelData, ".dcm.head"],
    [OrthancContentType.Unknown, ".unk"],
    [4, ".type4"],
    [1024, ".type1024"],
  ])("content type %i gets extension %s", (contentType, extension) => {
    expect(blobNameFor("", UUID, contentType)).toBe(`${UUID}${extension}`);
  });

  it("puts the prefix first", () => {
    expect(blobNameFor("orthanc-a/", UUID, 1)).toBe(`orthanc-a/${UUID}.dcm`);
  });

  it("gives distinct names to the attachments of one uuid", () => {
    const names = new Set([0, 1, 2, 3, 4, 5].map((type) => blobNameFor("p/", UUID, type)));
    expect(names.size).toBe(6);
  });

  it.each([
    ["uppercase hex", UUID.toUpperCase()],
    ["no hyphens", UUID.replaceAll("-", "")],
    ["braces", `{${UUID}}`],
    ["a non-hex letter", "0a1b2c3d-4e5f-6789-abcd-ef012345678g"],
    ["one character short", UUID.slice(1)],
    ["a trailing newline", `${UUID}\n`],
    ["path traversal", "../../etc/passwd"],
    ["empty", ""],
  ])("rejects a uuid with %s", (_label, uuid) => {
    const error = invalidArgument(() => blobNameFor("", uuid, 1));
    expect(error.message).toBe(
      `Expected an Orthanc attachment uuid (36 lowercase hex characters and hyphens) for uuid but received ${JSON.stringify(uuid)}`,
    );
  });

  it("truncates a long invalid uuid in the message", () => {
    const error = invalidArgument(() => blobNameFor("", "x".repeat(5000), 1));
    expect(error.message.length).toBeLessThan(250);
    expect(error.message).toContain(`"${"x".repeat(64)}..."`);
  });

  it("rejects a non-string uuid from untyped callers", () => {
    const error = invalidArgument(() => blobNameFor("", 42 as unknown as string, 1));
    expect(error.message).toContain('received "42"');
  });

  it.each([-1, 1.5, Number.NaN, Number.POSITIVE_INFINITY, "1" as unknown as number])(
    "rejects content type %s",
    (contentType) => {
      const error = invalidArgument(() => blobNameFor("", UUID, contentType));
      expect(error.message).toContain("contentType");
    },
  );
});

describe("contentTypeName", () => {
  it.each([
    [0, "unknown"],
    [1, "dicom"],
    [2, "dicom-as-json"],
    [3, "dicom-until-pixel-data"],
    [7, "type7"],
  ])("names %i as %s", (contentType, name) => {
    expect(contentTypeName(contentType)).toBe(name);
  });

  it("rejects a negative content type", () => {
    invalidArgument(() => contentTypeName(-3));
  });
});

describe("isOrthancUuid", () => {
  it("accepts a valid uuid and rejects others", () => {
    expect(isOrthancUuid(UUID)).toBe(true);
    expect(isOrthancUuid(UUID.toUpperCase())).toBe(false);
    expect(isOrthancUuid(undefined)).toBe(false);
  });
});
