/**
 * Runs the operator CLI (src/cli/main.ts) as operators do, in its own Node process: bundled
 * from src/ on first use, with the Azure SDKs loaded from node_modules.
 */
import { execFile } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll } from "vitest";
import { bundleSource } from "./bundle.ts";

export interface CliResult {
  exitCode: number;
  stdout: string;
  stderr: string;
}

const NODE_MODULES = new URL("../../node_modules", import.meta.url).pathname;

/** Call at the top level of a test file: the returned function runs the CLI. */
export function cliRunner(): (args: readonly string[], env?: Record<string, string>) => Promise<CliResult> {
  let script: string | undefined;
  let dir: string | undefined;
  afterAll(() => {
    if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
  });
  return (args, env = {}) => {
    if (script === undefined) {
      dir = mkdtempSync(join(tmpdir(), "oabs-cli-"));
      script = join(dir, "cli.cjs");
      writeFileSync(script, bundleSource("src/cli/main.ts", { external: ["@azure/*"] }));
    }
    const path = script;
    return new Promise((resolve) => {
      execFile(
        process.execPath,
        [path, ...args],
        { env: { ...process.env, NODE_PATH: NODE_MODULES, ...env }, timeout: 60_000 },
        (error, stdout, stderr) => {
          const code = error === null ? 0 : typeof error.code === "number" ? error.code : -1;
          resolve({ exitCode: code, stdout, stderr });
        },
      );
    });
  };
}
