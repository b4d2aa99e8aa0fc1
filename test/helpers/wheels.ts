/**
 * Builds small wheels for tests with the machine's python3 (its zipfile module): a zip with the
 * package's files and a `<name>-<version>.dist-info` holding METADATA, WHEEL, RECORD and, when asked,
 * top_level.txt. Pure test tooling: nothing here is used by the product.
 */
import { execFileSync } from 'node:child_process';
import path from 'node:path';

export interface WheelSpec {
  /** Distribution name as it appears in the file name, e.g. "demo_pkg". */
  name: string;
  version?: string;
  /** Path inside the wheel → text content. */
  files: Record<string, string>;
  /** Lines of top_level.txt; omitted: no top_level.txt (the RECORD names the top-level modules). */
  topLevel?: string[];
  /** The wheel's tag; default "py3-none-any" (pure Python). */
  tag?: string;
}

const SCRIPT = String.raw`
import base64, hashlib, json, sys, zipfile
spec = json.loads(sys.argv[1])
out = sys.argv[2]
name, version = spec["name"], spec["version"]
info = f"{name}-{version}.dist-info"
files = dict(spec["files"])
files[f"{info}/METADATA"] = f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n"
files[f"{info}/WHEEL"] = f"Wheel-Version: 1.0\nGenerator: wasm-sandbox-mcp-tests\nRoot-Is-Purelib: true\nTag: {spec['tag']}\n"
if spec.get("topLevel") is not None:
    files[f"{info}/top_level.txt"] = "\n".join(spec["topLevel"]) + "\n"
record = []
for path, text in files.items():
    data = text.encode()
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    record.append(f"{path},sha256={digest},{len(data)}")
record.append(f"{info}/RECORD,,")
files[f"{info}/RECORD"] = "\n".join(record) + "\n"
with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zf:
    for path, text in files.items():
        zf.writestr(path, text)
`;

/** Writes the wheel into `dir`; returns its file name. */
export function buildWheel(dir: string, spec: WheelSpec): string {
  const full = { version: '1.0', tag: 'py3-none-any', ...spec };
  const filename = `${full.name}-${full.version}-${full.tag}.whl`;
  execFileSync('python3', ['-c', SCRIPT, JSON.stringify(full), path.join(dir, filename)], { stdio: ['ignore', 'ignore', 'pipe'] });
  return filename;
}
