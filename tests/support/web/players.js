// The conformance tests' page: plays ?src= with ?engine=shaka or ?engine=hls.js (at ?rate=, 1 by default)
// and keeps what happened on window.probe, which the test reads over the DevTools protocol.
(function () {
  "use strict";
  const params = new URLSearchParams(location.search);
  const engine = params.get("engine");
  const src = params.get("src");
  const rate = Number(params.get("rate") || "1");
  const video = document.getElementById("video");
  const probe = { engine: engine, version: null, loaded: false, ended: false, errors: [], warnings: [] };
  let engineState = function () { return {}; };
  window.probe = probe;

  probe.state = function () {
    return Object.assign({
      currentTime: video.currentTime,
      duration: video.duration,
      paused: video.paused,
      ended: probe.ended,
      loaded: probe.loaded,
      errors: probe.errors,
      warnings: probe.warnings,
      version: probe.version,
    }, engineState());
  };

  video.addEventListener("ended", function () { probe.ended = true; });
  video.addEventListener("error", function () {
    probe.errors.push("video element: " + (video.error ? video.error.code + " " + video.error.message : "?"));
  });

  function play() {
    probe.loaded = true;
    video.playbackRate = rate;
    video.play().catch(function (e) { probe.errors.push("play(): " + e.message); });
  }

  function shakaError(error) {
    return "shaka error " + error.code + " (severity " + error.severity + ", category " + error.category + "): " +
      JSON.stringify(error.data || []).slice(0, 300);
  }

  if (engine === "shaka") {
    shaka.polyfill.installAll();
    probe.version = shaka.Player.version;
    if (!shaka.Player.isBrowserSupported()) {
      probe.errors.push("Shaka Player: this browser is not supported");
      return;
    }
    const player = new shaka.Player();
    player.addEventListener("error", function (event) { probe.errors.push(shakaError(event.detail)); });
    engineState = function () {
      const date = player.getPlayheadTimeAsDate();
      const track = player.getVariantTracks().find(function (t) { return t.active; });
      return {
        live: player.isLive(),
        playingDate: date ? date.getTime() : null,
        height: track ? track.height : null,
        stalls: player.getStats().stallsDetected,
      };
    };
    player.attach(video)
      .then(function () { return player.load(src); })
      .then(play)
      .catch(function (error) { probe.errors.push(shakaError(error)); });
  } else if (engine === "hls.js") {
    probe.version = Hls.version;
    const hls = new Hls();
    hls.on(Hls.Events.ERROR, function (_, data) {
      (data.fatal ? probe.errors : probe.warnings).push("hls.js " + data.type + ": " + data.details);
    });
    hls.on(Hls.Events.MANIFEST_PARSED, play);
    engineState = function () {
      const level = hls.levels[hls.currentLevel];
      return {
        live: level && level.details ? level.details.live : null,
        playingDate: hls.playingDate ? hls.playingDate.getTime() : null,
        height: level ? level.height : null,
      };
    };
    hls.loadSource(src);
    hls.attachMedia(video);
  } else {
    probe.errors.push("no such engine: " + engine);
  }
})();
