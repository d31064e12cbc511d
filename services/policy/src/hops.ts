/**
 * The config file's simple hop declarations, compiled into Cedar policies an
 * operator can read, list and edit through the policy service.
 */

/** A hop as declared in the config file. */
export interface HopDeclaration {
  from: string;
  to: string;
  scopes: readonly string[];
  default_scopes?: readonly string[];
  max_depth?: number;
  require_caller_in_audience?: boolean;
}

/** Escapes a Cedar string literal so no id or scope can inject policy text. */
export function cedarString(value: string): string {
  let out = '"';
  for (const ch of value) {
    const code = ch.codePointAt(0) as number;
    if (ch === '"' || ch === "\\") out += `\\${ch}`;
    else if (code < 0x20 || code === 0x7f) out += `\\u{${code.toString(16)}}`;
    else out += ch;
  }
  return `${out}"`;
}

/** A `like` pattern matching everything under a structured scope's path. */
function likeUnder(scope: string): string {
  return `${cedarString(scope).slice(0, -1).replace(/\*/g, "\\*")}/*"`;
}

const STRUCTURED = /^[A-Za-z][A-Za-z0-9._-]*:\//;

function scopeCondition(scopes: readonly string[]): string {
  const plain = scopes.filter((s) => !STRUCTURED.test(s));
  const structured = scopes.filter((s) => STRUCTURED.test(s));
  const parts: string[] = [];
  if (plain.length > 0) parts.push(`[${plain.map(cedarString).join(", ")}].contains(context.scope)`);
  for (const s of structured) {
    // The path itself, or anything below it by path segment (never a string prefix).
    const base = s.endsWith("/") ? s.slice(0, -1) : s;
    parts.push(`context.scope == ${cedarString(s)} || context.scope like ${likeUnder(base)}`);
  }
  return parts.length > 0 ? parts.join("\n    || ") : "false";
}

/** The Cedar policies for a list of hops. */
export function compileHops(hops: readonly HopDeclaration[]): Array<{ id: string; text: string; description: string }> {
  return hops.flatMap((hop) => {
    const name = `hop/${hop.from}/${hop.to}`;
    const defaults = (hop.default_scopes ?? hop.scopes).join(" ");
    const head = `principal == Client::${cedarString(hop.from)},`;
    const presenter = hop.require_caller_in_audience === false ? "" : "\nwhen { context.caller_in_audience }";
    const annotations = [
      `@id(${cedarString(`${name}/exchange`)})`,
      `@default_scope(${cedarString(defaults)})`,
      ...(hop.max_depth ? [`@max_depth("${hop.max_depth}")`] : []),
    ].join("\n");
    return [
      {
        id: `${name}/exchange`,
        description: `config hop: ${hop.from} may exchange for ${hop.to}`,
        text: `${annotations}\npermit (\n  ${head}\n  action == Action::"exchange",\n  resource == Audience::${cedarString(hop.to)}\n)${presenter};`,
      },
      {
        id: `${name}/scopes`,
        description: `config hop: scopes ${hop.from} may obtain for ${hop.to}`,
        text: `@id(${cedarString(`${name}/scopes`)})\npermit (\n  ${head}\n  action == Action::"request_scope",\n  resource == Audience::${cedarString(hop.to)}\n)\nwhen {\n  ${scopeCondition(hop.scopes)}\n};`,
      },
    ];
  });
}
