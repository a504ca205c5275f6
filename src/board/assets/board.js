// lanewatch live board: polls api/v1/board and redraws the tiles. No framework, no
// external resources (the page is served with Content-Security-Policy default-src 'self').
// Every figure is also in a data-* attribute as the API gave it (tests read them).
"use strict";
(function () {
  var POLL_MS = 3000;
  var SVG = "http://www.w3.org/2000/svg";

  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined && text !== null) e.textContent = text;
    return e;
  }
  function num(v) { return v === null || v === undefined ? "" : String(v); }
  function dur(s) {
    if (s === null || s === undefined) return "—";
    s = Math.round(s);
    if (s < 60) return s + "s";
    var m = Math.floor(s / 60), r = s % 60;
    return m + "m " + (r < 10 ? "0" : "") + r + "s";
  }
  function rate(v) { return v === null || v === undefined ? "—" : v.toFixed(1); }
  // "07:42", or "2026-11-26 07:42" when not on the day of `today` (RFC 3339 times).
  function clock(t, today) {
    if (!t) return "—";
    return (today && t.slice(0, 10) !== today.slice(0, 10) ? t.slice(0, 10) + " " : "") + t.slice(11, 16);
  }
  function los(letter) {
    var l = letter || "none";
    var s = el("span", "los los-" + l, letter || "–");
    s.setAttribute("role", "img");
    s.setAttribute("aria-label", letter ? "Level of service " + letter : "Level of service unknown");
    return s;
  }
  function fig(label, field, value, text) {
    var d = el("div");
    d.appendChild(el("dt", null, label));
    var dd = el("dd", null, text);
    dd.dataset.field = field;
    dd.dataset.value = value;
    d.appendChild(dd);
    return d;
  }

  function spark(history) {
    var svg = document.createElementNS(SVG, "svg");
    svg.setAttribute("class", "spark");
    svg.setAttribute("viewBox", "0 0 120 40");
    svg.setAttribute("preserveAspectRatio", "none");
    svg.setAttribute("role", "img");
    var pts = history.filter(function (p) { return p.p95_seconds !== null; });
    var label;
    if (pts.length === 0) {
      label = "p95 passage time, last hour: no data yet";
    } else {
      var vals = pts.map(function (p) { return p.p95_seconds; });
      var max = Math.max.apply(null, vals), min = Math.min.apply(null, vals);
      label = "p95 passage time, last hour (" + history.length + " minutes): from " + dur(min) +
        " to " + dur(max) + ", now " + dur(vals[vals.length - 1]);
      var top = max > 0 ? max * 1.15 : 1, n = history.length;
      var coords = [];
      history.forEach(function (p, i) {
        if (p.p95_seconds === null) return;
        var x = n > 1 ? (i * 120) / (n - 1) : 60;
        var y = 38 - (p.p95_seconds / top) * 36;
        coords.push(x.toFixed(1) + "," + y.toFixed(1));
      });
      if (coords.length === 1) coords.push(coords[0].replace(/^[^,]*/, "120"));
      var line = document.createElementNS(SVG, "polyline");
      line.setAttribute("points", coords.join(" "));
      svg.appendChild(line);
    }
    svg.setAttribute("aria-label", label);
    var title = document.createElementNS(SVG, "title");
    title.textContent = label;
    svg.appendChild(title);
    if (pts.length > 0) return svg;
    svg.setAttribute("class", "spark empty");
    var f = document.createDocumentFragment();
    f.appendChild(svg);
    f.appendChild(el("p", "spark-empty", "p95 history: no data yet (a point a minute)"));
    return f;
  }

  function lane(l) {
    var li = el("li");
    li.dataset.lane = l.lane;
    li.dataset.passages = num(l.passages);
    li.dataset.throughput = num(l.throughput_per_minute);
    li.dataset.p95 = num(l.p95_seconds);
    li.dataset.silent = num(l.silent_seconds);
    li.dataset.stalled = l.stalled ? "1" : "0";
    var state = l.stalled ? "STALLED" : !l.scheduled_open ? "closed" :
      l.passages === 0 ? "no vehicle yet" : "";
    if (l.stalled) li.className = "stalled";
    else if (!l.scheduled_open || l.passages === 0) li.className = "silent";
    li.appendChild(el("b", null, l.lane + (state ? " · " + state : "")));
    li.appendChild(el("span", null, rate(l.throughput_per_minute) + "/min · p95 " + dur(l.p95_seconds)));
    li.setAttribute("aria-label", "Lane " + l.lane + ": " + rate(l.throughput_per_minute) +
      " vehicles per minute, p95 passage " + dur(l.p95_seconds) +
      (l.silent_seconds ? ", silent for " + dur(l.silent_seconds) : "") + (state ? ", " + state : ""));
    return li;
  }

  function tile(t, now) {
    var s = el("section", "tile" + (t.pages.length ? " paging" : ""));
    var d = s.dataset;
    d.checkpoint = t.checkpoint;
    d.direction = t.direction;
    d.los = t.level_of_service || "";
    d.p95 = num(t.p95_seconds);
    d.arrival = num(t.arrival_per_minute);
    d.throughput = num(t.throughput_per_minute);
    d.open = num(t.open_lanes);
    d.recommended = num(t.recommended_lanes);
    d.lanes = num(t.lane_count);
    d.congested = t.congested ? "1" : "0";
    d.capacityExceeded = t.capacity_exceeded ? "1" : "0";
    d.pages = String(t.pages.length);
    var name = t.checkpoint + " " + t.direction;
    s.setAttribute("aria-label", name + ": level of service " + (t.level_of_service || "unknown") +
      ", p95 passage " + dur(t.p95_seconds) + ", " + rate(t.arrival_per_minute) + " vehicles per minute" +
      (t.congested ? ", congested" : "") + (t.pages.length ? ", " + t.pages.length + " page(s)" : ""));
    var h = el("h2");
    h.appendChild(el("span", null, t.checkpoint + " · " + t.direction));
    h.appendChild(los(t.level_of_service));
    s.appendChild(h);
    var dl = el("dl", "figs");
    dl.appendChild(fig("p95 passage", "p95", num(t.p95_seconds), dur(t.p95_seconds)));
    dl.appendChild(fig("vehicles/min", "arrival", num(t.arrival_per_minute), rate(t.arrival_per_minute)));
    var open = t.open_lanes === null ? "—" : t.open_lanes;
    var rec = t.recommended_lanes === null ? "—" : t.recommended_lanes;
    dl.appendChild(fig("lanes open / advised", "lanes", open + "/" + rec, open + " / " + rec));
    s.appendChild(dl);
    var st = el("p", "state");
    if (t.congested) {
      st.appendChild(el("span", "alarm", "CONGESTED"));
      st.appendChild(document.createTextNode(" since " + clock(t.congested_since, now)));
    } else {
      st.appendChild(document.createTextNode("Not congested"));
    }
    if (t.capacity_exceeded) {
      st.appendChild(document.createTextNode(" · "));
      st.appendChild(el("span", "alarm", "capacity exceeded"));
    }
    s.appendChild(st);
    if (t.pages.length) {
      var ul = el("ul", "pages");
      ul.setAttribute("aria-label", "Pages to the duty officer");
      t.pages.forEach(function (p) {
        var li = el("li", null, "PAGE " + p.alert + ": " + p.summary);
        li.dataset.alert = p.alert;
        ul.appendChild(li);
      });
      s.appendChild(ul);
    }
    s.appendChild(spark(t.history));
    var lanes = el("ul", "lanes");
    lanes.setAttribute("aria-label", "Lanes of " + name);
    t.lanes.forEach(function (l) { lanes.appendChild(lane(l)); });
    s.appendChild(lanes);
    return s;
  }

  function render(b) {
    var board = document.getElementById("board");
    board.replaceChildren.apply(board, b.checkpoints.map(function (t) { return tile(t, b.generated_at); }));
    var pages = b.checkpoints.reduce(function (n, t) { return n + t.pages.length; }, 0);
    var ps = document.getElementById("pages-summary");
    ps.textContent = pages ? pages + " page(s) to the duty officer" : "No pages";
    ps.className = "pages-summary" + (pages ? " active" : "");
    document.getElementById("status").textContent = "Updated " + b.generated_at.replace("T", " ") +
      " (" + b.time_zone + ") · window " + b.window + (b.ready ? "" : " · NOT READY (no settled Kafka assignment)");
    document.body.dataset.generatedAt = b.generated_at;
    document.body.dataset.tiles = String(b.checkpoints.length);
    if (!document.body.dataset.firstRenderMs) {
      document.body.dataset.firstRenderMs = String(Math.round(performance.now()));
    }
  }

  function poll() {
    fetch("api/v1/board", { credentials: "same-origin", cache: "no-store" })
      .then(function (r) {
        if (!r.ok) throw new Error("HTTP " + r.status);
        return r.json();
      })
      .then(render)
      .catch(function (e) {
        document.getElementById("status").textContent = "Cannot reach lanewatch (" + e.message + "); retrying";
      })
      .then(function () { setTimeout(poll, POLL_MS); });
  }
  poll();
})();
