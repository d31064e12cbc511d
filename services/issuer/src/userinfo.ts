/**
 * OIDC UserInfo (Core §5.3) from the configured user directory: `sub`
 * always, and the standard claims each granted scope releases (§5.4).
 */

/** Claims released per OIDC standard scope. */
export const SCOPE_CLAIMS: Readonly<Record<string, readonly string[]>> = {
  profile: [
    "name",
    "family_name",
    "given_name",
    "middle_name",
    "nickname",
    "preferred_username",
    "profile",
    "picture",
    "website",
    "gender",
    "birthdate",
    "zoneinfo",
    "locale",
    "updated_at",
  ],
  email: ["email", "email_verified"],
  address: ["address"],
  phone: ["phone_number", "phone_number_verified"],
};

/** The claims a set of scopes releases for a user. */
export function userInfoClaims(
  sub: string,
  scopes: readonly string[],
  directory: Readonly<Record<string, Readonly<Record<string, unknown>>>>,
): Record<string, unknown> {
  // Own members only: a subject named `constructor` is no user, and must not be released Object's `name` as its own.
  const user = Object.hasOwn(directory, sub) ? (directory[sub] as Readonly<Record<string, unknown>>) : {};
  const out: Record<string, unknown> = { sub };
  for (const scope of scopes) {
    const claims = Object.hasOwn(SCOPE_CLAIMS, scope) ? (SCOPE_CLAIMS[scope] as readonly string[]) : [];
    for (const claim of claims) if (Object.hasOwn(user, claim) && user[claim] !== undefined) out[claim] = user[claim];
  }
  return out;
}
