/**
 * Starts Azurite's blob service for integration tests: loopback only, a free port, a fresh
 * temporary data directory. stop() keeps the data, so restart() brings the same service back
 * on the same port (to test outages); dispose() stops it and deletes the data directory.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { createConnection, createServer } from "node:net";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";

export const AZURITE_ACCOUNT_NAME = "devstoreaccount1";
/** Azurite's well-known development key (public, documented by Microsoft). */
export const AZURITE_ACCOUNT_KEY =
  "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";

const HOST = "127.0.0.1";
const START_TIMEOUT_MS = 30_000;
const STOP_TIMEOUT_MS = 10_000;

export interface AzuriteInstance {
  readonly blobPort: number;
  /** Explicit form: DefaultEndpointsProtocol=http;AccountName=...;AccountKey=...;BlobEndpoint=...; */
  readonly connectionString: string;
  /** http://127.0.0.1:<port>/devstoreaccount1 */
  readonly accountUrl: string;
  readonly accountName: string;
  readonly accountKey: string;
  /** The data directory (kept across stop/restart). */
  readonly location: string;
  /** Whether the process is running. */
  readonly running: boolean;
  /** The azurite-blob process, while it runs (benchmarks read its CPU time). */
  readonly pid: number | undefined;
  /** Stops the process; the port and data are kept for restart(). */
  stop(): Promise<void>;
  /** (Re)starts on the same port with the same data directory. */
  restart(): Promise<void>;
  /** Stops the process and deletes the data directory. */
  dispose(): Promise<void>;
}

export interface StartAzuriteOptions {
  /** Extra command-line arguments for azurite-blob. */
  extraArgs?: readonly string[];
}

function findAzuriteBinary(): string {
  let directory = process.cwd();
  for (;;) {
    const candidate = join(directory, "node_modules", ".bin", "azurite-blob");
    if (existsSync(candidate)) return candidate;
    const parent = dirname(directory);
    if (parent === directory) {
      throw new Error(`node_modules/.bin/azurite-blob not found from ${process.cwd()} upwards`);
    }
    directory = parent;
  }
}

export function freePort(): Promise<number> {
  return new Promise((resolvePort, reject) => {
    const server = createServer();
    server.unref();
    server.once("error", reject);
    server.listen(0, HOST, () => {
      const address = server.address();
      if (address === null || typeof address === "string") {
        server.close();
        reject(new Error("could not get a free port"));
        return;
      }
      server.close(() => resolvePort(address.port));
    });
  });
}

function portAnswers(port: number): Promise<boolean> {
  return new Promise((resolveAnswer) => {
    const socket = createConnection({ host: HOST, port });
    const done = (answer: boolean): void => {
      socket.destroy();
      resolveAnswer(answer);
    };
    socket.setTimeout(1000, () => done(false));
    socket.once("connect", () => done(true));
    socket.once("error", () => done(false));
  });
}

const sleep = (ms: number): Promise<void> => new Promise((resolveSleep) => setTimeout(resolveSleep, ms));

export async function startAzurite(options: StartAzuriteOptions = {}): Promise<AzuriteInstance> {
  const binary = findAzuriteBinary();
  const location = mkdtempSync(join(tmpdir(), "azurite-"));
  const blobPort = await freePort();
  const accountUrl = `http://${HOST}:${blobPort}/${AZURITE_ACCOUNT_NAME}`;
  const connectionString = `DefaultEndpointsProtocol=http;AccountName=${AZURITE_ACCOUNT_NAME};AccountKey=${AZURITE_ACCOUNT_KEY};BlobEndpoint=${accountUrl};`;
  const args = [
    resolve(binary),
    "--blobHost",
    HOST,
    "--blobPort",
    String(blobPort),
    "--location",
    location,
    "--silent",
    "--skipApiVersionCheck",
    "--disableTelemetry",
    "--loose",
    ...(options.extraArgs ?? []),
  ];

  let child: ChildProcess | undefined;
  let disposed = false;
  // A test run that ends without stop()/dispose() must not leave a server or data behind.
  const killOnExit = (): void => {
    child?.kill("SIGKILL");
    rmSync(location, { recursive: true, force: true });
  };
  process.once("exit", killOnExit);

  const launch = async (): Promise<void> => {
    let output = "";
    let exited: string | undefined;
    const current = spawn(process.execPath, args, { stdio: ["ignore", "pipe", "pipe"] });
    child = current;
    const collect = (chunk: Buffer): void => {
      output = (output + chunk.toString("utf8")).slice(-4000);
    };
    current.stdout?.on("data", collect);
    current.stderr?.on("data", collect);
    current.once("exit", (code, signal) => {
      exited = `exited with ${signal ?? `code ${String(code)}`}`;
      if (child === current) child = undefined;
    });
    current.once("error", (error) => {
      exited = `failed to start: ${error.message}`;
    });
    const deadline = Date.now() + START_TIMEOUT_MS;
    for (;;) {
      if (exited !== undefined)
        throw new Error(`Azurite ${exited} before listening on port ${blobPort}: ${output}`);
      if (await portAnswers(blobPort)) return;
      if (Date.now() > deadline) {
        current.kill("SIGKILL");
        throw new Error(
          `Azurite did not listen on port ${blobPort} within ${START_TIMEOUT_MS} ms: ${output}`,
        );
      }
      await sleep(100);
    }
  };

  const stop = async (): Promise<void> => {
    const current = child;
    if (current === undefined || current.exitCode !== null || current.signalCode !== null) {
      child = undefined;
      return;
    }
    const exited = new Promise<void>((resolveExit) => current.once("exit", () => resolveExit()));
    current.kill("SIGTERM");
    const timer = setTimeout(() => current.kill("SIGKILL"), STOP_TIMEOUT_MS);
    await exited;
    clearTimeout(timer);
    child = undefined;
  };

  await launch();

  return {
    blobPort,
    connectionString,
    accountUrl,
    accountName: AZURITE_ACCOUNT_NAME,
    accountKey: AZURITE_ACCOUNT_KEY,
    location,
    get running() {
      return child !== undefined;
    },
    get pid() {
      return child?.pid;
    },
    stop,
    async restart() {
      if (disposed) throw new Error("this Azurite instance was disposed");
      await stop();
      await launch();
    },
    async dispose() {
      disposed = true;
      await stop();
      process.removeListener("exit", killOnExit);
      rmSync(location, { recursive: true, force: true });
    },
  };
}
