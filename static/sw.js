// Haul's service worker (served as /sw.js with the whole app as its scope; webapp/sharing).
//
// It does one thing: take the share target's POST /share. The phone's share sheet sends that
// POST with no CSRF token, so the server must not act on it. Here the shared fields and files
// are kept in Cache Storage under <scope>share/pending/<id>, and the app is sent to
// GET /share?pending=<id>: a normal signed-in page that shows what was shared and sends it
// with the session's CSRF token (static/js/share.js). Nothing else is intercepted or cached.
"use strict";

const CACHE = "haul-share-v1";
const SHARE_PATH = new URL("share", self.registration.scope).pathname;
const PENDING_PATH = SHARE_PATH + "/pending/";
const KEEP_MS = 7 * 24 * 60 * 60 * 1000; // a share nobody sent is dropped after a week
const MAX_FIELD = 10000; // characters kept of title, text and url

self.addEventListener("install", () => self.skipWaiting());
self.addEventListener("activate", (event) => event.waitUntil(self.clients.claim()));

self.addEventListener("fetch", (event) => {
  const request = event.request;
  if (request.method !== "POST") return;
  const url = new URL(request.url);
  if (url.origin !== self.location.origin || url.pathname !== SHARE_PATH) return;
  event.respondWith(keepShare(request, event));
});

function newId() {
  const bytes = new Uint8Array(12);
  self.crypto.getRandomValues(bytes);
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

function field(form, name) {
  const value = form.get(name);
  return typeof value === "string" ? value.slice(0, MAX_FIELD) : "";
}

function json(body) {
  return new Response(JSON.stringify(body), { headers: { "Content-Type": "application/json" } });
}

async function keepShare(request, event) {
  let form;
  try {
    form = await request.formData();
  } catch (error) {
    return Response.redirect(SHARE_PATH + "?unreadable=1", 303);
  }
  const id = newId();
  const cache = await caches.open(CACHE);
  const files = [];
  for (const file of form.getAll("files")) {
    // A share with no file still has an empty "files" part in some browsers.
    if (typeof file === "string" || (!file.size && !file.name)) continue;
    const key = PENDING_PATH + id + "/file/" + files.length;
    const type = file.type || "application/octet-stream";
    await cache.put(key, new Response(file, { headers: { "Content-Type": type } }));
    files.push({ key: key, name: file.name || "shared-" + (files.length + 1), type: type, size: file.size });
  }
  await cache.put(PENDING_PATH + id, json({
    id: id, created: Date.now(), title: field(form, "title"), text: field(form, "text"),
    url: field(form, "url"), files: files,
  }));
  event.waitUntil(dropOld(cache));
  return Response.redirect(SHARE_PATH + "?pending=" + id, 303);
}

async function dropOld(cache) {
  const now = Date.now();
  for (const request of await cache.keys()) {
    const path = new URL(request.url).pathname;
    if (!path.startsWith(PENDING_PATH) || path.includes("/file/")) continue;
    const response = await cache.match(request);
    let meta = null;
    try { meta = await response.json(); } catch (error) { meta = null; }
    if (meta && now - meta.created < KEEP_MS) continue;
    for (const file of (meta && meta.files) || []) await cache.delete(file.key);
    await cache.delete(request);
  }
}
