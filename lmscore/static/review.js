// Review sessions: keys 1–9 pick a choice or (after "show answer") a rating; space shows the
// answer or goes to the next card. Without this script every control is a plain form button.
(function () {
  "use strict";
  var TYPING = /^(INPUT|TEXTAREA|SELECT)$/;

  document.addEventListener("keydown", function (event) {
    if (event.altKey || event.ctrlKey || event.metaKey || TYPING.test(event.target.tagName)) {
      return;
    }
    if (/^[1-9]$/.test(event.key)) {
      var button = document.querySelector('[data-key="' + event.key + '"]');
      if (button) {
        event.preventDefault();
        button.click();
      }
    } else if (event.key === " " || event.key === "Spacebar") {
      // A focused button reacts to space on its own; another focused link keeps its meaning.
      var focused = event.target.closest("button, a");
      if (focused && !focused.hasAttribute("data-space")) {
        return;
      }
      var primary = document.querySelector("[data-space]");
      if (primary) {
        event.preventDefault();
        primary.click();
      }
    }
  });
})();
