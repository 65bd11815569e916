/* surecast web player: failover between destinations, under hls.js.
 *
 * A master playlist that names several destinations lists every rendition once per destination (same
 * BANDWIDTH, another URI; PATHWAY-ID names the destination). hls.js plays one destination's renditions;
 * this loader, wrapped around hls.js's own, gives it the others: every request (master, playlist,
 * segment) goes to the first destination that is not resting, and when it fails or times out the same
 * path is asked of the next one at once, so the buffer never drains. A destination that failed rests
 * RETRY_AFTER_MS, then is asked first again: the player comes back to the master's own destination by
 * itself. A live playlist that stops moving (its destination's uploads fail, but it still answers) while
 * another destination's is further along is replaced by that one, and its destination rests.
 *
 * window.SurecastFailover.create(Hls, alternates) returns { loader, state }; alternates are the master
 * playlist's addresses on the other destinations (config.json), tried when the first does not answer.
 */
(function () {
  "use strict";

  var RETRY_AFTER_MS = 10000;
  var FIRST_BYTE_MS = 4000; // how long any but the last destination may keep a request waiting
  var STALE_TARGETS = 3; // a live playlist unchanged this many target durations is "stopped moving"

  function commonSuffix(urls) {
    var parts = urls.map(function (u) { return new URL(u).pathname.split("/"); });
    var suffix = [];
    for (var i = 1; ; i++) {
      var seg = null;
      var same = parts.every(function (p) {
        if (p.length - i < 1) return false;
        var here = p[p.length - i];
        if (seg === null) seg = here;
        return here === seg;
      });
      if (!same) break;
      suffix.unshift(seg);
    }
    return suffix.join("/");
  }

  // The destinations a master names: the base of each (the URL of a rendition minus what is common to
  // all its copies), in the order listed (the master's own first). [] without redundant variants.
  function basesFrom(text, masterUrl) {
    var groups = {};
    var order = [];
    var lines = text.split(/\r?\n/);
    for (var i = 0; i < lines.length; i++) {
      if (lines[i].indexOf("#EXT-X-STREAM-INF:") !== 0) continue;
      var attrs = lines[i].replace(/,?PATHWAY-ID="[^"]*"/, "");
      var uri = (lines[i + 1] || "").trim();
      if (!uri || uri[0] === "#") continue;
      if (!groups[attrs]) { groups[attrs] = []; order.push(attrs); }
      groups[attrs].push(new URL(uri, masterUrl).href);
    }
    var group = order.length ? groups[order[0]] : [];
    if (group.length < 2) return [];
    var suffix = commonSuffix(group);
    if (!suffix) return [];
    return group.map(function (u) { return u.slice(0, u.length - suffix.length); });
  }

  function progress(text) {
    var seq = /#EXT-X-MEDIA-SEQUENCE:(\d+)/.exec(text);
    var count = (text.match(/#EXTINF:/g) || []).length;
    return (seq ? +seq[1] : 0) + count + (/#EXT-X-ENDLIST/.test(text) ? 1e9 : 0);
  }

  function targetMs(text) {
    var t = /#EXT-X-TARGETDURATION:(\d+)/.exec(text);
    return (t ? +t[1] : 2) * 1000;
  }

  function create(Hls, alternates) {
    var Base = Hls.DefaultConfig.loader;
    var state = { bases: [], current: null, resting: {}, switches: [], served: {}, failures: {}, recent: [] };
    var masters = [];
    var seen = {}; // suffix of a live playlist -> { progress, since }

    function now() { return Date.now(); }

    function rests(base) { return (state.resting[base] || 0) > now(); }

    function remember(url, outcome) {
      state.recent.push({ at: new Date().toISOString(), url: url, outcome: outcome });
      if (state.recent.length > 30) state.recent.shift();
    }

    function rest(base, why) {
      if (!base) return;
      state.resting[base] = now() + RETRY_AFTER_MS;
      state.failures[base] = (state.failures[base] || 0) + 1;
      state.lastFailure = base + ": " + why;
    }

    function baseOf(url) {
      for (var i = 0; i < state.bases.length; i++) {
        if (url.indexOf(state.bases[i]) === 0) return state.bases[i];
      }
      return null;
    }

    // Where to ask for url, in order: the destinations not resting (listed order), then the resting ones.
    function candidates(context) {
      if (context.type === "manifest" && masters.indexOf(context.url) === 0) return masters.slice();
      var base = baseOf(context.url);
      if (!base) return [context.url];
      var path = context.url.slice(base.length);
      var fresh = state.bases.filter(function (b) { return !rests(b); });
      var tired = state.bases.filter(function (b) { return rests(b); });
      return fresh.concat(tired).map(function (b) { return b + path; });
    }

    function using(base) {
      if (!base || base === state.current) return;
      if (state.current) state.switches.push({ at: new Date().toISOString(), from: state.current, to: base });
      state.current = base;
    }

    // A request that another destination can take over waits FIRST_BYTE_MS at most for its first byte,
    // and is not retried by the loader itself: the next destination is the retry.
    function quick(loadConfig) {
      if (!loadConfig || !loadConfig.loadPolicy) return loadConfig;
      var policy = Object.assign({}, loadConfig.loadPolicy, {
        maxTimeToFirstByteMs: Math.min(loadConfig.loadPolicy.maxTimeToFirstByteMs || FIRST_BYTE_MS, FIRST_BYTE_MS),
        errorRetry: null,
        timeoutRetry: null,
      });
      return Object.assign({}, loadConfig, { loadPolicy: policy });
    }

    function FailoverLoader(config) {
      this.config = config;
      this.inner = new Base(config);
      this.stats = this.inner.stats;
      this.context = null;
      this.aborted = false;
    }

    FailoverLoader.prototype.destroy = function () {
      this.aborted = true;
      if (this.inner) this.inner.destroy();
      this.inner = null;
    };

    FailoverLoader.prototype.abort = function () {
      this.aborted = true;
      if (this.inner) this.inner.abort();
    };

    FailoverLoader.prototype.load = function (context, loadConfig, callbacks) {
      var self = this;
      var urls = candidates(context);
      if (context.type === "manifest" && masters.length === 0) {
        masters = [context.url].concat(alternates || []);
        urls = masters.slice();
      }
      self.context = context;
      self.aborted = false;

      function settle(url, response, stats, networkDetails) {
        var text = typeof response.data === "string" ? response.data : null;
        if (context.type === "manifest" && text) {
          var bases = basesFrom(text, url);
          if (bases.length) state.bases = bases;
        }
        using(baseOf(url));
        state.served[baseOf(url) || url] = (state.served[baseOf(url) || url] || 0) + 1;
        callbacks.onSuccess(response, stats, context, networkDetails);
      }

      function attempt(index) {
        if (self.aborted) return;
        var url = urls[index];
        var last = index === urls.length - 1;
        var ctx = Object.assign({}, context, { url: url });
        var cfg = last ? loadConfig : quick(loadConfig);
        if (index > 0) {
          if (self.inner) self.inner.destroy();
          self.inner = new Base(self.config);
          self.stats = self.inner.stats;
        }
        function next(why, passOn) {
          remember(url, why);
          rest(baseOf(url), why);
          if (!last && !self.aborted) attempt(index + 1);
          else passOn();
        }
        self.inner.load(ctx, cfg, {
          onSuccess: function (response, stats, _c, networkDetails) {
            var text = typeof response.data === "string" ? response.data : null;
            if (text && context.type === "level" && state.bases.length > 1 && !/#EXT-X-ENDLIST/.test(text)) {
              var key = url.slice((baseOf(url) || "").length);
              var p = progress(text);
              var known = seen[key];
              if (!known || p > known.progress) {
                seen[key] = { progress: p, since: now() };
              } else if (!last && now() - known.since > STALE_TARGETS * targetMs(text)) {
                rest(baseOf(url), "its live playlist stopped moving");
                attempt(index + 1);
                return;
              }
            }
            settle(url, response, stats, networkDetails);
          },
          onError: function (error, _c, networkDetails, stats) {
            next("HTTP " + error.code + " " + (error.text || ""), function () {
              callbacks.onError(error, context, networkDetails, stats);
            });
          },
          onTimeout: function (stats, _c, networkDetails) {
            next("timed out", function () { callbacks.onTimeout(stats, context, networkDetails); });
          },
          onProgress: callbacks.onProgress
            ? function (stats, _c, data, networkDetails) { callbacks.onProgress(stats, context, data, networkDetails); }
            : undefined,
        });
      }

      attempt(0);
    };

    return { loader: FailoverLoader, state: state };
  }

  window.SurecastFailover = { create: create, basesFrom: basesFrom };
})();
