/**
 * The non-server subcommands: keygen, sign, verify, doctor, run. Each returns the process exit
 * status; output goes to stdout (results) and stderr (diagnostics).
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { keyringFromPublicKeys, verifyCapsule } from '../protocol/capsule.js';
import { ErrorCode, SandboxError } from '../protocol/errors.js';
import { defaultKeyDir, loadOrCreateKeyring, rotateKey } from '../front/capsule/keystore.js';
import { ManifestSchema, REGISTRY_DIR, loadTrustedKeys, signManifest, verifyManifest, MANIFEST_SUFFIX } from '../front/capsule/registry.js';
import { CapsuleSigner, verifyWithNoble } from '../front/capsule/signer.js';
import { CapsuleStore, defaultStoreDir } from '../front/capsule/store.js';
import { diagnose, gradeOf, meets, GRADES, type Grade } from '../front/doctor.js';
import { osLayerSummary } from '../front/os-layers.js';
import { createLogger } from '../front/logger.js';
import type { Settings } from '../front/policy/settings.js';
import { Runner } from '../front/runner.js';
import { loadWheels } from '../front/policy/python-schema.js';
import { SandboxClient } from '../front/sandbox-client.js';
import { SnapshotCache, defaultCacheDir } from '../front/snapshot/cache.js';
import { providePythonSnapshot } from '../front/snapshot/provide.js';
import { openMounts } from '../front/vfs/mounts.js';

export interface CommandOptions {
  settings: Settings;
  positionals: string[];
  out?: string | undefined;
  json: boolean;
  minGrade?: string | undefined;
  trustedKeys?: string | undefined;
}

const write = (text: string) => process.stdout.write(text.endsWith('\n') ? text : `${text}\n`);
const warn = (text: string) => process.stderr.write(text.endsWith('\n') ? text : `${text}\n`);
const keyDirOf = (s: Settings) => s.keyDir ?? defaultKeyDir();

function usage(message: string): never {
  throw new SandboxError(ErrorCode.CONFIG, message);
}

/** `keygen`: add a new newest signing key (rotation keeps the old ones for verification). */
export async function keygen(o: CommandOptions): Promise<number> {
  const dir = keyDirOf(o.settings);
  const { signer } = fs.existsSync(dir) ? await rotateKey(dir) : await loadOrCreateKeyring(dir);
  write(JSON.stringify({ keyDir: dir, keyId: signer.keyId, publicKey: signer.publicKey }));
  return 0;
}

/** `sign MANIFEST.json`: sign a registry manifest (code inline, or `codeFile` beside it). */
export async function sign(o: CommandOptions): Promise<number> {
  const src = o.positionals[0] ?? usage('sign needs a manifest file: wasm-sandbox-mcp sign MANIFEST.json');
  const raw = JSON.parse(fs.readFileSync(src, 'utf8')) as Record<string, unknown>;
  if (typeof raw.codeFile === 'string') {
    raw.code = fs.readFileSync(path.resolve(path.dirname(src), raw.codeFile), 'utf8');
    delete raw.codeFile;
  }
  const parsed = ManifestSchema.safeParse(raw);
  if (!parsed.success) usage(`invalid manifest ${src}: ${parsed.error.issues[0]?.path.join('.')}: ${parsed.error.issues[0]?.message}`);
  const { signer } = await loadOrCreateKeyring(keyDirOf(o.settings));
  const signed = signManifest(parsed.data, signer);
  const out = o.out ?? path.join(path.dirname(src), `${parsed.data.name}${MANIFEST_SUFFIX}`);
  fs.writeFileSync(out, `${JSON.stringify(signed, null, 2)}\n`);
  write(JSON.stringify({ wrote: out, keyId: signer.keyId, trustedKey: { keyId: signer.keyId, publicKey: signer.publicKey } }));
  return 0;
}

/**
 * `verify FILE_OR_ID`: a run capsule from the store (by id) or a file, checked with the
 * independent @noble/ed25519 implementation against the server's keys; or a registry manifest
 * checked against trusted-keys.json.
 */
export async function verify(o: CommandOptions): Promise<number> {
  const arg = o.positionals[0] ?? usage('verify needs a capsule id or file: wasm-sandbox-mcp verify ID_OR_FILE');
  const keyDir = keyDirOf(o.settings);
  let doc: unknown;
  if (/^[0-9a-f]{64}$/.test(arg) && !fs.existsSync(arg)) {
    const storeDir = o.settings.capsuleStore && o.settings.capsuleStore !== 'off' ? o.settings.capsuleStore : defaultStoreDir(keyDir);
    doc = new CapsuleStore({ dir: storeDir }).get(arg);
    if (doc === undefined) {
      warn(`invalid: no intact capsule ${arg} in ${storeDir}`);
      return 1;
    }
  } else {
    doc = JSON.parse(fs.readFileSync(arg, 'utf8'));
  }
  try {
    if (doc && typeof doc === 'object' && 'manifest' in doc) {
      const trusted = loadTrustedKeys(o.trustedKeys ? path.dirname(o.trustedKeys) : path.dirname(path.resolve(arg)));
      const { manifest, id } = verifyManifest(doc, keyringFromPublicKeys(trusted));
      write(JSON.stringify({ valid: true, kind: 'manifest', name: manifest.name, id }));
      return 0;
    }
    const { publicKeys } = await loadOrCreateKeyring(keyDir);
    const body = (doc as { body?: string }).body;
    // A stored capsule has expired by design; verify it as of its own creation time.
    const created = typeof body === 'string' ? (JSON.parse(body) as { createdAt?: number }).createdAt : undefined;
    const at = typeof created === 'number' ? created : Date.now();
    const { id, body: b } = verifyWithNoble(doc, publicKeys, at);
    verifyCapsule(doc, keyringFromPublicKeys(publicKeys), at);
    write(JSON.stringify({ valid: true, kind: 'run', id, keyId: b.keyId, language: b.language, createdAt: new Date(b.createdAt).toISOString() }));
    return 0;
  } catch (e) {
    warn(`invalid: ${e instanceof Error ? e.message : String(e)}`);
    return 1;
  }
}

/** `doctor`: grade the effective policy and the host; `--json` for CI; `--min-grade X` sets the exit status. */
export async function doctor(o: CommandOptions): Promise<number> {
  const min = o.minGrade?.toUpperCase();
  if (min !== undefined && !(GRADES as readonly string[]).includes(min)) usage(`invalid --min-grade "${o.minGrade}": expected one of ${GRADES.join(', ')}`);
  const signer = CapsuleSigner.generate();
  const sandbox = new SandboxClient({ publicKeys: signer.publicKeys(), logger: createLogger('silent'), memMb: o.settings.policy.limits.memMb, spares: { js: 0, python: 0 } });
  let hostStartError: string | undefined;
  try {
    await sandbox.start();
  } catch (e) {
    hostStartError = (e as Error).message;
  }
  const restrictions = sandbox.restrictions;
  const osLayers = sandbox.osLayers;
  await sandbox.close();
  const findings = diagnose(o.settings.policy, {
    nodeVersion: process.version,
    restrictions,
    hostStartError,
    osLayerNotes: osLayers?.notes,
    homeDir: os.homedir(),
    keyDir: keyDirOf(o.settings),
    cpus: os.availableParallelism?.() ?? os.cpus().length,
  });
  const grade = gradeOf(findings);
  const report = { grade, policy: o.settings.policyFile, node: process.version, restrictions, osLayers, registry: REGISTRY_DIR, findings };
  if (o.json) write(JSON.stringify(report));
  else {
    write(`Grade ${grade} — policy ${o.settings.policyFile}, Node ${process.version}`);
    write(`Sandbox host restrictions: ${restrictions.join(', ') || 'none (did not start)'}`);
    if (osLayers) write(`OS isolation layers: ${osLayerSummary(osLayers)}`);
    for (const f of findings) write(`  [${f.severity}] ${f.id}: ${f.message}`);
    if (findings.length === 0) write('  no findings');
  }
  return min !== undefined && !meets(grade, min as Grade) ? 1 : 0;
}

/** `run FILE.js|FILE.ts|FILE.py`: one run with the same policy as the server; exits with the run's exit code. */
export async function runFile(o: CommandOptions): Promise<number> {
  const file = o.positionals[0] ?? usage('run needs a file: wasm-sandbox-mcp run FILE.js|FILE.ts|FILE.py');
  const ext = path.extname(file).toLowerCase();
  const typescript = ext === '.ts' || ext === '.mts';
  const language =
    ext === '.py' ? 'python' : typescript || ext === '.js' || ext === '.mjs' || ext === '.cjs' ? 'js' : usage(`run: cannot tell the language of ${file} (use .js, .ts or .py)`);
  let code: string;
  try {
    code = fs.readFileSync(file, 'utf8');
  } catch (e) {
    return usage(`run: cannot read ${file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
  const logger = createLogger(o.settings.logLevel === 'info' ? 'warn' : o.settings.logLevel);
  const wheels = loadWheels(o.settings.policy.python, { homeDir: os.homedir(), keyDir: keyDirOf(o.settings) });
  const { signer, publicKeys } = await loadOrCreateKeyring(keyDirOf(o.settings));
  // A one-shot Python run uses the cached snapshot when it verifies, but never waits to make one.
  const cache = language === 'python' && o.settings.cacheDir !== 'off' ? new SnapshotCache(o.settings.cacheDir ?? defaultCacheDir(), signer) : undefined;
  const pythonSnapshot = cache?.load(publicKeys).then((r) => (r.ok ? { file: r.file } : undefined));
  const sandbox = new SandboxClient({
    publicKeys,
    logger,
    memMb: o.settings.policy.limits.memMb,
    spares: { js: 0, python: 0 },
    pythonSnapshot,
    pythonSnapshotFile: cache?.dataFile,
    wheels,
  });
  const mounts = await openMounts(o.settings.policy.filesystem, { homeDir: os.homedir(), keyDir: keyDirOf(o.settings) });
  const runner = new Runner({ policy: o.settings.policy, signer, sandbox, logger, mounts, wheels });
  try {
    const r = await runner.run({ language, code, typescript });
    process.stdout.write(r.stdout);
    process.stderr.write(r.stderr);
    if (r.result !== undefined && o.json) write(JSON.stringify(r.result));
    if (r.error) warn(`${r.error.type}: ${r.error.message}${r.error.traceback ? `\n${r.error.traceback}` : ''}`);
    return r.exitCode;
  } finally {
    runner.close();
    await sandbox.close();
  }
}

/** `prepare`: make Python's snapshot and cache it now (e.g. while building an image), unless a valid one is there. */
export async function prepare(o: CommandOptions): Promise<number> {
  if (o.settings.cacheDir === 'off') usage('prepare needs a cache directory (--cache-dir is off)');
  const { signer, publicKeys } = await loadOrCreateKeyring(keyDirOf(o.settings));
  const cache = new SnapshotCache(o.settings.cacheDir ?? defaultCacheDir(), signer);
  const started = performance.now();
  const snapshot = await providePythonSnapshot({ cache, publicKeys, logger: createLogger(o.settings.logLevel) });
  // Made but not cached is a failure here: caching is what `prepare` is for.
  const file = snapshot && 'file' in snapshot ? snapshot.file : undefined;
  const report = { file: cache.dataFile, bytes: file?.size ?? 0, ms: Math.round(performance.now() - started), ok: file !== undefined };
  write(o.json ? JSON.stringify(report) : file ? `python snapshot ready: ${cache.dataFile} (${report.bytes} bytes, ${report.ms} ms)` : 'python snapshot could not be made (see above)');
  return file ? 0 : 1;
}
