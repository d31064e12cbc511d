/**
 * Detects duplicate object members in JSON text. JSON.parse keeps the last of
 * `{"sub":"alice","sub":"admin"}` while other parsers keep the first, so a
 * token with duplicates means different things to different verifiers
 * (RFC 7515 §5.2 and RFC 8259 §4: such a JWS MUST be rejected or use last;
 * we reject).
 */
export function hasDuplicateMembers(json: string): boolean {
  const stack: Array<{ keys: Set<string> | null; expectKey: boolean }> = [];
  for (let i = 0; i < json.length; i++) {
    const ch = json[i];
    const top = stack[stack.length - 1];
    switch (ch) {
      case "{":
        stack.push({ keys: new Set(), expectKey: true });
        break;
      case "[":
        stack.push({ keys: null, expectKey: false });
        break;
      case "}":
      case "]":
        stack.pop();
        break;
      case ",":
        if (top?.keys) top.expectKey = true;
        break;
      case ":":
        if (top) top.expectKey = false;
        break;
      case '"': {
        let j = i + 1;
        while (j < json.length && json[j] !== '"') j += json[j] === "\\" ? 2 : 1;
        if (top?.keys && top.expectKey) {
          let key: string;
          try {
            key = JSON.parse(json.slice(i, j + 1)) as string;
          } catch {
            return true; // not valid JSON: treat as hostile
          }
          if (top.keys.has(key)) return true;
          top.keys.add(key);
          top.expectKey = false;
        }
        i = j;
        break;
      }
      default:
        break;
    }
  }
  return false;
}
