/**
 * The front's young generation, held at its initial size.
 *
 * V8 doubles the young generation of a busy process and keeps it, with no more live data than
 * before: the front's went from 2 to 16 MiB over 600 calls on Node 20, and a busy process can take
 * it to 32 MiB on Node 20 and 128 MiB on Node 24 (found with the soak, `bench/soak.mjs`). The
 * front's allocations are small and short-lived — a request, its capsule, its result — so the
 * smallest young generation costs no measurable latency or throughput.
 *
 * V8 reads its growth factor each time it would grow the space, so setting the flag at start-up
 * works even though the heap already exists; `--max-semi-space-size` would not (it is read only
 * when the heap is made). Importing this module applies it, and `cli/main.ts` imports it first:
 * the start-up of the bundled front alone (settings, the MCP SDK's schemas) grew the space from 1 to
 * 8 MiB. An unknown flag is a line on stderr, never stdout.
 */
import v8 from 'node:v8';

export function holdYoungGeneration(): void {
  v8.setFlagsFromString('--semi-space-growth-factor=1');
}

holdYoungGeneration();
