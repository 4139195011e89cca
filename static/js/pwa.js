// Installs Haul's service worker (static/sw.js, served as /sw.js) on signed-in pages: it lets
// the installed app take links and files from the phone's share sheet. No build step.
(function () {
  "use strict";
  if (!("serviceWorker" in navigator) || !window.isSecureContext) return;
  var script = document.currentScript;
  var url = (script && script.dataset.sw) || "/sw.js";
  var scope = (script && script.dataset.scope) || "/";
  function register() {
    navigator.serviceWorker.register(url, { scope: scope }).catch(function (error) {
      // Haul works without it; only sharing from other apps needs it.
      if (window.console) console.warn("Haul: the service worker could not be installed", error);
    });
  }
  if (document.readyState === "complete") register();
  else window.addEventListener("load", register);
})();
