// The bookmarklet's popup (templates/sharing/send.html, sent.html) and the bookmarklet link on
// the account page (templates/settings/_send.html). Plain ES5, no build step.
(function () {
  "use strict";

  var AUTO_SEND_MS = 1200; // a moment to click the post title field first
  var AUTO_CLOSE_MS = 2000;

  function closeWindow() {
    window.close();
    // A window this page's script did not open cannot be closed: go back instead.
    setTimeout(function () {
      if (window.closed) return;
      if (window.history.length > 1) window.history.back();
      else window.location.href = "/";
    }, 150);
  }

  function autoSend(form) {
    var status = document.getElementById("send-status");
    var field = document.getElementById("post_title");
    var button = document.getElementById("send-button");
    var timer = null;
    var sent = false;
    function send() {
      if (sent) return;
      sent = true;
      if (button) button.disabled = true;
      if (status) status.textContent = "Sending…";
      // submit() skips the submit event, so the button stays disabled only in this path.
      form.submit();
    }
    function stop() {
      if (timer === null) return;
      clearTimeout(timer);
      timer = null;
      if (status) status.textContent = "Add a post title if you like, then press Send to Haul.";
    }
    form.addEventListener("submit", function (event) {
      if (sent) { event.preventDefault(); return; }
      sent = true;
      clearTimeout(timer);
      if (status) status.textContent = "Sending…";
    });
    if (form.dataset.auto !== "yes") return;
    if (field) {
      field.addEventListener("focus", stop);
      field.addEventListener("input", stop);
    }
    timer = setTimeout(send, AUTO_SEND_MS);
  }

  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("[data-close]").forEach(function (button) {
      button.addEventListener("click", closeWindow);
    });

    var form = document.getElementById("send-form");
    if (form) autoSend(form);

    var result = document.getElementById("send-result");
    if (result && result.dataset.state === "queued" && (window.opener || window.name === "haul")) {
      setTimeout(function () { window.close(); }, AUTO_CLOSE_MS);
    } else if (result) {
      var closing = document.getElementById("closing");
      if (closing) closing.hidden = true;
    }

    // The userscript's token, shown once: copy it (or select it where the clipboard API is unavailable).
    document.querySelectorAll("[data-copy-token]").forEach(function (button) {
      button.addEventListener("click", function () {
        var input = document.getElementById(button.dataset.copyToken);
        if (!input) return;
        input.focus();
        input.select();
        var done = function () { if (window.haulToast) window.haulToast("Token copied.", "success"); };
        if (navigator.clipboard && window.isSecureContext) navigator.clipboard.writeText(input.value).then(done, function () {});
        else { try { if (document.execCommand("copy")) done(); } catch (e) { /* selected: Ctrl-C copies it */ } }
      });
    });

    // On the account page: clicking the bookmarklet there would send the account page itself.
    document.querySelectorAll("a[data-bookmarklet]").forEach(function (link) {
      link.addEventListener("click", function (event) {
        event.preventDefault();
        var hint = document.getElementById(link.dataset.bookmarklet);
        if (hint) {
          hint.hidden = false;
          hint.focus();
        }
      });
    });
  });
})();
