/**
 * Small building blocks for configuration checks. Every problem is phrased
 * "Expected <what> for <key path> but received <what was found>" and pushed onto an issue list,
 * so a parser can report every problem at once instead of stopping at the first.
 */

const MAX_SHOWN_STRING_LENGTH = 60;

/** Strings that look like they carry a credential are never echoed, whatever key they were found under. */
const LOOKS_LIKE_SECRET = /accountkey\s*=|sharedaccesssignature\s*=|(^|[?&;])\s*sig=/i;

export type Issues = string[];

export function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** An own property of a parsed JSON object (never an inherited one such as `__proto__`). */
export function ownValue(record: Record<string, unknown>, key: string): unknown {
  return Object.hasOwn(record, key) ? record[key] : undefined;
}

/**
 * What was found, for the "but received ..." part of a message: strings JSON-quoted (at most 60
 * characters) with "(a string)", numbers and booleans as is, "null", "an array", "an object".
 */
export function describeReceived(value: unknown): string {
  if (typeof value === "string") {
    if (LOOKS_LIKE_SECRET.test(value)) return "a string that looks like it contains a credential (not shown)";
    const shown =
      value.length > MAX_SHOWN_STRING_LENGTH ? `${value.slice(0, MAX_SHOWN_STRING_LENGTH - 3)}...` : value;
    return `${JSON.stringify(shown)} (a string)`;
  }
  if (typeof value === "number" || typeof value === "boolean") return String(value);
  return describeShape(value);
}

/** Only the kind of value, never its content: for secrets ("a string", "a number", "null", ...). */
export function describeShape(value: unknown): string {
  if (value === null) return "null";
  if (value === undefined) return "nothing";
  if (Array.isArray(value)) return "an array";
  if (typeof value === "object") return "an object";
  return `a ${typeof value}`;
}

export function expectation(expected: string, path: string, received: string): string {
  return `Expected ${expected} for ${path} but received ${received}`;
}

/** Reads an optional boolean; `undefined` when absent or invalid (the issue is recorded). */
export function readBoolean(value: unknown, path: string, issues: Issues): boolean | undefined {
  if (value === undefined || typeof value === "boolean") return value;
  issues.push(expectation("a boolean", path, describeReceived(value)));
  return undefined;
}

/** Reads an optional string; a secret's value is never described, only its kind. */
export function readString(
  value: unknown,
  path: string,
  issues: Issues,
  options: { readonly secret?: boolean } = {},
): string | undefined {
  if (value === undefined || typeof value === "string") return value;
  issues.push(
    expectation("a string", path, options.secret === true ? describeShape(value) : describeReceived(value)),
  );
  return undefined;
}

/** Reads an optional string that must be one of `allowed` (compared exactly). */
export function readOneOf<T extends string>(
  value: unknown,
  path: string,
  issues: Issues,
  allowed: readonly T[],
): T | undefined {
  const text = readString(value, path, issues);
  if (text === undefined) return undefined;
  const known = allowed.find((candidate) => candidate === text);
  if (known === undefined) {
    issues.push(
      expectation(`one of ${allowed.map((a) => `"${a}"`).join(", ")}`, path, describeReceived(text)),
    );
  }
  return known;
}

export interface IntegerRange {
  readonly min: number;
  readonly max?: number;
}

export function describeIntegerRange(range: IntegerRange): string {
  return range.max === undefined
    ? `an integer of ${range.min} or more`
    : `an integer from ${range.min} to ${range.max}`;
}

/** Reads an optional integer within a range. */
export function readInteger(
  value: unknown,
  path: string,
  issues: Issues,
  range: IntegerRange,
  hint = "",
): number | undefined {
  if (value === undefined) return undefined;
  if (
    typeof value === "number" &&
    Number.isInteger(value) &&
    value >= range.min &&
    (range.max === undefined || value <= range.max)
  ) {
    return value;
  }
  issues.push(expectation(describeIntegerRange(range), path, describeReceived(value)) + hint);
  return undefined;
}

export interface NumberRange {
  readonly min: number;
  /** When true the minimum itself is refused ("greater than"). */
  readonly minExclusive: boolean;
  readonly max: number;
}

export function describeNumberRange(range: NumberRange): string {
  return range.minExclusive
    ? `a number greater than ${range.min} and at most ${range.max}`
    : `a number from ${range.min} to ${range.max}`;
}

/** Reads an optional finite number within a range (fractions allowed). */
export function readNumber(
  value: unknown,
  path: string,
  issues: Issues,
  range: NumberRange,
): number | undefined {
  if (value === undefined) return undefined;
  if (
    typeof value === "number" &&
    Number.isFinite(value) &&
    (range.minExclusive ? value > range.min : value >= range.min) &&
    value <= range.max
  ) {
    return value;
  }
  issues.push(expectation(describeNumberRange(range), path, describeReceived(value)));
  return undefined;
}

/** Parses an absolute http(s) URL; undefined when it is not one. */
export function parseHttpUrl(value: string): URL | undefined {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return undefined;
  }
  return url.protocol === "https:" || url.protocol === "http:" ? url : undefined;
}

/** A URL for logs: scheme, host and path only; credentials, query and fragment are dropped. */
export function redactUrl(value: string): string {
  const url = parseHttpUrl(value);
  if (url === undefined) return "<redacted>";
  const path = url.pathname === "/" ? "" : url.pathname;
  const rest = url.search !== "" || url.hash !== "" ? "?<redacted>" : "";
  return `${url.protocol}//${url.host}${path}${rest}`;
}

/** Unknown keys of an object, each with the list of known ones and the closest match when one is close. */
export function unknownKeyIssues(
  record: Record<string, unknown>,
  path: string,
  known: readonly string[],
): string[] {
  const issues: string[] = [];
  for (const key of Object.keys(record)) {
    if (known.includes(key)) continue;
    const suggestion = closestMatch(key, known);
    issues.push(
      `Unknown key ${path}.${shortKey(key)}; expected one of: ${known.join(", ")}` +
        (suggestion === undefined ? "" : ` (did you mean ${suggestion}?)`),
    );
  }
  return issues;
}

function shortKey(key: string): string {
  return key.length > MAX_SHOWN_STRING_LENGTH ? `${key.slice(0, MAX_SHOWN_STRING_LENGTH - 3)}...` : key;
}

/** The candidate closest to `word` (case-insensitive edit distance), if it is close enough to be a typo. */
export function closestMatch(word: string, candidates: readonly string[]): string | undefined {
  const lower = word.toLowerCase();
  let best: string | undefined;
  let bestDistance = Number.POSITIVE_INFINITY;
  for (const candidate of candidates) {
    const distance = editDistance(lower, candidate.toLowerCase());
    const tolerance = Math.max(2, Math.floor(candidate.length / 3));
    if (distance <= tolerance && distance < bestDistance) {
      best = candidate;
      bestDistance = distance;
    }
  }
  return best;
}

/** Levenshtein distance. */
function editDistance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, index) => index);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) {
      const substitution = (previous[j - 1] ?? 0) + (a[i - 1] === b[j - 1] ? 0 : 1);
      current.push(Math.min((previous[j] ?? 0) + 1, (current[j - 1] ?? 0) + 1, substitution));
    }
    previous = current;
  }
  return previous[b.length] ?? 0;
}

/** Object.freeze, applied to every nested object and array. */
export function deepFreeze<T>(value: T): T {
  if (typeof value === "object" && value !== null && !Object.isFrozen(value)) {
    for (const nested of Object.values(value)) deepFreeze(nested);
    Object.freeze(value);
  }
  return value;
}
