/**
 * Exact strings across the QuickJS boundary. `vm.getString`/`vm.newString` go through C strings:
 * they stop at the first NUL and turn an unpaired surrogate into U+FFFD, so "/tmp/a.txt\0.png"
 * would read as "/tmp/a.txt". Where the quick path may be inexact, the string travels as JSON
 * text instead, through helpers captured before guest code ran (`quote` = JSON.stringify,
 * `fromJson` = JSON.parse).
 */
import type { QuickJSContext, QuickJSHandle } from 'quickjs-emscripten-core';

export interface StringHelpers {
  quote: QuickJSHandle;
  fromJson: QuickJSHandle;
}

/** The exact value of a guest string handle. Throws if the helper call fails (e.g. no memory). */
export function readExactString(vm: QuickJSContext, helpers: StringHelpers, h: QuickJSHandle): string {
  const quick = vm.getString(h);
  if (!quick.includes('\ufffd')) {
    const len = vm.getProp(h, 'length');
    const n = vm.typeof(len) === 'number' ? vm.getNumber(len) : -1;
    len.dispose();
    if (n === quick.length) return quick;
  }
  const json = vm.unwrapResult(vm.callFunction(helpers.quote, vm.undefined, h));
  try {
    return JSON.parse(vm.getString(json)) as string;
  } finally {
    json.dispose();
  }
}

/** A guest string with exactly this value. */
export function newExactString(vm: QuickJSContext, helpers: StringHelpers, s: string): QuickJSHandle {
  if (!/[\u0000\ud800-\udfff]/u.test(s)) return vm.newString(s);
  const text = vm.newString(JSON.stringify(s));
  try {
    return vm.unwrapResult(vm.callFunction(helpers.fromJson, vm.undefined, text));
  } finally {
    text.dispose();
  }
}
