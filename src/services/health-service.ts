import type { Database } from '../db/database.js';
import type { BreakerSnapshot, PoolSnapshot } from '../db/resilience.js';
import { latestSchemaVersion, schemaVersion } from '../storage/migrations.js';

export interface HealthReport {
  status: 'ok' | 'degraded' | 'unavailable';
  version: string;
  uptime_s: number;
  database: {
    mode: Database['mode'];
    reachable: boolean;
    latency_ms: number | null;
    schema_version: number | null;
    last_sync_at?: string | null;
  };
  circuit_breaker: BreakerSnapshot;
  pool: PoolSnapshot;
}

/** Health as operators and load balancers need it (SPEC §4). */
export class HealthService {
  private shuttingDown = false;
  private readonly startedAt = Date.now();

  constructor(
    private readonly db: Database,
    private readonly version: string,
    /** False until the start-up migrations have run (the database may not have answered yet). */
    private readonly schemaReady: () => boolean = () => true,
  ) {}

  beginShutdown(): void {
    this.shuttingDown = true;
  }

  async report(): Promise<HealthReport> {
    const probe = await this.probe();
    const breaker = this.db.policy.breakerSnapshot;
    const unavailable = !probe.reachable || probe.schemaVersion !== latestSchemaVersion();
    const status = unavailable ? 'unavailable' : breaker.state !== 'closed' ? 'degraded' : 'ok';
    return {
      status,
      version: this.version,
      uptime_s: Math.round((Date.now() - this.startedAt) / 1000),
      database: {
        mode: this.db.mode,
        reachable: probe.reachable,
        latency_ms: probe.latencyMs === null ? null : Math.round(probe.latencyMs * 1000) / 1000,
        schema_version: probe.schemaVersion,
        ...(this.db.mode === 'embedded_replica' ? { last_sync_at: this.db.lastSync } : {}),
      },
      circuit_breaker: breaker,
      pool: this.db.policy.poolSnapshot,
    };
  }

  /** Ready to take traffic: not shutting down, breaker not open, database reachable and migrated. */
  async readiness(): Promise<{ ready: boolean; reason?: string }> {
    if (this.shuttingDown) return { ready: false, reason: 'shutting down' };
    // Probe even while the breaker is open: it fails fast until half-open is due, and then the probe is
    // what lets the breaker close; an instance out of rotation receives nothing but these probes.
    const probe = await this.probe();
    if (this.db.policy.breakerSnapshot.state === 'open')
      return { ready: false, reason: 'circuit breaker open' };
    if (!probe.reachable) return { ready: false, reason: 'database unreachable' };
    if (probe.schemaVersion !== latestSchemaVersion() || !this.schemaReady())
      return { ready: false, reason: 'migrations not applied' };
    return { ready: true };
  }

  private async probe(): Promise<{
    reachable: boolean;
    latencyMs: number | null;
    schemaVersion: number | null;
  }> {
    try {
      const latencyMs = await this.db.ping();
      return { reachable: true, latencyMs, schemaVersion: await schemaVersion(this.db) };
    } catch {
      return { reachable: false, latencyMs: null, schemaVersion: null };
    }
  }
}
