/* profkit report: draws the figures and flame graphs from the embedded JSON; synchronised zoom and
   crosshair across time panels, range buttons, flame window picker, search and evidence links.
   Static code: the bundle's data only ever arrives through JSON.parse of the data element. */
(function () {
  "use strict";
  var doc = JSON.parse(document.getElementById("profkit-data").textContent);
  var t0 = doc.t0, timePlots = [], syncing = false, hovering = false;
  var config = doc.config;  /* page.PLOTLY_CONFIG: no logo link, no "Share chart" (Plotly Cloud) button */
  var HIGHLIGHT = "#e040fb";

  /* the sticky header's height, for CSS scroll-padding-top: jumps land below the header, however it wraps */
  var header = document.querySelector("header");
  function headerHeight() {
    if (header) { document.documentElement.style.setProperty("--header-h", header.offsetHeight + "px"); }
  }
  headerHeight();
  if (header && "ResizeObserver" in window) { new ResizeObserver(headerHeight).observe(header); }

  function ms(offset) { return (t0 + offset) * 1000; }
  var fullRange = [ms(0), ms(doc.t1)];
  function toX(list) { return list.map(ms); }

  function timeDecorations(layout) {
    var shapes = [], notes = [];
    (doc.annotations || []).forEach(function (a) {
      if (a.end !== undefined) {
        shapes.push({type: "rect", xref: "x", yref: "paper", x0: ms(a.start), x1: ms(a.end), y0: 0, y1: 1,
                     fillcolor: a.colour, opacity: a.opacity || 0.12, line: {width: 0}, layer: "below"});
      } else {
        shapes.push({type: "line", xref: "x", yref: "paper", x0: ms(a.start), x1: ms(a.start), y0: 0, y1: 1,
                     line: {color: a.colour, width: 1, dash: "dot"}});
      }
      notes.push({x: ms(a.start), y: 1, xref: "x", yref: "paper", yanchor: "bottom", text: a.mark,
                  hovertext: a.text, showarrow: false, font: {size: 10, color: a.colour}});
    });
    layout.shapes = (layout.shapes || []).concat(shapes);
    layout.annotations = (layout.annotations || []).concat(notes);
  }

  function syncRange(source, update) {
    if (syncing) { return; }
    syncing = true;
    Promise.all(timePlots.filter(function (p) { return p !== source; }).map(function (p) {
      return Plotly.relayout(p, update);
    })).then(function () { syncing = false; }, function () { syncing = false; });
  }

  function setAll(update) {
    syncing = true;
    Promise.all(timePlots.map(function (p) { return Plotly.relayout(p, update); }))
      .then(function () { syncing = false; }, function () { syncing = false; });
  }

  var pendingX = null, pendingFrom = null, visible = new Set();
  var watcher = "IntersectionObserver" in window ? new IntersectionObserver(function (entries) {
    entries.forEach(function (e) { if (e.isIntersecting) { visible.add(e.target); } else { visible.delete(e.target); } });
  }) : null;
  function crosshair() {
    var x = pendingX, from = pendingFrom;
    pendingX = null;
    if (x === null) { return; }
    hovering = true;
    timePlots.forEach(function (p) {
      if (p !== from && p._fullLayout.hovermode === "x unified" && (!watcher || visible.has(p))) {
        try { Plotly.Fx.hover(p, {xval: x}, "xy"); } catch (e) { /* panel without points */ }
      }
    });
    hovering = false;
  }

  function wireTime(el) {
    timePlots.push(el);
    if (watcher) { watcher.observe(el); }  // the crosshair follows on panels in view only: hover costs per point
    el.on("plotly_relayout", function (ev) {
      if (syncing) { return; }
      document.querySelectorAll("button[data-range].on").forEach(function (b) { b.classList.remove("on"); });
      if (ev["xaxis.range[0]"] !== undefined) {
        syncRange(el, {"xaxis.range": [ev["xaxis.range[0]"], ev["xaxis.range[1]"]]});
      } else if (ev["xaxis.range"] !== undefined) {
        syncRange(el, {"xaxis.range": ev["xaxis.range"]});
      } else if (ev["xaxis.autorange"]) {
        setAll({"xaxis.range": fullRange.slice()});  // the capture's time range, on every panel
      }
    });
    el.on("plotly_hover", function (ev) {
      if (hovering || !ev.xvals || !ev.event) { return; }  // only a real pointer drives the crosshair
      var first = pendingX === null;
      pendingX = el._fullLayout.xaxis.d2c(ev.xvals[0]);  // Fx.hover wants a number (ms for dates)
      pendingFrom = el;
      if (first) { window.requestAnimationFrame(crosshair); }  // at most one sync per frame
    });
    el.on("plotly_unhover", function () {
      if (hovering) { return; }
      pendingX = null;
      timePlots.forEach(function (p) { if (p !== el) { Plotly.Fx.unhover(p); } });
    });
  }

  doc.figures.forEach(function (fig) {
    var el = document.getElementById(fig.div);
    if (!el) { return; }
    var layout = Object.assign({template: doc.template}, fig.layout);
    [fig.data].concat(Object.keys(fig.variants || {}).map(function (k) { return fig.variants[k]; }))
      .forEach(function (traces) {
        traces.forEach(function (trace) { if (trace.xs) { trace.x = toX(trace.xs); delete trace.xs; } });
      });
    fig.all = fig.data;
    if (fig.kind === "time") {
      timeDecorations(layout);
      layout.xaxis = Object.assign({}, layout.xaxis, {range: fullRange.slice()});
    }
    Plotly.newPlot(el, fig.data, layout, config);
    if (fig.kind === "time") { wireTime(el); }
  });

  document.querySelectorAll("button[data-range]").forEach(function (button) {
    button.addEventListener("click", function () {
      var seconds = +button.getAttribute("data-range");
      document.querySelectorAll("button[data-range]").forEach(function (b) { b.classList.remove("on"); });
      button.classList.add("on");
      if (!seconds) { setAll({"xaxis.range": fullRange.slice()}); return; }
      setAll({"xaxis.range": [ms(doc.t1 - seconds), ms(doc.t1)]});
    });
  });

  document.addEventListener("click", function (e) {
    var link = e.target.closest("a[data-zoom]");
    if (link) {
      /* data-zoom holds unix seconds (not offsets from t0, unlike ms()): adding t0 again put every
         panel in 2083 and blanked it. Clamped to the capture so a panel is never zoomed off its data. */
      var span = link.getAttribute("data-zoom").split(",").map(Number), pad = Math.max(5, (span[1] - span[0]) * 0.05);
      var lo = Math.max((span[0] - pad) * 1000, fullRange[0]), hi = Math.min((span[1] + pad) * 1000, fullRange[1]);
      if (hi > lo) { setAll({"xaxis.range": [lo, hi]}); }
    }
    var win = e.target.closest("a[data-window]");
    if (win) { e.preventDefault(); showWindow(win.getAttribute("data-flame"), win.getAttribute("data-window")); }
  });

  /* ---- flame graphs ---- */
  function formatter(unit) {
    function scaled(v, steps) {
      for (var i = 0; i < steps.length; i++) {
        if (Math.abs(v) >= steps[i][0]) { return (v / steps[i][0]).toPrecision(3).replace(/\.?0+$/, "") + " " + steps[i][1]; }
      }
      return String(Math.round(v));
    }
    if (unit === "nanoseconds") { return function (v) { return scaled(v, [[1e9, "s"], [1e6, "ms"], [1e3, "µs"], [1, "ns"]]); }; }
    if (unit === "bytes") { return function (v) { return scaled(v, [[1073741824, "GiB"], [1048576, "MiB"], [1024, "KiB"], [1, "B"]]); }; }
    if (unit === "seconds") { return function (v) { return scaled(v, [[1, "s"], [1e-3, "ms"]]); }; }
    var name = unit === "count" || !unit ? "" : " " + unit;
    return function (v) { return Math.round(v).toLocaleString("en") + name; };
  }
  function pct(x) { return (100 * x).toFixed(x < 0.001 ? 3 : 1) + "%"; }

  var flames = {};
  (doc.flames || []).forEach(function (f) {
    var el = document.getElementById(f.div);
    if (!el) { return; }
    var box = el.closest(".panel"), fmt = formatter(f.unit), state = {flame: f, el: el, window: 0, term: ""};
    var select = box.querySelector(".flame-window"), search = box.querySelector(".flame-search");
    var matched = box.querySelector(".flame-matched");
    flames[f.div] = state;
    function colours(w) {
      if (!state.term) { return w.n.map(function (n) { return f.names[n][2]; }); }
      var re;
      try { re = new RegExp(state.term, "i"); } catch (err) { matched.textContent = "bad expression"; return null; }
      var covered = new Array(w.p.length), share = 0, count = 0;
      var out = w.n.map(function (n, i) {
        var hit = re.test(f.names[n][0]);
        var above = w.p[i] >= 0 && covered[w.p[i]];
        covered[i] = hit || above;
        if (hit) { count += 1; if (!above) { share += w.v[i]; } }
        return hit ? HIGHLIGHT : "#3a3d44";
      });
      matched.textContent = count + " frame" + (count === 1 ? "" : "s") + " matched, " + pct(share / (w.v[0] || 1)) + " of total";
      return out;
    }
    /* The rows drawn for a focus frame, as pprof's and speedscope's flame graphs do it: the frame's ancestors as
       full-width bars (so their names stay readable, their tooltips keep their own totals), then its subtree at
       its own scale. Plotly's own click-zoom squeezed the ancestors into an unreadable strip. */
    function focusRows(w, focus) {
      var children = w.p.map(function () { return []; });
      w.p.forEach(function (p, i) { if (p >= 0) { children[p].push(i); } });
      var chain = [];
      for (var i = focus; i >= 0; i = w.p[i]) { chain.unshift(i); }
      var rows = chain.slice(0, -1), depth = {}, stack = [focus], deepest = 0;
      depth[focus] = chain.length;
      while (stack.length) {
        var row = stack.pop();
        rows.push(row);
        deepest = Math.max(deepest, depth[row]);
        children[row].forEach(function (c) { depth[c] = depth[row] + 1; stack.push(c); });
      }
      return {rows: rows, ancestors: chain.length - 1, levels: deepest};
    }
    function dim(colour) {  // an ancestor bar: its colour at half opacity (names are hsl(...) or hex)
      var m = /^hsl\(([^)]*)\)$/.exec(colour);
      return m ? "hsla(" + m[1] + ",0.55)" : colour;
    }
    function draw(index, focus) {
      var w = f.windows[index], total = w.v[0] || 1;
      focus = focus || 0;
      state.window = index;
      state.focus = focus;
      var shown = focusRows(w, focus), rows = shown.rows, ancestor = {};
      rows.slice(0, shown.ancestors).forEach(function (i) { ancestor[i] = true; });
      var all = colours(w) || w.n.map(function (n) { return f.names[n][2]; });
      var trace = {
        type: "icicle", branchvalues: "total", tiling: {orientation: "v", flip: "y"}, maxdepth: 40,
        pathbar: {visible: false},
        ids: rows.map(function (i) { return "n" + i; }),
        parents: rows.map(function (i) { return w.p[i] < 0 ? "" : "n" + w.p[i]; }),
        labels: rows.map(function (i) { return f.names[w.n[i]][1]; }),
        values: rows.map(function (i) { return ancestor[i] ? w.v[focus] : w.v[i]; }),
        customdata: rows.map(function (i) {
          return [f.names[w.n[i]][0], fmt(w.s[i]), pct(w.s[i] / total), fmt(w.v[i]), pct(w.v[i] / total)];
        }),
        hovertemplate: "<b>%{customdata[0]}</b><br>total %{customdata[3]} (%{customdata[4]} of all)" +
                       "<br>self %{customdata[1]} (%{customdata[2]} of all)<extra></extra>",
        marker: {colors: rows.map(function (i) { return ancestor[i] ? dim(all[i]) : all[i]; }),
                 line: {width: 0.5, color: "#111217"}},
        textinfo: "label", insidetextfont: {size: 11, color: "#111217"}, textposition: "middle left"
      };
      var levels = Math.min(focus ? shown.levels : (w.d || 40), 40);
      var layout = {template: doc.template, margin: {l: 4, r: 4, t: 4, b: 4},
                    height: Math.max(220, Math.min(f.height || 640, levels * 19 + 8)),
                    paper_bgcolor: "#181b1f"};
      el.setAttribute("data-zoomed", focus ? "n" + focus : "");
      Plotly.react(el, [trace], layout, config);
    }
    state.draw = draw;
    draw(0);
    select.addEventListener("change", function () { draw(+select.value); });
    search.addEventListener("input", function () {
      state.term = search.value;
      if (!state.term) { matched.textContent = ""; }
      draw(state.window, state.focus);
    });
    box.querySelector(".flame-reset").addEventListener("click", function () { draw(state.window); });
    // A click focuses the frame (an ancestor bar or the root refocuses there); plotly's own zoom is cancelled.
    el.on("plotly_icicleclick", function (ev) {
      var point = ev.points && ev.points[0];
      if (point && point.id) { draw(state.window, +point.id.slice(1)); }
      return false;
    });
  });

  /* ---- the controller/pod picker: other controllers' dashboards and findings hidden, split panels redrawn
     with the picked controller's (capture-wide panels) or pod's (a controller's panels) traces ---- */
  var labels = {};
  (doc.picker || []).forEach(function (e) { labels[e.key] = e; });
  function badge(el, text) {
    var box = el.closest(".panel"), span = box && box.querySelector(".scope");
    if (span) { span.textContent = text; }
  }
  function pick(key) {
    var entry = labels[key] || null, target = entry ? entry.target : null;
    var controllerKey = entry ? key.replace(/p\d+$/, "") : null;
    document.querySelectorAll("[data-target]").forEach(function (el) {
      var own = el.getAttribute("data-target");
      el.classList.toggle("hidden", target !== null && own !== "" && own !== target);
    });
    doc.figures.forEach(function (fig) {
      var el = document.getElementById(fig.div);
      if (!el) { return; }
      var inPicked = target !== null && el.closest("[data-target]").getAttribute("data-target") === target;
      if (!fig.variants) {
        badge(el, entry && entry.pod && inPicked ? "whole controller" : "");
        return;
      }
      var use = null;
      if (key && fig.variants[key] !== undefined) { use = key; }
      else if (controllerKey && fig.variants[controllerKey] !== undefined) { use = controllerKey; }
      var data = use ? fig.variants[use] : fig.all;
      el.setAttribute("data-shown", use || "");
      badge(el, use ? labels[use].label + (data.length ? "" : ": no data") : "");
      Plotly.react(el, data, el.layout, config);
    });
    Object.keys(flames).forEach(function (div) {
      var state = flames[div], index = 0;
      if (entry && entry.pod) {
        state.flame.windows.forEach(function (w, i) { if (w.pod === entry.pod) { index = i; } });
      }
      state.el.setAttribute("data-shown", index && entry ? key : "");
      badge(state.el, index && entry ? entry.label : "");
      state.el.closest(".panel").querySelector(".flame-window").value = String(index);
      if (index !== state.window) { state.draw(index); }
    });
    timePlots.concat(doc.figures.map(function (f) { return document.getElementById(f.div); }))
      .forEach(function (el) { if (el && el.offsetParent !== null) { Plotly.Plots.resize(el); } });
  }
  var picker = document.getElementById("picker");
  if (picker) { picker.addEventListener("change", function () { pick(picker.value); }); }

  function showWindow(div, path) {
    var state = flames[div];
    if (!state) { return; }
    var best = 0;
    state.flame.windows.forEach(function (w, i) {
      if (i > 0 && w.paths.indexOf(path) >= 0 && (best === 0 || w.paths.length < state.flame.windows[best].paths.length)) { best = i; }
    });
    state.el.closest(".panel").querySelector(".flame-window").value = String(best);
    state.draw(best);
    var box = state.el.closest(".panel");
    box.scrollIntoView({block: "start"});
    box.classList.add("flash");
    setTimeout(function () { box.classList.remove("flash"); }, 1500);
  }
  window.profkitReport = {timePlots: timePlots, flames: flames, showWindow: showWindow, pick: pick};
})();
