import { ConfigError } from "./index.js";

/** The problems a ConfigError names, or a failure when the config was accepted. */
export function problemsOf(fn: () => unknown): readonly string[] {
  try {
    fn();
  } catch (err) {
    if (err instanceof ConfigError) return err.problems;
    throw err;
  }
  throw new Error("expected a ConfigError");
}
