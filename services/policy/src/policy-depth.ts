/**
 * A bound on how deeply a Cedar policy text nests, read from its tokens before
 * cedar-wasm ever sees it.
 *
 * cedar-wasm parses, validates and evaluates by recursion on the wasm stack,
 * which is V8's stack. A text nesting a few hundred levels (`((((…))))`, a
 * chain of 400 `||`, 200 nested records or `ip(` calls: under a kilobyte)
 * exhausts it, and a stack overflow that unwinds through wasm leaves the
 * module's memory corrupt: every later call of this process fails ("memory
 * access out of bounds"), so one Validate from a read-only operator made a
 * replica deny every exchange until restarted. Cedar's own errors cannot
 * help, since they come from the very recursion that overflows; the bound has
 * to be checked first, without recursion.
 *
 * The measure is an upper bound of the depth of the tree Cedar builds: within
 * one element of a bracket level (commas separate independent elements: set
 * and record entries, arguments) every operator (binary, unary, member
 * access, `if`, and each bracket opened there) can add at most one level, so
 * an element costs its operator count plus the deepest bracket inside it, and
 * each bracket level adds {@link BRACKET_COST} for the grammar levels Cedar
 * passes through to reach a parenthesised expression. Entity paths
 * (`A::B::"x"`) are read without recursion and cost nothing.
 */

/** Largest {@link policyDepth} accepted: about a third of what overflows the stack of a gRPC handler on Node 20. */
export const MAX_POLICY_DEPTH = 128;

/** What one bracket level costs beyond its operators (Cedar descends through its precedence levels for each). */
const BRACKET_COST = 4;

const OPEN = new Set(["(", "[", "{"]);
const CLOSE = new Set([")", "]", "}"]);
// Two-character operators first: `||` is one operator, not two. `::` is consumed as a whole and counts for nothing.
const OPERATOR = /^(?:::|\|\||&&|==|!=|<=|>=|[<>+\-*!.])/;
const IDENTIFIER = /^[A-Za-z_][A-Za-z0-9_]*/;
// Keywords that build a node of their own.
const KEYWORD_OPERATORS = new Set(["if", "like", "has", "in", "is"]);

/** One bracket level being read: its current element, and the deepest of its earlier elements. */
interface Level {
  operators: number;
  deepestInside: number;
  deepestElement: number;
}

const newLevel = (): Level => ({ operators: 0, deepestInside: 0, deepestElement: 0 });

/** Ends the current element of `level`: its cost joins the deepest seen, and counting starts afresh. */
function endElement(level: Level): void {
  level.deepestElement = Math.max(level.deepestElement, level.operators + level.deepestInside);
  level.operators = 0;
  level.deepestInside = 0;
}

/** An upper bound of the nesting depth of the Cedar expression tree `text` parses to; never throws, never recurses. */
export function policyDepth(text: string): number {
  const levels: Level[] = [newLevel()];
  const close = (): void => {
    const done = levels.pop() as Level;
    endElement(done);
    const parent = levels[levels.length - 1] as Level;
    parent.deepestInside = Math.max(parent.deepestInside, done.deepestElement + BRACKET_COST);
  };
  let i = 0;
  while (i < text.length) {
    const ch = text[i] as string;
    if (ch === '"') {
      // A string literal: skip to its closing quote, past escapes. An unterminated one runs to the end (Cedar refuses it).
      i++;
      while (i < text.length && text[i] !== '"') i += text[i] === "\\" ? 2 : 1;
      i++;
      continue;
    }
    if (text.startsWith("//", i)) {
      const end = text.indexOf("\n", i);
      i = end === -1 ? text.length : end + 1;
      continue;
    }
    const level = levels[levels.length - 1] as Level;
    if (OPEN.has(ch)) {
      // Counted at its own level too: `when {…} when {…}` and `f(…)(…)` chain there.
      level.operators++;
      levels.push(newLevel());
      i++;
      continue;
    }
    if (CLOSE.has(ch)) {
      // An unbalanced closer is Cedar's syntax error to report; it changes no depth here.
      if (levels.length > 1) close();
      i++;
      continue;
    }
    // A `;` ends a statement as a `,` ends an element: what follows is a tree of its own.
    if (ch === "," || ch === ";") {
      endElement(level);
      i++;
      continue;
    }
    const operator = OPERATOR.exec(text.slice(i, i + 2));
    if (operator) {
      if (operator[0] !== "::") level.operators++;
      i += operator[0].length;
      continue;
    }
    const word = IDENTIFIER.exec(text.slice(i, i + 64));
    if (word) {
      if (KEYWORD_OPERATORS.has(word[0])) level.operators++;
      i += word[0].length;
      // An identifier longer than the slice continues as another word: it holds no operator either way.
      continue;
    }
    i++;
  }
  while (levels.length > 1) close();
  const root = levels[0] as Level;
  endElement(root);
  return root.deepestElement;
}
