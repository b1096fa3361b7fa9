import type { SqlValue } from '../../db/types.js';

/**
 * A WHERE clause that starts from the tenant scope: the one place a query is scoped to its tenant
 * (SPEC §6: nothing crosses tenants). Every repository query builds its WHERE here.
 *
 *   const where = tenantScope(tenant, 'e').and('e.id = ?', id);
 *   db.read(`SELECT ... FROM episodes e WHERE ${where}`, where.args);
 */
export class Where {
  private readonly clauses: string[];
  readonly args: SqlValue[];

  private constructor(
    clause: string,
    /** The tenant this WHERE is scoped to (for the subqueries a condition adds). */
    readonly tenant: string,
  ) {
    this.clauses = [clause];
    this.args = [tenant];
  }

  /** `<alias>.tenant = ?` (or `tenant = ?` without an alias). */
  static tenant(tenant: string, alias?: string): Where {
    return new Where(alias ? `${alias}.tenant = ?` : 'tenant = ?', tenant);
  }

  /** Adds a condition (SQL written by the repository, never user input) and its arguments. */
  and(clause: string, ...values: SqlValue[]): this {
    this.clauses.push(clause);
    this.args.push(...values);
    return this;
  }

  /** Adds `column IN (?, ...)`. */
  in(column: string, values: readonly SqlValue[]): this {
    return this.and(`${column} IN (${values.map(() => '?').join(', ')})`, ...values);
  }

  toString(): string {
    return this.clauses.join(' AND ');
  }
}

export const tenantScope = Where.tenant;
