// flowc graph viewer: draws one stage of the GraphModel at a time. Name scopes form a
// tree; a scope is one box until expanded, and only what is visible is laid out (a
// layered layout per expanded scope), so huge graphs open collapsed and fast.
"use strict";
(function () {
  const T0 = performance.now();
  const DATA = JSON.parse(document.getElementById("flowc-data").textContent);
  const SVG_NS = "http://www.w3.org/2000/svg";
  const svg = document.getElementById("graph");
  const viewport = document.getElementById("viewport");
  const KERNELS = new Map(DATA.kernels.map(k => [k.scope, k]));
  const DEVICES = new Map((DATA.devices || []).map(d => [d.name, d.colour]));
  const AUTO_OPEN = 40, NODE_H = 30, SCOPE_HEAD = 22, PAD = 12, GAP_X = 18, GAP_Y = 38;
  const states = [];            // per stage: {tree, leafOf, expanded, selected}
  let current = null, view = {x: 0, y: 0, k: 1}, firstRender = true;

  // ---- the scope tree -------------------------------------------------------------------
  function newItem(label, full, parent) {
    return {label, full, parent, depth: parent ? parent.depth + 1 : 0, children: [],
            byLabel: new Map(), op: -1, count: 0, edges: [], id: 0};
  }

  function buildTree(stage) {
    const root = newItem("", "", null);
    const leafOf = new Array(stage.nodes.length);
    stage.nodes.forEach((row, i) => {
      const parts = row[0].split("/");
      let cur = root;
      for (let j = 0; j < parts.length; j++) {
        let next = cur.byLabel.get(parts[j]);
        if (!next) {
          next = newItem(parts[j], parts.slice(0, j + 1).join("/"), cur);
          cur.byLabel.set(parts[j], next);
          cur.children.push(next);
        }
        cur = next;
      }
      cur.op = i;
      leafOf[i] = cur;
    });
    let nextId = 0;
    const byFull = new Map();
    (function finish(item) {   // an op that is also a scope becomes a leaf inside it
      item.id = nextId++;
      if (!item.isSelf) byFull.set(item.full, item);
      if (item.op >= 0 && item.children.length) {
        const self = newItem(item.label, item.full, item);
        self.op = item.op; self.isSelf = true;
        leafOf[item.op] = self; item.op = -1;
        item.children.unshift(self);
      }
      item.count = item.op >= 0 ? 1 : 0;
      for (const c of item.children) { finish(c); item.count += c.count; }
    })(root);
    stage.nodes.forEach((row, i) => {
      for (const j of row[6]) addEdge(leafOf[j], leafOf[i], false);
      for (const j of row[7]) addEdge(leafOf[j], leafOf[i], true);
    });
    return {root, leafOf, byFull};
  }

  function addEdge(a, b, ctrl) {    // recorded at the lowest common scope
    let x = a, y = b;
    while (x.depth > y.depth) x = x.parent;
    while (y.depth > x.depth) y = y.parent;
    if (x === y) return;
    while (x.parent !== y.parent) { x = x.parent; y = y.parent; }
    x.parent.edges.push(x, y, ctrl);
  }

  function isScope(item) { return item.children.length > 0; }

  // ---- layout ------------------------------------------------------------------------------
  function textWidth(s, px) { return s.length * px * 0.6; }

  function itemSize(item, st) {
    if (isScope(item) && st.expanded.has(item.id)) {
      item.box = layoutScope(item, st);
      return [Math.max(item.box.w + 2 * PAD, textWidth(header(item), 11) + 2 * PAD),
              item.box.h + SCOPE_HEAD + PAD];
    }
    item.box = null;
    const sub = isScope(item) ? ops(item.count) : current.nodes[item.op][1];
    return [Math.max(60, Math.min(260, Math.max(textWidth(item.label, 11),
                                                textWidth(sub, 9.5)) + 20)), NODE_H + 4];
  }

  function layoutScope(scope, st) {
    const items = scope.children, n = items.length;
    const index = new Map(items.map((c, i) => [c, i]));
    const sizes = items.map(c => itemSize(c, st));
    const pairs = new Map();
    for (let e = 0; e < scope.edges.length; e += 3) {
      const a = index.get(scope.edges[e]), b = index.get(scope.edges[e + 1]);
      const key = a * n + b;
      const p = pairs.get(key);
      if (p) { p.count++; p.ctrl = p.ctrl && scope.edges[e + 2]; }
      else pairs.set(key, {a, b, count: 1, ctrl: scope.edges[e + 2]});
    }
    const edges = [...pairs.values()];
    const rank = ranks(n, edges);
    const layers = [];
    for (let i = 0; i < n; i++) (layers[rank[i]] = layers[rank[i]] || []).push(i);
    order(layers, edges, n);
    const x = new Array(n), y = new Array(n);
    let top = 0, width = 0;
    const widths = layers.map(l => l.reduce((s, i) => s + sizes[i][0], 0) + GAP_X * (l.length - 1));
    const maxW = Math.max(0, ...widths);
    layers.forEach((layer, r) => {
      let left = (maxW - widths[r]) / 2, h = 0;
      for (const i of layer) { x[i] = left; y[i] = top; left += sizes[i][0] + GAP_X; h = Math.max(h, sizes[i][1]); }
      top += h + GAP_Y; width = Math.max(width, left - GAP_X);
    });
    return {items, x, y, sizes, edges, w: Math.max(width, 40), h: Math.max(top - GAP_Y, NODE_H)};
  }

  function ranks(n, edges) {     // longest path from the sources (Kahn; cycles broken)
    const succ = Array.from({length: n}, () => []), indeg = new Array(n).fill(0);
    for (const e of edges) { succ[e.a].push(e.b); indeg[e.b]++; }
    const sources = indeg.map(d => d === 0);
    const rank = new Array(n).fill(0), queue = [], done = new Array(n).fill(false);
    for (let i = 0; i < n; i++) if (!indeg[i]) queue.push(i);
    let seen = 0;
    while (seen < n) {
      if (!queue.length) {        // a cycle: release the first pending node
        for (let i = 0; i < n; i++) if (!done[i] && indeg[i] > 0) { indeg[i] = 0; queue.push(i); break; }
      }
      const i = queue.shift(); if (done[i]) continue;
      done[i] = true; seen++;
      for (const j of succ[i]) {
        if (done[j]) continue;
        rank[j] = Math.max(rank[j], rank[i] + 1);
        if (--indeg[j] === 0) queue.push(j);
      }
    }
    for (let i = 0; i < n; i++) {   // sources (constants, variables) sit just above their first use
      if (sources[i] && succ[i].length) rank[i] = Math.max(0, Math.min(...succ[i].map(j => rank[j])) - 1);
    }
    return rank;
  }

  function order(layers, edges, n) {  // barycentre sweeps, down then up
    const pos = new Array(n).fill(0);
    const preds = Array.from({length: n}, () => []), succs = Array.from({length: n}, () => []);
    for (const e of edges) { preds[e.b].push(e.a); succs[e.a].push(e.b); }
    const place = () => layers.forEach(l => l.forEach((i, k) => { pos[i] = k; }));
    place();
    const sweep = (layer, nbrs) => {
      const bary = new Map(layer.map(i => [i, nbrs[i].length
        ? nbrs[i].reduce((s, j) => s + pos[j], 0) / nbrs[i].length : pos[i]]));
      layer.sort((p, q) => bary.get(p) - bary.get(q));
      layer.forEach((i, k) => { pos[i] = k; });
    };
    for (let it = 0; it < 2; it++) {
      for (let r = 1; r < layers.length; r++) if (layers[r]) sweep(layers[r], preds);
      for (let r = layers.length - 2; r >= 0; r--) if (layers[r]) sweep(layers[r], succs);
    }
    for (let r = 0; r < layers.length; r++) if (!layers[r]) layers[r] = [];
  }

  // ---- drawing -----------------------------------------------------------------------------
  function el(tag, attrs, parent) {
    const e = document.createElementNS(SVG_NS, tag);
    for (const k in attrs) e.setAttribute(k, attrs[k]);
    if (parent) parent.appendChild(e);
    return e;
  }

  function kernelOf(item) {
    for (let s = item; s; s = s.parent) { const k = KERNELS.get(s.full); if (k && isScope(s)) return k; }
    if (item.op >= 0 && current.nodes[item.op][9] >= 0) return DATA.kernels[current.nodes[item.op][9]];
    return null;
  }

  function drawScope(box, parent, st) {
    box.edges.forEach(e => {
      const sa = box.sizes[e.a], sb = box.sizes[e.b];
      const x1 = box.x[e.a] + sa[0] / 2, y1 = box.y[e.a] + sa[1];
      const x2 = box.x[e.b] + sb[0] / 2, y2 = box.y[e.b];
      const my = (y1 + y2) / 2;
      el("path", {d: `M${x1},${y1} C${x1},${my} ${x2},${my} ${x2},${y2}`,
                  class: "edge" + (e.ctrl ? " ctrl" : "") + (e.count > 1 ? " multi" : "")}, parent);
    });
    box.items.forEach((item, i) => {
      const [w, h] = box.sizes[i];
      const scope = isScope(item), open = scope && st.expanded.has(item.id);
      const row = item.op >= 0 ? current.nodes[item.op] : null;
      const src = row && ["placeholder", "variable", "constant"].includes(row[1]);
      const g = el("g", {transform: `translate(${box.x[i]},${box.y[i]})`, "data-id": item.id,
                         class: "node " + (scope ? "scope" : "op") + (open ? " expanded" : "") +
                                (src ? " source" : "") + (st.selected === item ? " selected" : "")}, parent);
      g.__item = item;
      const rect = el("rect", {width: w, height: h, rx: scope ? 4 : 10}, g);
      const k = kernelOf(item);
      if (k && (KERNELS.get(item.full) === k || !scope)) rect.style.fill = k.colour;
      if (row && row[11]) {   // the user stage: the placed device, as the border's colour
        rect.style.stroke = DEVICES.get(row[11][0]); rect.style.strokeWidth = "3px";
        g.dataset.device = row[11][0];
      }
      if (open) {
        el("text", {x: 8, y: 15}, g).textContent = header(item);
        const inner = el("g", {transform: `translate(${PAD},${SCOPE_HEAD})`}, g);
        drawScope(item.box, inner, st);
      } else {
        el("text", {x: 8, y: 13}, g).textContent = (scope ? "▸ " : "") + clip(item.label, w);
        el("text", {x: 8, y: 26, class: "sub"}, g).textContent =
          clip(scope ? ops(item.count) + (KERNELS.get(item.full) ? " · " + k.kind : "") : row[1] + " " + row[2] + row[3], w);
      }
    });
  }

  function header(item) {
    const k = KERNELS.get(item.full);
    return "▾ " + item.label + (k ? "  (" + k.kind + " kernel)" : "");
  }

  function ops(n) { return n === 1 ? "1 op" : n + " ops"; }

  function clip(s, w) { const n = Math.floor((w - 14) / 6.2); return s.length > n ? s.slice(0, Math.max(1, n - 1)) + "…" : s; }

  function render() {
    const st = states[stageIndex()];
    const t0 = performance.now();
    while (viewport.firstChild) viewport.removeChild(viewport.firstChild);
    const box = layoutScope(st.tree.root, st);
    drawScope(box, viewport, st);
    st.bounds = {w: box.w, h: box.h};
    applyView();
    const stats = document.getElementById("render-stats");
    stats.dataset.visibleNodes = viewport.querySelectorAll("g.node").length;
    stats.dataset.lastRenderMs = (performance.now() - t0).toFixed(1);
    if (firstRender) {      // ms since navigation start: drawn, then painted
      firstRender = false;
      fit();
      stats.dataset.firstRenderMs = performance.now().toFixed(1);
      stats.dataset.scriptMs = (performance.now() - T0).toFixed(1);
      stats.textContent = "first render " + stats.dataset.firstRenderMs + " ms";
      requestAnimationFrame(() => { stats.dataset.firstPaintMs = performance.now().toFixed(1); });
    }
  }

  // ---- view: pan, zoom, fit -----------------------------------------------------------------
  function applyView() { viewport.setAttribute("transform", `translate(${view.x},${view.y}) scale(${view.k})`); }

  function fit() {
    const st = states[stageIndex()], r = svg.getBoundingClientRect();
    const kw = (r.width - 40) / Math.max(st.bounds.w, 1), kh = (r.height - 40) / Math.max(st.bounds.h, 1);
    view.k = Math.max(Math.min(1, kw, Math.max(kh, 0.6)), 0.05);   // tall graphs: pan down
    view.x = (r.width - st.bounds.w * view.k) / 2; view.y = 20;
    applyView();
  }

  let drag = null;
  svg.addEventListener("mousedown", e => { drag = {x: e.clientX, y: e.clientY, vx: view.x, vy: view.y, moved: false}; });
  window.addEventListener("mousemove", e => {
    if (!drag) return;
    if (Math.abs(e.clientX - drag.x) + Math.abs(e.clientY - drag.y) > 3) drag.moved = true;
    view.x = drag.vx + e.clientX - drag.x; view.y = drag.vy + e.clientY - drag.y; applyView();
  });
  window.addEventListener("mouseup", e => {
    const moved = drag && drag.moved; drag = null;
    if (moved) return;
    const g = e.target.closest && e.target.closest("g.node");
    if (g && g.__item) click(g.__item);
  });
  svg.addEventListener("wheel", e => {
    e.preventDefault();
    const r = svg.getBoundingClientRect(), f = Math.exp(-e.deltaY * 0.0015);
    const px = e.clientX - r.left, py = e.clientY - r.top;
    view.x = px - (px - view.x) * f; view.y = py - (py - view.y) * f; view.k *= f; applyView();
  }, {passive: false});

  // ---- interaction ----------------------------------------------------------------------------
  let touched = false;       // once the user opened or closed a scope, stages follow it

  function click(item) {
    touched = true;
    const st = states[stageIndex()];
    st.selected = item;
    if (isScope(item)) {
      if (st.expanded.has(item.id)) st.expanded.delete(item.id); else st.expanded.add(item.id);
    }
    render();
    showDetails(item);
  }

  function follow(from, to) {   // open in `to` the scopes open in `from`, by name
    const names = new Set();
    from.tree.byFull.forEach(item => { if (from.expanded.has(item.id)) names.add(item.full); });
    to.expanded = new Set([to.tree.root.id]);
    for (const name of names) { const item = to.tree.byFull.get(name); if (item) to.expanded.add(item.id); }
  }

  function cell(table, key, value) {
    const tr = document.createElement("tr");
    const a = document.createElement("td"), b = document.createElement("td");
    a.textContent = key; b.textContent = value; tr.append(a, b); table.appendChild(tr);
  }

  function showDetails(item) {
    const box = document.getElementById("details");
    box.innerHTML = "<h2>details</h2>";
    const table = document.createElement("table");
    if (isScope(item)) {
      cell(table, "scope", item.full); cell(table, "ops", item.count);
      const k = KERNELS.get(item.full);
      if (k) { cell(table, "kernel", k.index + " (" + k.kind + ")"); cell(table, "writes", k.root); cell(table, "stored because", k.reason); }
    } else {
      const row = current.nodes[item.op], names = i => current.nodes[i][0];
      cell(table, "name", row[0]); cell(table, "op", row[1]); cell(table, "dtype", row[2]);
      cell(table, "shape", row[3]); cell(table, "device", row[4] || "(default)");
      cell(table, "file:line", row[5] || "-");
      cell(table, "inputs", row[6].map(names).join(", ") || "-");
      if (row[7].length) cell(table, "control inputs", row[7].map(i => "^" + names(i)).join(", "));
      if (row[8]) for (const key in row[8]) cell(table, "attr " + key, JSON.stringify(row[8][key]));
      if (row[9] >= 0) cell(table, "kernel", row[9] + " (" + DATA.kernels[row[9]].kind + ")");
      if (row[10]) cell(table, "fusion", row[10]);
      if (row[11]) { cell(table, "placed", row[11][0]); cell(table, "placement", row[11][1]); }
      if (row[12]) cell(table, "partition", row[12]);
    }
    box.appendChild(table);
  }

  function showDevices() {
    const box = document.getElementById("devices");
    box.innerHTML = "";
    if (!DEVICES.size || !current.nodes.some(r => r[11])) return;
    const h = document.createElement("h2"); h.textContent = "devices (node border colour)"; box.appendChild(h);
    for (const [name, colour] of DEVICES) {
      const div = document.createElement("div"); div.className = "kernel-row device-row";
      const sw = document.createElement("span"); sw.className = "swatch"; sw.style.background = colour;
      const text = document.createElement("span"); text.textContent = name;
      div.append(sw, text); box.appendChild(div);
    }
  }

  function showKernels() {
    const box = document.getElementById("kernels");
    box.innerHTML = "";
    const stage = current;
    if (!DATA.kernels.length || !stage.nodes.some(r => r[9] >= 0)) return;
    const h = document.createElement("h2"); h.textContent = DATA.kernels.length + " fused kernels"; box.appendChild(h);
    const st = states[stageIndex()];
    for (const k of DATA.kernels) {
      const div = document.createElement("div"); div.className = "kernel-row";
      const sw = document.createElement("span"); sw.className = "swatch"; sw.style.background = k.colour;
      const text = document.createElement("span");
      text.innerHTML = "<b></b> <span class=reason></span>";
      text.firstChild.textContent = k.scope + " (" + k.members + ")";
      text.lastChild.textContent = k.reason;
      div.append(sw, text);
      div.addEventListener("click", () => {   // the kernel's box, or its first op in other stages
        const item = st.tree.byFull.get(k.scope);   // a region's kernels are nested
        if (item) { for (let s = item.parent; s; s = s.parent) st.expanded.add(s.id); click(item); return; }
        const i = current.nodes.findIndex(r => r[9] === k.index);
        if (i >= 0) reveal(st.tree.leafOf[i]);
      });
      box.appendChild(div);
    }
  }

  function find(q) {        // first node whose name contains q: open its scopes, select it
    const i = current.nodes.findIndex(r => r[0].includes(q));
    if (i >= 0) reveal(states[stageIndex()].tree.leafOf[i]);
    return i >= 0;
  }

  function reveal(item) {
    const st = states[stageIndex()];
    for (let s = item.parent; s; s = s.parent) st.expanded.add(s.id);
    st.selected = item; render(); showDetails(item); centre();
  }

  function centre() {       // scroll the selected node to the middle of the canvas
    const g = viewport.querySelector("g.node.selected");
    if (!g) return;
    const r = svg.getBoundingClientRect(), b = g.getBoundingClientRect();
    view.x += r.left + r.width / 2 - (b.left + b.width / 2);
    view.y += r.top + r.height / 2 - (b.top + b.height / 2);
    applyView();
  }

  document.getElementById("search").addEventListener("keydown", e => {
    if (e.key !== "Enter" || !e.target.value) return;
    find(e.target.value);
  });
  document.getElementById("collapse-all").addEventListener("click", () => {
    const st = states[stageIndex()]; st.expanded = new Set([st.tree.root.id]); render(); fit();
  });
  document.getElementById("fit").addEventListener("click", fit);

  // ---- stages ---------------------------------------------------------------------------------
  const slider = document.getElementById("stage");
  function stageIndex() { return Number(slider.value); }

  function openStage() {
    const i = stageIndex(), previous = current && states[DATA.stages.indexOf(current)];
    current = DATA.stages[i];
    if (!states[i]) {
      const tree = buildTree(current);
      const expanded = new Set([tree.root.id]);
      let item = tree.root;       // open single-child chains of scopes
      while (item.children.length === 1 && isScope(item.children[0])) { item = item.children[0]; expanded.add(item.id); }
      let visible = item.children.length;   // then open small scopes while the view stays small
      for (const c of item.children) {
        if (isScope(c) && visible + c.children.length - 1 <= AUTO_OPEN) { expanded.add(c.id); visible += c.children.length - 1; }
      }
      states[i] = {tree, expanded, selected: null};
    }
    if (touched && previous && previous !== states[i]) follow(previous, states[i]);
    document.getElementById("stage-name").textContent = (i + 1) + "/" + DATA.stages.length + " " + current.name;
    document.getElementById("stage-summary").textContent = current.summary;
    showKernels();
    showDevices();
    render();
    fit();
  }

  slider.max = DATA.stages.length - 1;
  slider.value = DATA.stages.length - 1;
  slider.addEventListener("input", openStage);
  const hash = new URLSearchParams(location.hash.slice(1));   // #stage=N&find=NAME
  if (hash.has("visit")) {    // #visit: draw every stage once, scopes following (the browser test's tour)
    touched = true;
    for (let i = 0; i < DATA.stages.length; i++) { slider.value = i; openStage(); }
    document.getElementById("render-stats").dataset.visited = DATA.stages.length;
    slider.value = DATA.stages.length - 1;
  }
  if (hash.has("stage")) slider.value = Number(hash.get("stage"));
  openStage();
  if (hash.get("find")) find(hash.get("find"));
})();
