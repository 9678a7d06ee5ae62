// The supervisor console's live parts (web/views/console.py). The queue table, a queue's
// open cases and its agents are fetched again when the desk's socket (live.js) reports a case
// change or an agent coming or going; the server computes presence and load, so the page never
// guesses them. SLA alerts pushed to supervisors show as toasts that name the case and link to
// it, without taking the focus (Zendesk's and Intercom's supervisor views do the same).
(function () {
  "use strict";

  var GAP = 1000;  // ms between refreshes: a burst of events costs one request per part
  var timer = null;
  var last = 0;
  var busy = false;
  var again = false;
  var connected = false;

  function schedule() {
    if (timer || !document.querySelector("[data-console-live]")) return;
    timer = setTimeout(refresh, Math.max(0, last + GAP - Date.now()));
  }

  function refresh() {
    timer = null;
    if (busy) {
      again = true;
      return;
    }
    busy = true;
    last = Date.now();
    var url = window.location.pathname + window.location.search;
    var requests = Array.prototype.map.call(
      document.querySelectorAll("[data-console-live]"),
      function (part) {
        return htmx.ajax("GET", url, {
          target: "#" + part.id,
          swap: "outerHTML",
          headers: { "X-Desk-Background": "1" },  // desk.js: not the supervisor's own action
        });
      }
    );
    var done = function () {
      busy = false;
      if (again) {
        again = false;
        schedule();
      }
    };
    Promise.all(requests).then(done, done);
  }

  document.addEventListener("desk:event", schedule);
  document.addEventListener("desk:agent", schedule);  // online, away, offline (issue 17)
  document.addEventListener("desk:offers", schedule);  // whom a waiting case is offered to
  document.addEventListener("desk:presence", function (event) {
    if (event.detail.online) schedule();  // an agent came or went (not a case viewer)
  });
  document.addEventListener("desk:hello", function () {
    if (connected) schedule();  // back after a drop: agents may have come and gone meanwhile
    connected = true;
  });
  // What no event announces: waits growing older, a closed laptop's page dropping out of
  // presence when its heartbeat stops.
  setInterval(function () {
    if (!document.hidden) schedule();
  }, 30000);

  // A refresh the supervisor did not ask for keeps their ticks and their place.
  var kept = null;
  document.body.addEventListener("htmx:beforeSwap", function (event) {
    var part = event.detail.target;
    var config = event.detail.requestConfig;
    if (!part || !part.hasAttribute("data-console-live")) return;
    if (!config || !config.headers || !config.headers["X-Desk-Background"]) return;
    var active = document.activeElement;
    kept = {
      id: part.id,
      ticked: Array.prototype.map.call(part.querySelectorAll("input[name=case]:checked"), function (box) {
        return box.value;
      }),
      focus: active && part.contains(active)
        ? active.matches("input[name=case]") ? 'input[name=case][value="' + active.value + '"]'
          : active.getAttribute("href") ? 'a[href="' + active.getAttribute("href") + '"]' : null
        : null,
    };
  });
  document.body.addEventListener("htmx:afterSwap", function () {
    if (!kept) return;
    var part = document.getElementById(kept.id);
    var state = kept;
    kept = null;
    if (!part) return;
    var restored = null;
    state.ticked.forEach(function (value) {
      var box = part.querySelector('input[name=case][value="' + value + '"]');
      if (box) {
        box.checked = true;
        restored = box;
      }
    });
    // desk.js recounts the action bar on a change of a box that belongs to it.
    if (restored) restored.dispatchEvent(new Event("change", { bubbles: true }));
    if (state.focus) {
      var again = part.querySelector(state.focus);
      if (again) again.focus({ preventScroll: true });
    }
  });

  // After a page of the list is shown, a reassignment comes back to that page.
  document.body.addEventListener("htmx:pushedIntoHistory", function () {
    var back = document.querySelector("#reassign-form input[name=next]");
    if (back) back.value = window.location.pathname + window.location.search;
  });

  // The capacity field shows the chosen agent's capacity here, so "Save" changes only it.
  document.addEventListener("change", function (event) {
    var select = event.target.closest(".membership-form select[name=agent]");
    var option = select && select.selectedOptions[0];
    var capacity = select && select.form.querySelector("input[name=capacity]");
    if (option && option.dataset.capacity && capacity) capacity.value = option.dataset.capacity;
  });

  // Alerts (an SLA missed, a customer told the team is away): one toast per case and kind,
  // newest first, at most four; each stays until dismissed.
  var TITLES = {
    "case.sla_breached": "Past SLA:",
    "case.team_away": "Team away, customer told:",
  };
  var shelf = document.getElementById("desk-alerts");
  var template = document.getElementById("sla-alert-template");
  var namesElement = document.getElementById("queue-names");
  var names = namesElement ? JSON.parse(namesElement.textContent) : {};
  document.addEventListener("desk:alert", function (event) {
    var frame = event.detail;
    schedule();
    if (!shelf || !template || !TITLES[frame.kind]) return;
    var key = frame.case_id + " " + frame.kind;
    if (shelf.querySelector('[data-alert="' + key + '"]')) return;
    var toast = template.content.firstElementChild.cloneNode(true);
    toast.dataset.case = frame.case_id;
    toast.dataset.alert = key;
    toast.classList.toggle("away-alert", frame.kind === "case.team_away");
    toast.querySelector("[data-slot=title]").textContent = TITLES[frame.kind];
    var link = toast.querySelector("[data-slot=link]");
    link.href = template.dataset.caseUrl.replace("123456789", frame.case_id);
    toast.querySelector("[data-slot=case]").textContent = "case #" + frame.case_id;
    var where = names[String(frame.queue_id)];
    var parts = [];
    if (where) parts.push("in " + where);
    if (frame.status === "waiting") parts.push("still waiting");
    if (frame.assignee) parts.push("with " + frame.assignee);
    toast.querySelector("[data-slot=where]").textContent = parts.join(", ") + ".";
    toast.querySelector("[data-slot=dismiss]").addEventListener("click", function () {
      toast.remove();
    });
    shelf.prepend(toast);
    while (shelf.children.length > 4) shelf.lastElementChild.remove();
  });
})();
