import { isDeepStrictEqual } from 'node:util';
import fc from 'fast-check';
import { alteredFields, type Expectation, jsonOf, responseProblems, Validators } from './checks.js';
import { type ApiDocument, loadDocument, type Operation } from './document.js';
import { HttpClient, type Received, type Sent, sendRaw } from './http.js';
import { type Family, familiesOf, type Item, ResourceModel } from './model.js';
import { rawRequest } from './raw.js';
import {
  ANONYMOUS,
  changedBody,
  documentProblem,
  fillPath,
  hostileRequest,
  type Identity,
  type Plan,
  toSent,
  uuidV7,
  validRequest,
} from './requests.js';
import { Rng, streamSeed } from './rng.js';
import { unsupportedKeywords } from './values.js';

// The fuzz tier (issue 8.6): seeded workers send valid, hostile and raw requests generated from the OpenAPI
// document, and random sequences on resources they own, over real HTTP; every answer is checked, and at the
// end every acknowledged write is read back.

export interface FuzzOptions {
  host: string;
  port: number;
  seed: number;
  /** Requests to send before the final read-back (which adds its own). */
  runs: number;
  /** Concurrent request streams; each owns its resources, so its sequence is reproducible from the seed. */
  workers?: number;
  /** Who sends: each request picks one (one anonymous identity until API keys exist). */
  identities?: Identity[];
  document?: ApiDocument;
}

export interface Failure {
  worker: number;
  index: number;
  label: string;
  request: string;
  status?: number;
  response?: string;
  /** The x-request-id of the answer, to find the server's log line. */
  requestId?: string;
  reasons: string[];
}

interface FailureContext {
  plan?: Plan;
  res?: Received;
  reasons: string[];
  item?: Item;
}

export interface FuzzReport {
  seed: number;
  requests: number;
  durationMs: number;
  byStatus: Record<string, number>;
  byLabel: Record<string, number>;
  failures: Failure[];
}

/** The most failures kept in a report (the first ones tell the story). */
const MAX_FAILURES = 50;

interface Shared {
  doc: ApiDocument;
  families: Family[];
  validators: Validators;
  client: HttpClient;
  options: Required<FuzzOptions>;
  report: FuzzReport;
  /** Child path template → parameter → the field of a sub-item that holds its value (`n` → `step_number`). */
  childKeys: Map<string, Record<string, string>>;
}

const excerpt = (b: Buffer | undefined, n = 400) => {
  if (!b || b.length === 0) return '';
  const text = b.toString('utf8');
  return JSON.stringify(text.length > n ? `${text.slice(0, n)}…(${b.length} bytes)` : text);
};
const describe = (s: Sent) =>
  `${s.method} ${s.target.length > 300 ? `${s.target.slice(0, 300)}…` : s.target} headers=${JSON.stringify(s.headers)} body=${excerpt(s.body)}`;
const isSuccess = (status: number) => status >= 200 && status < 300;

class Worker {
  private readonly replays: { plan: Plan; res: Received }[] = [];
  private index = 0;

  private readonly model: ResourceModel;

  constructor(
    private readonly id: number,
    private readonly rng: Rng,
    private readonly s: Shared,
  ) {
    this.model = new ResourceModel(s.doc, s.families, s.childKeys);
  }

  async run(quota: number): Promise<void> {
    while (this.index < quota) await this.next();
    await this.readBack();
  }

  private async next(): Promise<void> {
    const { rng } = this;
    const live = this.model.items.filter((i) => i.exists);
    const roll = rng.next();
    if (live.length < 2 || roll < 0.08) await this.create();
    else if (roll < 0.43) await this.sequenceStep(rng.pick(this.model.items));
    else if (roll < 0.46 && this.replays.length > 0) await this.replay();
    else if (roll < 0.63) await this.generic(false);
    else if (roll < 0.9) await this.generic(true);
    else if (roll < 0.95) await this.listChain();
    else await this.raw();
  }

  private identity(): Identity {
    return this.rng.pick(this.s.options.identities);
  }

  // ---- request kinds --------------------------------------------------------------------------------

  private async create(): Promise<void> {
    const family = this.rng.pick(this.s.families);
    const plan = validRequest(this.rng, family.create, {}, this.identity(), this.s.validators);
    plan.label = 'sequence: create';
    if (plan.identity.role === 'read') plan.expect = { notSuccess: 'a read key creates nothing' };
    this.maybeIdempotent(plan);
    await this.execute(plan);
  }

  /** One operation on an item this worker created (or deleted): the model says what must come back. */
  private async sequenceStep(item: Item): Promise<void> {
    const { rng } = this;
    const ops = item.family.itemOps.filter((o) => o.method !== 'DELETE' || rng.chance(0.15));
    const op = rng.pick(ops);
    const plan = validRequest(
      rng,
      op,
      this.paramsFor(op, item),
      rng.chance(0.9) ? item.owner : this.identity(),
      this.s.validators,
    );
    plan.label = `sequence: ${op.key}`;
    plan.expect = this.expectation(plan, item);
    const etagHeader = op.method === 'GET' ? 'if-none-match' : 'if-match';
    if (op.params.some((p) => p.name === etagHeader) && rng.chance(0.3)) {
      const stale = item.oldEtags.length > 0 && rng.chance(0.4);
      const etag = stale ? rng.pick(item.oldEtags) : item.unknown.size === 0 ? item.etag : undefined;
      if (etag) {
        plan.headers[etagHeader] = etag;
        if (item.exists && stale && op.method !== 'GET')
          plan.expect.notSuccess ??= 'If-Match names a version that moved on';
        const mine = plan.identity.tenant === item.owner.tenant;
        if (item.exists && mine && !stale && op === item.family.itemGet) plan.expect.status = [304];
      }
    }
    this.maybeIdempotent(plan);
    await this.execute(plan, item);
  }

  /** Sends an earlier acknowledged request with its Idempotency-Key again: the first answer, or a refusal. */
  private async replay(): Promise<void> {
    const { plan, res } = this.rng.pick(this.replays);
    const changed = this.rng.chance(0.3) ? changedBody(plan.body) : undefined;
    if (changed !== undefined) {
      await this.execute({
        ...plan,
        label: 'replay: same key, other body',
        body: changed,
        expect: { notSuccess: 'the key was used with another body' },
      });
      return;
    }
    const again = await this.execute({
      ...plan,
      label: 'replay: same key, same body',
      expect: { status: [res.status] },
    });
    if (!again || !isSuccess(again.status)) return;
    const reasons: string[] = [];
    if (again.headers['idempotent-replayed'] !== 'true')
      reasons.push('a replay is not marked idempotent-replayed');
    if (!isDeepStrictEqual(jsonOf(again).value, jsonOf(res).value))
      reasons.push('a replay answered another body than the first time');
    if (reasons.length > 0) this.fail({ plan, res: again, reasons }, toSent(plan));
  }

  /** A request for any operation: valid, or a hostile variant of a valid one. */
  private async generic(hostile: boolean): Promise<void> {
    const { rng } = this;
    const op = rng.pick(this.s.doc.operations);
    const item = this.itemFor(op);
    const base = validRequest(rng, op, this.paramsFor(op, item), this.identity());
    base.expect = this.expectation(base, item);
    this.maybeIdempotent(base);
    let plan = base;
    if (hostile) {
      plan = hostileRequest(rng, this.s.validators, base);
      // What the item's state decides may come second to what is wrong with the request: only "no 2xx" stays.
      const { clientError } = plan.expect;
      const absent =
        base.expect.status || base.expect.notSuccess ? 'the item does not exist or is not yours' : undefined;
      plan.expect = { ...(clientError ? { clientError } : {}), ...(absent ? { notSuccess: absent } : {}) };
    }
    plan.label = `${hostile ? 'hostile' : 'valid'} ${op.key}: ${plan.label}`;
    // A hostile path no longer names the item: the model learns nothing from the answer.
    await this.execute(plan, plan.rawPath === undefined ? item : undefined);
  }

  /**
   * Follows next_cursor through a list: it must end and never show one record twice. For the sub-items of an
   * item (`full`), all pages are read and compared with the acknowledged sub-items.
   */
  private async listChain(item?: Item, list?: Operation): Promise<void> {
    const { rng } = this;
    const lists = this.s.doc.operations.filter(
      (o) => o.method === 'GET' && o.params.some((p) => p.name === 'cursor'),
    );
    const op = list ?? rng.pick(lists);
    // A list below an item (`…/{id}/steps`) is listed for an item of the family it belongs to.
    const owners = op.path.includes('{')
      ? this.model.items.filter((i) => i.family.itemOps.includes(op))
      : this.model.items;
    if (!item && owners.length === 0) return;
    const owner = item ?? rng.pick(owners);
    const full = item !== undefined;
    const kind = owner.family.children.find((c) => c.list === op);
    const itemOfList = op.path.includes('{') ? owner : undefined;
    const limit = 1 + rng.int(full ? 50 : 7);
    const seen = new Set<string>();
    const listed: Record<string, unknown>[] = [];
    let cursor: string | undefined;
    for (let page = 0; page < (full ? 1_000 : 10); page++) {
      const plan = validRequest(
        rng,
        op,
        this.paramsFor(op, itemOfList),
        itemOfList?.owner ?? this.identity(),
      );
      plan.query = [['limit', String(limit)], ...(cursor ? [['cursor', cursor] as [string, string]] : [])];
      plan.label = `list chain: ${op.key}`;
      plan.expect = itemOfList ? this.expectation(plan, itemOfList) : { status: [200] };
      if (itemOfList?.exists) plan.expect = { status: [200] };
      const res = await this.execute(plan, itemOfList);
      if (res?.status !== 200) return;
      const body = jsonOf(res).value as { items: Record<string, unknown>[]; next_cursor: string | null };
      for (const record of body.items) {
        const url = kind && itemOfList ? this.model.childUrl(itemOfList, kind.get.path, record) : undefined;
        const key = url ?? (typeof record.id === 'string' ? record.id : JSON.stringify(record));
        if (seen.has(key))
          this.fail(
            {
              plan,
              res,
              reasons: [`one record twice in one listing: ${key.slice(0, 160)}`],
              ...(itemOfList ? { item: itemOfList } : {}),
            },
            toSent(plan),
          );
        seen.add(key);
        listed.push(record);
      }
      if (body.next_cursor === null) {
        if (itemOfList && kind) {
          const reasons = this.model.learnChildren(itemOfList, kind.get.path, listed);
          if (reasons.length > 0) this.fail({ plan, res, reasons, item: itemOfList }, toSent(plan));
        }
        return;
      }
      cursor = body.next_cursor;
    }
    if (full)
      this.fail({
        reasons: [`${op.key}: next_cursor never ends (${seen.size} records, ${limit} per page)`],
        item: owner,
      });
  }

  private async raw(): Promise<void> {
    const target = this.rng.pick(this.s.doc.operations);
    const path = fillPath(target.path, this.paramsFor(target, this.itemFor(target)));
    const request = rawRequest(this.rng, path, this.identity().headers);
    this.index++;
    let responses: Received[];
    try {
      responses = await sendRaw(this.s.options.host, this.s.options.port, request.bytes, request.answers);
    } catch (err) {
      this.fail(
        { reasons: [`raw request: ${(err as Error).message}`] },
        { method: 'RAW', target: request.label, headers: {}, body: request.bytes },
      );
      return;
    }
    this.count(`raw: ${request.label}`, responses[0]?.status ?? 0);
    const reasons = responses.flatMap((res) =>
      responseProblems(this.s.validators, this.s.doc.problem, res, undefined, {}),
    );
    if (responses.length < request.answers)
      reasons.push(`${request.answers} answers expected, got ${responses.length}`);
    if (reasons.length > 0) {
      this.fail(
        { reasons, ...(responses[0] ? { res: responses[0] } : {}) },
        { method: 'RAW', target: request.label, headers: {}, body: request.bytes },
      );
    }
  }

  // ---- the model --------------------------------------------------------------------------------

  /** An item of the family the operation belongs to: mostly this worker's, sometimes one that never existed. */
  private itemFor(op: Operation): Item | undefined {
    const family = this.s.families.find((f) => op.path.startsWith(f.itemPath));
    if (!family) return undefined;
    const own = this.model.items.filter((i) => i.family === family);
    if (own.length > 0 && this.rng.chance(0.8)) return this.rng.pick(own);
    const id = this.rng.draw(uuidV7());
    const params = Object.fromEntries(
      family.itemGet.params.filter((p) => p.in === 'path').map((p) => [p.name, id]),
    );
    return {
      family,
      url: fillPath(family.itemPath, params),
      params,
      owner: ANONYMOUS,
      exists: false,
      unknown: new Set(),
      oldEtags: [],
      children: new Map(),
      childrenKnown: true,
    };
  }

  /** Path parameters: the item's, and for a sub-item a known one (or a number that may not exist). */
  private paramsFor(op: Operation, item: Item | undefined): Record<string, string> {
    const params: Record<string, string> = { ...(item?.params ?? {}) };
    for (const p of op.params.filter((x) => x.in === 'path' && !(x.name in params))) {
      const known = [...(item?.children.values() ?? [])]
        .map((c) => this.s.doc.match(c.url)?.values[p.name])
        .filter((v): v is string => v !== undefined);
      params[p.name] =
        known.length > 0 && this.rng.chance(0.8)
          ? this.rng.pick(known)
          : String(this.rng.draw<unknown>(p.schema.type === 'string' ? uuidV7() : fakeNumber()));
    }
    return params;
  }

  /** What an operation on `item` must answer, where its state alone decides. */
  private expectation(plan: Plan, item: Item | undefined): Expectation {
    const op = plan.op as Operation;
    if (plan.identity.role === 'read' && (op.role ?? (op.method === 'GET' ? 'read' : 'write')) !== 'read')
      return { notSuccess: 'a read key changes nothing' };
    if (!item || (item.exists && plan.identity.tenant === item.owner.tenant)) return {};
    // Gone, or another tenant's: a read of the item itself is a 404; below it, a bad cursor or number may be
    // answered first, so there only "no 2xx" holds.
    return op === item.family.itemGet && documentProblem(this.s.validators, plan) === undefined
      ? { status: [404] }
      : { notSuccess: item.exists ? "another tenant's item" : 'the item does not exist' };
  }

  private maybeIdempotent(plan: Plan): void {
    if (plan.op?.params.some((p) => p.name === 'idempotency-key') && this.rng.chance(0.3)) {
      plan.headers['idempotency-key'] = `fz-${this.s.options.seed}-${this.id}-${this.index}`;
    }
  }

  /** The end: every item and sub-item this worker touched, read back. */
  private async readBack(): Promise<void> {
    for (const item of this.model.items) {
      const get = validRequest(this.rng, item.family.itemGet, item.params, item.owner);
      get.query = [];
      get.label = 'read-back: item';
      get.expect = { status: [item.exists ? 200 : 404] };
      await this.execute(get, item);
      for (const child of [...item.children.values()]) {
        const match = this.s.doc.match(child.url);
        const kind = item.family.children.find((c) => c.get.path === match?.path);
        if (!match || !kind) continue;
        const plan = validRequest(this.rng, kind.get, match.values, item.owner);
        plan.query = [];
        plan.label = 'read-back: sub-item';
        plan.expect = { status: [child.exists && item.exists ? 200 : 404] };
        await this.execute(plan, item);
      }
      for (const kind of item.family.children) await this.listChain(item, kind.list);
    }
  }

  // ---- sending and checking --------------------------------------------------------------------------

  private async execute(plan: Plan, item?: Item): Promise<Received | undefined> {
    this.index++;
    const sent = toSent(plan);
    let res: Received;
    try {
      res = await this.s.client.send(sent);
    } catch (err) {
      this.fail({ plan, reasons: [`no answer: ${(err as Error).message}`], ...(item ? { item } : {}) }, sent);
      return undefined;
    }
    this.count(plan.label, res.status);
    const op = plan.op;
    const reasons = responseProblems(this.s.validators, this.s.doc.problem, res, op, plan.expect);
    if (
      op?.body &&
      plan.plainBody &&
      plan.body !== undefined &&
      isSuccess(res.status) &&
      res.body.length > 0
    ) {
      reasons.push(
        ...alteredFields(this.s.validators, plan.body, op.body.schema, jsonOf(res).value).map(
          (r) => `altered: ${r}`,
        ),
      );
    }
    if (isSuccess(res.status)) reasons.push(...this.foreignRecords(plan, res));
    const creates = op !== undefined && this.s.families.some((f) => f.create === op);
    const target = item ?? (creates && isSuccess(res.status) ? this.model.track(plan, res) : undefined);
    if (target && op) reasons.push(...this.model.observe(plan, res, target));
    // Only keys this worker chose (a hostile header may put one on any request) are replayed.
    const key = plan.headers['idempotency-key'];
    if (key?.startsWith('fz-') && isSuccess(res.status) && !plan.label.startsWith('replay'))
      this.replays.push({ plan, res });
    if (reasons.length > 0) this.fail({ plan, res, reasons, ...(target ? { item: target } : {}) }, sent);
    return res;
  }

  /** Records of another tenant in an answer (a record, or the items of a page): none may ever appear. */
  private foreignRecords(plan: Plan, res: Received): string[] {
    if (!res.headers['content-type']?.startsWith('application/json')) return [];
    const body = jsonOf(res).value as { tenant?: unknown; items?: { tenant?: unknown }[] } | undefined;
    const records = [body, ...(Array.isArray(body?.items) ? body.items : [])];
    const foreign = records.filter((r) => typeof r?.tenant === 'string' && r.tenant !== plan.identity.tenant);
    return foreign.length > 0
      ? [`${foreign.length} record(s) of another tenant answered to ${plan.identity.name}`]
      : [];
  }

  private count(label: string, status: number): void {
    const { report } = this.s;
    report.requests++;
    report.byStatus[status] = (report.byStatus[status] ?? 0) + 1;
    const kind = label.replace(/: .*$/, '');
    report.byLabel[kind] = (report.byLabel[kind] ?? 0) + 1;
  }

  private fail(context: FailureContext, sent?: Sent): void {
    const { report } = this.s;
    if (report.failures.length >= MAX_FAILURES) return;
    report.failures.push({
      worker: this.id,
      index: this.index,
      label: context.plan?.label ?? 'read-back',
      request: sent ? describe(sent) : (context.item?.url ?? ''),
      ...(context.res
        ? {
            status: context.res.status,
            response: excerpt(context.res.body),
            requestId: context.res.headers['x-request-id'],
          }
        : {}),
      reasons: context.reasons,
    });
  }
}

/** Numbers for a numeric path parameter: small ones that may exist, and some that cannot. */
const fakeNumber = () =>
  fc.oneof(fc.integer({ min: 1, max: 8 }), fc.constantFrom(0, -1, 1.5, 1_000, 1_000_001, 2 ** 53 - 1));

export async function runFuzz(options: FuzzOptions): Promise<FuzzReport> {
  const doc = options.document ?? loadDocument();
  const unsupported = doc.operations.flatMap((op) => [
    ...op.params.flatMap((p) => unsupportedKeywords(p.schema, `${op.key} ${p.name}`)),
    ...(op.body ? unsupportedKeywords(op.body.schema, `${op.key} body`) : []),
  ]);
  if (unsupported.length > 0) {
    throw new Error(
      `the fuzz generator does not know these schema keywords; teach test/fuzz/values.ts:\n  ${unsupported.join('\n  ')}`,
    );
  }
  const full: Required<FuzzOptions> = {
    workers: 8,
    identities: [ANONYMOUS],
    document: doc,
    ...options,
  };
  const report: FuzzReport = {
    seed: options.seed,
    requests: 0,
    durationMs: 0,
    byStatus: {},
    byLabel: {},
    failures: [],
  };
  const client = new HttpClient(options.host, options.port, full.workers);
  const shared: Shared = {
    doc,
    families: familiesOf(doc),
    validators: new Validators(),
    client,
    options: full,
    report,
    childKeys: new Map(),
  };
  if (shared.families.length === 0)
    throw new Error('the document has no resource family (a collection POST with an item GET)');
  const started = performance.now();
  try {
    const quota = Math.ceil(options.runs / full.workers);
    await Promise.all(
      Array.from({ length: full.workers }, (_, w) =>
        new Worker(w, new Rng(streamSeed(options.seed, w)), shared).run(quota),
      ),
    );
  } finally {
    client.close();
  }
  report.durationMs = Math.round(performance.now() - started);
  return report;
}
