// xmasqd's page: live view of the router and an editor of its rules.
// Plain JS, no framework; the CSP (default-src 'self') forbids inline code,
// so every handler is attached here. Only the API in DESIGN's xmasqd section
// is used: /api/status, /api/stats, /api/rules (GET, PATCH, PUT), /api/rules/check.
'use strict';

const STATS_EVERY_MS = 2000; // rates need two samples; slower when the poll is slow
const STATUS_EVERY_MS = 10000;
const HISTORY = 90; // samples kept per chart: 3 minutes at 2 s
const MAX_RULE_HISTORIES = 5000; // rules with a chart history; the others show none
const ROW_H = 30; // px, must match .vt-row in style.css
const LINE_H = 18; // px, must match .editor textarea in style.css

const $ = (id) => document.getElementById(id);

// ---- formatting ---------------------------------------------------------
function fmtNum(n) {
	if (n === undefined || n === null || Number.isNaN(n)) return '–';
	return Math.round(n).toLocaleString('en-US');
}

function fmtRate(n) {
	if (n === undefined || n === null || Number.isNaN(n)) return '–';
	if (n >= 1e9) return (n / 1e9).toFixed(2) + ' G';
	if (n >= 1e6) return (n / 1e6).toFixed(2) + ' M';
	if (n >= 1e4) return (n / 1e3).toFixed(1) + ' k';
	if (n >= 10) return n.toFixed(0);
	return n.toFixed(1);
}

function fmtBytes(n) {
	if (n === undefined || n === null || Number.isNaN(n)) return '–';
	const units = ['B', 'kB', 'MB', 'GB', 'TB'];
	let u = 0;
	while (n >= 1000 && u < units.length - 1) {
		n /= 1000;
		u++;
	}
	return (u === 0 ? n.toFixed(0) : n.toFixed(n >= 100 ? 0 : 1)) + ' ' + units[u];
}

function el(tag, cls, text) {
	const e = document.createElement(tag);
	if (cls) e.className = cls;
	if (text !== undefined) e.textContent = text;
	return e;
}

// ---- API ------------------------------------------------------------------
// api(METHOD, PATH[, BODY]) -> {status, data}; data is the parsed JSON body or
// {error: text} when the server did not answer JSON. Network failures throw.
async function api(method, path, body) {
	const opt = { method, credentials: 'same-origin', cache: 'no-store', headers: {} };
	if (body !== undefined) {
		opt.headers['Content-Type'] = 'application/json';
		opt.body = JSON.stringify(body);
	}
	const res = await fetch(path, opt);
	const text = await res.text();
	let data;
	try {
		data = text ? JSON.parse(text) : {};
	} catch (e) {
		data = { error: text.trim() || res.statusText };
	}
	return { status: res.status, data };
}

function setConn(ok, msg) {
	const c = $('conn');
	c.textContent = msg;
	c.classList.toggle('ok', ok);
	c.classList.toggle('bad', !ok);
}

// ---- history rings (charts) ---------------------------------------------------
// One global sample counter; every ring is written at tick % HISTORY, so all
// charts line up in time. A rule gets a ring the first time it has traffic.
let tick = 0;
const totalPps = new Float32Array(HISTORY);
const ruleHist = new Map(); // rule key -> Float32Array(HISTORY) of packets/s

function drawChart(canvas, ring, opts) {
	const dpr = window.devicePixelRatio || 1;
	const w = canvas.clientWidth || canvas.width;
	const h = canvas.clientHeight || canvas.height;
	if (canvas.width !== Math.round(w * dpr) || canvas.height !== Math.round(h * dpr)) {
		canvas.width = Math.round(w * dpr);
		canvas.height = Math.round(h * dpr);
	}
	const g = canvas.getContext('2d');
	g.setTransform(dpr, 0, 0, dpr, 0, 0);
	g.clearRect(0, 0, w, h);
	const n = Math.min(tick, HISTORY);
	if (!ring || n < 1) return;
	let max = 0;
	for (let i = 0; i < n; i++) max = Math.max(max, ring[(tick - n + i) % HISTORY]);
	const top = opts.labels ? 14 : 2;
	const scale = max > 0 ? (h - top - 2) / max : 0;
	// at least 30 samples wide, so a young chart is not a sliver at the right
	const dx = w / (Math.max(n, 30) - 1);
	g.beginPath();
	for (let i = 0; i < n; i++) {
		const x = w - (n - 1 - i) * dx;
		const y = h - 1 - ring[(tick - n + i) % HISTORY] * scale;
		if (i === 0) g.moveTo(x, y);
		else g.lineTo(x, y);
	}
	g.strokeStyle = opts.color || '#2b6cb0';
	g.lineWidth = 1.5;
	g.stroke();
	g.lineTo(w, h);
	g.lineTo(w - (n - 1) * dx, h);
	g.closePath();
	g.fillStyle = opts.fill || 'rgba(43,108,176,0.15)';
	g.fill();
	if (opts.labels) {
		g.fillStyle = '#555';
		g.font = '11px sans-serif';
		g.fillText('max ' + fmtRate(max) + ' pkts/s', 4, 11);
	}
}

// ---- state ----------------------------------------------------------------
const state = {
	status: null,
	stats: null,
	prev: null, // previous stats sample: {t, rules: Map key->[pkts, bytes], counters, ifaces}
	rates: new Map(), // rule key -> {pps, bps}
	counterRates: new Map(),
	ifRates: new Map(),
	rules: [], // stats.rules with .key, .lc, .ports added
	filtered: null, // Int32Array of indexes into rules, or null = all
	query: '',
	busiest: false, // order the table by packets/s
	rulesSig: '',
	version: null,
	text: '', // the rules file being edited (the textarea shows a window of it)
	loadedText: '',
	errorLines: new Map(), // line -> message
	editing: null, // {kind: 'forward'|'masquerade', line}
};

function ruleKey(r) {
	return r.rule;
}

// Port specs of a rule, for the search: the word after tcp|udp (PORT or
// LO-HI) and the backend's port after "to" (ADDR:PORT, [ADDR6]:PORT). Not
// other words: an IPv6 address such as 2001:db8::7 in a from list ends
// like a port.
function portSpecs(text) {
	const out = [];
	const words = text.split(/\s+/);
	for (let i = 1; i < words.length; i++) {
		let m = null;
		if (words[i - 1] === 'tcp' || words[i - 1] === 'udp') m = /^(\d+)(?:-(\d+))?$/.exec(words[i]);
		else if (words[i - 1] === 'to') m = /^(?:\[[^\]]*\]|[^:[\]]*):(\d+)(?:-(\d+))?$/.exec(words[i]);
		if (m) out.push([+m[1], m[2] ? +m[2] : +m[1]]);
	}
	return out;
}

// A search token: a number matches a rule's ports (in ranges too); anything
// else is a substring of the rule (an address, an interface, "udp").
function tokenMatches(r, tok) {
	if (/^\d+$/.test(tok)) {
		const n = +tok;
		if (!r.ports) r.ports = portSpecs(r.rule);
		for (const [lo, hi] of r.ports) if (n >= lo && n <= hi) return true;
		return false;
	}
	return r.lc.includes(tok);
}

function applyFilter() {
	const toks = state.query.toLowerCase().split(/\s+/).filter(Boolean);
	if (toks.length === 0) {
		state.filtered = state.busiest ? Int32Array.from(state.rules.keys()) : null;
	} else {
		const idx = [];
		const rules = state.rules;
		for (let i = 0; i < rules.length; i++) {
			let ok = true;
			for (const t of toks) {
				if (!tokenMatches(rules[i], t)) {
					ok = false;
					break;
				}
			}
			if (ok) idx.push(i);
		}
		state.filtered = Int32Array.from(idx);
	}
	if (state.busiest) sortBusiest();
	const shown = state.filtered ? state.filtered.length : state.rules.length;
	const count = $('rules-count');
	count.dataset.total = state.rules.length;
	count.dataset.shown = shown;
	count.dataset.query = state.query;
	count.textContent = toks.length
		? `${fmtNum(shown)} of ${fmtNum(state.rules.length)} rules match`
		: `${fmtNum(state.rules.length)} rules`;
	$('rules-spacer').style.height = shown * ROW_H + 'px';
	// short lists take their own height; long ones scroll in 14 rows
	$('rules-view').style.height = Math.max(2, Math.min(shown, 14)) * ROW_H + 2 + 'px';
	renderRows(true);
}

// Busiest first: by packets/s, then by line; ties keep the file's order.
function sortBusiest() {
	const pps = (i) => {
		const r = state.rates.get(state.rules[i].key);
		return r && r.pps > 0 ? r.pps : 0;
	};
	const idx = Array.from(state.filtered);
	const w = new Float64Array(state.rules.length);
	for (const i of idx) w[i] = pps(i);
	idx.sort((a, b) => w[b] - w[a] || a - b);
	state.filtered = Int32Array.from(idx);
}

// ---- stats polling -----------------------------------------------------------
function takeRules(stats) {
	const rules = stats.rules || [];
	// the rule set changed (an apply): rebuild the search index
	const sig = rules.length + '|' + (rules.length ? rules[0].rule + '|' + rules[rules.length - 1].rule +
		'|' + rules[rules.length - 1].line : '');
	for (const r of rules) {
		r.key = ruleKey(r);
		r.lc = r.rule.toLowerCase();
	}
	state.rules = rules;
	if (sig !== state.rulesSig) {
		state.rulesSig = sig;
		applyFilter();
	}
}

function computeRates(stats, t) {
	const prev = state.prev;
	const dt = prev ? (t - prev.t) / 1000 : 0;
	const cur = { t, rules: new Map(), counters: new Map(), ifaces: new Map() };
	const d = (a, b) => Math.max(0, a - b) / dt;
	for (const r of stats.rules || []) {
		const pk = (r.packets_orig || 0) + (r.packets_reply || 0);
		const by = (r.bytes_orig || 0) + (r.bytes_reply || 0);
		cur.rules.set(r.key, [pk, by]);
		let rate = { pps: NaN, bps: NaN };
		const p = prev && prev.rules.get(r.key);
		if (p && dt > 0) rate = { pps: d(pk, p[0]), bps: d(by, p[1]) };
		state.rates.set(r.key, rate);
	}
	if (state.rates.size > cur.rules.size * 2) {
		for (const k of state.rates.keys()) if (!cur.rules.has(k)) state.rates.delete(k);
	}
	for (const [name, c] of Object.entries(stats.counters || {})) {
		cur.counters.set(name, [c.packets, c.bytes]);
		const p = prev && prev.counters.get(name);
		state.counterRates.set(name, p && dt > 0 ? { pps: d(c.packets, p[0]), bps: d(c.bytes, p[1]) } : null);
	}
	for (const i of stats.interfaces || []) {
		const v = [i.rx_packets, i.tx_packets, i.tx_bytes, i.rx_bytes];
		cur.ifaces.set(i.name, v);
		const p = prev && prev.ifaces.get(i.name);
		state.ifRates.set(i.name, p && dt > 0 ? v.map((x, k) => d(x, p[k])) : null);
	}
	state.prev = cur;
	if (!prev || dt <= 0) return;

	// one sample into every ring
	const slot = tick % HISTORY;
	const rx = state.counterRates.get('rx');
	totalPps[slot] = rx ? rx.pps : 0;
	for (const [k, ring] of ruleHist) {
		const r = state.rates.get(k);
		ring[slot] = r && !Number.isNaN(r.pps) ? r.pps : 0;
	}
	for (const [k, r] of state.rates) {
		if (r.pps > 0 && !ruleHist.has(k) && ruleHist.size < MAX_RULE_HISTORIES) {
			const ring = new Float32Array(HISTORY);
			ring[slot] = r.pps;
			ruleHist.set(k, ring);
		}
	}
	tick++;
}

async function pollStats() {
	const t0 = performance.now();
	try {
		const { status, data } = await api('GET', '/api/stats');
		if (status !== 200) throw new Error(`/api/stats answered ${status}: ${data.error || ''}`);
		state.stats = data;
		takeRules(data);
		computeRates(data, performance.now());
		if (state.busiest) applyFilter();
		renderStats();
		setConn(true, 'live');
	} catch (e) {
		setConn(false, 'no data: ' + e.message);
	}
	const took = performance.now() - t0;
	setTimeout(pollStats, Math.max(STATS_EVERY_MS, 3 * took));
}

async function pollStatus() {
	try {
		const { status, data } = await api('GET', '/api/status');
		if (status === 200) {
			state.status = data;
			renderStatus();
		}
	} catch (e) {
		setConn(false, 'no status: ' + e.message);
	}
	setTimeout(pollStatus, STATUS_EVERY_MS);
}

// ---- rendering: overview, interfaces, counters --------------------------------
function renderStatus() {
	const s = state.status;
	$('pin-dir').textContent = s.pin_dir ? 'pin dir ' + s.pin_dir : '';
	if (s.expiry) {
		$('ct-expiry').textContent = `expiry: ${fmtNum(s.expiry.walks)} walks, the last over ` +
			`${fmtNum(s.expiry.last_walk_entries)} entries in ${(s.expiry.last_walk_ns / 1e6).toFixed(1)} ms; ` +
			`${fmtNum(s.expiry.flows_expired)} flows expired`;
	}
	renderInterfaces();
}

function renderInterfaces() {
	const tb = $('ifaces').tBodies[0];
	const list = (state.status && state.status.interfaces) || [];
	tb.replaceChildren();
	for (const i of list) {
		const tr = el('tr');
		tr.dataset.iface = i.name;
		const gone = i.gone || i.state === 'gone' || i.present === false;
		if (gone) tr.classList.add('gone');
		// no address: "-" or null in the JSON
		const a4 = el('td', 'mono addr', i.addr && i.addr !== '-' ? i.addr : '–');
		const a6 = el('td', 'mono addr6', i.addr6 && i.addr6 !== '-' ? i.addr6 : '–');
		if (!i.addr6 || i.addr6 === '-') a6.title = 'no global IPv6 address: IPv6 flows cannot leave by it';
		tr.append(el('td', 'mono', i.name), el('td', 'num', String(i.ifindex)),
			a4, a6, el('td', '', i.mode + (gone ? ' (gone)' : '')),
			el('td', 'num', `${i.xdp_prog_id || '–'} / ${i.tc_prog_id || '–'}`));
		const path = el('td');
		path.append(el('b', '', i.tx_path || '–'));
		if (i.tx_path_reason) path.append(el('span', 'muted', ' — ' + i.tx_path_reason));
		tr.append(path);
		const r = state.ifRates.get(i.name);
		tr.append(el('td', 'num', r ? fmtRate(r[0]) : '–'), el('td', 'num', r ? fmtRate(r[1]) : '–'),
			el('td', 'num', r ? fmtBytes(r[2]) : '–'));
		tb.append(tr);
	}
}

function counterKind(name) {
	if (name.startsWith('drop_')) return 'drop';
	if (name.startsWith('pass_')) return 'pass';
	return 'info';
}

function renderCounters() {
	const tb = $('counters').tBodies[0];
	const cs = (state.stats && state.stats.counters) || {};
	tb.replaceChildren();
	for (const [name, c] of Object.entries(cs)) {
		const tr = el('tr', 'k-' + counterKind(name));
		tr.dataset.counter = name;
		if (c.packets > 0) tr.classList.add('nonzero');
		const r = state.counterRates.get(name);
		tr.append(el('td', 'mono', name), el('td', 'num', fmtNum(c.packets)), el('td', 'num', fmtNum(c.bytes)),
			el('td', 'num', r ? fmtRate(r.pps) : '–'), el('td', 'meaning', c.help || c.meaning || ''));
		tb.append(tr);
	}
}

function renderPorts() {
	const p = state.stats && state.stats.ports;
	const tb = $('ports-table').tBodies[0];
	tb.replaceChildren();
	if (!p) {
		$('ports-summary').textContent = 'no port use reported';
		return;
	}
	const exhausted = (p.exhausted || []).length;
	$('ports-summary').textContent = `${fmtNum(p.peers)} ${p.peers === 1 ? 'peer' : 'peers'} in use; ${fmtNum(p.over_warn)} above the warning ` +
		`share; ${fmtNum(exhausted)} exhausted` + (state.status && state.status.port_range
		? `; ports ${state.status.port_range}` : '');
	const rows = (p.exhausted || []).concat(p.busiest || []);
	for (const b of rows.slice(0, 10)) {
		const tr = el('tr');
		if (b.share >= 0.9) tr.classList.add('hot');
		tr.append(el('td', '', b.proto), el('td', 'mono', b.addr), el('td', 'mono', String(b.peer).includes(':') ? `[${b.peer}]:${b.port}` : `${b.peer}:${b.port}`),
			el('td', 'num', fmtNum(b.in_use)), el('td', 'num', fmtNum(b.capacity)),
			el('td', 'num', (100 * (b.share || 0)).toFixed(b.share < 0.01 ? 2 : 0) + ' %'));
		tb.append(tr);
	}
}

// renderFlows(ID, FLOWS, MAX, NONE): "FLOWS flows of MAX", the share and
// its meter, of one family's flow table (ids ID-flows, ID-max, ID-share,
// ID-meter); NONE is said instead when the table has no size
function renderFlows(id, flows, max, none) {
	const share = max ? flows / max : 0;
	const f = $(id + '-flows');
	f.textContent = max ? fmtNum(flows) : '–';
	f.dataset.value = max ? flows : '';
	$(id + '-max').textContent = max ? fmtNum(max) : '–';
	$(id + '-share').textContent = max ? `(${(100 * share).toFixed(share > 0 && share < 0.01 ? 3 : 1)} %)` : none;
	const m = $(id + '-meter');
	m.style.width = Math.min(100, 100 * share).toFixed(1) + '%';
	m.classList.toggle('hot', share > 0.8);
}

function renderStats() {
	const s = state.stats;
	const rx = state.counterRates.get('rx');
	$('total-pps').textContent = rx ? fmtRate(rx.pps) : '–';
	$('total-bps').textContent = rx ? fmtBytes(rx.bps) : '–';
	drawChart($('total-chart'), totalPps, { labels: true });
	renderFlows('ct', s.flows, s.flows_max, 'no flow table');
	// flows6_max 0: the router's maps have no flows6 (attached by an
	// older build); undefined: an older xmasqd
	renderFlows('ct6', s.flows6, s.flows6_max, s.flows6_max === 0
		? 'no IPv6 flow table (attached by an older build: xmasq attach loads it)' : 'not reported');
	renderPorts();
	renderCounters();
	if (state.status) renderInterfaces();
	renderRows(false);
}

// ---- the virtual rules table -------------------------------------------------
// Only the rows in view (plus a few) exist in the DOM, absolutely placed
// over a spacer as tall as all rows: 100,000 rules cost 30-odd elements.
const rowPool = [];

function makeRow() {
	const row = el('div', 'vt-row');
	row.setAttribute('role', 'row');
	row.append(el('span', 'c-line'), el('span', 'c-rule mono'), el('span', 'c-num c-flows'),
		el('span', 'c-num c-pps'), el('span', 'c-num c-bps'));
	const c = el('canvas', 'c-spark spark');
	c.width = 120;
	c.height = 22;
	row.append(c);
	const act = el('span', 'c-act');
	const edit = el('button', 'small-btn', 'Edit');
	edit.type = 'button';
	edit.dataset.act = 'edit';
	const rm = el('button', 'small-btn', 'Remove');
	rm.type = 'button';
	rm.dataset.act = 'remove';
	act.append(edit, rm);
	row.append(act);
	return row;
}

function renderRows() {
	const view = $('rules-view');
	const rowsEl = $('rules-rows');
	const total = state.filtered ? state.filtered.length : state.rules.length;
	const first = Math.max(0, Math.floor(view.scrollTop / ROW_H) - 3);
	const last = Math.min(total, Math.ceil((view.scrollTop + view.clientHeight) / ROW_H) + 3);
	const need = Math.max(0, last - first);
	while (rowPool.length < need) {
		const r = makeRow();
		rowPool.push(r);
		rowsEl.append(r);
	}
	for (let k = 0; k < rowPool.length; k++) {
		const row = rowPool[k];
		if (k >= need) {
			row.classList.add('hidden');
			continue;
		}
		const pos = first + k;
		const idx = state.filtered ? state.filtered[pos] : pos;
		const r = state.rules[idx];
		row.classList.remove('hidden');
		row.style.top = pos * ROW_H + 'px';
		row.dataset.idx = idx;
		row.dataset.line = r.line;
		row.dataset.rule = r.rule;
		const cells = row.children;
		const rate = state.rates.get(r.key);
		cells[0].textContent = r.line;
		cells[1].textContent = r.rule;
		cells[1].title = r.rule;
		cells[2].textContent = fmtNum(r.flows);
		cells[3].textContent = rate ? fmtRate(rate.pps) : '–';
		cells[4].textContent = rate ? fmtBytes(rate.bps) : '–';
		cells[3].dataset.value = rate && !Number.isNaN(rate.pps) ? rate.pps : '';
		drawChart(cells[5], ruleHist.get(r.key), { color: '#2f855a', fill: 'rgba(47,133,90,0.15)' });
	}
}

// ---- the rules editor -------------------------------------------------------
const ta = () => $('rules-text');

function lineCount(text) {
	let n = 1;
	for (let i = text.indexOf('\n'); i !== -1; i = text.indexOf('\n', i + 1)) n++;
	return n;
}

// A textarea lays out all its text again on every change: about 4 s for
// 100,000 lines here. So the editor holds the whole file in state.text and
// shows a window of it: all of a file up to WHOLE_LINES lines, else
// WINDOW_LINES lines around where you are (go to a line, an error, a row's
// Edit). Typing in the window edits the file in place.
const WHOLE_LINES = 5000;
const WINDOW_LINES = 2000;
const win = { first: 1, prefix: '', suffix: '', lines: 1 };
let totalLines = 1;
let gutterQueued = false;

// offsetOfLine(text, n): where line n (1-based) starts, or -1 past the end
function offsetOfLine(text, n) {
	let at = 0;
	for (let k = 1; k < n; k++) {
		const i = text.indexOf('\n', at);
		if (i === -1) return -1;
		at = i + 1;
	}
	return at;
}

function lineRange(text, line) {
	const start = offsetOfLine(text, line);
	if (start < 0) return null;
	let end = text.indexOf('\n', start);
	if (end === -1) end = text.length;
	return [start, end];
}

// openWindow(line): the textarea shows the lines around LINE
function openWindow(line) {
	const text = state.text;
	totalLines = lineCount(text);
	let first = 1;
	let last = totalLines;
	if (totalLines > WHOLE_LINES) {
		first = Math.max(1, Math.min(line - WINDOW_LINES / 2, totalLines - WINDOW_LINES + 1));
		last = Math.min(totalLines, first + WINDOW_LINES - 1);
	}
	const a = offsetOfLine(text, first);
	const b = last < totalLines ? offsetOfLine(text, last + 1) : text.length;
	win.first = first;
	win.prefix = text.slice(0, a);
	win.suffix = text.slice(b);
	const t = ta();
	t.value = text.slice(a, b);
	t.dataset.first = first;
	win.lines = lineCount(t.value);
	showPosition();
	queueGutter();
}

function showPosition() {
	const pos = $('editor-pos');
	pos.dataset.total = totalLines;
	pos.dataset.first = win.first;
	const whole = win.prefix === '' && win.suffix === '';
	pos.textContent = whole ? `${fmtNum(totalLines)} lines`
		: `lines ${fmtNum(win.first)}–${fmtNum(win.first + win.lines - 1)} of ${fmtNum(totalLines)} ` +
			'(a window of the file: go to a line to move it)';
}

// The gutter shows only the line numbers in view, moved with the textarea.
function renderGutter() {
	gutterQueued = false;
	const t = ta();
	const inner = $('gutter-inner');
	const top = Math.floor(t.scrollTop / LINE_H);
	const visible = Math.ceil(t.clientHeight / LINE_H) + 1;
	const last = Math.min(win.lines, top + visible);
	inner.replaceChildren();
	for (let k = top + 1; k <= last; k++) {
		const n = win.first + k - 1;
		const d = el('div', 'gl', String(n));
		d.dataset.line = n;
		const msg = state.errorLines.get(n);
		if (msg) {
			d.classList.add('err');
			d.title = msg;
		}
		inner.append(d);
	}
	inner.style.transform = `translateY(${top * LINE_H - t.scrollTop}px)`;
}

function queueGutter() {
	if (!gutterQueued) {
		gutterQueued = true;
		requestAnimationFrame(renderGutter);
	}
}

function showDirty() {
	const dirty = state.text !== state.loadedText;
	$('dirty').textContent = dirty ? 'edited, not applied' : '';
	$('dirty').classList.toggle('warn', dirty);
}

// typed in the window: the file is the text around it plus the window
function onTextInput() {
	const v = ta().value;
	state.text = win.prefix + v + win.suffix;
	const lines = lineCount(v);
	totalLines += lines - win.lines;
	win.lines = lines;
	showPosition();
	showDirty();
	queueGutter();
}

// setText(TEXT[, LINE]): the whole file replaced; the window around LINE
function setText(text, line) {
	state.text = text;
	openWindow(line || 1);
	showDirty();
}

function gotoLine(line, col) {
	if (line < win.first || line >= win.first + win.lines) openWindow(line);
	const t = ta();
	const r = lineRange(t.value, line - win.first + 1);
	if (!r) return;
	t.focus();
	const at = col ? Math.min(r[0] + col - 1, r[1]) : r[0];
	t.setSelectionRange(at, r[1]);
	t.scrollTop = Math.max(0, (line - win.first - 3) * LINE_H);
	queueGutter();
}

function showResult(kind, text) {
	const r = $('result');
	r.className = 'result ' + kind;
	r.replaceChildren();
	if (typeof text === 'string') r.textContent = text;
	else r.append(...text);
}

function clearOutcome() {
	$('result').className = 'result hidden';
	$('errors').replaceChildren();
	$('diff').classList.add('hidden');
	$('diff').textContent = '';
	state.errorLines.clear();
	queueGutter();
}

function showErrors(errors) {
	const ul = $('errors');
	ul.replaceChildren();
	state.errorLines.clear();
	for (const e of errors || []) {
		const li = el('li');
		li.dataset.line = e.line || '';
		li.dataset.col = e.col || '';
		const where = el('a', 'where', (e.line ? `line ${e.line}` + (e.col ? `, column ${e.col}` : '') : 'the file') + ':');
		where.href = '#rules-text';
		li.append(where, document.createTextNode(' '), el('span', 'msg', e.message));
		ul.append(li);
		if (e.line && !state.errorLines.has(e.line)) state.errorLines.set(e.line, e.message);
	}
	queueGutter();
	if (errors && errors.length && errors[0].line) gotoLine(errors[0].line, errors[0].col);
}

async function loadRules() {
	try {
		const { status, data } = await api('GET', '/api/rules');
		if (status !== 200) throw new Error(`${status} ${data.error || ''}`);
		state.version = data.version;
		state.loadedText = data.text;
		setText(data.text);
		showVersion(data.version);
		return true;
	} catch (e) {
		showResult('bad', 'could not load the rules: ' + e.message);
		return false;
	}
}

// What an apply or a check did, from the counts in its answer.
function describeCounts(d) {
	const parts = [];
	for (const k of ['added', 'removed', 'changed', 'kept', 'forwards', 'masquerades', 'ports']) {
		if (typeof d[k] === 'number') parts.push(`${fmtNum(d[k])} ${k}`);
	}
	if (typeof d.applied === 'string') parts.push(d.applied);
	return parts.join(', ');
}

function showVersion(v) {
	const e = $('rules-version');
	e.dataset.version = v;
	e.textContent = 'version ' + String(v).slice(0, 12);
	e.title = 'version ' + v;
}

function showDiff(diff) {
	const pre = $('diff');
	pre.replaceChildren();
	let lines = [];
	if (Array.isArray(diff)) lines = diff.map((x) => (typeof x === 'string' ? x : JSON.stringify(x)));
	else if (typeof diff === 'string') lines = diff.split('\n').filter((l) => l !== '');
	else if (diff && typeof diff === 'object') {
		for (const [k, v] of Object.entries(diff)) {
			const sign = /add|\+/.test(k) ? '+ ' : /rem|del|-/.test(k) ? '- ' : '~ ';
			for (const x of Array.isArray(v) ? v : [v]) lines.push(sign + (typeof x === 'string' ? x : JSON.stringify(x)));
		}
	}
	if (!lines.length) {
		pre.classList.add('hidden');
		return;
	}
	for (const l of lines) {
		const cls = l.startsWith('+') ? 'add' : l.startsWith('-') ? 'del' : 'same';
		pre.append(el('div', cls, l));
	}
	pre.classList.remove('hidden');
}

async function checkRules() {
	clearOutcome();
	try {
		const { status, data } = await api('POST', '/api/rules/check', { text: state.text, version: state.version });
		if (status === 200) {
			const what = describeCounts(data);
			showResult('good', 'The rules are valid' + (what ? ': ' + what : '') + '. Nothing was changed.');
			showDiff(data.diff);
		} else if (status === 422) {
			showResult('bad', `${(data.errors || []).length} error(s); nothing was changed.`);
			showErrors(data.errors);
		} else {
			showResult('bad', `Check failed (${status}): ${data.error || data.message || ''}`);
		}
	} catch (e) {
		showResult('bad', 'Check failed: ' + e.message);
	}
}

// The change from the text loaded to text as one PATCH edit: the lines
// between the common first and last lines replaced (a change to one rule of
// 100,000 sends that rule, not the file). null when only the whole text
// says it exactly (a last line without newline, a NUL): then PUT.
function lineEdit(from, to) {
	const split = (t) => t.match(/[^\n]*\n|[^\n]+$/g) || [];
	const a = split(from), b = split(to);
	let head = 0, tail = 0;
	while (head < a.length && head < b.length && a[head] === b[head]) head++;
	while (tail < a.length - head && tail < b.length - head && a[a.length - 1 - tail] === b[b.length - 1 - tail]) tail++;
	const insert = b.slice(head, b.length - tail);
	if (insert.some((l) => !l.endsWith('\n') || l.includes('\0'))) return null;
	return { line: head + 1, delete: a.length - head - tail, insert: insert.map((l) => l.slice(0, -1)) };
}

// SHA-256 (hex) of text, as the server's version of the rules.
async function sha256Hex(text) {
	const d = await crypto.subtle.digest('SHA-256', new TextEncoder().encode(text));
	return Array.from(new Uint8Array(d), (b) => b.toString(16).padStart(2, '0')).join('');
}

async function applyRules() {
	clearOutcome();
	const text = state.text;
	const btn = $('btn-apply');
	btn.disabled = true;
	const t0 = performance.now();
	try {
		const edit = typeof state.loadedText === 'string' ? lineEdit(state.loadedText, text) : null;
		const { status, data } = edit ?
			await api('PATCH', '/api/rules', { version: state.version, edits: [edit] }) :
			await api('PUT', '/api/rules', { text, version: state.version });
		const rtt = performance.now() - t0;
		// The server's text should be this one by the rules of PATCH; if
		// not, the next edit must not be numbered against the wrong
		// lines: the server's text is loaded instead.
		const reloaded = status === 200 && edit && (await sha256Hex(text)) !== data.version && (await loadRules());
		if (status === 200) {
			state.version = data.version;
			if (!reloaded) state.loadedText = text;
			showVersion(data.version);
			showDirty();
			const live = el('span', 'live-time', `${fmtNum(data.us)} µs`);
			live.id = 'apply-us';
			const what = describeCounts(data);
			showResult('good', [document.createTextNode('Applied: live in '), live,
				document.createTextNode(` on the router (${rtt.toFixed(0)} ms round trip)` + (what ? '; ' + what : '') +
					'.')]);
			showDiff(data.diff);
			pollNow();
		} else if (status === 422) {
			showResult('bad', `Not applied: ${(data.errors || []).length} error(s) in the rules; nothing was changed.`);
			showErrors(data.errors);
		} else if (status === 409) {
			showStale(data);
		} else {
			showResult('bad', `Not applied (${status}): ${data.error || data.message || 'no reason given'}`);
		}
	} catch (e) {
		showResult('bad', 'Not applied: ' + e.message + ' (is the router reachable?)');
	} finally {
		btn.disabled = false;
	}
}

// Someone else applied first: never overwrite them; keep this text to copy.
function showStale(data) {
	// your change: the lines you have that the rules you loaded had not
	const had = new Set(state.loadedText.split('\n'));
	const mine = state.text.split('\n').filter((l) => l.trim() !== '' && !had.has(l));
	const reload = el('button', 'primary', 'Reload their rules');
	reload.type = 'button';
	reload.id = 'btn-stale-reload';
	const keep = el('details', 'mine');
	keep.append(el('summary', '', `your new or changed lines (${mine.length}; copy them before reloading)`));
	keep.append(el('pre', 'mono', mine.slice(0, 1000).join('\n') + (mine.length > 1000 ? '\n…' : '')));
	reload.addEventListener('click', async () => {
		if (await loadRules()) {
			showResult('info', `Reloaded the current rules (version ${String(state.version).slice(0, 12)}). ` +
				'Make your change again, then Apply.');
		}
	});
	showResult('stale', [el('strong', '', 'Someone else changed the rules'),
		document.createTextNode(` since you loaded them (your version ${String(state.version).slice(0, 12)}` +
			(data && data.version !== undefined ? `, now ${String(data.version).slice(0, 12)}` : '') +
			'). Nothing was applied. '),
		reload, keep]);
}

// ---- single-line helpers: add, edit, remove -----------------------------------
function normRule(line) {
	return line.replace(/#.*/, '').trim().replace(/\s+/g, ' ');
}

// Where the table's rule is in the editor: its line if that still holds
// it, else the first line that does (the text may have been edited).
function findRuleLine(r) {
	const range = lineRange(state.text, r.line);
	if (range && normRule(state.text.slice(range[0], range[1])) === r.rule) return r.line;
	const i = state.text.split('\n').findIndex((l) => normRule(l) === r.rule);
	if (i >= 0) return i + 1;
	// the file may spell the rule differently from the canonical form
	if (range && state.loadedText === state.text) return r.line;
	return 0;
}

// replaceLine(LINE, TEXT): TEXT instead of line LINE; null removes it
function replaceLine(line, newText) {
	const v = state.text;
	const range = lineRange(v, line);
	if (!range) return;
	let [s, e] = range;
	if (newText === null) {
		// remove the line and its newline
		if (e < v.length) e++;
		else if (s > 0) s--;
		setText(v.slice(0, s) + v.slice(e), line);
	} else {
		setText(v.slice(0, s) + newText + v.slice(e), line);
	}
}

// appendLine(TEXT): a new last line; returns its number
function appendLine(text) {
	let v = state.text;
	if (v.length && !v.endsWith('\n')) v += '\n';
	v += text + '\n';
	const line = lineCount(v) - 1;
	setText(v, line);
	gotoLine(line);
	return line;
}

function forwardFromForm(f) {
	const words = ['forward', f.iface.value.trim(), f.proto.value, f.ports.value.trim(), 'to', f.to.value.trim()];
	if (f.family.value) words.push('family', f.family.value);
	if (f.from.value.trim()) words.push('from', f.from.value.trim().replace(/\s+/g, ''));
	if (f.keep.checked) words.push('keep-source');
	if (f.dataset.extra) words.push(f.dataset.extra);
	return words.join(' ');
}

function fillForward(f, rule) {
	const m = /^forward\s+(\S+)\s+(tcp|udp)\s+(\S+)\s+to\s+(\S+)\s*(.*)$/.exec(rule);
	if (!m) return false;
	f.iface.value = m[1];
	f.proto.value = m[2];
	f.ports.value = m[3];
	f.to.value = m[4];
	let rest = ' ' + m[5] + ' ';
	const from = /\sfrom\s+(\S+)\s/.exec(rest);
	f.from.value = from ? from[1] : '';
	if (from) rest = rest.replace(from[0], ' ');
	f.keep.checked = /\skeep-source\s/.test(rest);
	rest = rest.replace(/\skeep-source\s/, ' ');
	const fam = /\sfamily\s+(ipv4|ipv6|any)\s/.exec(rest);
	f.family.value = fam ? fam[1] : '';
	if (fam) rest = rest.replace(fam[0], ' ');
	f.dataset.extra = rest.trim(); // options the form has no field for are kept
	checkForwardForm(f);
	return true;
}

// an IPv6 address without its brackets: two colons or more, no "["
const bareIPv6 = (a) => !a.startsWith('[') && (a.match(/:/g) || []).length >= 2;

// checkForwardForm(FORM): what the parser would refuse in the forward form
// that the form can tell at once, as the fields' validity: an IPv6 address
// written without brackets (ambiguous with a port), and a "clients" family
// that cannot be (IPv4 clients of an IPv6 backend, a family against the
// local address, keep-source for IPv6 clients of an IPv4 backend). The
// families that cannot be are disabled; the hint says what the default is.
function checkForwardForm(f) {
	const iface = f.iface.value.trim();
	const to = f.to.value.trim();
	const colon = iface.indexOf(':');
	const local = colon < 0 ? '' : iface.slice(colon + 1);
	f.iface.setCustomValidity(bareIPv6(local)
		? `an IPv6 local address goes in brackets: ${iface.slice(0, colon)}:[${local}]` : '');
	f.to.setCustomValidity(bareIPv6(to)
		? `an IPv6 backend goes in brackets: [${to}] (the address alone) or [ADDR]:PORT such as [fd00:8::2]:8443` : '');
	const to6 = to.startsWith('[');
	const local6 = local.startsWith('[');
	const ok = { '': true, ipv4: true, ipv6: true, any: true };
	let why = '';
	if (local) {
		// a local address says the clients' family itself
		ok[local6 ? 'ipv4' : 'ipv6'] = ok.any = false;
		why = `the local address makes it ${local6 ? 'IPv6' : 'IPv4'} clients (write the interface alone for family any)`;
	}
	if (to6) {
		ok.ipv4 = ok.any = false;
		why = why || 'an IPv6 backend serves IPv6 clients only';
	} else if (f.keep.checked) {
		ok.ipv6 = ok.any = false;
		why = why || 'keep-source: an IPv6 client cannot be the source of an IPv4 packet, so IPv4 clients only';
	}
	for (const o of f.family.options) o.disabled = !ok[o.value];
	f.family.setCustomValidity(ok[f.family.value] ? '' : `family ${f.family.value} cannot be here: ${why}`);
	let hint;
	if (local) hint = `Clients: ${local6 ? 'IPv6' : 'IPv4'}, the local address's family.`;
	else if (to6) hint = 'Clients: IPv6 (an IPv6 backend serves IPv6 clients only).';
	else if (to) hint = 'Clients by default: IPv4, the backend\'s family; IPv6 clients of this IPv4 backend ' +
		'with family ipv6 or any (6->4).';
	else hint = 'Clients by default: the backend\'s family. An IPv6 address goes in brackets: [fd00:8::2]:80.';
	$('fwd-family-hint').textContent = hint;
}

function fillMasq(f, rule) {
	const m = /^masquerade\s+(\S+)\s+out\s+(\S+)\s*(.*)$/.exec(rule);
	if (!m) return false;
	f.prefix.value = m[1];
	f.out.value = m[2];
	f.dataset.extra = m[3].trim();
	return true;
}

function setEditing(kind, line) {
	state.editing = line ? { kind, line } : null;
	for (const k of ['fwd', 'masq']) {
		const mine = line && kind === (k === 'fwd' ? 'forward' : 'masquerade');
		$(k + '-title').textContent = mine ? `Edit line ${line}` : k === 'fwd' ? 'Add a forward' : 'Add a masquerade';
		$(k + '-submit').textContent = mine ? `Replace line ${line}` : 'Add to the text';
		$(k + '-cancel').classList.toggle('hidden', !mine);
		$(k + '-form').classList.toggle('editing', !!mine);
	}
}

function resetForm(f) {
	f.reset();
	delete f.dataset.extra;
	if (f.id === 'fwd-form') checkForwardForm(f);
}

function onFormSubmit(kind, ev) {
	ev.preventDefault();
	const f = ev.target;
	if (kind === 'forward') {
		checkForwardForm(f);
		if (!f.reportValidity()) return;
	}
	const text = kind === 'forward' ? forwardFromForm(f)
		: ['masquerade', f.prefix.value.trim(), 'out', f.out.value.trim(), f.dataset.extra || ''].join(' ').trim();
	clearOutcome();
	if (state.editing && state.editing.kind === kind) {
		replaceLine(state.editing.line, text);
		showResult('info', `Line ${state.editing.line} is now "${text}". Press Apply to make it live.`);
		gotoLine(state.editing.line);
	} else {
		showResult('info', `Added "${text}" at line ${appendLine(text)}. Press Apply to make it live.`);
	}
	resetForm(f);
	setEditing(null, 0);
}

function onRowAction(ev) {
	const b = ev.target.closest('button[data-act]');
	if (!b) return;
	const row = b.closest('.vt-row');
	const r = state.rules[+row.dataset.idx];
	if (!r) return;
	clearOutcome();
	const line = findRuleLine(r);
	if (!line) {
		showResult('bad', `"${r.rule}" is not in the editor's text any more; reload the rules or edit the text.`);
		return;
	}
	if (b.dataset.act === 'remove') {
		replaceLine(line, null);
		showResult('info', `Removed line ${line} ("${r.rule}") from the text. Press Apply to make it live.`);
		$('editor-section').scrollIntoView({ block: 'start' });
		return;
	}
	const kind = r.rule.startsWith('forward') ? 'forward' : r.rule.startsWith('masquerade') ? 'masquerade' : '';
	const f = $(kind === 'forward' ? 'fwd-form' : 'masq-form');
	if (!kind || !(kind === 'forward' ? fillForward(f, r.rule) : fillMasq(f, r.rule))) {
		gotoLine(line);
		showResult('info', `Edit line ${line} in the text.`);
		return;
	}
	setEditing(kind, line);
	f.scrollIntoView({ block: 'center' });
	gotoLine(line);
}

// ---- wiring --------------------------------------------------------------------
let pollTimer = null;
function pollNow() {
	// a fresh sample right after an apply; the regular poll goes on
	clearTimeout(pollTimer);
	pollTimer = setTimeout(async () => {
		const { status, data } = await api('GET', '/api/stats').catch(() => ({ status: 0 }));
		if (status === 200) {
			state.stats = data;
			takeRules(data);
			computeRates(data, performance.now());
			renderStats();
		}
	}, 50);
}

function init() {
	let searchTimer = null;
	$('rule-search').addEventListener('input', (ev) => {
		clearTimeout(searchTimer);
		searchTimer = setTimeout(() => {
			state.query = ev.target.value;
			$('rules-view').scrollTop = 0;
			applyFilter();
		}, 120);
	});
	$('rules-busiest').addEventListener('change', (ev) => {
		state.busiest = ev.target.checked;
		applyFilter();
	});
	$('rules-view').addEventListener('scroll', () => requestAnimationFrame(renderRows));
	$('rules-rows').addEventListener('click', onRowAction);
	window.addEventListener('resize', () => {
		renderRows();
		queueGutter();
	});
	const t = ta();
	t.addEventListener('input', onTextInput);
	t.addEventListener('scroll', queueGutter);
	$('btn-check').addEventListener('click', checkRules);
	$('btn-apply').addEventListener('click', applyRules);
	$('btn-reload').addEventListener('click', async () => {
		clearOutcome();
		if (state.text !== state.loadedText &&
			!window.confirm('Discard your edits and load the rules as they are on the router?')) return;
		if (await loadRules()) showResult('info', 'Loaded the rules from the router.');
	});
	$('goto-form').addEventListener('submit', (ev) => {
		ev.preventDefault();
		const n = parseInt($('goto-line').value, 10);
		if (n >= 1) gotoLine(Math.min(n, totalLines));
	});
	$('errors').addEventListener('click', (ev) => {
		const li = ev.target.closest('li');
		if (!li || !li.dataset.line) return;
		ev.preventDefault();
		gotoLine(+li.dataset.line, +li.dataset.col);
	});
	$('fwd-form').addEventListener('submit', (ev) => onFormSubmit('forward', ev));
	for (const ev of ['input', 'change']) $('fwd-form').addEventListener(ev, () => checkForwardForm($('fwd-form')));
	checkForwardForm($('fwd-form'));
	$('masq-form').addEventListener('submit', (ev) => onFormSubmit('masquerade', ev));
	for (const k of ['fwd', 'masq']) {
		$(k + '-cancel').addEventListener('click', () => {
			resetForm($(k + '-form'));
			setEditing(null, 0);
		});
	}
	document.querySelectorAll('.chart-span').forEach((s) => {
		s.textContent = `${Math.round((HISTORY * STATS_EVERY_MS) / 60000)} minutes`;
	});
	applyFilter();
	loadRules();
	pollStatus();
	pollStats();
}

document.addEventListener('DOMContentLoaded', init);
