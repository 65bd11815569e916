/* surecast latency: how far behind live the picture on screen is, glass to glass, and the hls.js options
 * of each latency profile. Self-contained (no other script of ours needed), so any page that plays a
 * surecast stream includes it: the web player, the console's preview, a viewers' page.
 *
 *   SurecastLatency.hlsTuning(profile)          hls.js options for "standard" (the default) or "low-latency"
 *   SurecastLatency.glassToGlass(hls, video)    seconds: now minus the EXT-X-PROGRAM-DATE-TIME of the frame
 *                                               on screen; null until known (no date in the stream, nothing
 *                                               shown yet). hls may be null: the browser's own HLS (Safari)
 *                                               gives the date through video.getStartDate().
 *   SurecastLatency.describe(seconds)           "5.2 s behind live", or "" when unknown
 *   SurecastLatency.watch(hls, video, element)  every second: the figure in element's text and in its
 *                                               data-latency attribute, and in window.surecastLatency;
 *                                               returns { latest(), stop() }
 *
 * The PROGRAM-DATE-TIME is when the encoder captured the segment's first frame, on the encoder's clock; "now"
 * is the viewer's clock. On the venue PC they are one clock; anywhere else the figure is off by the difference
 * between the two clocks (NTP keeps it within tens of milliseconds; a clock set by hand can be seconds off).
 */
(function () {
  "use strict";

  // Latency targets in target durations (hls.js reads each playlist's EXT-X-TARGETDURATION), so a segment
  // length set by hand keeps the same margin. standard: RFC 8216's three target durations from the end.
  // low-latency (1 s segments): two, which still leaves a segment in hand while the next playlist is fetched;
  // more than six behind (a stall, a tab in the background) jumps back to the target.
  // maxLiveSyncPlaybackRate plays faster while behind the target; in hls.js 1.7 that needs its lowLatencyMode,
  // left at its default (on): our playlists have no EXT-X-SERVER-CONTROL and no PART-INF (a static bucket
  // cannot answer blocking reloads), so it loads nothing differently.
  var TUNING = {
    standard: { liveSyncDurationCount: 3, maxLiveSyncPlaybackRate: 1.5 },
    "low-latency": { liveSyncDurationCount: 2, liveMaxLatencyDurationCount: 6, maxLiveSyncPlaybackRate: 1.25 },
  };
  var EVERY_MS = 1000;

  function hlsTuning(profile) {
    var chosen = TUNING[profile] || TUNING.standard;
    var copy = {};
    Object.keys(chosen).forEach(function (k) { copy[k] = chosen[k]; });
    return copy;
  }

  function dateOnScreen(hls, video) {
    if (!video || video.readyState < 2) return null; // HAVE_CURRENT_DATA: a frame is on screen
    if (hls) return hls.playingDate || null;
    if (typeof video.getStartDate === "function") {
      var start = video.getStartDate().getTime();
      return isFinite(start) ? new Date(start + video.currentTime * 1000) : null;
    }
    return null;
  }

  function glassToGlass(hls, video) {
    var date = dateOnScreen(hls, video);
    return date ? (Date.now() - date.getTime()) / 1000 : null;
  }

  function describe(seconds) {
    return seconds === null || seconds === undefined ? "" : seconds.toFixed(1) + " s behind live";
  }

  function watch(hls, video, element) {
    var latest = null;
    function tick() {
      latest = glassToGlass(hls, video);
      window.surecastLatency = latest;
      if (element) {
        element.textContent = describe(latest);
        if (latest === null) delete element.dataset.latency;
        else element.dataset.latency = latest.toFixed(3);
      }
    }
    tick();
    var timer = setInterval(tick, EVERY_MS);
    return {
      latest: function () { return latest; },
      stop: function () { clearInterval(timer); },
    };
  }

  window.SurecastLatency = { hlsTuning: hlsTuning, glassToGlass: glassToGlass, describe: describe, watch: watch };
})();
