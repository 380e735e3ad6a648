/**
 * The loopback interface, as URL.hostname gives it: where plain http and the local emulators are
 * allowed, and nowhere else.
 */
export const LOOPBACK_HOSTS: ReadonlySet<string> = new Set(["127.0.0.1", "localhost", "[::1]"]);

/** Whether a URL (or origin) points at the loopback interface; false for anything unparsable. */
export function isLoopbackUrl(url: string): boolean {
  try {
    return LOOPBACK_HOSTS.has(new URL(url).hostname);
  } catch {
    return false;
  }
}
