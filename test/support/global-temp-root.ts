/**
 * vitest globalSetup: every temporary file of a test run (the tests', Orthanc's, Azurite's, the
 * Key Vault emulator's) goes under one private directory, removed when the run ends, so that no
 * key material or DICOM data is left in the system's temp dir even when a test forgets its own
 * clean-up or a run is interrupted between a test's mkdtemp and its rmSync.
 *
 * os.tmpdir() reads TMPDIR on every call, and the test workers and the servers they spawn
 * inherit it.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

export default function setup(): () => void {
  const root = mkdtempSync(join(tmpdir(), "oabs-test-run-"));
  const previous = process.env.TMPDIR;
  process.env.TMPDIR = root;
  return () => {
    if (previous === undefined) delete process.env.TMPDIR;
    else process.env.TMPDIR = previous;
    rmSync(root, { recursive: true, force: true });
  };
}
