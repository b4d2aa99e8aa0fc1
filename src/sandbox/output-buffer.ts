/**
 * Guest output lives in a SharedArrayBuffer owned by the host main thread. The worker writes into
 * it; the host reads it after the run — even when the run ended with `worker.terminate()`, so the
 * output printed before a timeout is never lost. Caps are enforced here, outside the guest's realm:
 * a write past the cap is dropped and flagged, and the guest cannot catch its way past it.
 *
 * Layout: Int32 header [stdoutLen, stderrLen, stdoutTruncated, stderrTruncated], then the stdout
 * region (stdoutCap bytes), then the stderr region (stderrCap bytes).
 */
const HEADER_INTS = 4;
const HEADER_BYTES = HEADER_INTS * 4;

export interface CapturedOutput {
  stdout: string;
  stderr: string;
  stdoutTruncated: boolean;
  stderrTruncated: boolean;
}

export type Stream = 'stdout' | 'stderr';

const encoder = new TextEncoder();
const decoder = new TextDecoder('utf-8', { fatal: false });

export class OutputBuffer {
  readonly sab: SharedArrayBuffer;
  readonly stdoutCap: number;
  readonly stderrCap: number;
  private readonly header: Int32Array;
  private readonly bytes: Uint8Array;

  static allocate(stdoutCap: number, stderrCap: number): OutputBuffer {
    return new OutputBuffer(new SharedArrayBuffer(HEADER_BYTES + stdoutCap + stderrCap), stdoutCap, stderrCap);
  }

  constructor(sab: SharedArrayBuffer, stdoutCap: number, stderrCap: number) {
    if (sab.byteLength !== HEADER_BYTES + stdoutCap + stderrCap) throw new RangeError('output buffer size mismatch');
    this.sab = sab;
    this.stdoutCap = stdoutCap;
    this.stderrCap = stderrCap;
    this.header = new Int32Array(sab, 0, HEADER_INTS);
    this.bytes = new Uint8Array(sab, HEADER_BYTES);
  }

  /** Fits a run whose caps are at most these. */
  fits(stdoutCap: number, stderrCap: number): boolean {
    return stdoutCap <= this.stdoutCap && stderrCap <= this.stderrCap;
  }

  reset(): void {
    for (let i = 0; i < HEADER_INTS; i++) Atomics.store(this.header, i, 0);
  }

  /**
   * Append text to a stream, keeping at most `cap` bytes (the run's cap, ≤ the region size).
   * Cuts on a UTF-8 character boundary. Never throws: a guest's write must not fail noisily.
   */
  write(stream: Stream, text: string, cap: number): void {
    const idx = stream === 'stdout' ? 0 : 1;
    const region = stream === 'stdout' ? this.stdoutCap : this.stderrCap;
    const limit = Math.min(cap, region);
    const used = Atomics.load(this.header, idx);
    if (used >= limit) {
      if (text.length > 0) Atomics.store(this.header, idx + 2, 1);
      return;
    }
    const start = (stream === 'stdout' ? 0 : this.stdoutCap) + used;
    const target = this.bytes.subarray(start, start + (limit - used));
    const { read, written } = encoder.encodeInto(text, target);
    Atomics.store(this.header, idx, used + written);
    if (read < text.length) Atomics.store(this.header, idx + 2, 1);
  }

  bytesWritten(stream: Stream): number {
    return Atomics.load(this.header, stream === 'stdout' ? 0 : 1);
  }

  read(): CapturedOutput {
    const outLen = Math.min(Atomics.load(this.header, 0), this.stdoutCap);
    const errLen = Math.min(Atomics.load(this.header, 1), this.stderrCap);
    // Copy out of shared memory first: TextDecoder refuses SharedArrayBuffer views.
    const out = this.bytes.slice(0, outLen);
    const err = this.bytes.slice(this.stdoutCap, this.stdoutCap + errLen);
    return {
      stdout: decoder.decode(out),
      stderr: decoder.decode(err),
      stdoutTruncated: Atomics.load(this.header, 2) === 1,
      stderrTruncated: Atomics.load(this.header, 3) === 1,
    };
  }
}
