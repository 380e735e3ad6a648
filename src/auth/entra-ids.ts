/**
 * Entra ID identifiers: client ids (app registrations, user-assigned managed identities) and
 * tenant ids, checked by the configuration and by the credential factory. Pure: no I/O, no
 * Azure SDK.
 */

/** A GUID, in any case: client ids and tenant ids. */
export const GUID_PATTERN = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** A tenant id: the tenant's GUID or one of its verified domain names. */
export const TENANT_ID_PATTERN = /^[0-9A-Za-z][0-9A-Za-z.-]{0,252}$/;
