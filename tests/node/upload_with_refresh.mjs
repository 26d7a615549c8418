// Upload a file the way a Node (or browser) app would: get an upload credential from the broker, multipart-upload
// with ali-oss, and refresh the credential through the broker when it runs out.
//
//   BROKER_URL=http://127.0.0.1:8000 TOKEN=<jwt> node upload_with_refresh.mjs <file>
//
// Two refresh paths, both through POST /v1/videos/{VideoId}/refresh:
// - ali-oss's own: `refreshSTSToken` is called before a request once `refreshSTSTokenInterval` ms have passed
//   since the last refresh. The interval defaults to half of what is left of the credential (the broker's
//   `Expiration`), so a credential is replaced before it runs out.
// - on expiry: ali-oss (6.x, Node) does not retry a request that OSS refused, so when a part is refused with
//   403 SecurityTokenExpired (or InvalidAccessKeyId, the older code for it) this script refreshes and resumes the
//   upload from ali-oss's checkpoint: the parts already uploaded are not sent again.
//
// Against a local fake OSS at http://127.0.0.1:<port>, ali-oss sends `/<key>` to that IP with
// `Host: <bucket>.oss-<region>.aliyuncs.com` (it treats an IP endpoint that way; see createRequest.js).
//
// Optional environment: PART_SIZE (bytes, >= 102400), PARALLEL (1), PART_DELAY_MS (pause after each part),
// REFRESH_INTERVAL_MS (overrides the default above), AUTH_V4=1 (sign with OSS V4 instead of ali-oss's default V1),
// TITLE. Prints one JSON object on stdout; exits 1 with {"error": ...} on failure.

import { readFileSync, statSync } from 'node:fs';
import { basename } from 'node:path';
import OSS from 'ali-oss';

const EXPIRED_CODES = new Set(['SecurityTokenExpired', 'InvalidAccessKeyId']);

function env(name, fallback) {
  const value = process.env[name];
  return value === undefined || value === '' ? fallback : value;
}

function decode(base64Json) {
  return JSON.parse(Buffer.from(base64Json, 'base64').toString('utf8'));
}

const sleep = ms => new Promise(resolve => setTimeout(resolve, ms));

async function main() {
  const brokerUrl = env('BROKER_URL').replace(/\/+$/, '');
  const token = env('TOKEN');
  const file = process.argv[2];
  if (!brokerUrl || !token || !file) {
    throw new Error('usage: BROKER_URL=... TOKEN=... node upload_with_refresh.mjs <file>');
  }
  const partSize = Number(env('PART_SIZE', 102400));
  const parallel = Number(env('PARALLEL', 1));
  const partDelayMs = Number(env('PART_DELAY_MS', 0));
  const authorizationV4 = env('AUTH_V4', '') === '1';

  async function broker(path, body) {
    const response = await fetch(`${brokerUrl}${path}`, {
      method: 'POST',
      headers: { Authorization: `Bearer ${token}`, 'Content-Type': 'application/json' },
      body: JSON.stringify(body),
    });
    const answer = await response.json();
    if (!response.ok) {
      throw new Error(`broker ${path}: ${response.status} ${answer.Code}: ${answer.Message}`);
    }
    return answer;
  }

  const created = await broker('/v1/videos', {
    Title: env('TITLE', basename(file)),
    FileName: basename(file),
    FileSize: statSync(file).size,
  });
  const address = decode(created.UploadAddress);
  let auth = decode(created.UploadAuth);
  const refreshes = [];
  const expiredErrors = [];

  async function refresh(reason) {
    const answer = await broker(`/v1/videos/${encodeURIComponent(created.VideoId)}/refresh`, {});
    auth = decode(answer.UploadAuth);
    refreshes.push({ reason, accessKeyId: auth.AccessKeyId, expiration: answer.Expiration });
    // The shape refreshSTSToken must return (ali-oss lib/common/utils/setSTSToken.js).
    return { accessKeyId: auth.AccessKeyId, accessKeySecret: auth.AccessKeySecret, stsToken: auth.SecurityToken };
  }

  const remainingMs = Date.parse(created.Expiration) - Date.now();
  const refreshInterval = Number(env('REFRESH_INTERVAL_MS', Math.max(Math.floor(remainingMs / 2), 1000)));
  const client = new OSS({
    endpoint: address.Endpoint,
    bucket: address.Bucket,
    region: `oss-${auth.Region || 'cn-shanghai'}`,
    accessKeyId: auth.AccessKeyId,
    accessKeySecret: auth.AccessKeySecret,
    stsToken: auth.SecurityToken,
    refreshSTSToken: () => refresh('interval'),
    refreshSTSTokenInterval: refreshInterval,
    authorizationV4,
    timeout: 30000,
  });

  let checkpoint;
  let result;
  for (let attempt = 0; ; attempt += 1) {
    try {
      result = await client.multipartUpload(address.FileName, file, {
        parallel,
        partSize,
        checkpoint,
        progress: async (_fraction, cpt) => {
          if (cpt) checkpoint = cpt;
          if (partDelayMs > 0) await sleep(partDelayMs);
        },
      });
      break;
    } catch (error) {
      if (error.status !== 403 || !EXPIRED_CODES.has(error.code) || attempt >= 3) throw error;
      expiredErrors.push({ status: error.status, code: error.code, requestId: error.requestId, ecCode: error.ecCode });
      Object.assign(client.options, await refresh('expired'));
      client.stsTokenFreshTime = new Date();
    }
  }

  const uploaded = readFileSync(file).length;
  process.stdout.write(
    `${JSON.stringify({
      VideoId: created.VideoId,
      Bucket: address.Bucket,
      FileName: address.FileName,
      ETag: result.etag,
      bytes: uploaded,
      parts: checkpoint ? checkpoint.doneParts.length : null,
      refreshInterval,
      signatureVersion: authorizationV4 ? 'v4' : 'v1',
      refreshes,
      expiredErrors,
    })}\n`,
  );
}

main().catch(error => {
  process.stdout.write(`${JSON.stringify({ error: String(error && error.message), code: error && error.code })}\n`);
  process.exit(1);
});
