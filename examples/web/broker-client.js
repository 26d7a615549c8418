// broker-client.js: a small browser client for the upload credential broker's VOD video routes and its list of
// the caller's own uploads.
//
//   import { createBrokerClient, decodeCredentials, BrokerError } from './broker-client.js';
//
//   const broker = createBrokerClient({ baseUrl: 'https://broker.example.com', token: () => userToken });
//   const created = await broker.createUploadVideo(
//     { Title: file.name, FileName: file.name, FileSize: file.size },
//     { idempotencyKey: crypto.randomUUID() },
//   );
//   const { address, auth, expiresAt } = decodeCredentials(created);  // what an OSS client needs
//   const again = await broker.refreshUploadVideo(created.VideoId);     // a new credential, same object
//   const { Uploads, NextToken } = await broker.listUploads({ status: 'pending' });  // what is unfinished
//
// Every failure is a BrokerError carrying the broker's own error fields (status, code, message, field,
// requestId, retryAfter), so an app can turn it into words for its user. A network failure is a BrokerError
// with status 0 and code 'NetworkError'. Plain ES module, no dependencies, no build step.

/** A refusal from the broker (or no answer at all): the broker's `Code`, `Message`, `Field`, `RequestId`. */
export class BrokerError extends Error {
  constructor({ status = 0, code = 'NetworkError', message = '', field, requestId, retryAfter } = {}) {
    super(message || code);
    this.name = 'BrokerError';
    this.status = status;
    this.code = code;
    this.field = field;
    this.requestId = requestId;
    this.retryAfter = retryAfter; // seconds, from Retry-After on 429 / 503
  }
}

/**
 * A client for `POST /v1/videos`, `POST /v1/videos/{VideoId}/refresh` and `GET /v1/uploads`.
 *
 * - `baseUrl`: the broker's origin (and path prefix, if any); '' means the page's own origin.
 * - `token`: the end user's bearer token, or a function returning it (read on every call, so a renewed token
 *   is picked up).
 * - `fetch`: a fetch implementation, for tests; defaults to the browser's.
 */
export function createBrokerClient({ baseUrl = '', token, fetch: fetchImpl } = {}) {
  const base = String(baseUrl).replace(/\/+$/, '');
  const doFetch = fetchImpl || ((...args) => globalThis.fetch(...args));
  const bearer = () => (typeof token === 'function' ? token() : token) || '';

  async function send(method, path, body, extraHeaders = {}) {
    // A GET carries no body, so no Content-Type either.
    const init = body === undefined
      ? { method, headers: { Authorization: `Bearer ${bearer()}`, ...extraHeaders }, cache: 'no-store' }
      : {
        method,
        headers: { Authorization: `Bearer ${bearer()}`, 'Content-Type': 'application/json', ...extraHeaders },
        body: JSON.stringify(body),
        cache: 'no-store',
      };
    let response;
    try {
      response = await doFetch(`${base}${path}`, init);
    } catch (error) {
      const message = `Could not reach the broker: ${error.message}`;
      throw new BrokerError({ status: 0, code: 'NetworkError', message });
    }
    let answer = null;
    try {
      answer = await response.json();
    } catch {
      answer = null;
    }
    if (!response.ok || answer === null) {
      const retryAfter = Number(response.headers.get('Retry-After')) || undefined;
      throw new BrokerError({
        status: response.status,
        code: (answer && answer.Code) || (response.ok ? 'InvalidResponse' : `HTTP${response.status}`),
        message: (answer && answer.Message) || `The broker answered ${response.status} ${response.statusText}.`,
        field: answer && answer.Field,
        requestId: (answer && answer.RequestId) || response.headers.get('X-Request-Id') || undefined,
        retryAfter,
      });
    }
    return answer;
  }

  return {
    /** VOD CreateUploadVideo: `fields` are VOD's own (Title, FileName required; FileSize, Description, ...). */
    createUploadVideo(fields, { idempotencyKey } = {}) {
      return send('POST', '/v1/videos', fields ?? {}, idempotencyKey ? { 'Idempotency-Key': idempotencyKey } : {});
    },
    /**
     * VOD RefreshUploadVideo: a new credential for the caller's own video (404 for anyone else's; 409
     * `UploadAlreadyCompleted` once VOD holds the video's source, since a refresh would overwrite it).
     */
    refreshUploadVideo(videoId) {
      return send('POST', `/v1/videos/${encodeURIComponent(videoId)}/refresh`, {});
    },
    /**
     * The caller's own uploads, newest first: `{Uploads: [{Provider, Kind, Id, CreatedAt, Status, CompletedAt,
     * RefreshCount}], NextToken}`. `status` is 'pending' or 'completed' (omitted: both); `maxResults` 1-100;
     * `nextToken` is the previous page's `NextToken` (null on the last page), passed back with the same `status`.
     */
    listUploads({ status, maxResults, nextToken } = {}) {
      const query = new URLSearchParams();
      if (status) query.set('Status', status);
      if (maxResults) query.set('MaxResults', String(maxResults));
      if (nextToken) query.set('NextToken', nextToken);
      const search = query.toString();
      return send('GET', `/v1/uploads${search ? `?${search}` : ''}`);
    },
  };
}

/** Base64 JSON (UTF-8) as an object: how VOD encodes UploadAddress and UploadAuth. */
export function decodeBase64Json(value) {
  const bytes = Uint8Array.from(atob(value), c => c.charCodeAt(0));
  return JSON.parse(new TextDecoder().decode(bytes));
}

/**
 * The parts of a create/refresh answer an OSS client needs:
 * `address` {Endpoint, Bucket, FileName}, `auth` {AccessKeyId, AccessKeySecret, SecurityToken, Region, ...}
 * and `expiresAt` (a Date, from the broker's `Expiration`, else UploadAuth's `ExpireUTCTime`).
 */
export function decodeCredentials(answer) {
  const address = decodeBase64Json(answer.UploadAddress);
  const auth = decodeBase64Json(answer.UploadAuth);
  const expiresAt = new Date(answer.Expiration || auth.ExpireUTCTime);
  return { videoId: answer.VideoId, address, auth, expiresAt };
}
