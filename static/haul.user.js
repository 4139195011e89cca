// ==UserScript==
// @name         Haul: send to Haul
// @namespace    haul.self-hosted
// @version      1.0.0
// @description  A button on every page that sends it to your Haul, and a desktop notification when the download is done.
// @match        *://*/*
// @noframes
// @run-at       document-idle
// @grant        GM_xmlhttpRequest
// @grant        GM_notification
// @grant        GM_getValue
// @grant        GM_setValue
// @grant        GM_registerMenuCommand
// @connect      *
// ==/UserScript==

// Settings (menu "Haul: settings"): the Haul address and a token with the submit scope only
// (the account page's "Create a submit-only token"). Sends POST {base}/api/v1/queue with
// Authorization: Bearer <token>; listens on {base}/ws/notifications for the jobs it queued.
// Plain ES2017 for Tampermonkey and Violentmonkey, no build step.
(function () {
  "use strict";

  const KEYS = { base: "haul.base", token: "haul.token", hidden: "haul.buttonHidden", jobs: "haul.jobs",
                 leader: "haul.leader" };
  const MAX_TRACKED = 200;       // jobs followed at most (the oldest are dropped)
  const LEADER_MS = 20000;       // a tab that stops stamping the lock for this long lets another lead
  const POLL_MS = 5000;          // when the WebSocket cannot connect (the page's CSP), poll instead
  const TAB = Math.random().toString(36).slice(2);

  // -- settings ---------------------------------------------------------------------------------

  function base() { return String(GM_getValue(KEYS.base, "") || "").replace(/\/+$/, ""); }
  function token() { return String(GM_getValue(KEYS.token, "") || ""); }

  function askSettings() {
    const address = window.prompt("Haul's address (for example https://haul.example.com):", base());
    if (address === null) return false;
    const cleaned = address.trim().replace(/\/+$/, "");
    if (!/^https?:\/\/[^/\s]+/i.test(cleaned)) {
      notify("Haul", "That is not an http:// or https:// address; nothing was changed.");
      return false;
    }
    const secret = window.prompt("A Haul token with the submit scope (account page, \"Create a submit-only token\"):",
                                 token());
    if (secret === null) return false;
    GM_setValue(KEYS.base, cleaned);
    GM_setValue(KEYS.token, secret.trim());
    notify("Haul", "Saved. Send a page with the Haul button or this menu.");
    return true;
  }

  function configured() {
    if (base() && token()) return true;
    return askSettings() && Boolean(base() && token());
  }

  // -- notifications ----------------------------------------------------------------------------

  function notify(title, text, url) {
    const details = { title: title, text: text, timeout: 8000 };
    if (url) details.onclick = function () { window.open(url, "_blank", "noopener"); };
    try { GM_notification(details); } catch (error) { console.log("[Haul] " + title + ": " + text); }
  }

  // -- sending ----------------------------------------------------------------------------------

  function request(method, path, body) {
    return new Promise(function (resolve) {
      GM_xmlhttpRequest({
        method: method,
        url: base() + path,
        headers: Object.assign({ "Authorization": "Bearer " + token(), "Accept": "application/json" },
                               body ? { "Content-Type": "application/json" } : {}),
        data: body ? JSON.stringify(body) : undefined,
        timeout: 30000,
        onload: function (response) {
          let data = null;
          try { data = JSON.parse(response.responseText); } catch (error) { data = null; }
          resolve({ status: response.status, data: data });
        },
        onerror: function () { resolve({ status: 0, data: null }); },
        ontimeout: function () { resolve({ status: 0, data: null }); },
      });
    });
  }

  let sending = false;  // one request at a time: a double click must not send the page twice

  async function sendPage(postTitle) {
    if (sending || !configured()) return;
    const body = { urls: [location.href] };
    if (postTitle) body.post_title = postTitle;
    sending = true;
    setButton("busy");
    let answer;
    try { answer = await request("POST", "/api/v1/queue", body); } finally { sending = false; }
    const data = answer.data || {};
    if (answer.status === 201) {
      const jobs = data.jobs || [];
      track(jobs.map(function (job) { return job.id; }));
      setButton("done");
      notify("Queued in Haul", document.title || location.href, jobUrl(jobs[0] && jobs[0].id));
    } else if (answer.status === 409) {
      setButton("known");
      notify("Already in Haul", "This page is already queued or downloaded.", jobUrl(data.duplicate_of));
    } else if (answer.status === 401) {
      setButton("error");
      notify("Haul refused the token", "Set a valid token in the menu: Haul: settings.");
    } else if (answer.status === 403) {
      setButton("error");
      notify("Haul refused", data.detail || "This token may not queue links (it needs the submit scope).");
    } else if (answer.status === 0) {
      setButton("error");
      notify("Haul did not answer", "Is " + base() + " reachable from this computer?");
    } else {
      setButton("error");
      notify("Not sent to Haul", data.detail || "Haul answered " + answer.status + ".");
    }
  }

  function jobUrl(jobId) { return jobId ? base() + "/history/" + jobId : base() + "/"; }

  // -- the jobs this script queued, and their end ------------------------------------------------

  function tracked() {
    const list = GM_getValue(KEYS.jobs, []);
    return Array.isArray(list) ? list : [];
  }

  function track(ids) {
    const list = tracked().concat(ids.filter(function (id) { return typeof id === "number"; }));
    GM_setValue(KEYS.jobs, list.slice(-MAX_TRACKED));
    follow();
  }

  function untrack(id) {
    const list = tracked();
    if (list.indexOf(id) === -1) return false; // another tab told already
    GM_setValue(KEYS.jobs, list.filter(function (other) { return other !== id; }));
    return true;
  }

  function finished(id, status, detail) {
    if (!untrack(id)) return;
    if (status === "completed") notify("Downloaded by Haul", detail || "Job " + id + " is done.", jobUrl(id));
    else if (status === "failed") notify("Haul could not download it", detail || "Job " + id + " failed.", jobUrl(id));
    // cancelled: the person did that themselves; no notification.
  }

  // One tab follows for all (a lock stamped in the script's storage), so a notification shows once.
  function leading() {
    const now = Date.now();
    const lock = GM_getValue(KEYS.leader, null);
    if (!lock || lock.tab === TAB || now - lock.at > LEADER_MS) {
      GM_setValue(KEYS.leader, { tab: TAB, at: now });
      return true;
    }
    return false;
  }

  let socket = null;
  let pollTimer = null;
  let heartbeat = null;

  function disconnect() {
    if (socket) { socket.onclose = null; socket.close(); socket = null; }
    if (pollTimer) { clearInterval(pollTimer); pollTimer = null; }
  }

  function stopFollowing() {
    disconnect();
    if (heartbeat) { clearInterval(heartbeat); heartbeat = null; }
  }

  // Runs now and every few seconds while there are jobs to follow: the leading tab listens,
  // the others wait to take over when it goes away.
  function follow() {
    if (!base() || !token() || !tracked().length) { stopFollowing(); return; }
    if (!heartbeat) heartbeat = setInterval(follow, LEADER_MS / 4);
    if (!leading()) { disconnect(); return; }
    if (!socket && !pollTimer) connect();
  }

  function connect() {
    let opened = false;
    try {
      socket = new WebSocket(base().replace(/^http/i, "ws") + "/ws/notifications?token=" + encodeURIComponent(token()));
    } catch (error) {
      socket = null;
      startPolling();
      return;
    }
    socket.onopen = function () {
      opened = true;
      // The socket only tells what happens from now on: a job that ended before it was listening
      // (a quick download, a reconnect after Haul restarted) would never be told, and followed forever.
      checkTracked();
    };
    socket.onmessage = function (event) {
      let message = null;
      try { message = JSON.parse(event.data); } catch (error) { return; }
      if (!message || typeof message.job_id !== "number") return;
      if (message.type === "completed") finished(message.job_id, "completed", message.title || message.url);
      else if (message.type === "failed") finished(message.job_id, "failed", message.error || message.url);
      else if (message.type === "cancelled") finished(message.job_id, "cancelled");
      if (!tracked().length) stopFollowing();
    };
    socket.onclose = function (event) {
      socket = null;
      if (event.code === 1008) {
        refused();
        return;
      }
      // Never opened: blocked by the page's Content-Security-Policy, or Haul is unreachable.
      if (!opened) startPolling();
      // Else the next heartbeat reconnects.
    };
  }

  // The token stopped working (revoked, or a wrong one): stop following and say so once.
  function refused() {
    const wasFollowing = heartbeat !== null;
    stopFollowing();
    if (wasFollowing) notify("Haul refused the token", "Set a valid token in the menu: Haul: settings.");
  }

  // Ask Haul how the followed jobs are (polling, and once each time the socket opens).
  async function checkTracked() {
    for (const id of tracked().slice(0, 20)) {
      const answer = await request("GET", "/api/v1/queue/" + id);
      const job = answer.data || {};
      if (answer.status === 401) { refused(); return; }
      if (answer.status === 404) untrack(id);
      else if (answer.status === 200 && ["completed", "failed", "cancelled"].indexOf(job.status) !== -1) {
        finished(id, job.status, job.status === "failed" ? job.error : (job.title || job.url));
      }
    }
    if (!tracked().length) stopFollowing();
  }

  function startPolling() {
    if (pollTimer) return;
    pollTimer = setInterval(checkTracked, POLL_MS);
  }

  // Leaving the page hands the lead on at once (not after LEADER_MS): the next page, often in
  // this very tab, takes over the following without a gap.
  window.addEventListener("pagehide", function () {
    disconnect();
    const lock = GM_getValue(KEYS.leader, null);
    if (lock && lock.tab === TAB) GM_setValue(KEYS.leader, null);
  });
  window.addEventListener("pageshow", function (event) { if (event.persisted) follow(); });

  // -- the floating button -----------------------------------------------------------------------

  let host = null;
  let button = null;
  let resetTimer = null;

  function setButton(state) {
    if (!button) return;
    const labels = { idle: "⇩ Haul", busy: "Sending…", done: "✓ Sent", known: "✓ In Haul", error: "! Haul" };
    button.textContent = labels[state] || labels.idle;
    button.dataset.state = state;
    // Only the latest state goes back to idle: an earlier click's timer must not cut a later one short.
    if (resetTimer) { clearTimeout(resetTimer); resetTimer = null; }
    if (state === "done" || state === "known" || state === "error") {
      resetTimer = setTimeout(function () { resetTimer = null; setButton("idle"); }, 4000);
    }
  }

  function addButton() {
    if (host || GM_getValue(KEYS.hidden, false) || !document.body) return;
    host = document.createElement("div");
    host.setAttribute("data-haul-userscript", "");
    const root = host.attachShadow({ mode: "closed" });
    const style = document.createElement("style");
    style.textContent = [
      ":host { all: initial; }",
      "button { position: fixed; right: 16px; bottom: 16px; z-index: 2147483647; font: 600 14px/1 system-ui, sans-serif;",
      "  padding: 10px 14px; border: 0; border-radius: 999px; background: #2457d6; color: #fff; cursor: pointer;",
      "  box-shadow: 0 2px 10px rgba(0,0,0,.25); opacity: .85; }",
      "button:hover, button:focus-visible { opacity: 1; }",
      "button[data-state=done], button[data-state=known] { background: #067647; }",
      "button[data-state=error] { background: #b42318; }",
    ].join("\n");
    button = document.createElement("button");
    button.type = "button";
    button.title = "Send this page to Haul (Shift-click: with a post title)";
    button.addEventListener("click", function (event) {
      if (event.shiftKey) sendWithTitle();
      else sendPage();
    });
    root.appendChild(style);
    root.appendChild(button);
    document.body.appendChild(host);
    setButton("idle");
  }

  function sendWithTitle() {
    const title = window.prompt("Post title (a folder in your library; empty for none):", "");
    if (title !== null) sendPage(title.trim());
  }

  function toggleButton() {
    const hidden = !GM_getValue(KEYS.hidden, false);
    GM_setValue(KEYS.hidden, hidden);
    if (hidden && host) { host.remove(); host = null; button = null; }
    if (!hidden) addButton();
  }

  GM_registerMenuCommand("Send this page to Haul", function () { sendPage(); });
  GM_registerMenuCommand("Send this page with a post title…", sendWithTitle);
  GM_registerMenuCommand("Show or hide the Haul button", toggleButton);
  GM_registerMenuCommand("Haul: settings", askSettings);

  addButton();
  follow();
})();
