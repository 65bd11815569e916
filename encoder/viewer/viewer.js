/* surecast viewers' page: the channel's state in plain words, and the broadcast.
 *
 * The page lives in the bucket beside the channel's master playlist and reads channel.json from the same
 * folder every POLL_MS (the current event, live or ended, and the past ones with their replays); every
 * address is relative, so the page works from the bucket, a CDN or a sub-path, and asks no other host for
 * anything but what the master playlist names (its other destinations, tried by failover.js when this one
 * stops answering).
 *
 * It plays with hls.js (or the browser's own HLS on Apple's browsers) and says what happens: the broadcast
 * starts soon, live, reconnecting (the picture stopped: the uplink is down, the broadcast is safe on the
 * venue's PC and continues), ended with its replay. After a stall longer than LONG_STALL_S it goes back to
 * the live edge. ?delay=SECONDS plays that far behind the live edge instead (at most the live window less
 * three segments) and never jumps: an interruption shorter than the delay is never seen.
 *
 * window.surecastViewer.state() returns what the page shows and has measured (monitoring, browser tests).
 */
(function () {
  "use strict";

  var POLL_MS = 5000; // channel.json
  var RETRY_MS = 3000; // a broadcast announced but not playable yet, or a player that gave up
  var STALL_MS = 1000; // the picture stopped this long: say so
  var LONG_STALL_S = 8; // longer, and the live edge moved on: go back to it (unless delayed)
  var CATCH_UP_MS = 30000; // how long after such a stall the page looks for the live edge to move on
  var TICK_MS = 250;

  var params = new URLSearchParams(window.location.search);
  var askedDelay = Math.max(0, parseFloat(params.get("delay") || "0") || 0);
  var video = document.getElementById("video");
  var notice = document.getElementById("notice");
  var statusEl = document.getElementById("status");
  var badge = document.getElementById("badge");
  var unmuteButton = document.getElementById("unmute");
  var replayButton = document.getElementById("replay");
  var goLiveButton = document.getElementById("golive");
  var pastSection = document.getElementById("past");
  var pastList = document.getElementById("past-list");

  var state = {
    view: "loading", // waiting | starting | live | stalled | ended | replay | unsupported
    message: "",
    event: null,
    engine: null,
    delay: askedDelay,
    playing: null, // the URL being played
    live: false,
    currentTime: 0,
    paused: true,
    behind: null,
    firstFrameMs: null, // from opening the page to the first frame shown
    stalls: 0,
    stalledSeconds: 0,
    longestStallSeconds: 0,
    jumpsToLive: 0,
    errors: [],
    past: 0,
    failover: null,
  };
  var channel = null; // the last channel.json read
  var hls = null;
  var retryTimer = null;
  var choseReplay = null; // the replay the viewer chose (past list or the replay button)
  var waitingForDelay = false;
  var lastTime = -1;
  var lastMoveAt = 0;
  var stalledSince = null;
  var catchUpUntil = 0; // after a long stall: go back to the live edge once it has moved on

  function absolute(relative) { return new URL(relative, window.location.href).href; }

  function note(message) {
    if (state.errors.length >= 20) state.errors.shift();
    state.errors.push(message);
  }

  function show(view, message, overlay) {
    state.view = view;
    state.message = message;
    if (statusEl.textContent !== message) statusEl.textContent = message;
    notice.textContent = overlay || message;
    notice.hidden = view === "live" || view === "replay";
    badge.hidden = view !== "live" && view !== "stalled";
  }

  // The player ---------------------------------------------------------------------------------------------

  function chooseEngine() {
    var native = video.canPlayType("application/vnd.apple.mpegurl") !== "";
    var mse = !!(window.Hls && window.Hls.isSupported());
    // Apple's browsers play HLS themselves (battery, AirPlay); elsewhere hls.js.
    if (native && (/Apple/.test(navigator.vendor || "") || !mse)) return "native";
    return mse ? "hls.js" : null;
  }

  function effectiveDelay() {
    if (!askedDelay) return 0;
    var windowSeconds = channel && channel.live_window_seconds;
    var target = (channel && channel.segment_seconds) || 2;
    return windowSeconds ? Math.min(askedDelay, Math.max(0, windowSeconds - 3 * target)) : askedDelay;
  }

  function hlsConfig(live) {
    var config = { liveSyncDurationCount: 3, maxLiveSyncPlaybackRate: 1.5 };
    var delay = effectiveDelay();
    if (live && delay > 0) {
      // Buffer everything up to the live edge, never speed up, never jump: that is what rides out an outage.
      config = { liveSyncDuration: delay, liveMaxLatencyDuration: Infinity, maxBufferLength: delay + 30,
        maxMaxBufferLength: delay + 60, maxLiveSyncPlaybackRate: 1 };
    }
    if (window.SurecastFailover) {
      var failover = window.SurecastFailover.create(window.Hls, []);
      config.loader = failover.loader;
      state.failover = failover.state;
    }
    return config;
  }

  function stop() {
    clearTimeout(retryTimer);
    if (hls) { hls.destroy(); hls = null; }
    if (state.engine === "native" || video.getAttribute("src")) { video.removeAttribute("src"); video.load(); }
    state.playing = null;
    state.live = false;
    waitingForDelay = false;
    stalledSince = null;
    lastTime = -1;
  }

  function startPlayback() {
    video.play().catch(function (err) {
      if (err && err.name === "NotAllowedError" && !video.muted) {
        // The browser refuses sound without a tap: play muted and offer the sound.
        video.muted = true;
        unmuteButton.hidden = false;
        video.play().catch(function () { /* the controls are there */ });
      }
    });
  }

  function retryLater(url, live) {
    clearTimeout(retryTimer);
    retryTimer = setTimeout(function () {
      if (state.playing === url) play(url, live);
    }, RETRY_MS);
  }

  function play(url, live) {
    stop();
    state.playing = url;
    state.live = live;
    state.engine = chooseEngine();
    if (!state.engine) {
      show("unsupported", "This browser cannot play the broadcast. Please try another browser.");
      return;
    }
    var delay = live ? effectiveDelay() : 0;
    waitingForDelay = delay > 0;
    if (state.engine === "native") {
      video.src = url;
      video.addEventListener("loadedmetadata", function once() {
        video.removeEventListener("loadedmetadata", once);
        if (waitingForDelay && video.seekable.length) {
          video.currentTime = Math.max(0, video.seekable.end(video.seekable.length - 1) - delay);
        }
        waitingForDelay = false;
        startPlayback();
      });
      return;
    }
    var Hls = window.Hls;
    hls = new Hls(hlsConfig(live));
    var mine = hls;
    hls.on(Hls.Events.MANIFEST_PARSED, function () {
      if (!waitingForDelay) startPlayback();
    });
    hls.on(Hls.Events.LEVEL_UPDATED, function (_e, data) {
      var details = data.details;
      if (!waitingForDelay || !details || !details.fragments.length) return;
      var start = details.fragments[0].start;
      var left = start + delay + details.targetduration - details.edge;
      if (left > 0) {
        show("starting", "The broadcast starts soon: it plays " + Math.round(delay) +
          " s behind live, so short interruptions never show.", "The broadcast starts in " + Math.ceil(left) + " s.");
        return;
      }
      waitingForDelay = false;
      video.currentTime = details.edge - delay;
      startPlayback();
    });
    hls.on(Hls.Events.ERROR, function (_e, data) {
      if (!data.fatal) return;
      note(data.type + ": " + data.details + (data.response ? " (HTTP " + data.response.code + ")" : ""));
      if (data.type === Hls.ErrorTypes.MEDIA_ERROR) {
        hls.recoverMediaError();
        return;
      }
      // Not there yet (the event just started) or not answering: try again, from scratch, in a moment.
      if (mine === hls) retryLater(url, live);
    });
    hls.loadSource(url);
    hls.attachMedia(video);
  }

  function jumpToLive() {
    if (hls && hls.liveSyncPosition) video.currentTime = hls.liveSyncPosition;
    else if (video.seekable.length) video.currentTime = video.seekable.end(video.seekable.length - 1) - 6;
    state.jumpsToLive += 1;
  }

  // What the page shows ------------------------------------------------------------------------------------

  function when(iso) {
    return new Date(iso).toLocaleString(undefined, {
      weekday: "long", day: "numeric", month: "long", hour: "2-digit", minute: "2-digit",
    });
  }

  function howLong(seconds) {
    if (!seconds) return "";
    var minutes = Math.round(seconds / 60);
    if (minutes < 60) return minutes + " min";
    return Math.floor(minutes / 60) + " h " + (minutes % 60) + " min";
  }

  function playReplay(entry) {
    choseReplay = entry.replay;
    play(absolute(entry.replay), false);
    show("replay", "Replay of the broadcast of " + when(entry.started_at) + ".");
    renderPast();
    goLiveButton.hidden = !(channel && channel.current && channel.current.state === "live");
    replayButton.hidden = true;
    video.focus();
  }

  var pastShown = "";

  function renderPast() {
    var entries = (channel && channel.past) || [];
    state.past = entries.length;
    var shown = JSON.stringify([entries, choseReplay]);
    if (shown === pastShown) return; // unchanged: keep the list (and a keyboard user's focus in it)
    pastShown = shown;
    pastSection.hidden = entries.length === 0;
    pastList.textContent = "";
    entries.forEach(function (entry) {
      var li = document.createElement("li");
      var button = document.createElement("button");
      button.type = "button";
      var length = howLong(entry.duration);
      button.textContent = when(entry.started_at) + (length ? " · " + length : "");
      button.setAttribute("aria-label", "Watch the replay of " + when(entry.started_at) +
        (length ? ", " + length : ""));
      if (choseReplay === entry.replay) button.setAttribute("aria-current", "true");
      button.addEventListener("click", function () { playReplay(entry); });
      li.appendChild(button);
      pastList.appendChild(li);
    });
  }

  function showEnded(current) {
    if (state.live) stop();
    if (current.replay) {
      show("ended", "The broadcast has ended. You can watch the replay.", "The broadcast has ended.");
      replayButton.hidden = false;
    } else {
      show("ended", "The broadcast has ended. The replay will be here shortly.", "The broadcast has ended.");
      replayButton.hidden = true;
    }
  }

  function update() {
    renderPast();
    var current = channel && channel.current;
    if (choseReplay) {
      // The viewer watches a replay until they go back: offer the live broadcast whenever there is one.
      goLiveButton.hidden = !(current && current.state === "live");
      return;
    }
    if (!current) {
      stop();
      show("waiting", "The broadcast starts soon. This page updates by itself.");
      return;
    }
    state.event = current.event;
    var liveUrl = absolute(current.live);
    if (current.state === "live") {
      replayButton.hidden = true;
      if (state.playing !== liveUrl) {
        play(liveUrl, true);
        show("starting", "The broadcast starts soon. This page updates by itself.");
      } else if (video.ended) {
        showEnded(current); // the stream said so before channel.json did
      }
      return;
    }
    // Ended: a viewer still playing it (behind live, or its last seconds) watches to the end first.
    if (state.playing === liveUrl && !video.ended && state.firstFrameMs !== null && state.view !== "starting") return;
    showEnded(current);
  }

  function poll() {
    fetch("channel.json", { cache: "no-cache" })
      .then(function (response) {
        if (response.status === 404) return null; // nothing published yet: no event so far
        if (!response.ok) throw new Error("HTTP " + response.status);
        return response.json();
      })
      .then(function (doc) { channel = doc; update(); }, function (err) { note("channel.json: " + err); })
      .then(function () { setTimeout(poll, POLL_MS); });
  }

  // The picture: moving, stalled, back -----------------------------------------------------------------------

  function tick() {
    var now = performance.now();
    var t = video.currentTime;
    state.currentTime = t;
    state.paused = video.paused;
    state.behind = hls && state.live && typeof hls.latency === "number" ? hls.latency : null;
    if (t !== lastTime) {
      if (stalledSince !== null) stallEnded(now);
      lastTime = t;
      lastMoveAt = now;
      if (t > 0 && video.readyState >= 2 && state.firstFrameMs === null) state.firstFrameMs = Math.round(now);
      if (t > 0 && !video.paused && (state.view === "starting" || state.view === "stalled" || state.view === "loading")) {
        showPlaying();
      }
      // Playing again after a long stall: the uplink's backlog lands a segment at a time, so the live edge
      // moves on only now; once it is well ahead, go to it.
      if (now < catchUpUntil && movedOn(t)) {
        catchUpUntil = 0;
        jumpToLive();
      }
      return;
    }
    var playing = state.playing && state.firstFrameMs !== null && !video.paused && !video.ended && !video.seeking;
    if (!playing || waitingForDelay) return;
    if (stalledSince === null && now - lastMoveAt > STALL_MS) {
      stalledSince = lastMoveAt;
      state.stalls += 1;
      show("stalled", "Reconnecting: the broadcast is safe and will continue.");
    }
    if (stalledSince !== null) {
      var stalled = (now - stalledSince) / 1000;
      state.longestStallSeconds = Math.max(state.longestStallSeconds, stalled);
      // The live edge moved on while the picture waited: go back to it, unless this viewer asked for a delay.
      if (stalled > LONG_STALL_S && movedOn(t)) jumpToLive();
    }
  }

  // The live edge is more than a long stall ahead of the picture, and this viewer did not ask for a delay.
  function movedOn(t) {
    return state.live && !effectiveDelay() && hls && hls.liveSyncPosition && hls.liveSyncPosition - t > LONG_STALL_S;
  }

  function stallEnded(now) {
    var seconds = (now - stalledSince) / 1000;
    if (seconds > LONG_STALL_S) catchUpUntil = now + CATCH_UP_MS;
    state.stalledSeconds += seconds;
    state.longestStallSeconds = Math.max(state.longestStallSeconds, seconds);
    stalledSince = null;
  }

  function showPlaying() {
    if (!state.live) {
      show("replay", state.message && state.view === "replay" ? state.message : "Replay.");
      return;
    }
    var delay = effectiveDelay();
    show("live", delay ? "Live, " + Math.round(delay) + " s behind." : "Live.");
  }

  video.addEventListener("playing", function () {
    if (state.view === "starting" || state.view === "stalled") showPlaying();
  });
  video.addEventListener("ended", function () {
    if (state.live) update();
  });
  unmuteButton.addEventListener("click", function () {
    video.muted = false;
    unmuteButton.hidden = true;
  });
  replayButton.addEventListener("click", function () {
    var current = channel && channel.current;
    if (current && current.replay) playReplay(current);
  });
  goLiveButton.addEventListener("click", function () {
    choseReplay = null;
    goLiveButton.hidden = true;
    stop();
    update();
    video.focus();
  });

  window.surecastViewer = { state: function () { return state; } };
  show("loading", "Loading…");
  setInterval(tick, TICK_MS);
  poll();
})();
