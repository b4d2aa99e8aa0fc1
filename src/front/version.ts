import { readFileSync } from 'node:fs';

/** The package's version, read once from package.json. */
export const PACKAGE_VERSION: string = (
  JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }
).version;
