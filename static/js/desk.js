// Keyboard shortcuts, copy buttons and small comforts for the desk's pages.
// Shortcuts are declared in the markup: data-shortcut (click), data-shortcut-focus (focus),
// data-shortcut-open (open a <details>), data-shortcut-link (follow a link).
(function () {
  "use strict";

  function typing(target) {
    return target.closest("input:not([type=checkbox]), textarea, select, [contenteditable]");
  }

  function find(attribute, key) {
    return document.querySelector("[" + attribute + '="' + key + '"]');
  }

  document.addEventListener("keydown", function (event) {
    if (event.key === "Enter" && (event.ctrlKey || event.metaKey) && event.target.form) {
      event.preventDefault();
      event.target.form.requestSubmit();
      return;
    }
    if (event.key === "Escape" && typing(event.target)) {
      event.target.blur();
      return;
    }
    if (event.ctrlKey || event.metaKey || event.altKey || typing(event.target)) return;
    var key = event.key;
    var element;
    if ((element = find("data-shortcut", key))) {
      event.preventDefault();
      element.click();
    } else if ((element = find("data-shortcut-focus", key))) {
      event.preventDefault();
      element.focus();
    } else if ((element = find("data-shortcut-open", key))) {
      event.preventDefault();
      element.parentElement.open = true;
      var first = element.parentElement.querySelector("input, select, textarea");
      if (first) first.focus();
    } else if ((element = find("data-shortcut-link", key))) {
      event.preventDefault();
      window.location.href = element.href;
    } else if (key === "j" || key === "k") {
      moveSelection(key === "j" ? 1 : -1, event);
    } else if (key === "Enter") {
      var row = document.querySelector("[data-list-nav] tr.selected");
      if (row) window.location.href = row.dataset.href;
    }
  });

  function moveSelection(step, event) {
    var rows = Array.prototype.slice.call(document.querySelectorAll("[data-list-nav] tbody tr"));
    if (!rows.length) return;
    event.preventDefault();
    var current = rows.findIndex(function (row) { return row.classList.contains("selected"); });
    var next = Math.min(Math.max(current + step, 0), rows.length - 1);
    rows.forEach(function (row) { row.classList.remove("selected"); });
    rows[next].classList.add("selected");
    rows[next].querySelector("a").focus();
  }

  document.addEventListener("click", function (event) {
    var button = event.target.closest("button.copy");
    if (!button) return;
    var text = button.dataset.copy;
    var done = function () {
      button.textContent = "Copied";
      setTimeout(function () { button.textContent = "Copy"; }, 1200);
    };
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(text).then(done);
    } else {
      var area = document.createElement("textarea");
      area.value = text;
      document.body.appendChild(area);
      area.select();
      document.execCommand("copy");
      area.remove();
      done();
    }
  });

  // Reassign from the queue list (supervisors): the rows' checkboxes belong to #reassign-form;
  // a row's "Reassign…" ticks that case alone and moves to the form, which counts the ticks.
  var reassign = document.getElementById("reassign-form");
  if (reassign) {
    var ticked = function () {
      return Array.prototype.filter.call(
        document.querySelectorAll('input[name="case"][form="reassign-form"]'),
        function (box) { return box.checked; }
      );
    };
    var count = function () {
      var n = ticked().length;
      reassign.querySelector("[data-reassign-count]").textContent =
        n === 1 ? "1 case" : n ? n + " cases" : "the cases ticked in the list";
    };
    document.addEventListener("change", function (event) {
      if (event.target.form === reassign) count();
    });
    document.addEventListener("click", function (event) {
      var button = event.target.closest("[data-reassign]");
      if (!button) return;
      document.querySelectorAll('input[name="case"][form="reassign-form"]').forEach(function (box) {
        box.checked = box.value === button.dataset.reassign;
      });
      count();
      reassign.querySelector("select[name=queue]").focus();
    });
    // Rows come and go live (and with the filters): keep the count true.
    var list = document.querySelector(".can-reassign");
    if (list) new MutationObserver(count).observe(list, { childList: true, subtree: true });
  }

  // An action the server refused, failed or never answered must not look as if nothing
  // happened: say so, and leave the page (and whatever was typed) as it was. Refreshes the page
  // makes by itself (live.js marks them) only speak up when the case is gone from view; their
  // connection troubles are the live badge's to show.
  var failed = document.getElementById("request-failed");
  var FAILURES = {
    403: "Your role cannot do this. Nothing was changed.",
    404: "This is no longer visible to you: the case may have moved to a queue you are not in.",
    413: "That was too long to send. Nothing was changed.",
  };
  var STALE = "This page is out of date (you signed in again, or your session ended). " +
    "Reload it and try again; nothing was changed.";
  function background(event) {
    var config = event.detail.requestConfig;
    return Boolean(config && config.headers && config.headers["X-Desk-Background"]);
  }
  function sayFailed(message) {
    if (!failed) return;
    failed.hidden = false;  // shown first, then filled, so screen readers announce the text
    failed.textContent = message;
    clearTimeout(sayFailed.timer);
    sayFailed.timer = setTimeout(hideFailed, 15000);
  }
  function hideFailed() {
    if (failed) failed.hidden = true;
  }
  document.body.addEventListener("htmx:responseError", function (event) {
    var xhr = event.detail.xhr;
    var status = xhr.status;
    if (background(event) && status !== 404) return;
    if (xhr.getResponseHeader("X-Desk-Failure") === "stale-page") {
      sayFailed(STALE);
      return;
    }
    sayFailed(FAILURES[status] || (status >= 500
      ? "The desk hit an error and did not finish. Try again in a moment; your text is still here."
      : "That did not go through (error " + status + "). Reload the page and try again."));
  });
  document.body.addEventListener("htmx:sendError", function (event) {
    if (background(event)) return;
    sayFailed("Could not reach the desk. Check your connection and try again; " +
      "your text is still here.");
  });
  document.body.addEventListener("htmx:afterRequest", function (event) {
    if (event.detail.successful && !background(event)) hideFailed();
  });
  document.addEventListener("keydown", function (event) {
    if (event.key === "Escape" && failed && !failed.hidden) hideFailed();
  });
  if (failed) failed.addEventListener("click", hideFailed);

  // After an action swaps the case in, put the agent back where they were typing.
  document.body.addEventListener("htmx:afterSwap", function (event) {
    var alert = event.detail.target.querySelector && document.querySelector("#case-main .alert");
    if (alert) alert.setAttribute("tabindex", "-1");
  });
})();
