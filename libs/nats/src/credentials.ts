/**
 * How a service proves who it is to NATS. Credentials given as files are read
 * again at every (re)connect, so a rotated `.creds` file, nkey seed, password
 * or token (a Kubernetes Secret volume is updated in place) takes effect at
 * the next reconnect without a restart. Nothing here logs or throws a secret.
 */
import { rotatingFile, secretReader } from "@sts/config";
import type { SecretSource, StaleCopyListener } from "@sts/config";
import { credsAuthenticator, nkeyAuthenticator, tokenAuthenticator, usernamePasswordAuthenticator } from "@nats-io/transport-node";
import type { Authenticator } from "@nats-io/transport-node";
import type { NatsLogger } from "./connection.js";

/** A secret given as is (from the environment) or as a file read at each connect. */
export type NatsSecret = SecretSource;

/** One way of authenticating to NATS. */
export type NatsAuth =
  /** Decentralized JWT auth: a `.creds` file holding the user JWT and its nkey seed. */
  | { kind: "creds"; file: string }
  /** An nkey seed file; the server knows the user by its public key. */
  | { kind: "nkey"; seedFile: string }
  | { kind: "user"; user: string; password: NatsSecret }
  | { kind: "token"; token: NatsSecret };

/** Says which credentials were used, for error messages: never their content. */
export function describeNatsAuth(auth: NatsAuth | undefined): string {
  switch (auth?.kind) {
    case undefined:
      return "no credentials";
    case "creds":
      return `the credentials file ${auth.file}`;
    case "nkey":
      return `the nkey seed file ${auth.seedFile}`;
    case "user":
      return `user "${auth.user}" (password ${"file" in auth.password ? `in ${auth.password.file}` : "from the environment"})`;
    case "token":
      return "file" in auth.token ? `the token in ${auth.token.file}` : "the token from the environment";
  }
}

/** A file unusable at a reconnect after it once was (a Secret volume between two versions): the copy read before is used. */
const warnStale =
  (logger: NatsLogger | undefined, what: string): StaleCopyListener =>
  (file, reason) =>
    logger?.warn({ file, reason }, `${what} unreadable; using the copy read before`);

/**
 * The nats.js authenticator for `auth`, reading its files at each handshake.
 * It is tried once here, so a missing or malformed file fails the start with
 * the file's name instead of failing every connection attempt.
 */
export function natsAuthenticator(auth: NatsAuth, logger?: NatsLogger): Authenticator {
  let authenticator: Authenticator;
  switch (auth.kind) {
    case "creds": {
      const read = rotatingFile(auth.file, "NATS credentials file", warnStale(logger, "NATS credentials file"));
      // One read per handshake: credsAuthenticator given a function reads it twice (JWT, then seed), and a
      // rotation between the two reads would pair a JWT with another user's seed.
      authenticator = (nonce) => credsAuthenticator(read())(nonce);
      break;
    }
    case "nkey": {
      const read = secretReader({ file: auth.seedFile }, "NATS nkey seed", warnStale(logger, "NATS nkey seed file"));
      authenticator = (nonce) => nkeyAuthenticator(new TextEncoder().encode(read()))(nonce);
      break;
    }
    case "user":
      authenticator = usernamePasswordAuthenticator(auth.user, secretReader(auth.password, "NATS password", warnStale(logger, "NATS password file")));
      break;
    case "token":
      authenticator = tokenAuthenticator(secretReader(auth.token, "NATS token", warnStale(logger, "NATS token file")));
      break;
  }
  try {
    authenticator("startup-check");
  } catch (err) {
    // Our own read errors name the file; the parsers' errors are replaced, as they might quote what they could not parse.
    if (err instanceof Error && err.message.startsWith("cannot read the NATS")) throw err;
    throw new Error(
      `${describeNatsAuth(auth)} is not usable: expected ${auth.kind === "creds" ? "a .creds file (nsc generate creds)" : "an nkey seed (SU...)"}`,
    );
  }
  return authenticator;
}
