/**
 * The credential stsctl presents to an operator API: the person's own access
 * token, from an environment variable or a file, so each call is recorded
 * under its name; without one, the API's shared break-glass secret, recorded
 * as such. Never a token on the command line: it would stay in shell history
 * and process listings.
 */
import { Metadata } from "@grpc/grpc-js";
import { isPresentableCredential, secretReader } from "@sts/config";

/** A mistake in how stsctl was called: said on stderr, exit code 2. */
export class UsageError extends Error {}

/** Where one API's credentials come from: environment variable names. */
export interface CredentialSources {
  /** The person's access token (STS_AUDIT_ACCESS_TOKEN, STS_POLICY_ACCESS_TOKEN). */
  accessToken: string;
  /** The shared break-glass secret (STS_AUDIT_TOKEN, STS_POLICY_ADMIN_TOKEN), used only without an access token; some APIs have none. */
  breakGlass?: string;
}

/**
 * The credential itself, or a UsageError naming where it came from and never what it holds. A credential grpc-js
 * cannot send (a stray line break from `echo`, a pasted non-ASCII character) would otherwise be printed whole on
 * stderr, into terminals and CI logs, by grpc-js's own error.
 */
function presentable(credential: string | undefined, from: string): string | undefined {
  if (credential === undefined || isPresentableCredential(credential)) return credential;
  throw new UsageError(`${from} holds a character a gRPC header cannot carry (a line break, a tab or a non-ASCII character); its content is not shown`);
}

/** The credential to present: --access-token-file's token, else the access token variable's, else the break-glass secret. */
export function bearerCredential(file: string | undefined, env: NodeJS.ProcessEnv, sources: CredentialSources): string | undefined {
  if (file === undefined) {
    const accessToken = env[sources.accessToken]?.trim();
    if (accessToken) return presentable(accessToken, sources.accessToken);
    const name = sources.breakGlass;
    const breakGlass = name === undefined ? undefined : env[name];
    return name && breakGlass ? presentable(breakGlass, name) : undefined;
  }
  let token: string;
  try {
    token = secretReader({ file }, "access token")();
  } catch (err) {
    // The reader's messages name the file and never its content.
    throw new UsageError((err as Error).message);
  }
  return presentable(token, `the access token file ${file}`);
}

/** Call metadata carrying the credential as a bearer, when there is one. */
export function bearerMetadata(credential: string | undefined): Metadata {
  const metadata = new Metadata();
  if (credential) metadata.set("authorization", `Bearer ${presentable(credential, "the credential")}`);
  return metadata;
}
