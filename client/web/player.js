/* surecast web player: hls.js over Media Source Extensions, or the browser's own HLS (Safari, iOS).
 *
 * The page plays ?src=URL, else the "src" of config.json (written by `surecast player` or
 * `surecast play --output serve`). It shows whether it is at the live edge or catching up and how far
 * behind live the picture is (glass to glass, latency.js: now minus the EXT-X-PROGRAM-DATE-TIME of the
 * frame on screen; without dates in the stream, the distance to the playlist's end), lists the renditions
 * (click one to pin it; Auto lets hls.js choose), and lists errors.
 * ?engine=hlsjs|native forces a playback engine. ?profile=standard|low-latency tunes hls.js for the
 * stream's latency profile (default: config.json's "profile", which `surecast player` takes from
 * SURECAST_ENCODER_PROFILE). ?buffer=SECONDS plays that far behind the live edge instead, so an outage
 * that short never stalls the picture. ?report=URL posts the
 * state as JSON every second (monitoring, and the headless browser test); window.surecastPlayer.state()
 * returns the same object. Where the master names several destinations, failover.js moves each request
 * to the next one that answers (state.failover shows which one plays).
 */
(function () {
  "use strict";

  var params = new URLSearchParams(window.location.search);
  var video = document.getElementById("video");
  var badge = document.getElementById("badge");
  var behindEl = document.getElementById("behind");
  var goLive = document.getElementById("golive");
  var engineEl = document.getElementById("engine");
  var renditionsEl = document.getElementById("renditions");
  var problemsEl = document.getElementById("problems");
  var errorsEl = document.getElementById("errors");
  var titleEl = document.getElementById("title");
  var MAX_ERRORS = 20;

  var state = {
    src: null,
    engine: null,
    status: "loading",
    live: null,
    ended: false,
    behind: null, // seconds between the picture and the end of the playlist
    latency: null, // seconds between the picture and now, glass to glass (null without PROGRAM-DATE-TIME)
    profile: "standard",
    targetLatency: null,
    currentTime: 0,
    paused: true,
    readyState: 0,
    levels: [],
    currentLevel: -1,
    autoLevel: true,
    fatalErrors: [],
    errors: [],
    failover: null,
    stalls: 0, // times the picture waited for data once playing
  };
  var alternates = [];
  var hls = null;
  var wasLive = false;

  function note(list, message) {
    if (list.length < MAX_ERRORS) list.push(message);
    problemsEl.hidden = false;
    var li = document.createElement("li");
    li.textContent = message;
    errorsEl.appendChild(li);
  }

  function loadConfig() {
    var src = params.get("src");
    if (src) return Promise.resolve({ src: src, alternates: params.getAll("alt") });
    return fetch("config.json", { cache: "no-store" })
      .then(function (r) { return r.ok ? r.json() : {}; })
      .catch(function () { return {}; });
  }

  function chooseEngine() {
    var forced = params.get("engine");
    var native = video.canPlayType("application/vnd.apple.mpegurl") !== "";
    var mse = !!(window.Hls && window.Hls.isSupported());
    if (forced === "native") return native ? "native" : null;
    if (forced === "hlsjs") return mse ? "hls.js" : null;
    // Apple's browsers play HLS themselves (battery, AirPlay, their own adaptation); elsewhere hls.js.
    var apple = /Apple/.test(navigator.vendor || "");
    if (native && (apple || !mse)) return "native";
    if (mse) return "hls.js";
    return null;
  }

  function describeLevel(level) {
    var size = level.height ? level.height + "p" : level.name || "?";
    return size + " " + Math.round((level.bitrate || 0) / 1000) + " kbit/s";
  }

  function renderLevels() {
    renditionsEl.textContent = "";
    if (!state.levels.length) {
      renditionsEl.innerHTML = '<li class="muted">one rendition</li>';
      return;
    }
    var items = [{ index: -1, label: "Auto" }].concat(
      state.levels.map(function (l, i) { return { index: i, label: l.label }; })
    );
    items.forEach(function (item) {
      var li = document.createElement("li");
      var button = document.createElement("button");
      button.type = "button";
      button.textContent = item.label;
      if (item.index === state.currentLevel) button.classList.add("current");
      if ((item.index === -1 && state.autoLevel) || (!state.autoLevel && item.index === state.currentLevel)) {
        button.classList.add("chosen");
      }
      button.disabled = !hls;
      button.addEventListener("click", function () {
        if (!hls) return;
        hls.currentLevel = item.index;
        state.autoLevel = item.index === -1;
        renderLevels();
      });
      li.appendChild(button);
      renditionsEl.appendChild(li);
    });
  }

  function hlsConfig() {
    var config = window.SurecastLatency.hlsTuning(state.profile);
    var buffer = parseFloat(params.get("buffer") || "");
    if (buffer > 0) {
      config = { liveSyncDuration: buffer, liveMaxLatencyDuration: buffer * 3, maxBufferLength: buffer * 2,
        maxLiveSyncPlaybackRate: 1.5 };
    }
    if (window.SurecastFailover) {
      var failover = window.SurecastFailover.create(window.Hls, alternates);
      config.loader = failover.loader;
      state.failover = failover.state;
    }
    return config;
  }

  function startHlsJs(src) {
    hls = new window.Hls(hlsConfig());
    hls.on(window.Hls.Events.MANIFEST_PARSED, function (_event, data) {
      state.levels = data.levels.map(function (l) {
        return { label: describeLevel(l), height: l.height || null, bitrate: l.bitrate || 0 };
      });
      renderLevels();
      video.play().catch(function () { /* autoplay refused: the controls are there */ });
    });
    hls.on(window.Hls.Events.LEVEL_SWITCHED, function (_event, data) {
      state.currentLevel = data.level;
      renderLevels();
    });
    hls.on(window.Hls.Events.LEVEL_LOADED, function (_event, data) {
      state.live = data.details.live;
      if (data.details.live) wasLive = true;
      state.ended = wasLive && !data.details.live;
    });
    hls.on(window.Hls.Events.ERROR, function (_event, data) {
      var message = data.type + ": " + data.details + (data.response ? " (HTTP " + data.response.code + ")" : "");
      if (!data.fatal) {
        if (state.errors.length < MAX_ERRORS) state.errors.push(message);
        return;
      }
      note(state.fatalErrors, "fatal " + message);
      if (data.type === window.Hls.ErrorTypes.NETWORK_ERROR) {
        hls.startLoad();
      } else if (data.type === window.Hls.ErrorTypes.MEDIA_ERROR) {
        hls.recoverMediaError();
      }
    });
    hls.loadSource(src);
    hls.attachMedia(video);
  }

  function startNative(src) {
    video.src = src;
    video.addEventListener("loadedmetadata", function () {
      state.live = video.duration === Infinity;
      wasLive = wasLive || state.live;
      video.play().catch(function () { /* autoplay refused */ });
    });
    video.addEventListener("error", function () {
      var err = video.error;
      note(state.fatalErrors, "fatal media error " + (err ? err.code + " " + (err.message || "") : ""));
    });
    // The browser does not list renditions: read them from the master playlist, for display only.
    fetch(src, { cache: "no-store" })
      .then(function (r) { return r.text(); })
      .then(function (text) {
        var lines = text.split(/\r?\n/);
        lines.forEach(function (line) {
          if (line.indexOf("#EXT-X-STREAM-INF:") !== 0) return;
          var res = /RESOLUTION=\d+x(\d+)/.exec(line);
          var bw = /BANDWIDTH=(\d+)/.exec(line);
          state.levels.push({
            label: describeLevel({ height: res ? +res[1] : 0, bitrate: bw ? +bw[1] : 0 }),
            height: res ? +res[1] : null,
            bitrate: bw ? +bw[1] : 0,
          });
        });
        renderLevels();
      })
      .catch(function () { /* the video element reports its own errors */ });
  }

  function liveEdgeDistance() {
    if (hls) {
      if (typeof hls.latency === "number" && hls.latency > 0) return hls.latency;
      var details = hls.levels && hls.currentLevel >= 0 && hls.levels[hls.currentLevel]
        ? hls.levels[hls.currentLevel].details : null;
      return details ? Math.max(0, details.edge - video.currentTime) : null;
    }
    if (video.seekable.length) return Math.max(0, video.seekable.end(video.seekable.length - 1) - video.currentTime);
    return null;
  }

  function refresh() {
    state.currentTime = video.currentTime;
    state.paused = video.paused;
    state.readyState = video.readyState;
    state.behind = state.live ? liveEdgeDistance() : null;
    state.latency = state.live ? window.SurecastLatency.glassToGlass(hls, video) : null;
    window.surecastLatency = state.latency;
    state.targetLatency = hls && hls.targetLatency ? hls.targetLatency : null;
    var status;
    if (state.fatalErrors.length && video.error) status = "error";
    else if (state.live === null) status = "loading";
    else if (!state.live) status = state.ended ? "ended" : "vod";
    else {
      // Within one segment or so of the target latency counts as live; more is catching up.
      var slack = (state.targetLatency || 6) + 4;
      status = state.behind !== null && state.behind > slack ? "catching-up" : "live";
    }
    state.status = status;
    badge.className = "badge " + status;
    badge.textContent = status.replace("-", " ").toUpperCase();
    var shown = state.latency !== null ? state.latency : state.behind;
    behindEl.textContent = state.live ? window.SurecastLatency.describe(shown) : "";
    if (state.latency === null) delete behindEl.dataset.latency;
    else behindEl.dataset.latency = state.latency.toFixed(3);
    goLive.hidden = status !== "catching-up";
  }

  goLive.addEventListener("click", function () {
    if (hls && hls.liveSyncPosition) video.currentTime = hls.liveSyncPosition;
    else if (video.seekable.length) video.currentTime = video.seekable.end(video.seekable.length - 1) - 6;
  });

  function report(url) {
    setInterval(function () {
      fetch(url, { method: "POST", mode: "no-cors", body: JSON.stringify(state) }).catch(function () {});
    }, 1000);
  }

  video.addEventListener("waiting", function () {
    if (video.currentTime > 0 && !video.seeking) state.stalls += 1;
  });

  window.surecastPlayer = { state: function () { return state; } };

  loadConfig().then(function (config) {
    state.src = config.src || null;
    state.profile = params.get("profile") || config.profile || "standard";
    alternates = config.alternates || [];
    titleEl.textContent = config.title || state.src || "";
    if (!state.src) {
      note(state.fatalErrors, "no stream: add ?src=URL, or start surecast player --stream URL");
      refresh();
      return;
    }
    state.engine = chooseEngine();
    engineEl.textContent = state.engine ? "engine: " + state.engine : "";
    if (state.engine === "hls.js") startHlsJs(state.src);
    else if (state.engine === "native") startNative(state.src);
    else note(state.fatalErrors, "this browser plays neither HLS nor Media Source Extensions");
    setInterval(refresh, 500);
    var reportUrl = params.get("report");
    if (reportUrl) report(reportUrl);
  });
})();
