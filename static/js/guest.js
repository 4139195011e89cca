// The guest page: chunked, resumable uploads (each chunk's SHA-256 sent along), links, and a
// live list of what this visitor sent. No build step; plain ES2017.
//
// Upload protocol (webapp/services/guests/chunked_uploads.py): POST <base>/uploads starts one and says
// the chunk size; PUT <base>/uploads/<id>?offset=N sends the chunk at N with X-Chunk-SHA256; a
// 409 or a dropped connection is answered by asking GET <base>/uploads/<id> how much the server
// has, then sending the rest; a 422 (the chunk's hash did not match) resends that chunk; POST
// <base>/uploads/<id>/finish stores the file or reports it is in the library already.
(function () {
  "use strict";

  var root = document.getElementById("guest");
  if (!root) return;
  var base = root.dataset.base;
  var inviteId = root.dataset.invite;
  var csrfMeta = document.querySelector('meta[name="csrf-token"]');
  var csrf = csrfMeta ? csrfMeta.content : "";
  var list = document.getElementById("guest-items");
  var liveBadge = document.getElementById("live-status");

  var AUTO_RETRIES = 6; // network failures in a row before an upload waits for the Retry button
  var HASH_RETRIES = 3; // chunk hash mismatches in a row before giving up
  var PARALLEL = 2; // files sent at once
  var STORE_KEY = "haul-upload:";

  var items = {}; // item id -> what the server said about it (links, and uploads not sent from here)
  var tasks = []; // uploads started on this page
  var tasksByUpload = {}; // upload id -> task
  var nextLocal = 1;
  var closed = false;

  // -- small helpers -------------------------------------------------------------------------------

  function sleep(ms) { return new Promise(function (resolve) { setTimeout(resolve, ms); }); }

  function humanBytes(value) {
    if (value === null || value === undefined) return "–";
    var units = ["B", "KB", "MB", "GB", "TB"], size = value, i = 0;
    while (Math.abs(size) >= 1024 && i < units.length - 1) { size /= 1024; i++; }
    return i === 0 ? size.toFixed(0) + " B" : size.toFixed(1) + " " + units[i];
  }

  function el(tag, className, text) {
    var node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined && text !== null) node.textContent = text;
    return node;
  }

  function toast(message, level) { if (window.haulToast) window.haulToast(message, level); }

  function request(method, path, body) {
    var options = { method: method, credentials: "same-origin", headers: { "Accept": "application/json" } };
    if (method !== "GET") options.headers["X-CSRFToken"] = csrf;
    if (body !== undefined) {
      options.headers["Content-Type"] = "application/json";
      options.body = JSON.stringify(body);
    }
    return fetch(base + path, options).then(function (response) {
      return response.text().then(function (text) {
        var data = {};
        try { data = text ? JSON.parse(text) : {}; } catch (e) { data = { detail: "Unexpected answer (" + response.status + ")" }; }
        return { status: response.status, body: data };
      });
    }, function () { return { status: 0, body: { detail: "No connection to the server" } }; });
  }

  // The link was switched off, expired or used up while the page was open.
  function showClosed(body) {
    if (closed) return;
    closed = true;
    var notice = document.getElementById("guest-closed");
    if (notice) {
      notice.textContent = (body && body.detail) || "This invite link can no longer be used.";
      notice.hidden = false;
    }
    root.querySelectorAll("button, textarea, input").forEach(function (node) { node.disabled = true; });
  }

  function isClosedAnswer(answer) {
    var code = answer.body && answer.body.error_code;
    return answer.status === 410 || (answer.status === 404 && code === "invite_unknown") ||
      code === "guest_session_expired" || code === "guest_session_ended" || code === "guest_session_missing" ||
      code === "password_required";
  }

  // -- SHA-256 -------------------------------------------------------------------------------------
  // WebCrypto where the page is a secure context (https, localhost); plain http on a home network
  // has no crypto.subtle, so a small implementation of FIPS 180-4 steps in there.

  var K = (function () {
    var out = [], n = 2;
    while (out.length < 64) {
      var prime = true;
      for (var d = 2; d * d <= n; d++) if (n % d === 0) { prime = false; break; }
      if (prime) out.push((Math.cbrt(n) % 1) * 4294967296 | 0);
      n++;
    }
    return out;
  })();
  var H0 = (function () {
    var out = [], n = 2;
    while (out.length < 8) {
      var prime = true;
      for (var d = 2; d * d <= n; d++) if (n % d === 0) { prime = false; break; }
      if (prime) out.push((Math.sqrt(n) % 1) * 4294967296 | 0);
      n++;
    }
    return out;
  })();

  function sha256Plain(bytes) {
    var length = bytes.length;
    var padded = new Uint8Array(((length + 9 + 63) >> 6) << 6);
    padded.set(bytes);
    padded[length] = 0x80;
    var view = new DataView(padded.buffer);
    view.setUint32(padded.length - 8, Math.floor(length / 536870912), false); // high bits of length * 8
    view.setUint32(padded.length - 4, (length << 3) >>> 0, false);
    var h = H0.slice(), w = new Int32Array(64);
    for (var block = 0; block < padded.length; block += 64) {
      for (var t = 0; t < 16; t++) w[t] = view.getInt32(block + t * 4, false);
      for (t = 16; t < 64; t++) {
        var x = w[t - 15], y = w[t - 2];
        var s0 = ((x >>> 7) | (x << 25)) ^ ((x >>> 18) | (x << 14)) ^ (x >>> 3);
        var s1 = ((y >>> 17) | (y << 15)) ^ ((y >>> 19) | (y << 13)) ^ (y >>> 10);
        w[t] = (w[t - 16] + s0 + w[t - 7] + s1) | 0;
      }
      var a = h[0], b = h[1], c = h[2], d = h[3], e = h[4], f = h[5], g = h[6], k = h[7];
      for (t = 0; t < 64; t++) {
        var S1 = ((e >>> 6) | (e << 26)) ^ ((e >>> 11) | (e << 21)) ^ ((e >>> 25) | (e << 7));
        var ch = (e & f) ^ (~e & g);
        var t1 = (k + S1 + ch + K[t] + w[t]) | 0;
        var S0 = ((a >>> 2) | (a << 30)) ^ ((a >>> 13) | (a << 19)) ^ ((a >>> 22) | (a << 10));
        var maj = (a & b) ^ (a & c) ^ (b & c);
        var t2 = (S0 + maj) | 0;
        k = g; g = f; f = e; e = (d + t1) | 0; d = c; c = b; b = a; a = (t1 + t2) | 0;
      }
      h[0] = (h[0] + a) | 0; h[1] = (h[1] + b) | 0; h[2] = (h[2] + c) | 0; h[3] = (h[3] + d) | 0;
      h[4] = (h[4] + e) | 0; h[5] = (h[5] + f) | 0; h[6] = (h[6] + g) | 0; h[7] = (h[7] + k) | 0;
    }
    return h.map(function (word) { return ("00000000" + (word >>> 0).toString(16)).slice(-8); }).join("");
  }

  function hex(buffer) {
    return Array.prototype.map.call(new Uint8Array(buffer), function (byte) {
      return ("0" + byte.toString(16)).slice(-2);
    }).join("");
  }

  function sha256(buffer) {
    if (window.crypto && window.crypto.subtle && window.isSecureContext !== false) {
      return window.crypto.subtle.digest("SHA-256", buffer).then(hex);
    }
    return Promise.resolve(sha256Plain(new Uint8Array(buffer)));
  }

  // For the browser tests: the fallback must agree with WebCrypto.
  window.haulGuest = { sha256Plain: sha256Plain };

  // -- drawing items -------------------------------------------------------------------------------

  var LINK_STATES = {
    queued: ["Queued", "waiting", "active"], paused: ["Waiting", "waiting", "active"],
    downloading: ["Downloading", "downloading", "active"], completed: ["Done", "completed", "done"],
    failed: ["Failed", "failed", "failed"], cancelled: ["Cancelled", "cancelled", "failed"],
    duplicate: ["Already in the library", "duplicate", "done"]
  };
  var UPLOAD_STATES = {
    waiting: ["Waiting", "waiting", "active"], uploading: ["Uploading", "uploading", "active"],
    retrying: ["Reconnecting…", "retrying", "active"], checking: ["Checking…", "checking", "active"],
    stored: ["Uploaded", "stored", "done"], duplicate: ["Already in the library", "duplicate", "done"],
    failed: ["Failed", "failed", "failed"], lost: ["Stopped", "lost", "lost"],
    paused: ["Not finished", "lost", "lost"]
  };

  function rowFor(id) {
    var row = document.getElementById("item-" + id);
    if (!row) {
      row = el("li", "item");
      row.id = "item-" + id;
      list.appendChild(row);
    }
    return row;
  }

  // view: {id, kind: "upload"|"link", name, state, percent, stats: [..], error, actions: [[label, fn]]}
  function draw(view) {
    var states = view.kind === "upload" ? UPLOAD_STATES : LINK_STATES;
    var state = states[view.state] || [view.state, view.state, ""];
    var row = rowFor(view.id);
    row.className = "item " + state[2];
    row.dataset.status = view.state;
    row.dataset.kind = view.kind;
    row.textContent = "";

    var head = el("div", "item-head");
    var name = el("div", "item-name break", view.name);
    name.title = view.name;
    head.appendChild(name);
    head.appendChild(el("span", "chip " + state[1], state[0]));
    row.appendChild(head);

    var active = state[2] === "active" && view.state !== "waiting";
    if (active) {
      var bar = el("div", "progress" + (view.percent === null || view.percent === undefined ? " indeterminate" : ""));
      bar.setAttribute("role", "progressbar");
      bar.setAttribute("aria-label", "Progress of " + view.name);
      bar.setAttribute("aria-valuemin", "0");
      bar.setAttribute("aria-valuemax", "100");
      var fill = el("span");
      if (view.percent !== null && view.percent !== undefined) {
        bar.setAttribute("aria-valuenow", String(Math.round(view.percent)));
        fill.style.width = view.percent + "%";
      }
      bar.appendChild(fill);
      row.appendChild(bar);
    }
    var stats = el("div", "item-stats small");
    if (active && view.percent !== null && view.percent !== undefined) {
      stats.appendChild(el("span", "percent", Math.floor(view.percent) + "%"));
    }
    (view.stats || []).forEach(function (text) { if (text) stats.appendChild(el("span", "", text)); });
    if (stats.children.length) row.appendChild(stats);
    if (view.error) {
      var error = el("p", "item-error small", view.error);
      error.setAttribute("role", "alert");
      row.appendChild(error);
    }
    var actions = el("div", "actions item-actions");
    (view.actions || []).forEach(function (action) {
      var button = el("button", action[2] || "secondary small", action[0]);
      button.type = "button";
      button.setAttribute("aria-label", action[0] + " " + view.name);
      button.addEventListener("click", function () { button.disabled = true; action[1](); });
      actions.appendChild(button);
    });
    row.appendChild(actions);
  }

  function drawServerItem(item) {
    if (item.removed) {
      var gone = document.getElementById("item-" + item.id);
      if (gone) gone.remove();
      delete items[item.id];
      return;
    }
    items[item.id] = item;
    if (item.type === "upload") {
      var task = item.upload && tasksByUpload[item.upload.upload_id];
      if (task) return; // this page is sending it: its own view is newer
      var state = item.status === "uploading" ? "paused" : item.status;
      draw({
        id: item.id, kind: "upload", name: item.name, state: state, percent: item.percent,
        stats: [humanBytes(item.bytes_total)],
        error: state === "paused" ? "The page was closed before this file was sent. Choose it again to go on where it stopped." : item.error
      });
      return;
    }
    var stats = [];
    if (item.status === "downloading") {
      if (item.items_total) stats.push(item.items_done + " / " + item.items_total + " items");
      else if (item.items_done) stats.push(item.items_done + " items");
      if (item.bytes_done) stats.push(humanBytes(item.bytes_done) + (item.bytes_total ? " of " + humanBytes(item.bytes_total) : ""));
    } else if (item.status === "completed") {
      if (item.items_done) stats.push(item.items_done + " file" + (item.items_done === 1 ? "" : "s"));
      if (item.bytes_total || item.bytes_done) stats.push(humanBytes(item.bytes_total || item.bytes_done));
    }
    var actions = [];
    if (item.can_retry) actions.push(["Retry", function () { retryLink(item); }]);
    draw({ id: item.id, kind: "link", name: item.name, state: item.status,
           percent: item.status === "downloading" ? item.percent : null, stats: stats, error: item.error, actions: actions });
  }

  function retryLink(item) {
    request("POST", "/links/" + item.job_id + "/retry").then(function (answer) {
      if (answer.status === 200) drawServerItem(answer.body.item);
      else {
        if (isClosedAnswer(answer)) showClosed(answer.body);
        toast(answer.body.detail || "Could not retry", "error");
        drawServerItem(item);
      }
    });
  }

  function loadItems() {
    return request("GET", "/items").then(function (answer) {
      if (answer.status === 200) (answer.body.items || []).forEach(drawServerItem);
      else if (isClosedAnswer(answer)) showClosed(answer.body);
    });
  }

  // -- uploads -------------------------------------------------------------------------------------

  function storeKey(file) { return STORE_KEY + inviteId + ":" + file.name + ":" + file.size + ":" + file.lastModified; }
  function remembered(file) { try { return localStorage.getItem(storeKey(file)); } catch (e) { return null; } }
  function remember(file, uploadId) { try { localStorage.setItem(storeKey(file), uploadId); } catch (e) { /* private mode */ } }
  function forget(file) { try { localStorage.removeItem(storeKey(file)); } catch (e) { /* private mode */ } }

  function drawTask(task) {
    var percent = task.size ? Math.min(100, 100 * task.sent / task.size) : 0;
    var stats = [], actions = [];
    if (task.state === "uploading" || task.state === "retrying") {
      stats.push(humanBytes(task.sent) + " of " + humanBytes(task.size));
    } else {
      stats.push(humanBytes(task.size));
    }
    if (task.state === "lost" || (task.state === "failed" && task.retryable)) {
      actions.push(["Retry", function () { resumeTask(task); }]);
    }
    if (task.uploadId && (task.state === "lost" || task.state === "failed" || task.state === "waiting")) {
      actions.push(["Remove", function () { cancelTask(task); }, "ghost small"]);
    }
    draw({ id: task.id, kind: "upload", name: task.file.name,
           state: task.state, percent: task.state === "checking" ? null : percent,
           stats: stats, error: task.error, actions: actions });
  }

  function addFiles(fileList) {
    if (closed) return;
    Array.prototype.forEach.call(fileList, function (file) {
      var task = { id: "local-" + (nextLocal++), file: file, size: file.size, sent: 0, received: 0,
                   uploadId: null, chunkSize: 0, state: "waiting", error: null, retryable: false, failures: 0 };
      tasks.push(task);
      drawTask(task);
    });
    pump();
  }

  function pump() {
    var running = tasks.filter(function (t) { return t.running; }).length;
    tasks.forEach(function (task) {
      if (running < PARALLEL && !task.running && task.state === "waiting") {
        running++;
        runTask(task);
      }
    });
  }

  function adopt(task, upload) {
    task.uploadId = upload.upload_id;
    task.chunkSize = upload.chunk_size;
    task.received = task.sent = upload.received;
    tasksByUpload[upload.upload_id] = task;
    // An older row for the same upload (listed before this page picked the file again) goes.
    var old = document.getElementById("item-upload-" + upload.upload_id);
    if (old) old.remove();
  }

  function fail(task, message, retryable) {
    task.state = retryable ? "lost" : "failed";
    task.error = message;
    task.retryable = !!retryable;
    drawTask(task);
  }

  async function startOrResume(task) {
    var known = remembered(task.file);
    if (known) {
      var status = await request("GET", "/uploads/" + encodeURIComponent(known));
      if (status.status === 200 && status.body.upload.status === "uploading" && status.body.upload.size === task.size) {
        adopt(task, status.body.upload);
        return true;
      }
      forget(task.file);
    }
    var answer = await request("POST", "/uploads", { filename: task.file.name, size: task.size, mime: task.file.type || null });
    if (answer.status === 201) {
      adopt(task, answer.body.upload);
      remember(task.file, task.uploadId);
      return true;
    }
    if (isClosedAnswer(answer)) showClosed(answer.body);
    if (answer.status === 0 || answer.status >= 500) fail(task, "Could not reach the server. Check the connection, then retry.", true);
    // Too many files started from this network in the last hour: the same file may go later.
    else fail(task, answer.body.detail || "The server refused this file (" + answer.status + ")", answer.status === 429);
    return false;
  }

  function putChunk(task, offset, buffer, digest) {
    return new Promise(function (resolve) {
      var xhr = new XMLHttpRequest();
      xhr.open("PUT", base + "/uploads/" + encodeURIComponent(task.uploadId) + "?offset=" + offset);
      xhr.setRequestHeader("X-CSRFToken", csrf);
      xhr.setRequestHeader("X-Chunk-SHA256", digest);
      xhr.setRequestHeader("Content-Type", "application/octet-stream");
      xhr.setRequestHeader("Accept", "application/json");
      xhr.timeout = 10 * 60 * 1000;
      var lastDraw = 0;
      xhr.upload.onprogress = function (event) {
        task.sent = offset + event.loaded;
        var now = Date.now();
        if (now - lastDraw > 150) { lastDraw = now; drawTask(task); }
      };
      xhr.onload = function () {
        var body = {};
        try { body = JSON.parse(xhr.responseText || "{}"); } catch (e) { body = {}; }
        resolve({ status: xhr.status, body: body });
      };
      xhr.onerror = xhr.ontimeout = xhr.onabort = function () { resolve({ status: 0, body: {} }); };
      xhr.send(buffer);
    });
  }

  function waitOnline() {
    if (navigator.onLine !== false) return Promise.resolve();
    return new Promise(function (resolve) {
      window.addEventListener("online", function once() { window.removeEventListener("online", once); resolve(); });
    });
  }

  // After a dropped connection: how much does the server have? (It may have stored the chunk
  // whose answer was lost.)
  async function askServer(task) {
    var answer = await request("GET", "/uploads/" + encodeURIComponent(task.uploadId));
    if (answer.status === 200) {
      if (answer.body.upload.status !== "uploading") restart(task);
      task.received = task.sent = answer.body.upload.received;
      return answer.body.upload;
    }
    if (answer.status === 0 || answer.status >= 500) return null;
    if (isClosedAnswer(answer)) {
      showClosed(answer.body);
      throw new Error(answer.body.detail || "This invite link can no longer be used");
    }
    restart(task); // 404: the server no longer has it
  }

  // The server dropped this upload (failed, lost, given up): send the file again from the start.
  var RESTART = "restart";
  function restart(task) {
    forget(task.file);
    if (task.uploadId) delete tasksByUpload[task.uploadId];
    task.uploadId = null;
    task.received = task.sent = 0;
    throw new Error(RESTART);
  }

  async function sendChunks(task) {
    var hashFailures = 0;
    while (task.received < task.size) {
      var offset = task.received;
      var end = Math.min(task.size, offset + task.chunkSize);
      var buffer = await task.file.slice(offset, end).arrayBuffer();
      var digest = await sha256(buffer);
      var answer = await putChunk(task, offset, buffer, digest);
      var code = answer.body && answer.body.error_code;
      if (answer.status === 200) {
        task.received = task.sent = answer.body.received;
        task.failures = 0;
        hashFailures = 0;
        if (task.state !== "uploading") { task.state = "uploading"; task.error = null; }
        drawTask(task);
        continue;
      }
      if (answer.status === 422 && code === "chunk_hash_mismatch") {
        if (++hashFailures > HASH_RETRIES) throw new Error("The file kept arriving damaged; retry later.");
        continue; // the same chunk again
      }
      if (answer.status === 409 && typeof answer.body.received === "number") {
        task.received = task.sent = answer.body.received; // the server's count wins
        if (code === "upload_complete") break;
        if (code === "upload_not_open") restart(task);
        continue;
      }
      if ((answer.status === 409 && code === "upload_lost") || (answer.status === 404 && code === "upload_not_found")) {
        restart(task);
      }
      // A dropped connection, a server error, or an earlier try of this chunk still being
      // written on the server (upload_busy): wait, ask how far it got, go on from there.
      if (answer.status === 0 || answer.status >= 500 || answer.status === 408 || answer.status === 429 ||
          code === "upload_busy") {
        task.failures++;
        if (task.failures > AUTO_RETRIES) return false; // wait for the Retry button
        task.state = "retrying";
        task.error = navigator.onLine === false ? "Offline: waiting for the connection…" : "Connection lost: trying again…";
        drawTask(task);
        await waitOnline();
        await sleep(Math.min(15000, 500 * Math.pow(2, task.failures - 1)));
        await askServer(task);
        continue;
      }
      if (isClosedAnswer(answer)) showClosed(answer.body);
      throw new Error(answer.body.detail || "The server refused this file (" + answer.status + ")");
    }
    return true;
  }

  async function finishTask(task) {
    task.state = "checking";
    task.error = null;
    drawTask(task);
    for (var attempt = 0; attempt < 5; attempt++) {
      var answer = await request("POST", "/uploads/" + encodeURIComponent(task.uploadId) + "/finish");
      if (answer.status === 200) {
        var upload = answer.body.upload;
        task.state = upload.status === "duplicate" ? "duplicate" : "stored";
        task.error = upload.status === "duplicate" ? "This file is already in the library; it was not stored twice." : null;
        task.sent = task.size;
        forget(task.file);
        drawTask(task);
        return;
      }
      var code = answer.body && answer.body.error_code;
      if (answer.status === 409 && code === "upload_incomplete") {
        task.received = task.sent = answer.body.received;
        throw new Error("retry-chunks");
      }
      if ((answer.status === 409 && (code === "upload_not_open" || code === "upload_lost")) ||
          (answer.status === 404 && code === "upload_not_found")) restart(task);
      if (answer.status !== 0 && answer.status < 500 && answer.status !== 409) {
        if (isClosedAnswer(answer)) showClosed(answer.body);
        throw new Error(answer.body.detail || "The server could not store this file");
      }
      await waitOnline();
      await sleep(1000 * (attempt + 1));
    }
    fail(task, "The server did not confirm this file. Retry to ask again.", true);
  }

  async function runTask(task) {
    task.running = true;
    try {
      for (var round = 0; round < 3; round++) {
        try {
          if (!task.uploadId && !(await startOrResume(task))) return;
          task.state = "uploading";
          task.error = null;
          drawTask(task);
          if (!(await sendChunks(task))) {
            fail(task, "The connection keeps dropping. It goes on from " + humanBytes(task.received) + " when you retry.", true);
            return;
          }
          await finishTask(task);
          return;
        } catch (e) {
          if (e.message !== "retry-chunks" && e.message !== RESTART) throw e;
        }
      }
      fail(task, "The server kept dropping this file. Retry to send it again.", true);
    } catch (error) {
      fail(task, error.message || "Upload failed", false);
    } finally {
      task.running = false;
      pump();
    }
  }

  function resumeTask(task) {
    task.failures = 0;
    task.error = null;
    task.state = "waiting";
    drawTask(task);
    pump();
  }

  function cancelTask(task) {
    var done = function () {
      forget(task.file);
      tasks = tasks.filter(function (t) { return t !== task; });
      if (task.uploadId) delete tasksByUpload[task.uploadId];
      var row = document.getElementById("item-" + task.id);
      if (row) row.remove();
    };
    if (!task.uploadId) { done(); return; }
    request("DELETE", "/uploads/" + encodeURIComponent(task.uploadId)).then(function (answer) {
      if (answer.status === 204 || answer.status === 404) done();
      else { toast(answer.body.detail || "Could not remove it", "error"); drawTask(task); }
    });
  }

  // -- links ---------------------------------------------------------------------------------------

  function setupLinks() {
    var form = document.getElementById("link-form");
    if (!form) return;
    var box = document.getElementById("guest-links");
    var problems = document.getElementById("link-problems");
    var button = document.getElementById("send-links");
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      if (!box.value.trim()) { box.focus(); return; }
      button.disabled = true;
      problems.hidden = true;
      problems.textContent = "";
      box.removeAttribute("aria-invalid");
      request("POST", "/links", { text: box.value }).then(function (answer) {
        button.disabled = closed;
        if (answer.status === 202) {
          box.value = "";
          (answer.body.items || []).forEach(drawServerItem);
          toast(answer.body.items.length === 1 ? "Link sent" : answer.body.items.length + " links sent", "success");
          return;
        }
        if (isClosedAnswer(answer)) showClosed(answer.body);
        var refused = answer.body.refused || [];
        if (!refused.length) refused = [{ url: "", reason: answer.body.detail || "Not sent (" + answer.status + ")" }];
        refused.forEach(function (problem) {
          var line = el("li");
          if (problem.url) {
            line.appendChild(el("span", "mono break", problem.url));
            line.appendChild(document.createTextNode(" — "));
          }
          line.appendChild(document.createTextNode(problem.reason));
          problems.appendChild(line);
        });
        if (answer.body.refused && answer.body.refused.length) {
          problems.appendChild(el("li", "note muted", "Nothing was sent: fix or remove these, then send again."));
        }
        problems.hidden = false;
        box.setAttribute("aria-invalid", "true");
      });
    });
    box.addEventListener("keydown", function (event) {
      if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) {
        event.preventDefault();
        if (form.requestSubmit) form.requestSubmit(); else form.dispatchEvent(new Event("submit"));
      }
    });
  }

  // -- files: picker and drop zone -----------------------------------------------------------------

  function setupFiles() {
    var input = document.getElementById("file-input");
    if (!input) return;
    root.querySelectorAll(".choose-files").forEach(function (button) {
      button.addEventListener("click", function () { input.click(); });
    });
    input.addEventListener("change", function () {
      addFiles(input.files);
      input.value = "";
    });
    var zone = document.getElementById("drop-zone");
    var depth = 0;
    ["dragenter", "dragover"].forEach(function (name) {
      document.addEventListener(name, function (event) {
        if (!event.dataTransfer || Array.prototype.indexOf.call(event.dataTransfer.types || [], "Files") < 0) return;
        event.preventDefault();
        if (name === "dragenter") depth++;
        zone.classList.add("over");
      });
    });
    document.addEventListener("dragleave", function () { if (--depth <= 0) { depth = 0; zone.classList.remove("over"); } });
    document.addEventListener("drop", function (event) {
      if (!event.dataTransfer || !event.dataTransfer.files || !event.dataTransfer.files.length) return;
      event.preventDefault();
      depth = 0;
      zone.classList.remove("over");
      addFiles(event.dataTransfer.files);
    });
  }

  // -- live updates --------------------------------------------------------------------------------

  function setLive(state, text) {
    if (!liveBadge) return;
    liveBadge.className = "live " + state;
    liveBadge.textContent = text;
  }

  function connect() {
    if (!window.EventSource || closed) return;
    var source = new EventSource(base + "/events");
    source.addEventListener("hello", function () { setLive("on", "Live"); loadItems(); });
    source.addEventListener("resync", loadItems);
    // The session is over (the link's password changed, or the link closed): no reconnecting.
    source.addEventListener("ended", function (event) {
      source.close();
      var body = {};
      try { body = JSON.parse(event.data); } catch (e) { /* the default notice will do */ }
      setLive("off", "Ended");
      showClosed(body);
    });
    source.addEventListener("item", function (event) {
      try { drawServerItem(JSON.parse(event.data)); } catch (e) { /* a malformed frame: skip it */ }
    });
    source.onerror = function () {
      setLive("off", "Reconnecting…");
      if (source.readyState === EventSource.CLOSED) {
        // Refused outright (the link closed, the session ended): find out why, then try later.
        loadItems().then(function () { if (!closed) setTimeout(connect, 5000); });
      }
    };
  }

  // -- start ---------------------------------------------------------------------------------------

  document.addEventListener("DOMContentLoaded", function () {
    var data = {};
    try { data = JSON.parse(document.getElementById("guest-data").textContent || "{}"); } catch (e) { data = {}; }
    (data.items || []).forEach(drawServerItem);
    setupFiles();
    setupLinks();
    connect();
    window.addEventListener("beforeunload", function (event) {
      if (tasks.some(function (t) { return t.running; })) { event.preventDefault(); event.returnValue = ""; }
    });
  });
})();
