/**
 * Trusted capsules from the registry, as their own tools; tampered ones are not registered.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ROOT, startServer, type TestServer } from '../helpers/server.js';

let srv: TestServer;
let tampered: TestServer;
let regDir: string;

beforeAll(async () => {
  // A registry with one intact copy and one tampered copy of the shipped capsules.
  regDir = fs.mkdtempSync(path.join(os.tmpdir(), 'wsm-registry-'));
  const shipped = path.join(ROOT, 'capsules');
  fs.copyFileSync(path.join(shipped, 'trusted-keys.json'), path.join(regDir, 'trusted-keys.json'));
  fs.copyFileSync(path.join(shipped, 'json_query.capsule.json'), path.join(regDir, 'json_query.capsule.json'));
  const diff = JSON.parse(fs.readFileSync(path.join(shipped, 'text_diff.capsule.json'), 'utf8'));
  diff.manifest.code = 'globalThis.pwned = true; ' + diff.manifest.code;
  fs.writeFileSync(path.join(regDir, 'text_diff.capsule.json'), JSON.stringify(diff));
  [srv, tampered] = await Promise.all([startServer(), startServer(['--registry', regDir])]);
});
afterAll(async () => {
  await Promise.all([srv.close(), tampered.close()]);
  fs.rmSync(regDir, { recursive: true, force: true });
});

describe('registry tools', () => {
  it('lists the shipped capsules with their input schemas', async () => {
    const { tools } = await srv.client.listTools();
    const names = tools.map((t) => t.name);
    expect(names).toEqual(expect.arrayContaining(['csv_to_json', 'json_query', 'text_diff']));
    const csv = tools.find((t) => t.name === 'csv_to_json')!;
    expect(csv.inputSchema.required).toEqual(['csv']);
    expect(csv.description).toContain('trusted capsule csv_to_json@1.0.0');
  });

  it('csv_to_json infers types', async () => {
    const r = await srv.call('csv_to_json', { csv: 'id,name,price,zip\n1,"Doe, J",9.5,00501\n2,Roe,,10' });
    expect(r.structuredContent.exitCode).toBe(0);
    expect(r.structuredContent.result.rows).toEqual([
      { id: 1, name: 'Doe, J', price: 9.5, zip: '00501' },
      { id: 2, name: 'Roe', price: null, zip: 10 },
    ]);
    expect(r.structuredContent.capsule.id).toMatch(/^[0-9a-f]{64}$/);
  });

  it('json_query selects with a path', async () => {
    const r = await srv.call('json_query', { data: { a: [{ id: 1 }, { id: 2, b: { id: 3 } }] }, path: '$..id' });
    expect(r.structuredContent.result).toEqual({ matches: [1, 2, 3], count: 3 });
  });

  it('text_diff renders a unified diff', async () => {
    const r = await srv.call('text_diff', { a: 'one\ntwo\nthree\n', b: 'one\n2\nthree\n' });
    expect(r.structuredContent.result).toMatchObject({ added: 1, removed: 1, identical: false });
    expect(r.structuredContent.result.unified).toContain('-two\n+2');
  });

  it('text_diff finishes a 5,000-line diff with every third line changed, under the default memory limit', async () => {
    // The capsule's first version kept its whole search frontier per step and stopped here with 137.
    const a = Array.from({ length: 5000 }, (_, i) => `line ${i}`);
    const b = a.map((line, i) => (i % 3 === 0 ? `changed ${i}` : line));
    const r = await srv.call('text_diff', { a: a.join('\n'), b: b.join('\n'), context: 0 });
    expect(r.structuredContent.exitCode).toBe(0);
    expect(r.structuredContent.result).toMatchObject({ added: 1667, removed: 1667, identical: false });
  });

  it('arguments reach the code as a value, never as source', async () => {
    const hostile = '"); globalThis.injected = 1; ("';
    const r = await srv.call('json_query', { data: { k: hostile }, path: "$['k']" });
    expect(r.structuredContent.result.matches).toEqual([hostile]);
  });

  it('refuses arguments that do not match the capsule schema', async () => {
    const r = await srv.call('csv_to_json', { csv: 42 });
    expect(r.isError).toBe(true);
  });

  it('a tampered capsule is absent from tools/list; the intact one is callable', async () => {
    const { tools } = await tampered.client.listTools();
    const names = tools.map((t) => t.name);
    expect(names).toContain('json_query');
    expect(names).not.toContain('text_diff');
    expect(names).not.toContain('csv_to_json');
    expect(tampered.stderr()).toContain('text_diff.capsule.json');
    const r = await tampered.call('json_query', { data: [1, 2], path: '$[1]' });
    expect(r.structuredContent.result.matches).toEqual([2]);
  });
});
