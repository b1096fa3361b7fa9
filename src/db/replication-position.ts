/**
 * How far the primary's replication log had got the last time this instance heard from it: sqld reports its
 * `replication_index` (the frame number of its last commit) in every Hrana result. Once a write has been
 * acknowledged, `current` is at least the index of that write, so a replica that has reached `current` can
 * serve reads that see the write: this is the consistency token a write answers with. (Frame numbers are u64;
 * a JS number holds them exactly up to 2^53, which a server writing a million frames a second reaches in
 * 285 years.)
 */
export class ReplicationPosition {
  private latest: number | null = null;

  get current(): number | null {
    return this.latest;
  }

  observe(index: number): void {
    if (this.latest === null || index > this.latest) this.latest = index;
  }
}

const INDEX_KEY = '"replication_index":"';

/**
 * A `fetch` for @libsql/client that reads the replication index out of every Hrana pipeline response before
 * handing the response on (the client itself does not expose it). The batch's or statement's own index is the
 * last one in the response text, so only the tail is searched.
 */
export function fetchObservingPosition(inner: typeof fetch, position: ReplicationPosition): typeof fetch {
  return async (input, init) => {
    const response = await inner(input, init);
    const url = input instanceof Request ? input.url : String(input);
    if (!response.ok || !url.endsWith('/pipeline')) return response;
    const text = await response.text();
    const at = text.lastIndexOf(INDEX_KEY);
    if (at >= 0) {
      const digits = /^\d{1,15}"/.exec(text.slice(at + INDEX_KEY.length, at + INDEX_KEY.length + 16))?.[0];
      if (digits) position.observe(Number(digits.slice(0, -1)));
    }
    return new Response(text, {
      status: response.status,
      statusText: response.statusText,
      headers: response.headers,
    });
  };
}
