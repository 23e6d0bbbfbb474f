// Writes the hostile and odd-but-valid test images to a folder, to upload and run through a real pipeline by hand.
//   node --import tsx scripts/gen_odd_inputs.ts <dir>      then: npx distillery store upload <dir> corpus/odd --topology …
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { hostileImages, oddImages } from '../test/helpers/odd_images.ts';

const dir = process.argv[2];
if (dir === undefined) {
  console.error('usage: node --import tsx scripts/gen_odd_inputs.ts <dir>');
  process.exit(2);
}
await mkdir(path.join(dir, 'hostile'), { recursive: true });
await mkdir(path.join(dir, 'odd'), { recursive: true });
for (const h of await hostileImages()) {
  await writeFile(path.join(dir, 'hostile', h.name), h.bytes);
  console.log(`hostile/${h.name}  ${h.bytes.length} bytes  → rejected: ${h.reason}`);
}
for (const o of await oddImages()) {
  await writeFile(path.join(dir, 'odd', o.name), o.bytes);
  console.log(`odd/${o.name}  ${o.bytes.length} bytes  ${o.width}×${o.height} → labeled`);
}
