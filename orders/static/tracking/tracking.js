// Tracking page: ask the JSON endpoint for news and show a new carrier event without a reload.
// The page is complete without this script; it only adds live updates.
(function () {
  "use strict";
  var script = document.getElementById("tracking-script");
  if (!script || !window.fetch) return;
  var url = script.getAttribute("data-poll-url");
  var version = script.getAttribute("data-version");
  var every = Math.max(1, parseInt(script.getAttribute("data-poll-seconds"), 10) || 30) * 1000;
  var newLabel = script.getAttribute("data-new-label");
  var exceptionLabel = script.getAttribute("data-exception-label");

  function text(tag, className, value) {
    var node = document.createElement(tag);
    if (className) node.className = className;
    node.textContent = value; // carrier text is data, never markup
    return node;
  }

  function eventItem(e) {
    var li = document.createElement("li");
    li.className = "event event--new" + (e.exception ? " event--exception" : "");
    li.setAttribute("data-event-id", String(e.id));
    var time = text("time", "", e.when);
    time.setAttribute("datetime", e.at);
    li.appendChild(time);
    var label = text("span", "event__label", (e.exception ? exceptionLabel + ": " : "") + e.label);
    li.appendChild(label);
    if (e.description) li.appendChild(text("span", "event__description", e.description));
    if (e.place) li.appendChild(text("span", "event__place", e.place));
    return li;
  }

  function apply(data) {
    var added = 0;
    (data.shipments || []).forEach(function (s) {
      var list = document.querySelector('ol.events[data-shipment="' + s.id + '"]');
      if (!list) return;
      var empty = list.querySelector(".event--empty");
      // Events come newest first; insert the unseen ones at the top in that order.
      var anchor = list.firstElementChild;
      s.events.forEach(function (e) {
        if (list.querySelector('[data-event-id="' + e.id + '"]')) return;
        list.insertBefore(eventItem(e), anchor);
        added += 1;
      });
      if (empty && added) empty.remove();
    });
    var headline = document.getElementById("headline");
    if (headline && data.headline) {
      headline.textContent = data.headline;
      headline.setAttribute("data-status", data.status);
    }
    var notice = document.getElementById("delay-notice");
    if (notice) {
      notice.textContent = data.delay_notice || "";
      notice.hidden = !data.delay_notice;
    }
    var live = document.getElementById("live");
    if (live && added) live.textContent = newLabel + ": " + data.headline;
    document.documentElement.setAttribute("data-tracking-version", data.version);
  }

  function poll() {
    fetch(url, { headers: { Accept: "application/json" }, credentials: "same-origin", cache: "no-store" })
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (data) {
        if (data && data.version !== version) {
          version = data.version;
          apply(data);
        }
      })
      .catch(function () { /* offline for a moment: try again next time */ })
      .then(function () { window.setTimeout(poll, every); });
  }
  window.setTimeout(poll, every);
})();
