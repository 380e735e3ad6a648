/**
 * Blob names. This is the only place that turns an Orthanc attachment into a blob name:
 * `<prefix><uuid><extension>`, where the extension shows the content type so that a
 * container listing is readable (e.g. "orthanc-a/0a1b...-....dcm").
 */
import { StorageError } from "../errors.ts";
import { quoteUntrusted } from "../logging/untrusted.ts";

/** Invalid arguments are shown in messages up to this length. */
const MAX_ECHOED_LENGTH = 64;

/** Orthanc content types as passed to storage callbacks (OrthancPluginContentType). */
export const OrthancContentType = {
  Unknown: 0,
  Dicom: 1,
  DicomAsJson: 2,
  DicomUntilPixelData: 3,
} as const;

const UUID_PATTERN = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

export function isOrthancUuid(value: unknown): value is string {
  return typeof value === "string" && UUID_PATTERN.test(value);
}

/** Throws StorageError("invalid-argument") unless `uuid` is an Orthanc attachment uuid. */
export function assertOrthancUuid(uuid: unknown): asserts uuid is string {
  if (!isOrthancUuid(uuid)) {
    throw new StorageError(
      "invalid-argument",
      `Expected an Orthanc attachment uuid (36 lowercase hex characters and hyphens) for uuid but received ${quoteUntrusted(uuid, MAX_ECHOED_LENGTH)}`,
    );
  }
}

/** Throws StorageError("invalid-argument") unless `contentType` is a non-negative integer. */
export function assertContentType(contentType: unknown): asserts contentType is number {
  if (typeof contentType !== "number" || !Number.isSafeInteger(contentType) || contentType < 0) {
    throw new StorageError(
      "invalid-argument",
      `Expected an Orthanc content type (a non-negative integer) for contentType but received ${quoteUntrusted(contentType, MAX_ECHOED_LENGTH)}`,
    );
  }
}

/** The extension that shows a content type in a blob name (".dcm", ".json", ...). */
export function extensionFor(contentType: number): string {
  assertContentType(contentType);
  switch (contentType) {
    case OrthancContentType.Unknown:
      return ".unk";
    case OrthancContentType.Dicom:
      return ".dcm";
    case OrthancContentType.DicomAsJson:
      return ".json";
    case OrthancContentType.DicomUntilPixelData:
      return ".dcm.head";
    default:
      return `.type${contentType}`;
  }
}

/** A content type's name for logs: "dicom", "dicom-as-json", ..., or "type<n>". */
export function contentTypeName(contentType: number): string {
  assertContentType(contentType);
  switch (contentType) {
    case OrthancContentType.Unknown:
      return "unknown";
    case OrthancContentType.Dicom:
      return "dicom";
    case OrthancContentType.DicomAsJson:
      return "dicom-as-json";
    case OrthancContentType.DicomUntilPixelData:
      return "dicom-until-pixel-data";
    default:
      return `type${contentType}`;
  }
}

/**
 * The blob name for an attachment: prefix + uuid + content-type extension.
 * Throws StorageError("invalid-argument") for a malformed uuid or content type.
 */
export function blobNameFor(prefix: string, uuid: string, contentType: number): string {
  if (typeof prefix !== "string") {
    throw new StorageError(
      "invalid-argument",
      `Expected a string for the blob name prefix but received ${quoteUntrusted(prefix, MAX_ECHOED_LENGTH)}`,
    );
  }
  assertOrthancUuid(uuid);
  return prefix + uuid + extensionFor(contentType);
}
