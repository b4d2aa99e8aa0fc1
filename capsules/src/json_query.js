// JSONPath-style query. `input`: {data, path}. Supports $ . [n] [-n] ['key'] [*] .* .. and [a,b].
const { data, path } = input;
if (typeof path !== 'string' || !path.startsWith('$')) throw new SyntaxError('path must start with $');

function tokenize(p) {
  const steps = [];
  let i = 1;
  while (i < p.length) {
    if (p.startsWith('..', i)) {
      i += 2;
      steps.push({ kind: 'descend' });
      if (p[i] === '[') continue;
      const m = /^(\*|[A-Za-z_$][\w$-]*)/.exec(p.slice(i));
      if (!m) throw new SyntaxError(`expected a name after .. at ${i}`);
      steps.push(m[1] === '*' ? { kind: 'wild' } : { kind: 'keys', keys: [m[1]] });
      i += m[1].length;
    } else if (p[i] === '.') {
      const m = /^(\*|[A-Za-z_$][\w$-]*)/.exec(p.slice(i + 1));
      if (!m) throw new SyntaxError(`expected a name after . at ${i}`);
      steps.push(m[1] === '*' ? { kind: 'wild' } : { kind: 'keys', keys: [m[1]] });
      i += 1 + m[1].length;
    } else if (p[i] === '[') {
      const end = p.indexOf(']', i);
      if (end < 0) throw new SyntaxError(`unclosed [ at ${i}`);
      const inner = p.slice(i + 1, end).trim();
      if (inner === '*') steps.push({ kind: 'wild' });
      else {
        const parts = inner.split(',').map((s) => s.trim());
        const keys = parts.map((s) => {
          if (/^-?\d+$/.test(s)) return Number(s);
          const q = /^'([^']*)'$|^"([^"]*)"$/.exec(s);
          if (!q) throw new SyntaxError(`bad selector [${inner}]`);
          return q[1] ?? q[2];
        });
        steps.push({ kind: 'keys', keys });
      }
      i = end + 1;
    } else throw new SyntaxError(`unexpected ${JSON.stringify(p[i])} at ${i}`);
  }
  return steps;
}

const isObj = (v) => v !== null && typeof v === 'object';
function children(v) {
  return Array.isArray(v) ? v : isObj(v) ? Object.values(v) : [];
}
function select(v, key) {
  if (Array.isArray(v) && typeof key === 'number') {
    const idx = key < 0 ? v.length + key : key;
    return idx >= 0 && idx < v.length ? [v[idx]] : [];
  }
  if (isObj(v) && !Array.isArray(v) && typeof key === 'string' && Object.prototype.hasOwnProperty.call(v, key)) return [v[key]];
  return [];
}
function descendants(v, out = []) {
  out.push(v);
  for (const c of children(v)) descendants(c, out);
  return out;
}

let current = [data];
for (const step of tokenize(path)) {
  if (step.kind === 'descend') current = current.flatMap((v) => descendants(v));
  else if (step.kind === 'wild') current = current.flatMap(children);
  else current = current.flatMap((v) => step.keys.flatMap((k) => select(v, k)));
}
({ matches: current, count: current.length });
