// Line diff (Myers' O(ND) algorithm) rendered as a unified diff. `input`: {a, b, context?, labelA?, labelB?}.
const { a, b, context = 3, labelA = 'a', labelB = 'b' } = input;
if (typeof a !== 'string' || typeof b !== 'string') throw new TypeError('a and b must be strings');
if (!Number.isInteger(context) || context < 0 || context > 1000) throw new RangeError('context must be an integer 0-1000');
const split = (s) => (s === '' ? [] : s.replace(/\n$/, '').split('\n'));
const A = split(a);
const B = split(b);

// Myers: shortest edit script as a list of ['=', '-', '+', line] operations.
function diff(x, y) {
  const n = x.length, m = y.length, max = n + m;
  const v = new Map([[1, 0]]);
  const trace = [];
  for (let d = 0; d <= max; d++) {
    trace.push(new Map(v));
    for (let k = -d; k <= d; k += 2) {
      let i = k === -d || (k !== d && (v.get(k - 1) ?? -1) < (v.get(k + 1) ?? -1)) ? v.get(k + 1) ?? 0 : (v.get(k - 1) ?? 0) + 1;
      let j = i - k;
      while (i < n && j < m && x[i] === y[j]) { i++; j++; }
      v.set(k, i);
      if (i >= n && j >= m) return backtrack(trace, x, y, d);
    }
  }
  return [];
}
function backtrack(trace, x, y, dEnd) {
  const ops = [];
  let i = x.length, j = y.length;
  for (let d = dEnd; d > 0; d--) {
    const v = trace[d];
    const k = i - j;
    const prevK = k === -d || (k !== d && (v.get(k - 1) ?? -1) < (v.get(k + 1) ?? -1)) ? k + 1 : k - 1;
    const prevI = v.get(prevK) ?? 0;
    const prevJ = prevI - prevK;
    while (i > prevI && j > prevJ) ops.push(['=', x[--i]]), j--;
    if (i === prevI) ops.push(['+', y[--j]]);
    else ops.push(['-', x[--i]]);
  }
  while (i > 0 && j > 0) ops.push(['=', x[--i]]), j--;
  return ops.reverse();
}

const ops = diff(A, B);
// Group into hunks with `context` lines around changes.
const lines = [];
let ai = 0, bi = 0;
const annotated = ops.map(([op, text]) => {
  const item = { op, text, a: ai, b: bi };
  if (op !== '+') ai++;
  if (op !== '-') bi++;
  return item;
});
const changed = annotated.map((o, idx) => (o.op !== '=' ? idx : -1)).filter((i) => i >= 0);
const hunks = [];
for (const idx of changed) {
  const start = Math.max(0, idx - context), end = Math.min(annotated.length - 1, idx + context);
  const last = hunks[hunks.length - 1];
  if (last && start <= last.end + 1) last.end = Math.max(last.end, end);
  else hunks.push({ start, end });
}
for (const h of hunks) {
  const part = annotated.slice(h.start, h.end + 1);
  const aStart = part[0].a, bStart = part[0].b;
  const aLen = part.filter((o) => o.op !== '+').length, bLen = part.filter((o) => o.op !== '-').length;
  lines.push(`@@ -${aLen ? aStart + 1 : aStart},${aLen} +${bLen ? bStart + 1 : bStart},${bLen} @@`);
  for (const o of part) lines.push((o.op === '=' ? ' ' : o.op) + o.text);
}
const added = ops.filter((o) => o[0] === '+').length, removed = ops.filter((o) => o[0] === '-').length;
const unified = hunks.length ? [`--- ${labelA}`, `+++ ${labelB}`, ...lines].join('\n') + '\n' : '';
({ unified, added, removed, identical: hunks.length === 0 });
