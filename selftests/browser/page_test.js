#!/usr/bin/env node
// selftests/browser/page_test.js — drives Debian's chromium through xmasqd's
// page with playwright-core. Started by selftests/netns/netns_page.sh inside
// the router's network namespace, once per phase:
//
//   edit:  a browser without a client certificate is refused; the rules table
//          shows every rule and the search filters it; a forward is added
//          with the form and applied (the page shows the diff and the time);
//          a second editor holding the old version is told the rules changed;
//          a bad line shows the parser's message at its line
//   rates: while the shell sends traffic through the new forward, its
//          packets/s on the page goes above 0
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

// addForward(page, [IFACE, PROTO, PORT, TO]): fills the form and adds the line
async function addForward(page, f) {
	await page.fill('#fwd-form input[name=iface]', f[0]);
	await page.selectOption('#fwd-form select[name=proto]', f[1]);
	await page.fill('#fwd-form input[name=ports]', f[2]);
	await page.fill('#fwd-form input[name=to]', f[3]);
	await page.click('#fwd-submit');
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

	await step('a bad line shows the parser\'s message at its line and column; nothing applied', async () => {
		// typed at the end of the file: go to its last line, then type
		await page.fill('#goto-line', '999999');
		await page.click('#goto-btn');
		const badLine = +(await page.$eval('#editor-pos', (e) => e.dataset.total));
		await page.focus('#rules-text');
		await page.keyboard.press('Control+End');
		await page.keyboard.type(args['bad-line']);
		const v0 = await page.$eval('#rules-version', (e) => e.dataset.version);
		await page.click('#btn-apply');
		const li = page.locator(`#errors li[data-line="${badLine}"]`);
		await li.first().waitFor();
		const msg = await li.first().textContent();
		const col = await li.first().getAttribute('data-col');
		diag(`shown: ${msg}`);
		if (!msg.includes(args['bad-message'])) return `line ${badLine}: "${msg}" lacks "${args['bad-message']}"`;
		if (!msg.includes(`line ${badLine}`)) return `the message does not say line ${badLine}: ${msg}`;
		if (args['bad-col'] && col !== args['bad-col']) return `column ${col}, want ${args['bad-col']}`;
		const marked = await page.locator(`#gutter .gl.err[data-line="${badLine}"]`).count();
		if (marked !== 1) return `line ${badLine} is not marked in the editor's gutter`;
		const v1 = await page.$eval('#rules-version', (e) => e.dataset.version);
		if (v1 !== v0) return `the version changed (${v0} -> ${v1}) although the rules were refused`;
		await page.screenshot({ path: path.join(args.shots, 'page-error.png'), fullPage: true });
		return true;
	});

	await step('no script errors and no CSP violations on the page', async () => (log.length ? log.join('\n') : true));
}

async function phaseRates(browser) {
	const log = [];
	const page = await openPage(browser, log);
	await step(`the rule "${args.rule}" shows packets/s above 0 while traffic flows`, async () => {
		await search(page, args['search-port']);
		const cell = page.locator('#rules-rows .vt-row:not(.hidden)', { hasText: args.rule }).locator('.c-pps');
		// rates need two samples; the shell keeps traffic going meanwhile
		await page.waitForFunction((rule) => {
			for (const r of document.querySelectorAll('#rules-rows .vt-row:not(.hidden)')) {
				if (r.dataset.rule === rule) return +r.querySelector('.c-pps').dataset.value > 0;
			}
			return false;
		}, args.rule, { timeout: 20000 });
		diag(`packets/s shown: ${await cell.textContent()}`);
		return true;
	});
	await step('the total rate and the charts are drawn', async () => {
		const pps = await page.textContent('#total-pps');
		if (!(parseFloat(pps) > 0)) return `total packets/s: ${pps}`;
		return true;
	});
	await step('"busiest first" puts the rule with traffic at the top of the table', async () => {
		await search(page, '');
		await page.check('#rules-busiest');
		await page.waitForFunction((rule) => {
			const rows = [...document.querySelectorAll('#rules-rows .vt-row:not(.hidden)')];
			rows.sort((a, b) => parseFloat(a.style.top) - parseFloat(b.style.top));
			return rows.length && rows[0].dataset.rule === rule;
		}, args.rule);
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
