/**
 * Runs Debian's Orthanc (/usr/sbin/Orthanc, 1.10.1) for integration tests.
 *
 * Each instance gets a fresh work directory (config, SQLite index, storage, logs) and two free
 * loopback ports. Orthanc 1.10.1 has no bind-address option, so it runs with an LD_PRELOAD
 * library that rewrites bind(0.0.0.0 / ::) into bind(127.0.0.1 / ::1): nothing listens
 * beyond loopback. The same library makes the kernel kill Orthanc if the test runner dies.
 *
 * Orthanc 1.10.1 behaviour worth knowing:
 *   - "--logfile=<path>" exists and is flushed line by line; "--verbose" must come before it
 *     (log options are read left to right and --verbose resets earlier ones).
 *   - An inexistent path in "Plugins" is only logged ("Inexistent path to plugins") and
 *     Orthanc starts anyway; a file that is not a loadable plugin makes it exit with 255.
 *   - Startup failures exit with code 255 (-1); SIGTERM gives a clean shutdown, exit code 0.
 */
import { type ChildProcess, spawn } from "node:child_process";
import {
  closeSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { createServer, type Server } from "node:net";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { buildLoopbackPreload } from "./native-tools.ts";

export const ORTHANC_BINARY = process.env.ORTHANC_BINARY ?? "/usr/sbin/Orthanc";
export const ORTHANC_AET = "ORTHANCTEST";

export interface ExitInfo {
  code: number | null;
  signal: NodeJS.Signals | null;
}

export interface OrthancInstance {
  /** Base URL without a trailing slash, e.g. "http://127.0.0.1:40123". */
  url: string;
  httpPort: number;
  dicomPort: number;
  aet: string;
  logFile: string;
  workDir: string;
  /** The configuration file Orthanc was started with. */
  configFile: string;
  /** The configuration as written to configFile. */
  config: Record<string, unknown>;
  pid: number;
  /** Sends `signal` (default SIGTERM), waits up to 20 s, then SIGKILL. Idempotent. */
  stop(signal?: NodeJS.Signals): Promise<ExitInfo>;
  /** The whole log so far (Orthanc's log file, then anything printed on stdout/stderr). */
  log(): string;
  /** Resolves once the log matches; rejects on timeout (default 30 s) or if Orthanc exits first. */
  waitForLog(pattern: RegExp, timeoutMs?: number): Promise<void>;
  exited: Promise<ExitInfo>;
}

export interface StartOrthancOptions {
  /** Paths of plugin shared libraries; ONLY these are loaded (never Debian's plugin folder). */
  plugins?: string[];
  /** The "AzureBlobStorage" configuration section, if any. */
  azureBlobStorage?: Record<string, unknown> | undefined;
  /** Merged last (shallow) into the configuration. */
  extraConfig?: Record<string, unknown>;
  /** Extra environment variables for Orthanc (LD_PRELOAD is combined with the loopback library). */
  env?: Record<string, string>;
  /** When true, startOrthanc rejects with an OrthancStartupError in every case (see startOrthancExpectingFailure). */
  expectStartupFailure?: boolean;
  /** Default 60 s. */
  startTimeoutMs?: number;
  /** Reuse this directory (e.g. a stopped instance's workDir, to restart on the same index). */
  workDir?: string;
}

/** Thrown when Orthanc does not come up; carries the exit status and the log. */
export class OrthancStartupError extends Error {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly log: string;
  readonly workDir: string;
  /** True when Orthanc did answer /system (only possible with expectStartupFailure). */
  readonly started: boolean;

  constructor(
    message: string,
    details: {
      code: number | null;
      signal: NodeJS.Signals | null;
      log: string;
      workDir: string;
      started: boolean;
    },
  ) {
    super(message);
    this.name = "OrthancStartupError";
    this.code = details.code;
    this.signal = details.signal;
    this.log = details.log;
    this.workDir = details.workDir;
    this.started = details.started;
  }
}

// ---------------------------------------------------------------------------------------
// Process tracking: never leave an Orthanc behind
// ---------------------------------------------------------------------------------------

const runningChildren = new Set<ChildProcess>();
const createdWorkDirs = new Set<string>();
const WORKDIR_PREFIX = "orthanc-test-";
const OWNER_FILE = "owner.pid";
let exitHookInstalled = false;

function keepWorkDirs(): boolean {
  return process.env.ORTHANC_TEST_KEEP_WORKDIR !== undefined && process.env.ORTHANC_TEST_KEEP_WORKDIR !== "";
}

function cleanUp(): void {
  for (const child of runningChildren) {
    try {
      child.kill("SIGKILL");
    } catch {
      // already gone
    }
  }
  runningChildren.clear();
  if (!keepWorkDirs()) {
    for (const dir of createdWorkDirs) rmSync(dir, { recursive: true, force: true });
  }
  createdWorkDirs.clear();
}

function processIsAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "EPERM";
  }
}

/** Removes work directories left behind by test runners that were killed. */
function sweepStaleWorkDirs(): void {
  if (keepWorkDirs()) return;
  let entries: string[];
  try {
    entries = readdirSync(tmpdir());
  } catch {
    return;
  }
  for (const entry of entries) {
    if (!entry.startsWith(WORKDIR_PREFIX)) continue;
    const dir = join(tmpdir(), entry);
    const owner = Number.parseInt(readIfExists(join(dir, OWNER_FILE)), 10);
    if (Number.isInteger(owner) && owner > 0 && owner !== process.pid && !processIsAlive(owner)) {
      rmSync(dir, { recursive: true, force: true });
    }
  }
}

/**
 * Kills every Orthanc still running and removes the fresh work directories when the test
 * runner exits. Vitest ends its workers with SIGTERM, which skips "exit" handlers, so the
 * signals are handled too (then re-raised). Orthanc is also killed by the kernel if this
 * process dies abruptly (PR_SET_PDEATHSIG, set by the preload library).
 */
function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  sweepStaleWorkDirs();
  process.on("exit", cleanUp);
  for (const signal of ["SIGTERM", "SIGINT", "SIGHUP"] as const) {
    const onSignal = (): void => {
      cleanUp();
      process.removeListener(signal, onSignal);
      if (process.listenerCount(signal) === 0) process.kill(process.pid, signal);
    };
    process.on(signal, onSignal);
  }
}

// ---------------------------------------------------------------------------------------
// Ports
// ---------------------------------------------------------------------------------------

function listenOnFreePort(): Promise<{ server: Server; port: number }> {
  return new Promise((resolvePort, reject) => {
    const server = createServer();
    server.unref();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      if (address === null || typeof address === "string") {
        server.close();
        reject(new Error("could not read the port of a listening socket"));
        return;
      }
      resolvePort({ server, port: address.port });
    });
  });
}

function closeServer(server: Server): Promise<void> {
  return new Promise((done) => {
    server.close(() => done());
  });
}

/** A TCP port that was free on 127.0.0.1 a moment ago. */
export async function freePort(): Promise<number> {
  const [port] = await freePorts(1);
  if (port === undefined) throw new Error("no free port");
  return port;
}

/** `count` distinct free ports (all held open together while they are picked). */
export async function freePorts(count: number): Promise<number[]> {
  const held: Array<{ server: Server; port: number }> = [];
  try {
    for (let i = 0; i < count; i++) held.push(await listenOnFreePort());
    return held.map((h) => h.port);
  } finally {
    await Promise.all(held.map((h) => closeServer(h.server)));
  }
}

// ---------------------------------------------------------------------------------------
// Starting and stopping Orthanc
// ---------------------------------------------------------------------------------------

const DEFAULT_START_TIMEOUT_MS = 60_000;
const STOP_GRACE_MS = 20_000;
const LOG_TAIL_LINES = 60;
let startCounter = 0;

function tail(text: string, lines: number): string {
  const all = text.split("\n");
  if (all.at(-1) === "") all.pop();
  return all.slice(-lines).join("\n");
}

function readIfExists(path: string): string {
  try {
    return readFileSync(path, "utf8");
  } catch {
    return "";
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((done) => setTimeout(done, ms));
}

/** Orthanc's exit status when it exited, or undefined when it is still running after `ms`. */
function exitWithin(exited: Promise<ExitInfo>, ms: number): Promise<ExitInfo | undefined> {
  return new Promise((done) => {
    const timer = setTimeout(() => done(undefined), ms);
    void exited.then((info) => {
      clearTimeout(timer);
      done(info);
    });
  });
}

async function answersSystem(url: string): Promise<boolean> {
  try {
    const response = await fetch(`${url}/system`, { signal: AbortSignal.timeout(2_000) });
    await response.arrayBuffer();
    return response.status === 200;
  } catch {
    return false;
  }
}

function buildConfig(
  options: StartOrthancOptions,
  workDir: string,
  httpPort: number,
  dicomPort: number,
): Record<string, unknown> {
  const config: Record<string, unknown> = {
    Name: `OrthancTest-${httpPort}`,
    StorageDirectory: join(workDir, "storage"),
    IndexDirectory: join(workDir, "index"),
    HttpPort: httpPort,
    DicomPort: dicomPort,
    DicomAet: ORTHANC_AET,
    RemoteAccessAllowed: false,
    AuthenticationEnabled: false,
    // No storage cache: every read reaches the storage area (the plugin, when loaded).
    MaximumStorageCacheSize: 0,
    Plugins: (options.plugins ?? []).map((p) => resolve(p)),
    StorageCompression: false,
    DicomModalities: {},
    UnknownSopClassAccepted: true,
  };
  if (options.azureBlobStorage !== undefined) config.AzureBlobStorage = options.azureBlobStorage;
  Object.assign(config, options.extraConfig ?? {});
  return config;
}

function childEnvironment(extra: Record<string, string> | undefined): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env };
  // The test runner's Node options must not leak into a Node runtime embedded in Orthanc.
  delete env.NODE_OPTIONS;
  const preloads = [buildLoopbackPreload(), extra?.LD_PRELOAD].filter((p) => p !== undefined && p !== "");
  Object.assign(env, extra ?? {});
  env.LD_PRELOAD = preloads.join(":");
  // Read (then removed) by the preload library: SIGKILL Orthanc if this process dies.
  env.LOOPBACK_BIND_PARENT_PID = String(process.pid);
  return env;
}

async function launch(options: StartOrthancOptions): Promise<OrthancInstance> {
  installExitHook();
  if (!existsSync(ORTHANC_BINARY)) throw new Error(`Orthanc not found at ${ORTHANC_BINARY}`);

  let workDir: string;
  if (options.workDir === undefined) {
    workDir = mkdtempSync(join(tmpdir(), WORKDIR_PREFIX));
    writeFileSync(join(workDir, OWNER_FILE), `${process.pid}\n`);
    createdWorkDirs.add(workDir);
  } else {
    workDir = resolve(options.workDir);
    mkdirSync(workDir, { recursive: true });
  }

  const [httpPortFree, dicomPortFree] = await freePorts(2);
  if (httpPortFree === undefined || dicomPortFree === undefined) throw new Error("no free ports");
  const config = buildConfig(options, workDir, httpPortFree, dicomPortFree);
  const httpPort = Number(config.HttpPort);
  const dicomPort = Number(config.DicomPort);
  const aet = String(config.DicomAet);

  // Unique file names per start, so a restart on the same workDir keeps the earlier logs.
  let run = ++startCounter;
  while (existsSync(join(workDir, `orthanc-${run}.json`))) run = ++startCounter;
  const configFile = join(workDir, `orthanc-${run}.json`);
  const logFile = join(workDir, `orthanc-${run}.log`);
  const stdioFile = join(workDir, `orthanc-${run}.stdio.log`);
  writeFileSync(configFile, `${JSON.stringify(config, null, 2)}\n`);

  const stdioFd = openSync(stdioFile, "w");
  let child: ChildProcess;
  try {
    child = spawn(ORTHANC_BINARY, ["--verbose", `--logfile=${logFile}`, configFile], {
      cwd: workDir,
      env: childEnvironment(options.env),
      stdio: ["ignore", stdioFd, stdioFd],
    });
  } finally {
    closeSync(stdioFd);
  }

  let spawnError: Error | undefined;
  let exitInfo: ExitInfo | undefined;
  runningChildren.add(child);
  const exited = new Promise<ExitInfo>((done) => {
    child.on("error", (error) => {
      spawnError ??= error;
      runningChildren.delete(child);
      exitInfo ??= { code: null, signal: null };
      done(exitInfo);
    });
    child.once("exit", (code, signal) => {
      runningChildren.delete(child);
      exitInfo ??= { code, signal };
      done(exitInfo);
    });
  });

  const log = (): string => {
    const lines = (text: string): string => (text === "" || text.endsWith("\n") ? text : `${text}\n`);
    let text = lines(readIfExists(logFile));
    const stdio = readIfExists(stdioFile);
    if (stdio !== "") text += `--- Orthanc stdout/stderr ---\n${lines(stdio)}`;
    if (spawnError !== undefined) text += `--- spawn error: ${spawnError.message}\n`;
    return text;
  };

  let stopping: Promise<ExitInfo> | undefined;
  const stop = (signal: NodeJS.Signals = "SIGTERM"): Promise<ExitInfo> => {
    if (exitInfo !== undefined) return Promise.resolve(exitInfo);
    stopping ??= (async () => {
      child.kill(signal);
      const info = await exitWithin(exited, STOP_GRACE_MS);
      if (info !== undefined) return info;
      child.kill("SIGKILL");
      return exited;
    })();
    return stopping;
  };

  const waitForLog = async (pattern: RegExp, timeoutMs = 30_000): Promise<void> => {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const finished = exitInfo !== undefined;
      if (pattern.test(log())) return;
      if (finished) {
        throw new Error(`Orthanc exited before its log matched ${pattern}:\n${tail(log(), LOG_TAIL_LINES)}`);
      }
      if (Date.now() > deadline) {
        throw new Error(
          `timeout (${timeoutMs} ms) waiting for ${pattern} in the log:\n${tail(log(), LOG_TAIL_LINES)}`,
        );
      }
      await sleep(100);
    }
  };

  const url = `http://127.0.0.1:${httpPort}`;
  const instance: OrthancInstance = {
    url,
    httpPort,
    dicomPort,
    aet,
    logFile,
    workDir,
    configFile,
    config,
    pid: child.pid ?? -1,
    stop,
    log,
    waitForLog,
    exited,
  };

  const timeoutMs = options.startTimeoutMs ?? DEFAULT_START_TIMEOUT_MS;
  const deadline = Date.now() + timeoutMs;
  const fail = (message: string, info: ExitInfo, started: boolean): OrthancStartupError => {
    const text = log();
    return new OrthancStartupError(
      `${message} (exit code ${info.code}, signal ${info.signal}); last log lines:\n${tail(text, LOG_TAIL_LINES)}`,
      { code: info.code, signal: info.signal, log: text, workDir, started },
    );
  };

  for (;;) {
    if (exitInfo !== undefined) {
      throw fail(
        spawnError === undefined ? "Orthanc exited during startup" : "Orthanc could not be spawned",
        exitInfo,
        false,
      );
    }
    if (await answersSystem(url)) {
      if (options.expectStartupFailure === true) {
        const info = await stop();
        throw fail("Orthanc started although a startup failure was expected", info, true);
      }
      return instance;
    }
    if (Date.now() > deadline) {
      const info = await stop("SIGKILL");
      throw fail(`Orthanc did not answer GET /system within ${timeoutMs} ms`, info, false);
    }
    await exitWithin(exited, 100);
  }
}

/** Starts Orthanc and resolves once GET /system answers 200. */
export async function startOrthanc(options: StartOrthancOptions = {}): Promise<OrthancInstance> {
  const portsFixed =
    options.extraConfig?.HttpPort !== undefined || options.extraConfig?.DicomPort !== undefined;
  for (let attempt = 1; ; attempt++) {
    try {
      return await launch(options);
    } catch (error) {
      // Another process may have taken one of our "free" ports between picking and binding.
      const portRace =
        error instanceof OrthancStartupError && !error.started && /already in use/i.test(error.log);
      if (!portRace || portsFixed || options.expectStartupFailure === true || attempt >= 3) throw error;
    }
  }
}

/**
 * Starts Orthanc expecting it to fail: resolves with its exit status and log when it exits
 * before answering; rejects if it starts (it is stopped first) or hangs past the timeout.
 */
export async function startOrthancExpectingFailure(
  options: Omit<StartOrthancOptions, "expectStartupFailure"> = {},
): Promise<ExitInfo & { log: string }> {
  try {
    await launch({ ...options, expectStartupFailure: true });
  } catch (error) {
    if (
      error instanceof OrthancStartupError &&
      !error.started &&
      (error.code !== null || error.signal !== null)
    ) {
      if (/did not answer GET \/system/.test(error.message)) throw error;
      return { code: error.code, signal: error.signal, log: error.log };
    }
    throw error;
  }
  throw new Error("unreachable: launch() with expectStartupFailure always throws");
}

// ---------------------------------------------------------------------------------------
// REST helpers
// ---------------------------------------------------------------------------------------

/** A non-2xx HTTP answer. */
export class HttpError extends Error {
  readonly status: number;
  readonly body: string;
  readonly method: string;
  readonly url: string;

  constructor(method: string, url: string, status: number, body: string) {
    super(`${method} ${url} failed: HTTP ${status}: ${body.slice(0, 2_000)}`);
    this.name = "HttpError";
    this.method = method;
    this.url = url;
    this.status = status;
    this.body = body;
  }
}

async function request(
  method: string,
  url: string,
  init: { body?: Uint8Array | string; contentType?: string } = {},
): Promise<Response> {
  const headers: Record<string, string> = {};
  if (init.contentType !== undefined) headers["Content-Type"] = init.contentType;
  const requestInit: RequestInit = { method, headers };
  if (init.body !== undefined) requestInit.body = init.body;
  const response = await fetch(url, requestInit);
  if (response.status < 200 || response.status > 299) {
    throw new HttpError(method, url, response.status, await response.text());
  }
  return response;
}

/** The answer of POST /instances. */
export interface UploadResult {
  ID: string;
  ParentPatient: string;
  ParentStudy: string;
  ParentSeries: string;
  Path: string;
  /** "Success", "AlreadyStored", ... */
  Status: string;
}

/** POST /instances; `url` is the Orthanc base URL (OrthancInstance.url). */
export async function uploadInstance(url: string, bytes: Uint8Array): Promise<UploadResult> {
  const response = await request("POST", `${url}/instances`, {
    body: bytes,
    contentType: "application/dicom",
  });
  return (await response.json()) as UploadResult;
}

export async function getJson<T = unknown>(url: string): Promise<T> {
  const response = await request("GET", url);
  return (await response.json()) as T;
}

export async function postJson<T = unknown>(url: string, body: unknown): Promise<T> {
  const response = await request("POST", url, {
    body: JSON.stringify(body),
    contentType: "application/json",
  });
  const text = await response.text();
  return (text === "" ? undefined : JSON.parse(text)) as T;
}

export async function getBuffer(url: string): Promise<Buffer> {
  const response = await request("GET", url);
  return Buffer.from(await response.arrayBuffer());
}

/** GET /instances/{id}/file, with Orthanc's error status when it fails (e.g. 20, CorruptedFile). */
export async function readInstanceFile(
  orthanc: Pick<OrthancInstance, "url">,
  id: string,
): Promise<{ status: number; body: Buffer; orthancStatus?: number }> {
  const response = await fetch(`${orthanc.url}/instances/${id}/file`);
  const body = Buffer.from(await response.arrayBuffer());
  if (response.ok) return { status: response.status, body };
  return {
    status: response.status,
    body,
    orthancStatus: (JSON.parse(body.toString()) as { OrthancStatus: number }).OrthancStatus,
  };
}

export async function deleteResource(url: string): Promise<void> {
  const response = await request("DELETE", url);
  await response.arrayBuffer();
}

export interface StorescuResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** C-STORE `files` with dcmtk's storescu to 127.0.0.1:`port`. */
export function storescu(options: {
  port: number;
  /** Called AET; default ORTHANCTEST. */
  aet?: string;
  files: string[];
  callingAet?: string;
  extraArgs?: string[];
  timeoutMs?: number;
}): Promise<StorescuResult> {
  const args = [
    "-aec",
    options.aet ?? ORTHANC_AET,
    "-aet",
    options.callingAet ?? "STORESCU",
    ...(options.extraArgs ?? []),
    "127.0.0.1",
    String(options.port),
    ...options.files,
  ];
  return new Promise((done, reject) => {
    const child = spawn("storescu", args, { stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.setEncoding("utf8").on("data", (chunk: string) => {
      stdout += chunk;
    });
    child.stderr.setEncoding("utf8").on("data", (chunk: string) => {
      stderr += chunk;
    });
    const timer = setTimeout(() => {
      stderr += `\n[harness] storescu killed after ${options.timeoutMs ?? 60_000} ms`;
      child.kill("SIGKILL");
    }, options.timeoutMs ?? 60_000);
    child.once("error", (error) => {
      clearTimeout(timer);
      reject(error);
    });
    child.once("close", (code) => {
      clearTimeout(timer);
      done({ code, stdout, stderr });
    });
  });
}
