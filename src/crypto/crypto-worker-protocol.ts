/**
 * Messages between CryptoWorkerPool (JS thread) and crypto-worker.ts (a worker thread).
 * Bulk bytes travel as transferred ArrayBuffers (moved, not copied). Keys never travel in a
 * message: the CEK and, for envelope version 2, the integrity key are written into the worker's
 * own SharedArrayBuffer slot for the one job the worker runs at a time, and zeroed by the pool
 * when the job settles.
 */
import type { StorageErrorCode } from "../errors.ts";
import { CEK_LENGTH } from "./data-key.ts";
import { INTEGRITY_KEY_LENGTH } from "./integrity-key.ts";
import type { WrapAlgorithm } from "./key-wrapper.ts";

/** The key slot: the CEK at 0, the integrity key (envelope version 2 jobs) at CEK_SLOT_LENGTH. */
export const CEK_SLOT_LENGTH = CEK_LENGTH;
export const KEY_SLOT_LENGTH = CEK_SLOT_LENGTH + INTEGRITY_KEY_LENGTH;

export interface CryptoWorkerData {
  /** KEY_SLOT_LENGTH bytes, shared with the pool: the keys of the job in progress, zeroed between jobs. */
  readonly keySlot: SharedArrayBuffer;
}

interface JobBase {
  readonly id: number;
  /** Moved to the worker; the input is `length` bytes from `offset`. */
  readonly data: ArrayBuffer;
  readonly offset: number;
  readonly length: number;
  readonly context: { readonly uuid: string; readonly contentType: number };
  /** Envelope version 2: the id of the integrity key in the slot. Absent: no integrity key. */
  readonly integrityKeyId?: string;
}

export interface EncryptJob extends JobBase {
  readonly op: "encrypt";
  readonly wrapped: {
    readonly keyId: string;
    readonly algorithm: WrapAlgorithm;
    readonly encryptedKey: Uint8Array;
  };
  readonly library: string;
}

export interface DecryptJob extends JobBase {
  readonly op: "decrypt";
  /** The blob's metadata as stored; the worker parses and verifies it again. */
  readonly metadata: Readonly<Record<string, string>>;
}

export type CryptoJob = EncryptJob | DecryptJob;

export type CryptoJobResult =
  | {
      readonly id: number;
      readonly ok: true;
      /** Moved back to the pool; the result is `length` bytes from `offset`. */
      readonly data: ArrayBuffer;
      readonly offset: number;
      readonly length: number;
      /** encrypt only: the `encryptiondata` and `oabsintegrity` entries. */
      readonly metadata?: Record<string, string>;
    }
  | { readonly id: number; readonly ok: false; readonly code: StorageErrorCode; readonly message: string };

/** What a worker posts: once `{ ready: true }` when its script has loaded, then job results. */
export type CryptoWorkerMessage = { readonly ready: true } | CryptoJobResult;

/** Buffers below this size come from Node's shared pool, which must never be moved. */
const POOLED_BELOW = 4096;

/**
 * The ArrayBuffer behind `view`, when it may be moved to another thread: the view covers
 * (nearly) all of it and it is not from Node's pool. Otherwise a copy, or undefined when
 * `copyOtherwise` is false.
 */
export function movableBytes(view: Uint8Array): { data: ArrayBuffer; offset: number };
export function movableBytes(
  view: Uint8Array,
  copyOtherwise: false,
): { data: ArrayBuffer; offset: number } | undefined;
export function movableBytes(
  view: Uint8Array,
  copyOtherwise = true,
): { data: ArrayBuffer; offset: number } | undefined {
  const buffer = view.buffer;
  if (
    buffer instanceof ArrayBuffer &&
    view.byteLength >= POOLED_BELOW &&
    buffer.byteLength - view.byteLength <= 64
  ) {
    return { data: buffer, offset: view.byteOffset };
  }
  return copyOtherwise ? { data: view.slice().buffer, offset: 0 } : undefined;
}
