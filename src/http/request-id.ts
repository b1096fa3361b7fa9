import { randomUUID } from 'node:crypto';

// A caller's X-Request-Id is kept when it is sane (it ends up in logs and headers), else one is made up.
const SANE_REQUEST_ID = /^[A-Za-z0-9._:@/+=-]{1,128}$/;

export function requestIdOf(given: string | string[] | undefined): string {
  return typeof given === 'string' && SANE_REQUEST_ID.test(given) ? given : randomUUID();
}
