// The web demo: pick a file, upload it in parts straight to OSS on the broker's short-lived credential,
// pause and resume, survive a page reload, and say in words what went wrong.
//
// The flow (README, "The web demo"):
// 1. POST /v1/videos (VOD CreateUploadVideo) -> VideoId, UploadAddress {Endpoint, Bucket, FileName},
//    UploadAuth {AccessKeyId, AccessKeySecret, SecurityToken, ...} and the broker's Expiration.
// 2. ali-oss multipartUpload(FileName, file) with that STS credential; after each part its checkpoint (upload id
//    and the parts done, never the credential) is kept in localStorage with the VideoId.
// 3. Before the credential runs out, ali-oss calls refreshSTSToken, which asks the broker for a new one
//    (POST /v1/videos/{VideoId}/refresh). If OSS refuses a part anyway (403 SecurityTokenExpired), the page
//    refreshes the same way and carries on from the checkpoint.
// 4. Pause is ali-oss cancel(); Resume continues from the checkpoint. After a reload, picking the same file
//    again finds the stored VideoId and checkpoint, refreshes the credential and uploads only the missing parts.

import { BrokerError, createBrokerClient, decodeCredentials } from './broker-client.js';

const STORE = 'broker-demo:';
const MiB = 1024 * 1024;
// A refused part with one of these is an expired STS credential (InvalidAccessKeyId is the older code for it).
const EXPIRED_CODES = new Set(['SecurityTokenExpired', 'InvalidAccessKeyId']);

const $ = id => document.getElementById(id);
const els = {
  form: $('upload-form'), token: $('token'), file: $('file'), brokerUrl: $('broker-url'),
  partSize: $('part-size'), parallel: $('parallel'), start: $('start'), pause: $('pause'), discard: $('discard'),
  progress: $('progress'), percent: $('percent'), parts: $('parts'), status: $('status'), error: $('error'),
  videoId: $('video-id'), expires: $('expires'), refreshes: $('refreshes'),
};

// The broker is this page's origin unless "Broker URL" says otherwise.
let client = null;
const connect = () => {
  client = createBrokerClient({ baseUrl: els.brokerUrl.value.trim(), token: () => readToken() });
};

let upload = null; // { file, videoId, address, auth, expiresAt, oss, checkpoint }
let refreshCount = 0;

// ---- token and stored uploads ---------------------------------------------------------------------------------

function readToken() {
  // Accept the whole line `make run` prints, too.
  return els.token.value.trim().replace(/^export\s+TOKEN=/, '').replace(/^Bearer\s+/i, '');
}

const savedKey = file => `${STORE}upload:${file.name}:${file.size}:${file.lastModified}`;

function loadSaved(file) {
  try {
    return JSON.parse(localStorage.getItem(savedKey(file)) || 'null');
  } catch {
    return null;
  }
}

function save(u) {
  // Never the credential: a refresh gives a new one. The checkpoint without its File, which can't be stored.
  const checkpoint = u.checkpoint && {
    name: u.checkpoint.name, fileSize: u.checkpoint.fileSize, partSize: u.checkpoint.partSize,
    uploadId: u.checkpoint.uploadId, doneParts: u.checkpoint.doneParts,
  };
  localStorage.setItem(savedKey(u.file), JSON.stringify({ videoId: u.videoId, checkpoint }));
}

const forget = file => localStorage.removeItem(savedKey(file));

// ---- what the user sees ---------------------------------------------------------------------------------------

function say(text) {
  els.status.textContent = text;
}

function showError(error) {
  els.error.textContent = describe(error);
  els.error.hidden = false;
  say('The upload stopped.');
  if (!(error instanceof BrokerError) && !error?.code && !error?.name) console.error(error);
}

function clearError() {
  els.error.hidden = true;
  els.error.textContent = '';
}

const mib = bytes => `${(bytes / MiB).toFixed(1)} MiB`;

function showProgress(checkpoint, complete = false) {
  if (!checkpoint) {
    els.parts.textContent = '';
    setPercent(complete ? 100 : 0);
    return;
  }
  const { fileSize, partSize, doneParts } = checkpoint;
  const total = Math.ceil(fileSize / partSize);
  const sizeOf = n => Math.min(partSize, fileSize - (n - 1) * partSize);
  const sent = doneParts.reduce((sum, part) => sum + sizeOf(part.number), 0);
  const percent = complete ? 100 : Math.min(99, Math.floor((sent / fileSize) * 100));
  setPercent(percent);
  els.parts.textContent = `${doneParts.length} of ${total} parts uploaded (${mib(sent)} of ${mib(fileSize)}).`;
}

function setPercent(percent) {
  els.progress.value = percent;
  els.progress.textContent = `${percent}%`;
  els.percent.textContent = `${percent}%`;
}

function showCredential(u) {
  els.videoId.textContent = u.videoId;
  els.expires.textContent = Number.isNaN(u.expiresAt.getTime()) ? 'unknown' : u.expiresAt.toLocaleTimeString();
  els.refreshes.textContent = String(refreshCount);
}

function setBusy(busy) {
  els.start.disabled = busy;
  els.pause.disabled = !busy;
  els.file.disabled = busy;
  els.discard.hidden = busy || !(upload?.checkpoint || (els.file.files[0] && loadSaved(els.file.files[0])));
}

/** The broker's Code/Message, and ali-oss's OSS errors, as sentences a user can act on. */
function describe(error) {
  if (error instanceof BrokerError) {
    const ref = error.requestId ? ` (request ${error.requestId})` : '';
    const wait = error.retryAfter ? ` Try again in ${error.retryAfter} seconds.` : ' Try again in a moment.';
    switch (error.code) {
      case 'Unauthorized':
        return 'The broker did not accept your token: it is missing, has expired or was signed with another key. '
          + 'Paste a fresh token from make run.';
      case 'Forbidden':
        return 'Your token is valid, but it does not allow this upload.';
      case 'InvalidParameter':
      case 'MissingParameter':
      case 'ForbiddenParameter':
        return `The broker refused ${error.field ? `the ${error.field}` : 'the request'}: ${error.message}`;
      case 'InvalidVideo.NotFound':
      case 'NotFound':
        return 'This upload can no longer be resumed: the broker does not know the video, or it belongs to '
          + 'another user. Forget the unfinished upload and start again.';
      case 'InvalidVideo.Damaged':
        return 'The video service has marked this video as damaged, so it cannot be resumed. '
          + 'Forget the unfinished upload and start again.';
      case 'Throttling':
      case 'QuotaExceeded':
        return `Too many uploads for now.${wait}`;
      case 'UpstreamUnavailable':
        return `The video service could not be reached.${wait}`;
      case 'UpstreamError':
        return `The video service refused the broker's request. Try again later; if it keeps happening, `
          + `tell the operator${ref}.`;
      case 'NetworkError':
        return 'The broker could not be reached. Check that it is running (make run) and the broker URL.';
      default:
        return `The broker refused the request: ${error.message}${ref}`;
    }
  }
  if (error?.name === 'abort' || error?.code === 'NoSuchUpload') {
    return 'Storage no longer has this upload (it was aborted or has expired). Forget it and start again.';
  }
  if (EXPIRED_CODES.has(error?.code)) {
    return 'The upload credential expired and could not be renewed. Press Resume to try again.';
  }
  if (error?.code === 'AccessDenied') {
    return 'Storage refused the upload: the credential does not cover this file.';
  }
  if (error?.status === -1 || error?.status === -2 || /timeout|network|XHR/i.test(error?.name || '')) {
    return 'The connection to storage failed. Check your network and press Resume: the parts already sent are kept.';
  }
  if (error?.code) return `Storage refused the upload (${error.code}): ${error.message}`;
  return `Something went wrong: ${error?.message || error}`;
}

// ---- the upload -----------------------------------------------------------------------------------------------

// ali-oss asks for a new credential once this long has passed since the last one: half of what is left.
function refreshInterval(expiresAt) {
  const left = expiresAt.getTime() - Date.now();
  return Number.isFinite(left) ? Math.max(1000, Math.floor(left / 2)) : 25 * 60 * 1000;
}

function ossClient(u) {
  return new window.OSS({
    endpoint: u.address.Endpoint,
    bucket: u.address.Bucket,
    region: `oss-${u.auth.Region || 'cn-shanghai'}`,
    secure: u.address.Endpoint.startsWith('https:'),
    accessKeyId: u.auth.AccessKeyId,
    accessKeySecret: u.auth.AccessKeySecret,
    stsToken: u.auth.SecurityToken,
    refreshSTSToken: () => refreshCredential(u),
    refreshSTSTokenInterval: refreshInterval(u.expiresAt),
    timeout: 120000,
  });
}

function adopt(u, answer) {
  const { address, auth, expiresAt } = decodeCredentials(answer);
  Object.assign(u, { videoId: answer.VideoId || u.videoId, address, auth, expiresAt });
  showCredential(u);
}

/** A new credential for the same video, from the broker; installed in the OSS client. */
async function refreshCredential(u) {
  adopt(u, await client.refreshUploadVideo(u.videoId));
  refreshCount += 1;
  showCredential(u);
  const credentials = {
    accessKeyId: u.auth.AccessKeyId, accessKeySecret: u.auth.AccessKeySecret, stsToken: u.auth.SecurityToken,
  };
  if (u.oss) {
    Object.assign(u.oss.options, credentials, { refreshSTSTokenInterval: refreshInterval(u.expiresAt) });
    u.oss.stsTokenFreshTime = new Date();
  }
  return credentials; // the shape refreshSTSToken must return
}

async function begin(file) {
  const saved = loadSaved(file);
  const u = { file, videoId: saved?.videoId, checkpoint: saved?.checkpoint ? { ...saved.checkpoint, file } : null };
  if (u.videoId) {
    say(`Resuming video ${u.videoId}: asking the broker for a new credential…`);
    showProgress(u.checkpoint);
    await refreshCredential(u);
  } else {
    say('Asking the broker for an upload credential…');
    const idempotencyKey = crypto.randomUUID ? crypto.randomUUID() : String(Math.random()).slice(2);
    adopt(u, await client.createUploadVideo(
      { Title: file.name.slice(0, 100), FileName: file.name, FileSize: file.size }, { idempotencyKey },
    ));
    save(u);
  }
  u.oss = ossClient(u);
  return u;
}

async function send(u) {
  const partSize = Math.max(100 * 1024, Math.round(Number(els.partSize.value || 1) * MiB));
  const parallel = Math.max(1, Math.floor(Number(els.parallel.value || 2)));
  for (let expiredRetries = 0; ; ) {
    if (expiredRetries) say('Uploading on the new credential…');
    else say(u.checkpoint ? 'Uploading the remaining parts…' : 'Uploading…');
    try {
      await u.oss.multipartUpload(u.address.FileName, u.file, {
        partSize,
        parallel,
        checkpoint: u.checkpoint || undefined,
        progress: (_fraction, checkpoint) => {
          if (checkpoint) {
            u.checkpoint = checkpoint;
            save(u);
            showProgress(checkpoint);
          }
        },
      });
      return 'done';
    } catch (error) {
      if (error?.name === 'cancel') return 'paused';
      if (EXPIRED_CODES.has(error?.code) && error?.status === 403 && expiredRetries < 3) {
        expiredRetries += 1;
        say('The upload credential expired; asking the broker for a new one…');
        await refreshCredential(u);
        continue;
      }
      throw error;
    }
  }
}

async function startOrResume() {
  clearError();
  const file = els.file.files[0];
  if (!readToken()) {
    els.error.textContent = 'Paste your bearer token first: make run prints one as export TOKEN=….';
    els.error.hidden = false;
    els.token.focus();
    return;
  }
  if (!file) {
    els.error.textContent = 'Choose a file to upload first.';
    els.error.hidden = false;
    els.file.focus();
    return;
  }
  setBusy(true);
  try {
    if (!upload || upload.file !== file) upload = await begin(file);
    const outcome = await send(upload);
    if (outcome === 'paused') {
      const cp = upload.checkpoint;
      const where = cp ? `after ${cp.doneParts.length} of ${Math.ceil(cp.fileSize / cp.partSize)} parts` : '';
      say(`Paused ${where}. Press Resume to continue, even after reloading this page.`);
      els.start.textContent = 'Resume';
    } else {
      forget(file);
      showProgress(upload.checkpoint, true);
      say(`Upload complete: video ${upload.videoId}, ${mib(file.size)}.`);
      els.start.textContent = 'Upload';
      upload = null;
    }
  } catch (error) {
    showError(error);
    if (upload) els.start.textContent = 'Resume';
    if (error?.name === 'abort' || error?.code === 'InvalidVideo.NotFound') upload = null;
  } finally {
    setBusy(false);
  }
}

function pause() {
  if (!upload?.oss) return;
  els.pause.disabled = true;
  say('Pausing once the parts in flight are sent…');
  upload.oss.cancel();
}

function fileChosen() {
  clearError();
  const file = els.file.files[0];
  upload = null;
  const saved = file && loadSaved(file);
  if (saved) {
    showProgress(saved.checkpoint);
    els.videoId.textContent = saved.videoId;
    els.start.textContent = 'Resume';
    say(`${file.name} has an unfinished upload (video ${saved.videoId}). Press Resume to continue it.`);
  } else {
    showProgress(null);
    els.start.textContent = 'Upload';
    say(file ? `Ready to upload ${file.name} (${mib(file.size)}).` : 'Choose a file to upload.');
  }
  setBusy(false);
}

function discard() {
  const file = els.file.files[0];
  if (file) forget(file);
  upload = null;
  fileChosen();
  say('The unfinished upload is forgotten. Press Upload to start again.');
}

// ---- wiring ---------------------------------------------------------------------------------------------------

els.token.value = localStorage.getItem(`${STORE}token`) || '';
els.brokerUrl.value = localStorage.getItem(`${STORE}broker-url`) || '';
connect();
els.brokerUrl.addEventListener('change', () => {
  localStorage.setItem(`${STORE}broker-url`, els.brokerUrl.value.trim());
  connect();
});
els.token.addEventListener('input', () => localStorage.setItem(`${STORE}token`, readToken()));
els.file.addEventListener('change', fileChosen);
els.form.addEventListener('submit', event => {
  event.preventDefault();
  startOrResume();
});
els.pause.addEventListener('click', pause);
els.discard.addEventListener('click', discard);
if (!window.OSS) {
  els.error.textContent = 'The ali-oss browser client (vendor/aliyun-oss-sdk.min.js) did not load, so this page '
    + 'cannot upload. See examples/web/vendor/README.md.';
  els.error.hidden = false;
  els.start.disabled = true;
} else if (els.file.files[0]) {
  fileChosen(); // the browser kept a chosen file across a reload
}
