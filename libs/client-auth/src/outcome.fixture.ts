/** How a call ended, for tests (left out of the build). */
import { OAuthError } from "@sts/errors";

/** "ok", or the OAuth refusal's [code, description]; any other error is the test's failure. */
export async function outcome(p: Promise<unknown>): Promise<"ok" | [string, string]> {
  try {
    await p;
    return "ok";
  } catch (err) {
    if (err instanceof OAuthError) return [err.code, err.description];
    throw err;
  }
}
