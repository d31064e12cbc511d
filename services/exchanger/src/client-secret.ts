/**
 * A client secret the exchanger presents to another party, given as a value
 * (taken from the environment by config.ts) or as a file read again at each
 * use, so a rotated Kubernetes Secret volume takes effect without a restart.
 * Nothing here logs or throws the secret itself.
 */
import { readFileSync } from "node:fs";
import { readFile } from "node:fs/promises";

/** A secret as the settings give it. */
export type SecretSource = { value: string } | { file: string };

/** Reads `source` at each call; `what` names it in errors (a config path, never the secret). */
export function secretReader(source: SecretSource, what: string): () => Promise<string> {
  if ("value" in source) {
    if (source.value === "") throw new Error(`${what}: empty`);
    return () => Promise.resolve(source.value);
  }
  const { file } = source;
  // Read once now, so a wrong path or an empty file stops the start naming the file instead of failing every exchange.
  let last: string;
  try {
    last = readFileSync(file, "utf8").trim();
  } catch (err) {
    throw new Error(`${what}: cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? "unreadable"}`);
  }
  if (last === "") throw new Error(`${what}: ${file} is empty`);
  return async () => {
    try {
      // Files written with `echo` or by editors end with a newline that is no part of the secret.
      const current = (await readFile(file, "utf8")).trim();
      // A Secret volume between two versions may be briefly unreadable or empty: the copy read before still holds.
      if (current !== "") last = current;
    } catch {
      // Same: keep the last copy read.
    }
    return last;
  };
}
