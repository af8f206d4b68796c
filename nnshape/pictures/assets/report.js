/* nnshape report: pan and zoom of the diagram, recolouring, foldable and sortable layer table,
   the charts (plotly.js, inlined before this script). Reads its data from #nnshape-data. */
(function () {
  "use strict";
  var data = JSON.parse(document.getElementById("nnshape-data").textContent);

  /* ------------------------------------------------------------ diagram: pan and zoom */
  function panZoom(section) {
    var box = section.querySelector(".viewport");
    var svg = box && box.querySelector("svg");
    if (!svg) return;
    var base = svg.viewBox.baseVal;
    var full = { x: base.x, y: base.y, w: base.width, h: base.height };
    var view = { x: full.x, y: full.y, w: full.w, h: full.h };
    function apply() {
      svg.setAttribute("viewBox", view.x + " " + view.y + " " + view.w + " " + view.h);
    }
    function start() {
      /* as wide as the box allows (at most 1.2× natural size), from the top: a tall network is
         read from its input down; one that fits is centred */
      var r = box.getBoundingClientRect();
      if (!(r.width > 0 && r.height > 0)) return;
      var s = Math.min(r.width / full.w, 1.2);
      var fits = full.h * s <= r.height;
      view.w = r.width / s; view.h = r.height / s;
      view.x = full.x + (full.w - view.w) / 2;
      view.y = fits ? full.y + (full.h - view.h) / 2 : full.y;
      apply();
    }
    function zoom(k, cx, cy) {
      var m = svg.getScreenCTM();
      var p;
      if (m && cx !== undefined) {
        var pt = svg.createSVGPoint();
        pt.x = cx; pt.y = cy;
        p = pt.matrixTransform(m.inverse());
      } else {
        p = { x: view.x + view.w / 2, y: view.y + view.h / 2 };
      }
      k = Math.min(Math.max(k, full.w / 50 / view.w), 20 * Math.max(full.w, full.h) / view.w);
      view.x = p.x - (p.x - view.x) * k;
      view.y = p.y - (p.y - view.y) * k;
      view.w *= k; view.h *= k;
      apply();
    }
    svg.addEventListener("wheel", function (e) {
      e.preventDefault();
      zoom(Math.exp(e.deltaY * 0.0015), e.clientX, e.clientY);
    }, { passive: false });
    var drag = null;
    svg.addEventListener("pointerdown", function (e) {
      drag = { x: e.clientX, y: e.clientY, moved: false };
      svg.setPointerCapture(e.pointerId);
    });
    svg.addEventListener("pointermove", function (e) {
      if (!drag) return;
      var m = svg.getScreenCTM();
      if (!m || !m.a) return;
      var dx = e.clientX - drag.x, dy = e.clientY - drag.y;
      if (Math.abs(dx) + Math.abs(dy) > 2) drag.moved = true;
      view.x -= dx / m.a; view.y -= dy / m.d;
      drag.x = e.clientX; drag.y = e.clientY;
      apply();
    });
    function end(e) {
      if (drag && drag.moved) section.dataset.dragged = "1";
      drag = null;
    }
    svg.addEventListener("pointerup", end);
    svg.addEventListener("pointercancel", end);
    section.querySelectorAll("[data-zoom]").forEach(function (button) {
      button.addEventListener("click", function () {
        var what = button.getAttribute("data-zoom");
        if (what === "fit") { view = { x: full.x, y: full.y, w: full.w, h: full.h }; apply(); }
        else zoom(what === "in" ? 0.7 : 1 / 0.7);
      });
    });
    start();
  }

  /* ------------------------------------------------------------ diagram: colours, clicks */
  function recolour(section, nodes, metric) {
    Object.keys(nodes).forEach(function (id) {
      var g = section.querySelector('[id="nn-' + id + '"]');
      var fills = nodes[id].fills[metric];
      if (!g || !fills) return;
      var shape = g.querySelector("path, polygon, ellipse");
      if (shape) shape.setAttribute("fill", fills[0]);
      g.querySelectorAll("text").forEach(function (t) { t.setAttribute("fill", fills[1]); });
    });
    var legend = section.querySelector(".legend");
    if (legend) legend.hidden = metric !== "family";
  }

  function linkNodes(section, nodes) {
    Object.keys(nodes).forEach(function (id) {
      var row = nodes[id].row;
      var g = section.querySelector('[id="nn-' + id + '"]');
      if (!g || row === null || row === undefined) return;
      g.classList.add("linked");
      g.addEventListener("click", function () {
        if (section.dataset.dragged) { delete section.dataset.dragged; return; }
        showRow(row);
      });
    });
  }

  /* ------------------------------------------------------------ the layer table */
  var table = document.getElementById("layers-table");
  var tree = null;

  function buildTree() {
    var body = table.tBodies[0];
    var rows = Array.prototype.slice.call(body.rows);
    var byIndex = {}, kids = { "": [] };
    rows.forEach(function (tr, order) {
      tr._order = order;
      byIndex[tr.dataset.i] = tr;
      kids[tr.dataset.i] = [];
    });
    rows.forEach(function (tr) {
      var parent = tr.dataset.parent;
      (kids[parent] || kids[""]).push(tr);
    });
    return { body: body, rows: rows, byIndex: byIndex, kids: kids };
  }

  function refresh() {
    /* a row is shown when no block above it is folded */
    function walk(list, hidden) {
      list.forEach(function (tr) {
        tr.hidden = hidden;
        var folded = tr.classList.contains("folded");
        walk(tree.kids[tr.dataset.i] || [], hidden || folded);
      });
    }
    walk(tree.kids[""], false);
  }

  function toggle(tr, fold) {
    if (fold === undefined) fold = !tr.classList.contains("folded");
    tr.classList.toggle("folded", fold);
    var button = tr.querySelector(".toggle");
    if (button) {
      button.setAttribute("aria-expanded", fold ? "false" : "true");
      button.textContent = fold ? "▸" : "▾";
    }
    refresh();
  }

  function showRow(index) {
    if (!tree) return;
    var tr = tree.byIndex[String(index)];
    if (!tr) return;
    var up = tree.byIndex[tr.dataset.parent];
    while (up) {
      if (up.classList.contains("folded")) toggle(up, false);
      up = tree.byIndex[up.dataset.parent];
    }
    tr.scrollIntoView({ block: "center" });
    tr.classList.remove("flash");
    void tr.offsetWidth;
    tr.classList.add("flash");
  }

  function sortBy(th) {
    var states = ["none", "ascending", "descending"];
    var next = states[(states.indexOf(th.getAttribute("aria-sort") || "none") + 1) % 3];
    table.querySelectorAll("th.sortable").forEach(function (other) { other.setAttribute("aria-sort", "none"); });
    th.setAttribute("aria-sort", next);
    var col = +th.dataset.col, numeric = th.dataset.type === "num";
    function key(tr) {
      var cell = tr.cells[col];
      if (!numeric) return cell.textContent.trim().toLowerCase();
      var v = cell.getAttribute("data-v");
      return v === "" || v === null ? null : parseFloat(v);
    }
    function compare(a, b) {
      if (next === "none") return a._order - b._order;
      var ka = key(a), kb = key(b);
      if (ka === null && kb === null) return a._order - b._order;
      if (ka === null) return 1;   /* symbolic values last */
      if (kb === null) return -1;
      var c = ka < kb ? -1 : ka > kb ? 1 : 0;
      if (next === "descending") c = -c;
      return c || a._order - b._order;
    }
    var ordered = [];
    function walk(list) {
      list.slice().sort(compare).forEach(function (tr) {
        ordered.push(tr);
        walk(tree.kids[tr.dataset.i] || []);
      });
    }
    walk(tree.kids[""]);
    var fragment = document.createDocumentFragment();
    ordered.forEach(function (tr) { fragment.appendChild(tr); });
    tree.body.appendChild(fragment);
    refresh();
  }

  if (table) {
    tree = buildTree();
    table.addEventListener("click", function (e) {
      var button = e.target.closest(".toggle");
      if (button) { toggle(button.closest("tr")); return; }
      var th = e.target.closest("th.sortable");
      if (th) sortBy(th);
    });
    table.addEventListener("keydown", function (e) {
      var th = e.target.closest("th.sortable");
      if (th && (e.key === "Enter" || e.key === " ")) { e.preventDefault(); sortBy(th); }
    });
  }

  /* ------------------------------------------------------------ sections */
  var diagrams = data.diagrams || {};
  Object.keys(diagrams).forEach(function (id) {
    var section = document.getElementById(id);
    if (!section) return;
    panZoom(section);
    linkNodes(section, diagrams[id]);
    var select = section.querySelector("select.shade");
    if (select) select.addEventListener("change", function () { recolour(section, diagrams[id], select.value); });
  });

  /* ------------------------------------------------------------ charts */
  var figures = data.charts || {};
  Object.keys(figures).forEach(function (id) {
    var div = document.getElementById(id);
    if (div && window.Plotly) window.Plotly.newPlot(div, figures[id].data, figures[id].layout, data.config);
  });
  document.body.dataset.ready = "1";
})();
