import { randomBytes } from 'node:crypto';
import type { AppOverrides } from '../../src/app.js';
import { ROLES, type Role } from '../../src/http/api-keys.js';
import { buildTestApp, type TestApp, type TestEnv } from './app.js';

// An app with API keys for two tenants × three roles (SPEC §6), for tests that act as several callers:
// tenancy, roles, and any tier that generates requests (a fuzz tier plugs in here).
//
//   const ids = await buildIdentityApp();                     // temp file DB; { LIBSQL_URL: sqldUrl } for sqld
//   await ids.app.inject({ url: '/v1/episodes', headers: ids.headers('a', 'read') });
//   const ids = await buildIdentityApp({}, { listen: true });  // plus a real server on 127.0.0.1:<free port>
//   await fetch(`${ids.url}/v1/episodes`, { headers: ids.headers('b', 'write') });
//   await ids.close();
//
// Tenant names are unique per call, so apps sharing one sqld never see each other's rows.

export type TenantSlot = 'a' | 'b';

export interface TestIdentity {
  slot: TenantSlot;
  tenant: string;
  role: Role;
  key: string;
}

export interface IdentityApp {
  app: TestApp;
  /** `http://127.0.0.1:<port>` when built with `listen: true`, else ''. */
  url: string;
  /** The two tenants' names: `tenants.a`, `tenants.b`. */
  tenants: Record<TenantSlot, string>;
  /** All six identities. */
  identities: readonly TestIdentity[];
  /** `{ authorization: 'Bearer <key>' }` of one identity. */
  headers(slot: TenantSlot, role: Role): Record<string, string>;
  close(): Promise<void>;
}

/** Keys for two fresh tenants × three roles, and the `ENGRAM_API_KEYS` value that configures them (for an
 * app in this process or a server in another). */
export function makeIdentities(): {
  tenants: Record<TenantSlot, string>;
  identities: readonly TestIdentity[];
  ENGRAM_API_KEYS: string;
  headers(slot: TenantSlot, role: Role): Record<string, string>;
} {
  const run = randomBytes(4).toString('hex');
  const tenants: Record<TenantSlot, string> = { a: `tenant-a-${run}`, b: `tenant-b-${run}` };
  const identities = (['a', 'b'] as const).flatMap((slot) =>
    ROLES.map((role) => ({ slot, tenant: tenants[slot], role, key: randomBytes(24).toString('base64url') })),
  );
  const find = (slot: TenantSlot, role: Role) => {
    const identity = identities.find((i) => i.slot === slot && i.role === role);
    if (!identity) throw new Error(`no identity ${slot}/${role}`);
    return identity;
  };
  return {
    tenants,
    identities,
    ENGRAM_API_KEYS: identities.map((i) => `${i.key}:${i.tenant}:${i.role}`).join(','),
    headers: (slot, role) => ({ authorization: `Bearer ${find(slot, role).key}` }),
  };
}

/** Builds the app with `ENGRAM_API_KEYS` for the six identities (plus `env`), optionally listening. */
export async function buildIdentityApp(
  env: TestEnv = {},
  options: { listen?: boolean; overrides?: AppOverrides } = {},
): Promise<IdentityApp> {
  const { tenants, identities, ENGRAM_API_KEYS, headers } = makeIdentities();
  const app = await buildTestApp({ ENGRAM_API_KEYS, ...env }, options.overrides);
  let url = '';
  if (options.listen) {
    const address = await app.listen({ host: '127.0.0.1', port: 0 });
    url = address.replace('localhost', '127.0.0.1');
  }
  return { app, url, tenants, identities, headers, close: () => app.close() };
}
