/**
 * A local key-encryption key: LocalKeyFile (wraps new content keys), LocalKeyAlgorithm and
 * LocalKeyFilesForReading (older keys kept for reading). Only the settings are checked here;
 * the files are read, and their keys checked, at startup (crypto/local-key-wrapper.ts).
 */
import { WRAP_ALGORITHMS } from "../crypto/key-wrapper.ts";
import { keyPath, type SectionReader } from "./keys.ts";
import type { LocalKeySettings } from "./types.ts";
import { describeReceived, expectation, type Issues, readOneOf, readString } from "./validators.ts";

/**
 * The local key settings, or undefined when LocalKeyFile is absent (or invalid, with the
 * problems added to `issues`).
 */
export function parseLocalKey(get: SectionReader, issues: Issues): LocalKeySettings | undefined {
  const writeKeyFile = readString(get("LocalKeyFile"), keyPath("LocalKeyFile"), issues);
  if (writeKeyFile === "") issues.push(expectation("a file path", keyPath("LocalKeyFile"), '""'));
  const algorithmValue = get("LocalKeyAlgorithm");
  const algorithm = readOneOf(algorithmValue, keyPath("LocalKeyAlgorithm"), issues, WRAP_ALGORITHMS);
  const readOnlyValue = get("LocalKeyFilesForReading");
  const readOnlyKeyFiles: string[] = [];
  if (readOnlyValue !== undefined) {
    if (!Array.isArray(readOnlyValue) || readOnlyValue.some((f) => typeof f !== "string" || f === "")) {
      issues.push(
        expectation(
          "an array of file paths",
          keyPath("LocalKeyFilesForReading"),
          describeReceived(readOnlyValue),
        ),
      );
    } else {
      readOnlyKeyFiles.push(...(readOnlyValue as string[]));
    }
  }
  if (writeKeyFile === undefined || writeKeyFile === "") {
    // A LocalKeyAlgorithm of the wrong type is reported once, as a type error.
    if (typeof algorithmValue === "string" || readOnlyValue !== undefined) {
      issues.push(
        `Expected ${keyPath("LocalKeyAlgorithm")} and ${keyPath("LocalKeyFilesForReading")} only together with ${keyPath("LocalKeyFile")} but received them without it`,
      );
    }
    return undefined;
  }
  return { writeKeyFile, ...(algorithm === undefined ? {} : { algorithm }), readOnlyKeyFiles };
}
