import { createServer, type Server } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HranaReader } from '../../src/db/hrana-reader.js';
import { sql } from '../../src/db/types.js';

// The reader's handling of what sqld answers, against a local HTTP server that answers as sqld does. The real
// replica is exercised in test/integration/read-replica.test.ts; here, the answers sqld gives only in rare
// moments (a replica being stopped answers from before the requested index) are made on demand.

let server: Server;
let url: string;
let answerIndex: string | null = '10';
let lastBody: { requests: { stmt?: Record<string, unknown> }[] } | undefined;

beforeAll(async () => {
  server = createServer((req, res) => {
    let body = '';
    req.on('data', (d: Buffer) => {
      body += d;
    });
    req.on('end', () => {
      lastBody = JSON.parse(body);
      res.setHeader('content-type', 'application/json');
      res.end(
        JSON.stringify({
          baton: null,
          base_url: null,
          results: [
            {
              type: 'ok',
              response: {
                type: 'execute',
                result: {
                  cols: [{ name: 'n', decltype: null }],
                  rows: [[{ type: 'integer', value: '1' }]],
                  affected_row_count: 0,
                  last_insert_rowid: null,
                  replication_index: answerIndex,
                },
              },
            },
            { type: 'ok', response: { type: 'close' } },
          ],
        }),
      );
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  url = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`;
});

afterAll(async () => {
  await new Promise((resolve) => server.close(resolve));
});

const query = (minIndex?: number) =>
  new HranaReader({ url }).query(sql('SELECT 1 AS n'), { minIndex, signal: AbortSignal.timeout(5_000) });

describe('HranaReader', () => {
  it('query - minIndex - sent to sqld as the statement replication_index', async () => {
    answerIndex = '42';
    await query(42);
    expect(lastBody?.requests[0]?.stmt).toMatchObject({ sql: 'SELECT 1 AS n', replication_index: 42 });
    await query();
    expect(lastBody?.requests[0]?.stmt).not.toHaveProperty('replication_index');
  });

  it('query - answered at or beyond minIndex - the rows', async () => {
    answerIndex = '10';
    await expect(query(10)).resolves.toEqual([{ n: 1 }]);
    answerIndex = '11';
    await expect(query(10)).resolves.toEqual([{ n: 1 }]);
  });

  it.each([
    ['an earlier index', '9'],
    ['no index', null],
  ])(
    'query - answered at %s than minIndex - rejected with REPLICA_BEHIND, never passed off as current',
    async (_name, index) => {
      answerIndex = index;
      await expect(query(10)).rejects.toMatchObject({ code: 'REPLICA_BEHIND' });
    },
  );

  it('query - no minIndex - rows whatever index the replica answered at', async () => {
    answerIndex = '1';
    await expect(query()).resolves.toEqual([{ n: 1 }]);
  });
});
