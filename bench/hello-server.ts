import Fastify from 'fastify';

// The HTTP ceiling: a bare fastify hello-world in its own process (no logger, no hooks, no schema).
// Started by bench/run.ts with BENCH_PORT set; stops on SIGTERM.

const port = Number(process.env.BENCH_PORT ?? 0);
const app = Fastify({ logger: false });
app.get('/hello', async () => ({ hello: 'world' }));
await app.listen({ host: '127.0.0.1', port });

const close = () => {
  app.close().then(
    () => process.exit(0),
    () => process.exit(1),
  );
};
process.on('SIGTERM', close);
process.on('SIGINT', close);
