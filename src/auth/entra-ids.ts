/**
 * Entra ID identifiers: client ids (app registrations, user-assigned managed identities) and
 * tenant ids, checked by the configuration and by the credential factory. A client secret is
 * easily pasted into the field next to it, so a value that is not an identifier is described
 * by its shape, never by its content. Pure: no I/O, no Azure SDK.
 */

/** A GUID, in any case: client ids and tenant ids. */
export const GUID_PATTERN = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** A tenant id: the tenant's GUID or one of its verified domain names. */
export const TENANT_ID_PATTERN = /^[0-9A-Za-z][0-9A-Za-z.-]{0,252}$/;

/**
 * A string that is not what was expected, for the "but received ..." part of a message, without
 * a single character of it: "a string of 40 characters that is not a GUID". For every key that
 * may hold a secret by mistake.
 */
export function describeStringShape(value: string, isNot: string): string {
  if (value.length === 0) return "an empty string";
  const length = value.length === 1 ? "1 character" : `${value.length} characters`;
  return `a string of ${length} that is not ${isNot}`;
}
