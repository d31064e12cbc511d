/** RFC 8414 authorization server metadata (also served as the OIDC discovery document). */

/** The metadata document for an issuer identifier. */
export function serverMetadata(issuer: string, scopesSupported?: readonly string[]): Record<string, unknown> {
  // Only what is served today: private_key_jwt and the jwt-bearer grant are not yet.
  const auth = ["client_secret_basic", "client_secret_post"];
  return {
    issuer,
    token_endpoint: `${issuer}/oauth2/token`,
    jwks_uri: `${issuer}/oauth2/jwks`,
    introspection_endpoint: `${issuer}/oauth2/introspect`,
    revocation_endpoint: `${issuer}/oauth2/revoke`,
    grant_types_supported: ["client_credentials", "urn:ietf:params:oauth:grant-type:token-exchange"],
    response_types_supported: ["token"],
    token_endpoint_auth_methods_supported: auth,
    introspection_endpoint_auth_methods_supported: auth,
    revocation_endpoint_auth_methods_supported: auth,
    ...(scopesSupported && scopesSupported.length > 0 && { scopes_supported: [...scopesSupported] }),
  };
}
