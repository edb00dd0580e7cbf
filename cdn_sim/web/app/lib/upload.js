// The resumable upload: register with the size, PUT the file (or each part) straight to the object
// store's presigned URLs with XMLHttpRequest (upload progress events), then complete. The URLs are
// signed with each body's exact length, so the store refuses anything else; SeaweedFS (and MinIO)
// answer CORS for any origin, so the browser needs no proxy for these bodies.
import { post, get } from './api.js';

function put(url, blob, onProgress) {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open('PUT', url);
    xhr.upload.onprogress = (e) => onProgress(e.loaded);
    xhr.onload = () => (xhr.status < 300 ? resolve() : reject(Object.assign(new Error(`storage answered ${xhr.status}`), { status: xhr.status })));
    xhr.onerror = () => reject(new Error('network error while sending'));
    xhr.send(blob);
  });
}

export async function uploadFile(file, { caption = '', hashtags = [], privacy = 'public' }, onProgress) {
  const { video, upload } = await post('/v1/videos', { caption, hashtags, privacy, size_bytes: file.size });
  let done = 0;
  const report = (inFlight) => onProgress(Math.min(file.size, done + inFlight), file.size);
  const send = async (url, blob, refetch) => {
    try { await put(url, blob, report); } catch (e) {
      if (e.status !== 403) throw e;
      await put(await refetch(), blob, report);  // expired while earlier parts went up: one fresh URL
    }
    done += blob.size; report(0);
  };
  if (upload.multipart) {
    const mp = upload.multipart;
    for (const p of mp.parts) {
      const start = (p.part_number - 1) * mp.part_size;
      await send(p.url, file.slice(start, start + p.size_bytes), async () =>
        (await get(`/v1/videos/${video.id}/upload`)).multipart.parts.find((q) => q.part_number === p.part_number).url);
    }
  } else {
    await send(upload.url, file, async () => (await get(`/v1/videos/${video.id}/upload`)).url);
  }
  return post(`/v1/videos/${video.id}/complete`);
}
