/**
 * `serve`: wire the front together and speak MCP on stdio until stdin closes or a signal arrives.
 */
import os from 'node:os';
import { PassThrough } from 'node:stream';
import { ErrorCode as McpErrorCode } from '@modelcontextprotocol/sdk/types.js';
import { AuditLog } from '../front/audit/audit-log.js';
import { defaultKeyDir, loadOrCreateKeyring } from '../front/capsule/keystore.js';
import { loadRegistry } from '../front/capsule/registry.js';
import { CapsuleStore, defaultStoreDir } from '../front/capsule/store.js';
import { collectGarbage } from '../front/garbage.js';
import { IDLE_COLLECT_MS, startIdleCollector } from '../shared/idle-collector.js';
import { createLogger } from '../front/logger.js';
import { loadWheels } from '../front/policy/python-schema.js';
import { ErrorCode } from '../protocol/errors.js';
import type { Settings } from '../front/policy/settings.js';
import { Runner } from '../front/runner.js';
import { SandboxClient } from '../front/sandbox-client.js';
import { openMounts } from '../front/vfs/mounts.js';
import { formatBytes } from '../front/output-files.js';
import { probeNetns } from '../front/os-layers.js';
import { RequestLineSplitter, requestLineLimit } from '../front/server/request-lines.js';
import { SnapshotCache, defaultCacheDir } from '../front/snapshot/cache.js';
import { providePythonSnapshot } from '../front/snapshot/provide.js';

export async function serve(settings: Settings): Promise<void> {
  // Anything that would print to stdout would corrupt the JSON-RPC stream: send it to stderr.
  console.log = console.error;
  console.info = console.error;
  console.debug = console.error;

  // The network-namespace probe starts a process (~0.1 s here) that the host's spawn waits for:
  // start it first, so it overlaps loading the key, the mounts and the snapshot's record.
  void probeNetns();
  const logger = createLogger(settings.logLevel);
  const keyDir = settings.keyDir ?? defaultKeyDir();
  // A bad python.packagesDir is a configuration error (exit 2), found before anything starts.
  const wheels = loadWheels(settings.policy.python, { homeDir: os.homedir(), keyDir });
  const { signer, publicKeys } = await loadOrCreateKeyring(keyDir);
  const mounts = await openMounts(settings.policy.filesystem, { homeDir: os.homedir(), keyDir });
  // Every configuration error (exit 2) is found before anything starts or logs.
  const audit =
    settings.auditLog === 'off'
      ? undefined
      : new AuditLog({ destination: settings.auditLog, policyName: settings.policyName, codeDigests: settings.auditCodeDigests, onError: (m) => logger.error(m) });
  const storeDir = settings.capsuleStore ?? defaultStoreDir(keyDir);
  const store = storeDir === 'off' ? undefined : new CapsuleStore({ dir: storeDir, onError: (m) => logger.warn(m) });
  // Only verified manifests become tools; a bad one is named on stderr and skipped.
  const registry = settings.registryDir ? loadRegistry(settings.registryDir) : { tools: [], rejected: [] };
  for (const r of registry.rejected) logger.warn({ file: r.file, reason: r.reason }, 'registry capsule rejected: not registered');
  // Python's snapshot is read (or made, once per build) alongside the host's start.
  let hostStarted!: () => void;
  const makeAfter = new Promise<void>((resolve) => (hostStarted = resolve));
  const stopMaking = new AbortController();
  const cache = settings.cacheDir === 'off' ? undefined : new SnapshotCache(settings.cacheDir ?? defaultCacheDir(), signer);
  const pythonSnapshot = cache && providePythonSnapshot({ cache, publicKeys, logger, makeAfter, signal: stopMaking.signal });
  const sandbox = new SandboxClient({
    publicKeys,
    logger,
    memMb: settings.policy.limits.memMb,
    spares: { js: 1, python: 2 },
    pythonSnapshot,
    pythonSnapshotFile: cache?.dataFile,
    wheels,
  });
  // The sandbox host starts first: its own start-up (a Node process under the permission model,
  // then the runtimes' spares) overlaps loading the MCP SDK below, which takes ~0.2–0.3 s here.
  // A host that cannot start at all is fatal (handled once the transport is up).
  const hostStart = sandbox.start();
  hostStart.catch(() => undefined);
  const [{ createMcpServer }, { StdioServerTransport }] = await Promise.all([
    import('../front/server/server.js'),
    import('@modelcontextprotocol/sdk/server/stdio.js'),
  ]);
  const runner = new Runner({ policy: settings.policy, signer, sandbox, logger, audit, store, mounts, wheels });
  const server = createMcpServer(runner, { networkEnabled: settings.policy.network.enabled, registryTools: registry.tools });

  const idle = startIdleCollector({ idleMs: IDLE_COLLECT_MS, collect: collectGarbage });
  let stopping = false;
  const shutdown = async (why: string) => {
    if (stopping) return;
    stopping = true;
    logger.info({ why }, 'shutting down');
    idle.stop();
    runner.close();
    stopMaking.abort();
    await Promise.allSettled([server.close(), sandbox.close(), store?.flush()]);
    audit?.flush();
    process.exit(why === 'sandbox host failed to start' ? 1 : 0);
  };
  // The SDK's stdio transport does not notice stdin closing; the client going away ends us.
  process.stdin.on('end', () => void shutdown('stdin ended'));
  process.stdin.on('close', () => void shutdown('stdin closed'));
  // The transport reads the splitter, not stdin, so it no longer hears stdin's errors: an unheard
  // 'error' would throw. A stdin that fails has lost its client.
  process.stdin.on('error', (e: Error) => {
    logger.warn({ err: e.message }, 'stdin failed');
    void shutdown('stdin failed');
  });
  // The transport can also close itself: nothing more can be answered, so the server must not
  // linger with its sandbox host.
  server.server.onclose = () => void shutdown('transport closed');
  process.on('SIGINT', () => void shutdown('SIGINT'));
  process.on('SIGTERM', () => void shutdown('SIGTERM'));

  // Answer the client at once; the sandbox host is starting alongside (a run waits for it if needed).
  // A host that cannot start at all is fatal: the server must never run unrestricted.
  // The transport reads whole lines from the splitter, never stdin itself: a line over its buffer
  // would close it for good, so the splitter skips such a line and answers its request here.
  const maxLineBytes = requestLineLimit(settings.policy);
  const lines = new PassThrough();
  const transport = new StdioServerTransport(lines, process.stdout, { maxBufferSize: maxLineBytes + 2 });
  const send = transport.send.bind(transport);
  transport.send = (message: Parameters<typeof send>[0]) => {
    idle.touch();
    return send(message);
  };
  const splitter = new RequestLineSplitter({
    maxLineBytes,
    onLine: (line) => lines.write(line),
    onOversized: ({ bytes, id }) => {
      const message = `request too large: its line is ${formatBytes(bytes)} and this server reads lines up to ${formatBytes(maxLineBytes)} (set by the policy's filesystem.quotaBytes and limits.codeBytes); send fewer or smaller files per call`;
      logger.warn({ bytes, maxLineBytes, id }, 'request line over the limit skipped');
      if (id !== undefined) void transport.send({ jsonrpc: '2.0', id, error: { code: McpErrorCode.InvalidRequest, message, data: { code: ErrorCode.INVALID_INPUT, bytes, maxBytes: maxLineBytes } } });
    },
  });
  await server.connect(transport);
  // Only once connected: a first 'data' listener starts stdin flowing.
  process.stdin.on('data', (chunk: Buffer) => {
    idle.touch();
    splitter.push(chunk);
  });
  try {
    await hostStart;
    hostStarted();
  } catch (e) {
    logger.fatal({ err: (e as Error).message }, 'the sandbox host could not start; refusing to serve');
    await shutdown('sandbox host failed to start');
    return;
  }
  logger.info({ policy: settings.policyFile, keyId: signer.keyId, restrictions: sandbox.restrictions }, 'wasm-sandbox-mcp ready on stdio');
}
