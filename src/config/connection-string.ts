/**
 * Azure Storage connection strings: `Key=Value` parts separated by ";" (values may contain "="),
 * keys case-insensitive. Problems are described by which part is missing or wrong, never by value:
 * a connection string usually carries an AccountKey or a SharedAccessSignature.
 */
import { closestMatch, parseHttpUrl, redactUrl } from "./validators.ts";

/** Every part we understand, in the order a canonical connection string lists them. */
const KNOWN_PARTS = [
  "UseDevelopmentStorage",
  "DevelopmentStorageProxyUri",
  "DefaultEndpointsProtocol",
  "AccountName",
  "AccountKey",
  "EndpointSuffix",
  "BlobEndpoint",
  "QueueEndpoint",
  "TableEndpoint",
  "FileEndpoint",
  "SharedAccessSignature",
] as const;
type PartName = (typeof KNOWN_PARTS)[number];

/** Parts whose values may be shown in logs; every other value is replaced by "<redacted>". */
const PUBLIC_PARTS: ReadonlySet<PartName> = new Set<PartName>([
  "UseDevelopmentStorage",
  "DevelopmentStorageProxyUri",
  "DefaultEndpointsProtocol",
  "AccountName",
  "EndpointSuffix",
  "BlobEndpoint",
  "QueueEndpoint",
  "TableEndpoint",
  "FileEndpoint",
]);
const URL_PARTS: ReadonlySet<PartName> = new Set<PartName>([
  "DevelopmentStorageProxyUri",
  "BlobEndpoint",
  "QueueEndpoint",
  "TableEndpoint",
  "FileEndpoint",
]);

export const CONNECTION_STRING_EXPECTATION =
  "a connection string with AccountName and AccountKey, or BlobEndpoint and SharedAccessSignature, or UseDevelopmentStorage=true";

export type ConnectionStringCheck =
  | { readonly ok: true; readonly canonical: string }
  | { readonly ok: false; readonly received: string };

const BASE64 = /^[A-Za-z0-9+/]+={0,2}$/;
/** Only plain names are echoed back from an unknown part; anything else could be part of a secret. */
const SHOWABLE_NAME = /^[A-Za-z]{1,40}$/;

function partName(key: string): PartName | undefined {
  const lower = key.toLowerCase();
  return KNOWN_PARTS.find((name) => name.toLowerCase() === lower);
}

function fail(received: string): ConnectionStringCheck {
  return { ok: false, received };
}

/**
 * Checks a connection string and returns it in canonical form: known key spellings, canonical order,
 * and DefaultEndpointsProtocol=https / EndpointSuffix=core.windows.net filled in when absent, because
 * the @azure/storage-blob parser is case-sensitive and needs them. On failure, `received` describes
 * the problem without any value.
 */
export function checkConnectionString(value: string): ConnectionStringCheck {
  const segments = value
    .split(";")
    .map((segment) => segment.trim())
    .filter((segment) => segment !== "");
  if (segments.length === 0) return fail(value === "" ? "an empty string" : "a blank string");

  const parts = new Map<PartName, string>();
  for (const [index, segment] of segments.entries()) {
    const equals = segment.indexOf("=");
    const key = equals > 0 ? segment.slice(0, equals).trim() : "";
    if (key === "") return fail(`a string whose part ${index + 1} is not Key=Value`);
    const name = partName(key);
    if (name === undefined) {
      if (!SHOWABLE_NAME.test(key)) return fail(`a string with an unknown part (part ${index + 1})`);
      const suggestion = closestMatch(key, KNOWN_PARTS);
      return fail(
        `a string with an unknown part ${key}` +
          (suggestion === undefined ? "" : ` (did you mean ${suggestion}?)`),
      );
    }
    if (parts.has(name)) return fail(`a string with ${name} given twice`);
    const partValue = segment.slice(equals + 1).trim();
    if (partValue === "") return fail(`a string with an empty ${name}`);
    parts.set(name, partValue);
  }

  const problem = findProblem(parts);
  if (problem !== undefined) return fail(problem);
  return { ok: true, canonical: canonicalize(parts) };
}

function findProblem(parts: ReadonlyMap<PartName, string>): string | undefined {
  const has = (name: PartName) => parts.has(name);
  for (const name of URL_PARTS) {
    const url = parts.get(name);
    if (url !== undefined && parseHttpUrl(url) === undefined)
      return `a string whose ${name} is not an http(s) URL`;
  }

  const development = parts.get("UseDevelopmentStorage");
  if (development !== undefined) {
    if (development.toLowerCase() !== "true") {
      return "a string with UseDevelopmentStorage set to something other than true";
    }
    const others = [...parts.keys()].filter(
      (name) => name !== "UseDevelopmentStorage" && name !== "DevelopmentStorageProxyUri",
    );
    return others.length === 0
      ? undefined
      : `a string with UseDevelopmentStorage=true and also ${others.join(", ")}`;
  }
  if (has("DevelopmentStorageProxyUri")) {
    return "a string with DevelopmentStorageProxyUri but without UseDevelopmentStorage=true";
  }

  const protocol = parts.get("DefaultEndpointsProtocol");
  if (protocol !== undefined && !["http", "https"].includes(protocol.toLowerCase())) {
    return "a string whose DefaultEndpointsProtocol is neither http nor https";
  }

  const accountKey = parts.get("AccountKey");
  const sas = parts.get("SharedAccessSignature");
  if (accountKey !== undefined && sas !== undefined) {
    return "a string with both AccountKey and SharedAccessSignature";
  }
  if (accountKey !== undefined) {
    if (!has("AccountName")) return "a string with AccountKey but no AccountName";
    if (!BASE64.test(accountKey) || accountKey.length % 4 !== 0)
      return "a string whose AccountKey is not base64";
    return undefined;
  }
  if (sas !== undefined) {
    if (!has("BlobEndpoint")) return "a string with SharedAccessSignature but no BlobEndpoint";
    const query = new URLSearchParams(sas.startsWith("?") ? sas.slice(1) : sas);
    if (!query.get("sig")) return "a string whose SharedAccessSignature has no sig= signature";
    return undefined;
  }
  if (has("AccountName")) return "a string with AccountName but no AccountKey";
  if (has("BlobEndpoint")) return "a string with BlobEndpoint but no AccountKey or SharedAccessSignature";
  return "a string with none of AccountName, AccountKey, BlobEndpoint, SharedAccessSignature or UseDevelopmentStorage";
}

function canonicalize(parts: ReadonlyMap<PartName, string>): string {
  const complete = new Map(parts);
  if (complete.has("UseDevelopmentStorage")) {
    complete.set("UseDevelopmentStorage", "true");
  } else if (complete.has("AccountKey")) {
    if (!complete.has("DefaultEndpointsProtocol")) complete.set("DefaultEndpointsProtocol", "https");
    if (!complete.has("BlobEndpoint") && !complete.has("EndpointSuffix")) {
      complete.set("EndpointSuffix", "core.windows.net");
    }
  }
  return KNOWN_PARTS.flatMap((name) => {
    const partValue = complete.get(name);
    return partValue === undefined ? [] : [`${name}=${partValue}`];
  }).join(";");
}

/** The connection string for logs: public parts shown (URLs without query), every other value "<redacted>". */
export function redactConnectionString(value: string): string {
  return value
    .split(";")
    .map((segment) => segment.trim())
    .filter((segment) => segment !== "")
    .map((segment) => {
      const equals = segment.indexOf("=");
      const name = equals > 0 ? partName(segment.slice(0, equals).trim()) : undefined;
      if (name === undefined) return "<redacted>";
      if (!PUBLIC_PARTS.has(name)) return `${name}=<redacted>`;
      const partValue = segment.slice(equals + 1).trim();
      return `${name}=${URL_PARTS.has(name) ? redactUrl(partValue) : partValue}`;
    })
    .join(";");
}
