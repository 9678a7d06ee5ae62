// The desk's live connection: one websocket per page. It patches the queue list, the queue
// figures and the open case from the events the server pushes, reconnects with backoff, and
// on reconnect asks for everything newer than the last event it saw.
//
// "Live" means a heartbeat made the trip through the channel layer (Redis) and back, not just
// that the socket is open: with Redis away the socket stays open while events go nowhere. Every
// PING_EVERY the page pings; the server answers "pong" once its message came back through the
// layer, and closes the socket (4503) when the layer fails. No pong within PONG_WITHIN counts as
// a dead socket too. Each ping carries the cursor, so whatever an outage cost arrives with it.
(function () {
  "use strict";

  var PING_EVERY = 10000;
  var PONG_WITHIN = 6000;  // the server gives the layer 5 s and closes the socket first
  var BACKOFF_CAP = 4000;  // a page is back within 4 s of the layer (jitter only shortens it)

  var cursor = null;  // the newest event id this page has caught up to; 0 is one (no events yet)
  var attempt = 0;
  var socket = null;
  var pongDue = null;
  var indicator = document.getElementById("live-state");

  function setState(state, text) {
    if (!indicator) return;
    indicator.dataset.state = state;
    indicator.textContent = text;
  }

  function connect() {
    var scheme = window.location.protocol === "https:" ? "wss://" : "ws://";
    var main = document.getElementById("case-main");
    var page = main ? "?case=" + main.dataset.case : "";
    socket = new WebSocket(scheme + window.location.host + "/ws/desk/" + page);
    socket.onopen = ping;  // after a reconnect this ping is the resync from the cursor
    socket.onmessage = function (message) {
      var frame = JSON.parse(message.data);
      if (frame.type === "hello") {
        if (cursor === null) cursor = frame.cursor;
      } else if (frame.type === "pong") {
        clearTimeout(pongDue);
        pongDue = null;
        attempt = 0;
        cursor = Math.max(cursor, frame.cursor || 0);
        setState("live", "Live");
      } else if (frame.type === "event") {
        cursor = Math.max(cursor, frame.cursor || 0);
        apply(frame);
      } else if (frame.type === "presence") {
        showPresence(frame);
      } else if (frame.type === "reload") {
        window.location.reload();
      }
      // Pages with live parts of their own (the console: static/js/console.js) listen here.
      document.dispatchEvent(new CustomEvent("desk:" + frame.type, { detail: frame }));
    };
    socket.onclose = function (event) {
      if (event.code === 4401) {
        clearTimeout(pongDue);
        setState("off", "Signed out");
        return;
      }
      reconnect();
    };
  }

  function reconnect() {
    clearTimeout(pongDue);
    pongDue = null;
    socket = null;
    attempt += 1;
    var delay = Math.min(BACKOFF_CAP, 500 * Math.pow(2, attempt)) * (0.5 + Math.random() / 2);
    setState("reconnecting", "Reconnecting…");
    setTimeout(connect, delay);
  }

  function ping() {
    if (!socket || socket.readyState !== WebSocket.OPEN) return;
    socket.send(JSON.stringify(cursor === null ? { type: "ping" } : { type: "ping", since: cursor }));
    if (pongDue === null) pongDue = setTimeout(dead, PONG_WITHIN);
  }

  // No pong in time: whatever the socket says, nothing reaches this page. Drop it and start over.
  function dead() {
    var gone = socket;
    if (gone) {
      gone.onclose = gone.onmessage = null;
      gone.close();
    }
    reconnect();
  }

  // Presence: who else has this case open; which agents of this queue are online.
  function showPresence(frame) {
    var me = document.body.dataset.userName;
    var main = document.getElementById("case-main");
    var viewers = document.getElementById("viewers");
    if (frame.viewers && main && viewers && String(frame.case_id) === main.dataset.case) {
      var others = frame.viewers.filter(function (name) { return name !== me; });
      viewers.textContent = others.length
        ? others.join(", ") + (others.length === 1 ? " is" : " are") + " viewing this case"
        : "";
      viewers.hidden = !others.length;
    }
    var online = document.getElementById("online");
    if (frame.online && online && String(frame.queue_id) === online.dataset.queue) {
      online.textContent = frame.online.length ? "Online: " + frame.online.join(", ") : "Nobody online";
    }
  }

  setInterval(ping, PING_EVERY);

  function apply(frame) {
    updateFigures(frame.stats || {});
    updateQueueList(frame);
    updateCase(frame);
  }

  function updateFigures(stats) {
    Object.keys(stats).forEach(function (queueId) {
      var figures = stats[queueId];
      document.querySelectorAll('[data-queue-stat][data-queue="' + queueId + '"]').forEach(
        function (cell) {
          var value = figures[cell.dataset.queueStat];
          if (value !== undefined) cell.textContent = value;
        }
      );
    });
  }

  function updateQueueList(frame) {
    var watched = document.querySelector("[data-live-view]");
    var held = frame.status !== "waiting" || document.getElementById("case-row-" + frame.case_id);
    if (watched && String(frame.queue_id) === watched.dataset.liveView && held) {
      // Teammates' assigned or awaiting cases: rows are not pushed; say the list changed.
      var changed = document.getElementById("queue-news");
      if (changed) changed.hidden = false;
    }
    var table = document.querySelector("[data-live-queue]");
    if (!table) return;
    var body = table.tBodies[0];
    var existing = document.getElementById("case-row-" + frame.case_id);
    var belongsHere = String(frame.queue_id) === table.dataset.liveQueue && frame.row;
    if (!belongsHere) {
      if (existing) {
        existing.classList.add("leaving");
        existing.title = frame.assignee ? "Taken by " + frame.assignee : "No longer waiting";
        setTimeout(function () { existing.remove(); }, 600);
      }
      return;
    }
    if (table.hasAttribute("data-filtered") || table.dataset.page !== "1") {
      // A filtered or later page cannot place the row itself; say there is news instead.
      var note = document.getElementById("queue-news");
      if (note) note.hidden = false;
      return;
    }
    var template = document.createElement("template");
    template.innerHTML = frame.row.trim();
    var row = template.content.firstElementChild;
    if (existing) {
      // The same case, new state: a supervisor's tick for reassignment stays with it.
      var picked = existing.querySelector(".reassign-pick");
      var pick = row.querySelector(".reassign-pick");
      if (picked && pick) pick.checked = picked.checked;
      existing.remove();
    }
    var empty = body.querySelector(".empty-row");
    if (empty) empty.remove();
    var before = Array.prototype.find.call(body.rows, function (other) {
      return comesBefore(row, other);
    });
    body.insertBefore(row, before || null);
    if (!existing) row.classList.add("arrived");
  }

  // Queue order: priority (high first), then SLA due time, then case id.
  function comesBefore(a, b) {
    var pa = +a.dataset.priority, pb = +b.dataset.priority;
    if (pa !== pb) return pa > pb;
    var da = +a.dataset.due, db = +b.dataset.due;
    if (da !== db) return da < db;
    return +a.dataset.case < +b.dataset.case;
  }

  function updateCase(frame) {
    var main = document.getElementById("case-main");
    if (!main || String(frame.case_id) !== main.dataset.case) return;
    if (frame.version <= +main.dataset.version) return;  // already shown
    if (frame.actor && frame.actor === document.body.dataset.userName) return;  // our own action
    // Taken at the last moment before the swap: whatever the agent typed meanwhile is kept too.
    var kept = null;
    var capture = function (event) {
      var target = event.detail.target;
      if (target && target.id === "case-main") kept = keepWork(target);
    };
    document.body.addEventListener("htmx:beforeSwap", capture);
    var done = function () {
      document.body.removeEventListener("htmx:beforeSwap", capture);
      if (!kept) return;
      restoreWork(kept);
      var notice = document.getElementById("case-news");
      if (notice) {
        notice.textContent = "Updated just now: " + frame.label + (frame.actor ? " by " + frame.actor : "") + ".";
        notice.hidden = false;
      }
    };
    htmx.ajax("GET", window.location.pathname, {
      target: "#case-main",
      swap: "outerHTML",
      headers: { "X-Desk-Background": "1" },  // desk.js: not the agent's own action
    }).then(done, done);
  }

  // What the agent was doing survives a refresh they did not ask for: the text typed, whether
  // it was a reply or an internal note, the choices made, the open sections, and the caret.
  function keepWork(main) {
    var kept = { values: {}, checked: {}, open: [], focus: null };
    main.querySelectorAll("textarea, select, input").forEach(function (field) {
      if (field.type === "radio") {
        if (field.checked && field.name) kept.checked[field.name] = field.value;
      } else if (field.type === "checkbox") {
        if (field.id) kept.checked["#" + field.id] = field.checked;
      } else if (field.id && field.type !== "hidden") {
        kept.values[field.id] = field.value;
      } else if (field.id === "canned-id") {
        kept.values[field.id] = field.value;
      }
    });
    main.querySelectorAll("details[open]").forEach(function (details) {
      var summary = details.querySelector("summary");
      if (summary) kept.open.push(summary.textContent);
    });
    var active = document.activeElement;
    if (active && active.id && main.contains(active)) {
      kept.focus = { id: active.id, start: active.selectionStart, end: active.selectionEnd };
    }
    return kept;
  }

  function restoreWork(kept) {
    var main = document.getElementById("case-main");
    if (!main) return;
    Object.keys(kept.values).forEach(function (id) {
      var field = document.getElementById(id);
      if (field && !field.disabled && kept.values[id]) field.value = kept.values[id];
    });
    Object.keys(kept.checked).forEach(function (name) {
      if (name.charAt(0) === "#") {
        var box = document.getElementById(name.slice(1));
        if (box) box.checked = kept.checked[name];
        return;
      }
      main.querySelectorAll('input[type=radio][name="' + name + '"]').forEach(function (radio) {
        radio.checked = radio.value === kept.checked[name];
      });
    });
    main.querySelectorAll("details").forEach(function (details) {
      var summary = details.querySelector("summary");
      if (summary && kept.open.indexOf(summary.textContent) >= 0) details.open = true;
    });
    if (kept.focus) {
      var focused = document.getElementById(kept.focus.id);
      if (focused && !focused.disabled) {
        focused.focus({ preventScroll: true });
        if (kept.focus.start !== null && kept.focus.start !== undefined && focused.setSelectionRange) {
          try { focused.setSelectionRange(kept.focus.start, kept.focus.end); } catch (e) { /* not a text field */ }
        }
      }
    }
  }

  if (window.WebSocket && document.body.dataset.live !== undefined) connect();
})();
