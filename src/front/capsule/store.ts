/**
 * Executed capsules, kept content-addressed on disk (`<id>.json` holding the signed wire form), so a
 * run can be looked up and its signature checked afterwards (`wasm-sandbox-mcp verify <id>`).
 * Bounded by count and bytes: the oldest are pruned, from an index kept in memory (a directory scan
 * per run cost a long-lived server ~15–30% of its throughput). Writes happen off the call's path; a
 * failing disk never fails a run (it is logged).
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
  /** The directory, made once (again after it vanished). */
  private made: Promise<unknown> | undefined;
  /**
   * What the directory holds, oldest first (a Map keeps insertion order), with the total size:
   * read from disk once, then kept up to date by our own writes and removals, so bounding the store
   * costs no directory scan per run. Re-read every `maxCount` writes, for files other servers
   * sharing the directory wrote.
   */
  private index: { files: Map<string, number>; bytes: number } | undefined;
  private writesSinceScan = 0;

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
    const id = capsuleId(capsule.body);
    const file = path.join(this.dir, `${id}.json`);
    const text = JSON.stringify(capsule);
    try {
      await this.writeFile(file, text);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
      // The directory was removed while we ran: make it again, once.
      this.made = undefined;
      this.index = undefined;
      await this.writeFile(file, text);
    }
    if (!this.index || ++this.writesSinceScan >= this.maxCount) await this.scan();
    else this.record(file, Buffer.byteLength(text));
    await this.enforceBounds();
  }

  private async writeFile(file: string, text: string): Promise<void> {
    await (this.made ??= fs.promises.mkdir(this.dir, { recursive: true, mode: 0o700 }));
    const tmp = `${file}.${process.pid}.tmp`;
    await fs.promises.writeFile(tmp, text, { mode: 0o600 });
    await fs.promises.rename(tmp, file);
  }

  /** A file just written becomes the newest entry (replacing itself if it was there). */
  private record(file: string, size: number): void {
    const index = this.index!;
    const old = index.files.get(file);
    if (old !== undefined) {
      index.files.delete(file);
      index.bytes -= old;
    }
    index.files.set(file, size);
    index.bytes += size;
  }

  /** Read the directory into the index, oldest first. */
  private async scan(): Promise<void> {
    this.writesSinceScan = 0;
    const names = (await fs.promises.readdir(this.dir)).filter((n) => n.endsWith('.json'));
    const entries = await Promise.all(
      names.map(async (n) => {
        const file = path.join(this.dir, n);
        const st = await fs.promises.stat(file).catch(() => undefined);
        return st && { file, mtime: st.mtimeMs, size: st.size };
      }),
    );
    const present = entries.filter((e) => e !== undefined).sort((a, b) => a.mtime - b.mtime);
    this.index = { files: new Map(present.map((e) => [e.file, e.size])), bytes: present.reduce((sum, e) => sum + e.size, 0) };
  }

  /** Drop the oldest capsules until both bounds hold; how many were dropped. */
  private async enforceBounds(): Promise<number> {
    const index = this.index!;
    let removed = 0;
    for (const [file, size] of index.files) {
      if (index.files.size <= this.maxCount && index.bytes <= this.maxBytes) break;
      // unlink, not rm: rm stats the path first, one more trip to the thread pool per pruned capsule
      // (the store is full, and prunes one per write, on a long-lived server).
      await fs.promises.unlink(file).catch((e: NodeJS.ErrnoException) => {
        if (e.code !== 'ENOENT') throw e;
      });
      index.files.delete(file);
      index.bytes -= size;
      removed++;
    }
    return removed;
  }

  /** Read the directory afresh and drop the oldest capsules until both bounds hold. */
  async prune(): Promise<number> {
    try {
      await this.scan();
    } catch {
      return 0;
    }
    return this.enforceBounds();
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
