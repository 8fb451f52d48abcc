// Quiz attempts: save every answer change as it happens and tick the timer down.
// Without this script the page still works: each page's form saves its answers when the
// learner moves on or finishes, and the server-rendered time left stays as it was.
(function () {
  "use strict";

  var form = document.querySelector("form[data-autosave]");
  var statusLine = document.querySelector("[data-save-status]");
  var TYPING_DELAY_MS = 800;

  function pad(n) {
    return (n < 10 ? "0" : "") + n;
  }

  function clockText(seconds) {
    var h = Math.floor(seconds / 3600), m = Math.floor((seconds % 3600) / 60), s = seconds % 60;
    return h ? h + ":" + pad(m) + ":" + pad(s) : pad(m) + ":" + pad(s);
  }

  function say(text) {
    if (statusLine) {
      statusLine.textContent = text;
    }
  }

  // -- autosave ------------------------------------------------------------------------------

  function answerOf(fieldset) {
    var type = fieldset.getAttribute("data-type");
    if (type === "mcq_single" || type === "mcq_multi") {
      var selected = [];
      fieldset.querySelectorAll("input:checked").forEach(function (input) {
        selected.push(input.value);
      });
      return { selected: selected };
    }
    var field = fieldset.querySelector("input:not([type=hidden]), textarea");
    if (type === "numeric") {
      return field.value.trim() ? { value: field.value.trim() } : null;
    }
    return { text: field.value };
  }

  function markAnswered(fieldset) {
    var id = fieldset.getAttribute("data-question");
    var nav = document.querySelector('[data-nav="' + id + '"]');
    if (!nav || nav.classList.contains("answered")) {
      return;
    }
    nav.classList.add("answered");
    nav.setAttribute("aria-label", "Question " + fieldset.getAttribute("data-position") + ", answered");
    var count = document.querySelector("[data-answered-count]");
    if (count) {
      count.textContent = String(parseInt(count.textContent, 10) + 1);
    }
  }

  function showFeedback(fieldset, reply) {
    var box = fieldset.querySelector("[data-feedback]");
    if (!box || reply.correct === null || reply.correct === undefined) {
      return;
    }
    box.textContent = "";
    var verdict = document.createElement("span");
    verdict.className = reply.correct ? "ok" : "wrong";
    verdict.textContent = reply.correct ? "Right." : "Not quite.";
    box.appendChild(verdict);
    if (reply.feedback) {
      box.appendChild(document.createTextNode(" " + reply.feedback));
    }
  }

  function reasonOf(response) {
    var type = response.headers.get("Content-Type") || "";
    if (type.indexOf("application/json") === -1) {
      // Only the CSRF check answers this endpoint with a page instead of JSON.
      return Promise.resolve("the page has expired. Reload it and answer again.");
    }
    return response.json().then(function (body) {
      return (body.error && body.error.message) || "the server refused the answer.";
    });
  }

  // One request per question at a time; a change made meanwhile is sent when it returns,
  // so an older answer never lands after a newer one.
  var busy = {}, again = {};

  function save(fieldset) {
    var id = fieldset.getAttribute("data-question");
    var answer = answerOf(fieldset);
    if (answer === null) {
      return;
    }
    if (busy[id]) {
      again[id] = true;
      return;
    }
    busy[id] = true;
    say("Saving…");
    fetch(fieldset.getAttribute("data-save-url"), {
      method: "PUT",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRFToken": form.getAttribute("data-csrf") },
      body: JSON.stringify(answer)
    }).then(function (response) {
      if (!response.ok) {
        return reasonOf(response).then(function (reason) {
          say("Not saved: " + reason);
        });
      }
      return response.json().then(function (reply) {
        say("Saved at " + reply.saved_at_local);
        markAnswered(fieldset);
        showFeedback(fieldset, reply);
      });
    }).catch(function () {
      say("Not saved: no connection. Your answers are sent again when you move on.");
    }).then(function () {
      busy[id] = false;
      if (again[id]) {
        again[id] = false;
        save(fieldset);
      }
    });
  }

  if (form) {
    var timers = {};
    form.addEventListener("change", function (event) {
      var fieldset = event.target.closest("[data-question]");
      if (fieldset) {
        clearTimeout(timers[fieldset.getAttribute("data-question")]);
        save(fieldset);
      }
    });
    form.addEventListener("input", function (event) {
      var fieldset = event.target.closest("[data-question]");
      if (!fieldset || event.target.type === "radio" || event.target.type === "checkbox") {
        return;
      }
      var id = fieldset.getAttribute("data-question");
      clearTimeout(timers[id]);
      timers[id] = setTimeout(function () { save(fieldset); }, TYPING_DELAY_MS);
    });
    if (statusLine && !/^Saved/.test(statusLine.textContent)) {
      say("Your answers are saved as you go.");
    }
  }

  // -- timer ---------------------------------------------------------------------------------

  var timer = document.querySelector("[data-remaining]");
  if (timer) {
    var clock = timer.querySelector("[data-clock]");
    var alertLine = document.querySelector("[data-timer-alert]");
    var remaining = parseInt(timer.getAttribute("data-remaining"), 10);
    var grace = parseInt(timer.getAttribute("data-grace"), 10) || 0;
    var started = Date.now();  // the server's remaining time, counted on this clock: no skew
    var warned = {};

    var tick = function () {
      var left = remaining - Math.floor((Date.now() - started) / 1000);
      clock.textContent = clockText(Math.max(0, left));
      [300, 60].forEach(function (mark) {
        if (left <= mark && left > 0 && remaining > mark && !warned[mark]) {
          warned[mark] = true;
          alertLine.textContent = (mark / 60) + (mark === 60 ? " minute" : " minutes") + " left.";
        }
      });
      if (left <= 60) {
        timer.classList.add("timer-low");
      }
      if (left <= 0 && !warned.end) {
        warned.end = true;
        alertLine.textContent = "Time is up. Your saved answers will be graded.";
      }
      if (left < -grace) {
        // Past the grace period the server has closed the attempt: its page shows the result.
        clearInterval(interval);
        window.location.assign(timer.getAttribute("data-expired-url"));
      }
    };
    var interval = setInterval(tick, 1000);
    tick();
  }
})();
