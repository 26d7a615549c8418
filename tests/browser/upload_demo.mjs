// Drive the web demo (examples/web, served by the broker at /demo/) in headless Chromium, as a person would:
// paste the token, pick a file, press Upload, pause mid-upload, reload the page, find the upload under "Your
// unfinished uploads", choose it, pick the file again, resume, and wait for "Upload complete".
//
//   node tests/browser/upload_demo.mjs <broker url> <token> <file>
//
// Environment (all optional):
//   CHROMIUM           the browser (default /usr/bin/chromium, Debian's)
//   PART_SIZE_MIB      the demo's part size (default 1); PARALLEL: parts at once (default 1)
//   PAUSE_AFTER_PARTS  pause once this many parts are done, reload, resume (default 2; 0: no pause)
//   SCREENSHOT         where to save a screenshot taken mid-upload (just before the pause)
//   ARTIFACTS          a folder for a screenshot and the page's HTML when something fails
//   TIMEOUT_MS         how long to wait for each step (default 60000)
//   EXPECT             'error': the upload is expected to fail; the page's error text is in `pageError`
//   FROM_LIST          a VideoId started elsewhere: choose it under "Your unfinished uploads" before picking the
//                      file, so the file goes into that video (this fresh browser has no progress for it)
//   AFTER_COMPLETE     'replace': once complete, wait until the list no longer has the video (VOD's callback has
//                      reached the broker), then press "Replace source"; what the page said is in `replaceError`
//
// Prints one JSON object on stdout: what the page said, in order, and what it showed at the end. Exits 1 with
// {"error": ...} (and the same record) on failure.

import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { chromium } from 'playwright-core';

const [url, token, file] = process.argv.slice(2);
if (!url || !token || !file) {
  console.error('usage: node upload_demo.mjs <broker url> <token> <file>');
  process.exit(2);
}
const env = (name, fallback) => (process.env[name] ? process.env[name] : fallback);
const timeout = Number(env('TIMEOUT_MS', 60000));
const pauseAfter = Number(env('PAUSE_AFTER_PARTS', 2));

const record = { statuses: [], console: [], steps: [] };
const step = name => record.steps.push({ name, at: Date.now() });

// "Your unfinished uploads" as the page shows it: each entry's VideoId, refresh count, what it says about this
// browser's progress ('saved', 'none', 'here', 'finished') and its text.
const listed = page => page.evaluate(() => [...document.querySelectorAll('#pending-list li')].map(li => ({
  id: li.dataset.videoId, refreshCount: Number(li.dataset.refreshCount), progress: li.dataset.progress,
  text: li.textContent.replace(/\s+/g, ' ').trim(),
})));
const listLoads = page => page.evaluate(() => Number(document.getElementById('pending-list').dataset.loads || 0));

// Wait until the list has been fetched more than `after` times, is not loading, and has (or lacks) `videoId`.
async function waitForList(page, after, has, videoId) {
  await page.waitForFunction(([n, wanted, id]) => {
    const list = document.getElementById('pending-list');
    const ids = [...list.querySelectorAll('li')].map(li => li.dataset.videoId);
    return Number(list.dataset.loads || 0) > n && list.getAttribute('aria-busy') !== 'true'
      && ids.includes(id) === wanted;
  }, [after, has, videoId], { timeout });
}

async function main(page) {
  // Every status the page announces (its aria-live region), across reloads.
  await page.exposeFunction('__recordStatus', text => record.statuses.push(text));
  await page.addInitScript(() => {
    document.addEventListener('DOMContentLoaded', () => {
      const status = document.getElementById('status');
      new MutationObserver(() => window.__recordStatus(status.textContent)).observe(status, {
        childList: true, characterData: true, subtree: true,
      });
    });
  });

  step('open');
  await page.goto(`${url.replace(/\/+$/, '')}/demo/`);
  await page.getByLabel('Bearer token').fill(token);
  await page.getByText('Upload settings').click();
  await page.getByLabel('Part size (MiB)').fill(env('PART_SIZE_MIB', '1'));
  await page.getByLabel('Parts at once').fill(env('PARALLEL', '1'));
  // The page lists the unfinished uploads once the token is in. With FROM_LIST another device started this
  // upload: the list is how this browser learns of it.
  const fromList = process.env.FROM_LIST;
  await waitForList(page, 0, Boolean(fromList), fromList || '');
  record.listedAtOpen = await listed(page);
  if (fromList) {
    step('choose');
    await page.getByRole('button', { name: `Resume video ${fromList}`, exact: true }).click();
  }
  await page.getByLabel('Video or audio file').setInputFiles(file);
  if (fromList) {
    await page.waitForFunction(() => /from the start/.test(document.getElementById('status').textContent), null, {
      timeout,
    });
    record.afterChoosing = await page.locator('#status').textContent();
  }
  step('upload');
  let loadsBeforeFinish = await listLoads(page);
  await page.getByRole('button', { name: 'Upload', exact: true }).click();

  if (pauseAfter > 0) {
    // The demo's "<n> of <total> parts uploaded" line.
    await page.waitForFunction(
      n => Number((/^(\d+) of/.exec(document.getElementById('parts').textContent) || [])[1] || 0) >= n,
      pauseAfter, { timeout },
    );
    step('mid-upload');
    if (process.env.SCREENSHOT) {
      mkdirSync(dirname(process.env.SCREENSHOT), { recursive: true });
      await page.screenshot({ path: process.env.SCREENSHOT, fullPage: true });
    }
    await page.getByRole('button', { name: 'Pause' }).click();
    await page.waitForFunction(() => /^(Paused|Upload complete)/.test(document.getElementById('status').textContent),
      null, { timeout });
    if (!(await page.locator('#status').textContent()).startsWith('Paused')) {
      throw new Error('the upload finished before the pause took effect: the parts must be answered more slowly');
    }
    step('paused');
    record.pausedAt = await page.locator('#parts').textContent();
    record.savedBeforeReload = await page.evaluate(() => Object.keys(localStorage));
    const videoId = await page.locator('#video-id').textContent();

    await page.reload();
    step('reloaded');
    record.tokenKept = (await page.getByLabel('Bearer token').inputValue()) === token;
    // The reloaded page knows nothing in memory: the broker's list names the unfinished upload, and this
    // browser's stored checkpoint says it can resume; choose it, then pick the same file.
    await waitForList(page, 0, true, videoId);
    record.listedAfterReload = await listed(page);
    await page.getByRole('button', { name: `Resume video ${videoId}`, exact: true }).click();
    record.afterChoosing = await page.locator('#status').textContent();
    await page.getByLabel('Video or audio file').setInputFiles(file);
    await page.waitForFunction(() => /unfinished upload/.test(document.getElementById('status').textContent), null, {
      timeout,
    });
    record.afterReload = await page.locator('#parts').textContent();
    step('resume');
    loadsBeforeFinish = await listLoads(page);
    await page.getByRole('button', { name: 'Resume', exact: true }).click();
  }

  await page.waitForFunction(
    () => document.getElementById('status').textContent.startsWith('Upload complete')
      || !document.getElementById('error').hidden,
    null, { timeout },
  );
  step('finished');
  Object.assign(record, await page.evaluate(() => ({
    status: document.getElementById('status').textContent,
    pageError: document.getElementById('error').hidden ? null : document.getElementById('error').textContent,
    percent: document.getElementById('progress').value,
    parts: document.getElementById('parts').textContent,
    videoId: document.getElementById('video-id').textContent,
    refreshes: Number(document.getElementById('refreshes').textContent),
    savedAfter: Object.keys(localStorage).filter(k => k.startsWith('broker-demo:upload:')),
  })));
  if (record.pageError && process.env.EXPECT !== 'error') throw new Error(`the page reported: ${record.pageError}`);
  if (!record.pageError && process.env.EXPECT === 'error') throw new Error('the page reported no error');

  if (process.env.AFTER_COMPLETE === 'replace') {
    // The page looks again once the upload completes; the broker stops listing the video when VOD's callback
    // has told it (the page's own "Check again" would do the same, later).
    step('settling');
    await waitForList(page, loadsBeforeFinish, false, record.videoId);
    record.listedAfterComplete = await listed(page);
    record.replaceShown = await page.getByRole('button', { name: 'Replace source', exact: true }).isVisible();
    step('replace');
    await page.getByRole('button', { name: 'Replace source', exact: true }).click();
    await page.waitForFunction(() => !document.getElementById('error').hidden, null, { timeout });
    step('refused');
    Object.assign(record, await page.evaluate(() => ({
      replaceError: document.getElementById('error').textContent,
      replaceErrorRole: document.getElementById('error').getAttribute('role'),
      statusAfterReplace: document.getElementById('status').textContent,
      percentAfterReplace: document.getElementById('progress').value,
      refreshesAfterReplace: Number(document.getElementById('refreshes').textContent),
    })));
  }
}

const userDataDir = mkdtempSync(join(tmpdir(), 'upload-demo-chromium-'));
let context;
let page;
let exitCode = 0;
try {
  context = await chromium.launchPersistentContext(userDataDir, {
    executablePath: env('CHROMIUM', '/usr/bin/chromium'),
    headless: true,
    viewport: { width: 860, height: 900 },
    args: [
      '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
      '--disable-component-update', '--disable-sync', '--no-proxy-server',
      // The fake OSS is virtual-hosted: <bucket>.localhost:<port>, all on the loopback address.
      '--host-resolver-rules=MAP *.localhost 127.0.0.1, MAP localhost 127.0.0.1',
    ],
  });
  context.setDefaultTimeout(timeout);
  page = context.pages()[0] || (await context.newPage());
  page.on('console', message => record.console.push(`${message.type()}: ${message.text()}`));
  page.on('pageerror', error => record.console.push(`pageerror: ${error.message}`));
  await main(page);
  process.stdout.write(`${JSON.stringify(record)}\n`);
} catch (error) {
  exitCode = 1;
  if (page && process.env.ARTIFACTS) {
    try {
      mkdirSync(process.env.ARTIFACTS, { recursive: true });
      await page.screenshot({ path: join(process.env.ARTIFACTS, 'upload-demo-failure.png'), fullPage: true });
      writeFileSync(join(process.env.ARTIFACTS, 'upload-demo-failure.html'), await page.content());
    } catch (artifactError) {
      record.console.push(`could not save the failure artifacts: ${artifactError.message}`);
    }
  }
  process.stdout.write(`${JSON.stringify({ error: String(error && error.message), ...record })}\n`);
} finally {
  if (context) await context.close().catch(() => {});
  rmSync(userDataDir, { recursive: true, force: true });
}
process.exit(exitCode);
