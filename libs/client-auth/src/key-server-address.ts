/**
 * Which addresses the issuer may connect to when it fetches a client's jwks_uri. The URL is the client's (or its
 * admin's) to choose, and the issuer fetches it from inside the mesh: without this, registering
 * `https://169.254.169.254/...` or a name resolving to 10.0.0.7 would make the issuer call the cloud metadata service,
 * NATS or a service's admin port for whoever registered it (server-side request forgery). Only globally reachable
 * addresses are taken, and those of the networks the operator allows (on-premise key servers).
 */
import { BlockList, isIP } from "node:net";

/**
 * Networks that are not the public Internet (IANA IPv4 and IPv6 Special-Purpose Address Registries): unspecified and
 * "this network", private (RFC 1918, unique local), shared (RFC 6598, where some clouds put their metadata
 * service), loopback, link-local (cloud metadata at 169.254.169.254), benchmarking, multicast, reserved. IPv4-mapped
 * IPv6 addresses (::ffff:a.b.c.d) are checked against the IPv4 rules by BlockList itself.
 */
const SPECIAL_PURPOSE: ReadonlyArray<readonly [string, number, "ipv4" | "ipv6"]> = [
  ["0.0.0.0", 8, "ipv4"],
  ["10.0.0.0", 8, "ipv4"],
  ["100.64.0.0", 10, "ipv4"],
  ["127.0.0.0", 8, "ipv4"],
  ["169.254.0.0", 16, "ipv4"],
  ["172.16.0.0", 12, "ipv4"],
  ["192.0.0.0", 24, "ipv4"],
  ["192.168.0.0", 16, "ipv4"],
  ["198.18.0.0", 15, "ipv4"],
  ["224.0.0.0", 4, "ipv4"],
  ["240.0.0.0", 4, "ipv4"],
  // Unspecified (::), loopback (::1) and the deprecated IPv4-compatible addresses (::a.b.c.d).
  ["::", 96, "ipv6"],
  // IPv4-translated (SIIT, RFC 2765, ::ffff:0:a.b.c.d): a stateless translator maps it to the IPv4 address it embeds;
  // no public service is reached that way.
  ["::ffff:0:0:0", 96, "ipv6"],
  ["64:ff9b:1::", 48, "ipv6"],
  ["100::", 64, "ipv6"],
  // Teredo and 6to4 tunnel to the IPv4 address they embed, whatever it is; both are deprecated.
  ["2001::", 32, "ipv6"],
  ["2002::", 16, "ipv6"],
  ["fc00::", 7, "ipv6"],
  ["fe80::", 10, "ipv6"],
  ["fec0::", 10, "ipv6"],
  ["ff00::", 8, "ipv6"],
];

const REFUSED = new BlockList();
for (const [network, prefix, family] of SPECIAL_PURPOSE) REFUSED.addSubnet(network, prefix, family);

/** The NAT64 well-known prefix (RFC 6052): 64:ff9b::a.b.c.d reaches a.b.c.d, so it is that address which is checked. */
const NAT64 = new BlockList();
NAT64.addSubnet("64:ff9b::", 96, "ipv6");

/** The eight 16-bit groups of an IPv6 address that isIP accepted, a dotted IPv4 tail included. */
function ipv6Groups(address: string): number[] {
  const dotted = /^(.*:)(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(address);
  const text = dotted
    ? `${dotted[1]}${((Number(dotted[2]) << 8) | Number(dotted[3])).toString(16)}:${((Number(dotted[4]) << 8) | Number(dotted[5])).toString(16)}`
    : address;
  const groups = (part: string | undefined): number[] => (part ? part.split(":").map((g) => parseInt(g, 16)) : []);
  const [head, tail] = text.split("::");
  const before = groups(head);
  const after = groups(tail);
  return [...before, ...Array<number>(8 - before.length - after.length).fill(0), ...after];
}

/** The IPv4 address in the last 32 bits of an IPv6 one. */
function embeddedIpv4(address: string): string {
  const [high = 0, low = 0] = ipv6Groups(address).slice(6);
  return [high >> 8, high & 0xff, low >> 8, low & 0xff].join(".");
}

/** `10.20.0.0/16` as BlockList arguments; a TypeError for anything else (the config schema has checked it). */
function parseCidr(cidr: string): [string, number, "ipv4" | "ipv6"] {
  const [address = "", prefix = ""] = cidr.split("/");
  const family = isIP(address);
  if (family === 0 || !/^\d{1,3}$/.test(prefix)) throw new TypeError(`not a network in CIDR notation: ${cidr}`);
  return [address, Number(prefix), family === 4 ? "ipv4" : "ipv6"];
}

/** Where the issuer may fetch clients' key sets from: public addresses, and those of the networks the operator allows. */
export class KeyServerAddresses {
  readonly #allowed = new BlockList();

  /** `allowPrivateNetworks`: CIDR networks taken even though special-purpose (config `client_jwks_uri.allow_private_networks`). */
  constructor(allowPrivateNetworks: readonly string[] = []) {
    for (const cidr of allowPrivateNetworks) this.#allowed.addSubnet(...parseCidr(cidr));
  }

  /** Why the issuer must not connect to the IP address `address`, or undefined when it may. */
  refusal(address: string): string | undefined {
    // A zone (fe80::1%eth0) names an interface, not another address.
    const bare = address.split("%")[0] ?? "";
    const family = isIP(bare) === 4 ? "ipv4" : isIP(bare) === 6 ? "ipv6" : undefined;
    if (family === undefined) return `${address} is not an IP address`;
    if (this.#allowed.check(bare, family)) return undefined;
    if (family === "ipv6" && NAT64.check(bare, "ipv6")) return this.refusal(embeddedIpv4(bare));
    if (REFUSED.check(bare, family)) return `${bare} is not a public address, nor in client_jwks_uri.allow_private_networks`;
    return undefined;
  }
}

/**
 * Why `jwksUri` may not be a registered client's jwks_uri, or undefined: its host is an IP address the issuer would
 * not connect to (a name is checked where it resolves, as the issuer connects). Not a URL, or not https, is the
 * config schema's to say. The answer never repeats the URL.
 */
export function jwksUriProblem(jwksUri: string, addresses: KeyServerAddresses = new KeyServerAddresses()): string | undefined {
  if (!URL.canParse(jwksUri)) return undefined;
  const host = new URL(jwksUri).hostname.replace(/^\[(.*)\]$/, "$1");
  if (isIP(host) === 0 || addresses.refusal(host) === undefined) return undefined;
  return "its host is a private, loopback, link-local or other non-public address, which the issuer does not fetch from";
}
