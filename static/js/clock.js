// Ticking times: keeps every countdown and elapsed time on the page current without a reload.
//
// The contract (any page may use it; the server renders the first text, this script keeps it
// true):
//
//   <time data-countdown datetime="2026-12-04T18:30:00+00:00">12 min left</time>
//       time until a deadline: "12 min left", "1 h 5 min left", "under 1 min left";
//       once past: "under 1 min over", "3 min over", "2 h 10 min over", "1 d 2 h over", and the
//       element gets class "overdue"
//       (removed again if the deadline moves into the future).
//   <time data-countdown="since" datetime="...">waited 4 min</time>
//       time elapsed since a moment: "waited under 1 min", "waited 4 min", "waited 1 h 5 min".
//   <time data-countdown="ago" datetime="...">4 min ago</time>
//       time elapsed, for last activity: "just now", "4 min ago", "1 h 5 min ago".
//
// In a Django template, {% load rows %}{% countdown moment now %} (or "since", "ago", and extra
// classes: {% countdown case.sla_due_at now "" "sla" %}) renders the element with its first text.
//
// Spans are whole minutes (hours and minutes from an hour, days and hours from a day); the
// server renders the same words (cases/live/rows.py, countdown_text), so the first tick
// changes nothing. "datetime" must be ISO 8601 with an offset.
//
// One interval for the page, every TICK_MS (15 s); each tick reads the elements afresh, so rows
// inserted by htmx or the live connection need nothing. A tick also runs after every htmx swap.
// Tests may lower the interval by setting window.DESK_CLOCK_INTERVAL (ms) before this script
// runs (Playwright: page.add_init_script), and may call window.deskClock.tick() directly.
(function () {
  "use strict";

  var TICK_MS = window.DESK_CLOCK_INTERVAL || 15000;
  var MINUTE = 60000;

  function span(ms) {
    var minutes = Math.floor(ms / MINUTE);
    if (minutes >= 24 * 60) {
      var days = Math.floor(minutes / (24 * 60));
      var dayHours = Math.floor((minutes % (24 * 60)) / 60);
      return days + " d" + (dayHours ? " " + dayHours + " h" : "");
    }
    if (minutes >= 60) {
      var rest = minutes % 60;
      return Math.floor(minutes / 60) + " h" + (rest ? " " + rest + " min" : "");
    }
    return minutes + " min";
  }

  function text(mode, moment, now) {
    var ms = mode === "since" || mode === "ago" ? now - moment : moment - now;
    if (mode === "since") return "waited " + (ms < MINUTE ? "under 1 min" : span(ms));
    if (mode === "ago") return ms < MINUTE ? "just now" : span(ms) + " ago";
    if (ms >= 0) return ms < MINUTE ? "under 1 min left" : span(ms) + " left";
    return -ms < MINUTE ? "under 1 min over" : span(-ms) + " over";
  }

  function tick() {
    var now = Date.now();
    var times = document.querySelectorAll("time[data-countdown]");
    for (var i = 0; i < times.length; i++) {
      var element = times[i];
      var moment = Date.parse(element.getAttribute("datetime"));
      if (isNaN(moment)) continue;
      var mode = element.getAttribute("data-countdown");
      var words = text(mode, moment, now);
      if (element.textContent !== words) element.textContent = words;
      if (mode !== "since" && mode !== "ago") element.classList.toggle("overdue", moment < now);
    }
  }

  window.deskClock = { tick: tick, text: text, interval: TICK_MS };
  setInterval(tick, TICK_MS);
  document.addEventListener("htmx:afterSettle", tick);
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", tick);
  else tick();
})();
