// The desk's live connection: one websocket per page. It patches the queue list, the queue
// figures and the open case from the events the server pushes, reconnects with backoff, and
// on reconnect asks for everything newer than the last event it saw.
(function () {
  "use strict";

  var cursor = 0;
  var attempt = 0;
  var socket = null;
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
    socket.onopen = function () {
      attempt = 0;
      setState("live", "Live");
      if (cursor) socket.send(JSON.stringify({ type: "resync", since: cursor }));
    };
    socket.onmessage = function (message) {
      var frame = JSON.parse(message.data);
      if (frame.type === "hello") {
        if (!cursor) cursor = frame.cursor;
      } else if (frame.type === "event") {
        cursor = Math.max(cursor, frame.cursor || 0);
        apply(frame);
      } else if (frame.type === "presence") {
        showPresence(frame);
      } else if (frame.type === "reload") {
        window.location.reload();
      }
    };
    socket.onclose = function (event) {
      if (event.code === 4401) {
        setState("off", "Signed out");
        return;
      }
      attempt += 1;
      var delay = Math.min(30000, 500 * Math.pow(2, attempt)) * (0.75 + Math.random() / 2);
      setState("reconnecting", "Reconnecting…");
      setTimeout(connect, delay);
    };
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

  setInterval(function () {
    if (socket && socket.readyState === WebSocket.OPEN) socket.send('{"type": "ping"}');
  }, 25000);

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
    var kept = {};
    main.querySelectorAll("textarea, input[type=text], input:not([type])").forEach(function (field) {
      if (field.id) kept[field.id] = field.value;
    });
    htmx.ajax("GET", window.location.pathname, {
      target: "#case-main",
      swap: "outerHTML",
      headers: { "X-Desk-Background": "1" },  // desk.js: not the agent's own action
    }).then(
      function () {
        Object.keys(kept).forEach(function (id) {
          var field = document.getElementById(id);
          if (field && kept[id]) field.value = kept[id];
        });
        var notice = document.getElementById("case-news");
        if (notice) {
          notice.textContent = "Updated just now: " + frame.label + (frame.actor ? " by " + frame.actor : "") + ".";
          notice.hidden = false;
        }
      }
    );
  }

  if (window.WebSocket && document.body.dataset.live !== undefined) connect();
})();
