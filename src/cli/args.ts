/**
 * argv → raw settings, with node:util parseArgs. Unknown flags are errors.
 */
import { parseArgs } from 'node:util';
import { ErrorCode, SandboxError } from '../protocol/errors.js';
import type { RawSettings } from '../front/policy/settings.js';

export const USAGE = `Usage: wasm-sandbox-mcp [command] [options]

Commands:
  serve (default)        MCP server on stdio: run untrusted JavaScript (run_js, QuickJS) and
                         Python (run_python, Pyodide) in WebAssembly sandboxes behind a policy
  run FILE.js|FILE.ts|FILE.py
                         run one file under the same policy; exits with the run's exit code
                         (--json also prints the result; .ts/.mts: types stripped, not checked)
  doctor                 grade the policy and host A-F (--json, --min-grade X)
  keygen                 add a new signing key to the key directory (rotation)
  sign MANIFEST.json     sign a registry capsule manifest (--out FILE)
  verify ID_OR_FILE      verify a stored run capsule by id, or a capsule/manifest file
  prepare                make and cache Python's signed memory snapshot now (servers
                         otherwise make it at their first start; ~5-8 s of CPU, once per build)

Options (flag > environment variable > policy file > default):
  --policy FILE_OR_NAME  policy file, or a shipped policy name (default, strict)   [SANDBOX_POLICY]
  --timeout MS           time limit per run, ms (default 30000)                      [TIMEOUT_MS]
  --max-memory MB        memory limit per runtime, MiB (default 256)                 [MAX_MEMORY_MB]
  --max-stdout BYTES     stdout cap per run (default 1048576)                        [MAX_STDOUT_BYTES]
  --max-stderr BYTES     stderr cap per run (default 2097152)                        [MAX_STDERR_BYTES]
  --log-level LEVEL      fatal|error|warn|info|debug|trace|silent (default info)     [LOG_LEVEL]
  --key-dir DIR          capsule signing keys (default ~/.config/wasm-sandbox-mcp/keys) [SANDBOX_KEY_DIR]
  --audit-log FILE       audit log: a file, stderr or off (default stderr)         [SANDBOX_AUDIT_LOG]
  --audit-code-digests   record each run's code SHA-256 in the audit log           [SANDBOX_AUDIT_CODE_DIGESTS=1]
  --registry DIR         trusted capsules to offer as tools, or off (default: shipped) [SANDBOX_REGISTRY]
  --capsule-store DIR    where executed capsules are kept, or off (default: beside the keys) [SANDBOX_CAPSULE_STORE]
  --cache-dir DIR        signed Python snapshot cache, or off (default ~/.cache/wasm-sandbox-mcp) [SANDBOX_CACHE_DIR]
  --out FILE             where sign writes the signed manifest
  --json                 machine-readable output (doctor, run)
  --min-grade GRADE      doctor exits 1 below this grade (A-F)
  --trusted-keys FILE    trusted-keys.json for verifying a manifest (default: beside it)
  -h, --help             print this help and exit
  -v, --version          print the version and exit

Logs go to stderr; stdout carries only JSON-RPC.`;

export interface ParsedArgs {
  command: string;
  out: string | undefined;
  json: boolean;
  minGrade: string | undefined;
  trustedKeys: string | undefined;
  settings: RawSettings;
  help: boolean;
  version: boolean;
  positionals: string[];
}

/** How many arguments each command takes after its name (an extra one is a mistake, not ignored). */
const MAX_POSITIONALS: Record<string, number> = { serve: 0, keygen: 0, doctor: 0, prepare: 0, sign: 1, verify: 1, run: 1 };

export function parseCliArgs(argv: string[]): ParsedArgs {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      strict: true,
      options: {
        policy: { type: 'string' },
        timeout: { type: 'string' },
        'max-memory': { type: 'string' },
        'max-stdout': { type: 'string' },
        'max-stderr': { type: 'string' },
        'log-level': { type: 'string' },
        'key-dir': { type: 'string' },
        'audit-log': { type: 'string' },
        'audit-code-digests': { type: 'boolean' },
        registry: { type: 'string' },
        'capsule-store': { type: 'string' },
        'cache-dir': { type: 'string' },
        out: { type: 'string' },
        json: { type: 'boolean' },
        'min-grade': { type: 'string' },
        'trusted-keys': { type: 'string' },
        help: { type: 'boolean', short: 'h' },
        version: { type: 'boolean', short: 'v' },
      },
    });
  } catch (e) {
    throw new SandboxError(ErrorCode.CONFIG, `${(e as Error).message.split('\n')[0]} (see --help)`);
  }
  const v = parsed.values;
  const [command = 'serve', ...positionals] = parsed.positionals;
  const most = MAX_POSITIONALS[command];
  if (most !== undefined && positionals.length > most) {
    throw new SandboxError(ErrorCode.CONFIG, `${command}: unexpected argument ${JSON.stringify(positionals[most])} (see --help)`);
  }
  return {
    command,
    positionals,
    out: v.out,
    json: v.json ?? false,
    minGrade: v['min-grade'],
    trustedKeys: v['trusted-keys'],
    help: v.help ?? false,
    version: v.version ?? false,
    settings: {
      policy: v.policy,
      timeout: v.timeout,
      maxMemory: v['max-memory'],
      maxStdout: v['max-stdout'],
      maxStderr: v['max-stderr'],
      logLevel: v['log-level'],
      keyDir: v['key-dir'],
      auditLog: v['audit-log'],
      auditCodeDigests: v['audit-code-digests'] === undefined ? undefined : String(v['audit-code-digests']),
      registry: v.registry,
      capsuleStore: v['capsule-store'],
      cacheDir: v['cache-dir'],
    },
  };
}
