/**
 * Big attachments live in off-heap buffers, which V8 frees only when it collects the small
 * objects that hold them; with little JS allocation in between, that can take long enough for
 * several blob-sized buffers to pile up. After an attachment of LARGE_ATTACHMENT_BYTES or more,
 * one collection returns that memory at once. The shim starts V8 with --expose-gc for this;
 * elsewhere (tests, the CLI) `gc` is absent and this does nothing.
 */
export const LARGE_ATTACHMENT_BYTES = 16 * 1024 * 1024;

let scheduled = false;

export function releaseAfterLargeAttachment(bytes: number): void {
  if (bytes < LARGE_ATTACHMENT_BYTES || scheduled) return;
  const gc = (globalThis as { gc?: () => void }).gc;
  if (typeof gc !== "function") return;
  scheduled = true;
  // After the current turn, once the caller has dropped its references.
  setImmediate(() => {
    scheduled = false;
    gc();
  });
}
