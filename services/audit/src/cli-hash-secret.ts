/**
 * `stsctl hash-secret`: the `client_secret_hash` of a secret, for a config file that should not hold secrets in
 * clear. The secret is read from standard input, never from the command line, where shell history and process
 * listings would keep it.
 */
import { hashSecret } from "@sts/client-auth";
import { MIN_CLIENT_SECRET_CHARS } from "@sts/config";
import { UsageError } from "./cli-credential.js";

/** The secret in what was read from standard input: its one line, without the line break `echo` or a terminal adds. */
export function secretFromInput(input: string): string {
  const secret = input.replace(/\r?\n$/, "");
  if (/[\r\n]/.test(secret)) throw new UsageError("standard input holds more than one line; give the secret alone");
  if (secret.length < MIN_CLIENT_SECRET_CHARS) {
    throw new UsageError(`the secret must be at least ${MIN_CLIENT_SECRET_CHARS} characters (as clients[].client_secret)`);
  }
  if (secret.trim() !== secret) throw new UsageError("the secret begins or ends with a space or a tab; a client would have to send it so");
  return secret;
}

/** Reads the secret from standard input and prints its scrypt hash (`scrypt$N$r$p$salt$hash`) through `out`. */
export async function runHashSecret(stdin: AsyncIterable<Buffer | string>, out: (line: string) => void): Promise<number> {
  let input = "";
  for await (const chunk of stdin) {
    input += typeof chunk === "string" ? chunk : chunk.toString("utf8");
    // A secret is short; a larger input is a mistake (a file of something else), not read to its end.
    if (input.length > 4096) throw new UsageError("standard input is longer than any secret; give the secret alone");
  }
  out(await hashSecret(secretFromInput(input)));
  return 0;
}
