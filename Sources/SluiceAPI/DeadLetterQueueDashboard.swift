import SluiceCore

/// The DLQ dashboard: one self-contained HTML page (inline CSS and script, no external assets) at
/// `GET /_sluice/dashboard`, on the API server with its auth and TLS. It reads the DLQ admin API
/// (`DeadLetterQueueAPI`) from the browser: per pipeline the status, entries, bytes, age of the oldest entry, entries
/// over time, the top failure signatures and an entry browser that pages with the API's cursor, opens an entry's
/// event, and redrives or deletes entries. Its requests carry the `sluice-xsrf` header (which a cross-site form
/// cannot send), and every string from the API reaches the page as text, never as markup.
///
/// `MonitoringAPI.respond` serves it only when the server listens on a loopback address or has basic auth on
/// (otherwise `DashboardRefused`, 403). Stateless; called on the server's event loops.
enum DeadLetterQueueDashboard {
    static let path = "/_sluice/dashboard"

    /// Whether `request` asks for the page (with or without a trailing slash).
    static func serves(_ request: APIRequest) -> Bool {
        request.path == path || request.path == path + "/"
    }

    /// The page with a fresh nonce: the Content-Security-Policy lets only the page's own script and style run, lets
    /// it fetch from this server alone, and forbids framing (the page has buttons that change the queue).
    static func response() -> APIResponse {
        var random = SystemRandomNumberGenerator()
        let nonce = Base64.encode((0..<16).map { _ in UInt8.random(in: 0...255, using: &random) })
        let csp = "default-src 'none'; script-src 'nonce-\(nonce)'; style-src 'nonce-\(nonce)'; connect-src 'self'; "
            + "img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
        return APIResponse(
            contentType: "text/html; charset=utf-8",
            body: html.split(separator: "{{nonce}}", omittingEmptySubsequences: false).joined(separator: nonce),
            headers: [
                ("Content-Security-Policy", csp), ("X-Frame-Options", "DENY"), ("X-Content-Type-Options", "nosniff"),
                ("Referrer-Policy", "no-referrer"), ("Cache-Control", "no-store"),
            ])
    }

    static let html = #"""
        <!doctype html>
        <html lang="en">
        <head>
        <meta charset="utf-8">
        <meta name="viewport" content="width=device-width, initial-scale=1">
        <title>Sluice · Dead letter queues</title>
        <style nonce="{{nonce}}">
        :root{--bg:#f5f6f8;--card:#fff;--ink:#1f2328;--muted:#656d76;--line:#d9dee3;--soft:#eef1f4;--accent:#0b63c9;
          --green:#1a7f37;--yellow:#b07d00;--red:#cf222e;--mono:ui-monospace,SFMono-Regular,Menlo,Consolas,"Liberation Mono",monospace}
        *{box-sizing:border-box}
        body{margin:0;font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,sans-serif;
          color:var(--ink);background:var(--bg)}
        .top{display:flex;align-items:center;gap:12px;padding:10px 20px;background:#fff;border-bottom:1px solid var(--line)}
        .top h1{margin:0;font-size:16px;font-weight:600;flex:1}
        .top h1 span{color:var(--muted);font-weight:400}
        .muted{color:var(--muted)}
        main{max-width:1180px;margin:0 auto;padding:16px 20px 48px}
        button{font:inherit;border:1px solid var(--line);background:#fff;color:var(--ink);border-radius:6px;padding:4px 10px;cursor:pointer}
        button:hover{background:var(--soft)}
        button:disabled{opacity:.5;cursor:default}
        button.primary{background:var(--accent);border-color:var(--accent);color:#fff}
        .card button.archive{margin-left:8px}
        button.danger{color:var(--red)}
        button.link{border:0;background:none;padding:0;color:var(--accent);text-align:left}
        #notice{margin:0 0 12px;padding:8px 12px;border-radius:6px;background:#fff8c5;border:1px solid #eed888}
        #notice.error{background:#ffebe9;border-color:#ffb8b0}
        #pipelines{display:grid;grid-template-columns:repeat(auto-fit,minmax(340px,1fr));gap:16px;align-items:start}
        .card{background:var(--card);border:1px solid var(--line);border-radius:8px;padding:14px 16px;min-width:0}
        .card.selected{border-color:var(--accent);box-shadow:0 0 0 1px var(--accent)}
        .card-head{display:flex;align-items:center;gap:8px}
        .card-head h2{margin:0;font-size:15px;flex:1;overflow-wrap:anywhere}
        .dot{width:10px;height:10px;border-radius:50%;flex:none;background:var(--muted)}
        .dot.green{background:var(--green)}.dot.yellow{background:var(--yellow)}.dot.red{background:var(--red)}
        .badge{font-size:12px;padding:1px 8px;border-radius:10px;background:var(--soft);color:var(--muted)}
        .badge.green{color:var(--green);background:#dafbe1}
        .badge.yellow{color:var(--yellow);background:#fff8c5}
        .badge.red{color:var(--red);background:#ffebe9}
        .figures{display:grid;grid-template-columns:repeat(3,1fr);gap:8px;margin:12px 0}
        .figures div{background:var(--soft);border-radius:6px;padding:6px 10px;min-width:0}
        .figures dt{font-size:12px;color:var(--muted)}
        .figures dd{margin:0;font-size:18px;font-weight:600;font-variant-numeric:tabular-nums;
          white-space:nowrap;overflow:hidden;text-overflow:ellipsis}
        .timeline svg{display:block;width:100%;height:56px;background:var(--soft);border-radius:4px}
        .timeline rect{fill:var(--accent)}
        .timeline figcaption{display:flex;justify-content:space-between;font-size:12px;color:var(--muted);margin-top:2px}
        .timeline{margin:0 0 12px}
        h3{font-size:12px;text-transform:uppercase;letter-spacing:.04em;color:var(--muted);margin:0 0 6px;font-weight:600}
        .sigs{list-style:none;margin:0 0 12px;padding:0}
        .sigs li{display:flex;align-items:center;gap:10px;padding:7px 0;border-top:1px solid var(--soft)}
        .sigs li.active{background:#f1f8ff;box-shadow:-6px 0 0 #f1f8ff,6px 0 0 #f1f8ff}
        .sig{flex:1;min-width:0;display:flex;gap:10px;align-items:flex-start}
        .sig .count{flex:none;min-width:var(--count-width,3ch);font-variant-numeric:tabular-nums;font-weight:600;color:var(--ink);text-align:right}
        .sig .what{min-width:0;display:flex;flex-direction:column}
        .sig .plugin{font-size:12px;color:var(--muted)}
        .sig .reason{color:var(--accent);display:-webkit-box;-webkit-line-clamp:2;-webkit-box-orient:vertical;overflow:hidden;overflow-wrap:anywhere}
        .sigs button:not(.sig){font-size:12px;padding:2px 8px;flex:none}
        .empty{color:var(--muted);padding:8px 0}
        #browser{margin-top:20px;background:var(--card);border:1px solid var(--line);border-radius:8px}
        .bar{display:flex;flex-wrap:wrap;align-items:center;gap:8px;padding:12px 16px;border-bottom:1px solid var(--line)}
        .bar h2{margin:0;font-size:15px;flex:1;min-width:0;overflow-wrap:anywhere}
        .chip{display:inline-flex;align-items:center;gap:6px;font-size:12px;font-family:var(--mono);
          background:#ddf4ff;color:#0a3069;border-radius:12px;padding:2px 4px 2px 10px}
        .chip button{border:0;background:none;padding:0 6px;color:inherit}
        table{width:100%;border-collapse:collapse}
        th,td{text-align:left;padding:7px 10px;border-bottom:1px solid var(--soft);vertical-align:top}
        th{font-size:12px;color:var(--muted);font-weight:600}
        td.time{white-space:nowrap;font-variant-numeric:tabular-nums}
        td.reason{overflow-wrap:anywhere;max-width:420px}
        td.actions{white-space:nowrap;text-align:right}
        td.actions button{font-size:12px;padding:2px 8px;margin-left:4px}
        tr.entry{cursor:pointer}
        tr.entry:hover td{background:#f8fafc}
        tr.entry.open td{background:#f1f8ff}
        .kind{font-size:12px;padding:1px 6px;border-radius:4px}
        .kind.transient{background:#fff8c5;color:var(--yellow)}.kind.permanent{background:#ffebe9;color:var(--red)}
        tr.detail td{background:#fbfcfd;padding:10px 16px 14px}
        .detail dl{display:grid;grid-template-columns:max-content 1fr;gap:2px 12px;margin:0 0 8px;font-size:12px}
        .detail dt{color:var(--muted)}.detail dd{margin:0;overflow-wrap:anywhere;font-family:var(--mono)}
        pre{margin:0;padding:10px 12px;background:#f6f8fa;border:1px solid var(--line);border-radius:6px;font:12px/1.5 var(--mono);
          overflow:auto;max-height:360px;white-space:pre-wrap;overflow-wrap:anywhere}
        .pager{display:flex;align-items:center;justify-content:flex-end;gap:8px;padding:10px 16px}
        #toast{position:fixed;left:50%;bottom:16px;transform:translateX(-50%);max-width:90vw;
          background:#24292f;color:#fff;border-radius:6px;padding:8px 14px;font-size:13px}
        #toast:empty{display:none}
        [hidden]{display:none!important}
        @media (max-width:640px){
          .top{padding:10px 12px}.top h1 span{display:none}
          main{padding:12px 10px 48px}
          #pipelines{grid-template-columns:1fr}
          thead{display:none}
          table,tbody,tr,td{display:block;width:100%}
          tr.entry{display:grid;grid-template-columns:1fr auto;padding:8px 12px;border-bottom:1px solid var(--line)}
          tr.entry td{border:0;padding:2px 0;max-width:none;background:none!important}
          tr.entry.open{background:#f1f8ff}
          td.time{grid-area:1/1}td.failure{grid-area:1/2;text-align:right}
          td.plugin{grid-area:2/1;color:var(--muted)}td.attempts{grid-area:2/2;text-align:right}
          td.reason{grid-area:3/1/4/3}
          td.actions{grid-area:4/1/5/3;text-align:left;padding-top:6px}
          td.actions button{margin:0 6px 0 0}
          td.attempts::before{content:"attempts ";color:var(--muted)}
        }
        </style>
        </head>
        <body>
        <header class="top">
          <h1>Sluice <span>· dead letter queues</span></h1>
          <span class="muted" id="updated"></span>
          <button id="refresh" type="button">Refresh</button>
        </header>
        <main>
          <p id="notice" role="alert" hidden></p>
          <section id="pipelines" aria-label="Pipelines"></section>
          <section id="browser" hidden aria-label="Entries">
            <div class="bar">
              <h2 id="browser-title"></h2>
              <span class="chip" id="filter" hidden>
                <span id="filter-text"></span><button type="button" id="filter-clear" aria-label="Clear the filter">×</button>
              </span>
            </div>
            <table>
              <thead><tr><th>Time</th><th>Plugin</th><th>Failure</th><th>Attempts</th><th>Reason</th><th></th></tr></thead>
              <tbody id="entries"></tbody>
            </table>
            <div class="pager">
              <span class="muted" id="page-label"></span>
              <button type="button" id="previous">Previous</button>
              <button type="button" id="next">Next</button>
            </div>
          </section>
        </main>
        <div id="toast" role="status" aria-live="polite"></div>
        <script nonce="{{nonce}}">
        "use strict";
        const API = "/_sluice/dlq";
        const PAGE_SIZE = 20;
        const state = { stats: {}, pipeline: null, signature: null, cursors: [null], next: null, open: null, archive: false };
        // The entry browser's paths, on the pipeline's archive (entries whose attempts were used up) when chosen.
        function scoped(path) { return state.archive ? path + (path.includes("?") ? "&" : "?") + "archive=true" : path; }
        const $ = (id) => document.getElementById(id);

        // Builds an element; strings become text nodes, so nothing from the API is ever parsed as markup.
        function el(tag, attributes, ...children) {
          const node = document.createElement(tag);
          for (const [name, value] of Object.entries(attributes || {})) {
            if (value === false || value === null || value === undefined) continue;
            if (name.startsWith("on")) node.addEventListener(name.slice(2), value);
            else node.setAttribute(name, value === true ? "" : String(value));
          }
          for (const child of children.flat(Infinity)) {
            if (child === null || child === undefined || child === false) continue;
            node.append(typeof child === "string" || typeof child === "number" ? document.createTextNode(String(child)) : child);
          }
          return node;
        }

        // Every request sends the sluice-xsrf header; with basic auth on, the browser adds its credentials.
        async function api(path, method) {
          const response = await fetch(path, {
            method: method || "GET", credentials: "same-origin", cache: "no-store",
            headers: { "sluice-xsrf": "dashboard", "Accept": "application/json" },
          });
          let body = null;
          try { body = await response.json(); } catch (e) { body = null; }
          if (!response.ok) {
            const message = body && body.error && body.error.message ? body.error.message : response.statusText;
            throw new Error(response.status + " " + message);
          }
          return body;
        }

        const segment = (text) => encodeURIComponent(text);
        const pipelinePath = (id) => API + "/" + segment(id);
        const number = (n) => (typeof n === "number" ? n.toLocaleString("en-US") : "–");
        function bytes(n) {
          if (typeof n !== "number") return "–";
          const units = ["B", "KiB", "MiB", "GiB", "TiB"];
          let i = 0;
          while (n >= 1024 && i < units.length - 1) { n /= 1024; i++; }
          return (i === 0 ? n : n.toFixed(n < 10 ? 1 : 0)) + " " + units[i];
        }
        function age(iso) {
          if (!iso) return "–";
          const s = Math.max(0, (Date.now() - Date.parse(iso)) / 1000);
          if (s < 60) return Math.floor(s) + " s";
          if (s < 3600) return Math.floor(s / 60) + " min";
          if (s < 86400) return Math.floor(s / 3600) + " h " + Math.floor((s % 3600) / 60) + " min";
          return Math.floor(s / 86400) + " d " + Math.floor((s % 86400) / 3600) + " h";
        }
        function time(iso, withDate) {
          const d = new Date(iso);
          if (isNaN(d)) return String(iso);
          const pad = (n) => String(n).padStart(2, "0");
          const clock = pad(d.getHours()) + ":" + pad(d.getMinutes()) + ":" + pad(d.getSeconds());
          return withDate ? d.getFullYear() + "-" + pad(d.getMonth() + 1) + "-" + pad(d.getDate()) + " " + clock : clock;
        }
        const pluginName = (type, id) => (!id || id === type ? type || "" : type + " · " + id);
        function duration(seconds) {
          const units = [[86400, "day", " d"], [3600, "hour", " h"], [60, "minute", " min"], [1, "second", " s"]];
          const [size, one, short] = units.find(([size]) => seconds % size === 0);
          return seconds === size ? one : seconds / size + short;
        }

        function notice(text, isError) {
          const n = $("notice");
          n.textContent = text || "";
          n.hidden = !text;
          n.classList.toggle("error", !!isError);
        }
        let toastTimer = null;
        function toast(text) {
          $("toast").textContent = text;
          clearTimeout(toastTimer);
          toastTimer = setTimeout(() => { $("toast").textContent = ""; }, 4000);
        }

        // Entries per time bucket as SVG bars, with each bar's count and time as its tooltip. A short timeline is
        // drawn against the right edge of at least 12 buckets, so that a few buckets do not become wide blocks.
        function timeline(t) {
          const SVG = "http://www.w3.org/2000/svg";
          const counts = t.counts;
          const svg = document.createElementNS(SVG, "svg");
          const offset = Math.max(0, 12 - counts.length);
          const width = (counts.length + offset) * 10, height = 50;
          svg.setAttribute("viewBox", "0 0 " + width + " " + height);
          svg.setAttribute("preserveAspectRatio", "none");
          svg.setAttribute("role", "img");
          const max = Math.max(1, ...counts);
          const start = Date.parse(t.start);
          const shownStart = start - offset * t.interval_seconds * 1000;
          counts.forEach((n, i) => {
            if (n === 0) return;
            const h = Math.max(2, (n / max) * (height - 4));
            const bar = document.createElementNS(SVG, "rect");
            bar.setAttribute("x", String((offset + i) * 10 + 1));
            bar.setAttribute("y", String(height - h));
            bar.setAttribute("width", "8");
            bar.setAttribute("height", String(h));
            const title = document.createElementNS(SVG, "title");
            const from = new Date(start + i * t.interval_seconds * 1000).toISOString();
            title.textContent = number(n) + (n === 1 ? " entry" : " entries") + " from " + time(from);
            bar.append(title);
            svg.append(bar);
          });
          svg.setAttribute("aria-label", "Entries over time: " + counts.join(", "));
          const end = start + counts.length * t.interval_seconds * 1000;
          const withDate = end - shownStart > 86400000 || new Date(shownStart).toDateString() !== new Date().toDateString();
          return el("figure", { class: "timeline" },
            el("h3", null, "Entries per " + duration(t.interval_seconds)), svg,
            el("figcaption", null, el("span", null, time(new Date(shownStart).toISOString(), withDate)),
              el("span", null, time(new Date(end).toISOString(), withDate))));
        }

        function card(id, s) {
          const status = ["green", "yellow", "red"].includes(s.status) ? s.status : "unknown";
          const signatures = (s.signatures || []).slice(0, 5);
          const list = signatures.length
            ? el("ol", { class: "sigs" }, signatures.map((g) => el("li", {
                "data-signature": g.id, class: state.pipeline === id && state.signature === g.id ? "active" : null },
                el("button", { type: "button", class: "sig link", title: "Show the entries of signature " + g.id,
                  onclick: () => browse(id, g.id === "other" ? null : g.id) },
                  el("span", { class: "count" }, number(g.count)),
                  el("span", { class: "what" },
                    el("span", { class: "plugin" }, g.id === "other" ? "beyond the tracked signatures" : pluginName(g.plugin_type, g.plugin_id)),
                    el("span", { class: "reason" }, g.id === "other" ? "other signatures" : g.reason || ""))),
                g.id === "other" ? null : el("button", { type: "button", title: "Redrive every entry of this signature",
                  onclick: () => redriveSignature(id, g) }, "Redrive all"))))
            : null;
          // The counts line up on their widest figure.
          if (list) list.style.setProperty("--count-width", Math.max(...signatures.map((g) => number(g.count).length)) + "ch");
          const empty = !s.entries;
          return el("article", { class: "card" + (state.pipeline === id ? " selected" : ""), "data-pipeline": id },
            el("div", { class: "card-head" },
              el("span", { class: "dot " + status, "aria-hidden": "true" }),
              el("h2", null, id),
              el("span", { class: "badge " + status, "data-field": "status" }, status)),
            el("dl", { class: "figures" },
              el("div", null, el("dt", null, "Entries"), el("dd", { "data-field": "entries" }, number(s.entries))),
              el("div", null, el("dt", null, "Size"), el("dd", { "data-field": "bytes" }, bytes(s.queue_size_in_bytes))),
              el("div", null, el("dt", null, "Oldest"),
                el("dd", { "data-field": "age", title: s.oldest_entry_time || "" }, age(s.oldest_entry_time)))),
            empty ? el("p", { class: "empty" }, "The queue is empty.") : [
              s.timeline && s.timeline.counts && s.timeline.counts.length ? timeline(s.timeline) : null,
              list ? [el("h3", null, "Top failure signatures"), list] : null,
              el("button", { type: "button", class: "primary", onclick: () => browse(id, null) }, "Browse entries")],
            el("button", { type: "button", class: "archive", title: "Entries whose redrive attempts were used up",
              onclick: () => browse(id, null, true) }, "Browse archive"));
        }

        async function loadStats() {
          try {
            const body = await api(API);
            state.stats = body.pipelines || {};
            notice("");
          } catch (e) {
            notice("Could not read the dead letter queues: " + e.message, true);
            return false;
          }
          const ids = Object.keys(state.stats).sort();
          const cards = ids.map((id) => card(id, state.stats[id]));
          $("pipelines").replaceChildren(...cards);
          if (!ids.length) {
            $("pipelines").append(el("p", { class: "empty" }, "No running pipeline has a dead letter queue (dead_letter_queue.enable: true)."));
          }
          $("updated").textContent = "updated " + time(new Date().toISOString());
          return true;
        }

        function browse(id, signature, archive) {
          state.pipeline = id;
          state.signature = signature;
          state.archive = !!archive;
          state.cursors = [null];
          state.open = null;
          loadStats();
          loadPage();
        }

        // Only the newest page request draws: a slower answer to an older one (a refresh still under way when the
        // user picks the archive or another signature) would otherwise replace the rows the user asked for.
        let pageRequest = 0;
        async function loadPage() {
          const id = state.pipeline;
          if (id === null) return;
          const ticket = ++pageRequest;
          $("browser").hidden = false;
          $("browser-title").textContent = (state.archive ? "Archive of " : "Entries of ") + id;
          $("filter").hidden = !state.signature;
          $("filter-text").textContent = state.signature ? "signature " + state.signature : "";
          const params = new URLSearchParams({ size: String(PAGE_SIZE) });
          const after = state.cursors[state.cursors.length - 1];
          if (after) params.set("after", after);
          if (state.signature) params.set("signature", state.signature);
          if (state.archive) params.set("archive", "true");
          let body;
          try {
            body = await api(pipelinePath(id) + "/entries?" + params.toString());
          } catch (e) {
            if (ticket === pageRequest) notice("Could not read the entries: " + e.message, true);
            return;
          }
          if (ticket !== pageRequest) return;
          state.next = body.next || null;
          const rows = (body.entries || []).map(row);
          $("entries").replaceChildren(...rows.flat());
          $("entries").dataset.view = state.archive ? "archive" : "entries";
          if (!rows.length) $("entries").append(el("tr", null, el("td", { colspan: "6", class: "empty" }, "No entries on this page.")));
          $("page-label").textContent = "Page " + state.cursors.length;
          $("previous").disabled = state.cursors.length === 1;
          $("next").disabled = !state.next;
          document.body.dataset.pageLoads = String(Number(document.body.dataset.pageLoads || 0) + 1);
        }

        function row(e) {
          const detail = el("tr", { class: "detail", hidden: state.open !== e.id }, el("td", { colspan: "6" }));
          const tr = el("tr", { class: "entry", "data-id": e.id, "data-signature": e.signature, tabindex: "0",
              onclick: (ev) => { if (!ev.target.closest("button")) toggle(e, tr, detail); },
              onkeydown: (ev) => { if (ev.key === "Enter" && ev.target === tr) toggle(e, tr, detail); } },
            el("td", { class: "time", title: e.entry_time }, time(e.entry_time, true)),
            el("td", { class: "plugin" }, pluginName(e.plugin_type, e.plugin_id)),
            el("td", { class: "failure" }, el("span", { class: "kind " + (e.failure === "transient" ? "transient" : "permanent") }, e.failure)),
            el("td", { class: "attempts" }, number(e.attempts)),
            el("td", { class: "reason" }, e.reason),
            el("td", { class: "actions" },
              el("button", { type: "button", class: "redrive", onclick: (ev) => redriveEntry(e, ev.currentTarget) }, "Redrive"),
              el("button", { type: "button", class: "delete danger", onclick: (ev) => deleteEntry(e, ev.currentTarget) }, "Delete")));
          if (state.open === e.id) { tr.classList.add("open"); fillDetail(e, detail); }
          return [tr, detail];
        }

        function toggle(e, tr, detail) {
          const opening = detail.hidden;
          for (const other of document.querySelectorAll("tr.entry.open")) other.classList.remove("open");
          for (const other of document.querySelectorAll("tr.detail")) other.hidden = true;
          state.open = opening ? e.id : null;
          if (!opening) return;
          tr.classList.add("open");
          detail.hidden = false;
          fillDetail(e, detail);
        }

        async function fillDetail(e, detail) {
          const cell = detail.firstChild;
          cell.replaceChildren(el("span", { class: "muted" }, "Loading…"));
          try {
            const full = await api(scoped(pipelinePath(state.pipeline) + "/entries/" + segment(e.id)));
            cell.replaceChildren(
              el("dl", null,
                el("dt", null, "id"), el("dd", null, full.id),
                el("dt", null, "entry time"), el("dd", null, full.entry_time),
                el("dt", null, "signature"), el("dd", null, full.signature),
                el("dt", null, "plugin"), el("dd", null, pluginName(full.plugin_type, full.plugin_id)),
                el("dt", null, "failure"), el("dd", null, full.failure + ", " + number(full.attempts) + " attempts"),
                el("dt", null, "reason"), el("dd", null, full.reason)),
              el("pre", { class: "event" }, JSON.stringify(full.event, null, 2)));
          } catch (err) {
            cell.replaceChildren(el("span", { class: "muted" }, "Could not read the entry: " + err.message));
          }
        }

        async function redriveEntry(e, button) {
          button.disabled = true;
          try {
            await api(scoped(pipelinePath(state.pipeline) + "/entries/" + segment(e.id) + "/_redrive"), "POST");
            toast("Entry " + e.id + " sent back into " + state.pipeline + "; it is removed once its event is delivered.");
            afterChange();
          } catch (err) {
            button.disabled = false;
            notice("Could not redrive " + e.id + ": " + err.message, true);
          }
        }

        async function deleteEntry(e, button) {
          if (!window.confirm("Delete entry " + e.id + "? Its event is lost.")) return;
          button.disabled = true;
          try {
            await api(scoped(pipelinePath(state.pipeline) + "/entries/" + segment(e.id)), "DELETE");
            toast("Entry " + e.id + " deleted.");
            afterChange();
          } catch (err) {
            button.disabled = false;
            notice("Could not delete " + e.id + ": " + err.message, true);
          }
        }

        async function redriveSignature(id, g) {
          if (!window.confirm("Send the " + number(g.count) + " entries of signature " + g.id + " back into " + id + "?")) return;
          try {
            const body = await api(pipelinePath(id) + "/_redrive?signature=" + segment(g.id), "POST");
            toast(number(body.selected) + " entries sent back into " + id + "; each is removed once its event is delivered.");
            afterChange();
          } catch (err) {
            notice("Could not redrive signature " + g.id + ": " + err.message, true);
          }
        }

        // A redrive removes entries once their events are safe, a moment later: read again now and shortly after.
        function afterChange() {
          refresh();
          setTimeout(refresh, 1500);
        }

        async function refresh() {
          await loadStats();
          await loadPage();
        }

        $("refresh").addEventListener("click", refresh);
        $("filter-clear").addEventListener("click", () => browse(state.pipeline, null, state.archive));
        $("previous").addEventListener("click", () => { if (state.cursors.length > 1) { state.cursors.pop(); loadPage(); } });
        $("next").addEventListener("click", () => { if (state.next) { state.cursors.push(state.next); loadPage(); } });
        setInterval(() => { if (!document.hidden) loadStats(); }, 15000);

        (async () => {
          if (await loadStats()) {
            const ids = Object.keys(state.stats).sort();
            const first = ids.find((id) => state.stats[id].entries > 0);
            if (first !== undefined) { state.pipeline = first; await loadStats(); await loadPage(); }
          }
          document.body.dataset.ready = "1";
        })();
        </script>
        </body>
        </html>
        """#
}

/// The dashboard asked for on a server that listens on a non-loopback address without auth: a page that can
/// change the queue is not served to the network unauthenticated (403, Logstash's error body). Thrown and rendered
/// by `MonitoringAPI.respond` on the server's event loops.
struct DashboardRefused: APIResponseError {
    let path: String
    let host: String
    var status: Int { 403 }
    var body: Value {
        errorBody(path: path, status: 403, message: "The DLQ dashboard is served only on a loopback address or with authentication; "
            + "the API listens on \(host) with api.auth.type: none. Set api.auth.type: basic, or api.http.host: 127.0.0.1.")
    }
}
