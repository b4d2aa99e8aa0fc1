// Line diff rendered as a unified diff. `input`: {a, b, context?, labelA?, labelB?}.
//
// Myers' O(ND) algorithm in linear space: each box of the edit graph is split at the middle of a
// shortest path (the "middle snake"), so memory stays proportional to the texts, not to the square of
// their differences. Before the search, lines found on one side only are marked as changed, as GNU
// diff and git do: they can never match, and texts that share little then cost little. A search that
// goes past MAX_COST differences in one box splits it at its furthest point instead: the script stays
// correct, it may be a little longer than the shortest, and very different texts still finish in time.
const { a, b, context = 3, labelA = 'a', labelB = 'b' } = input;
if (typeof a !== 'string' || typeof b !== 'string') throw new TypeError('a and b must be strings');
if (!Number.isInteger(context) || context < 0 || context > 1000) throw new RangeError('context must be an integer 0-1000');
const split = (s) => (s === '' ? [] : s.replace(/\n$/, '').split('\n'));
const A = split(a);
const B = split(b);

// Equal lines get equal small numbers, so the search compares integers.
const ids = new Map();
const intern = (lines) =>
  Int32Array.from(lines, (line) => {
    let id = ids.get(line);
    if (id === undefined) ids.set(line, (id = ids.size));
    return id;
  });
const lineIdsA = intern(A);
const lineIdsB = intern(B);

// removed[i]: line i of A is not in B's version; added[j]: line j of B is new.
const removed = new Uint8Array(A.length);
const added = new Uint8Array(B.length);

// Lines on one side only are changes whatever the alignment; the search sees the others.
function matchable(own, other, changed) {
  const present = new Uint8Array(ids.size);
  for (let i = 0; i < other.length; i++) present[other[i]] = 1;
  const at = [];
  for (let i = 0; i < own.length; i++) {
    if (present[own[i]]) at.push(i);
    else changed[i] = 1;
  }
  return { at, lineIds: Int32Array.from(at, (i) => own[i]) };
}
const left = matchable(lineIdsA, lineIdsB, removed);
const right = matchable(lineIdsB, lineIdsA, added);
const X = left.lineIds;
const Y = right.lineIds;
const n = X.length;
const m = Y.length;

// Furthest x reached on each diagonal k = x - y, forwards from a box's top left and backwards from
// its bottom right; indexed k + OFFSET.
const OFFSET = m + 1;
const forward = new Int32Array(n + m + 3);
const backward = new Int32Array(n + m + 3);
const UNREACHED = 0x7fffffff;
const MAX_COST = Math.max(1024, Math.ceil(Math.sqrt(n + m)));

// A point where the box [xlo, xhi) × [ylo, yhi) splits in two; the box has no common first or last line.
function middle(xlo, xhi, ylo, yhi) {
  const kmin = xlo - yhi;
  const kmax = xhi - ylo;
  const kf = xlo - ylo;
  const kb = xhi - yhi;
  const odd = ((kf - kb) & 1) !== 0;
  let fmin = kf, fmax = kf, bmin = kb, bmax = kb;
  forward[OFFSET + kf] = xlo;
  backward[OFFSET + kb] = xhi;
  for (let cost = 1; ; cost++) {
    if (fmin > kmin) forward[OFFSET + --fmin - 1] = -1;
    else fmin++;
    if (fmax < kmax) forward[OFFSET + ++fmax + 1] = -1;
    else fmax--;
    for (let k = fmax; k >= fmin; k -= 2) {
      const fromLeft = forward[OFFSET + k - 1];
      const fromAbove = forward[OFFSET + k + 1];
      let x = fromLeft >= fromAbove ? fromLeft + 1 : fromAbove;
      let y = x - k;
      while (x < xhi && y < yhi && X[x] === Y[y]) x++, y++;
      forward[OFFSET + k] = x;
      if (odd && bmin <= k && k <= bmax && backward[OFFSET + k] <= x) return [x, y];
    }
    if (bmin > kmin) backward[OFFSET + --bmin - 1] = UNREACHED;
    else bmin++;
    if (bmax < kmax) backward[OFFSET + ++bmax + 1] = UNREACHED;
    else bmax--;
    for (let k = bmax; k >= bmin; k -= 2) {
      const fromLeft = backward[OFFSET + k - 1];
      const fromBelow = backward[OFFSET + k + 1];
      let x = fromLeft < fromBelow ? fromLeft : fromBelow - 1;
      let y = x - k;
      while (x > xlo && y > ylo && X[x - 1] === Y[y - 1]) x--, y--;
      backward[OFFSET + k] = x;
      if (!odd && fmin <= k && k <= fmax && x <= forward[OFFSET + k]) return [x, y];
    }
    if (cost >= MAX_COST) return furthest(xlo, xhi, ylo, yhi, fmin, fmax, bmin, bmax);
  }
}

// The point, forwards or backwards, that got furthest from its corner (the search's best guess).
function furthest(xlo, xhi, ylo, yhi, fmin, fmax, bmin, bmax) {
  let best = null;
  let bestGain = -1;
  for (let k = fmax; k >= fmin; k -= 2) {
    const x = Math.min(forward[OFFSET + k], xhi, yhi + k);
    const gain = x + (x - k) - xlo - ylo;
    if (x >= xlo && x - k >= ylo && gain > bestGain) (best = [x, x - k]), (bestGain = gain);
  }
  for (let k = bmax; k >= bmin; k -= 2) {
    const x = Math.max(backward[OFFSET + k], xlo, ylo + k);
    const gain = xhi + yhi - x - (x - k);
    if (x <= xhi && x - k <= yhi && gain > bestGain) (best = [x, x - k]), (bestGain = gain);
  }
  return best;
}

// Divide and conquer over boxes, on a stack of [xlo, xhi, ylo, yhi] (no recursion depth to run out of).
const boxes = [0, n, 0, m];
while (boxes.length > 0) {
  let yhi = boxes.pop(), ylo = boxes.pop(), xhi = boxes.pop(), xlo = boxes.pop();
  while (xlo < xhi && ylo < yhi && X[xlo] === Y[ylo]) xlo++, ylo++;
  while (xlo < xhi && ylo < yhi && X[xhi - 1] === Y[yhi - 1]) xhi--, yhi--;
  const at = xlo < xhi && ylo < yhi ? middle(xlo, xhi, ylo, yhi) : null;
  const inside =
    at !== null && at[0] >= xlo && at[0] <= xhi && at[1] >= ylo && at[1] <= yhi && at[0] + at[1] > xlo + ylo && at[0] + at[1] < xhi + yhi;
  if (inside) {
    boxes.push(xlo, at[0], ylo, at[1], at[0], xhi, at[1], yhi);
    continue;
  }
  for (let i = xlo; i < xhi; i++) removed[left.at[i]] = 1;
  for (let j = ylo; j < yhi; j++) added[right.at[j]] = 1;
}

// The edit script: walking both texts, a removed line first, then an added one, else a common line.
const ops = [];
for (let i = 0, j = 0; i < A.length || j < B.length; ) {
  if (i < A.length && removed[i]) ops.push({ op: '-', text: A[i], a: i, b: j }), i++;
  else if (j < B.length && added[j]) ops.push({ op: '+', text: B[j], a: i, b: j }), j++;
  else ops.push({ op: '=', text: A[i], a: i, b: j }), i++, j++;
}

// Hunks: changes with `context` common lines around them, merged where they touch.
const hunks = [];
for (let idx = 0; idx < ops.length; idx++) {
  if (ops[idx].op === '=') continue;
  const start = Math.max(0, idx - context);
  const end = Math.min(ops.length - 1, idx + context);
  const last = hunks[hunks.length - 1];
  if (last && start <= last.end + 1) last.end = Math.max(last.end, end);
  else hunks.push({ start, end });
}
const lines = [];
for (const h of hunks) {
  const part = ops.slice(h.start, h.end + 1);
  const aStart = part[0].a;
  const bStart = part[0].b;
  const aLen = part.filter((o) => o.op !== '+').length;
  const bLen = part.filter((o) => o.op !== '-').length;
  lines.push(`@@ -${aLen ? aStart + 1 : aStart},${aLen} +${bLen ? bStart + 1 : bStart},${bLen} @@`);
  for (const o of part) lines.push((o.op === '=' ? ' ' : o.op) + o.text);
}
const addedCount = added.reduce((s, f) => s + f, 0);
const removedCount = removed.reduce((s, f) => s + f, 0);
const unified = hunks.length ? [`--- ${labelA}`, `+++ ${labelB}`, ...lines].join('\n') + '\n' : '';
({ unified, added: addedCount, removed: removedCount, identical: hunks.length === 0 });
