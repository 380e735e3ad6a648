/**
 * The one way a value that came from outside (blob metadata, a request) enters a message or a
 * log line. Control characters, quotes and anything outside printable ASCII are escaped and the
 * length is bounded, so that a blob cannot write a fake log line or flood the log.
 */
const MAX_SHOWN = 300;
const SAFE_BARE = /^[\x21-\x7e]*$/;

function escaped(text: string): string {
  return text.replace(/[^\x20-\x7e]|["\\]/g, (char) => {
    if (char === '"') return '\\"';
    if (char === "\\") return "\\\\";
    if (char === "\n") return "\\n";
    if (char === "\r") return "\\r";
    if (char === "\t") return "\\t";
    return `\\u${char.charCodeAt(0).toString(16).padStart(4, "0")}`;
  });
}

function bounded(value: unknown, maxLength: number): { text: string; cut: boolean } {
  const text = typeof value === "string" ? value : String(value);
  return text.length > maxLength ? { text: text.slice(0, maxLength), cut: true } : { text, cut: false };
}

/** Always in double quotes, escaped, at most `maxLength` characters of the value ("..." after a cut). */
export function quoteUntrusted(value: unknown, maxLength = MAX_SHOWN): string {
  const { text, cut } = bounded(value, maxLength);
  return `"${escaped(text)}${cut ? "..." : ""}"`;
}

/**
 * Bare when the value is a non-empty run of printable ASCII without spaces (a well-formed key id
 * reads as itself), otherwise as quoteUntrusted. Non-strings are described by their type.
 */
export function showUntrusted(value: unknown, maxLength = MAX_SHOWN): string {
  if (typeof value !== "string") return `(a value of type ${typeof value})`;
  if (value.length > 0 && value.length <= maxLength && SAFE_BARE.test(value) && !/["\\]/.test(value))
    return value;
  return quoteUntrusted(value, maxLength);
}
