/**
 * Notebook semantics for JavaScript cells, done by rewriting source with acorn (host side; the
 * guest never sees this code). Used only when a plain global eval fails with a SyntaxError, so the
 * common case costs nothing:
 *
 * - `redeclare`: top-level `let`/`const`/`class` become `var`-style globals, so a session can run
 *   `const x = …` again, like a notebook cell or Node's REPL.
 * - `topLevelAwait`: the cell runs inside an async function whose promise resolves to the value of
 *   the last expression statement; top-level declarations are hoisted to globals so later cells of a
 *   session still see them.
 *
 * Line numbers are preserved (everything added goes on the first line or at the very end), so
 * stack traces point at the user's lines.
 */
import { parse, type Node, type Pattern, type Program, type Statement, type VariableDeclaration } from 'acorn';

interface Edit {
  start: number;
  end: number;
  text: string;
}

function applyEdits(source: string, edits: Edit[]): string {
  let out = '';
  let pos = 0;
  for (const e of [...edits].sort((a, b) => a.start - b.start)) {
    out += source.slice(pos, e.start) + e.text;
    pos = e.end;
  }
  return out + source.slice(pos);
}

function patternNames(p: Pattern, into: string[]): void {
  switch (p.type) {
    case 'Identifier':
      into.push(p.name);
      break;
    case 'ObjectPattern':
      for (const prop of p.properties) patternNames(prop.type === 'RestElement' ? prop.argument : prop.value, into);
      break;
    case 'ArrayPattern':
      for (const el of p.elements) if (el) patternNames(el, into);
      break;
    case 'RestElement':
      patternNames(p.argument, into);
      break;
    case 'AssignmentPattern':
      patternNames(p.left, into);
      break;
    default:
      break;
  }
}

function parseCell(source: string): Program | undefined {
  try {
    return parse(source, { ecmaVersion: 'latest', sourceType: 'script', allowAwaitOutsideFunction: true, allowHashBang: true });
  } catch {
    return undefined; // A genuine syntax error: the caller reports QuickJS's own message.
  }
}

/** `let`/`const` → `var`, `class C {}` → `var C = class C {}` at top level. */
export function rewriteRedeclarations(source: string): string | undefined {
  const program = parseCell(source);
  if (!program) return undefined;
  const edits: Edit[] = [];
  for (const stmt of program.body as Statement[]) {
    if (stmt.type === 'VariableDeclaration' && stmt.kind !== 'var') {
      edits.push({ start: stmt.start, end: stmt.start + stmt.kind.length, text: 'var' });
    } else if (stmt.type === 'ClassDeclaration' && stmt.id) {
      // Now an expression statement: its `;` keeps a next line that starts with ( [ / or ` its own.
      edits.push({ start: stmt.start, end: stmt.start, text: `var ${stmt.id.name} = ` });
      edits.push({ start: stmt.end, end: stmt.end, text: ';' });
    }
  }
  return edits.length ? applyEdits(source, edits) : undefined;
}

const lineBreaks = (text: string): number => (text.match(/\n/g) ?? []).length;

function containsTopLevelAwait(program: Program): boolean {
  // Cheap and conservative: any await/for-await outside a function body anywhere at top level.
  let found = false;
  const visit = (node: Node | null | undefined, inFunction: boolean): void => {
    if (!node || found) return;
    if (node.type === 'AwaitExpression' && !inFunction) {
      found = true;
      return;
    }
    if (node.type === 'ForOfStatement' && (node as { await?: boolean }).await && !inFunction) {
      found = true;
      return;
    }
    const fn =
      node.type === 'FunctionDeclaration' || node.type === 'FunctionExpression' || node.type === 'ArrowFunctionExpression';
    for (const value of Object.values(node)) {
      if (Array.isArray(value)) {
        for (const v of value) if (v && typeof v === 'object' && 'type' in v) visit(v as Node, inFunction || fn);
      } else if (value && typeof value === 'object' && 'type' in value) {
        visit(value as Node, inFunction || fn);
      }
    }
  };
  visit(program, false);
  return found;
}

/**
 * Wrap a cell that uses top-level await. Returns undefined when the cell has no top-level await
 * or does not parse.
 */
export function rewriteTopLevelAwait(source: string): string | undefined {
  const program = parseCell(source);
  if (!program || !containsTopLevelAwait(program)) return undefined;
  const body = program.body as Statement[];
  const hoisted: string[] = [];
  const functionNames: string[] = [];
  const edits: Edit[] = [];

  for (const stmt of body) {
    if (stmt.type === 'VariableDeclaration') {
      const parts: string[] = [];
      for (const d of stmt.declarations) {
        patternNames(d.id, hoisted);
        if (d.init) {
          const target = source.slice(d.id.start, d.id.end);
          parts.push(`(${target} = ${source.slice(d.init.start, d.init.end)})`);
        } else if (stmt.kind !== 'var') {
          parts.push(`(${source.slice(d.id.start, d.id.end)} = undefined)`);
        }
      }
      // Keep the statement's line count so later line numbers do not move: the initialisers bring
      // their own newlines; the ones between them (in the pattern, around `=`) are added back.
      const text = `void (${parts.join(', ') || '0'});`;
      const missing = lineBreaks(source.slice(stmt.start, stmt.end)) - lineBreaks(text);
      edits.push({ start: stmt.start, end: stmt.end, text: text + '\n'.repeat(Math.max(0, missing)) });
    } else if (stmt.type === 'ClassDeclaration' && stmt.id) {
      hoisted.push(stmt.id.name);
      edits.push({ start: stmt.start, end: stmt.start, text: `${stmt.id.name} = ` });
      edits.push({ start: stmt.end, end: stmt.end, text: ';' });
    } else if (stmt.type === 'FunctionDeclaration' && stmt.id) {
      hoisted.push(stmt.id.name);
      functionNames.push(stmt.id.name);
    }
  }

  // `var` inside blocks and loops (`for (var i …)`) is a global in a script, but would be the
  // wrapper's local: the keyword goes, and the names are declared outside with the others.
  const visit = (node: Node | null | undefined, topLevel: boolean): void => {
    if (!node) return;
    if (node.type === 'FunctionDeclaration' || node.type === 'FunctionExpression' || node.type === 'ArrowFunctionExpression' || node.type === 'ClassDeclaration' || node.type === 'ClassExpression') return;
    if (!topLevel && node.type === 'VariableDeclaration' && (node as VariableDeclaration).kind === 'var') {
      for (const d of (node as VariableDeclaration).declarations) patternNames(d.id, hoisted);
      edits.push({ start: node.start, end: node.start + 3, text: '' });
    }
    for (const value of Object.values(node)) {
      if (Array.isArray(value)) {
        for (const v of value) if (v && typeof v === 'object' && 'type' in v) visit(v as Node, false);
      } else if (value && typeof value === 'object' && 'type' in value) visit(value as Node, false);
    }
  };
  for (const stmt of body) if (stmt.type !== 'VariableDeclaration') visit(stmt, true);

  const last = body[body.length - 1];
  if (last && last.type === 'ExpressionStatement') {
    // The whole statement, not just the expression node: `({a: 1});` has its parentheses outside it.
    const text = source.slice(last.start, last.end).replace(/;\s*$/, '');
    edits.push({ start: last.start, end: last.end, text: `return (${text});` });
  }

  const unique = [...new Set(hoisted)];
  // Function declarations are hoisted inside the wrapper; publish them as globals first thing.
  const publish = functionNames.map((n) => `globalThis[${JSON.stringify(n)}] = ${n};`).join(' ');
  const prelude = `${unique.length ? `var ${unique.join(', ')}; ` : ''}(async () => { ${publish}`;
  return `${prelude}${applyEdits(source, edits)}\n})()`;
}
