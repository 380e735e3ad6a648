/**
 * Proves the Orthanc harness against plain Debian Orthanc 1.10.1 (no plugin).
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { connect } from "node:net";
import { networkInterfaces, tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { generateCt, generateMr } from "../support/dicom.ts";
import {
  deleteResource,
  getBuffer,
  getJson,
  HttpError,
  type OrthancInstance,
  startOrthanc,
  startOrthancExpectingFailure,
  storescu,
  uploadInstance,
} from "../support/orthanc.ts";

/** The first non-internal IPv4 address of this machine, if any. */
function nonLoopbackIpv4(): string | undefined {
  for (const addresses of Object.values(networkInterfaces())) {
    for (const address of addresses ?? []) {
      if (address.family === "IPv4" && !address.internal && !address.address.startsWith("127.")) {
        return address.address;
      }
    }
  }
  return undefined;
}

/** "connected", or the error code of a failed TCP connection (e.g. "ECONNREFUSED"). */
function tryConnect(host: string, port: number): Promise<string> {
  return new Promise((done) => {
    const socket = connect({ host, port });
    socket.setTimeout(3_000, () => {
      socket.destroy();
      done("ETIMEDOUT");
    });
    socket.once("connect", () => {
      socket.destroy();
      done("connected");
    });
    socket.once("error", (error: NodeJS.ErrnoException) => {
      done(error.code ?? error.message);
    });
  });
}

/** Local addresses of the TCP sockets listening on `port`, from /proc/net/tcp and tcp6. */
function listeningAddresses(port: number): string[] {
  const found: string[] = [];
  for (const file of ["/proc/net/tcp", "/proc/net/tcp6"]) {
    let text: string;
    try {
      text = readFileSync(file, "utf8");
    } catch {
      continue;
    }
    for (const line of text.split("\n").slice(1)) {
      const fields = line.trim().split(/\s+/);
      const local = fields[1];
      const state = fields[3];
      if (local === undefined || state !== "0A") continue; // 0A = LISTEN
      const [hexAddress, hexPort] = local.split(":");
      if (hexAddress === undefined || hexPort === undefined || Number.parseInt(hexPort, 16) !== port)
        continue;
      found.push(hexAddress);
    }
  }
  return found;
}

const IPV4_LOOPBACK_HEX = "0100007F"; // 127.0.0.1 as the kernel prints it (host byte order)
const IPV6_LOOPBACK_HEX = "00000000000000000000000001000000"; // ::1

const externalAddress = nonLoopbackIpv4();

describe("Orthanc harness (plain Orthanc, no plugin)", () => {
  let orthanc: OrthancInstance;
  const tempDir = mkdtempSync(join(tmpdir(), "orthanc-harness-test-"));

  beforeAll(async () => {
    orthanc = await startOrthanc({});
  });

  afterAll(async () => {
    const exit = await orthanc?.stop();
    rmSync(tempDir, { recursive: true, force: true });
    // SIGTERM is a clean shutdown for Orthanc.
    expect(exit).toEqual({ code: 0, signal: null });
  });

  it("starts on loopback with the generated configuration", async () => {
    expect(orthanc.url).toBe(`http://127.0.0.1:${orthanc.httpPort}`);
    expect(orthanc.aet).toBe("ORTHANCTEST");
    expect(orthanc.pid).toBeGreaterThan(0);
    const system = await getJson<{ Version: string; DicomAet: string; DicomPort: number; HttpPort: number }>(
      `${orthanc.url}/system`,
    );
    expect(system.Version).toMatch(/^\d+\.\d+\.\d+/);
    expect(system.DicomAet).toBe("ORTHANCTEST");
    expect(system.DicomPort).toBe(orthanc.dicomPort);
    expect(system.HttpPort).toBe(orthanc.httpPort);
    const config = JSON.parse(readFileSync(orthanc.configFile, "utf8")) as Record<string, unknown>;
    expect(config.Plugins).toEqual([]);
    expect(config.MaximumStorageCacheSize).toBe(0);
    expect(config.RemoteAccessAllowed).toBe(false);
    await orthanc.waitForLog(/Orthanc has started/);
    expect(orthanc.log()).toContain(`HTTP server listening on port: ${orthanc.httpPort}`);
  });

  it("stores an uploaded CT and serves it back byte-identical", async () => {
    const ct = generateCt({ seed: 1001 });
    const uploaded = await uploadInstance(orthanc.url, ct.bytes);
    expect(uploaded.Status).toBe("Success");
    expect(uploaded.ID).toMatch(/^[0-9a-f]{8}(-[0-9a-f]{8}){4}$/);
    const file = await getBuffer(`${orthanc.url}/instances/${uploaded.ID}/file`);
    expect(file.equals(ct.bytes)).toBe(true);
    const tags = await getJson<{ MainDicomTags: { SOPInstanceUID: string } }>(
      `${orthanc.url}/instances/${uploaded.ID}`,
    );
    expect(tags.MainDicomTags.SOPInstanceUID).toBe(ct.sopInstanceUid);
    const study = await getJson<{ MainDicomTags: { StudyInstanceUID: string } }>(
      `${orthanc.url}/studies/${uploaded.ParentStudy}`,
    );
    expect(study.MainDicomTags.StudyInstanceUID).toBe(ct.studyInstanceUid);

    const again = await uploadInstance(orthanc.url, ct.bytes);
    expect(again.Status).toBe("AlreadyStored");

    await deleteResource(`${orthanc.url}/instances/${uploaded.ID}`);
    const missing = await getBuffer(`${orthanc.url}/instances/${uploaded.ID}/file`).catch(
      (error: unknown) => error,
    );
    expect(missing).toBeInstanceOf(HttpError);
    expect((missing as HttpError).status).toBe(404);
  });

  it("rejects a non-DICOM upload with an error carrying the HTTP status", async () => {
    const error = await uploadInstance(orthanc.url, Buffer.from("not a DICOM file")).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(HttpError);
    expect((error as HttpError).status).toBe(400);
  });

  it("accepts a C-STORE of an MR from storescu", async () => {
    const mr = generateMr({ seed: 2002 });
    const file = join(tempDir, "mr.dcm");
    writeFileSync(file, mr.bytes);
    const result = await storescu({ port: orthanc.dicomPort, aet: orthanc.aet, files: [file] });
    expect(result.code, `${result.stdout}\n${result.stderr}`).toBe(0);

    const found = await getJson<string[]>(`${orthanc.url}/instances`);
    const match = await Promise.all(
      found.map((id) =>
        getJson<{ ID: string; MainDicomTags: { SOPInstanceUID: string } }>(`${orthanc.url}/instances/${id}`),
      ),
    );
    const stored = match.find((i) => i.MainDicomTags.SOPInstanceUID === mr.sopInstanceUid);
    expect(stored).toBeDefined();
    // The receiver rewrites the File Meta Information (source AET, implementation UID...),
    // so compare the dataset from the pixel data on.
    const back = await getBuffer(`${orthanc.url}/instances/${stored?.ID}/file`);
    const pixels = mr.bytes.subarray(mr.pixelDataOffset);
    expect(back.subarray(back.length - pixels.length).equals(pixels)).toBe(true);
  });

  it("listens on loopback only (the LD_PRELOAD bind() rewrite works)", () => {
    for (const port of [orthanc.httpPort, orthanc.dicomPort]) {
      const addresses = listeningAddresses(port);
      expect(addresses.length, `listening sockets on port ${port}`).toBeGreaterThan(0);
      for (const address of addresses) expect([IPV4_LOOPBACK_HEX, IPV6_LOOPBACK_HEX]).toContain(address);
    }
  });

  it.skipIf(externalAddress === undefined)(
    "is not reachable on a non-loopback address of this machine (skipped only when it has no non-loopback IPv4 address)",
    async () => {
      const address = externalAddress ?? "";
      expect(await tryConnect("127.0.0.1", orthanc.httpPort)).toBe("connected");
      expect(await tryConnect(address, orthanc.httpPort)).toBe("ECONNREFUSED");
      expect(await tryConnect(address, orthanc.dicomPort)).toBe("ECONNREFUSED");
    },
  );
});

describe("Orthanc harness startup failures", () => {
  const tempDir = mkdtempSync(join(tmpdir(), "orthanc-harness-fail-"));
  afterAll(() => {
    rmSync(tempDir, { recursive: true, force: true });
  });

  it("reports a non-zero exit when a plugin cannot be loaded", async () => {
    const notAPlugin = join(tempDir, "libnot-a-plugin.so");
    writeFileSync(notAPlugin, "this is not an ELF shared library\n");
    const result = await startOrthancExpectingFailure({ plugins: [notAPlugin], startTimeoutMs: 30_000 });
    expect(result.code).not.toBe(0);
    expect(result.code).not.toBeNull();
    expect(result.log).toMatch(/dlopen\(.*libnot-a-plugin\.so\) failed/);
  });

  it("documents that Orthanc 1.10.1 ignores an inexistent plugin path (it starts anyway)", async () => {
    const orthanc = await startOrthanc({ plugins: [join(tempDir, "does-not-exist.so")] });
    try {
      expect(orthanc.log()).toContain("Inexistent path to plugins");
    } finally {
      await orthanc.stop();
    }
  });

  it("rejects startOrthancExpectingFailure when Orthanc does start", async () => {
    await expect(startOrthancExpectingFailure({})).rejects.toThrow(
      /started although a startup failure was expected/,
    );
  });
});
