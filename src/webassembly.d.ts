// The part of the WebAssembly JS API this service uses (`simd-dot.ts`, `vector-cache.ts`). Node has it all;
// TypeScript declares it only in its DOM libraries, which do not belong in a server's types.
declare namespace WebAssembly {
  class Module {
    constructor(bytes: Uint8Array);
  }
  class Instance {
    constructor(module: Module, imports: Record<string, Record<string, unknown>>);
    readonly exports: Record<string, unknown>;
  }
  class Memory {
    constructor(descriptor: { initial: number; maximum?: number });
    readonly buffer: ArrayBuffer;
    grow(pages: number): number;
  }
}
