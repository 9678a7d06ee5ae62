// Keyboard shortcuts, copy buttons and small comforts for the desk's pages.
// Shortcuts are declared in the markup: data-shortcut (click), data-shortcut-focus (focus),
// data-shortcut-open (open a <details>), data-shortcut-link (follow a link).
(function () {
  "use strict";

  // Inside a field that takes text, a letter is text, never a command.
  function typing(target) {
    return target.closest(
      "input:not([type=checkbox]):not([type=radio]):not([type=submit]):not([type=button]), " +
      "textarea, select, [contenteditable]"
    );
  }

  function find(attribute, key) {
    return document.querySelector("[" + attribute + '="' + key + '"]');
  }

  // The composer: one box, switched between a reply (the customer sees it) and an internal note.
  function composeMode(radio) {
    radio.checked = true;
    radio.dispatchEvent(new Event("change", { bubbles: true }));
    var text = document.getElementById("compose-text");
    if (text) {
      text.focus();
      text.setSelectionRange(text.value.length, text.value.length);
    }
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
    if ((element = find("data-shortcut-mode", key))) {
      event.preventDefault();
      composeMode(element);
    } else if ((element = find("data-shortcut", key))) {
      event.preventDefault();
      element.click();
    } else if ((element = find("data-shortcut-focus", key))) {
      event.preventDefault();
      element.focus();
    } else if ((element = find("data-shortcut-open", key))) {
      event.preventDefault();
      element.parentElement.open = true;
      // The first field a person fills in: never a hidden input (the CSRF token).
      var first = element.parentElement.querySelector(
        "input:not([type=hidden]), select, textarea"
      );
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

  // Reassign ticked cases (supervisors), from the queue list and the console's queue page: the
  // rows' checkboxes belong to #reassign-form, the action bar above the list (Zendesk's bulk
  // bar). It counts the ticks, ticks the whole page at once, sticks to the top of the screen
  // while something is ticked; a row's "Reassign…" ticks that case alone and moves to the bar.
  var reassign = document.getElementById("reassign-form");
  if (reassign) {
    var boxes = function () {
      return Array.prototype.slice.call(
        document.querySelectorAll('input[name="case"][form="reassign-form"]')
      );
    };
    var isTicked = function (box) { return box.checked; };
    var all = reassign.querySelector("[data-reassign-all]");
    var counter = reassign.querySelector("[data-reassign-count]");
    var count = function () {
      var list = boxes();
      var n = list.filter(isTicked).length;
      var text = n === 1 ? "1 case" : n ? n + " cases" : "the cases ticked in the list";
      if (counter.textContent !== text) counter.textContent = text;  // no observer loop
      reassign.classList.toggle("has-ticks", n > 0);
      if (all) {
        all.checked = n > 0 && n === list.length;
        all.indeterminate = n > 0 && n < list.length;
        all.disabled = !list.length;
      }
    };
    document.addEventListener("change", function (event) {
      if (all && event.target === all) {
        boxes().forEach(function (box) { box.checked = all.checked; });
      }
      if (event.target.form === reassign) count();
    });
    document.addEventListener("click", function (event) {
      if (event.target.closest("[data-reassign-clear]")) {
        boxes().forEach(function (box) { box.checked = false; });
        count();
        if (all) all.focus();
        return;
      }
      var button = event.target.closest("[data-reassign]");
      if (!button) return;
      boxes().forEach(function (box) {
        box.checked = box.value === button.dataset.reassign;
      });
      count();
      reassign.querySelector("select[name=queue]").focus();
    });
    reassign.addEventListener("submit", function (event) {
      if (boxes().some(isTicked)) return;
      event.preventDefault();
      counter.textContent = "(tick the cases first)";
      if (all) all.focus();
    });
    // Rows come and go live, with the filters and the pages: keep the count true.
    var list = document.querySelector(".can-reassign, .reassign-list");
    if (list) new MutationObserver(count).observe(list, { childList: true, subtree: true });
    count();
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
  // Bulk reassign: a case goes only to an agent of the queue it ends up in (the service refuses
  // the rest), so the agent list offers only that queue's agents; the others stay listed, greyed.
  function agentsFollowQueue(form) {
    var agents = form && form.querySelector("select[data-agents-of-queue]");
    if (!agents) return;
    var queue = form.querySelector("select[name=queue]");
    var target = (queue && queue.value) || agents.dataset.agentsOfQueue;
    Array.prototype.forEach.call(agents.options, function (option) {
      if (!option.value) return;
      option.disabled = option.dataset.queues.split(",").indexOf(target) === -1;
    });
    if (agents.selectedOptions[0] && agents.selectedOptions[0].disabled) agents.value = "";
  }
  document.addEventListener("change", function (event) {
    if (event.target.name === "queue") agentsFollowQueue(event.target.form);
  });
  document.querySelectorAll("select[data-agents-of-queue]").forEach(function (agents) {
    agentsFollowQueue(agents.form);
  });
  document.body.addEventListener("htmx:load", function (event) {
    event.detail.elt.querySelectorAll("select[data-agents-of-queue]").forEach(function (agents) {
      agentsFollowQueue(agents.form);
    });
  });

  // A form's mistake (400) answered with a fragment saying what to fix: shown like a result.
  document.body.addEventListener("htmx:beforeSwap", function (event) {
    var xhr = event.detail.xhr;
    if (xhr.status === 400 && xhr.getResponseHeader("X-Desk-Failure") === "invalid-form") {
      event.detail.shouldSwap = true;
      event.detail.isError = false;
    }
  });
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

  // --- the case page -------------------------------------------------------------------------

  // The transcript opens at its latest message (the one to answer); scrolled up, a button jumps
  // back down. The latest customer message is marked.
  function showLatest(force) {
    var box = document.getElementById("messages");
    if (!box) return;
    var customer = box.querySelectorAll(".msg.role-customer");
    box.querySelectorAll(".latest-customer").forEach(function (m) { m.classList.remove("latest-customer"); });
    if (customer.length) customer[customer.length - 1].classList.add("latest-customer");
    if (force) box.scrollTop = box.scrollHeight;
    updateJump();
  }
  function atBottom(box) {
    return box.scrollHeight - box.scrollTop - box.clientHeight < 24;
  }
  function updateJump() {
    var box = document.getElementById("messages");
    var jump = document.getElementById("jump-latest");
    if (box && jump) jump.hidden = atBottom(box);
  }
  document.addEventListener("scroll", function (event) {
    if (event.target.id === "messages") updateJump();
  }, true);
  document.addEventListener("click", function (event) {
    if (!event.target.closest("#jump-latest")) return;
    var box = document.getElementById("messages");
    box.scrollTop = box.scrollHeight;
    var latest = box.querySelector(".latest-customer") || box.lastElementChild;
    updateJump();
    box.focus();
    if (latest) latest.scrollIntoView({ block: "nearest" });
  });
  showLatest(true);

  // While a reply or note is on its way, the box is read-only and out of focus: a letter typed
  // then is neither added to what is being sent nor run as a command (it is dropped), except
  // r and n, which choose the mode the empty box opens in once the send is done.
  var sending = false;
  var typedWhileSending = false;
  var pendingMode = null;
  function composeForm(event) {
    // By the request's path: once the case is swapped, the event's element is no longer the form.
    var config = event.detail.requestConfig;
    return Boolean(config && config.verb === "post" && /\/compose\/$/.test(config.path || ""));
  }
  document.body.addEventListener("htmx:beforeRequest", function (event) {
    if (!composeForm(event)) return;
    sending = true;
    typedWhileSending = false;
    pendingMode = null;
    var form = document.getElementById("compose-form");
    var text = document.getElementById("compose-text");
    if (!form) return;
    form.classList.add("sending");
    if (text) {
      text.readOnly = true;
      if (document.activeElement === text) {
        form.setAttribute("tabindex", "-1");
        form.focus({ preventScroll: true });
      }
    }
  });
  document.body.addEventListener("htmx:afterRequest", function (event) {
    if (!composeForm(event)) return;
    sending = false;
    var text = document.getElementById("compose-text");
    if (text && text.readOnly) {  // not swapped: refused or failed; the text is still there
      text.readOnly = false;
      var form = document.getElementById("compose-form");
      if (form) form.classList.remove("sending");
      text.focus();
      pendingMode = null;
    }
  });
  document.addEventListener("keydown", function (event) {
    if (!sending || event.ctrlKey || event.metaKey || event.altKey) return;
    if (event.key.length !== 1 && event.key !== "Enter") return;
    // The first key only: the letters after it are the text the agent meant for that box.
    var mode = find("data-shortcut-mode", event.key);
    if (mode && !typedWhileSending) pendingMode = mode.value;
    typedWhileSending = true;
    event.preventDefault();
    event.stopPropagation();
  }, true);

  // After a swap of the case: where the agent was reading stays put, unless they were at the
  // latest message; after their own send, focus leaves the composer (its text is gone), so the
  // next key is a shortcut again; after a resolve, the page goes to the top and asks what next.
  var readingAt = null;
  document.body.addEventListener("htmx:beforeSwap", function (event) {
    var box = document.getElementById("messages");
    if (box && event.detail.target && event.detail.target.id === "case-main") {
      readingAt = atBottom(box) ? null : box.scrollTop;
    }
  });
  // On the swap itself, not at settle: a focus moved 20 ms later would pull the agent's next
  // keystrokes out of the box they had just started typing in.
  document.body.addEventListener("htmx:afterSwap", function (event) {
    var main = document.getElementById("case-main");
    if (!main || !event.detail.target || event.detail.target.id !== "case-main") return;
    restoreDraft();
    var box = document.getElementById("messages");
    if (box && readingAt !== null) {
      box.scrollTop = readingAt;
      showLatest(false);
    } else {
      showLatest(true);
    }
    readingAt = null;
    if (background(event)) return;  // a live refresh: focus stays where the agent is
    var banner = document.getElementById("resolved-banner");
    var alert = main.querySelector(".alert.ok, .alert.error");
    var fieldError = main.querySelector(".field-error, .guard");
    var invalid = main.querySelector("[aria-invalid=true]");
    var pending = pendingMode &&
      main.querySelector('#compose-form input[name=mode][value="' + pendingMode + '"]');
    pendingMode = null;
    if (banner) {
      window.scrollTo({ top: 0 });
      banner.focus();
    } else if (pending && !fieldError) {
      composeMode(pending);  // r or n pressed while the send was on its way
    } else if (invalid) {
      invalid.focus();  // the field to put right, wherever it is (the resolution code...)
    } else if (fieldError) {
      var text = document.getElementById("compose-text");
      if (text && fieldError.closest("#compose-form")) text.focus();
    } else if (alert) {
      alert.setAttribute("tabindex", "-1");
      alert.focus({ preventScroll: true });
      alert.scrollIntoView({ block: "nearest" });
    }
  });

  // Drafts: what is typed in the composer survives a reload or a page that changed under it,
  // per case and with its mode, until it is sent.
  function draftKey() {
    var main = document.getElementById("case-main");
    return main ? "desk-draft-" + main.dataset.case : null;
  }
  function saveDraft() {
    var text = document.getElementById("compose-text");
    var key = draftKey();
    if (!text || !key) return;
    var mode = document.querySelector("#compose-form input[name=mode]:checked");
    try {
      if (text.value) {
        sessionStorage.setItem(key, JSON.stringify({ text: text.value, mode: mode ? mode.value : "reply" }));
      } else {
        sessionStorage.removeItem(key);
      }
    } catch (e) { /* storage full or off: the draft lives in the page only */ }
  }
  // The case left the agent's hands (reassigned, taken over) with text unsent: the text stays
  // in view, read-only, to copy or discard; it is never sent from here.
  function showKeptDraft(key) {
    var kept = document.querySelector(".compose-locked .draft-kept");
    if (!kept) return;
    var draft = null;
    try { draft = JSON.parse(sessionStorage.getItem(key) || "null"); } catch (e) { draft = null; }
    if (!draft || !draft.text) return;
    var hadFocus = document.activeElement === document.body;
    kept.hidden = false;
    kept.querySelector("textarea").value = draft.text;
    kept.querySelector("button.copy").dataset.copy = draft.text;
    kept.querySelector("[data-draft-mode]").textContent = draft.mode === "note" ? "internal note" : "reply";
    if (hadFocus) kept.querySelector("textarea").focus({ preventScroll: true });
  }
  document.addEventListener("click", function (event) {
    if (!event.target.closest("[data-draft-discard]")) return;
    var key = draftKey();
    if (key) try { sessionStorage.removeItem(key); } catch (e) { /* nothing kept */ }
    var kept = event.target.closest(".draft-kept");
    if (kept) kept.hidden = true;
  });
  function restoreDraft() {
    var text = document.getElementById("compose-text");
    var key = draftKey();
    if (key && !text) showKeptDraft(key);
    if (!text || !key || text.value) return;
    var draft = null;
    try { draft = JSON.parse(sessionStorage.getItem(key) || "null"); } catch (e) { draft = null; }
    if (!draft || !draft.text) return;
    var radio = document.querySelector('#compose-form input[name=mode][value="' + draft.mode + '"]');
    if (radio) radio.checked = true;
    text.value = draft.text;
  }
  document.addEventListener("input", function (event) {
    if (event.target.id === "compose-text") saveDraft();
  });
  document.addEventListener("change", function (event) {
    if (event.target.name === "mode" && event.target.closest("#compose-form")) saveDraft();
  });
  document.body.addEventListener("htmx:beforeSwap", function (event) {
    var config = event.detail.requestConfig;
    if (config && /\/compose\/$/.test(config.path || "") && event.detail.xhr.status === 200) {
      var key = draftKey();
      if (key) try { sessionStorage.removeItem(key); } catch (e) { /* nothing kept */ }
    }
  });
  restoreDraft();

  // Saved replies: a searchable list fetched for this case (its placeholders filled in), put
  // into the composer with Enter or a click; the reply then counts as a use of it.
  function picker() { return document.getElementById("canned-picker"); }
  function openPicker(query) {
    var box = picker();
    if (!box) return;
    box.hidden = false;
    document.querySelector("[data-canned-open]").setAttribute("aria-expanded", "true");
    var search = document.getElementById("canned-search");
    search.value = query || "";
    search.focus();
    loadReplies(search.value);
  }
  // A live refresh redraws the case, picker included: an open picker opens again with its
  // search, so the agent's next keys still go where they were going.
  var pickerQuery = null;
  document.body.addEventListener("htmx:beforeSwap", function (event) {
    var box = picker();
    var target = event.detail.target;
    pickerQuery = box && !box.hidden && target && target.id === "case-main"
      ? document.getElementById("canned-search").value : null;
  });
  document.body.addEventListener("htmx:afterSwap", function (event) {
    var target = event.detail.target;
    if (pickerQuery === null || !target || target.id !== "case-main") return;
    if (background(event)) openPicker(pickerQuery);
    pickerQuery = null;
  });
  function closePicker(refocus) {
    var box = picker();
    if (!box || box.hidden) return;
    box.hidden = true;
    document.querySelector("[data-canned-open]").setAttribute("aria-expanded", "false");
    if (refocus) document.getElementById("compose-text").focus();
  }
  function loadReplies(query) {
    var box = picker();
    var results = document.getElementById("canned-results");
    fetch(box.dataset.url + "?q=" + encodeURIComponent(query), {
      headers: { "HX-Request": "true", "X-Desk-Background": "1" },
      credentials: "same-origin",
    }).then(function (response) {
      if (!response.ok) throw new Error(String(response.status));
      return response.text();
    }).then(function (html) {
      results.innerHTML = html;
      var first = results.querySelector(".canned-option");
      if (first) highlight(first);
    }).catch(function () {
      results.textContent = "Saved replies could not be loaded. Try again in a moment.";
    });
  }
  function highlight(option) {
    document.querySelectorAll("#canned-results .canned-option").forEach(function (o) {
      o.classList.remove("active");
      o.setAttribute("aria-selected", "false");
    });
    option.classList.add("active");
    option.setAttribute("aria-selected", "true");
    document.getElementById("canned-search").setAttribute("aria-activedescendant", option.id);
  }
  function insertReply(option) {
    var text = document.getElementById("compose-text");
    var reply = document.querySelector('#compose-form input[name=mode][value=reply]');
    if (reply && !reply.checked) composeMode(reply);
    var start = text.selectionStart || 0;
    var before = text.value.slice(0, start);
    var inserted = option.dataset.cannedText;
    text.value = before + inserted + text.value.slice(text.selectionEnd || start);
    document.getElementById("canned-id").value = option.dataset.cannedId;
    closePicker(true);
    var marker = inserted.indexOf("[");
    var missing = option.dataset.cannedMissing;
    if (missing && marker >= 0) {
      // A placeholder the case cannot fill: selected, for the agent to type over.
      var end = inserted.indexOf("]", marker);
      text.setSelectionRange(start + marker, start + (end >= 0 ? end + 1 : marker));
    } else {
      text.setSelectionRange(start + inserted.length, start + inserted.length);
    }
    text.dispatchEvent(new Event("input", { bubbles: true }));  // the no-repeat guard looks
  }
  document.addEventListener("click", function (event) {
    if (event.target.closest("[data-canned-open]")) {
      event.preventDefault();
      picker() && picker().hidden ? openPicker("") : closePicker(true);
      return;
    }
    var option = event.target.closest(".canned-option");
    if (option) insertReply(option);
  });
  var searchTimer = null;
  document.addEventListener("input", function (event) {
    if (event.target.id !== "canned-search") return;
    clearTimeout(searchTimer);
    searchTimer = setTimeout(function () { loadReplies(event.target.value); }, 150);
  });
  document.addEventListener("keydown", function (event) {
    if (event.key === "/" && (event.ctrlKey || event.metaKey) && event.target.id === "compose-text") {
      event.preventDefault();
      openPicker("");
      return;
    }
    if (event.target.id !== "canned-search") return;
    var options = Array.prototype.slice.call(document.querySelectorAll("#canned-results .canned-option"));
    var current = options.findIndex(function (o) { return o.classList.contains("active"); });
    if (event.key === "ArrowDown" || event.key === "ArrowUp") {
      event.preventDefault();
      if (!options.length) return;
      var next = (current + (event.key === "ArrowDown" ? 1 : -1) + options.length) % options.length;
      highlight(options[next]);
      options[next].scrollIntoView({ block: "nearest" });
    } else if (event.key === "Enter") {
      // Ctrl+Enter too: a saved reply goes into the box to be read, never straight out.
      event.preventDefault();
      event.stopPropagation();
      if (current >= 0) insertReply(options[current]);
    } else if (event.key === "Escape") {
      event.preventDefault();
      event.stopPropagation();
      closePicker(true);
    }
  }, true);
})();
