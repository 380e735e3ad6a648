/**
 * Key Vault (and Managed HSM) key ids, `https://<vault>/keys/<name>[/<version>]`: the one parser
 * of key ids and vault URLs, for the configuration (kid, baseUrl, trustedKeyIds) and for the
 * Key Vault wrapper (kids read from blob metadata or returned by Key Vault). Pure: no I/O, no
 * Azure SDK, no configuration.
 */

/** Key names: 1 to 127 letters, digits and dashes. */
export const KEY_NAME_PATTERN = /^[0-9A-Za-z-]{1,127}$/;
/** Key versions: 1 to 64 letters and digits (32 hex digits in Azure). */
export const KEY_VERSION_PATTERN = /^[0-9A-Za-z]{1,64}$/;
/** Longest versioned key id accepted from blob metadata or Key Vault, and the most of one a message shows. */
export const MAX_KEY_ID_LENGTH = 256;

/** A parsed key id. */
export interface ParsedKeyId {
  /** The vault's https origin (lower-case host, no default port), e.g. https://myvault.vault.azure.net */
  readonly vaultUrl: string;
  readonly keyName: string;
  /** Absent in an unversioned key id. */
  readonly keyVersion?: string;
}

export interface VersionedKeyId extends ParsedKeyId {
  readonly keyVersion: string;
}

/** A versioned key id exactly as Key Vault writes one: nothing before, between or after the parts. */
const CANONICAL_VERSIONED_KEY_ID = /^https:\/\/[^/?#@\\\s]+\/keys\/[0-9A-Za-z-]{1,127}\/[0-9A-Za-z]{1,64}$/;

/** An https URL with a host, and no user info, query or fragment. */
function httpsUrl(value: string): URL | undefined {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return undefined;
  }
  if (url.protocol !== "https:" || url.username !== "" || url.password !== "" || url.hostname === "") {
    return undefined;
  }
  if (url.search !== "" || url.hash !== "") return undefined;
  return url;
}

/**
 * Parses a key id as an operator writes one: `https://<host>/keys/<name>[/<version>]`, a
 * trailing slash allowed, read as a URL (so the host may be in any case). Undefined when it is
 * not that shape.
 */
export function parseKeyId(value: string): ParsedKeyId | undefined {
  const url = httpsUrl(value);
  if (url === undefined) return undefined;
  // "", "keys", name, [version], [""] for a trailing slash
  const [root, keys, name, version, ...rest] = url.pathname.split("/");
  if (root !== "" || keys !== "keys") return undefined;
  if (name === undefined || !KEY_NAME_PATTERN.test(name)) return undefined;
  if (rest.length > 1 || (rest.length === 1 && rest[0] !== "")) return undefined;
  if (version !== undefined && version !== "" && !KEY_VERSION_PATTERN.test(version)) return undefined;
  return {
    vaultUrl: url.origin,
    keyName: name,
    ...(version === undefined || version === "" ? {} : { keyVersion: version }),
  };
}

/**
 * Parses a versioned key id as Key Vault writes one, for kids read from blob metadata (attacker
 * controlled) or returned by Key Vault: exactly `https://<host>/keys/<name>/<version>`, at most
 * MAX_KEY_ID_LENGTH characters; no trailing slash, query, fragment, user info or extra segment.
 */
export function parseVersionedKeyId(value: string): VersionedKeyId | undefined {
  if (typeof value !== "string" || value.length > MAX_KEY_ID_LENGTH) return undefined;
  if (!CANONICAL_VERSIONED_KEY_ID.test(value)) return undefined;
  const parsed = parseKeyId(value);
  if (parsed?.keyVersion === undefined) return undefined;
  return { vaultUrl: parsed.vaultUrl, keyName: parsed.keyName, keyVersion: parsed.keyVersion };
}

/**
 * The origin of a vault URL (`https://host[:port]`, an optional trailing slash allowed), or
 * undefined when it is not a bare https origin.
 */
export function parseVaultOrigin(vaultUrl: string): string | undefined {
  if (typeof vaultUrl !== "string") return undefined;
  const url = httpsUrl(vaultUrl);
  return url?.pathname === "/" ? url.origin : undefined;
}
