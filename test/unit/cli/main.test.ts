/**
 * The operator CLI, run as its own process: exit codes and messages of check-config and
 * check-connection for good and bad configuration files. check-connection talks to a loopback
 * HTTP server that answers like the Blob service for the container calls it makes.
 */

import { readFileSync, statSync, writeFileSync } from "node:fs";
import { createServer, type IncomingMessage, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { integrityKeyId } from "../../../src/crypto/integrity-key.ts";
import { LocalKeyWrapper } from "../../../src/crypto/local-key-wrapper.ts";
import { cliRunner } from "../../support/cli.ts";
import { scratchDirs } from "../../support/scratch.ts";

const runCli = cliRunner();
const scratch = scratchDirs();

const ACCOUNT = "devstoreaccount1";
/** Not a secret: a random base64 value the fake service never checks; the output must not show it. */
const ACCOUNT_KEY = "U0VDUkVUS0VZMTIzNDU2Nzg5MA==";
const AES_KEK = new URL("../../vectors/test-kek-aes.hex", import.meta.url).pathname;
const USAGE =
  "usage: cli.cjs check-config|check-connection <orthanc-configuration.json>\n" +
  "       cli.cjs integrity-key-new <orthanc-configuration.json> [--file <new key file>]\n";

/** Writes an Orthanc configuration file (text, so that comments can be part of it). */
function configFile(text: string): string {
  const path = join(scratch("oabs-cli-config-"), "orthanc.json");
  writeFileSync(path, text);
  return path;
}

function section(fields: Record<string, unknown>): string {
  return JSON.stringify({ Name: "test", AzureBlobStorage: { EnableStorage: true, ...fields } }, null, 2);
}

describe("cli check-config", () => {
  it("prints the usage and exits with 2 without a command or a file", async () => {
    for (const args of [[], ["check-config"], ["check-everything", "orthanc.json"]]) {
      const result = await runCli(args);
      expect(result).toEqual({ exitCode: 2, stdout: "", stderr: USAGE });
    }
  });

  it("accepts a good configuration, with comments and environment substitution, without printing secrets", async () => {
    const file = configFile(
      [
        "// Orthanc allows comments",
        "{",
        '  "AzureBlobStorage": {',
        '    "EnableStorage": true, /* inline */',
        // biome-ignore lint/suspicious/noTemplateCurlyInString: Orthanc's ${VAR} syntax, which the CLI substitutes
        '    "ConnectionString": "${OABS_TEST_CONNECTION_STRING}",',
        '    "ContainerName": "orthanc-data"',
        "  }",
        "}",
      ].join("\n"),
    );
    const result = await runCli(["check-config", file], {
      OABS_TEST_CONNECTION_STRING: `DefaultEndpointsProtocol=http;AccountName=${ACCOUNT};AccountKey=${ACCOUNT_KEY};BlobEndpoint=http://127.0.0.1:1/${ACCOUNT};`,
    });
    expect(result.stderr).toBe("");
    expect(result.exitCode).toBe(0);
    expect(result.stdout).toMatch(/^configuration is valid: .*orthanc-data/);
    expect(result.stdout.split("\n").filter((line) => line !== "")).toHaveLength(1);
    expect(result.stdout).not.toContain(ACCOUNT_KEY);
  });

  it("exits with 1 and names the bad key and its value", async () => {
    const file = configFile(
      section({ ConnectionString: "UseDevelopmentStorage=true", ContainerName: "orthanc", MaxRetries: 21 }),
    );
    const result = await runCli(["check-config", file]);
    expect(result.exitCode).toBe(1);
    expect(result.stdout).toBe("");
    expect(result.stderr).toMatch(
      /^Invalid "AzureBlobStorage" configuration:\n {2}- .*AzureBlobStorage\.MaxRetries.*21/,
    );
  });

  it("exits with 1 and names a misspelt key", async () => {
    const file = configFile(
      section({ ConnectionString: "UseDevelopmentStorage=true", ContainerNmae: "orthanc" }),
    );
    const result = await runCli(["check-config", file]);
    expect(result.exitCode).toBe(1);
    expect(result.stderr).toContain("AzureBlobStorage.ContainerNmae");
    expect(result.stderr).toContain("did you mean ContainerName?");
  });

  it("says so, with exit code 0, when EnableStorage is not true", async () => {
    const file = configFile(JSON.stringify({ AzureBlobStorage: { EnableStorage: false } }));
    const result = await runCli(["check-config", file]);
    expect(result).toEqual({
      exitCode: 0,
      stdout: "AzureBlobStorage.EnableStorage is not true: the plugin would stay inactive\n",
      stderr: "",
    });
  });

  it("exits with 1 for a file that is not JSON or does not exist", async () => {
    const notJson = await runCli(["check-config", configFile("{ not json")]);
    expect(notJson.exitCode).toBe(1);
    expect(notJson.stderr).toMatch(/^error: /);
    const missing = await runCli(["check-config", "/nonexistent/orthanc.json"]);
    expect(missing.exitCode).toBe(1);
    expect(missing.stderr).toMatch(/^error: .*\/nonexistent\/orthanc\.json/);
  });
});

describe("cli check-connection", () => {
  let server: Server;
  let port: number;
  const requests: Array<{ method: string; url: string; authorization: string | undefined }> = [];

  beforeAll(async () => {
    // Answers the container calls: Create Container (PUT ?restype=container) and Get Container
    // Properties (GET/HEAD ?restype=container).
    server = createServer((request: IncomingMessage, response) => {
      requests.push({
        method: request.method ?? "",
        url: request.url ?? "",
        authorization: request.headers.authorization,
      });
      request.resume();
      const isContainer = request.url?.includes("restype=container") === true;
      const status = !isContainer ? 400 : request.method === "PUT" ? 201 : 200;
      response.writeHead(status, { "x-ms-request-id": "1", "x-ms-version": "2025-01-05" });
      response.end();
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    port = (server.address() as AddressInfo).port;
  });

  afterAll(async () => {
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });

  const connectionString = (to: number) =>
    `DefaultEndpointsProtocol=http;AccountName=${ACCOUNT};AccountKey=${ACCOUNT_KEY};BlobEndpoint=http://127.0.0.1:${to}/${ACCOUNT};`;

  it("opens the container and wraps and unwraps a test key with the configured key", async () => {
    requests.length = 0;
    const file = configFile(
      section({ ConnectionString: connectionString(port), ContainerName: "orthanc", LocalKeyFile: AES_KEK }),
    );
    const result = await runCli(["check-connection", file]);
    expect(result.stderr).toBe(
      `[info] [azure] Created container "orthanc" in Azure Blob Storage container "orthanc" at http://127.0.0.1:${port}/${ACCOUNT}\n`,
    );
    expect(result.exitCode).toBe(0);
    const lines = result.stdout.trimEnd().split("\n");
    expect(lines).toHaveLength(3);
    expect(lines[0]).toMatch(/^configuration is valid: /);
    expect(lines[1]).toBe(
      `container "orthanc" is reachable (Azure Blob Storage container "orthanc" at http://127.0.0.1:${port}/${ACCOUNT})`,
    );
    expect(lines[2]).toMatch(
      /^key-encryption key wraps and unwraps: local key file \(aes, local:aes:[0-9a-f]+, A256KW\)$/,
    );
    expect(result.stdout).not.toContain(ACCOUNT_KEY);
    expect(requests).toEqual([
      {
        method: "PUT",
        url: `/${ACCOUNT}/orthanc?restype=container&timeout=30`,
        authorization: expect.stringMatching(/^SharedKey /),
      },
    ]);
  });

  it("only checks that the container exists when it may not create it", async () => {
    requests.length = 0;
    const file = configFile(
      section({
        ConnectionString: connectionString(port),
        ContainerName: "orthanc",
        CreateContainerIfNotExists: false,
      }),
    );
    const result = await runCli(["check-connection", file]);
    expect(result.exitCode).toBe(0);
    expect(result.stdout.trimEnd().split("\n")).toHaveLength(2);
    expect(requests.map((request) => request.method)).toEqual(["GET"]);
  });

  it("exits with 1, naming the key, before any request for a bad configuration", async () => {
    requests.length = 0;
    const file = configFile(section({ ConnectionString: connectionString(port), ContainerName: "Bad_Name" }));
    const result = await runCli(["check-connection", file]);
    expect(result.exitCode).toBe(1);
    expect(result.stdout).toBe("");
    expect(result.stderr).toMatch(
      /^Invalid "AzureBlobStorage" configuration:\n {2}- .*AzureBlobStorage\.ContainerName/,
    );
    expect(requests).toEqual([]);
  });

  it("exits with 1 and a one-line reason when the service cannot be reached", async () => {
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, "127.0.0.1", resolve));
    const unused = (closed.address() as AddressInfo).port;
    await new Promise<void>((resolve) => closed.close(() => resolve()));

    const file = configFile(
      section({ ConnectionString: connectionString(unused), ContainerName: "orthanc", MaxRetries: 0 }),
    );
    const result = await runCli(["check-connection", file]);
    expect(result.exitCode).toBe(1);
    expect(result.stdout).toMatch(/^configuration is valid: /);
    expect(result.stderr).toMatch(
      /^error: initialize container "orthanc": cannot reach the storage service: .*\n$/,
    );
    expect(result.stderr).not.toContain(ACCOUNT_KEY);
  });
});

describe("cli integrity-key-new", () => {
  const storage = { ConnectionString: "UseDevelopmentStorage=true", ContainerName: "orthanc" };

  it("prints an IntegrityKeys entry wrapped by the configured key, whose Id is the key's", async () => {
    const file = configFile(section({ ...storage, EncryptionEnabled: true, LocalKeyFile: AES_KEK }));
    const result = await runCli(["integrity-key-new", file]);
    expect(result.stderr).toBe("");
    expect(result.exitCode).toBe(0);
    const entry = JSON.parse(result.stdout) as {
      Id: string;
      KeyId: string;
      EncryptedKey: string;
      Algorithm: "A256KW";
    };
    expect(Object.keys(entry)).toEqual(["Id", "KeyId", "EncryptedKey", "Algorithm"]);
    const wrapper = LocalKeyWrapper.fromKeyMaterial({
      writeKey: Buffer.from(readFileSync(AES_KEK, "utf8").trim(), "hex"),
    });
    const key = await wrapper.unwrapKey({
      keyId: entry.KeyId,
      algorithm: entry.Algorithm,
      encryptedKey: Buffer.from(entry.EncryptedKey, "base64"),
    });
    expect(key.length).toBe(32);
    expect(integrityKeyId(key)).toBe(entry.Id);
    // A second run makes another key.
    const again = JSON.parse((await runCli(["integrity-key-new", file])).stdout) as { Id: string };
    expect(again.Id).not.toBe(entry.Id);
  });

  it("writes a new key file that only its owner can read, and never overwrites one", async () => {
    const file = configFile(section(storage));
    const keyFile = join(scratch("oabs-cli-ik-"), "integrity.key");
    const result = await runCli(["integrity-key-new", file, "--file", keyFile]);
    expect(result.exitCode).toBe(0);
    const entry = JSON.parse(result.stdout) as { Id: string; File: string };
    expect(entry.File).toBe(keyFile);
    const text = readFileSync(keyFile, "utf8");
    expect(text).toMatch(/^[0-9a-f]{64}\n$/);
    expect(integrityKeyId(Buffer.from(text.trim(), "hex"))).toBe(entry.Id);
    expect(statSync(keyFile).mode & 0o777).toBe(0o600);
    const second = await runCli(["integrity-key-new", file, "--file", keyFile]);
    expect(second.exitCode).toBe(1);
    expect(second.stderr).toContain("EEXIST");
    expect(readFileSync(keyFile, "utf8")).toBe(text);
  });

  it("refuses to print a key when there is no key-encryption key to wrap it", async () => {
    const result = await runCli(["integrity-key-new", configFile(section(storage))]);
    expect(result.exitCode).toBe(1);
    expect(result.stdout).toBe("");
    expect(result.stderr).toContain("no key-encryption key is configured");
  });
});
