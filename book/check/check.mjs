// Checks a built mdBook: every {{#include}} resolves, every page loads in headless Chromium
// without errors, every mermaid diagram is drawn, every internal link and #anchor resolves, and
// search finds pages.
//
//   node check.mjs SRC_DIR BUILT_DIR
//
// tools/check-book runs it after `mdbook build`. It serves BUILT_DIR on 127.0.0.1 only, and makes
// no other network request: a page that asks for anything outside that server fails the check.

import { chromium } from 'playwright-core';
import { createServer } from 'node:http';
import { readFile, readdir, stat } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import path from 'node:path';

const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
// Searches that must find pages: a word that occurs in the book, typed on a top-level page and on
// a nested one (search results are links relative to the page they are shown on).
const SEARCHES = [['namespace', 'index.html'], ['hypervisor', 'chapters/process/index.html']];
// The dark theme in which every diagram is drawn once more (mermaid follows mdBook's theme).
const DARK_THEME = 'navy';
const TIMEOUT_MS = 20000;
// Pages loaded at once.
const PARALLEL = 3;

const [srcDir, builtDir] = process.argv.slice(2).map((p) => path.resolve(p));
if (!srcDir || !builtDir) {
    console.error('usage: node check.mjs SRC_DIR BUILT_DIR');
    process.exit(2);
}

const problems = [];
const problem = (where, what) => problems.push(`${where}: ${what}`);

async function walk(dir) {
    const out = [];
    for (const entry of await readdir(dir, { withFileTypes: true })) {
        const full = path.join(dir, entry.name);
        if (entry.isDirectory()) out.push(...(await walk(full)));
        else out.push(full);
    }
    return out;
}

// ---------------------------------------------------------------------------------------------
// 1. Includes, in the sources. mdBook leaves a missing file's {{#include}} in the page as text and
//    includes nothing at all for a missing anchor; neither fails the build.

const INCLUDE = /(\\?)\{\{#(include|rustdoc_include|playground)\s+([^}\s]+)[^}]*\}\}/g;

async function checkIncludes() {
    let count = 0;
    for (const file of (await walk(srcDir)).filter((f) => f.endsWith('.md'))) {
        const text = await readFile(file, 'utf8');
        const rel = path.relative(srcDir, file);
        for (const match of text.matchAll(INCLUDE)) {
            if (match[1]) continue; // \{{#include}} is an escaped, literal one
            count++;
            const [target, ...selector] = match[3].split(':');
            const included = path.resolve(path.dirname(file), target);
            if (!existsSync(included)) {
                problem(rel, `${match[0]}: no file ${path.relative(process.cwd(), included)}`);
                continue;
            }
            const anchor = selector[0];
            if (!anchor || /^\d*$/.test(anchor)) continue; // whole file, or a line range
            const body = await readFile(included, 'utf8');
            for (const mark of ['ANCHOR', 'ANCHOR_END']) {
                const re = new RegExp(`${mark}:\\s*${anchor.replace(/[^\w-]/g, '\\$&')}(?![\\w-])`);
                if (!re.test(body)) problem(rel, `${match[0]}: no "${mark}: ${anchor}" in ${target}`);
            }
        }
    }
    return count;
}

// ---------------------------------------------------------------------------------------------
// 2. A static server for the built book, on loopback.

const TYPES = {
    '.html': 'text/html; charset=utf-8', '.js': 'text/javascript', '.css': 'text/css',
    '.json': 'application/json', '.svg': 'image/svg+xml', '.png': 'image/png',
    '.woff': 'font/woff', '.woff2': 'font/woff2', '.ttf': 'font/ttf', '.txt': 'text/plain',
};

function serve(root) {
    const server = createServer(async (req, res) => {
        try {
            let file = path.join(root, decodeURIComponent(new URL(req.url, 'http://x').pathname));
            if (file !== root && !file.startsWith(root + path.sep)) throw new Error('outside the book');
            if ((await stat(file)).isDirectory()) file = path.join(file, 'index.html');
            const body = await readFile(file);
            res.writeHead(200, { 'content-type': TYPES[path.extname(file)] || 'application/octet-stream' });
            res.end(body);
        } catch {
            res.writeHead(404, { 'content-type': 'text/plain' });
            res.end('not found');
        }
    });
    return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server)));
}

// ---------------------------------------------------------------------------------------------
// 3. Every page in the browser.

// Runs in the page once it has loaded: waits for the diagrams, then reports what it holds.
async function inspect(timeoutMs) {
    const deadline = Date.now() + timeoutMs;
    const pending = () => [...document.querySelectorAll('pre.mermaid')].filter((p) => !p.querySelector('svg'));
    while (pending().length && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    const diagrams = [...document.querySelectorAll('pre.mermaid')];
    return {
        diagrams: diagrams.length,
        undrawn: pending().length,
        broken: diagrams.filter((p) => {
            const svg = p.querySelector('svg');
            return svg && (svg.getAttribute('aria-roledescription') === 'error' || /Syntax error/.test(svg.textContent));
        }).length,
        ids: [...document.querySelectorAll('[id]')].map((e) => e.id)
            .concat([...document.querySelectorAll('a[name]')].map((e) => e.name)),
        // mdBook's 404 page resolves links against the site's root (<base href>), so its heading's
        // self-link points to the first page, where that heading is not: not a link anyone follows.
        links: [...document.querySelectorAll('a[href]')]
            .filter((a) => !(document.querySelector('base[href]') && a.classList.contains('header')))
            .map((a) => a.href),
    };
}

// An uncaught error's message, and the script and line it came from.
function describe(error) {
    const at = (error.stack || '').match(/https?:\/\/[^/\s]+\/([^\s)]+:\d+):\d+/);
    return error.message.split('\n')[0] + (at ? ` (at ${at[1]})` : '');
}

async function load(context, url, where) {
    const page = await context.newPage();
    const seen = [];
    page.on('pageerror', (e) => seen.push(`page error: ${describe(e)}`));
    page.on('console', (m) => {
        // "Failed to load resource" repeats what the request and response handlers report.
        if (m.type() === 'error' && !m.text().startsWith('Failed to load resource')) {
            seen.push(`console error: ${m.text().split('\n')[0]}`);
        }
    });
    page.on('requestfailed', (r) => seen.push(r.url().startsWith(new URL(url).origin)
        ? `request failed: ${r.url()} (${r.failure()?.errorText})`
        : `asks for something outside the book: ${r.url()}`));
    page.on('response', (r) => { if (r.status() >= 400) seen.push(`HTTP ${r.status()} for ${r.url()}`); });
    let facts = null;
    try {
        await page.goto(url, { waitUntil: 'load', timeout: TIMEOUT_MS });
        facts = await page.evaluate(inspect, TIMEOUT_MS);
        await page.waitForTimeout(100); // an error thrown just after load still counts
        if (facts.undrawn) seen.push(`${facts.undrawn} of ${facts.diagrams} mermaid diagrams not drawn`);
        if (facts.broken) seen.push(`${facts.broken} mermaid diagrams drawn as a syntax error`);
    } catch (e) {
        seen.push(`did not load: ${e.message.split('\n')[0]}`);
    }
    for (const s of seen) problem(where, s);
    await page.close();
    return facts;
}

async function inParallel(items, work) {
    const queue = [...items];
    const worker = async () => {
        while (queue.length) await work(queue.shift());
    };
    await Promise.all(Array.from({ length: PARALLEL }, worker));
}

async function checkSearch(context, base, pageRel, term, htmlFiles) {
    const where = `search for "${term}" from ${pageRel}`;
    const page = await context.newPage();
    const errors = [];
    page.on('pageerror', (e) => errors.push(describe(e)));
    try {
        await page.goto(base + pageRel, { waitUntil: 'load', timeout: TIMEOUT_MS });
        await page.click('#mdbook-search-toggle');
        await page.locator('#mdbook-searchbar').pressSequentially(term);
        const results = page.locator('#mdbook-searchresults li a');
        await results.first().waitFor({ timeout: TIMEOUT_MS });
        const hrefs = await results.evaluateAll((as) => as.map((a) => a.href));
        await Promise.all([page.waitForURL((u) => u.href !== base + pageRel), results.first().click()]);
        const landed = decodeURIComponent(new URL(page.url()).pathname).replace(/^\//, '');
        if (!htmlFiles.has(landed)) problem(where, `following the first result landed on ${landed}`);
        for (const e of errors) problem(where, `page error: ${e}`);
        return hrefs;
    } catch (e) {
        problem(where, `no results: ${e.message.split('\n')[0]}`);
        return [];
    } finally {
        await page.close();
    }
}

async function main() {
    const started = Date.now();
    const includes = await checkIncludes();

    const files = (await walk(builtDir)).map((f) => path.relative(builtDir, f).split(path.sep).join('/'));
    const fileSet = new Set(files);
    const htmlFiles = new Set(files.filter((f) => f.endsWith('.html')));
    const pages = [...htmlFiles].sort();

    const server = await serve(builtDir);
    const base = `http://127.0.0.1:${server.address().port}/`;
    const browser = await chromium.launch({
        executablePath: CHROMIUM,
        headless: true,
        chromiumSandbox: false, // root cannot use the sandbox
        // launch() gives each run a fresh, temporary --user-data-dir and removes it afterwards.
        args: ['--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking',
            '--disable-component-update', '--disable-sync'],
    });
    const newContext = async (theme) => {
        const context = await browser.newContext();
        // Nothing leaves the machine: anything not served by the book's own server is refused.
        await context.route((url) => !url.href.startsWith(base), (route) => route.abort('blockedbyclient'));
        if (theme) await context.addInitScript((t) => localStorage.setItem('mdbook-theme', t), theme);
        return context;
    };

    let diagrams = 0;
    let searchResults = 0;
    const idsOf = new Map();
    const linksFrom = new Map();
    try {
        const light = await newContext(null);
        await inParallel(pages, async (rel) => {
            const facts = await load(light, base + rel, rel);
            if (!facts) return;
            idsOf.set(rel, new Set(facts.ids));
            linksFrom.set(rel, new Set(facts.links));
            if (rel !== 'print.html') diagrams += facts.diagrams;
        });
        // The print page holds every diagram of the book: draw them all once more in a dark theme.
        if (htmlFiles.has('print.html')) {
            const dark = await newContext(DARK_THEME);
            await load(dark, `${base}print.html`, `print.html (${DARK_THEME} theme)`);
        }
        for (const [term, from] of SEARCHES) {
            if (!htmlFiles.has(from)) problem(from, `missing, so search cannot be tried from it`);
            else {
                // The results' links are checked with all the others, below.
                const hrefs = await checkSearch(light, base, from, term, htmlFiles);
                linksFrom.set(`search results for "${term}" on ${from}`, new Set(hrefs));
                searchResults += hrefs.length;
            }
        }
    } finally {
        await browser.close();
        server.close();
    }

    // 4. Links and anchors, from the rendered pages (the sidebar is drawn by script).
    const broken = new Map(); // what is missing -> the pages that link to it
    const links = new Set();
    for (const [from, hrefs] of linksFrom) {
        for (const href of hrefs) {
            if (!href.startsWith(base)) continue; // other sites: not reachable from here
            links.add(href);
            const url = new URL(href);
            let target = decodeURIComponent(url.pathname).replace(/^\//, '');
            if (target === '' || target.endsWith('/')) target += 'index.html';
            const anchor = decodeURIComponent(url.hash.slice(1));
            let missing = null;
            if (!fileSet.has(target)) missing = `link to a missing page: ${target}`;
            else if (anchor && !idsOf.get(target)?.has(anchor)) missing = `link to a missing anchor: ${target}#${anchor}`;
            if (missing) broken.set(missing, (broken.get(missing) || new Set()).add(from));
        }
    }
    for (const [missing, froms] of broken) {
        const list = [...froms].sort();
        problem(list.slice(0, 3).join(', ') + (list.length > 3 ? ` and ${list.length - 3} more` : ''), missing);
    }

    const seconds = ((Date.now() - started) / 1000).toFixed(1);
    if (problems.length) {
        for (const p of [...new Set(problems)].sort()) console.error(`check-book: ${p}`);
        console.error(`check-book: ${new Set(problems).size} problems`);
        process.exit(1);
    }
    console.log(`check-book: ${includes} includes, ${pages.length} pages, ${diagrams} diagrams (again in the ${DARK_THEME} theme), `
        + `${links.size} internal links, ${searchResults} search results: all good (${seconds} s)`);
}

main().catch((e) => {
    console.error(`check-book: ${e.message.split('\n')[0]}`);
    process.exit(1);
});
