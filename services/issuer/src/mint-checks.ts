/**
 * What Mint checks again of the delegation record the exchanger computed. Only the issuer signs (ARCHITECTURE.md), so
 * it does not write into a token, or into the `token.exchanged` event auditors walk for lineage, what no exchange can
 * produce: an `act` chain whose current actor is not the client the token is issued to (RFC 8693 §4.1: the outermost
 * `act` is the party now acting, and the exchanger always names its authenticated caller there), one cut short or
 * deeper than `exchange.max_depth`, or a lineage parent that is not the token exchanged.
 */
import { invalidRequest, isCleanText } from "@sts/errors";
import { MAX_CLIENT_ID_CHARS } from "@sts/jwt";
import type { ActClaim } from "@sts/jwt";
import type { Actor__Output } from "@sts/proto";
import { MAX_DECISION_NAME_LENGTH } from "@sts/scopes";

/** A name of this stack that goes into a token and its event: present, bounded, and shown as written to auditors. */
const isCarriedName = (value: string, max: number): boolean => value.length > 0 && value.length <= max && isCleanText(value);

/**
 * MintRequest.act as the JWT `act` claim (undefined when absent), checked: every actor a client id of this stack, the
 * outermost one `clientId`, at most `maxDepth` deep. An actor with an empty `sub` is refused, never read as the end of
 * the chain: that would drop the earlier actors (and with them the revocation of any of them) without a word.
 */
export function checkedActChain(actor: Actor__Output | null | undefined, clientId: string, maxDepth: number): ActClaim | undefined {
  if (!actor) return undefined;
  const subs: string[] = [];
  // Iterative: the proto message may nest as deep as the message size allows.
  for (let node: Actor__Output | null | undefined = actor; node; node = node.act) {
    if (subs.length === maxDepth) throw invalidRequest(`act chain deeper than ${maxDepth} (exchange.max_depth)`);
    if (!isCarriedName(node.sub, MAX_CLIENT_ID_CHARS)) {
      throw invalidRequest(`malformed act chain: every actor must be a client id of at most ${MAX_CLIENT_ID_CHARS} characters`);
    }
    subs.push(node.sub);
  }
  if (subs[0] !== clientId) throw invalidRequest("act must name the client the token is issued to as its current actor (RFC 8693 section 4.1)");
  return subs.reduceRight<ActClaim | undefined>((inner, sub) => (inner ? { sub, act: inner } : { sub }), undefined);
}

/**
 * MintRequest.parent_jti, checked (empty: none, as for a token minted from no other): the token exchanged, which is
 * either ours, and then the first jti of the new token's lineage, or a trusted issuer's, named `<iss>#<jti>` after
 * `subjectIssuer` (never this issuer) so that no jti of another issuer's reads as one of ours.
 */
export function checkedParentJti(parentJti: string, lineage: readonly string[], subjectIssuer: string, ownIssuer: string): string | undefined {
  if (parentJti === "") return undefined;
  if (parentJti === lineage[0]) return parentJti;
  const foreignPrefix = subjectIssuer !== "" && subjectIssuer !== ownIssuer ? `${subjectIssuer}#` : undefined;
  if (foreignPrefix && parentJti.startsWith(foreignPrefix) && isCarriedName(parentJti.slice(foreignPrefix.length), MAX_DECISION_NAME_LENGTH)) {
    return parentJti;
  }
  throw invalidRequest("parent_jti must name the token exchanged: the first jti of the lineage, or <subject_issuer>#<jti> for a trusted issuer's token");
}
