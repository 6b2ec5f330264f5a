// atiende console: small progressive enhancements. Every page works without this script.
(function () {
  "use strict";

  var table = document.querySelector("table.queue[data-latest]");
  var pop = document.getElementById("screen-pop");
  var latest = table ? parseInt(table.getAttribute("data-latest"), 10) || 0 : 0;
  var source = null;

  // Screen pop: a call this agent answered, with a link to register it.
  function showCall(event) {
    var call;
    try { call = JSON.parse(event.data); } catch (e) { return; }
    pop.querySelector("[data-who]").textContent = (call.name ? call.name + " · " : "") + call.number;
    pop.querySelector("a").setAttribute("href", "/incidentes/nuevo?llamada=" + encodeURIComponent(call.id));
    pop.hidden = false;
  }
  if (pop) {
    pop.querySelector("button").addEventListener("click", function () { pop.hidden = true; });
  }

  // Bandeja: new incidents appear without reloading.
  function showIncidents(event) {
    var id = parseInt(event.data, 10) || 0;
    if (id <= latest) { return; }
    latest = id;
    fetch(table.getAttribute("data-rows"), { credentials: "same-origin" })
      .then(function (r) { return r.ok ? r.text() : Promise.reject(r.status); })
      .then(function (html) {
        document.getElementById("queue-rows").innerHTML = html;
        var live = document.getElementById("live");
        if (live) { live.hidden = false; }
      })
      .catch(function () {});
  }

  // The live stream (server-sent events) is held only while the page is shown: a page kept in
  // the browser's back/forward cache or frozen in a background tab lets go of its connection,
  // or a few navigations would hold every connection the browser allows per host (six over
  // HTTP/1.1) and the next page would wait. It reconnects when the page is shown again.
  // Avisos: the header's unread count follows the stream, and a new notification shows as the
  // browser's own where the person allowed it (the button on Avisos asks).
  var bell = document.getElementById("notifications-link");
  function showNotifications(event) {
    var n;
    try { n = JSON.parse(event.data); } catch (e) { return; }
    var count = document.getElementById("unread");
    if (n.latest !== undefined) { bell.setAttribute("data-latest", String(n.latest)); }
    if (n.unread > 0) {
      if (!count) {
        count = document.createElement("span");
        count.className = "count";
        count.id = "unread";
        bell.appendChild(document.createTextNode(" "));
        bell.appendChild(count);
      }
      count.textContent = String(n.unread);
    } else if (count) {
      count.remove();
    }
    if (n.title && window.Notification && Notification.permission === "granted") {
      var shown = new Notification(n.title, { body: n.body || "", tag: "atiende-" + (n.url || "") });
      shown.onclick = function () { window.focus(); window.location.href = n.url || "/avisos"; };
    }
  }
  var allow = document.getElementById("allow-browser-notifications");
  if (allow && window.Notification) {
    allow.hidden = Notification.permission !== "default";
    allow.addEventListener("click", function () {
      Notification.requestPermission().then(function () { allow.hidden = true; });
    });
  }

  // Working together on an incident: who else has it open or is writing (the stream tells),
  // a warning when others add to it, and this agent's keystrokes told to the others (at most
  // every few seconds).
  var together = document.getElementById("together");
  function showPresence(event) {
    var others;
    try { others = JSON.parse(event.data); } catch (e) { return; }
    var line = document.getElementById("presence");
    line.textContent = others.map(function (o) {
      return o.name + " " + (o.typing ? together.dataset.typing : together.dataset.viewing);
    }).join(" · ");
    line.hidden = others.length === 0;
  }
  // On a live web chat the person's messages join the history at once: the page's history is
  // read again and put in place (the answer being written stays), and the page counts as
  // seeing them. Elsewhere a banner says something was added.
  function showChanged() {
    if (!together.dataset.liveChat || !window.DOMParser) {
      document.getElementById("stale-view").hidden = false;
      return;
    }
    fetch(window.location.pathname, { credentials: "same-origin" }).then(function (r) {
      return r.text();
    }).then(function (html) {
      var fresh = new DOMParser().parseFromString(html, "text/html");
      var now = document.querySelector(".timeline > ol");
      var then = fresh.querySelector(".timeline > ol");
      var seen = fresh.getElementById("together");
      if (!now || !then || !seen) { return; }
      now.replaceWith(then);
      together.dataset.seen = seen.dataset.seen;
      document.querySelectorAll("input[name=visto]").forEach(function (v) { v.value = seen.dataset.seen; });
    }).catch(function () {
      document.getElementById("stale-view").hidden = false;
    });
  }
  function showVisitor(event) {
    var line = document.getElementById("visitor-typing");
    var state;
    try { state = JSON.parse(event.data); } catch (e) { return; }
    if (line) { line.hidden = !state.typing; }
  }
  if (together) {
    var toldTyping = 0;
    var typing = function () {
      var now = Date.now();
      if (now - toldTyping < 4000) { return; }
      toldTyping = now;
      var body = new URLSearchParams();
      body.set("_csrf", together.dataset.csrf);
      fetch("/incidentes/" + encodeURIComponent(together.dataset.folio) + "/escribiendo", {
        method: "POST", credentials: "same-origin", body: body
      }).catch(function () {});
    };
    ["reply", "note", "intervention"].forEach(function (id) {
      var box = document.getElementById(id);
      if (box) { box.addEventListener("input", typing); }
    });
  }

  function connect() {
    if (source || !window.EventSource || !(table || pop || bell || together)) { return; }
    // The stream tells the notifications that came after those this page was made with.
    var url = "/eventos?avisos=" + encodeURIComponent(bell ? bell.getAttribute("data-latest") || "" : "");
    if (together) {
      url += "&incidente=" + encodeURIComponent(together.dataset.incident) +
        "&visto=" + encodeURIComponent(together.dataset.seen);
    }
    source = new EventSource(url);
    if (pop) { source.addEventListener("call", showCall); }
    if (table) { source.addEventListener("incidents", showIncidents); }
    if (bell) { source.addEventListener("notifications", showNotifications); }
    if (together) {
      source.addEventListener("presence", showPresence);
      source.addEventListener("changed", showChanged);
      source.addEventListener("visitor", showVisitor);
    }
  }
  function disconnect() {
    if (source) { source.close(); source = null; }
  }
  connect();
  window.addEventListener("pagehide", disconnect);
  window.addEventListener("pageshow", connect);
  document.addEventListener("freeze", disconnect);
  document.addEventListener("resume", connect);

  // Canned responses: searched from the answer box (the field beside it, or "::" and a word
  // typed in the answer), each match already filled for this incident. Choosing one puts its
  // text in the answer (in place of the "::word") and keeps which it was, so that its use is
  // counted when the answer is sent. Arrow down reaches the matches, Escape closes them.
  var picker = document.getElementById("canned-picker");
  var reply = document.getElementById("reply");
  if (picker && reply && window.fetch) {
    var search = document.getElementById("canned-search");
    var results = document.getElementById("canned-results");
    var cannedId = document.getElementById("canned-response-id");
    var timer = null;
    var typed = null;
    search.hidden = false;
    var close = function () { results.hidden = true; results.textContent = ""; typed = null; };
    var choose = function (item) {
      var start = reply.selectionStart, end = reply.selectionEnd, value = reply.value;
      if (typed !== null) { start = typed; }
      reply.value = value.slice(0, start) + item.text + value.slice(end);
      cannedId.value = String(item.id);
      close();
      reply.focus();
      reply.selectionStart = reply.selectionEnd = start + item.text.length;
    };
    var show = function (items) {
      results.textContent = "";
      items.forEach(function (item) {
        var li = document.createElement("li");
        var b = document.createElement("button");
        b.type = "button";
        b.className = "canned-option";
        b.textContent = item.title;
        b.addEventListener("click", function () { choose(item); });
        b.addEventListener("keydown", function (e) {
          var next = e.key === "ArrowDown" ? li.nextElementSibling : e.key === "ArrowUp" ? li.previousElementSibling : null;
          if (next) { e.preventDefault(); next.querySelector("button").focus(); }
          if (e.key === "Escape") { close(); reply.focus(); }
        });
        li.appendChild(b);
        results.appendChild(li);
      });
      results.hidden = items.length === 0;
    };
    var find = function (q) {
      clearTimeout(timer);
      timer = setTimeout(function () {
        fetch("/respuestas/buscar?folio=" + encodeURIComponent(picker.getAttribute("data-folio")) + "&q=" + encodeURIComponent(q), { credentials: "same-origin" })
          .then(function (r) { return r.ok ? r.json() : []; })
          .then(show)
          .catch(function () {});
      }, 120);
    };
    var toFirst = function (e) {
      var first = results.querySelector("button");
      if (e.key === "ArrowDown" && first && !results.hidden) { e.preventDefault(); first.focus(); }
      if (e.key === "Escape") { close(); }
    };
    search.addEventListener("input", function () { typed = null; find(search.value); });
    search.addEventListener("keydown", function (e) {
      if (e.key === "Enter") { e.preventDefault(); var first = results.querySelector("button"); if (first) { first.click(); } }
      toFirst(e);
    });
    reply.addEventListener("input", function () {
      var before = reply.value.slice(0, reply.selectionStart);
      var m = before.match(/::([^\s:]*)$/);
      if (m) { typed = before.length - m[0].length; find(m[1]); } else if (typed !== null) { close(); }
    });
    reply.addEventListener("keydown", toFirst);
  }

  // Suggested classification: one button puts the suggested values in the form; the agent
  // still saves it (or changes them first). Nothing is classified without them.
  var useSuggestion = document.getElementById("use-suggestion");
  if (useSuggestion) {
    useSuggestion.hidden = false;
    useSuggestion.addEventListener("click", function () {
      var f = useSuggestion.form;
      if (useSuggestion.dataset.topic) { f.topic_id.value = useSuggestion.dataset.topic; }
      if (useSuggestion.dataset.incidentType) { f.incident_type.value = useSuggestion.dataset.incidentType; }
      if (useSuggestion.dataset.critical) { f.critical.checked = true; }
      f.incident_type.focus();
    });
  }

  // Keyboard shortcuts for the frequent moves, listed with "?". None fires while typing in a
  // field (Ctrl+Enter there sends its form), or with Alt/Ctrl/Meta held.
  var shortcuts = document.getElementById("shortcuts");
  var showShortcuts = function () {
    if (shortcuts && !shortcuts.open && shortcuts.showModal) { shortcuts.showModal(); }
  };
  var shortcutsButton = document.getElementById("show-shortcuts");
  if (shortcutsButton) { shortcutsButton.addEventListener("click", showShortcuts); }
  var queueLinks = function () {
    return Array.prototype.slice.call(document.querySelectorAll("table.queue tbody tr td a[href^='/incidentes/']"));
  };
  var current = -1;
  var mark = function (n) {
    var links = queueLinks();
    if (!links.length) { return; }
    current = Math.max(0, Math.min(links.length - 1, n));
    links.forEach(function (a, i) { a.closest("tr").classList.toggle("current", i === current); });
    links[current].focus();
  };
  var openCard = function (id) {
    var field = document.getElementById(id);
    if (!field) { return; }
    var card = field.closest("details");
    if (card) { card.open = true; }
    field.focus();
  };
  document.addEventListener("keydown", function (e) {
    var target = e.target;
    var typing = target && (target.isContentEditable || /^(INPUT|TEXTAREA|SELECT)$/.test(target.tagName));
    if (typing) {
      if (e.key === "Enter" && (e.ctrlKey || e.metaKey) && target.form) {
        e.preventDefault();
        if (target.form.requestSubmit) { target.form.requestSubmit(); } else { target.form.submit(); }
      }
      return;
    }
    if (e.altKey || e.ctrlKey || e.metaKey || (shortcuts && shortcuts.open)) { return; }
    var folio = together ? together.dataset.folio : null;
    switch (e.key) {
      case "?": showShortcuts(); break;
      case "j":
        if (folio) { window.location.href = "/bandeja/siguiente?despues=" + encodeURIComponent(folio); }
        else { mark(current + 1); }
        break;
      case "k": if (!folio) { mark(current - 1); } else { return; } break;
      case "x":
        if (current < 0) { return; }
        var box = queueLinks()[current].closest("tr").querySelector("input[type=checkbox]");
        if (box) { box.checked = !box.checked; }
        break;
      case "r": if (folio) { openCard("reply"); } else { return; } break;
      case "n": if (folio) { openCard("note"); } else { return; } break;
      case "c": if (folio) { openCard("c-channel"); } else { return; } break;
      case "e": if (folio) { openCard("close-notes"); } else { return; } break;
      case "u": window.location.href = "/bandeja"; break;
      default: return;
    }
    e.preventDefault();
  });

  // Registration: say which requirement of the procedure blocks closing, before posting.
  var form = document.getElementById("register-form");
  if (form) {
    var blocked = document.getElementById("blocked");
    var check = function () {
      var outcome = form.querySelector("input[name=outcome]:checked");
      var missing = [];
      if (outcome && outcome.value === "close") {
        if (!form.user_type.value) { missing.push(form.dataset.userType || "tipo de usuario"); }
        if (!form.querySelector("input[name=incident_type]:checked")) { missing.push("tipo de incidencia"); }
        if (!form.notes.value.trim()) { missing.push("pormenores de la intervención"); }
        if (form.critical && form.critical.checked) { missing.push("derivación del asunto crítico a la alta dirección"); }
      }
      blocked.hidden = missing.length === 0;
      blocked.textContent = missing.length ? "Para cerrar falta: " + missing.join(", ") + "." : "";
    };
    form.addEventListener("change", check);
    form.addEventListener("input", check);
  }
})();
