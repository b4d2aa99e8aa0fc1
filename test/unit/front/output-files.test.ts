import { describe, expect, it } from 'vitest';
import { appendNote, outputContent, outputUri, rejectionNote } from '../../../src/front/output-files.js';

const file = (path: string, mimeType: string, data: Uint8Array | string) => ({
  path,
  mimeType,
  data: typeof data === 'string' ? new Uint8Array(Buffer.from(data, 'utf8')) : data,
});

describe('outputContent', () => {
  it('returns images as image content and other files as embedded resources', () => {
    const png = new Uint8Array([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 13]);
    const blocks = outputContent(
      [
        file('/output/plot.png', 'image/png', png),
        file('/output/notes.md', 'text/markdown', '# hi'),
        file('/output/data.bin', 'application/octet-stream', new Uint8Array([0, 1, 2])),
        file('/output/bad.txt', 'text/plain', new Uint8Array([0xff, 0xfe])),
      ],
      'nb',
      { kept: true },
    );
    expect(blocks).toEqual([
      { type: 'image', data: Buffer.from(png).toString('base64'), mimeType: 'image/png' },
      { type: 'resource', resource: { uri: 'sandbox://nb/output/notes.md', mimeType: 'text/markdown', text: '# hi' } },
      { type: 'resource', resource: { uri: 'sandbox://nb/output/data.bin', mimeType: 'application/octet-stream', blob: 'AAEC' } },
      // Not valid UTF-8: sent as bytes, never mangled.
      { type: 'resource', resource: { uri: 'sandbox://nb/output/bad.txt', mimeType: 'text/plain', blob: '//4=' } },
    ]);
  });

  it('sends an image block only for bytes that start as that image type does; others go as resources', () => {
    const gif = new Uint8Array(Buffer.from('GIF89a\x01\x00', 'latin1'));
    const webp = new Uint8Array(Buffer.from('RIFF\x10\x00\x00\x00WEBPVP8 ', 'latin1'));
    const jpeg = new Uint8Array([0xff, 0xd8, 0xff, 0xe0]);
    const blocks = outputContent(
      [
        file('/output/a.gif', 'image/gif', gif),
        file('/output/b.webp', 'image/webp', webp),
        file('/output/c.jpg', 'image/jpeg', jpeg),
        file('/output/fake.png', 'image/png', 'not a picture'),
        file('/output/fake.jpg', 'image/jpeg', new Uint8Array([0xff, 0xd8])),
      ],
      'nb',
      { kept: true },
    );
    expect(blocks.map((b) => b.type)).toEqual(['image', 'image', 'image', 'resource', 'resource']);
    expect(blocks[3]).toEqual({ type: 'resource', resource: { uri: 'sandbox://nb/output/fake.png', mimeType: 'image/png', blob: Buffer.from('not a picture').toString('base64') } });
  });

  it('caps each file and the total, with a note naming each file left out', () => {
    const caps = { perFileBytes: 10, totalBytes: 15 };
    const blocks = outputContent(
      [
        file('/output/a.txt', 'text/plain', 'x'.repeat(11)),
        file('/output/b.txt', 'text/plain', 'y'.repeat(10)),
        file('/output/c.txt', 'text/plain', 'z'.repeat(6)),
        file('/output/d.txt', 'text/plain', 'w'.repeat(5)),
      ],
      'run',
      { kept: false, caps },
    );
    expect(blocks).toHaveLength(4);
    expect(blocks[0]).toMatchObject({ type: 'text' });
    expect((blocks[0] as { text: string }).text).toContain('/output/a.txt (11 bytes) is not attached: larger than the 10 bytes limit per returned file');
    expect((blocks[0] as { text: string }).text).toContain('sessionless');
    expect(blocks[1]).toMatchObject({ type: 'resource', resource: { text: 'y'.repeat(10) } });
    expect((blocks[2] as { text: string }).text).toContain('/output/c.txt (6 bytes) is not attached: the files returned by one run are limited to 15 bytes in all');
    expect(blocks[3]).toMatchObject({ type: 'resource', resource: { text: 'w'.repeat(5) } });
  });

  it('percent-encodes each path segment of the URI', () => {
    expect(outputUri('s1', '/output/a b/ü?.txt')).toBe('sandbox://s1/output/a%20b/%C3%BC%3F.txt');
  });
});

describe('stderr notes', () => {
  it('summarises refused changes, naming at most three', () => {
    const note = rejectionNote({
      changed: [],
      deleted: [],
      rejected: [
        { path: '/etc/x', reason: 'not under a writable path (writable: /tmp, /output)' },
        { path: '/tmp/big', reason: 'cannot write "/tmp/big": it is 99 bytes; the limit per file is 10 bytes' },
        { path: '/tmp/l', reason: 'a symlink; only regular files are kept' },
        { path: '/tmp/m', reason: 'a symlink; only regular files are kept' },
      ],
      rejectedCount: 5,
    });
    expect(note).toBe(
      '[files: 5 changes were not kept: /etc/x: not under a writable path (writable: /tmp, /output); ' +
        'cannot write "/tmp/big": it is 99 bytes; the limit per file is 10 bytes; /tmp/l: a symlink; only regular files are kept; and 2 more]\n',
    );
  });

  it('appends a note within the cap, cutting the text rather than the note', () => {
    expect(appendNote('out', '[n]\n', 100)).toEqual({ text: 'out\n[n]\n', truncated: false });
    expect(appendNote('', '[n]\n', 100)).toEqual({ text: '[n]\n', truncated: false });
    expect(appendNote('abcdefgh', '[n]\n', 8)).toEqual({ text: 'abcd[n]\n', truncated: true });
    expect(appendNote('abc', '[a long note]\n', 5)).toEqual({ text: '[a lo', truncated: true });
  });
});
