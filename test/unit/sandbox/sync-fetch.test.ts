/**
 * The synchronous network channel between the host main thread and a blocked worker (sync-fetch.ts).
 * Here this thread plays the worker: answers are posted before the call (the id is injected), and a
 * stop comes from another thread (the Stopper), as it would while the worker is blocked.
 */
import { MessageChannel } from 'node:worker_threads';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { answerSyncFetch, createSyncFetch } from '../../../src/sandbox/sync-fetch.js';
import { CONTROL_STOP, StopReason, type GuestFetchRequest, type GuestFetchResult } from '../../../src/sandbox/runtimes/types.js';
import { Stopper } from './pyodide/helpers.js';

const request: GuestFetchRequest = { url: 'http://example.com/', method: 'GET', headers: [] };
const answer = (n: number): GuestFetchResult => ({
  ok: true,
  response: { status: 200, statusText: 'OK', headers: [['x-n', String(n)]], body: new Uint8Array([n]), url: 'http://example.com/', redirected: false },
});

let stopper: Stopper;
let channel: MessageChannel;
let posted: Array<[number, GuestFetchRequest]>;
let nextId = 1;

beforeAll(() => {
  stopper = new Stopper();
});
afterAll(async () => stopper.close());

function client() {
  channel = new MessageChannel();
  posted = [];
  return createSyncFetch(channel.port2, stopper.control, (id, r) => posted.push([id, r]), () => nextId++);
}

afterEach(async () => {
  channel.port1.close();
  channel.port2.close();
  await stopper.settle();
});

describe('synchronous fetch channel', () => {
  it('posts the request and returns the answer with its id, dropping answers to earlier requests', () => {
    const fetchSync = client();
    const id = nextId;
    answerSyncFetch(channel.port1, stopper.control, id - 1, answer(1));
    answerSyncFetch(channel.port1, stopper.control, id, answer(2));
    const r = fetchSync(request);
    expect(posted).toEqual([[id, request]]);
    expect(r).toMatchObject({ ok: true, response: { headers: [['x-n', '2']] } });
    expect(r.ok && Array.from(r.response.body)).toEqual([2]);
  });

  it('sends nothing once a stop is posted', () => {
    const fetchSync = client();
    Atomics.store(stopper.control, CONTROL_STOP, StopReason.TIMEOUT);
    expect(fetchSync(request)).toMatchObject({ ok: false, code: 'E_STOPPED' });
    expect(posted).toEqual([]);
  });

  it('stops waiting when the host posts a stop from another thread', () => {
    const fetchSync = client();
    stopper.stopAfter(100);
    expect(fetchSync(request)).toMatchObject({ ok: false, code: 'E_STOPPED' });
    expect(posted).toHaveLength(1);
  });

  it("gives up after the guest's own timeout; the late answer is dropped by the next request", () => {
    const fetchSync = client();
    expect(fetchSync(request, 30)).toMatchObject({ ok: false, code: 'E_TIMEOUT' });
    const late = posted[0]![0];
    answerSyncFetch(channel.port1, stopper.control, late, answer(3));
    answerSyncFetch(channel.port1, stopper.control, nextId, answer(4));
    expect(fetchSync(request)).toMatchObject({ ok: true, response: { headers: [['x-n', '4']] } });
  });
});
