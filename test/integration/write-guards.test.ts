import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DbError } from '../../src/db/errors.js';
import { CLAIM, type Statement } from '../../src/db/types.js';
import { EMBEDDING_FAILURES } from '../../src/storage/libsql/embeddings.js';
import { EPISODE_FAILURES } from '../../src/storage/libsql/episode-repository.js';
import { type Failures, guard, rethrowAsDomainError } from '../../src/storage/libsql/statements.js';
import { STEP_FAILURES } from '../../src/storage/libsql/step-repository.js';
import type { TestApp } from '../helpers/app.js';
import { BACKENDS, episodeBody, send } from '../helpers/backends.js';

// Issue 7.2: write guards fail closed, and each repository maps its statements' labels to its domain errors.

const REPOSITORIES: [string, Failures<string>][] = [
  ['episodes', { ...EPISODE_FAILURES, ...EMBEDDING_FAILURES }],
  ['steps', STEP_FAILURES],
];

describe.each(BACKENDS)('write guards on $name', ({ build }) => {
  let app: TestApp;
  const written: Statement[] = [];
  beforeAll(async () => {
    app = await build({}, { faults: true });
    app.faults.fault = (call) => {
      if (call.op === 'transaction' || call.op === 'group') written.push(...call.stmts);
      return undefined;
    };
  });
  afterAll(async () => {
    await app.close();
  });

  /** The error a write of `stmts` fails with (fails the test if it commits). */
  async function failure(stmts: Statement[]): Promise<DbError> {
    const outcome = await app.engram.db.write(stmts).then(
      () => undefined,
      (err: unknown) => err,
    );
    expect(outcome).toBeInstanceOf(DbError);
    return outcome as DbError;
  }

  it.each([
    ['false', '0'],
    ['NULL (a subquery that found nothing)', '(SELECT 1 WHERE 0)'],
    ['a truthy value other than 1', '2'],
  ])('a guard whose condition is %s - aborts the whole write, labelled', async (_name, condition) => {
    const err = await failure([guard({ code: 'ANY_CODE', subject: 's1' }, condition)]);
    expect(err.kind).toBe('precondition');
    expect(err.label).toEqual({ code: 'ANY_CODE', subject: 's1' });
  });

  it('a guard whose condition is 1 - passes; the statements around it commit', async () => {
    await expect(
      app.engram.db.write([guard('ANY_CODE', '1'), guard('OTHER', '1 = 1')]),
    ).resolves.toHaveLength(2);
  });

  it('the failing statement of a write - named by its index, whichever it is', async () => {
    const err = await failure([
      guard('FIRST', '1'),
      guard('SECOND', '1'),
      guard('THIRD', '0'),
      guard('FOURTH', '1'),
    ]);
    expect(err.statementIndex).toBe(2);
    expect(err.label?.code).toBe('THIRD');
  });

  it('a guard that no repository declares - stays a database error (500), never passes', async () => {
    const err = await failure([guard('UNDECLARED', '0')]);
    for (const [, failures] of REPOSITORIES) expect(() => rethrowAsDomainError(err, failures)).toThrow(err);
  });

  describe.each(REPOSITORIES)('the %s repository', (_repository, failures) => {
    it.each(Object.keys(failures))('label %s - its failure becomes its domain error', async (code) => {
      const err = await failure([guard({ code, subject: 'record-1' }, '0')]);
      const expected = failures[code]?.('record-1') as Error;
      let thrown: unknown;
      try {
        rethrowAsDomainError(err, failures);
      } catch (e) {
        thrown = e;
      }
      expect(thrown).toBeInstanceOf(expected.constructor);
      expect(thrown).toMatchObject({ message: expected.message });
    });
  });

  it('the labels the repositories put on their statements - exactly those declared with a domain error', async () => {
    written.length = 0;
    const { body: e } = await send(
      app,
      'POST',
      '/v1/episodes',
      episodeBody({
        id: randomUUID(),
        tags: ['aa'],
        location: { lat: 1, lon: 1 },
        steps: [{ tool: 't', action: 'a', location: { lat: 1, lon: 2 } }],
        embedding: { model: `m-${randomUUID()}`, vector: [1, 2] },
      }),
    );
    await send(
      app,
      'POST',
      '/v1/episodes/batch',
      { episodes: [episodeBody()] },
      { 'idempotency-key': randomUUID() },
    );
    await send(app, 'POST', `/v1/episodes/${e.id}/steps?strict=true`, {
      tool: 't',
      action: 'auto',
      location: { lat: 0, lon: 0 },
    });
    await send(app, 'POST', `/v1/episodes/${e.id}/steps`, { tool: 't', action: 'numbered', step_number: 10 });
    await send(app, 'PATCH', `/v1/episodes/${e.id}`, { archived: true }, { 'if-match': '"3"' });
    await send(app, 'POST', `/v1/episodes/${e.id}/complete`, { outcome: { type: 'failure', reason: 'r' } });
    expect((await send(app, 'DELETE', `/v1/episodes/${e.id}`, undefined, { 'if-match': '"5"' })).status).toBe(
      204,
    );

    const used = new Set(written.flatMap((s) => (s.label ? [s.label.code] : [])));
    const declared = new Set([CLAIM, ...REPOSITORIES.flatMap(([, failures]) => Object.keys(failures))]);
    // Used ⇔ declared: no label without its error, and no declared error that nothing can raise.
    expect([...used].sort()).toEqual([...declared].sort());
  });
});
