import { randomBytes } from "node:crypto";
import { CachingKeyProvider } from "../../src/crypto/key-cache.ts";
import { LocalKeyWrapper } from "../../src/crypto/local-key-wrapper.ts";

/** A key provider over a fresh in-memory AES-256 local key, with roomy limits. */
export function localKeyProvider(): CachingKeyProvider {
  const wrapper = LocalKeyWrapper.fromKeyMaterial({ writeKey: randomBytes(32) });
  return new CachingKeyProvider(wrapper, {
    maxUsesPerDataKey: 100,
    maxDataKeyAgeMs: 60_000,
    poolSize: 10,
    poolTtlMs: 60_000,
  });
}
