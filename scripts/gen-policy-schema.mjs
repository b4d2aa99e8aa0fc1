// Writes policies/policy.schema.json from the zod schema (run by `npm run build`).
import { writeFileSync } from 'node:fs';
import { z } from 'zod';
import { PolicySchema } from '../dist/front/policy/schema.js';

const schema = z.toJSONSchema(PolicySchema, { io: 'input', unrepresentable: 'any' });
schema.title = 'wasm-sandbox-mcp policy';
writeFileSync(new URL('../policies/policy.schema.json', import.meta.url), `${JSON.stringify(schema, null, 2)}\n`);
