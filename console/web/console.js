/* surecast console: one tab for the volunteer. Polls the console's JSON every second (status) and every
 * two seconds (history), plays the channel's preview with hls.js (tuned for the stream's latency profile,
 * and showing how far behind live it plays: latency.js), plots the last 30 minutes with uPlot,
 * and sends the two actions (retry failed files, finish the event) with the X-Surecast header the server
 * requires of every action.
 *
 * Requests go to location.origin, never to a relative URL: a page opened as http://user:pass@host/ would
 * otherwise hand fetch() a URL with credentials in it, which browsers refuse.
 * window.surecastConsole.state() returns what the page shows (monitoring, and the headless browser test).
 */
(function () {
  "use strict";

  var base = window.location.origin + "/";
  var $ = function (id) { return document.getElementById(id); };
  var video = $("preview");
  var MB = 1e6;

  var view = {
    label: "STARTING", detail: "", level: "idle", statusAt: null, status: null, error: null,
    preview: { engine: null, status: "starting", errors: 0, fatal: 0 },
    points: 0, failures: [], event: null, actions: [], refused: null,
  };
  var config = null;
  var hls = null;
  var latency = null;          // latency.js's watch of the preview
  var history = [];            // points, oldest first
  var lastT = null;
  var charts = { rate: null, lag: null, backlog: null };
  var lagNames = "";

  function api(path, options) {
    var opts = options || {};
    opts.cache = "no-store";
    opts.credentials = "same-origin";
    return fetch(base + path, opts).then(function (r) {
      return r.json().catch(function () { return {}; }).then(function (body) {
        if (!r.ok) throw new Error(body.error || ("HTTP " + r.status));
        return body;
      });
    });
  }

  function post(path, body) {
    return api(path, {
      method: "POST",
      headers: { "Content-Type": "application/json", "X-Surecast": "1" },
      body: JSON.stringify(body),
    });
  }

  // Formatting ------------------------------------------------------------------------------------------

  function clock(epoch) {
    return new Date(epoch * 1000).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
  }
  function mbit(bytesPerSecond) {
    return bytesPerSecond == null ? "–" : (bytesPerSecond * 8 / 1e6).toFixed(1) + " Mbit/s";
  }
  function size(bytes) {
    if (bytes == null) return "–";
    if (bytes >= 1e9) return (bytes / 1e9).toFixed(1) + " GB";
    return (bytes / MB).toFixed(bytes >= 10 * MB ? 0 : 1) + " MB";
  }
  function text(id, value) { $(id).textContent = value; }

  // Status ----------------------------------------------------------------------------------------------

  function renderState(state, note) {
    view.label = state.label;
    view.detail = state.detail;
    view.level = state.level;
    text("label", state.label);
    text("detail", state.detail);
    text("note", note || "");
    $("state").className = "state " + state.level;
    document.title = state.label + " · surecast console";
  }

  function renderStatus(s) {
    view.status = s;
    view.statusAt = Date.now();
    var age = s.served_at - s.now;
    renderState(s.state, age > 10 ? "figures " + Math.round(age) + " s old: the console's sampler is stuck" : "");
    text("channel", "channel " + (s.channel || ""));
    var ev = s.event;
    view.event = ev;
    if (ev) {
      text("event", "event " + ev.id + " (" + ev.state + "), started " + clock(ev.started_at) +
        (ev.finish_requested_at ? ", finishing" : ""));
    } else {
      text("event", "no event");
    }
    var finishable = ev && (ev.state === "live" || ev.state === "paused") && !ev.finish_requested_at;
    $("finish").hidden = !finishable;

    text("t-upload", mbit(s.upload_rate));
    text("t-stream", "stream " + mbit(s.stream_rate));
    text("t-backlog", s.waiting_files + (s.waiting_files === 1 ? " file" : " files"));
    text("t-queue", size(s.waiting_bytes) + (s.queue_depth == null ? ", Redis unreachable" : ", " + s.queue_depth + " in Redis"));
    text("t-disk", size(s.disk_free_bytes) + " free");
    text("t-hours", s.hours_left == null ? "" : "about " + s.hours_left.toFixed(1) + " h of recording left");
    if (s.workers == null) {
      text("t-workers", "?");
      text("t-processes", "not known yet");
    } else {
      var names = Object.keys(s.workers);
      var processes = names.reduce(function (n, k) { return n + s.workers[k]; }, 0);
      text("t-workers", names.length + " online");
      text("t-processes", processes + " upload processes");
    }
    var enc = s.encoder;
    text("t-ffmpeg", !enc ? "not started" : s.ffmpeg_running ? "running" : enc.state === "stopped" ? "stopped" : "not running");
    text("t-restarts", enc ? (s.ffmpeg_restarts || 0) + " restarts" : "");
    renderFailures(s.failures || []);
    renderDestinations(s.destination_lines || []);
    // Pushes refused for a wrong stream key: someone else on the venue's network, or OBS with a wrong key.
    view.refused = s.refused_pushes_line || null;
    $("ingest").hidden = !view.refused;
    text("ingest", view.refused || "");
  }

  // Each destination in a word and a line, where there are several (SURECAST_BACKUPS).
  function renderDestinations(lines) {
    $("destinations").hidden = lines.length < 2;
    var list = $("destination-list");
    list.textContent = "";
    lines.forEach(function (d) {
      var li = document.createElement("li");
      li.className = "destination " + (d.state === "LIVE" ? "ok" : d.state === "CATCHING UP" ? "warn" : "alert");
      li.dataset.name = d.name;
      li.dataset.state = d.state;
      li.textContent = d.name + " (" + d.bucket + "): " + d.state + " — " + d.detail;
      list.appendChild(li);
    });
  }

  function renderFailures(groups) {
    view.failures = groups;
    var list = $("failure-list");
    $("failures").hidden = groups.length === 0;
    var shown = Array.prototype.map.call(list.children, function (li) { return li.dataset.key; }).join("\n");
    var wanted = groups.map(function (g) { return g.reason + "\t" + g.files; }).join("\n");
    if (shown === wanted) return;
    list.textContent = "";
    groups.forEach(function (g) {
      var li = document.createElement("li");
      li.dataset.key = g.reason + "\t" + g.files;
      li.dataset.reason = g.reason;
      var reason = document.createElement("span");
      reason.className = "reason";
      reason.textContent = g.files + (g.files === 1 ? " file: " : " files: ") + g.reason + " (e.g. " + g.example + ")";
      var button = document.createElement("button");
      button.type = "button";
      button.textContent = "retry now";
      button.addEventListener("click", function () { retry(g.reason, button); });
      li.appendChild(reason);
      li.appendChild(button);
      list.appendChild(li);
    });
  }

  function retry(reason, button) {
    button.disabled = true;
    post("api/retry", { reason: reason }).then(function (r) {
      view.actions.push({ action: "retry", reason: reason, result: r });
      text("action-result", r.requeued + " file(s) re-queued, " + r.published + " sent to the workers");
    }).catch(function (e) {
      view.actions.push({ action: "retry", reason: reason, error: String(e) });
      text("action-result", "retry failed: " + e.message);
      button.disabled = false;
    });
  }

  function finishEvent() {
    var ev = view.event;
    if (!ev) return;
    var question = "Finish event " + ev.id + " now?\n\nRecording stops, the last segments and the archive are " +
      "uploaded, and viewers see the stream end.";
    if (!window.confirm(question)) return;
    $("finish").disabled = true;
    post("api/finish", { event: ev.id }).then(function (r) {
      view.actions.push({ action: "finish", event: ev.id, result: r });
    }).catch(function (e) {
      view.actions.push({ action: "finish", event: ev.id, error: String(e) });
      window.alert("The event could not be finished: " + e.message);
    }).then(function () { $("finish").disabled = false; });
  }

  function pollStatus() {
    api("api/status").then(function (s) {
      view.error = null;
      renderStatus(s);
    }).catch(function (e) {
      view.error = String(e);
      renderState({ label: "NO CONTACT", detail: "the console does not answer: is `surecast console` running?", level: "alert" },
        String(e));
    }).then(function () {
      setTimeout(pollStatus, (config ? config.status_refresh_seconds : 1) * 1000);
    });
  }

  // History and plots -----------------------------------------------------------------------------------

  function pollHistory() {
    api("api/history" + (lastT == null ? "" : "?since=" + lastT)).then(function (h) {
      if (h.points.length) {
        history = history.concat(h.points);
        lastT = history[history.length - 1].t;
        var cutoff = lastT - (config ? config.history_seconds : 1800);
        while (history.length && history[0].t < cutoff) history.shift();
        view.points = history.length;
        drawCharts();
      }
    }).catch(function (e) {
      view.error = String(e);
    }).then(function () {
      setTimeout(pollHistory, (config ? config.history_refresh_seconds : 2) * 1000);
    });
  }

  var AXIS = { stroke: "#9aa3ad", grid: { stroke: "#333a42" }, ticks: { stroke: "#333a42" } };

  function makeChart(id, series, data) {
    var el = $(id);
    el.textContent = "";
    var opts = {
      width: Math.max(300, el.clientWidth),
      height: 200,
      series: [{}].concat(series),
      axes: [AXIS, AXIS],
      scales: { x: { time: true } },
      legend: { show: true },
      cursor: { drag: { x: false, y: false } },
    };
    return new uPlot(opts, data, el);
  }

  var COLOURS = ["#8ab4f8", "#f28b82", "#fdd663", "#81c995", "#c58af9", "#78d9ec"];

  function column(key, scale) {
    return history.map(function (p) { return p[key] == null ? null : p[key] * scale; });
  }

  function drawCharts() {
    var xs = history.map(function (p) { return p.t; });
    var rate = [xs, column("upload_rate", 8 / 1e6), column("stream_rate", 8 / 1e6)];
    if (!charts.rate) {
      charts.rate = makeChart("chart-rate", [
        { label: "upload", stroke: COLOURS[0], width: 2 },
        { label: "stream", stroke: COLOURS[1], width: 2, dash: [6, 4] },
      ], rate);
    } else {
      charts.rate.setData(rate);
    }
    var names = {};
    history.forEach(function (p) { Object.keys(p.lag || {}).forEach(function (n) { names[n] = true; }); });
    var renditions = Object.keys(names).sort();
    var lag = [xs].concat(renditions.map(function (n) {
      return history.map(function (p) { return p.lag && n in p.lag ? p.lag[n] : null; });
    }));
    if (renditions.join(",") !== lagNames || !charts.lag) {
      if (charts.lag) charts.lag.destroy();
      lagNames = renditions.join(",");
      charts.lag = makeChart("chart-lag", renditions.map(function (n, i) {
        return { label: n, stroke: COLOURS[i % COLOURS.length], width: 2 };
      }), lag);
    } else {
      charts.lag.setData(lag);
    }
    var backlog = [xs, column("backlog_bytes", 1 / MB)];
    if (!charts.backlog) {
      charts.backlog = makeChart("chart-backlog", [{ label: "backlog", stroke: COLOURS[2], width: 2, fill: "rgba(253,214,99,0.15)" }], backlog);
    } else {
      charts.backlog.setData(backlog);
    }
  }

  window.addEventListener("resize", function () {
    Object.keys(charts).forEach(function (k) {
      var c = charts[k];
      if (c) c.setSize({ width: Math.max(300, c.root.parentNode.clientWidth), height: 200 });
    });
  });

  // Preview ---------------------------------------------------------------------------------------------

  function previewStatus(status) {
    view.preview.status = status;
    text("preview-status", "preview: " + status + (config ? " (" + config.stream_url + ")" : ""));
  }

  function startPreview() {
    var url = config.stream_url;
    if (window.Hls && window.Hls.isSupported()) {
      view.preview.engine = "hls.js";
      var options = window.SurecastLatency.hlsTuning(config.profile);
      options.enableWorker = true;
      hls = new window.Hls(options);
      hls.on(window.Hls.Events.MANIFEST_PARSED, function () {
        previewStatus("playing");
        video.play().catch(function () { previewStatus("press play"); });
      });
      hls.on(window.Hls.Events.ERROR, function (event, data) {
        view.preview.errors += 1;
        if (!data.fatal) return;
        view.preview.fatal += 1;
        if (data.type === window.Hls.ErrorTypes.MEDIA_ERROR) {
          hls.recoverMediaError();
          return;
        }
        // The channel's master is not in the bucket yet, or the bucket is out of reach: start again soon.
        previewStatus("waiting for the stream (" + data.details + ")");
        if (latency) latency.stop();
        latency = null;
        hls.destroy();
        hls = null;
        setTimeout(startPreview, 3000);
      });
      hls.loadSource(url);
      hls.attachMedia(video);
      latency = window.SurecastLatency.watch(hls, video, $("preview-latency"));
    } else if (video.canPlayType("application/vnd.apple.mpegurl")) {
      view.preview.engine = "native";
      video.src = url;
      video.play().catch(function () { previewStatus("press play"); });
      latency = window.SurecastLatency.watch(null, video, $("preview-latency"));
    } else {
      previewStatus("this browser cannot play HLS");
    }
  }

  video.addEventListener("playing", function () { previewStatus("playing"); });
  video.addEventListener("waiting", function () { previewStatus("buffering"); });

  // Start -----------------------------------------------------------------------------------------------

  $("finish").addEventListener("click", finishEvent);

  window.surecastConsole = {
    state: function () {
      return {
        label: view.label, detail: view.detail, level: view.level, error: view.error,
        statusAgeMs: view.statusAt == null ? null : Date.now() - view.statusAt,
        preview: {
          engine: view.preview.engine, status: view.preview.status, errors: view.preview.errors,
          fatal: view.preview.fatal, currentTime: video.currentTime, paused: video.paused,
          latency: latency ? latency.latest() : null, profile: config ? config.profile : null,
        },
        points: view.points, failures: view.failures, event: view.event, actions: view.actions,
        charts: Object.keys(charts).filter(function (k) { return charts[k]; }),
      };
    },
  };

  api("api/config").then(function (c) {
    config = c;
    if (c.version) text("version", "surecast " + c.version);
    startPreview();
  }).catch(function (e) {
    view.error = String(e);
    previewStatus("no configuration: " + e.message);
  });
  pollStatus();
  pollHistory();
})();
