// CSV → JSON with type inference. `input`: {csv, delimiter?, header?, inferTypes?}.
// RFC 4180 quoting: fields in double quotes may hold delimiters, newlines and "" for a quote.
const { csv, delimiter = ',', header = true, inferTypes = true } = input;
if (typeof csv !== 'string') throw new TypeError('csv must be a string');
if (typeof delimiter !== 'string' || delimiter.length !== 1 || delimiter === '"') throw new TypeError('delimiter must be one character other than "');

function parseRows(text) {
  const rows = [];
  let row = [];
  let field = '';
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (quoted) {
      if (c === '"') {
        if (text[i + 1] === '"') { field += '"'; i++; } else quoted = false;
      } else field += c;
    } else if (c === '"' && field === '') quoted = true;
    else if (c === delimiter) { row.push(field); field = ''; }
    else if (c === '\n' || c === '\r') {
      if (c === '\r' && text[i + 1] === '\n') i++;
      row.push(field); rows.push(row); row = []; field = '';
    } else field += c;
  }
  if (quoted) throw new SyntaxError('unterminated quoted field');
  if (field !== '' || row.length) { row.push(field); rows.push(row); }
  return rows.filter((r) => !(r.length === 1 && r[0] === ''));
}

function infer(v) {
  if (!inferTypes) return v;
  const t = v.trim();
  if (t === '') return null;
  if (/^(true|false)$/i.test(t)) return t.toLowerCase() === 'true';
  if (/^-?(0|[1-9]\d*)$/.test(t) && Number.isSafeInteger(Number(t))) return Number(t);
  if (/^-?(0|[1-9]\d*)?\.\d+([eE][-+]?\d+)?$|^-?(0|[1-9]\d*)[eE][-+]?\d+$/.test(t)) return Number(t);
  return v; // leading zeros, codes, dates, text: kept as written
}

const rows = parseRows(csv);
let out;
if (!header) out = rows.map((r) => r.map(infer));
else {
  const [head = [], ...body] = rows;
  const names = head.map((h, i) => (h.trim() === '' ? `column${i + 1}` : h.trim()));
  out = body.map((r) => Object.fromEntries(names.map((n, i) => [n, infer(r[i] ?? '')])));
}
({ rows: out, count: out.length, columns: header ? (rows[0] ?? []).map((h) => h.trim()) : undefined });
