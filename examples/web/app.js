// The web demo: pick a file, upload it in parts straight to OSS on the broker's short-lived credential,
// pause and resume, survive a page reload, and say in words what went wrong.
//
// The flow (docs/clients.md, "The web demo"):
// 1. POST /v1/videos (VOD CreateUploadVideo) -> VideoId, UploadAddress {Endpoint, Bucket, FileName},
//    UploadAuth {AccessKeyId, AccessKeySecret, SecurityToken, ...} and the broker's Expiration.
// 2. ali-oss multipartUpload(FileName, file) with that STS credential; after each part its checkpoint (upload id
//    and the parts done, never the credential) is kept in localStorage with the VideoId.
// 3. Before the credential runs out, ali-oss calls refreshSTSToken, which asks the broker for a new one
//    (POST /v1/videos/{VideoId}/refresh). If OSS refuses a part anyway (403 SecurityTokenExpired), the page
//    refreshes the same way and carries on from the checkpoint.
// 4. Pause is ali-oss cancel(); Resume continues from the checkpoint. After a reload, picking the same file
//    again finds the stored VideoId and checkpoint, refreshes the credential and uploads only the missing parts.
// 5. "Your unfinished uploads" is the broker's list (GET /v1/uploads?Status=pending), so a reloaded page, or
//    another browser, finds what is unfinished. Choosing one and picking its file resumes it: from the stored
//    checkpoint when this browser has one, else from the start into the same VideoId (a refresh, then every part).
// 6. "Replace source" refreshes the last upload's VideoId and sends the chosen file into it from the start. Once
//    VOD holds the video's source the broker refuses that refresh (409 UploadAlreadyCompleted), so nothing is
//    uploaded and the page shows the broker's own sentence.

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
  videoId: $('video-id'), expires: $('expires'), refreshes: $('refreshes'), replace: $('replace'),
  replaceHint: $('replace-hint'), pendingStatus: $('pending-status'), pendingList: $('pending-list'),
  pendingCheck: $('pending-check'),
};

// The broker is this page's origin unless "Broker URL" says otherwise.
let client = null;
const connect = () => {
  client = createBrokerClient({ baseUrl: els.brokerUrl.value.trim(), token: () => readToken() });
};

let upload = null; // { file, videoId, address, auth, expiresAt, oss, checkpoint }
let refreshCount = 0;
let busy = false;
let lastVideoId = null; // the current or last upload's video: what "Replace source" replaces
let target = null; // a VideoId chosen from "Your unfinished uploads": the next upload goes into it

const PENDING_PAGE_SIZE = 20;
const PENDING_MAX_PAGES = 5; // 100 is more than anyone resumes by hand, and each page is one more request

let pending = []; // the broker's unfinished video uploads, newest first
let pendingMore = false; // the broker has more than were listed
let pendingProblem = '';
let pendingLoads = 0;
let pendingSeq = 0;
// Storage has these whole, but the broker lists them until VOD's callback (or a later lookup) tells it so.
const finishedHere = new Set();

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
  localStorage.setItem(savedKey(u.file), JSON.stringify({ videoId: u.videoId, fileName: u.file.name, checkpoint }));
}

const forget = file => localStorage.removeItem(savedKey(file));

/** What this browser saved, by VideoId: how the broker's list of unfinished uploads meets the stored checkpoints. */
function savedByVideo() {
  const found = new Map();
  for (let i = 0; i < localStorage.length; i += 1) {
    const key = localStorage.key(i);
    if (!key?.startsWith(`${STORE}upload:`)) continue;
    try {
      const saved = JSON.parse(localStorage.getItem(key));
      if (saved?.videoId) found.set(saved.videoId, saved);
    } catch {
      // not JSON: nothing this page wrote
    }
  }
  return found;
}

// ---- what the user sees ---------------------------------------------------------------------------------------

function say(text) {
  els.status.textContent = text;
}

function showError(error, status = 'The upload stopped.') {
  els.error.textContent = describe(error);
  els.error.hidden = false;
  say(status);
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

function setBusy(now) {
  busy = now;
  els.start.disabled = busy;
  els.pause.disabled = !busy;
  els.file.disabled = busy;
  els.discard.hidden = busy || !(upload?.checkpoint || (els.file.files[0] && loadSaved(els.file.files[0])));
  els.replace.hidden = busy || !lastVideoId;
  els.replaceHint.hidden = els.replace.hidden;
  renderPending(); // its buttons follow the busy state too
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
      case 'UploadAlreadyCompleted':
        return error.message; // the broker's own sentence says what to do: start a new upload
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
  lastVideoId = u.videoId;
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

/**
 * An upload of `file`: into `videoId` when one is given (chosen from the list, or the source to replace), else
 * into the video this browser stored for the file, else into a new one. `fromStart` ignores stored progress.
 */
async function begin(file, { videoId, fromStart = false } = {}) {
  const saved = loadSaved(file);
  // A stored checkpoint belongs to the video it was stored with: another video's parts are no use here.
  const resumable = !fromStart && saved?.checkpoint && (!videoId || saved.videoId === videoId);
  const u = { file, videoId: videoId || saved?.videoId, checkpoint: resumable ? { ...saved.checkpoint, file } : null };
  if (u.videoId) {
    if (fromStart) say(`Asking the broker to replace the source of video ${u.videoId}…`);
    else if (u.checkpoint) say(`Resuming video ${u.videoId}: asking the broker for a new credential…`);
    else say(`Sending ${file.name} into video ${u.videoId} from the start: asking the broker for a credential…`);
    // The refresh comes first and decides: when the broker refuses it, nothing is uploaded and nothing is stored.
    await refreshCredential(u);
    showProgress(u.checkpoint);
    save(u);
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

/** Upload, resume, or (with `replace`, a VideoId) send the chosen file into that video again from the start. */
async function startOrResume({ replace } = {}) {
  clearError();
  const file = els.file.files[0];
  if (!readToken()) {
    els.error.textContent = 'Paste your bearer token first: make run prints one as export TOKEN=….';
    els.error.hidden = false;
    els.token.focus();
    return;
  }
  if (!file) {
    els.error.textContent = replace ? `Choose the file that should replace the source of video ${replace} first.`
      : 'Choose a file to upload first.';
    els.error.hidden = false;
    els.file.focus();
    return;
  }
  setBusy(true);
  try {
    if (replace || !upload || upload.file !== file) {
      upload = await begin(file, replace ? { videoId: replace, fromStart: true } : { videoId: target });
      loadPending(); // a new video is unfinished now, and the list says which one this page is sending
    }
    const outcome = await send(upload);
    if (outcome === 'paused') {
      const cp = upload.checkpoint;
      const where = cp ? `after ${cp.doneParts.length} of ${Math.ceil(cp.fileSize / cp.partSize)} parts` : '';
      say(`Paused ${where}. Press Resume to continue, even after reloading this page.`);
      els.start.textContent = 'Resume';
      loadPending();
    } else {
      forget(file);
      showProgress(upload.checkpoint, true);
      say(`Upload complete: video ${upload.videoId}, ${mib(file.size)}.`);
      els.start.textContent = 'Upload';
      watchFinished(upload.videoId);
      upload = null;
      target = null;
    }
  } catch (error) {
    showError(error, replace ? 'The source was not replaced.' : undefined);
    if (error?.code === 'UploadAlreadyCompleted' && !replace) {
      // The video is already complete: its stored progress has nothing left to resume, and the list is stale.
      if (!target || loadSaved(file)?.videoId === target) forget(file);
      target = null;
      upload = null;
      els.start.textContent = 'Upload';
      loadPending();
    } else if (upload) {
      els.start.textContent = 'Resume';
    }
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
  if (file && target && saved?.videoId !== target) {
    showProgress(null);
    els.videoId.textContent = target;
    els.start.textContent = 'Upload';
    say(`Press Upload to send ${file.name} into video ${target} from the start: this browser has no progress for it.`);
  } else if (saved) {
    lastVideoId = saved.videoId;
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
  target = null;
  lastVideoId = null;
  fileChosen();
  renderPending();
  say('The unfinished upload is forgotten. Press Upload to start again.');
}

// ---- your unfinished uploads ------------------------------------------------------------------------------------

/** The caller's unfinished uploads from the broker, paged through NextToken; then shown. */
async function loadPending() {
  const seq = ++pendingSeq; // a newer look wins over a slower, older one
  if (!readToken()) {
    pending = [];
    pendingProblem = 'Paste your token to see them.';
    els.pendingList.setAttribute('aria-busy', 'false'); // a look still under way is stale now
    renderPending();
    return;
  }
  els.pendingList.setAttribute('aria-busy', 'true');
  try {
    const found = [];
    let nextToken = null;
    for (let pages = 0; pages < PENDING_MAX_PAGES; pages += 1) {
      const page = await client.listUploads({ status: 'pending', maxResults: PENDING_PAGE_SIZE, nextToken });
      // The demo uploads videos only; images and other media have no file here to resume with.
      found.push(...page.Uploads.filter(u => u.Provider === 'vod' && u.Kind === 'video'));
      nextToken = page.NextToken;
      if (!nextToken) break;
    }
    if (seq !== pendingSeq) return;
    pending = found;
    pendingMore = Boolean(nextToken);
    pendingProblem = '';
  } catch (error) {
    if (seq !== pendingSeq) return;
    pendingProblem = `They could not be listed. ${describe(error)}`;
  } finally {
    if (seq === pendingSeq) {
      pendingLoads += 1;
      els.pendingList.dataset.loads = String(pendingLoads);
      els.pendingList.setAttribute('aria-busy', 'false');
    }
  }
  renderPending();
}

/** After an upload completes, look again (briefly) until the broker has heard of it. */
async function watchFinished(videoId) {
  finishedHere.add(videoId);
  for (let look = 1; look <= 5; look += 1) {
    await loadPending();
    if (!pending.some(u => u.Id === videoId)) break;
    await new Promise(resolve => setTimeout(resolve, look * 1000));
  }
}

function renderPending() {
  const saved = savedByVideo();
  els.pendingList.replaceChildren(...pending.map(u => pendingItem(u, saved.get(u.Id))));
  const count = pending.length === 1 ? 'One unfinished upload.' : `${pending.length} unfinished uploads.`;
  const text = pendingProblem
    || (pending.length === 0 ? 'None: every video you started uploading is complete.'
      : `${count}${pendingMore ? ` These are the newest ${pending.length}; the broker has more.` : ''}`);
  // A live region: only a change is news worth announcing.
  if (els.pendingStatus.textContent !== text) els.pendingStatus.textContent = text;
}

function pendingItem(u, saved) {
  const item = document.createElement('li');
  item.dataset.videoId = u.Id;
  item.dataset.refreshCount = String(u.RefreshCount);
  const id = document.createElement('code');
  id.textContent = u.Id;
  const created = document.createElement('time');
  created.dateTime = u.CreatedAt;
  created.textContent = new Date(u.CreatedAt).toLocaleString();
  const here = busy && upload?.videoId === u.Id;
  const refreshed = u.RefreshCount === 0 ? 'not refreshed yet'
    : `refreshed ${u.RefreshCount === 1 ? 'once' : `${u.RefreshCount} times`}`;
  // The list is a snapshot: for the upload under way the live count above is the one to read.
  item.append('Video ', id, ', started ', created, here ? '.' : `, credential ${refreshed}.`);

  const note = document.createElement('span');
  note.className = 'hint';
  let resumable = true;
  if (here) {
    item.dataset.progress = 'here';
    note.textContent = 'Uploading in this page now: its progress is above.';
    resumable = false;
  } else if (finishedHere.has(u.Id)) {
    item.dataset.progress = 'finished';
    note.textContent = 'Storage has the whole file; the video service has not confirmed it to the broker yet.';
    resumable = false;
  } else if (saved) {
    item.dataset.progress = 'saved';
    const cp = saved.checkpoint;
    const done = cp ? ` (${cp.doneParts.length} of ${Math.ceil(cp.fileSize / cp.partSize)} parts sent)` : '';
    const which = saved.fileName ? ` (${saved.fileName})` : '';
    note.textContent = `This browser has its progress${done}: pick the same file${which} to resume.`;
  } else {
    item.dataset.progress = 'none';
    note.textContent = 'No progress saved in this browser: pick its file to send it again from the start.';
  }
  item.append(' ', note);
  if (resumable) {
    const button = document.createElement('button');
    button.type = 'button';
    button.textContent = 'Resume';
    // The visible word first, so a voice user can say it; the id tells the list's buttons apart.
    button.setAttribute('aria-label', `Resume video ${u.Id}`);
    button.setAttribute('aria-pressed', String(target === u.Id));
    button.disabled = busy;
    button.addEventListener('click', () => choose(u.Id));
    item.append(' ', button);
  }
  return item;
}

/** An entry of the list was chosen: the next upload goes into its video, once the user picks the file. */
function choose(videoId) {
  clearError();
  target = videoId;
  lastVideoId = videoId;
  upload = null;
  els.videoId.textContent = videoId;
  renderPending();
  if (els.file.files[0]) {
    fileChosen(); // says whether the chosen file resumes or starts over
  } else {
    const saved = savedByVideo().get(videoId);
    say(saved ? `Pick ${saved.fileName || 'the same file'} again to resume video ${videoId}.`
      : `Pick the file for video ${videoId}: it is sent again from the start.`);
    setBusy(false);
  }
  els.file.focus();
}

// ---- wiring ---------------------------------------------------------------------------------------------------

els.token.value = localStorage.getItem(`${STORE}token`) || '';
els.brokerUrl.value = localStorage.getItem(`${STORE}broker-url`) || '';
connect();
els.brokerUrl.addEventListener('change', () => {
  localStorage.setItem(`${STORE}broker-url`, els.brokerUrl.value.trim());
  connect();
  loadPending();
});
let tokenTyped = 0;
els.token.addEventListener('input', () => {
  localStorage.setItem(`${STORE}token`, readToken());
  // List once the paste or typing settles, not on every keystroke.
  clearTimeout(tokenTyped);
  tokenTyped = setTimeout(loadPending, 400);
});
els.file.addEventListener('change', fileChosen);
els.form.addEventListener('submit', event => {
  event.preventDefault();
  startOrResume();
});
els.pause.addEventListener('click', pause);
els.discard.addEventListener('click', discard);
els.replace.addEventListener('click', () => startOrResume({ replace: lastVideoId }));
els.pendingCheck.addEventListener('click', loadPending);
if (!window.OSS) {
  els.error.textContent = 'The ali-oss browser client (vendor/aliyun-oss-sdk.min.js) did not load, so this page '
    + 'cannot upload. See examples/web/vendor/README.md.';
  els.error.hidden = false;
  els.start.disabled = true;
} else if (els.file.files[0]) {
  fileChosen(); // the browser kept a chosen file across a reload
}
loadPending();
