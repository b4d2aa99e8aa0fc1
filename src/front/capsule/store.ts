/**
 * Executed capsules, kept content-addressed on disk (`<id>.json` holding the signed wire form), so a
 * run can be looked up and its signature checked afterwards (`wasm-sandbox-mcp verify <id>`).
 * Bounded by count and bytes: the oldest are pruned. Writes happen off the call's path; a failing
 * disk never fails a run (it is logged).
 */
import fs from 'node:fs';
import path from 'node:path';
import { capsuleId, SignedCapsuleSchema, type SignedCapsule } from '../../protocol/capsule.js';

export interface CapsuleStoreOptions {
  dir: string;
  maxCount?: number;
  maxBytes?: number;
  onError?: (message: string) => void;
}

const ID = /^[0-9a-f]{64}$/;

export class CapsuleStore {
  readonly dir: string;
  private readonly maxCount: number;
  private readonly maxBytes: number;
  private queue: Promise<void> = Promise.resolve();
  private writesSincePrune = 0;

  constructor(private readonly options: CapsuleStoreOptions) {
    this.dir = options.dir;
    this.maxCount = options.maxCount ?? 1000;
    this.maxBytes = options.maxBytes ?? 64 * 1024 * 1024;
  }

  /** Queue a capsule for storage; returns at once. */
  put(capsule: SignedCapsule): void {
    this.queue = this.queue.then(() => this.write(capsule)).catch((e: Error) => this.options.onError?.(`capsule store: ${e.message}`));
  }

  /** Resolves when every queued write has landed (tests, shutdown). */
  flush(): Promise<void> {
    return this.queue;
  }

  private async write(capsule: SignedCapsule): Promise<void> {
    await fs.promises.mkdir(this.dir, { recursive: true, mode: 0o700 });
    const id = capsuleId(capsule.body);
    const file = path.join(this.dir, `${id}.json`);
    const tmp = `${file}.${process.pid}.tmp`;
    await fs.promises.writeFile(tmp, JSON.stringify(capsule), { mode: 0o600 });
    await fs.promises.rename(tmp, file);
    if (++this.writesSincePrune >= 50) {
      this.writesSincePrune = 0;
      await this.prune();
    }
  }

  /** Drop the oldest capsules until both bounds hold. */
  async prune(): Promise<number> {
    let entries: Array<{ file: string; mtime: number; size: number }>;
    try {
      const names = (await fs.promises.readdir(this.dir)).filter((n) => n.endsWith('.json'));
      entries = await Promise.all(
        names.map(async (n) => {
          const file = path.join(this.dir, n);
          const st = await fs.promises.stat(file);
          return { file, mtime: st.mtimeMs, size: st.size };
        }),
      );
    } catch {
      return 0;
    }
    entries.sort((a, b) => a.mtime - b.mtime);
    let total = entries.reduce((sum, e) => sum + e.size, 0);
    let removed = 0;
    while (entries.length > 0 && (entries.length > this.maxCount || total > this.maxBytes)) {
      const e = entries.shift()!;
      await fs.promises.rm(e.file, { force: true });
      total -= e.size;
      removed++;
    }
    return removed;
  }

  /** The stored capsule with this id, or undefined. A file whose content does not hash to its name is refused. */
  get(id: string): SignedCapsule | undefined {
    if (!ID.test(id)) return undefined;
    let text: string;
    try {
      text = fs.readFileSync(path.join(this.dir, `${id}.json`), 'utf8');
    } catch {
      return undefined;
    }
    let doc: unknown;
    try {
      doc = JSON.parse(text);
    } catch {
      return undefined;
    }
    const parsed = SignedCapsuleSchema.safeParse(doc);
    if (!parsed.success || capsuleId(parsed.data.body) !== id) return undefined;
    return parsed.data;
  }
}

/** Default store location: beside the key directory (`…/wasm-sandbox-mcp/capsules`). */
export function defaultStoreDir(keyDir: string): string {
  return path.join(path.dirname(keyDir), 'capsules');
}
