// Copy ali-oss's browser build from this folder's node_modules into examples/web/vendor/, where the web demo
// loads it (the demo has no build step, so the file is committed). `--check` only compares, exiting 1 when the
// committed copy differs from the pinned package's, so a version bump in package.json can't go unnoticed.
//
//   npm ci --prefix tests/browser && node tests/browser/vendor.mjs [--check]

import { copyFileSync, existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const pkg = join(here, 'node_modules', 'ali-oss');
const target = join(here, '..', '..', 'examples', 'web', 'vendor');
const files = [
  [join(pkg, 'dist', 'aliyun-oss-sdk.min.js'), join(target, 'aliyun-oss-sdk.min.js')],
  [join(pkg, 'LICENSE'), join(target, 'ali-oss-LICENSE')],
];

if (!existsSync(pkg)) {
  console.error(`no ${pkg}: run npm ci --prefix tests/browser first`);
  process.exit(2);
}
const check = process.argv.includes('--check');
let stale = 0;
for (const [from, to] of files) {
  const same = existsSync(to) && readFileSync(from).equals(readFileSync(to));
  if (check) {
    if (!same) {
      console.error(`${to} differs from ${from}; run node tests/browser/vendor.mjs`);
      stale += 1;
    }
  } else if (!same) {
    copyFileSync(from, to);
    console.log(`copied ${from} -> ${to}`);
  }
}
process.exit(stale ? 1 : 0);
