/**
 * Fetching the key set a client names by jwks_uri, as an authorization server must when the URL is anyone's to
 * register: https only; only to the addresses {@link KeyServerAddresses} takes, checked on the address the connection
 * is opened to (the name is resolved once, by the lookup the socket itself uses, so a name that resolved to a public
 * address for a check and to an internal one for the connection, DNS rebinding, still reaches nothing inside); no
 * redirect followed (jose asks for none, and a 3xx is refused like any answer but 200); at most 64 KiB read; within
 * jose's timeout. Errors say nothing to the client: its assertion's answer is the same whatever failed.
 */
import { lookup as dnsLookup } from "node:dns";
import type { LookupAddress, LookupOptions } from "node:dns";
import { Agent, request } from "node:https";
import type { IncomingMessage } from "node:http";
import { isIP } from "node:net";
import type { LookupFunction } from "node:net";
import { customFetch } from "jose";
import type { FetchImplementation, JWTVerifyGetKey } from "jose";
import { remoteKeySet } from "@sts/jwt";
import type { Logger } from "@sts/telemetry";
import { KeyServerAddresses } from "./key-server-address.js";

/** Largest key set read, in bytes: a few dozen keys fit; more is a server trying to exhaust our memory. */
export const MAX_JWKS_BYTES = 64 * 1024;

/** The issuer would not fetch this key set: the URL or the address it resolved to is one it does not call. */
export class KeyServerRefused extends Error {
  override readonly name = "KeyServerRefused";
}

/** Options of {@link keyServerFetch} and {@link ClientKeySets}. */
export interface KeyServerFetchOptions {
  /** Networks (CIDR) fetched from although not public: config `client_jwks_uri.allow_private_networks`. */
  allowPrivateNetworks?: readonly string[];
  /** Largest key set read, in bytes; {@link MAX_JWKS_BYTES} by default. */
  maxBytes?: number;
  /** Trust anchors in place of Node's (tests; a deployment adds its private CA with NODE_EXTRA_CA_CERTS). */
  ca?: string | Buffer;
}

/**
 * A lookup that fails for a name any of whose addresses `addresses` refuses, so the socket is never opened: the check
 * is on what the connection uses, not on an earlier, separate resolution. A name with public and internal addresses
 * both is refused whole rather than narrowed: no key server needs one, and a rebinding attack does.
 */
export function guardedLookup(addresses: KeyServerAddresses): LookupFunction {
  return (
    hostname: string,
    options: LookupOptions,
    callback: (err: NodeJS.ErrnoException | null, address: string | LookupAddress[], family?: number) => void,
  ) => {
    dnsLookup(hostname, { ...options, all: true }, (err, found) => {
      if (err) return callback(err, "");
      const refusal = found.map((a) => addresses.refusal(a.address)).find((r) => r !== undefined);
      const first = found[0];
      if (refusal !== undefined || first === undefined) return callback(new KeyServerRefused(refusal ?? `${hostname} resolved to no address`), "");
      if (options.all) callback(null, found);
      else callback(null, first.address, first.family);
    });
  };
}

/** The body of `res`, refused past `maxBytes` (announced or read). */
function readCapped(res: IncomingMessage, maxBytes: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const tooLarge = (): KeyServerRefused => new KeyServerRefused(`the key set is larger than ${maxBytes} bytes`);
    if (Number(res.headers["content-length"]) > maxBytes) {
      res.destroy();
      return reject(tooLarge());
    }
    const chunks: Buffer[] = [];
    let size = 0;
    res.on("data", (chunk: Buffer) => {
      size += chunk.length;
      if (size > maxBytes) res.destroy(tooLarge());
      else chunks.push(chunk);
    });
    res.on("end", () => resolve(Buffer.concat(chunks)));
    res.on("error", reject);
    // Cut off mid-answer (the signal, the server): never a truncated key set.
    res.on("close", () => (res.complete ? undefined : reject(new Error("the key server's answer was cut off"))));
  });
}

/**
 * A fetch for jose's {@link customFetch} that keeps to the rules above. Its own agent, without keep-alive: a socket
 * pooled by other code, opened without the guarded lookup, is never reused for a key set.
 */
export function keyServerFetch(options: KeyServerFetchOptions = {}): FetchImplementation {
  const addresses = new KeyServerAddresses(options.allowPrivateNetworks);
  const maxBytes = options.maxBytes ?? MAX_JWKS_BYTES;
  const agent = new Agent({ keepAlive: false, ...(options.ca !== undefined && { ca: options.ca }) });
  const lookup = guardedLookup(addresses);
  return async (href, { headers, signal }) => {
    const url = new URL(href);
    if (url.protocol !== "https:") throw new KeyServerRefused("a jwks_uri is fetched over https only");
    // An address in the URL is connected to without any lookup: checked here.
    const literal = url.hostname.replace(/^\[(.*)\]$/, "$1");
    const refusal = isIP(literal) ? addresses.refusal(literal) : undefined;
    if (refusal !== undefined) throw new KeyServerRefused(refusal);
    const body = await new Promise<Buffer>((resolve, reject) => {
      // jose tells its timeout by the signal's reason (a TimeoutError), not by the AbortError the request ends with.
      const fail = (err: Error): void => reject(signal.aborted && signal.reason instanceof Error ? signal.reason : err);
      const req = request(url, { method: "GET", agent, lookup, signal, headers: Object.fromEntries(headers.entries()) }, (res) => {
        if (res.statusCode !== 200) {
          res.destroy();
          return fail(new KeyServerRefused(`the key server answered ${res.statusCode ?? "nothing"}, not 200 (redirects are not followed)`));
        }
        readCapped(res, maxBytes).then(resolve, fail);
      });
      req.on("error", fail);
      req.end();
    });
    return new Response(body, { status: 200, headers: { "content-type": "application/json" } });
  };
}

/** The host (and port) of a URL, for logs: never its path, query or credentials. */
function hostOf(href: string): string {
  return URL.canParse(href) ? new URL(href).host : "";
}

/** Key sets kept at once: clients register their own URLs, so the oldest is dropped past this many. */
const MAX_KEY_SETS = 1000;

/** Options of {@link ClientKeySets}. */
export interface ClientKeySetsOptions extends KeyServerFetchOptions {
  /** Where a refused fetch is told (the client's answer never says why its assertion failed). */
  logger?: Pick<Logger, "warn">;
}

/**
 * The key sets of clients registered with a jwks_uri, one per URL, fetched with {@link keyServerFetch} and cached by
 * jose (10 minutes; again on an unknown kid, at most every 30 s; after a failed fetch, not within 5 s). A key set that
 * cannot be had (no answer, a refused address, an answer that is no JWK Set, the hold-off after one) throws
 * KeySourceUnavailable, as every remote key set of the stack does (@sts/jwt remoteKeySet), so that it is told apart
 * from a bad signature; a kid naming no key, or several, stays the assertion's fault.
 */
export class ClientKeySets {
  readonly #sets = new Map<string, JWTVerifyGetKey>();
  readonly #fetch: FetchImplementation;

  constructor(options: ClientKeySetsOptions = {}) {
    const fetch = keyServerFetch(options);
    const { logger } = options;
    this.#fetch = !logger
      ? fetch
      : (href, init) =>
          fetch(href, init).catch((err: unknown) => {
            // The host only: a URL may carry a password or a path worth keeping out of logs.
            if (err instanceof KeyServerRefused) logger.warn({ jwks_host: hostOf(href), reason: err.message }, "client jwks_uri not fetched");
            throw err;
          });
  }

  /** The key resolver of `jwksUri`, made at its first use. */
  resolver(jwksUri: string): JWTVerifyGetKey {
    let set = this.#sets.get(jwksUri);
    if (!set) {
      set = remoteKeySet(
        new URL(jwksUri),
        { cooldownDuration: 30_000, cacheMaxAge: 600_000, timeoutDuration: 3_000, [customFetch]: this.#fetch },
        `the client key server ${hostOf(jwksUri)}`,
      );
      if (this.#sets.size >= MAX_KEY_SETS) this.#sets.delete(this.#sets.keys().next().value as string);
      this.#sets.set(jwksUri, set);
    }
    return set;
  }
}
