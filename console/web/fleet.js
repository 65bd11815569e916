// The fleet page: /api/fleet every 2 s, one row per venue. No framework, no outside resources.
(function () {
  "use strict";
  var REFRESH_MS = 2000;
  var latest = null;

  function cell(text, className) {
    var td = document.createElement("td");
    if (className) td.className = className;
    td.textContent = text;
    return td;
  }

  function clock(epoch) {
    if (!epoch) return "–";
    var d = new Date(epoch * 1000);
    return ("0" + d.getHours()).slice(-2) + ":" + ("0" + d.getMinutes()).slice(-2) + ":" + ("0" + d.getSeconds()).slice(-2);
  }

  function mb(bytes) { return bytes == null ? "–" : (bytes / 1e6).toFixed(0) + " MB"; }

  function row(v) {
    var tr = document.createElement("tr");
    tr.dataset.venue = v.venue;
    var name = cell(v.venue);
    if (v.channel) { var ch = document.createElement("div"); ch.className = "muted"; ch.textContent = "channel " + v.channel; name.appendChild(ch); }
    tr.appendChild(name);
    var state = document.createElement("td");
    var label = document.createElement("span");
    label.className = "label " + (v.state.level || "idle");
    label.textContent = v.state.label;
    var detail = document.createElement("div");
    detail.className = "detail";
    detail.textContent = v.state.detail || "";
    state.appendChild(label);
    state.appendChild(detail);
    tr.appendChild(state);
    tr.appendChild(cell(v.alive && v.lag_seconds != null ? v.lag_seconds.toFixed(1) + " s" : "–"));
    tr.appendChild(cell(v.backlog_files == null ? "–" : v.backlog_files + " files, " + mb(v.backlog_bytes)));
    tr.appendChild(cell(clock(v.last_segment_at)));
    tr.appendChild(cell(v.hours_left == null ? "–" : v.hours_left.toFixed(1) + " h"));
    tr.appendChild(cell(v.workers == null ? "–" : String(v.workers)));
    var link = document.createElement("td");
    if (v.viewers_url) {
      var a = document.createElement("a");
      a.href = v.viewers_url;
      a.rel = "noreferrer";
      a.textContent = "watch";
      link.appendChild(a);
    } else link.textContent = "–";
    tr.appendChild(link);
    return tr;
  }

  function render(data) {
    latest = data;
    var body = document.getElementById("venues");
    body.textContent = "";
    var venues = data.venues || [];
    venues.forEach(function (v) { body.appendChild(row(v)); });
    var offline = venues.filter(function (v) { return v.state.label === "OFFLINE"; }).length;
    document.getElementById("summary").textContent =
      venues.length + " venue" + (venues.length === 1 ? "" : "s") + (offline ? ", " + offline + " OFFLINE" : "") +
      " — updated " + clock(data.now);
    var alerts = data.alerts || {};
    document.getElementById("alerts").textContent = (alerts.targets || []).length
      ? "alerts to " + alerts.targets.length + " target(s)" + (alerts.waiting ? ", " + alerts.waiting + " waiting to be sent" : "")
      : "no alert targets (SURECAST_ALERTS)";
    var problem = document.getElementById("problem");
    problem.hidden = !data.redis;
    problem.textContent = data.redis || "";
  }

  function refresh() {
    fetch("api/fleet", { cache: "no-store", credentials: "same-origin" })
      .then(function (r) { if (!r.ok) throw new Error("HTTP " + r.status); return r.json(); })
      .then(render)
      .catch(function (e) { document.getElementById("summary").textContent = "the fleet page cannot be reached: " + e.message; })
      .then(function () { setTimeout(refresh, REFRESH_MS); });
  }

  window.surecastFleet = { latest: function () { return latest; } };
  refresh();
})();
