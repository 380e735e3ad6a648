/**
 * Where envelope encryption runs. The codec only sees this interface: the inline engine runs
 * on the calling (JS) thread; CryptoWorkerPool runs the same functions on worker threads, so
 * that crypto uses every core and the JS thread stays free for I/O.
 */
import type { OperationOptions } from "../async/operation-options.ts";
import type { DataKey } from "./data-key.ts";
import {
  ciphertextLengthFor,
  decryptEnvelope,
  type EncryptedBlob,
  type EnvelopeContext,
  encryptEnvelope,
  parseEnvelope,
} from "./envelope.ts";
import type { IntegrityKey } from "./integrity-key.ts";

export interface EncryptOptions extends OperationOptions {
  /**
   * The caller hands `plaintext` over: an engine may encrypt over it (when its ArrayBuffer has
   * room for the padding) or move it to another thread, instead of copying it. The caller must
   * not read it afterwards.
   */
  consumeInput?: boolean;
  /** Seal with this deployment integrity key (envelope version 2); without it, version 1. */
  integrityKey?: IntegrityKey | undefined;
}

export interface DecryptOptions extends OperationOptions {
  /**
   * The caller hands `body` over: an engine may move its memory to another thread (the caller's
   * Buffer is then empty) instead of copying it. For bodies that nothing else references.
   */
  consumeInput?: boolean;
  /** Version 2 blobs: the integrity key their IntegrityKeyId names. */
  integrityKey?: IntegrityKey | undefined;
}

export interface EnvelopeEngine {
  /** Encrypts `plaintext` under `dataKey`; the caller keeps ownership of `dataKey.cek`. */
  encrypt(
    plaintext: Buffer,
    dataKey: DataKey,
    library: string,
    context: EnvelopeContext,
    options?: EncryptOptions,
  ): Promise<EncryptedBlob>;
  /** Verifies, then decrypts a whole envelope blob (`metadata` as stored with it). */
  decrypt(
    body: Buffer,
    metadata: Readonly<Record<string, string>>,
    cek: Buffer,
    context: EnvelopeContext,
    options?: DecryptOptions,
  ): Promise<Buffer>;
  /** Counters for the status route. */
  readonly stats: EnvelopeEngineStats;
  close(): Promise<void>;
}

export interface EnvelopeEngineStats {
  /** Worker threads running (0 for the inline engine). */
  threads: number;
  /** Operations run on a worker / on the calling thread. */
  offloaded: number;
  inline: number;
  /** Worker pool only: workers replaced after dying, jobs waiting for a worker, and jobs whose
   * caller's memory moved to the worker without a copy. */
  restarts?: number;
  queued?: number;
  inputsTaken?: number;
}

/** Runs envelope crypto on the calling thread, chunked so that it never blocks it for long. */
export class InlineEnvelopeEngine implements EnvelopeEngine {
  readonly stats: EnvelopeEngineStats = { threads: 0, offloaded: 0, inline: 0 };

  encrypt(
    plaintext: Buffer,
    dataKey: DataKey,
    library: string,
    context: EnvelopeContext,
    options: EncryptOptions = {},
  ): Promise<EncryptedBlob> {
    this.stats.inline++;
    const inPlace = options.consumeInput === true && hasPaddingRoom(plaintext);
    return encryptEnvelope(plaintext, dataKey, context, {
      library,
      inPlace,
      ...(options.integrityKey === undefined ? {} : { integrityKey: options.integrityKey }),
    });
  }

  async decrypt(
    body: Buffer,
    metadata: Readonly<Record<string, string>>,
    cek: Buffer,
    context: EnvelopeContext,
    options: DecryptOptions = {},
  ): Promise<Buffer> {
    this.stats.inline++;
    return decryptEnvelope(body, parseEnvelope(metadata, body.length), cek, context, {
      inPlace: options.consumeInput === true,
      ...(options.integrityKey === undefined ? {} : { integrityKey: options.integrityKey }),
    });
  }

  async close(): Promise<void> {}
}

/** True when `view`'s ArrayBuffer has room after it for the AES-CBC padding of an in-place encrypt. */
export function hasPaddingRoom(view: Uint8Array): boolean {
  return view.buffer.byteLength - view.byteOffset >= ciphertextLengthFor(view.length);
}
