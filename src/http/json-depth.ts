/**
 * Whether JSON text nests objects and arrays deeper than `limit` (a top-level `{}` is depth 1), read from
 * the text before it is parsed: a depth bomb (`[[[[…` to the body limit) is refused at its 33rd bracket
 * instead of after JSON.parse has built millions of levels (≈3 s of a blocked event loop for 11 MB).
 * Brackets inside strings do not count. Malformed text is left for the parser to refuse.
 */
export function jsonNestingExceeds(text: string, limit: number): boolean {
  let depth = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 0x5c)
        i++; // backslash: the next character is escaped
      else if (c === 0x22) inString = false;
    } else if (c === 0x22) inString = true;
    else if (c === 0x7b || c === 0x5b) {
      if (++depth > limit) return true;
    } else if (c === 0x7d || c === 0x5d) depth--;
  }
  return false;
}
