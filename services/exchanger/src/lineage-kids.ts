/**
 * The keys of this issuer a new token's authority rests on (`lineage_kids`),
 * carried down every exchange as `lineage` carries the jtis, so that
 * withdrawing a key ends every token exchanged from one it signed.
 */
import type { AccessTokenClaims } from "@sts/jwt";

/** A verified token an exchange is made from: the kid in its header, its claims, and whether another issuer signed it. */
export interface PresentedToken {
  kid: string | undefined;
  claims: Pick<AccessTokenClaims, "lineage_kids">;
  foreign: boolean;
}

/**
 * The new token's `lineage_kids`: the kids of this issuer that signed the subject token (its header) and the tokens it
 * was exchanged from (its own claim), then an actor token's likewise, each once. Withdrawing any of those keys must end
 * the new token too: a thief of one could have forged the token its authority came from, and the delegation rests on
 * the actor token as much as on the subject token (as `lineage` does). Another issuer's token adds nothing: its keys
 * are not ours to withdraw. No longer than the new `lineage` (each of its tokens was signed by one key), so it fits
 * wherever that does; the issuer leaves out the kid it signs the new token with.
 */
export function lineageKidsFor(subject: PresentedToken, actor?: PresentedToken): string[] {
  const kids = new Set<string>();
  for (const token of actor ? [subject, actor] : [subject]) {
    if (token.foreign) continue;
    if (token.kid !== undefined) kids.add(token.kid);
    for (const kid of token.claims.lineage_kids ?? []) kids.add(kid);
  }
  return [...kids];
}
