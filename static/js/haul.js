// Haul's small shared script: theme toggle, toasts, htmx error reporting. No build step.
(function () {
  "use strict";

  // Theme: follow the system until the toggle is used, then remember the choice.
  function currentTheme() {
    var set = document.documentElement.dataset.theme;
    if (set) return set;
    return window.matchMedia && window.matchMedia("(prefers-color-scheme: dark)").matches ? "dark" : "light";
  }
  function applyTheme(theme) {
    document.documentElement.dataset.theme = theme;
    try { localStorage.setItem("haul-theme", theme); } catch (e) { /* private mode: not remembered */ }
    var button = document.getElementById("theme-toggle");
    if (button) button.setAttribute("aria-pressed", theme === "dark" ? "true" : "false");
  }

  // Toasts: window.haulToast("Queued 3 links", "success"); servers send them in HX-Trigger.
  function toast(message, level) {
    var area = document.getElementById("toasts");
    if (!area || !message) return;
    var item = document.createElement("div");
    item.className = "toast " + (level || "info");
    item.setAttribute("role", level === "error" ? "alert" : "status");
    var text = document.createElement("span");
    text.textContent = message;
    var close = document.createElement("button");
    close.type = "button";
    close.setAttribute("aria-label", "Dismiss");
    close.textContent = "×";
    close.addEventListener("click", function () { item.remove(); });
    item.appendChild(text);
    item.appendChild(close);
    area.appendChild(item);
    while (area.children.length > 4) area.firstElementChild.remove();
    setTimeout(function () { item.remove(); }, level === "error" ? 9000 : 5000);
  }
  window.haulToast = toast;

  document.addEventListener("DOMContentLoaded", function () {
    var button = document.getElementById("theme-toggle");
    if (button) {
      button.setAttribute("aria-pressed", currentTheme() === "dark" ? "true" : "false");
      button.addEventListener("click", function () { applyTheme(currentTheme() === "dark" ? "light" : "dark"); });
    }
    // Close the account menu when clicking elsewhere or pressing Escape.
    document.addEventListener("click", function (event) {
      document.querySelectorAll("details.account-menu[open]").forEach(function (menu) {
        if (!menu.contains(event.target)) menu.removeAttribute("open");
      });
    });
    document.addEventListener("keydown", function (event) {
      if (event.key === "Escape") document.querySelectorAll("details.account-menu[open]").forEach(function (m) { m.removeAttribute("open"); });
    });
  });

  // Toasts ride on the response's HX-Trigger header and are read from the request itself, not
  // from htmx's events: those are dispatched on the element that made the request, and when a
  // live update removed that element while the request was in flight (a deleted entry's own
  // event arriving first) they never reach the document and the toast would be lost.
  function responseToasts(xhr) {
    var header = xhr.getResponseHeader("HX-Trigger");
    if (!header) return null;
    try {
      var listed = JSON.parse(header)["haul:toast"];
      return listed ? (Array.isArray(listed) ? listed : [listed]) : [];
    } catch (e) { return []; }
  }
  function errorMessage(xhr) {
    try {
      var body = JSON.parse(xhr.responseText);
      if (body.detail) return body.detail;
    } catch (e) { /* not JSON */ }
    return "Request failed (" + xhr.status + ")";
  }
  document.addEventListener("htmx:beforeSend", function (event) {
    var xhr = event.detail.xhr;
    xhr.addEventListener("load", function () {
      var toasts = responseToasts(xhr);
      if (toasts) toasts.forEach(function (t) { if (t && t.message) toast(t.message, t.level); });
      // A refusal without its own toast still says something (422 forms show theirs inline).
      else if (xhr.status >= 400 && xhr.status !== 422) toast(errorMessage(xhr), "error");
    });
  });
  document.addEventListener("htmx:sendError", function () { toast("Haul did not answer; check the connection.", "error"); });
})();
