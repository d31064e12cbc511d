/**
 * Reading an HTTP answer from a server outside this process (an issuer's JWK Set, a provider's introspection
 * endpoint) with a bound on its size: fetch's own readers (`json()`, `text()`) take whatever arrives until the
 * deadline, so one misbehaving or impersonated server could make every verifier hold hundreds of megabytes at once.
 *
 * For key sets in particular: jose reads the whole answer into memory (`response.json()`) however large it is, and
 * every verifier fetches the same set at the same moments (start, expiry, an unknown kid). A real key set is a few
 * kilobytes (a dozen RSA keys with their certificate chains stay under 64 KiB); past the bound the fetch fails like an
 * unreachable server, so the verification fails closed as retryable and the hold-off after a failed fetch applies.
 */
import type { FetchImplementation } from "jose";

/** Reads at most `max` bytes of a body; past that the read is cut off and `tooLarge()` is thrown. */
export async function readBounded(body: ReadableStream<Uint8Array> | null, max: number, tooLarge: () => Error): Promise<Buffer> {
  if (!body) return Buffer.alloc(0);
  const reader = body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) return Buffer.concat(chunks, size);
    size += value.byteLength;
    if (size > max) {
      await reader.cancel().catch(() => undefined);
      throw tooLarge();
    }
    chunks.push(value);
  }
}

/** Whether the answer announces (Content-Length) a body longer than `max` bytes, which is then not read at all. */
export function announcedLargerThan(response: Response, max: number): boolean {
  return Number(response.headers.get("content-length") ?? 0) > max;
}

/** Largest JWK Set read, in bytes. */
export const MAX_KEY_SET_BYTES = 256 * 1024;

/** The key set server answered with more than the bound allows: no key of it is used. */
export class KeySetTooLarge extends Error {
  override readonly name = "KeySetTooLarge";
}

/** `fetchImpl` whose 200 answers are read here, up to `maxBytes`, and handed to jose whole; a larger one throws KeySetTooLarge. */
export function boundedKeySetFetch(maxBytes: number = MAX_KEY_SET_BYTES, fetchImpl: FetchImplementation = fetch): FetchImplementation {
  const tooLarge = (): KeySetTooLarge => new KeySetTooLarge(`the key set is larger than ${maxBytes} bytes`);
  return async (url, options) => {
    const response = await fetchImpl(url, options);
    // jose refuses every other status without reading the body: none is read here either.
    if (response.status !== 200) {
      await response.body?.cancel().catch(() => undefined);
      return new Response(null, { status: response.status, statusText: response.statusText });
    }
    if (announcedLargerThan(response, maxBytes)) {
      await response.body?.cancel().catch(() => undefined);
      throw tooLarge();
    }
    const body = await readBounded(response.body, maxBytes, tooLarge);
    return new Response(body, { status: 200, headers: response.headers });
  };
}
