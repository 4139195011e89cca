// The queue page's live behaviour: resume the event stream where it left off, show whether it
// is connected, keep the finished list bounded, and Ctrl+Enter to send links.
(function () {
  "use strict";
  var lastEventId = null;

  function streamUrl(url) {
    if (lastEventId === null) return url;
    var clean = url.replace(/([?&])last_event_id=[^&]*&?/, "$1").replace(/[?&]$/, "");
    return clean + (clean.indexOf("?") >= 0 ? "&" : "?") + "last_event_id=" + encodeURIComponent(lastEventId);
  }

  function setLive(state, text) {
    var badge = document.getElementById("live-status");
    if (!badge) return;
    badge.className = "live " + state;
    badge.textContent = text;
  }

  function trimFinished() {
    var list = document.getElementById("finished-jobs");
    if (!list) return;
    var keep = parseInt(list.dataset.keep || "50", 10);
    while (list.children.length > keep) list.lastElementChild.remove();
  }

  document.addEventListener("DOMContentLoaded", function () {
    if (window.htmx) {
      // The browser resends Last-Event-ID when it reconnects by itself, but the SSE extension
      // opens a brand-new EventSource after an error; tell that one where we were.
      htmx.createEventSource = function (url) { return new EventSource(streamUrl(url), { withCredentials: true }); };
    }
    document.addEventListener("keydown", function (event) {
      if (event.target && event.target.id === "urls" && event.key === "Enter" && (event.ctrlKey || event.metaKey)) {
        event.preventDefault();
        var form = event.target.form;
        if (form.requestSubmit) form.requestSubmit(); else form.submit();
      }
    });
  });

  // The collections whose items a person opened: a row drawn anew by the stream (or a list
  // redrawn) comes back closed, so it is opened again here, which loads its items again.
  var openCollections = new Set();
  document.addEventListener("toggle", function (event) {
    var box = event.target;
    if (!box.classList || !box.classList.contains("collection-children")) return;
    if (box.open) openCollections.add(box.id); else openCollections.delete(box.id);
  }, true);
  document.addEventListener("htmx:load", function (event) {
    var root = event.detail.elt;
    if (!root.querySelectorAll) return;
    var boxes = root.matches && root.matches("details.collection-children") ? [root] : root.querySelectorAll("details.collection-children");
    boxes.forEach(function (box) { if (openCollections.has(box.id) && !box.open) box.open = true; });
  });

  document.addEventListener("htmx:sseOpen", function () { setLive("on", "Live"); });
  document.addEventListener("htmx:sseError", function () { setLive("off", "Reconnecting…"); });
  document.addEventListener("htmx:sseMessage", function (event) {
    var message = event.detail;
    if (message && message.type === "signed-out") {
      // The server ended this sign-in (a new password, role or a deleted account): reconnecting
      // would only be refused, so go and sign in again.
      var target = document.getElementById("queue-signed-out");
      window.location.assign(target ? target.dataset.signIn : "/login");
      return;
    }
    if (message && message.lastEventId) lastEventId = message.lastEventId;
    trimFinished();
  });
})();
