/**
 * A service's shared break-glass credential (STS_AUDIT_TOKEN,
 * STS_POLICY_ADMIN_TOKEN), read from the environment once at start. It is
 * compared with what a caller sends in a gRPC `authorization` header, which
 * can carry only printable ASCII and loses spaces at its ends; a secret
 * outside that (a Secret written with `echo`, so with a line break) could
 * never be presented, and the operator would find out only when every
 * break-glass call failed. So it stops the start instead, naming the
 * variable and never its content.
 */
import { ConfigError } from "./load.js";

const PRESENTABLE = /^[\x21-\x7e](?:[\x20-\x7e]*[\x21-\x7e])?$/;

/**
 * Whether a caller can send `credential` as is in a gRPC `authorization` header: printable ASCII, no space at its
 * ends. grpc-js refuses anything else with an error that quotes the whole value.
 */
export function isPresentableCredential(credential: string): boolean {
  return PRESENTABLE.test(credential);
}

/** The break-glass secret in `env[name]`, undefined when unset or empty; a ConfigError when no caller could present it. */
export function breakGlassSecret(env: NodeJS.ProcessEnv, name: string): string | undefined {
  const value = env[name];
  if (value === undefined || value === "") return undefined;
  if (isPresentableCredential(value)) return value;
  throw new ConfigError(name, [
    `${name} holds a character a gRPC header cannot carry, or space at its ends (a line break from echo, a tab, a non-ASCII character); no caller could present it. Its content is not shown.`,
  ]);
}
