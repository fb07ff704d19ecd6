// The Troupe node dashboard (see index.html). Every second it reads
// api/overview (totals: the page turns two consecutive ones into rates) and
// api/actors (the actor tree), and redraws. The restart count is the
// runtime's (supervisors count their restarts); the event log names them the
// way an operator would see them: a supervisor's child of the same name came
// back under a new reference.
"use strict";

const POLL_MS = 1000;
const HISTORY = 60; // points per plot

const history = { messages: [], dead: [], alive: [], bytes: [] };
let previous = null;        // the last overview, for rates
let previousKids = null;    // parent id -> Map(child key -> child info)
let updates = 0;            // successful refreshes (document.body.dataset.updates)

const $ = (id) => document.getElementById(id);
const fmt = (n) => (n >= 1e6 ? (n / 1e6).toFixed(1) + "M" : n >= 1e4 ? (n / 1e3).toFixed(1) + "k"
                    : Number.isInteger(n) ? String(n) : n.toFixed(1));

function el(tag, attrs, ...kids) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === "class") e.className = v; else if (k === "text") e.textContent = v;
    else e.setAttribute(k, v);
  }
  for (const k of kids) e.append(k);
  return e;
}

function push(series, value) {
  series.push(value);
  if (series.length > HISTORY) series.shift();
}

function plot(id, series, maxId) {
  const svg = $(id);
  const max = Math.max(1, ...series);
  const skip = HISTORY - series.length; // the newest point on the right edge
  const points = series.map((v, i) =>
    `${((skip + i) * 120 / (HISTORY - 1)).toFixed(1)},${(38 - (v / max) * 36).toFixed(1)}`);
  svg.querySelector("polyline").setAttribute("points", points.join(" "));
  $(maxId).textContent = "max " + fmt(max);
}

function table(id, head, rows) {
  const t = $(id);
  t.replaceChildren(el("tr", {}, ...head.map((h) => el("th", { text: h }))),
    ...rows.map((r) => el("tr", {}, ...r.map((c) => el("td", { text: String(c) })))));
}

// ---- figures, plots, workers, dead letters, node ----

function showOverview(o) {
  const dt = previous ? (o.time_ms - previous.time_ms) / 1000 : 0;
  const rate = (now, before) => (dt > 0 ? Math.max(0, now - before) / dt : 0);
  const bytes = o.node ? o.node.bytes_in + o.node.bytes_out : 0;
  if (previous) {
    const prevBytes = previous.node ? previous.node.bytes_in + previous.node.bytes_out : 0;
    push(history.messages, rate(o.messages, previous.messages));
    push(history.dead, rate(o.dead_letters, previous.dead_letters));
    push(history.bytes, rate(bytes, prevBytes));
  }
  push(history.alive, o.actors_alive);

  $("alive").textContent = fmt(o.actors_alive);
  $("spawned").textContent = fmt(o.actors_spawned);
  $("workers").textContent = o.workers.length;
  $("msg-rate").textContent = history.messages.length ? fmt(history.messages.at(-1)) : "–";
  $("dead-rate").textContent = history.dead.length ? fmt(history.dead.at(-1)) : "–";
  $("peers").textContent = o.node ? o.node.peers_up : "–";
  $("restarts").textContent = fmt(o.supervisor_restarts);
  $("escalations").textContent = fmt(o.supervisor_escalations);
  $("high-water").textContent = fmt(o.mailbox_high_water);
  document.body.dataset.restarts = o.supervisor_restarts;
  $("node-name").textContent = o.node ? o.node.name : "(no node)";
  document.title = "Troupe " + (o.node ? o.node.name : "node");
  document.body.dataset.messages = o.messages;
  document.body.dataset.alive = o.actors_alive;

  plot("plot-messages", history.messages, "max-messages");
  plot("plot-dead", history.dead, "max-dead");
  plot("plot-alive", history.alive, "max-alive");
  plot("plot-bytes", history.bytes, "max-bytes");

  table("worker-table", ["worker", "queue", "messages", "turns", "steals", "parks"],
    o.workers.map((w, i) => [i, w.queue_depth, fmt(w.messages), fmt(w.turns), fmt(w.steals),
                             fmt(w.parks)]));
  const reasons = Object.entries(o.dead_letters_by_reason);
  table("dead-table", ["reason", "dead letters"],
    reasons.length ? reasons : [["(none)", 0]]);
  table("ended-table", ["reason", "actors ended"],
    Object.entries(o.actors_ended).map(([k, v]) => [k, fmt(v)]));
  const b = o.blocking;
  table("blocking-table", ["threads", "idle", "queued", "calls run"],
    [[b.threads, b.idle, b.queued, fmt(b.calls)]]);
  showNode(o.node, previous ? previous.node : null, dt);
  previous = o;
}

function showNode(n, before, dt) {
  const svg = $("cluster");
  const ns = "http://www.w3.org/2000/svg";
  const add = (tag, attrs, text) => {
    const e = document.createElementNS(ns, tag);
    for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
    if (text !== undefined) e.textContent = text;
    svg.append(e);
    return e;
  };
  svg.replaceChildren();
  if (!n) {
    add("text", { x: 200, y: 95, "text-anchor": "middle", fill: "#6b7385" },
        "this system runs no node");
    table("peer-table", ["", ""], []);
    table("node-table", ["", ""], []);
    return;
  }
  // This node in the middle; each known node around it, coloured by state,
  // its link solid while up, with its last round-trip time.
  // Up first, then connecting, down, left; servers before hidden nodes (clients).
  // The drawing leaves out clients that have gone (the table keeps them until
  // they are forgotten); a big cluster shows its first 24.
  const order = { up: 0, connecting: 1, down: 2, left: 3 };
  const all = (n.peers || []).slice().sort((x, y) => (order[x.state] - order[y.state]) ||
                                                     (x.hidden - y.hidden) ||
                                                     (x.name < y.name ? -1 : 1));
  const peers = all.filter((p) => !p.hidden || p.state === "up").slice(0, 24);
  const colour = { up: "#1f9d55", connecting: "#f59e0b", down: "#dc2626", left: "#9ca3af" };
  const cx = 200, cy = 95, r = 70;
  peers.forEach((p, i) => {
    const a = (2 * Math.PI * i) / Math.max(1, peers.length) - Math.PI / 2;
    const x = cx + r * 1.6 * Math.cos(a), y = cy + r * Math.sin(a);
    const c = colour[p.state] || "#9ca3af";
    add("line", { x1: cx, y1: cy, x2: x, y2: y, stroke: c, "stroke-width": 2,
                  "stroke-dasharray": p.state === "up" ? "" : "4 3" });
    add("circle", { cx: x, cy: y, r: 18, fill: "#fff", stroke: c, "stroke-width": 2,
                    class: "peer", "data-name": p.name, "data-state": p.state });
    add("text", { x, y: y + 4, "text-anchor": "middle", "font-size": 10 }, p.name);
    if (p.rtt_us) add("text", { x: (cx + x) / 2, y: (cy + y) / 2 - 3, "text-anchor": "middle",
                                "font-size": 9, fill: "#6b7385" }, (p.rtt_us / 1000).toFixed(2) + " ms");
  });
  add("circle", { cx, cy, r: 26, fill: "#1d2330", class: "self" });
  add("text", { x: cx, y: cy + 4, "text-anchor": "middle", fill: "#fff", "font-size": 11 }, n.name);
  const peerRate = (now, was) => (was !== undefined && dt > 0 ? fmt(Math.max(0, now - was) / dt) : "–");
  const beforePeer = new Map(((before && before.peers) || []).map((p) => [p.name, p]));
  table("peer-table", ["peer", "state", "messages / s in", "out", "bytes / s in", "out", "rtt", "phi"],
    all.slice(0, 50).map((p) => {
      const b = beforePeer.get(p.name) || {};
      return [p.name + (p.hidden ? " (hidden)" : ""), p.state,
              peerRate(p.envelopes_in, b.envelopes_in), peerRate(p.envelopes_out, b.envelopes_out),
              peerRate(p.bytes_in, b.bytes_in), peerRate(p.bytes_out, b.bytes_out),
              p.rtt_us ? (p.rtt_us / 1000).toFixed(2) + " ms" : "–",
              p.state !== "up" ? "–" : p.phi === null ? "∞" : p.phi.toFixed(2)];
    }));
  const rate = (k) => (before && dt > 0 ? fmt(Math.max(0, n[k] - before[k]) / dt) : "–");
  table("node-table", ["all links", "in", "out"], [
    ["envelopes / s", rate("envelopes_in"), rate("envelopes_out")],
    ["bytes / s", rate("bytes_in"), rate("bytes_out")],
    ["frames (total)", fmt(n.frames_in), fmt(n.frames_out)],
    ["peers declared down", n.node_downs, ""],
    ["bad / refused frames", n.bad_frames + n.refused, ""],
    ["sends to a full queue / unconnected peer", n.queue_full, n.not_connected],
  ]);
}

// ---- the actor tree ----

function label(a) {
  return a.name || a.behaviour || (a.supervisor ? "supervisor" : "actor");
}

function logEvent(text, cls) {
  const li = el("li", { class: cls, text: new Date().toLocaleTimeString() + "  " + text });
  $("events").prepend(li);
  while ($("events").children.length > 100) $("events").lastChild.remove();
}

// Compares each actor's children with the last refresh: under a supervisor,
// a named child back under a new reference is a restart; other children
// that appear or go are logged as started and ended.
function noticeChanges(byId, kidsOf) {
  const now = new Map();
  for (const [parent, list] of kidsOf) {
    const kids = new Map();
    for (const c of list) kids.set(c.name ? "n:" + c.name : "i:" + c.id, c);
    now.set(parent, kids);
  }
  if (previousKids) {
    for (const [parent, kids] of now) {
      const before = previousKids.get(parent) || new Map();
      const p = byId.get(parent);
      const who = label(p);
      for (const [key, c] of kids) {
        const old = before.get(key);
        if (!old) logEvent(`started: ${label(c)} under ${who}`, "");
        else if (old.id !== c.id && p.supervisor) {
          logEvent(`restart: ${who} / ${label(c)} (#${old.id} -> #${c.id})`, "restart");
        }
      }
      for (const [key, c] of before) if (!kids.has(key)) logEvent(`ended: ${label(c)} under ${who}`, "");
    }
    for (const [parent, before] of previousKids) {
      if (now.has(parent) || !byId.has(parent)) continue;
      for (const c of before.values()) logEvent(`ended: ${label(c)} under ${label(byId.get(parent))}`, "");
    }
  }
  previousKids = now;
}

function actorItem(a, kidsOf, depth) {
  const fill = a.capacity ? Math.min(100, (100 * a.queued) / a.capacity) : 0;
  const bar = el("span", { class: "mbox" + (fill > 75 ? " hot" : "") },
                 el("span", { style: `width:${fill.toFixed(0)}%` }));
  const li = el("li", { "data-id": a.id, "data-state": a.state },
    el("i", { class: "dot s-" + a.state, title: a.state }), label(a));
  if (a.supervisor) li.append(el("span", { class: "badge", text: "sup" }));
  // A supervisor's own restart count (the runtime's, since it started).
  if (a.supervisor && a.restarts > 0) {
    li.append(el("span", { class: "restarts", title: "restarts this supervisor decided",
                           text: `${a.restarts} restart${a.restarts === 1 ? "" : "s"}` }));
  }
  // The mailbox's high-water mark is the runtime's (sampled as turns begin and end).
  const shown = `${a.queued}/${a.capacity}` + (a.peak > a.queued ? ` (peak ${a.peak})` : "");
  li.append(el("span", { class: "id", text: "#" + a.id }), bar,
            el("span", { class: "q", text: shown }));
  const kids = kidsOf.get(a.id) || [];
  if (kids.length) {
    const ul = el("ul");
    // Deep or wide trees: show the first 50 children of each actor.
    for (const c of kids.slice(0, 50)) ul.append(actorItem(c, kidsOf, depth + 1));
    if (kids.length > 50) ul.append(el("li", { class: "q", text: `… ${kids.length - 50} more` }));
    li.append(ul);
  }
  return li;
}

function showActors(data) {
  const byId = new Map(data.actors.map((a) => [a.id, a]));
  const kidsOf = new Map();
  const roots = [];
  for (const a of data.actors) {
    if (a.parent !== "0" && byId.has(a.parent)) {
      if (!kidsOf.has(a.parent)) kidsOf.set(a.parent, []);
      kidsOf.get(a.parent).push(a);
    } else {
      roots.push(a);
    }
  }
  // Supervisors and bigger subtrees first: that is where the structure is.
  roots.sort((x, y) => (y.supervisor - x.supervisor) || ((kidsOf.get(y.id) || []).length -
                                                         (kidsOf.get(x.id) || []).length));
  noticeChanges(byId, kidsOf);
  $("tree").replaceChildren(...roots.slice(0, 200).map((a) => actorItem(a, kidsOf, 0)));
  $("tree-count").textContent = data.listed < data.live
    ? `(${data.listed} of ${data.live} live actors)` : `(${data.live} live actors)`;
}

// ---- polling ----

async function refresh() {
  try {
    const [o, a] = await Promise.all([
      fetch("api/overview", { cache: "no-store" }).then((r) => r.json()),
      fetch("api/actors", { cache: "no-store" }).then((r) => r.json()),
    ]);
    showOverview(o);
    showActors(a);
    updates++;
    document.body.dataset.updates = updates;
    $("status").textContent = "live · updated " + new Date().toLocaleTimeString();
  } catch (e) {
    $("status").textContent = "unreachable: " + e.message;
  }
  setTimeout(refresh, POLL_MS);
}

refresh();
