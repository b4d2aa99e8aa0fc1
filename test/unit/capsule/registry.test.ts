import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { keyringFromPublicKeys } from '../../../src/protocol/capsule.js';
import { ErrorCode } from '../../../src/protocol/errors.js';
import { REGISTRY_DIR, loadRegistry, signManifest, verifyManifest, type Manifest } from '../../../src/front/capsule/registry.js';
import { CapsuleSigner } from '../../../src/front/capsule/signer.js';

const manifest: Manifest = {
  name: 'double_it',
  description: 'Doubles input.n',
  version: '1.0.0',
  language: 'js',
  inputSchema: { type: 'object', properties: { n: { type: 'number' } }, required: ['n'] },
  code: 'input.n * 2',
};

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) fs.rmSync(d, { recursive: true, force: true });
});

function registryDir(signer: CapsuleSigner, docs: Record<string, unknown>, trusted = signer.publicKeys()): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'wsm-reg-'));
  dirs.push(dir);
  fs.writeFileSync(path.join(dir, 'trusted-keys.json'), JSON.stringify({ keys: trusted }));
  for (const [name, doc] of Object.entries(docs)) fs.writeFileSync(path.join(dir, name), JSON.stringify(doc));
  return dir;
}

describe('registry manifests', () => {
  const signer = CapsuleSigner.generate();
  const ring = keyringFromPublicKeys(signer.publicKeys());

  it('a signed manifest verifies and has a stable id', () => {
    const signed = signManifest(manifest, signer);
    const a = verifyManifest(signed, ring);
    expect(a.manifest).toEqual(manifest);
    expect(a.id).toMatch(/^[0-9a-f]{64}$/);
    expect(verifyManifest(JSON.parse(JSON.stringify(signed)), ring).id).toBe(a.id);
  });

  it.each([
    ['changed code', (s: any) => ({ ...s, manifest: { ...s.manifest, code: 'input.n * 3' } })],
    ['changed schema', (s: any) => ({ ...s, manifest: { ...s.manifest, inputSchema: { type: 'object' } } })],
    ['renamed', (s: any) => ({ ...s, manifest: { ...s.manifest, name: 'other' } })],
    ['unknown key', (s: any) => ({ ...s, keyId: '0000000000000000' })],
    ['short signature', (s: any) => ({ ...s, signature: s.signature.slice(0, 20) })],
    ['flipped signature', (s: any) => ({ ...s, signature: (s.signature[0] === 'A' ? 'B' : 'A') + s.signature.slice(1) })],
    ['extra field', (s: any) => ({ ...s, manifest: { ...s.manifest, url: 'https://evil.example/code.js' } })],
    ['reserved name', (s: any) => s, { ...manifest, name: 'run_js' }],
  ] as Array<[string, (s: unknown) => unknown, Manifest?]>)('refuses a manifest with %s', (_label, tamper, base) => {
    const signed = signManifest(base ?? manifest, signer);
    expect(() => verifyManifest(tamper(signed), ring)).toThrowError(expect.objectContaining({ code: ErrorCode.CAPSULE_INVALID }));
  });

  it('a run capsule signature cannot be replayed as a manifest signature (domain separation)', () => {
    expect(() => signer.signTagged('wasm-sandbox-mcp/capsule/v1\0', 'x')).toThrow();
  });

  it('loadRegistry keeps valid manifests and rejects tampered ones, naming the file', () => {
    const good = signManifest(manifest, signer);
    const bad = { ...signManifest({ ...manifest, name: 'evil' }, signer) };
    bad.manifest = { ...bad.manifest, code: 'while(true){}' };
    const dir = registryDir(signer, { 'double_it.capsule.json': good, 'evil.capsule.json': bad, 'notes.json': { ignored: true } });
    const reg = loadRegistry(dir);
    expect(reg.tools.map((t) => t.manifest.name)).toEqual(['double_it']);
    expect(reg.rejected).toHaveLength(1);
    expect(reg.rejected[0]!.file).toContain('evil.capsule.json');
  });

  it('a manifest signed by a key missing from trusted-keys.json is rejected', () => {
    const other = CapsuleSigner.generate();
    const dir = registryDir(signer, { 'double_it.capsule.json': signManifest(manifest, other) });
    expect(loadRegistry(dir).tools).toHaveLength(0);
  });

  it('the shipped registry verifies: three capsules, none rejected', () => {
    const reg = loadRegistry(REGISTRY_DIR);
    expect(reg.rejected).toEqual([]);
    expect(reg.tools.map((t) => t.manifest.name).sort()).toEqual(['csv_to_json', 'json_query', 'text_diff']);
  });

  it('each shipped capsule is the signed form of its source in capsules/src (no drift either way)', () => {
    const srcDir = path.join(REGISTRY_DIR, 'src');
    const sources = fs.readdirSync(srcDir).filter((f) => f.endsWith('.manifest.json'));
    expect(sources.length).toBe(loadRegistry(REGISTRY_DIR).tools.length);
    for (const file of sources) {
      const { codeFile, ...source } = JSON.parse(fs.readFileSync(path.join(srcDir, file), 'utf8'));
      const code = fs.readFileSync(path.join(srcDir, codeFile), 'utf8');
      const shipped = JSON.parse(fs.readFileSync(path.join(REGISTRY_DIR, `${source.name}.capsule.json`), 'utf8'));
      expect(shipped.manifest, file).toEqual({ ...source, code });
    }
  });
});
