#!/usr/bin/env node
// selftests/browser/page_test.js — drives Debian's chromium through xmasqd's
// page with playwright-core. Started by selftests/netns/netns_page.sh inside
// the router's network namespace, once per phase:
//
//   edit:  a browser without a client certificate is refused; the rules table
//          shows every rule and the search filters it; a forward is added
//          with the form and applied (the page shows the diff and the time);
//          a second editor holding the old version is told the rules changed;
//          IPv6: the interfaces table shows each NIC's IPv6 address, the
//          form brackets nothing itself but refuses a bare IPv6 address and
//          offers only the client families that can be, an IPv6 forward, a
//          family any forward and an IPv6 masquerade are added with the
//          forms and applied, a row's Edit loads them back; a bad line (IPv4 and IPv6 ones) shows the
//          parser's message at its line
//   rates: while the shell sends traffic through the new forwards (IPv4
//          and IPv6 clients), their packets/s on the page go above 0, and
//          the IPv6 flows and counters show
//
// Prints "PASS desc", "FAIL desc" and "DIAG text" lines; the shell turns them
// into TAP. Environment: NODE_EXTRA_CA_CERTS (the test CA, so that Node's
// client-certificate proxy trusts the server), CHROMIUM (the browser binary).
'use strict';

const path = require('path');
const { chromium } = require(path.join(__dirname, '../../tools/browser/node_modules/playwright-core'));

function parseArgs(argv) {
	const a = { phase: argv[0] };
	for (let i = 1; i < argv.length; i += 2) a[argv[i].replace(/^--/, '')] = argv[i + 1];
	for (const k of ['url', 'cert', 'key', 'shots']) {
		if (!a[k]) throw new Error(`page_test.js: --${k} missing`);
	}
	return a;
}

const args = parseArgs(process.argv.slice(2));
const origin = new URL(args.url).origin;
const TIMEOUT = 15000;

// portSpecOf(RULE): the port (or range) a forward listens on
const portSpecOf = (rule) => rule.split(/\s+/)[3].split('-')[0];
let failed = 0;

function diag(text) {
	for (const l of String(text).split('\n')) console.log('DIAG ' + l);
}

function result(ok, desc, why) {
	console.log((ok ? 'PASS ' : 'FAIL ') + desc);
	if (!ok) {
		failed++;
		if (why) diag(why);
	}
	return ok;
}

// step(desc, fn): passes when fn returns true; a string it returns, or the
// error it throws, is why it failed
async function step(desc, fn) {
	try {
		const r = await fn();
		return result(r === true, desc, typeof r === 'string' ? r : `returned ${r}`);
	} catch (e) {
		return result(false, desc, e.message.split('\n').slice(0, 6).join('\n'));
	}
}

function withCert(extra) {
	return Object.assign({
		clientCertificates: [{ origin, certPath: args.cert, keyPath: args.key }],
		viewport: { width: 1280, height: 900 },
	}, extra || {});
}

async function openPage(browser, log) {
	const ctx = await browser.newContext(withCert());
	const page = await ctx.newPage();
	page.setDefaultTimeout(TIMEOUT);
	page.on('pageerror', (e) => log.push('page error: ' + e.message));
	page.on('console', (m) => {
		// the 409 and 422 the tests provoke are answers the page shows, not errors
		if (m.type() === 'error' && !/favicon/.test(m.location().url) && !/status of (409|422)/.test(m.text())) {
			log.push('console: ' + m.text());
		}
	});
	page.on('dialog', (d) => d.accept());
	await page.goto(args.url);
	// loaded: the rules text and the first stats are in
	try {
		await page.waitForFunction(() => document.getElementById('rules-version').dataset.version !== undefined &&
			document.getElementById('rules-count').dataset.total > 0);
	} catch (e) {
		const conn = await page.textContent('#conn').catch(() => '?');
		const res = await page.evaluate(() => JSON.stringify([document.getElementById('result').textContent,
			document.getElementById('rules-version').dataset, document.getElementById('rules-count').dataset]))
			.catch(() => '?');
		throw new Error(`the page did not load its data: ${e.message.split('\n')[0]}\nstate: ${conn}; ${res}\n` +
			log.join('\n'));
	}
	return page;
}

// the editor's window: its first line's number and its lines
async function editorWindow(page) {
	const first = +(await page.$eval('#rules-text', (t) => t.dataset.first));
	return { first, lines: (await page.inputValue('#rules-text')).split('\n') };
}

// addForward(page, [IFACE, PROTO, PORT, TO[, FAMILY]]): fills the form and
// adds the line (FAMILY: the "clients" select's value, '' the default)
async function addForward(page, f) {
	await page.fill('#fwd-form input[name=iface]', f[0]);
	await page.selectOption('#fwd-form select[name=proto]', f[1]);
	await page.fill('#fwd-form input[name=ports]', f[2]);
	await page.fill('#fwd-form input[name=to]', f[3]);
	await page.selectOption('#fwd-form select[name=family]', f[4] || '');
	await page.click('#fwd-submit');
}

// forwardText([IFACE, PROTO, PORT, TO[, FAMILY]]): the line the form makes
const forwardText = (f) => `forward ${f[0]} ${f[1]} ${f[2]} to ${f[3]}` + (f[4] ? ` family ${f[4]}` : '');

// applied(page): Apply pressed and the page says it is live; the diff's lines
async function applied(page) {
	await page.click('#btn-apply');
	await page.waitForSelector('#result.good #apply-us');
	return page.$$eval('#diff > div', (ds) => ds.map((d) => d.textContent));
}

async function rulesCount(page) {
	return page.$eval('#rules-count', (e) => ({ total: +e.dataset.total, shown: +e.dataset.shown }));
}

async function search(page, q) {
	await page.fill('#rule-search', q);
	// the table has filtered for exactly this query (the box waits for a typing pause)
	await page.waitForFunction((q) => document.getElementById('rules-count').dataset.query === q, q);
	return rulesCount(page);
}

async function phaseEdit(browser) {
	const want = +args.rules;
	const fwd = args.forward.split(' '); // IFACE PROTO PORT TO
	const ruleText = `forward ${fwd[0]} ${fwd[1]} ${fwd[2]} to ${fwd[3]}`;

	await step('a browser context without a client certificate is refused', async () => {
		// ignoreHTTPSErrors: the server's certificate is not what refuses it
		const ctx = await browser.newContext({ ignoreHTTPSErrors: true });
		const page = await ctx.newPage();
		let err = null;
		let status = 0;
		try {
			const res = await page.goto(args.url, { timeout: TIMEOUT });
			status = res ? res.status() : 0;
		} catch (e) {
			err = e.message.split('\n')[0];
		}
		await ctx.close();
		if (!err) return `the page loaded without a certificate (HTTP ${status})`;
		diag('without a certificate: ' + err);
		return true;
	});

	const log = [];
	const page = await openPage(browser, log);
	const other = await openPage(browser, log); // a second operator, same version

	await step(`the rules table shows all ${want} rules, only the rows in view in the DOM`, async () => {
		const c = await rulesCount(page);
		const rows = await page.locator('#rules-rows .vt-row:not(.hidden)').count();
		if (c.total !== want) return `rules-count says ${c.total}, want ${want}`;
		if (rows < 5 || rows > 60) return `${rows} rows in the DOM`;
		return true;
	});

	await step('search by port, address and interface filters the table', async () => {
		let c = await search(page, args['search-port']);
		const line = await page.locator('#rules-rows .vt-row:not(.hidden) .c-rule').first().textContent();
		if (c.shown !== +args['search-port-n'] || !line.includes(args['search-port'])) {
			return `port ${args['search-port']}: ${c.shown} shown, want ${args['search-port-n']}; first "${line}"`;
		}
		c = await search(page, args['search-iface']);
		if (c.shown !== +args['search-iface-n']) return `"${args['search-iface']}": ${c.shown} shown, want ${args['search-iface-n']}`;
		c = await search(page, args['search-addr']);
		if (c.shown !== +args['search-addr-n']) return `"${args['search-addr']}": ${c.shown} shown, want ${args['search-addr-n']}`;
		c = await search(page, '');
		if (c.shown !== want) return `cleared search: ${c.shown} shown, want ${want}`;
		return true;
	});

	await step(`a forward added with the form and applied: "${ruleText}"`, async () => {
		await addForward(page, fwd);
		if (!(await editorWindow(page)).lines.includes(ruleText)) return 'the form did not add the line to the text';
		const v0 = await page.$eval('#rules-version', (e) => e.dataset.version);
		await page.click('#btn-apply');
		await page.waitForSelector('#result.good #apply-us');
		const us = await page.textContent('#apply-us');
		const diff = await page.textContent('#diff');
		const v1 = await page.$eval('#rules-version', (e) => e.dataset.version);
		diag(`applied in ${us}; diff: ${diff.trim().replace(/\n/g, ' | ') || '(none given)'}; version ${v0} -> ${v1}`);
		if (v1 === v0) return `the version did not change (${v0})`;
		if (!/\d/.test(us)) return `no time shown: "${us}"`;
		if (diff && !diff.includes(fwd[2])) return `the diff does not name the new rule: ${diff}`;
		// the table follows: the new rule appears
		await page.waitForFunction((n) => +document.getElementById('rules-count').dataset.total === n, want + 1);
		await page.screenshot({ path: path.join(args.shots, 'page-applied.png'), fullPage: true });
		return true;
	});

	await step('a row\'s Edit and Remove change those lines of the text; Apply makes it live', async () => {
		const [editPort, newPort, rmPort] = args['edit-ports'].split(',');
		await search(page, editPort);
		await page.click('#rules-rows .vt-row:not(.hidden) button[data-act=edit]');
		if ((await page.inputValue('#fwd-form input[name=ports]')) !== editPort) return 'Edit did not fill the form';
		const title = await page.textContent('#fwd-title');
		const line = +/line (\d+)/.exec(title)[1];
		await page.fill('#fwd-form input[name=ports]', newPort);
		await page.click('#fwd-submit');
		let w = await editorWindow(page);
		const got = w.lines[line - w.first] || '';
		if (!got.includes(` ${newPort} `)) return `line ${line} is "${got}" after Replace`;
		await search(page, rmPort);
		await page.click('#rules-rows .vt-row:not(.hidden) button[data-act=remove]');
		w = await editorWindow(page);
		if (w.lines.some((l) => l.includes(`tcp ${rmPort} `))) return `the line of tcp port ${rmPort} is still in the text`;
		await page.click('#btn-apply');
		await page.waitForSelector('#result.good #apply-us');
		const diff = await page.$$eval('#diff > div', (ds) => ds.map((d) => d.textContent).join(' | '));
		diag(`diff: ${diff}`);
		if (!diff.includes(newPort) || !diff.includes(rmPort)) return `the diff lacks ${newPort} or ${rmPort}: ${diff}`;
		await page.waitForFunction((n) => +document.getElementById('rules-count').dataset.total === n, want);
		if ((await search(page, newPort)).shown !== 1 || (await search(page, rmPort)).shown !== +args['rm-left']) {
			return 'the table does not show the edited rule, or still shows the removed one';
		}
		await search(page, '');
		return true;
	});

	await step('a second editor with the old version is told someone else changed the rules, and can reload', async () => {
		await addForward(other, ['eth1', 'udp', '7', '198.18.0.2:7']);
		await other.click('#btn-apply');
		await other.waitForSelector('#result.stale');
		const msg = await other.textContent('#result');
		if (!/someone else changed the rules/i.test(msg)) return `shown: ${msg}`;
		await other.click('#btn-stale-reload');
		await other.waitForSelector('#result.info');
		await other.fill('#goto-line', '999999');
		await other.click('#goto-btn');
		if (!(await editorWindow(other)).lines.includes(ruleText)) {
			return 'the reloaded text lacks the rule the first editor added';
		}
		return true;
	});

	await step('the interfaces table shows each NIC\'s IPv6 address beside its IPv4 one (– without)', async () => {
		const want = Object.fromEntries(args.addr6.split(',').map((x) => x.split('=')));
		const got = {};
		for (const name of Object.keys(want)) {
			const row = page.locator(`#ifaces tr[data-iface="${name}"]`);
			got[name] = [await row.locator('td.addr').textContent(), await row.locator('td.addr6').textContent()];
		}
		diag('interfaces (IPv4, IPv6): ' + JSON.stringify(got));
		const head = await page.$$eval('#ifaces th', (ths) => ths.map((t) => t.textContent));
		if (head.indexOf('IPv6 address') !== head.indexOf('address') + 1) return `header: ${head.join(' | ')}`;
		for (const [name, a6] of Object.entries(want)) {
			if (got[name][1] !== a6) return `${name}: IPv6 address "${got[name][1]}", want "${a6}"`;
			if (!/^\d+\.\d+\.\d+\.\d+$/.test(got[name][0])) return `${name}: IPv4 address "${got[name][0]}"`;
		}
		return true;
	});

	await step('the forward form refuses an IPv6 backend without brackets and offers only the client families that can be', async () => {
		const text0 = await page.inputValue('#rules-text');
		await page.fill('#fwd-form input[name=iface]', 'eth0');
		await page.fill('#fwd-form input[name=ports]', '9999');
		await page.fill('#fwd-form input[name=to]', 'fd00:8::2');
		await page.click('#fwd-submit');
		const msg = await page.$eval('#fwd-form input[name=to]', (i) => i.validationMessage);
		if (!/brackets: \[fd00:8::2\]/.test(msg)) return `the "to" field says: "${msg}"`;
		if ((await page.inputValue('#rules-text')) !== text0) return 'the form added a line with a bare IPv6 address';
		const families = async () => page.$$eval('#fwd-form select[name=family] option',
			(os) => os.filter((o) => !o.disabled).map((o) => o.value || 'default').join(','));
		await page.fill('#fwd-form input[name=to]', '[fd00:8::2]:80');
		const f6 = await families();
		const hint6 = await page.textContent('#fwd-family-hint');
		await page.fill('#fwd-form input[name=to]', '198.18.0.2:80');
		const f4 = await families();
		await page.fill('#fwd-form input[name=iface]', 'eth0:[2001:db8::1]');
		const fl = await families();
		diag(`families offered: IPv6 backend ${f6} ("${hint6}"); IPv4 backend ${f4}; IPv6 local address ${fl}`);
		await page.$eval('#fwd-form', (f) => f.reset());
		await page.fill('#fwd-form input[name=iface]', ''); // an input event: the form checks itself again
		if (f6 !== 'default,ipv6') return `IPv6 backend: ${f6} offered, want default,ipv6`;
		if (f4 !== 'default,ipv4,ipv6,any') return `IPv4 backend: ${f4} offered`;
		if (fl !== 'default,ipv6') return `IPv6 local address: ${fl} offered, want default,ipv6`;
		return true;
	});

	const fwd6 = args.forward6.split(' '); // IFACE PROTO PORT [ADDR6]:PORT
	const fwdAny = args['forward-any'].split(' '); // IFACE PROTO PORT ADDR4:PORT FAMILY
	const masq6 = args.masq6.split(' '); // PREFIX IFACE
	const masq6Text = `masquerade ${masq6[0]} out ${masq6[1]}`;
	await step(`an IPv6 forward, a family any forward and an IPv6 masquerade added with the forms and applied: ` +
		`"${forwardText(fwd6)}", "${forwardText(fwdAny)}", "${masq6Text}"`, async () => {
		const n0 = (await rulesCount(page)).total;
		await addForward(page, fwd6);
		await addForward(page, fwdAny);
		await page.fill('#masq-form input[name=prefix]', masq6[0]);
		await page.fill('#masq-form input[name=out]', masq6[1]);
		await page.click('#masq-submit');
		const want = [forwardText(fwd6), forwardText(fwdAny), masq6Text];
		const lines = (await editorWindow(page)).lines;
		for (const t of want) {
			if (!lines.includes(t)) return `the form did not add "${t}" to the text`;
		}
		const diff = await applied(page);
		diag(`diff: ${diff.join(' | ')}`);
		for (const t of want) {
			if (!diff.some((l) => l.startsWith('+') && l.includes(t))) return `the diff lacks "+ ${t}": ${diff.join(' | ')}`;
		}
		await page.waitForFunction((n) => +document.getElementById('rules-count').dataset.total === n, n0 + 3);
		return true;
	});

	await step('the search finds the IPv6 forward by its backend address and by its port; Edit loads both forwards ' +
		'and the IPv6 masquerade back into their forms', async () => {
		const a6 = /^\[([^\]]+)\]/.exec(fwd6[3])[1];
		let c = await search(page, a6);
		if (c.shown < 1) return `"${a6}": nothing shown`;
		c = await search(page, fwd6[2]);
		if (c.shown !== 1) return `port ${fwd6[2]}: ${c.shown} shown, want 1`;
		await page.click('#rules-rows .vt-row:not(.hidden) button[data-act=edit]');
		const to = await page.inputValue('#fwd-form input[name=to]');
		const fam6 = await page.inputValue('#fwd-form select[name=family]');
		await page.click('#fwd-cancel');
		await search(page, fwdAny[2]);
		await page.click('#rules-rows .vt-row:not(.hidden) button[data-act=edit]');
		const toAny = await page.inputValue('#fwd-form input[name=to]');
		const famAny = await page.inputValue('#fwd-form select[name=family]');
		const title = await page.textContent('#fwd-title');
		await page.click('#fwd-cancel');
		if ((await search(page, masq6[0])).shown !== 1) return `"${masq6[0]}": not one row`;
		await page.click('#rules-rows .vt-row:not(.hidden) button[data-act=edit]');
		const prefix = await page.inputValue('#masq-form input[name=prefix]');
		const out = await page.inputValue('#masq-form input[name=out]');
		await page.click('#masq-cancel');
		await search(page, '');
		if (prefix !== masq6[0] || out !== masq6[1]) return `the IPv6 masquerade's Edit filled "${prefix}" out "${out}"`;
		diag(`Edit: "${to}" family "${fam6}"; "${toAny}" family "${famAny}" (${title})`);
		if (to !== fwd6[3] || fam6 !== '') return `the IPv6 forward's Edit filled "${to}", family "${fam6}"`;
		if (toAny !== fwdAny[3] || famAny !== fwdAny[4]) return `the family any forward's Edit filled "${toAny}", family "${famAny}"`;
		if (!/^Edit line \d+$/.test(title)) return `the form's title: ${title}`;
		return true;
	});

	await step('Check validates the text and applies nothing', async () => {
		const v0 = await page.$eval('#rules-version', (e) => e.dataset.version);
		await page.click('#btn-check');
		await page.waitForSelector('#result.good');
		const msg = await page.textContent('#result');
		const v1 = await page.$eval('#rules-version', (e) => e.dataset.version);
		diag(`check: ${msg}`);
		if (!/valid/.test(msg)) return `shown: ${msg}`;
		return v1 === v0 ? true : `the version changed (${v0} -> ${v1})`;
	});

	// --bad: [[LINE, MESSAGE, COLUMN], ...], each typed as the file's last line
	const bad = JSON.parse(args.bad);
	for (let k = 0; k < bad.length; k++) {
		const [badText, badMessage, badCol] = bad[k];
		await step(`a bad line shows the parser's message at its line and column; nothing applied: "${badText}"`, async () => {
			if (k > 0) {
				// the previous case's line out: the router's text again (the dialog is accepted)
				await page.click('#btn-reload');
				await page.waitForSelector('#result.info');
			}
			// typed at the end of the file: go to its last line, then type
			await page.fill('#goto-line', '999999');
			await page.click('#goto-btn');
			const badLine = +(await page.$eval('#editor-pos', (e) => e.dataset.total));
			await page.focus('#rules-text');
			await page.keyboard.press('Control+End');
			await page.keyboard.type(badText);
			const v0 = await page.$eval('#rules-version', (e) => e.dataset.version);
			await page.click('#btn-apply');
			const li = page.locator(`#errors li[data-line="${badLine}"]`);
			await li.first().waitFor();
			const msg = await li.first().textContent();
			const col = await li.first().getAttribute('data-col');
			diag(`shown: ${msg}`);
			if (!msg.includes(badMessage)) return `line ${badLine}: "${msg}" lacks "${badMessage}"`;
			if (!msg.includes(`line ${badLine}`)) return `the message does not say line ${badLine}: ${msg}`;
			if (badCol && col !== String(badCol)) return `column ${col}, want ${badCol}`;
			const marked = await page.locator(`#gutter .gl.err[data-line="${badLine}"]`).count();
			if (marked !== 1) return `line ${badLine} is not marked in the editor's gutter`;
			const v1 = await page.$eval('#rules-version', (e) => e.dataset.version);
			if (v1 !== v0) return `the version changed (${v0} -> ${v1}) although the rules were refused`;
			await page.screenshot({ path: path.join(args.shots, k ? `page-error-${k + 1}.png` : 'page-error.png'), fullPage: true });
			return true;
		});
	}

	await step('no script errors and no CSP violations on the page', async () => (log.length ? log.join('\n') : true));
}

// ppsAboveZero(page, RULE, PORT): RULE's row (found by searching PORT)
// shows packets/s above 0; rates need two samples, the shell keeps traffic
// going meanwhile
async function ppsAboveZero(page, rule, port) {
	await search(page, port);
	const cell = page.locator('#rules-rows .vt-row:not(.hidden)', { hasText: rule }).locator('.c-pps');
	await page.waitForFunction((rule) => {
		for (const r of document.querySelectorAll('#rules-rows .vt-row:not(.hidden)')) {
			if (r.dataset.rule === rule) return +r.querySelector('.c-pps').dataset.value > 0;
		}
		return false;
	}, rule, { timeout: 20000 });
	diag(`packets/s shown for "${rule}": ${await cell.textContent()}`);
	return true;
}

async function phaseRates(browser) {
	const log = [];
	const page = await openPage(browser, log);
	await step(`the rule "${args.rule}" shows packets/s above 0 while traffic flows`,
		async () => ppsAboveZero(page, args.rule, args['search-port']));
	for (const rule of JSON.parse(args['rules6'] || '[]')) {
		await step(`the rule "${rule}" shows packets/s above 0 while IPv6 clients use it`,
			async () => ppsAboveZero(page, rule, portSpecOf(rule)));
	}
	await step('conntrack shows the IPv6 flows beside the IPv4 ones, of their table\'s size, with a share', async () => {
		await page.waitForFunction(() => +document.getElementById('ct6-flows').dataset.value > 0, null, { timeout: 20000 });
		const v4 = await page.textContent('#ct-flows');
		const v6 = await page.textContent('#ct6-flows');
		const max6 = await page.textContent('#ct6-max');
		const share6 = await page.textContent('#ct6-share');
		const card = (await page.textContent('#overview')).replace(/\s+/g, ' ');
		diag(`conntrack: IPv4 ${v4} of ${await page.textContent('#ct-max')}, IPv6 ${v6} of ${max6} ${share6}`);
		if (!/IPv6 [\d,]+ flows of [\d,]+/.test(card)) return `the card says: ${card.slice(0, 300)}`;
		if (!(parseInt(max6.replace(/,/g, ''), 10) > 0)) return `IPv6 table size: ${max6}`;
		if (!/^\([\d.]+ %\)$/.test(share6)) return `IPv6 share: "${share6}"`;
		const w = await page.$eval('#ct6-meter', (m) => m.style.width);
		if (!/%$/.test(w)) return `the IPv6 meter's width: "${w}"`;
		return true;
	});
	await step('the IPv6 counters show with their meanings, those of this traffic above 0', async () => {
		const rows = await page.$$eval('#counters tr[data-counter]', (trs) => Object.fromEntries(trs.map((tr) =>
			[tr.dataset.counter, [tr.children[1].textContent, tr.children[4].textContent]])));
		const want = ['rx_ipv6', 'flow_new_ipv6', 'flow_new_6to4', 'pass_ipv6_to_tc', 'pass_6to4_to_tc', 'pass_ipv6_ext',
			'drop_no_ipv6_addr', 'drop_6to4_untranslatable'];
		const missing = want.filter((c) => !rows[c] || rows[c][1].trim() === '');
		if (missing.length) return `missing, or without a meaning: ${missing.join(', ')}`;
		const zero = ['rx_ipv6', 'flow_new_ipv6', 'flow_new_6to4'].filter((c) => !(parseInt(rows[c][0].replace(/,/g, ''), 10) > 0));
		diag('IPv6 counters: ' + want.map((c) => `${c} ${rows[c][0]}`).join(', '));
		if (zero.length) return `0 although IPv6 clients were forwarded: ${zero.join(', ')}`;
		return true;
	});
	await step('the total rate and the charts are drawn', async () => {
		const pps = await page.textContent('#total-pps');
		if (!(parseFloat(pps) > 0)) return `total packets/s: ${pps}`;
		return true;
	});
	// the rules with traffic: the IPv4 one and those of the IPv6 clients
	const busy = [args.rule].concat(JSON.parse(args['rules6'] || '[]'));
	await step('"busiest first" puts the rules with traffic at the top of the table', async () => {
		await search(page, '');
		await page.check('#rules-busiest');
		await page.waitForFunction((busy) => {
			const rows = [...document.querySelectorAll('#rules-rows .vt-row:not(.hidden)')];
			rows.sort((a, b) => parseFloat(a.style.top) - parseFloat(b.style.top));
			if (rows.length < busy.length) return false;
			const top = rows.slice(0, busy.length).map((r) => r.dataset.rule);
			return busy.every((rule) => top.includes(rule));
		}, busy);
		return true;
	});
	// the screenshots for the README: some history in the charts
	await page.waitForTimeout(+args['chart-ms'] || 0);
	await page.screenshot({ path: path.join(args.shots, 'page.png'), fullPage: true });
	await page.screenshot({ path: path.join(args.shots, 'page-top.png') });
	await step('no script errors and no CSP violations on the page', async () => (log.length ? log.join('\n') : true));
}

(async () => {
	const browser = await chromium.launch({
		executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
		// root in a namespace: chromium's sandbox needs user namespaces it may not have
		args: ['--no-sandbox'],
	});
	try {
		if (args.phase === 'edit') await phaseEdit(browser);
		else if (args.phase === 'rates') await phaseRates(browser);
		else throw new Error('page_test.js: phase edit|rates');
	} finally {
		await browser.close();
	}
	process.exit(failed ? 1 : 0);
})().catch((e) => {
	console.log('FAIL page_test.js ' + args.phase + ' phase');
	diag(e.stack || e.message);
	process.exit(1);
});
