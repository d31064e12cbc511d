/** RFC 8693 §3 token type identifiers and the JWT `typ` values we issue and accept. */
export const TOKEN_TYPE = {
  ACCESS_TOKEN: "urn:ietf:params:oauth:token-type:access_token",
  REFRESH_TOKEN: "urn:ietf:params:oauth:token-type:refresh_token",
  ID_TOKEN: "urn:ietf:params:oauth:token-type:id_token",
  JWT: "urn:ietf:params:oauth:token-type:jwt",
} as const;

/** One of the token type URNs. */
export type TokenTypeUrn = (typeof TOKEN_TYPE)[keyof typeof TOKEN_TYPE];

/** Token types an exchange may issue (RFC 8693 §2.1 requested_token_type): the exchanger's rule and Mint's check. */
export const ISSUABLE_TOKEN_TYPES: ReadonlySet<string> = new Set([TOKEN_TYPE.ACCESS_TOKEN, TOKEN_TYPE.JWT]);

/** RFC 9068 §2.1: access tokens carry `typ: at+jwt`. */
export const ACCESS_TOKEN_TYP = "at+jwt";

/** The RFC 7523 assertion and client assertion type URNs. */
export const JWT_BEARER = {
  GRANT_TYPE: "urn:ietf:params:oauth:grant-type:jwt-bearer",
  CLIENT_ASSERTION_TYPE: "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
} as const;

/** RFC 8693 §2.1 grant type. */
export const TOKEN_EXCHANGE_GRANT = "urn:ietf:params:oauth:grant-type:token-exchange";
