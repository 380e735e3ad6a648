/**
 * Small native helpers for integration tests, compiled on demand with the system C compiler.
 */
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, renameSync, rmSync, statSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

/** The repository root (this file lives in <repo>/test/support). */
export const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "..", "..");

const LOOPBACK_SOURCE = join(REPO_ROOT, "test", "support", "loopback_bind.c");
const LOOPBACK_LIBRARY = join(REPO_ROOT, "build", "test-support", "libloopback_bind.so");

let builtPreload: string | undefined;

/**
 * Builds (once, and again only when the source is newer) the LD_PRELOAD library that turns
 * bind() to 0.0.0.0 / :: into bind() to 127.0.0.1 / ::1, and returns its absolute path.
 * Safe to call from parallel test workers: each compiles to a private file, then renames.
 */
export function buildLoopbackPreload(): string {
  if (builtPreload !== undefined && existsSync(builtPreload)) return builtPreload;
  if (!upToDate(LOOPBACK_LIBRARY, LOOPBACK_SOURCE)) {
    mkdirSync(dirname(LOOPBACK_LIBRARY), { recursive: true });
    const temporary = `${LOOPBACK_LIBRARY}.${process.pid}.${Date.now()}.tmp`;
    const compiler = process.env.CC ?? "cc";
    const args = ["-shared", "-fPIC", "-O2", "-Wall", "-o", temporary, LOOPBACK_SOURCE, "-ldl"];
    const run = spawnSync(compiler, args, { encoding: "utf8", cwd: REPO_ROOT });
    if (run.error !== undefined || run.status !== 0) {
      rmSync(temporary, { force: true });
      const reason = run.error?.message ?? `exit code ${run.status}, signal ${run.signal}`;
      throw new Error(
        `failed to build ${LOOPBACK_LIBRARY}: ${compiler} ${args.join(" ")}: ${reason}\n${run.stderr}`,
      );
    }
    renameSync(temporary, LOOPBACK_LIBRARY);
  }
  builtPreload = LOOPBACK_LIBRARY;
  return LOOPBACK_LIBRARY;
}

function upToDate(target: string, source: string): boolean {
  if (!existsSync(target)) return false;
  return statSync(target).mtimeMs >= statSync(source).mtimeMs;
}
