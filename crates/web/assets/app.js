// atiende console: small progressive enhancements. Every page works without this script.
(function () {
  "use strict";

  // Bandeja: new incidents appear without reloading (server-sent events).
  var table = document.querySelector("table.queue[data-latest]");
  if (table && window.EventSource) {
    var latest = parseInt(table.getAttribute("data-latest"), 10) || 0;
    var source = new EventSource("/eventos");
    source.addEventListener("incidents", function (event) {
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
    });
  }

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
