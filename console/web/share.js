/* surecast console: the share box. The viewers' link (the page the encoder keeps in the bucket), the snippet
 * that embeds it in the church's website, and a QR code of the link (share-qr.svg), each with a copy
 * button. window.surecastShare.state() says what was shown and copied (for the browser test). */
(function () {
  "use strict";

  var state = { url: null, iframe: null, copied: [], others: 0 };

  function copy(text) {
    if (navigator.clipboard && window.isSecureContext) {
      return navigator.clipboard.writeText(text).catch(function () { return copyBySelection(text); });
    }
    return copyBySelection(text); // plain http beyond this PC: no clipboard API there
  }

  // The old way (select, then the copy command): it needs no secure context and no permission.
  function copyBySelection(text) {
    return new Promise(function (resolve, reject) {
      var area = document.createElement("textarea");
      area.value = text;
      area.setAttribute("readonly", "");
      area.style.position = "fixed";
      area.style.opacity = "0";
      document.body.appendChild(area);
      area.select();
      var done = document.execCommand("copy");
      document.body.removeChild(area);
      if (done) resolve(); else reject(new Error("the browser refused to copy"));
    });
  }

  function show(share) {
    var section = document.getElementById("share");
    if (!share || !share.url) return;
    state.url = share.url;
    state.iframe = share.iframe;
    document.getElementById("share-url").value = share.url;
    document.getElementById("share-iframe").value = share.iframe;
    var others = document.getElementById("share-others");
    (share.others || []).forEach(function (other) {
      var li = document.createElement("li");
      li.textContent = "If the main destination is down, the same page on " + other.destination + ": " + other.url;
      others.appendChild(li);
    });
    state.others = (share.others || []).length;
    section.hidden = false;
    Array.prototype.forEach.call(section.querySelectorAll("button[data-copy]"), function (button) {
      button.addEventListener("click", function () {
        var field = document.getElementById(button.getAttribute("data-copy"));
        var result = document.getElementById("share-result");
        copy(field.value).then(function () {
          state.copied.push(field.id);
          result.textContent = "Copied: paste it where viewers will find it.";
        }, function (err) {
          field.select();
          result.textContent = "Could not copy (" + err.message + "): it is selected, press Ctrl+C.";
        });
      });
    });
  }

  window.surecastShare = { state: function () { return state; } };
  // location.origin, not a relative URL: opened as http://user:pass@host/, the page would hand fetch() a URL
  // with credentials in it, which browsers refuse (as console.js says).
  fetch(window.location.origin + "/api/config", { cache: "no-store" })
    .then(function (r) { return r.ok ? r.json() : {}; })
    .then(function (config) { show(config.share); })
    .catch(function () { /* the console says it cannot read its configuration */ });
})();
