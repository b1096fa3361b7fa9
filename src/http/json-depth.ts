/** What one pass over JSON text can tell before it is parsed. */
export interface JsonTextScan {
  /** Objects and arrays nest deeper than the limit somewhere (a top-level `{}` is depth 1). */
  tooDeep: boolean;
  /** Object keys in the text: the colons outside strings (in valid JSON, one per key). */
  keys: number;
}

/**
 * One pass over JSON text, strings skipped: a depth bomb (`[[[[…` to the body limit) is refused at its
 * bracket number `limit + 1` instead of after JSON.parse has built millions of levels (≈3 s of a blocked
 * event loop for 11 MB); the key count tells whether JSON.parse dropped a repeated key. Malformed text is
 * left for the parser to refuse.
 */
export function scanJsonText(text: string, limit: number): JsonTextScan {
  let depth = 0;
  let keys = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 0x5c)
        i++; // backslash: the next character is escaped
      else if (c === 0x22) inString = false;
    } else if (c === 0x22) inString = true;
    else if (c === 0x3a) keys++;
    else if (c === 0x7b || c === 0x5b) {
      if (++depth > limit) return { tooDeep: true, keys };
    } else if (c === 0x7d || c === 0x5d) depth--;
  }
  return { tooDeep: false, keys };
}
