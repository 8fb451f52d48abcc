// Pages that wait for a background outcome (a payment's confirmation, a workspace launch) mark
// the status element with data-status-poll and data-poll-url. This asks the server for the
// recorded status every few seconds and reloads once it no longer says "waiting". The page's
// meta refresh does the same, more slowly, without this script. Nothing here changes anything.
(function () {
  "use strict";
  var node = document.querySelector("[data-status-poll]");
  if (!node || !node.dataset.pollUrl || !window.fetch) {
    return;
  }
  var every = (parseInt(node.dataset.pollSeconds, 10) || 3) * 1000;

  function poll() {
    fetch(node.dataset.pollUrl, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (response) { return response.ok ? response.json() : null; })
      .then(function (data) {
        if (data && !data.waiting) {
          window.location.reload();
        } else {
          window.setTimeout(poll, every);
        }
      })
      .catch(function () { window.setTimeout(poll, every); });
  }
  window.setTimeout(poll, every);
})();
