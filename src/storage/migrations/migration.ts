/** One forward-only schema change, applied atomically (see `migrate`). */
export interface Migration {
  version: number;
  name: string;
  statements: string[];
}
