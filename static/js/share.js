// The share page (templates/sharing/share.html): what the share sheet sent, as the service
// worker (static/sw.js) kept it in Cache Storage, sent with this session's CSRF token: the link
// to POST /share/send, each file to POST /share/upload. It waits for a tap on "Send to Haul":
// any website can make a browser POST to /share, so only a person's tap sends what arrived.
// Plain ES2017, no build step.
(function () {
  "use strict";

  var CACHE = "haul-share-v1";
  var LINK_RE = /https?:\/\/[^\s<>"'`]+/i;

  function $(id) { return document.getElementById(id); }
  function show(id, yes) { var el = $(id); if (el) el.hidden = !yes; }

  function csrfToken() {
    var meta = document.querySelector("meta[name=csrf-token]");
    return meta ? meta.content : "";
  }

  function firstLink(meta) {
    var fields = [meta.url, meta.text, meta.title];
    for (var i = 0; i < fields.length; i++) {
      var found = (fields[i] || "").match(LINK_RE);
      if (found) return found[0].replace(/[.,;:!?\]}»]+$/, "");
    }
    return null;
  }

  function sizeText(bytes) {
    if (bytes >= 1024 * 1024 * 1024) return (bytes / 1024 / 1024 / 1024).toFixed(1) + " GB";
    if (bytes >= 1024 * 1024) return (bytes / 1024 / 1024).toFixed(1) + " MB";
    if (bytes >= 1024) return Math.round(bytes / 1024) + " KB";
    return bytes + " bytes";
  }

  function addResult(state, text, link) {
    var item = document.createElement("li");
    item.className = state;
    item.dataset.state = state;
    item.appendChild(document.createTextNode(text));
    if (link && link.href) {
      item.appendChild(document.createTextNode(" "));
      var a = document.createElement("a");
      a.href = link.href;
      a.textContent = link.text;
      item.appendChild(a);
    }
    $("share-results").appendChild(item);
    return item;
  }

  async function post(url, body) {
    var response;
    try {
      response = await fetch(url, {
        method: "POST", body: body, credentials: "same-origin",
        headers: { "Accept": "application/json", "X-CSRFToken": csrfToken() },
      });
    } catch (error) {
      return { state: "error", detail: "Haul did not answer; check the connection and try again." };
    }
    var data = null;
    try { data = await response.json(); } catch (error) { data = null; }
    if (!data) data = { state: "error", detail: "Haul answered " + response.status + "." };
    if (!data.state) data.state = response.ok ? "queued" : "error";
    if (response.status === 413) data.detail = "The file is too large for Haul (at most 2 GB).";
    return data;
  }

  async function sendLink(meta, postTitle) {
    var body = new FormData();
    body.append("csrf_token", csrfToken());
    body.append("url", meta.url || "");
    body.append("text", meta.text || "");
    body.append("title", meta.title || "");
    body.append("post_title", postTitle);
    var data = await post($("share").dataset.sendUrl, body);
    if (data.state === "queued") addResult("queued", "Queued: " + data.url + ".", { href: data.job_url, text: "Job " + data.job_id });
    else if (data.state === "duplicate") addResult("duplicate", "Already in Haul: " + data.url + ".", { href: data.job_url, text: "See job " + data.job_id });
    else addResult("error", "Link not sent: " + (data.detail || "it did not work") + ".");
    return data.state !== "error";
  }

  async function sendFile(cache, file, postTitle) {
    var stored = await cache.match(file.key);
    if (!stored) {
      addResult("error", file.name + ": this browser no longer has the file; share it again.");
      return false;
    }
    var item = addResult("sending", "Uploading " + file.name + "…");
    var body = new FormData();
    body.append("csrf_token", csrfToken());
    body.append("post_title", postTitle);
    body.append("file", await stored.blob(), file.name);
    var data = await post($("share").dataset.uploadUrl, body);
    item.remove();
    if (data.state === "stored") addResult("stored", "Stored: " + file.name + ".", { href: data.job_url, text: "Job " + data.job_id });
    else if (data.state === "duplicate") addResult("duplicate", "Already in your library: " + file.name + ".", { href: data.job_url, text: "See job " + data.job_id });
    else addResult("error", file.name + " not stored: " + (data.detail || "it did not work") + ".");
    return data.state !== "error";
  }

  async function forget(cache, key, meta) {
    for (var i = 0; i < meta.files.length; i++) await cache.delete(meta.files[i].key);
    await cache.delete(key);
  }

  function describe(meta) {
    var link = firstLink(meta);
    if (link) {
      $("share-link").textContent = link;
      show("share-link-block", true);
      if (meta.title && meta.title !== link) {
        $("share-title-text").textContent = meta.title;
        show("share-title-text", true);
      }
    }
    var list = $("share-files");
    meta.files.forEach(function (file) {
      var item = document.createElement("li");
      var name = document.createElement("span");
      name.className = "break";
      name.textContent = file.name;
      var size = document.createElement("span");
      size.className = "muted small";
      size.textContent = sizeText(file.size);
      item.appendChild(name);
      item.appendChild(size);
      list.appendChild(item);
    });
    show("share-files-block", meta.files.length > 0);
    return link;
  }

  async function start() {
    var section = $("share");
    var id = section && section.dataset.pending;
    if (!id) return;
    section.setAttribute("aria-busy", "false");
    show("share-loading", false);
    if (!window.caches) { show("share-unsupported", true); return; }
    var key = location.pathname.replace(/\/$/, "") + "/pending/" + encodeURIComponent(id);
    var cache = await caches.open(CACHE);
    var stored = await cache.match(key);
    var meta = null;
    try { meta = stored ? await stored.json() : null; } catch (error) { meta = null; }
    if (!meta) { show("share-missing", true); return; }
    meta.files = meta.files || [];

    var link = describe(meta);
    var form = $("share-form");
    show("share-form", true);
    var button = $("share-send");
    if (!link && !meta.files.length) {
      show("share-nolink", true);
      button.disabled = true;
      return;
    }
    button.focus();
    form.addEventListener("submit", async function (event) {
      event.preventDefault();
      if (button.disabled) return;
      button.disabled = true;
      button.textContent = "Sending…";
      $("share-results").textContent = "";
      var postTitle = $("share-post-title").value.trim();
      var ok = true;
      if (link) ok = (await sendLink(meta, postTitle)) && ok;
      for (var i = 0; i < meta.files.length; i++) ok = (await sendFile(cache, meta.files[i], postTitle)) && ok;
      if (ok) {
        await forget(cache, key, meta);
        show("share-form", false);
        show("share-done", true);
      } else {
        button.disabled = false;
        button.textContent = "Try again";
      }
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    start().catch(function (error) {
      show("share-loading", false);
      addResult("error", "Could not read what was shared: " + error);
    });
  });
})();
