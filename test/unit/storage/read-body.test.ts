import { PassThrough, Readable } from "node:stream";
import { describe, expect, it } from "vitest";
import { StorageError } from "../../../src/errors.ts";
import { discardBody, readBody } from "../../../src/storage/read-body.ts";
import { storageFailure } from "../../support/assertions.ts";

const live = new AbortController().signal;

function chunks(...parts: Array<string | Buffer>): NodeJS.ReadableStream {
  return Readable.from(parts, { objectMode: true });
}

/** A stream that sends `first`, then fails with `error`. */
function failingAfter(first: Buffer, error: Error): NodeJS.ReadableStream {
  const stream = new PassThrough();
  stream.write(first);
  setImmediate(() => stream.destroy(error));
  return stream;
}

describe("readBody", () => {
  it("fills one buffer of the announced length from several chunks, strings included", async () => {
    const body = await readBody(chunks(Buffer.from("abc"), "de", Buffer.from("f")), 6, "read", "b", live);
    expect(body.toString()).toBe("abcdef");
    expect(body.length).toBe(6);
  });

  it("joins the chunks when no length is announced", async () => {
    const body = await readBody(chunks(Buffer.from("ab"), Buffer.from("cd")), undefined, "read", "b", live);
    expect(body.toString()).toBe("abcd");
  });

  it("reads an empty body", async () => {
    expect((await readBody(chunks(), 0, "read", "b", live)).length).toBe(0);
    expect((await readBody(chunks(), undefined, "read", "b", live)).length).toBe(0);
  });

  it("calls fewer bytes than announced a short read (unavailable)", async () => {
    const error = await storageFailure(readBody(chunks(Buffer.from("abc")), 5, "readRange", "b", live));
    expect(error.code).toBe("unavailable");
    expect(error.message).toBe("readRange b: short read: received 3 of 5 bytes");
  });

  it("refuses more bytes than announced (unavailable)", async () => {
    const error = await storageFailure(
      readBody(chunks(Buffer.from("abc"), Buffer.from("def")), 5, "read", "b", live),
    );
    expect(error.code).toBe("unavailable");
    expect(error.message).toBe("read b: received more than the announced 5 bytes");
  });

  it("reports a transfer that breaks off with the bytes received so far", async () => {
    const withLength = await storageFailure(
      readBody(failingAfter(Buffer.from("abc"), new Error("socket hang up")), 10, "read", "b", live),
    );
    expect(withLength.code).toBe("unavailable");
    expect(withLength.message).toBe(
      "read b: short read: the transfer failed after 3 of 10 bytes (socket hang up)",
    );
    const withoutLength = await storageFailure(
      readBody(failingAfter(Buffer.from("ab"), new Error("reset")), undefined, "read", "b", live),
    );
    expect(withoutLength.message).toBe("read b: short read: the transfer failed after 2 bytes (reset)");
  });

  it("rethrows a stream failure unchanged once the signal aborted, for the caller to map", async () => {
    const controller = new AbortController();
    controller.abort();
    const cause = new Error("aborted");
    const error = await readBody(
      failingAfter(Buffer.from("a"), cause),
      10,
      "read",
      "b",
      controller.signal,
    ).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBe(cause);
  });

  it("fails as internal without a body stream", async () => {
    const error = await storageFailure(readBody(undefined, 3, "read", "b", live));
    expect(error).toBeInstanceOf(StorageError);
    expect(error.code).toBe("internal");
    expect(error.message).toBe("read b: the response has no body stream");
  });
});

describe("discardBody", () => {
  it("destroys a stream", () => {
    const stream = new PassThrough();
    discardBody(stream);
    expect(stream.destroyed).toBe(true);
  });

  it("resumes a stream without destroy, and accepts no stream", () => {
    let resumed = false;
    const stream = {
      resume: () => {
        resumed = true;
      },
    } as unknown as NodeJS.ReadableStream;
    discardBody(stream);
    expect(resumed).toBe(true);
    expect(() => discardBody(undefined)).not.toThrow();
  });
});
