// History page: the in-page preview (images with previous/next, video, audio), confirmation
// dialogs, local times, tidy URLs for the filter form, and the live stream (finished jobs appear
// first, entries redrawn with their thumbnails, details panels kept open). No build step.
(function () {
  "use strict";

  // -- local times ---------------------------------------------------------------------------
  var timeFormat = null;
  try {
    timeFormat = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "short" });
  } catch (e) { /* very old browser: keep the UTC text */ }
  function localiseTimes(root) {
    if (!timeFormat) return;
    (root || document).querySelectorAll("time[data-local]").forEach(function (el) {
      var when = new Date(el.getAttribute("datetime"));
      if (!isNaN(when)) {
        el.title = el.textContent;
        el.textContent = timeFormat.format(when);
        el.removeAttribute("data-local");
      }
    });
  }

  // -- filter form -----------------------------------------------------------------------------
  function setTimeZone() {
    var tz = document.getElementById("history-tz");
    if (tz && !tz.value) {
      try { tz.value = Intl.DateTimeFormat().resolvedOptions().timeZone || ""; } catch (e) { /* UTC then */ }
    }
  }
  // Leave empty fields out of the request, so the pushed URL holds only what narrows the view.
  document.addEventListener("htmx:configRequest", function (event) {
    if (!event.detail.elt || event.detail.elt.id !== "history-filters") return;
    var params = event.detail.parameters;
    var dated = params.from || params.to;
    ["q", "status", "source", "domain", "user", "from", "to", "tz", "uploader", "duration_min", "duration_max",
     "uploaded_from", "uploaded_to"].forEach(function (name) {
      if (params[name] === "" || (name === "tz" && !dated)) delete params[name];
    });
  });
  // A plain (non-htmx) submit of the form: the same tidy URL.
  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (form.id !== "history-filters" || window.htmx) return;
    var dated = form.elements.from.value || form.elements.to.value;
    Array.prototype.forEach.call(form.elements, function (el) {
      if (el.name && (el.value === "" || (el.name === "tz" && !dated))) el.disabled = true;
    });
  });

  // -- dialogs ---------------------------------------------------------------------------------
  document.addEventListener("click", function (event) {
    var opener = event.target.closest("[data-open-dialog]");
    if (opener) {
      var dialog = document.getElementById(opener.getAttribute("data-open-dialog"));
      if (dialog && !dialog.open) dialog.showModal();
      return;
    }
    var closer = event.target.closest("[data-close-dialog]");
    if (closer) {
      var owner = closer.closest("dialog");
      if (owner) owner.close();
    }
  });
  // A confirmation that failed stays on the page: close its dialog (the toast explains).
  document.addEventListener("htmx:afterRequest", function (event) {
    var dialog = event.detail.elt && event.detail.elt.closest && event.detail.elt.closest("dialog.confirm");
    if (dialog && dialog.open && !event.detail.successful) dialog.close();
  });

  // -- preview ---------------------------------------------------------------------------------
  var viewer, stage, title, counter, download, prev, next;
  var items = [];
  var current = 0;

  function stopMedia() {
    stage.querySelectorAll("video, audio").forEach(function (media) {
      media.pause();
      media.removeAttribute("src");
      media.load();
    });
    stage.textContent = "";
  }

  function show(index) {
    if (!items.length) return;
    current = (index + items.length) % items.length;
    var item = items[current];
    var kind = item.getAttribute("data-kind");
    var name = item.getAttribute("data-name");
    stopMedia();
    var media;
    if (kind === "image") {
      media = document.createElement("img");
      media.alt = name;
    } else {
      media = document.createElement(kind === "video" ? "video" : "audio");
      media.controls = true;
      media.preload = "metadata";
      media.setAttribute("aria-label", name);
      if (kind === "video") media.playsInline = true;
    }
    media.className = "viewer-media";
    media.src = item.getAttribute("data-src");
    stage.appendChild(media);
    title.textContent = name;
    download.href = item.getAttribute("data-download");
    download.setAttribute("aria-label", "Download " + name);
    counter.textContent = items.length > 1 ? (current + 1) + " / " + items.length : "";
    prev.hidden = next.hidden = items.length < 2;
  }

  function openPreview(button) {
    var group = button.closest(".files") || document;
    items = Array.prototype.slice.call(group.querySelectorAll("[data-preview]"));
    if (!viewer.open) viewer.showModal();
    show(items.indexOf(button));
  }

  function setUpViewer() {
    viewer = document.getElementById("viewer");
    if (!viewer || viewer.dataset.ready) return;
    viewer.dataset.ready = "1";
    stage = viewer.querySelector(".viewer-stage");
    title = viewer.querySelector(".viewer-title");
    counter = viewer.querySelector(".viewer-count");
    download = viewer.querySelector(".viewer-download");
    prev = viewer.querySelector(".viewer-prev");
    next = viewer.querySelector(".viewer-next");
    prev.addEventListener("click", function () { show(current - 1); });
    next.addEventListener("click", function () { show(current + 1); });
    viewer.querySelector(".viewer-close").addEventListener("click", function () { viewer.close(); });
    viewer.addEventListener("close", stopMedia);
    // A click on the backdrop (outside the dialog's box) closes it.
    viewer.addEventListener("click", function (event) {
      if (event.target === viewer) viewer.close();
    });
    viewer.addEventListener("keydown", function (event) {
      var tag = event.target.tagName;
      if (tag === "VIDEO" || tag === "AUDIO" || items.length < 2) return; // arrows seek media
      if (event.key === "ArrowLeft") { event.preventDefault(); show(current - 1); }
      if (event.key === "ArrowRight") { event.preventDefault(); show(current + 1); }
    });
  }

  document.addEventListener("click", function (event) {
    var button = event.target.closest("[data-preview]");
    if (button && viewer) openPreview(button);
  });

  // -- focus after swaps -------------------------------------------------------------------------
  document.addEventListener("htmx:afterSwap", function (event) {
    var elt = event.detail.elt;
    // Moving between pages: start reading at the top of the new results.
    if (elt && elt.closest && elt.closest(".pagination")) {
      var summary = document.getElementById("history-summary");
      if (summary) {
        summary.focus({ preventScroll: true });
        summary.scrollIntoView({ block: "start" });
      }
    }
  });
  // A deleted entry leaves the list: keep the focus on the page, not on nothing.
  document.addEventListener("htmx:beforeSwap", function (event) {
    var target = event.detail.target;
    if (target && target.classList && target.classList.contains("entry") && !event.detail.serverResponse) {
      var following = target.nextElementSibling || target.previousElementSibling;
      var focusAfter = following && following.querySelector("h2 a");
      setTimeout(function () {
        var fallback = document.getElementById("history-summary");
        (focusAfter && document.contains(focusAfter) ? focusAfter : fallback || document.body).focus();
      }, 0);
    }
  });

  // An htmx answer sets the filters' inline messages out of band: mark the fields to match.
  function markInvalid() {
    document.querySelectorAll("#history-filters .field-error").forEach(function (message) {
      var field = document.querySelector('[aria-describedby="' + message.id + '"]');
      if (!field) return;
      if (message.textContent.trim()) field.setAttribute("aria-invalid", "true");
      else field.removeAttribute("aria-invalid");
    });
  }
  document.addEventListener("htmx:afterSettle", function (event) {
    if (event.detail.elt && event.detail.elt.id === "history-results") markInvalid();
  });

  // -- live ------------------------------------------------------------------------------------
  // The results open the stream for their view (webapp/history/stream.py). The browser resends
  // Last-Event-ID when it reconnects by itself; after an error the SSE extension opens a new
  // EventSource, which is told the newest event seen here (never older than the URL's own).
  var lastEventId = 0;
  function streamUrl(url) {
    var match = /[?&]last_event_id=(\d+)/.exec(url);
    var known = match ? parseInt(match[1], 10) : 0;
    if (lastEventId <= known) return url;
    var clean = url.replace(/([?&])last_event_id=[^&]*&?/, "$1").replace(/[?&]$/, "");
    return clean + (clean.indexOf("?") >= 0 ? "&" : "?") + "last_event_id=" + lastEventId;
  }
  // A page of a longer history keeps its length: the entry a new one pushes down goes to page 2.
  function trimEntries() {
    var list = document.getElementById("history-entries");
    var keep = list ? parseInt(list.dataset.keep || "0", 10) : 0;
    if (!keep) return;
    while (list.children.length > keep) list.lastElementChild.remove();
  }
  // Whether the stream is open, on the element that holds it (styles and tests can wait for it).
  function setLive(event, state) {
    var live = document.getElementById("history-live");
    if (live && event.target === live) live.dataset.state = state;
  }
  document.addEventListener("htmx:sseOpen", function (event) { setLive(event, "open"); });
  document.addEventListener("htmx:sseError", function (event) { setLive(event, "reconnecting"); });
  document.addEventListener("htmx:sseMessage", function (event) {
    var message = event.detail;
    if (!message || !document.getElementById("history-live")) return;
    if (message.type === "signed-out") {
      // This sign-in has ended (a new password, role, or a deleted account): sign in again.
      var target = document.getElementById("history-signed-out");
      window.location.assign(target ? target.dataset.signIn : "/login");
      return;
    }
    var id = parseInt(message.lastEventId, 10);
    if (id > lastEventId) lastEventId = id;
    trimEntries();
  });

  // Panels a person opened stay open when the stream draws their entry again.
  var openPanels = new Set();
  document.addEventListener("toggle", function (event) {
    var box = event.target;
    if (!box.classList || !box.id || !box.classList.contains("entry-details")) return;
    if (box.open) openPanels.add(box.id); else openPanels.delete(box.id);
  }, true);
  function reopenPanels(root) {
    if (!root.querySelectorAll) return;
    var boxes = root.matches && root.matches("details.entry-details") ? [root] : root.querySelectorAll("details.entry-details");
    boxes.forEach(function (box) { if (openPanels.has(box.id) && !box.open) box.open = true; });
  }

  document.addEventListener("htmx:load", function (event) {
    localiseTimes(event.detail.elt);
    reopenPanels(event.detail.elt);
  });
  document.addEventListener("DOMContentLoaded", function () {
    if (window.htmx) {
      htmx.createEventSource = function (url) { return new EventSource(streamUrl(url), { withCredentials: true }); };
    }
    // The filters fold away on phones; there is room for them on wider screens.
    var more = document.querySelector(".filter-more");
    if (more && window.matchMedia && window.matchMedia("(min-width: 720px)").matches) more.open = true;
    setTimeZone();
    setUpViewer();
    localiseTimes(document);
  });
})();
