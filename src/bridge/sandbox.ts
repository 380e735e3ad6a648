import childProcess from "node:child_process";
import { constants } from "node:os";

/**
 * Inside Orthanc, JS shares the process with Orthanc. It must never own a signal (a libuv
 * signal watcher stops SIGTERM from ending Orthanc), fork or spawn (process.execPath is
 * Orthanc itself), or abort the process. cwd/umask changes are already refused by the
 * environment flags the shim uses.
 */
export function hardenProcess(): void {
  const signalNames = new Set(Object.keys(constants.signals));
  const refuseSignal = (event: string | symbol): void => {
    if (typeof event === "string" && signalNames.has(event)) {
      throw new Error(`Refusing to listen for ${event}: Orthanc owns the process's signals`);
    }
  };
  for (const method of ["on", "addListener", "once", "prependListener", "prependOnceListener"] as const) {
    const original = process[method].bind(process) as (
      event: string | symbol,
      listener: never,
    ) => NodeJS.Process;
    Object.defineProperty(process, method, {
      configurable: false,
      writable: false,
      value: (event: string | symbol, listener: never) => {
        refuseSignal(event);
        return original(event, listener);
      },
    });
  }

  const refuse = (message: string) => () => {
    throw new Error(message);
  };
  const spawning = ["fork", "spawn", "spawnSync", "exec", "execSync", "execFile", "execFileSync"] as const;
  for (const name of spawning) {
    Object.defineProperty(childProcess, name, {
      configurable: false,
      writable: false,
      value: refuse(`child_process.${name} is not allowed inside Orthanc: it would fork the Orthanc process`),
    });
  }
  Object.defineProperty(process, "abort", {
    configurable: false,
    writable: false,
    value: refuse("process.abort() is not allowed inside Orthanc"),
  });
  const originalKill = process.kill.bind(process);
  Object.defineProperty(process, "kill", {
    configurable: false,
    writable: false,
    value: (pid: number, signal?: string | number) => {
      if (pid === process.pid || pid === 0 || pid === -process.pid) {
        throw new Error("process.kill of the Orthanc process is not allowed");
      }
      return originalKill(pid, signal);
    },
  });
}

/**
 * Tries each forbidden action and reports what happened ("refused: ..." or "allowed").
 * Served by the testing endpoints, so tests check the real embedded runtime.
 */
export function probeSandbox(): Record<string, string> {
  const attempt = (action: () => unknown): string => {
    try {
      action();
      return "allowed";
    } catch (error) {
      return `refused: ${error instanceof Error ? error.message : String(error)}`;
    }
  };
  const noop = () => undefined;
  return {
    signalListener: attempt(() => process.on("SIGTERM", noop)),
    chdir: attempt(() => process.chdir("/")),
    spawn: attempt(() => childProcess.spawn("/bin/true")),
    fork: attempt(() => childProcess.fork("/dev/null")),
    abort: attempt(() => process.abort()),
    killSelf: attempt(() => process.kill(process.pid, "SIGTERM")),
  };
}
