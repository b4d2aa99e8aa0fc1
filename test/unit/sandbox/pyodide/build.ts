/**
 * Test helper: the Pyodide adapter as plain JavaScript, for worker threads and for a child process
 * under Node's permission model (neither can load TypeScript on Node 20). It transpiles the adapter
 * and the files it imports (no type check: `tsc --noEmit` does that) into a fresh temporary
 * directory, with the fixtures next to it and `node_modules` linked to the project's.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import ts from 'typescript';

export const PROJECT_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../..');
const SRC = path.join(PROJECT_ROOT, 'src');
const FIXTURES = path.dirname(fileURLToPath(import.meta.url));
const ENTRY = 'sandbox/runtimes/pyodide.ts';

export interface BuiltAdapter {
  dir: string;
  adapterUrl: string;
  workerUrl: URL;
  controllerUrl: string;
  permissionHostPath: string;
  cleanup(): void;
}

function relativeImports(source: string): string[] {
  const out: string[] = [];
  for (const m of source.matchAll(/(?:from|import)\s*\(?\s*'(\.{1,2}\/[^']+)\.js'/g)) out.push(m[1]!);
  return out;
}

export function buildAdapter(): BuiltAdapter {
  const dir = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), 'pyodide-adapter-')));
  const todo = [ENTRY];
  const done = new Set<string>();
  while (todo.length > 0) {
    const rel = todo.pop()!;
    if (done.has(rel)) continue;
    done.add(rel);
    const source = fs.readFileSync(path.join(SRC, rel), 'utf8');
    const js = ts.transpileModule(source, {
      compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022, sourceMap: false },
      fileName: rel,
    }).outputText;
    const dest = path.join(dir, rel.replace(/\.ts$/, '.js'));
    fs.mkdirSync(path.dirname(dest), { recursive: true });
    fs.writeFileSync(dest, js);
    for (const imp of relativeImports(source)) {
      todo.push(path.posix.normalize(path.posix.join(path.posix.dirname(rel), `${imp}.ts`)));
    }
  }
  fs.writeFileSync(path.join(dir, 'package.json'), '{"type":"module"}\n');
  for (const f of ['worker.mjs', 'controller.mjs', 'permission-host.mjs']) {
    fs.copyFileSync(path.join(FIXTURES, f), path.join(dir, f));
  }
  fs.symlinkSync(path.join(PROJECT_ROOT, 'node_modules'), path.join(dir, 'node_modules'), 'dir');
  return {
    dir,
    adapterUrl: pathToFileURL(path.join(dir, ENTRY.replace(/\.ts$/, '.js'))).href,
    workerUrl: pathToFileURL(path.join(dir, 'worker.mjs')),
    controllerUrl: pathToFileURL(path.join(dir, 'controller.mjs')).href,
    permissionHostPath: path.join(dir, 'permission-host.mjs'),
    cleanup: () => fs.rmSync(dir, { recursive: true, force: true }),
  };
}

/** The sources under src/sandbox/runtimes that shape a snapshot's content (see front/snapshot/cache.ts). */
const SNAPSHOT_SHAPING = ['pyodide.ts', ...['boot', 'python', 'precompiled', 'packages', 'network'].map((m) => `pyodide/${m}.ts`)];

/**
 * A memory snapshot for the tests, made once and cached in the temp directory (keyed by the Pyodide
 * build and the code that shapes it), so that each test file does not pay for a full boot again.
 */
export async function testSnapshot(make: () => Promise<Uint8Array>): Promise<{ snapshot: Uint8Array; madeMs: number | undefined }> {
  const pkg = path.join(PROJECT_ROOT, 'node_modules', 'pyodide');
  const hash = crypto
    .createHash('sha256')
    .update(fs.readFileSync(path.join(pkg, 'package.json')))
    .update(String(fs.statSync(path.join(pkg, 'pyodide.asm.wasm')).size));
  for (const m of SNAPSHOT_SHAPING) hash.update(fs.readFileSync(path.join(SRC, 'sandbox/runtimes', m)));
  const key = hash.digest('hex').slice(0, 16);
  const file = path.join(os.tmpdir(), `wasm-sandbox-pyodide-test-snapshot-${key}.bin`);
  try {
    return { snapshot: new Uint8Array(fs.readFileSync(file)), madeMs: undefined };
  } catch {
    const t0 = performance.now();
    const snapshot = await make();
    const madeMs = performance.now() - t0;
    const tmp = `${file}.${process.pid}.tmp`;
    fs.writeFileSync(tmp, snapshot);
    fs.renameSync(tmp, file);
    return { snapshot, madeMs };
  }
}
