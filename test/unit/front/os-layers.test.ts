/**
 * The OS layers under the sandbox host: the launch decision (pure), the namespace probe, and how the
 * layers a host verified itself are described. The real host in its namespace: test/e2e/os-layers.test.ts.
 */
import { describe, expect, it } from 'vitest';
import { describeOsLayers, netnsCandidate, osLayerSummary, planHostLaunch, probeUnshare, UNSHARE_ARGS } from '../../../src/front/os-layers.js';
import { sandboxHostLaunch } from '../../../src/front/node-flags.js';
import { HOST_SCRIPT } from '../../../src/front/sandbox-client.js';

const base = sandboxHostLaunch(HOST_SCRIPT);
const linux = { platform: 'linux' as const, setting: undefined, unshare: '/usr/bin/unshare' };

describe('whether to try a network namespace', () => {
  it('tries on Linux with unshare present, unless switched off', () => {
    expect(netnsCandidate(linux)).toEqual({ available: true, unshare: '/usr/bin/unshare' });
    expect(netnsCandidate({ ...linux, setting: 'auto' })).toEqual({ available: true, unshare: '/usr/bin/unshare' });
    expect(netnsCandidate({ ...linux, setting: ' OFF ' })).toEqual({ available: false, reason: 'switched off by SANDBOX_NETNS=off' });
  });

  it('does not try elsewhere, and says why', () => {
    expect(netnsCandidate({ ...linux, platform: 'darwin' })).toMatchObject({ available: false, reason: expect.stringContaining('only on Linux') });
    expect(netnsCandidate({ ...linux, unshare: undefined })).toMatchObject({ available: false, reason: expect.stringContaining('no unshare program') });
  });
});

describe('the launch', () => {
  it('wraps the unchanged Node command in unshare, without a root mapping, when a namespace is possible', () => {
    const plan = planHostLaunch(base, { available: true, unshare: '/usr/bin/unshare' });
    expect(plan.execPath).toBe('/usr/bin/unshare');
    expect(plan.args).toEqual([...UNSHARE_ARGS, '--', base.execPath, ...base.args]);
    expect(UNSHARE_ARGS).toEqual(['--user', '--net']);
    expect(plan.args.some((a) => a.startsWith('--map-'))).toBe(false);
  });

  it('is the plain Node command otherwise; never grants the network', () => {
    expect(planHostLaunch(base, { available: false, reason: 'x' })).toEqual(base);
    for (const plan of [base, planHostLaunch(base, { available: true, unshare: '/usr/bin/unshare' })]) {
      expect(plan.args.some((a) => a.startsWith('--allow-net'))).toBe(false);
      expect(plan.args.some((a) => a === '--permission' || a === '--experimental-permission')).toBe(true);
    }
  });
});

describe('the probe', () => {
  it('reports a missing or failing unshare as unavailable, with the reason', async () => {
    expect(await probeUnshare('/nonexistent/unshare')).toMatchObject({ available: false, reason: expect.stringContaining('could not be run') });
    expect(await probeUnshare('/bin/false')).toMatchObject({ available: false, reason: expect.stringContaining('refused') });
  });
});

describe('the layers a host has', () => {
  const common = ['permission-model', 'no-fs-write'];

  it('Node 20 in a namespace: permission model and namespace; no network permission on that line', () => {
    const layers = describeOsLayers([...common, 'no-network-interfaces'], 'v20.20.2', { available: true, unshare: '/usr/bin/unshare' });
    expect(layers).toEqual({ permissionModel: true, noNetPermission: false, networkNamespace: true, notes: ['Node v20.20.2 has no network permission (it arrived in Node 25)'] });
    expect(osLayerSummary(layers)).toBe('permission model, network namespace; missing: Node v20.20.2 has no network permission (it arrived in Node 25)');
  });

  it('Node 25 without a namespace: the network permission, and why there is no namespace', () => {
    const layers = describeOsLayers([...common, 'no-net'], 'v25.9.0', { available: false, reason: 'switched off by SANDBOX_NETNS=off' });
    expect(layers).toEqual({ permissionModel: true, noNetPermission: true, networkNamespace: false, notes: ['no network namespace: switched off by SANDBOX_NETNS=off'] });
  });

  it('a namespace the host does not confirm is not counted', () => {
    const layers = describeOsLayers(common, 'v22.1.0', { available: true, unshare: '/usr/bin/unshare' });
    expect(layers.networkNamespace).toBe(false);
    expect(layers.notes).toContain('a network namespace was requested but the sandbox host still sees network interfaces');
  });
});
