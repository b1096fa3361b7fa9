import type { FastifyInstance, FastifyPluginAsync } from 'fastify';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';

/** A resource of the API: its route plugin, and the OpenAPI tag every one of its routes carries. */
export interface Resource {
  tag: string;
  description: string;
  routes: FastifyPluginAsync;
}

export function defineResource<Options extends Record<string, unknown>>(
  tag: string,
  description: string,
  routes: FastifyPluginAsyncZod<Options>,
  options: Options,
): Resource {
  return { tag, description, routes: (app) => routes(app as Parameters<typeof routes>[0], options) };
}

/** The OpenAPI document's tags: one per resource, in registration order. */
export const openApiTags = (resources: readonly Resource[]) =>
  resources.map((r) => ({ name: r.tag, description: r.description }));

/** Registers each resource's routes under `prefix`, tagged with the resource's tag. */
export async function registerResources(
  app: FastifyInstance,
  resources: readonly Resource[],
  prefix: string,
): Promise<void> {
  for (const resource of resources) {
    await app.register(
      async (scope) => {
        scope.addHook('onRoute', (route) => {
          route.schema = { ...route.schema, tags: [resource.tag] };
        });
        await scope.register(resource.routes);
      },
      { prefix },
    );
  }
}
