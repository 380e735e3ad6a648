/**
 * The throwaway TLS material of the emulator: a self-signed CA and one server certificate for
 * 127.0.0.1 / localhost signed by it, made with the `openssl` CLI. Generated once per work
 * directory and reused while still valid, so clients that trust the CA keep trusting it when the
 * emulator restarts. Test use only: the CA key sits unencrypted next to the certificate.
 */
import { spawnSync } from "node:child_process";
import { X509Certificate } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { randomHex } from "./util.ts";

export interface TlsMaterial {
  /** PEM file of the CA certificate (what clients trust). */
  readonly caFile: string;
  readonly caPem: string;
  /** Server certificate (PEM), signed by the CA, SAN IP:127.0.0.1 and DNS:localhost. */
  readonly certPem: string;
  /** Server private key (PEM). */
  readonly keyPem: string;
}

const TLS_DIR = "tls";
const CA_FILE = "ca.pem";
const CA_KEY_FILE = "ca.key";
const CERT_FILE = "server.pem";
const KEY_FILE = "server.key";
/** Regenerate when the server certificate would expire within this margin. */
const RENEW_MARGIN_MS = 24 * 3600 * 1000;

function openssl(args: readonly string[], cwd: string): void {
  const result = spawnSync("openssl", args, { cwd, encoding: "utf8" });
  if (result.error !== undefined) {
    throw new Error(`cannot run openssl (${result.error.message}); the key vault emulator needs the CLI`);
  }
  if (result.status !== 0) {
    throw new Error(`openssl ${args[0] ?? ""} failed (exit ${result.status}): ${result.stderr.trim()}`);
  }
}

/** The material under `directory` if it is complete, consistent and not about to expire. */
function loadExisting(directory: string): TlsMaterial | undefined {
  const caFile = join(directory, CA_FILE);
  const paths = [caFile, join(directory, CERT_FILE), join(directory, KEY_FILE)];
  if (!paths.every((path) => existsSync(path))) return undefined;
  try {
    const caPem = readFileSync(caFile, "utf8");
    const certPem = readFileSync(join(directory, CERT_FILE), "utf8");
    const keyPem = readFileSync(join(directory, KEY_FILE), "utf8");
    const ca = new X509Certificate(caPem);
    const cert = new X509Certificate(certPem);
    const fresh = (c: X509Certificate): boolean => Date.parse(c.validTo) - Date.now() > RENEW_MARGIN_MS;
    const usable =
      fresh(ca) &&
      fresh(cert) &&
      cert.verify(ca.publicKey) &&
      cert.checkIP("127.0.0.1") !== undefined &&
      cert.checkHost("localhost") !== undefined;
    return usable ? { caFile, caPem, certPem, keyPem } : undefined;
  } catch {
    return undefined;
  }
}

function generate(directory: string): void {
  mkdirSync(directory, { recursive: true, mode: 0o700 });
  openssl(
    [
      "req",
      "-x509",
      "-newkey",
      "rsa:2048",
      "-nodes",
      "-sha256",
      "-days",
      "3650",
      "-keyout",
      CA_KEY_FILE,
      "-out",
      CA_FILE,
      "-subj",
      `/O=OrthancAzureBlobStorage tests/CN=Key Vault emulator test CA ${randomHex(4)}`,
      "-addext",
      "basicConstraints=critical,CA:TRUE",
      "-addext",
      "keyUsage=critical,keyCertSign,cRLSign",
    ],
    directory,
  );
  openssl(
    [
      "req",
      "-newkey",
      "rsa:2048",
      "-nodes",
      "-keyout",
      KEY_FILE,
      "-out",
      "server.csr",
      "-subj",
      "/CN=127.0.0.1",
    ],
    directory,
  );
  writeFileSync(
    join(directory, "server.ext"),
    [
      "subjectAltName=IP:127.0.0.1,DNS:localhost",
      "basicConstraints=critical,CA:FALSE",
      "keyUsage=critical,digitalSignature,keyEncipherment",
      "extendedKeyUsage=serverAuth",
      "",
    ].join("\n"),
  );
  openssl(
    [
      "x509",
      "-req",
      "-sha256",
      "-days",
      "825",
      "-in",
      "server.csr",
      "-CA",
      CA_FILE,
      "-CAkey",
      CA_KEY_FILE,
      "-set_serial",
      `0x${randomHex(16)}`,
      "-extfile",
      "server.ext",
      "-out",
      CERT_FILE,
    ],
    directory,
  );
}

/**
 * Returns the CA and server certificate under `<workDir>/tls`, generating them when missing,
 * inconsistent or close to expiry. Generation happens in a private directory that is renamed into
 * place, so two emulators starting on the same work directory never mix two CAs.
 */
export function ensureTlsMaterial(workDir: string): TlsMaterial {
  const target = join(workDir, TLS_DIR);
  const existing = loadExisting(target);
  if (existing !== undefined) return existing;
  mkdirSync(workDir, { recursive: true, mode: 0o700 });
  const staging = join(workDir, `.tls-${randomHex(8)}`);
  try {
    generate(staging);
    rmSync(target, { recursive: true, force: true });
    try {
      renameSync(staging, target);
    } catch (error) {
      // Another emulator won the race: use its material if it is complete.
      const theirs = loadExisting(target);
      if (theirs !== undefined) return theirs;
      throw error;
    }
  } finally {
    rmSync(staging, { recursive: true, force: true });
  }
  const created = loadExisting(target);
  if (created === undefined) throw new Error(`the TLS material generated under ${target} is not usable`);
  return created;
}
