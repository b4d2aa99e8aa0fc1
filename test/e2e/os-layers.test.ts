/**
 * The OS layers under the real sandbox host. Where this machine can make an unprivileged network
 * namespace (the same probe the front uses decides which branch runs), the host must be in one,
 * seen from outside the host and independently of any guest: its network namespace differs from
 * ours and holds no interface but loopback. Where it cannot, start-up must still work and say why.
 * Either way the start-up log and `doctor` report the layers; `SANDBOX_NETNS=off` falls back.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { probeNetns, UNSHARE_ARGS, type NetnsAvailability } from '../../src/front/os-layers.js';
import { runCli, startServer, type TestServer } from '../helpers/server.js';

let netns: NetnsAvailability;
let srv: TestServer;
let dir: string;
const nodeMajor = Number(process.versions.node.split('.')[0]);

/** The interfaces listed in /proc/PID/net/dev (the network namespace of PID). */
function interfacesOf(pid: number): string[] {
  return fs
    .readFileSync(`/proc/${pid}/net/dev`, 'utf8')
    .split('\n')
    .slice(2)
    .map((l) => l.split(':')[0]!.trim())
    .filter(Boolean);
}

const weSeeOtherInterfaces = Object.values(os.networkInterfaces()).some((list) => (list ?? []).some((i) => !i.internal));

beforeAll(async () => {
  netns = await probeNetns();
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'wsm-layers-'));
  srv = await startServer([], { LOG_LEVEL: 'info' });
  await srv.call('run_js', { code: '1' });
});

afterAll(async () => {
  await srv?.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

function layersLine(stderr: string): { permissionModel: boolean; noNetPermission: boolean; networkNamespace: boolean; notes: string[] } {
  const line = stderr.split('\n').find((l) => l.includes('"sandbox host OS isolation layers"'));
  expect(line, 'the start-up log names the OS layers').toBeDefined();
  return JSON.parse(line!).osLayers;
}

describe('the sandbox host in its own network namespace', () => {
  it('reports the layers at start-up on stderr', () => {
    const layers = layersLine(srv.stderr());
    expect(layers.permissionModel).toBe(true);
    expect(layers.noNetPermission).toBe(nodeMajor >= 25);
    expect(layers.networkNamespace).toBe(netns.available);
    if (!netns.available) expect(layers.notes.join(' ')).toContain(netns.reason);
  });

  it('is in another network namespace holding only loopback, where namespaces are available; runs still work', async () => {
    const [hostPid] = srv.hostPids();
    expect(hostPid).toBeGreaterThan(0);
    const ours = fs.readlinkSync('/proc/self/ns/net');
    const theirs = fs.readlinkSync(`/proc/${hostPid}/ns/net`);
    if (netns.available) {
      expect(theirs).not.toBe(ours);
      expect(interfacesOf(hostPid!)).toEqual(['lo']);
    } else {
      expect(theirs).toBe(ours);
    }
    const r = await srv.call('run_js', { code: '6 * 7' });
    expect(r.structuredContent.result).toBe(42);
  });
});

describe('a namespace made the way the host is started', () => {
  it("cannot reach this machine's loopback: a listener of ours sees no connection", async () => {
    if (!netns.available) return;
    const unshare = netns.unshare;
    let connections = 0;
    const server = net.createServer((s) => {
      connections++;
      s.destroy();
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const port = (server.address() as net.AddressInfo).port;
    try {
      const probe = `require('net').connect(${port}, '127.0.0.1').on('connect', () => { console.log('connected'); process.exit(0) }).on('error', (e) => { console.log(e.code); process.exit(0) })`;
      // The child's own report is the proof (while spawnSync blocks us, the kernel would still
      // complete a connection into our listener's backlog); it fails at once: no route.
      const r = spawnSync(unshare, [...UNSHARE_ARGS, '--', process.execPath, '-e', probe], { encoding: 'utf8', timeout: 10_000 });
      expect(r.stdout.trim()).toMatch(/^E[A-Z]+$/);
      expect(connections).toBe(0);
    } finally {
      server.close();
    }
  });
});

describe('doctor', () => {
  it('reports the OS layers; a namespace means no host-network finding', () => {
    const r = runCli(['doctor', '--json', '--key-dir', path.join(dir, 'keys')]);
    expect(r.status).toBe(0);
    const report = JSON.parse(r.stdout);
    expect(report.osLayers).toMatchObject({ permissionModel: true, networkNamespace: netns.available, noNetPermission: nodeMajor >= 25 });
    const hasNetworkLayer = netns.available || nodeMajor >= 25;
    expect(report.findings.some((f: { id: string }) => f.id === 'host-network')).toBe(!hasNetworkLayer && weSeeOtherInterfaces);
    const text = runCli(['doctor', '--key-dir', path.join(dir, 'keys')]);
    expect(text.stdout).toMatch(/^OS isolation layers: permission model/m);
  });

  it('SANDBOX_NETNS=off: the host starts without a namespace, and doctor says so', () => {
    const r = runCli(['doctor', '--json', '--key-dir', path.join(dir, 'keys')], { SANDBOX_NETNS: 'off' });
    expect(r.status).toBe(0);
    const report = JSON.parse(r.stdout);
    expect(report.restrictions).toEqual(expect.arrayContaining(['permission-model', 'no-fs-write']));
    // A machine without any interface but loopback is one the host cannot reach out of anyway.
    if (!weSeeOtherInterfaces) return;
    expect(report.osLayers.networkNamespace).toBe(false);
    expect(report.osLayers.notes).toContain('no network namespace: switched off by SANDBOX_NETNS=off');
    if (nodeMajor < 25) {
      const finding = report.findings.find((f: { id: string }) => f.id === 'host-network');
      expect(finding?.message).toContain('SANDBOX_NETNS=off');
    }
  });
});
