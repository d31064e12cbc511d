/** RFC 8414 authorization server metadata (also served as the OIDC discovery document). */

/** The metadata document for an issuer identifier. */
export function serverMetadata(
  issuer: string,
  options: { scopesSupported?: readonly string[]; idTokenSigningAlgs?: readonly string[]; registration?: boolean } = {},
): Record<string, unknown> {
  const { scopesSupported, idTokenSigningAlgs = ["ES256"], registration = false } = options;
  const auth = ["client_secret_basic", "client_secret_post", "private_key_jwt"];
  const algs = ["ES256", "ES384", "EdDSA", "RS256", "PS256"];
  return {
    issuer,
    token_endpoint: `${issuer}/oauth2/token`,
    jwks_uri: `${issuer}/oauth2/jwks`,
    introspection_endpoint: `${issuer}/oauth2/introspect`,
    revocation_endpoint: `${issuer}/oauth2/revoke`,
    userinfo_endpoint: `${issuer}/oauth2/userinfo`,
    grant_types_supported: [
      "client_credentials",
      "urn:ietf:params:oauth:grant-type:token-exchange",
      "urn:ietf:params:oauth:grant-type:jwt-bearer",
      "refresh_token",
    ],
    // No authorization endpoint, so no response type (RFC 8414 §2 requires the member; "token" would claim the implicit flow).
    response_types_supported: [],
    // OIDC Discovery §3: ID tokens come from the jwt-bearer and dedicated-issuer grants, signed with the issuer's key.
    subject_types_supported: ["public"],
    id_token_signing_alg_values_supported: [...idTokenSigningAlgs],
    ...(registration && { registration_endpoint: `${issuer}/oauth2/register` }),
    token_endpoint_auth_methods_supported: auth,
    token_endpoint_auth_signing_alg_values_supported: algs,
    introspection_endpoint_auth_methods_supported: auth,
    introspection_endpoint_auth_signing_alg_values_supported: algs,
    revocation_endpoint_auth_methods_supported: auth,
    revocation_endpoint_auth_signing_alg_values_supported: algs,
    ...(scopesSupported && scopesSupported.length > 0 && { scopes_supported: [...scopesSupported] }),
  };
}
