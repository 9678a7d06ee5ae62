// An agent told at once (issue 17): offers pushed to them, as a banner answered with one key
// ("a" accepts, "d" declines; desk.js runs the shortcuts), and desktop notifications (the
// Notifications API, asked for once, with a sound the agent can turn off) for offers, new
// cases in their pull queues, a customer writing on their own case, and SLA breaches. While the
// tab is not looked at, its title counts what it was told. The frames come from live.js.
(function () {
  "use strict";

  var body = document.body;
  var me = body.dataset.userName;
  var myId = body.dataset.userId;
  var pullQueues = (body.dataset.pullQueues || "").split(",").filter(Boolean);
  var shelf = document.getElementById("offer-shelf");
  var template = document.getElementById("offer-template");
  var missedTemplate = document.getElementById("offer-missed-template");
  var MISSED_SHOWN_FOR = 12000;  // a time-out note goes by itself; "set away" stays until read
  var baseTitle = document.title;
  var unseen = 0;
  var timers = {};

  // --- room for the shelf: the page's end scrolls clear of an offer (desk.css, --offer-room) ------
  if (shelf && "ResizeObserver" in window) {
    new ResizeObserver(function () {
      var room = shelf.children.length ? window.innerHeight - shelf.getBoundingClientRect().top + 8 : 0;
      body.style.setProperty("--offer-room", Math.max(0, Math.round(room)) + "px");
    }).observe(shelf);
  }

  // --- the tab title and the sound -----------------------------------------------------------
  function looking() {
    return !document.hidden && document.hasFocus();
  }

  function showCount() {
    var offers = shelf ? shelf.children.length : 0;
    var count = unseen + offers;
    document.title = count ? "(" + count + ") " + baseTitle : baseTitle;
  }

  function seen() {
    if (!looking()) return;
    unseen = 0;
    showCount();
  }
  document.addEventListener("visibilitychange", seen);
  window.addEventListener("focus", seen);

  var SOUND_KEY = "desk.sound";
  var soundButton = document.getElementById("sound-toggle");
  function soundOn() {
    return localStorage.getItem(SOUND_KEY) !== "off";
  }
  function showSound() {
    if (!soundButton) return;
    soundButton.hidden = false;
    soundButton.setAttribute("aria-pressed", soundOn() ? "true" : "false");
    soundButton.textContent = soundOn() ? "Sound: on" : "Sound: off";
  }
  if (soundButton) {
    soundButton.addEventListener("click", function () {
      localStorage.setItem(SOUND_KEY, soundOn() ? "off" : "on");
      showSound();
    });
    showSound();
  }

  var audio = null;
  function chime() {
    if (!soundOn()) return;
    try {
      audio = audio || new (window.AudioContext || window.webkitAudioContext)();
      var tone = audio.createOscillator();
      var gain = audio.createGain();
      tone.frequency.value = 880;
      gain.gain.setValueAtTime(0.08, audio.currentTime);
      gain.gain.exponentialRampToValueAtTime(0.0001, audio.currentTime + 0.35);
      tone.connect(gain).connect(audio.destination);
      tone.start();
      tone.stop(audio.currentTime + 0.35);
    } catch (error) {
      // no audio here (a browser without Web Audio, or one that refuses it before a click)
    }
  }

  // --- desktop notifications: asked for once, by a click --------------------------------------
  var ASKED_KEY = "desk.notifications-asked";
  var ask = document.getElementById("notify-ask");
  var canNotify = "Notification" in window;
  if (ask && canNotify && Notification.permission === "default" && !localStorage.getItem(ASKED_KEY)) {
    ask.hidden = false;
    ask.addEventListener("click", function () {
      localStorage.setItem(ASKED_KEY, "1");
      ask.hidden = true;
      Notification.requestPermission();
    });
  }

  // onShelf: an offer's banner counts itself in the title while it waits; counting the
  // notification as well showed one offer as two.
  function tell(title, text, tag, url, onShelf) {
    chime();
    if (looking()) return;  // the page shows it already
    if (!onShelf) unseen += 1;
    showCount();
    if (!canNotify || Notification.permission !== "granted") return;
    var note = new Notification(title, { body: text, tag: tag });
    note.onclick = function () {
      window.focus();
      if (url) window.location.href = url;
      note.close();
    };
  }

  // --- offers ----------------------------------------------------------------------------------
  function url(kind, id) {
    return template.dataset[kind + "Url"].replace("123456789", id);
  }

  function endOffer(id) {
    clearInterval(timers[id]);
    delete timers[id];
    var banner = shelf.querySelector('[data-offer="' + id + '"]');
    if (banner) banner.remove();
    showCount();
  }

  function showOffer(frame) {
    if (!shelf || !template) return;
    var id = String(frame.offer_id);
    if (frame.state !== "pending") {
      endOffer(id);
      if (frame.state === "timed_out") showMissed(frame);
      return;
    }
    if (shelf.querySelector('[data-offer="' + id + '"]')) return;
    var banner = template.content.firstElementChild.cloneNode(true);
    banner.dataset.offer = id;
    banner.dataset.case = frame.case_id;
    banner.querySelector("[data-slot=where]").textContent =
      "#" + frame.case_id + " · " + frame.queue + " · " + frame.priority;
    banner.querySelector("[data-slot=customer]").textContent = frame.customer || "A customer";
    banner.querySelector("[data-slot=intent]").textContent = frame.intent || "";
    var accept = banner.querySelector("[data-slot=accept]");
    var decline = banner.querySelector("[data-slot=decline]");
    accept.action = url("accept", id);
    decline.action = url("decline", id);
    decline.addEventListener("submit", function (event) {
      event.preventDefault();
      declineOffer(decline, banner, id);
    });
    var due = Date.now() + frame.seconds * 1000;
    var seconds = banner.querySelector("[data-slot=seconds]");
    var tick = function () {
      var left = Math.max(0, Math.round((due - Date.now()) / 1000));
      seconds.textContent = left;
      // The desk times it out and says so; a page that missed that frame drops it a bit later.
      if (Date.now() > due + 10000) endOffer(id);
    };
    tick();
    timers[id] = setInterval(tick, 1000);
    shelf.prepend(banner);
    showCount();
    var who = frame.customer || "a customer";
    tell("Case offered: " + who, frame.queue + (frame.intent ? " · " + frame.intent : ""), "offer-" + id, null, true);
  }

  function declineOffer(form, banner, id) {
    var note = banner.querySelector("[data-slot=note]");
    var button = form.querySelector("button");
    button.disabled = true;
    fetch(form.action, {
      method: "POST",
      body: new FormData(form),
      headers: { "HX-Request": "true" },
      credentials: "same-origin",
    }).then(function (response) {
      if (response.status === 204) {
        endOffer(id);  // the socket says so too; this is the quicker of the two
        return null;
      }
      button.disabled = false;
      return response.text().then(function (text) {
        note.textContent = response.status === 409 ? text : "The desk did not take that answer; try again.";
      });
    }, function () {
      button.disabled = false;
      note.textContent = "No connection: the answer did not reach the desk; try again.";
    });
  }

  document.addEventListener("desk:offer", function (event) {
    showOffer(event.detail);
  });

  // An offer let time out: the banner does not just vanish. The agent reads that the case went
  // on, and, when the misses set them away, why no offer comes now and how to be back.
  function showMissed(frame) {
    if (!shelf || !missedTemplate) return;
    var old = shelf.querySelector(".offer-missed");
    if (old) old.remove();
    var note = missedTemplate.content.firstElementChild.cloneNode(true);
    note.querySelector("[data-slot=text]").textContent =
      "The offer of case #" + frame.case_id + " was not answered in time: it goes to the next free agent.";
    note.querySelector("[data-slot=away]").hidden = !frame.set_away;
    note.querySelector("[data-slot=dismiss]").addEventListener("click", function () {
      note.remove();
    });
    shelf.appendChild(note);
    if (!frame.set_away) setTimeout(function () { note.remove(); }, MISSED_SHOWN_FOR);
  }

  // --- the agent's state, kept in step across their tabs ---------------------------------------
  document.addEventListener("desk:agent", function (event) {
    var frame = event.detail;
    if (String(frame.agent_id) !== myId) return;
    var control = document.getElementById("agent-state");
    if (frame.state === "online" && shelf) {  // back: the "set away" note has done its job
      var missed = shelf.querySelector(".offer-missed");
      if (missed) missed.remove();
    }
    if (!control || frame.state === "offline") return;  // offline: this page is open, it will be back
    control.dataset.chosen = frame.state;
    var select = control.querySelector("select[data-state-select]");
    if (select) select.value = frame.state;
  });

  // --- what else the agent is told of ----------------------------------------------------------
  var caseUrl = template ? template.dataset.acceptUrl.replace(/offers\/.*$/, "cases/") : "/cases/";
  document.addEventListener("desk:event", function (event) {
    var frame = event.detail;
    if (frame.resync) return;  // caught up after a reconnect: old news
    var link = caseUrl + frame.case_id + "/";
    if (frame.kind === "case.created" && pullQueues.indexOf(String(frame.queue_id)) !== -1) {
      tell("New case waiting", "Case #" + frame.case_id, "case-" + frame.case_id, link);
    } else if (frame.kind === "case.customer_message" && frame.assignee && frame.assignee === me) {
      tell("Your customer wrote", "Case #" + frame.case_id, "message-" + frame.case_id, link);
    } else if (frame.kind === "case.sla_breached" && (frame.assignee === me ||
        (frame.status === "waiting" && pullQueues.indexOf(String(frame.queue_id)) !== -1))) {
      tell("Past SLA", "Case #" + frame.case_id, "sla-" + frame.case_id, link);
    }
  });
})();
