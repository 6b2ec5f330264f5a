// atiende's web chat widget. A site includes it with one tag:
//   <script src="https://cap.example.mx/chat/widget.js" defer></script>
// It adds a button that opens a form, then a live conversation with the CAP. It needs no
// inline script or style (its styles are a constructed style sheet), so it works under a strict
// Content-Security-Policy that allows this script and `connect-src` to atiende. The
// conversation's token lives in the tab's sessionStorage, so it follows the person from page
// to page of the site and ends with the tab. No third-party code.
(function () {
  "use strict";
  if (document.getElementById("atiende-chat")) { return; }
  var script = document.currentScript;
  var base = new URL(script.src).href.replace(/\/chat\/widget\.js(\?.*)?$/, "");
  var KEY = "atiende-chat:" + base;
  var CSS = [
    "#atiende-chat{position:fixed;right:16px;bottom:16px;z-index:2147483000;font:16px/1.4 system-ui,sans-serif;color:#1a1a1a}",
    "#atiende-chat *{box-sizing:border-box}",
    "#atiende-chat-open{background:#0b4f8a;color:#fff;border:0;border-radius:24px;padding:12px 20px;font:inherit;font-weight:600;cursor:pointer;min-height:44px}",
    "#atiende-chat-open:focus-visible,#atiende-chat button:focus-visible,#atiende-chat input:focus-visible,#atiende-chat select:focus-visible,#atiende-chat textarea:focus-visible{outline:3px solid #f5a623;outline-offset:2px}",
    "#atiende-chat-panel{width:min(380px,calc(100vw - 32px));max-height:min(600px,calc(100vh - 32px));display:flex;flex-direction:column;background:#fff;border:1px solid #767676;border-radius:8px;box-shadow:0 4px 24px rgba(0,0,0,.25);overflow:hidden}",
    "#atiende-chat-panel[hidden]{display:none}",
    "#atiende-chat-head{display:flex;justify-content:space-between;align-items:center;background:#0b4f8a;color:#fff;padding:8px 12px}",
    "#atiende-chat-title{font-size:1rem;margin:0}",
    "#atiende-chat-head button{background:transparent;color:#fff;border:1px solid #fff;border-radius:4px;font:inherit;padding:4px 10px;min-height:32px;min-width:32px;cursor:pointer}",
    "#atiende-chat-body{padding:12px;overflow-y:auto;flex:1}",
    "#atiende-chat label{display:block;font-weight:600;margin-top:8px}",
    "#atiende-chat input,#atiende-chat select,#atiende-chat textarea{width:100%;font:inherit;padding:6px;border:1px solid #595959;border-radius:4px;background:#fff;color:#1a1a1a}",
    "#atiende-chat textarea{min-height:64px;resize:vertical}",
    "#atiende-chat .atiende-chat-hint{font-size:.875rem;color:#4a4a4a;margin:8px 0}",
    "#atiende-chat .atiende-chat-hint a{color:#0b4f8a}",
    "#atiende-chat .atiende-chat-primary{background:#0b4f8a;color:#fff;border:0;border-radius:4px;padding:10px 16px;font:inherit;font-weight:600;margin-top:10px;cursor:pointer;min-height:44px}",
    "#atiende-chat .atiende-chat-secondary{background:#fff;color:#0b4f8a;border:1px solid #0b4f8a;border-radius:4px;padding:6px 12px;font:inherit;cursor:pointer;min-height:32px}",
    "#atiende-chat-log{list-style:none;margin:0;padding:0}",
    "#atiende-chat-log li{margin:6px 0;padding:8px 10px;border-radius:8px;max-width:85%;white-space:pre-wrap;overflow-wrap:anywhere}",
    "#atiende-chat-log li.atiende-chat-mine{background:#e3eefa;margin-left:auto}",
    "#atiende-chat-log li.atiende-chat-theirs{background:#f1f1f1}",
    "#atiende-chat-log .atiende-chat-who{display:block;font-size:.8125rem;color:#4a4a4a}",
    "#atiende-chat-typing{font-size:.875rem;color:#4a4a4a;min-height:1.4em;margin:4px 0}",
    "#atiende-chat-alert{color:#a10000;font-weight:600}",
    "#atiende-chat-foot{border-top:1px solid #ccc;padding:8px 12px}",
    "#atiende-chat-foot .atiende-chat-row{display:flex;gap:8px;align-items:flex-end}",
    "#atiende-chat-foot textarea{min-height:44px}"
  ].join("\n");

  function addStyles() {
    try {
      var sheet = new CSSStyleSheet();
      sheet.replaceSync(CSS);
      document.adoptedStyleSheets = document.adoptedStyleSheets.concat([sheet]);
    } catch (e) { /* an old browser: the widget works unstyled */ }
  }

  function el(tag, attrs, children) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) {
      if (k === "text") { node.textContent = attrs[k]; } else { node.setAttribute(k, attrs[k]); }
    });
    (children || []).forEach(function (c) { if (c) { node.appendChild(c); } });
    return node;
  }

  var info = null;        // what /chat/inicio said
  var t = {};             // its words
  var token = null;
  var seen = 0;           // the newest message shown
  var stream = null;      // the AbortController of the live stream
  var root, openButton, panel, body, foot;

  function api(method, path, payload) {
    var headers = { "Accept": "application/json" };
    if (payload !== undefined) { headers["Content-Type"] = "application/json"; }
    if (token) { headers.Authorization = "Bearer " + token; }
    return fetch(base + path, {
      method: method, headers: headers, credentials: "omit",
      body: payload === undefined ? undefined : JSON.stringify(payload)
    }).then(function (r) {
      if (r.status === 204) { return {}; }
      return r.json().then(function (j) {
        if (!r.ok) { var e = new Error((j && j.error && j.error.message) || t.error); e.status = r.status; throw e; }
        return j;
      });
    });
  }

  function alertLine(text) {
    var line = document.getElementById("atiende-chat-alert");
    if (line) { line.textContent = text || ""; }
  }

  function build() {
    addStyles();
    root = el("div", { id: "atiende-chat" });
    openButton = el("button", { id: "atiende-chat-open", type: "button", "aria-expanded": "false", "aria-controls": "atiende-chat-panel", text: t.open });
    panel = el("section", { id: "atiende-chat-panel", role: "dialog", "aria-labelledby": "atiende-chat-title", hidden: "" });
    var close = el("button", { type: "button", id: "atiende-chat-close", "aria-label": t.close, text: "×" });
    panel.appendChild(el("div", { id: "atiende-chat-head" }, [el("h2", { id: "atiende-chat-title", text: t.title }), close]));
    body = el("div", { id: "atiende-chat-body" });
    foot = el("div", { id: "atiende-chat-foot", hidden: "" });
    panel.appendChild(body);
    panel.appendChild(foot);
    root.appendChild(panel);
    root.appendChild(openButton);
    document.body.appendChild(root);
    openButton.addEventListener("click", function () { show(true); });
    close.addEventListener("click", function () { show(false); });
    panel.addEventListener("keydown", function (e) { if (e.key === "Escape") { show(false); } });
  }

  function show(open) {
    panel.hidden = !open;
    openButton.hidden = open;
    openButton.setAttribute("aria-expanded", open ? "true" : "false");
    if (open) {
      if (!body.firstChild) { token ? resume() : form(); }
      var first = panel.querySelector("#atiende-chat-body input, #atiende-chat-foot textarea, #atiende-chat-body button");
      if (first) { first.focus(); }
    } else {
      openButton.focus();
    }
  }

  function field(id, label, input) {
    input.id = id;
    return [el("label", { "for": id, text: label }), input];
  }

  function options(choices, labelOf) {
    var select = el("select", {}, [el("option", { value: "", text: t.choose })]);
    choices.forEach(function (c) { select.appendChild(el("option", { value: String(c.id || c.code), text: labelOf(c) })); });
    return select;
  }

  function form() {
    body.textContent = "";
    foot.hidden = true;
    var f = el("form", { id: "atiende-chat-form", novalidate: "" });
    f.appendChild(el("p", { text: info.open ? t.online : t.offline }));
    var parts = []
      .concat(field("atiende-chat-name", t.name, el("input", { name: "name", autocomplete: "name", required: "" })))
      .concat(field("atiende-chat-email", t.email, el("input", { name: "email", type: "email", autocomplete: "email" })))
      .concat(field("atiende-chat-phone", t.phone, el("input", { name: "phone", type: "tel", autocomplete: "tel" })))
      .concat([el("p", { "class": "atiende-chat-hint", text: t.contact_hint })])
      .concat(field("atiende-chat-user-type", t.user_type, options(info.user_types, function (u) { return u.label; })))
      .concat(info.topics.length ? field("atiende-chat-topic", t.topic, options(info.topics, function (x) { return x.name; })) : [])
      .concat(field("atiende-chat-message", t.message, el("textarea", { name: "message", required: "" })));
    parts.forEach(function (p) { f.appendChild(p); });
    var notice = el("p", { "class": "atiende-chat-hint", text: info.privacy_notice + " " });
    notice.appendChild(el("a", { href: info.privacy_url, target: "_blank", rel: "noopener", text: t.privacy }));
    f.appendChild(notice);
    f.appendChild(el("p", { id: "atiende-chat-alert", role: "alert" }));
    f.appendChild(el("button", { type: "submit", "class": "atiende-chat-primary", id: "atiende-chat-start", text: info.open ? t.start : t.leave }));
    f.addEventListener("submit", function (e) {
      e.preventDefault();
      var value = function (id) { var n = document.getElementById(id); return n ? n.value.trim() : ""; };
      var topic = value("atiende-chat-topic");
      var message = value("atiende-chat-message");
      api("POST", "/chat/conversaciones", {
        name: value("atiende-chat-name"), email: value("atiende-chat-email"), phone: value("atiende-chat-phone"),
        user_type: value("atiende-chat-user-type") || null, topic_id: topic ? Number(topic) : null,
        message: message, privacy_notice_id: info.privacy_notice_id
      }).then(function (r) {
        if (!r.live) {
          body.textContent = "";
          body.appendChild(el("p", { role: "status", id: "atiende-chat-left", text: t.left + " " + t.folio + " " + r.folio + "." }));
          return;
        }
        token = r.token;
        try { sessionStorage.setItem(KEY, token); } catch (err) { /* private mode: this page only */ }
        conversationView(r.folio);
        append({ from_cap: false, body: message });
        listen();
      }).catch(function (err) { alertLine(err.message); });
    });
    body.appendChild(f);
  }

  function conversationView(folio) {
    body.textContent = "";
    body.appendChild(el("p", { "class": "atiende-chat-hint", id: "atiende-chat-folio", text: t.folio + " " + folio + "." }));
    body.appendChild(el("ol", { id: "atiende-chat-log", "aria-live": "polite" }));
    body.appendChild(el("p", { id: "atiende-chat-typing", "aria-live": "polite" }));
    foot.textContent = "";
    foot.hidden = false;
    var box = el("textarea", { id: "atiende-chat-input", "aria-label": t.your_message, placeholder: t.your_message });
    var send = el("button", { type: "button", id: "atiende-chat-send", "class": "atiende-chat-primary", text: t.send });
    var end = el("button", { type: "button", id: "atiende-chat-end", "class": "atiende-chat-secondary", text: t.end });
    foot.appendChild(el("p", { id: "atiende-chat-alert", role: "alert" }));
    foot.appendChild(el("div", { "class": "atiende-chat-row" }, [box, send]));
    foot.appendChild(end);
    var told = 0;
    box.addEventListener("input", function () {
      var now = Date.now();
      if (now - told < 4000) { return; }
      told = now;
      api("POST", "/chat/escribiendo").catch(function () {});
    });
    box.addEventListener("keydown", function (e) {
      if (e.key === "Enter" && !e.shiftKey) { e.preventDefault(); say(); }
    });
    send.addEventListener("click", say);
    end.addEventListener("click", function () {
      api("POST", "/chat/fin").catch(function () {});
      finish(t.ended);
    });
    function say() {
      var words = box.value.trim();
      if (!words) { return; }
      api("POST", "/chat/mensajes", { body: words }).then(function (r) {
        box.value = "";
        alertLine("");
        append({ from_cap: false, body: words, id: r.id });
      }).catch(function (err) { alertLine(err.message); });
    }
  }

  function append(m) {
    var log = document.getElementById("atiende-chat-log");
    if (!log) { return; }
    var who = m.from_cap ? (m.by ? m.by + " · " + t.cap : t.cap) : t.you;
    if (!m.at) {
      var now = new Date();
      m.at = ("0" + now.getHours()).slice(-2) + ":" + ("0" + now.getMinutes()).slice(-2);
    }
    log.appendChild(el("li", { "class": m.from_cap ? "atiende-chat-theirs" : "atiende-chat-mine" }, [
      el("span", { "class": "atiende-chat-who", text: who + (m.at ? " · " + m.at : "") }),
      document.createTextNode(m.body)
    ]));
    if (m.id && m.id > seen) { seen = m.id; }
    body.scrollTop = body.scrollHeight;
  }

  function finish(words) {
    if (stream) { stream.abort(); stream = null; }
    token = null;
    try { sessionStorage.removeItem(KEY); } catch (e) { /* nothing kept */ }
    foot.hidden = true;
    var typing = document.getElementById("atiende-chat-typing");
    if (typing) { typing.textContent = ""; }
    body.appendChild(el("p", { role: "status", id: "atiende-chat-finished", text: words }));
  }

  function resume() {
    api("GET", "/chat/conversacion").then(function (c) {
      conversationView(c.folio);
      c.messages.forEach(append);
      if (c.closed || c.ended) { finish(c.closed ? t.closed : t.ended); } else { listen(); }
    }).catch(function () {
      token = null;
      try { sessionStorage.removeItem(KEY); } catch (e) { /* nothing kept */ }
      form();
    });
  }

  // The live stream: server-sent events read with fetch, so that the token travels in a
  // header (never in an address a log could keep). It reconnects after a drop.
  function listen() {
    if (!token) { return; }
    var controller = new AbortController();
    stream = controller;
    fetch(base + "/chat/eventos?desde=" + seen, {
      headers: { Authorization: "Bearer " + token, Accept: "text/event-stream" },
      credentials: "omit", signal: controller.signal
    }).then(function (r) {
      if (r.status === 401) { finish(t.ended); return; }
      if (!r.ok || !r.body) { throw new Error("stream"); }
      var reader = r.body.getReader();
      var decoder = new TextDecoder();
      var buffer = "";
      function pump() {
        return reader.read().then(function (chunk) {
          if (chunk.done) { throw new Error("closed"); }
          buffer += decoder.decode(chunk.value, { stream: true });
          var parts = buffer.split("\n\n");
          buffer = parts.pop();
          parts.forEach(handle);
          return pump();
        });
      }
      return pump();
    }).catch(function () {
      if (stream === controller) { stream = null; setTimeout(listen, 2000); }
    });
  }

  function handle(block) {
    var event = "message", data = "";
    block.split("\n").forEach(function (line) {
      if (line.indexOf("event:") === 0) { event = line.slice(6).trim(); }
      if (line.indexOf("data:") === 0) { data += line.slice(5).trim(); }
    });
    if (!data) { return; }
    var payload;
    try { payload = JSON.parse(data); } catch (e) { return; }
    var typing = document.getElementById("atiende-chat-typing");
    if (event === "message") {
      if (typing) { typing.textContent = ""; }
      append(payload);
    } else if (event === "typing" && typing) {
      typing.textContent = payload.typing ? t.agent + " " + t.typing : "";
    } else if (event === "closed") {
      finish(t.closed);
    }
  }

  function start() {
    try { token = sessionStorage.getItem(KEY); } catch (e) { token = null; }
    fetch(base + "/chat/inicio", { credentials: "omit", headers: { Accept: "application/json" } })
      .then(function (r) { return r.json(); })
      .then(function (j) {
        info = j;
        t = j.texts;
        build();
        if (token) { show(true); }
      })
      .catch(function () { /* atiende unreachable: no button */ });
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
