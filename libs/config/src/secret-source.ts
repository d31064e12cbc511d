/**
 * Secrets and credential files that rotate in place (a Kubernetes Secret
 * volume is updated under a running pod): a file is read again at each use,
 * so a rotation takes effect without a restart. It is read once when the
 * reader is made, so a wrong path stops the start naming the file; later, a
 * file briefly unreadable or empty (mid-update) gives the copy read before.
 * No error here carries a secret's content.
 */
import { readFileSync } from "node:fs";

/** A secret given as is (from the environment) or as a file read again at each use. */
export type SecretSource = { value: string } | { file: string };

/** Told when a file could not be used and the copy read before was given instead. */
export type StaleCopyListener = (file: string, reason: string) => void;

const errorCode = (err: unknown): string => (err as NodeJS.ErrnoException).code ?? "unreadable";

/** Reads `file` at each call, as raw bytes; `what` names it in errors ("NATS credentials file"). */
export function rotatingFile(file: string, what: string, onStale?: StaleCopyListener): () => Buffer {
  let last: Buffer;
  try {
    last = readFileSync(file);
  } catch (err) {
    throw new Error(`cannot read the ${what} ${file}: ${errorCode(err)}`, { cause: err });
  }
  return () => {
    try {
      last = readFileSync(file);
    } catch (err) {
      onStale?.(file, errorCode(err));
    }
    return last;
  };
}

/**
 * A secret's text at each call: a value as is, or a file's content without the whitespace around it (echo's newline).
 * `what` names the secret in errors ("NATS password": "cannot read the NATS password file …").
 */
export function secretReader(source: SecretSource, what: string, onStale?: StaleCopyListener): () => string {
  if ("value" in source) {
    if (source.value === "") throw new Error(`the ${what} is empty`);
    return () => source.value;
  }
  const { file } = source;
  const read = rotatingFile(file, `${what} file`, onStale);
  let last = read().toString("utf8").trim();
  if (last === "") throw new Error(`the ${what} file ${file} is empty`);
  return () => {
    const current = read().toString("utf8").trim();
    if (current !== "") last = current;
    else onStale?.(file, "empty");
    return last;
  };
}
