// The invites page: the dialog (edit, QR code, details), copying links, ticking rows for the
// bulk bar, the new link scrolled into view, local times and time zones. No build step; the
// page works without it (plain forms and pages), this only makes it quicker to use.
(function () {
  "use strict";

  function each(root, selector, fn) {
    Array.prototype.forEach.call((root || document).querySelectorAll(selector), fn);
  }

  // -- the dialog ------------------------------------------------------------------------------
  // htmx loads a partial into #invite-dialog-body; it opens once the partial is in. On close the
  // focus goes back to the button that opened it (found again by id: the list may be new).
  var openerId = null;

  function dialog() { return document.getElementById("invite-dialog"); }

  document.addEventListener("htmx:beforeRequest", function (event) {
    var elt = event.detail.elt;
    if (elt && elt.getAttribute && elt.getAttribute("hx-target") === "#invite-dialog-body" && elt.id && !elt.closest("dialog")) {
      openerId = elt.id;
    }
  });
  document.addEventListener("htmx:afterSwap", function (event) {
    var box = dialog();
    if (box && event.detail.target && event.detail.target.id === "invite-dialog-body" && !box.open) box.showModal();
  });
  // Sent with the saved list: close once htmx has swapped it in (it does so right after the
  // event), so the focus can go back to the new list's button.
  document.addEventListener("invites:saved", function () {
    setTimeout(function () {
      var box = dialog();
      if (box && box.open) box.close();
    }, 0);
  });
  document.addEventListener("click", function (event) {
    var closer = event.target.closest("[data-close-dialog]");
    if (closer && closer.closest("dialog")) {
      event.preventDefault();  // the link is for pages without JavaScript
      closer.closest("dialog").close();
      return;
    }
    var box = dialog();
    if (box && event.target === box) box.close();  // a click on the backdrop
  });
  document.addEventListener("DOMContentLoaded", function () {
    var box = dialog();
    if (!box) return;
    box.addEventListener("close", function () {
      var body = document.getElementById("invite-dialog-body");
      if (body) body.textContent = "";  // a closed edit form must not linger with stale values
      var opener = openerId && document.getElementById(openerId);
      if (opener) opener.focus();
    });
  });

  // -- copying a link --------------------------------------------------------------------------
  function copyText(text) {
    if (navigator.clipboard && window.isSecureContext) return navigator.clipboard.writeText(text);
    // Plain http on another machine has no clipboard API: the old way, from a hidden box. Inside
    // an open modal dialog the box must be in the dialog, or the selection is inert.
    return new Promise(function (resolve, reject) {
      var area = document.createElement("textarea");
      area.value = text;
      area.setAttribute("readonly", "");
      area.style.position = "fixed";
      area.style.opacity = "0";
      (document.querySelector("dialog[open]") || document.body).appendChild(area);
      area.select();
      var copied = false;
      try { copied = document.execCommand("copy"); } catch (e) { copied = false; }
      area.remove();
      if (copied) resolve(); else reject(new Error("no clipboard"));
    });
  }
  document.addEventListener("click", function (event) {
    var button = event.target.closest("[data-copy-link]");
    if (!button) return;
    var url = button.getAttribute("data-copy-link");
    copyText(url).then(function () {
      if (window.haulToast) window.haulToast("Link copied.", "success");
      var label = button.textContent;
      button.textContent = "Copied ✓";
      setTimeout(function () { button.textContent = label; }, 1500);
    }, function () {
      window.prompt("Copy the invite link:", url);
    });
  });

  // -- ticking rows for the bulk bar -----------------------------------------------------------
  function updateBulk() {
    var list = document.getElementById("invite-list");
    if (!list) return;
    var boxes = list.querySelectorAll(".invite-select");
    var ticked = list.querySelectorAll(".invite-select:checked");
    var count = document.getElementById("invite-selected-count");
    if (count) {
      count.textContent = ticked.length ? ticked.length + " of " + boxes.length + " selected" : "Tick links to change several at once";
    }
    var all = list.querySelector("[data-select-all]");
    if (all) {
      all.checked = boxes.length > 0 && ticked.length === boxes.length;
      all.indeterminate = ticked.length > 0 && ticked.length < boxes.length;
    }
    each(list, "[data-bulk]", function (button) { button.disabled = ticked.length === 0; });
    var remove = document.getElementById("invite-bulk-delete");
    if (remove && ticked.length) {
      remove.setAttribute("hx-confirm", "Delete " + (ticked.length === 1 ? "the ticked invite link" : ticked.length + " invite links") +
        "? They stop working at once; what guests sent stays.");
    }
    each(list, ".invite-select", function (box) {
      var row = box.closest("tr");
      if (row) row.classList.toggle("is-selected", box.checked);
    });
  }
  document.addEventListener("change", function (event) {
    var target = event.target;
    if (target.matches && target.matches("[data-select-all]")) {
      each(document.getElementById("invite-list"), ".invite-select", function (box) { box.checked = target.checked; });
    }
    if (target.matches && (target.matches("[data-select-all]") || target.matches(".invite-select"))) updateBulk();
  });

  // -- the new link: scrolled to and focused ---------------------------------------------------
  function revealNew() {
    var row = document.querySelector("tr.invite-row[data-new]");
    if (!row) return;
    row.removeAttribute("data-new");
    var still = window.matchMedia && window.matchMedia("(prefers-reduced-motion: reduce)").matches;
    row.scrollIntoView({ block: "nearest", behavior: still ? "auto" : "smooth" });
    var name = row.querySelector(".invite-name");
    if (name) name.focus({ preventScroll: true });
  }

  // -- times: shown in the browser's zone, and the expiry typed in it --------------------------
  var timeFormat = null;
  try { timeFormat = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "short" }); } catch (e) { /* UTC text */ }
  function browserZone() {
    try { return Intl.DateTimeFormat().resolvedOptions().timeZone || ""; } catch (e) { return ""; }
  }
  function pad(number, width) { return String(number).padStart(width || 2, "0"); }
  function localValue(date) {
    return pad(date.getFullYear(), 4) + "-" + pad(date.getMonth() + 1) + "-" + pad(date.getDate()) + "T" +
      pad(date.getHours()) + ":" + pad(date.getMinutes());
  }
  function localiseTimes(root) {
    if (!timeFormat) return;
    each(root, "time[data-local]", function (el) {
      var when = new Date(el.getAttribute("datetime"));
      if (isNaN(when)) return;
      el.title = el.textContent;
      el.textContent = timeFormat.format(when);
      el.removeAttribute("data-local");
    });
  }
  // The server writes an existing expiry in UTC with tz=UTC; show it in local time and say so.
  function setUpTimeZones(root) {
    var zone = browserZone();
    if (!zone) return;
    each(root, "input[data-tz]", function (tz) {
      if (tz.dataset.ready) return;
      tz.dataset.ready = "1";
      var input = tz.form && tz.form.querySelector("input[data-local-time]");
      if (input && input.value && tz.value === "UTC") {
        var when = new Date(input.value + ":00Z");
        if (!isNaN(when)) input.value = localValue(when);
      }
      tz.value = zone;
    });
  }

  // -- uses: the count only matters for "a number of times" ------------------------------------
  function syncUses(form) {
    var limited = form.querySelector("input[type=radio][value=limited]");
    var count = form.querySelector(".uses-count");
    if (limited && count) count.disabled = !limited.checked;
    return count;
  }
  document.addEventListener("change", function (event) {
    var radio = event.target;
    if (!radio.matches || !radio.matches("[data-invite-form] input[type=radio]")) return;
    var count = syncUses(radio.form);
    if (count && !count.disabled) count.focus();
  });

  // -- the search form: tidy URLs, and its order controls following the headings ----------------
  // Defaults left out of the pushed URL: /invites?q=party rather than ?q=party&sort=created&order=desc.
  document.addEventListener("htmx:configRequest", function (event) {
    if (!event.detail.elt || event.detail.elt.id !== "invite-filters") return;
    var params = event.detail.parameters;
    var sort = document.getElementById("invite-sort");
    var option = sort && sort.selectedOptions[0];
    if (params.q === "") delete params.q;
    if (option && params.order === option.getAttribute("data-order")) delete params.order;
    if (params.sort === "created") delete params.sort;
  });
  // A new order starts the way that order usually runs (names A to Z, newest first…). In the
  // capture phase, so htmx's request (sent on the same change) already has it.
  document.addEventListener("change", function (event) {
    if (event.target.id !== "invite-sort") return;
    var option = event.target.selectedOptions[0];
    var order = document.getElementById("invite-order");
    if (option && order) order.value = option.getAttribute("data-order");
  }, true);
  function syncSortControls() {
    var list = document.getElementById("invite-list");
    var sort = document.getElementById("invite-sort");
    var order = document.getElementById("invite-order");
    if (!list || !sort || !order) return;
    sort.value = list.dataset.sort;
    order.value = list.dataset.order;
  }

  function setUp(root) {
    localiseTimes(root);
    setUpTimeZones(root);
    each(root, "[data-invite-form]", syncUses);
    updateBulk();
  }
  document.addEventListener("htmx:load", function (event) { setUp(event.detail.elt); });
  document.addEventListener("htmx:afterSettle", function () { syncSortControls(); revealNew(); });
  document.addEventListener("DOMContentLoaded", function () { setUp(document); revealNew(); });
})();
